package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestACLsCreateDeleteAndSnapshot: ACLs are written as
// AccessControlEntryRecords, an identical ACL is not written twice, invalid
// ones are INVALID_REQUEST, deletion removes every match once, and the
// image's records rebuild the same ACLs.
func TestACLsCreateDeleteAndSnapshot(t *testing.T) {
	c := startController(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	read := ACL{ResourceType: 2, ResourceName: "orders", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 3, PermissionType: 3}
	deny := ACL{ResourceType: 2, ResourceName: "ord", PatternType: 4, Principal: "User:*", Host: "10.0.0.1", Operation: 4, PermissionType: 2}
	bad := []ACL{
		{ResourceType: 1, ResourceName: "x", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3}, // ANY resource
		{ResourceType: 2, ResourceName: "x", PatternType: 2, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3}, // MATCH pattern
		{ResourceType: 2, ResourceName: "x", PatternType: 3, Principal: "alice", Host: "*", Operation: 3, PermissionType: 3},  // no colon
		{ResourceType: 2, ResourceName: "x", PatternType: 3, Principal: "User:a", Host: "*", Operation: 1, PermissionType: 3}, // ANY op
		{ResourceType: 2, ResourceName: "x", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 1}, // ANY permission
		{ResourceType: 2, ResourceName: "", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3},  // empty name
		{ResourceType: 4, ResourceName: "c", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3}, // cluster name
	}
	errs := c.CreateACLs(ctx, append([]ACL{read, deny, read}, bad...))
	for i, err := range errs {
		if i < 3 && err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if i >= 3 && !errors.Is(err, kerr.InvalidRequest) {
			t.Fatalf("create invalid %d (%+v): %v, want INVALID_REQUEST", i, bad[i-3], err)
		}
	}
	if errs := c.CreateACLs(ctx, []ACL{read}); errs[0] != nil {
		t.Fatalf("create again: %v", errs[0])
	}
	im := c.Image()
	if im.ACLs == nil || len(im.ACLs.ByID) != 2 {
		t.Fatalf("acls after create: %+v", im.ACLs)
	}

	// Snapshot records rebuild the same ACLs under the same ids.
	rebuilt, err := NewImage(im.ClusterID).Apply(1, im.aclRecords())
	if err != nil || len(rebuilt.ACLs.ByID) != 2 {
		t.Fatalf("rebuild: %v %+v", err, rebuilt.ACLs)
	}
	for id, a := range im.ACLs.ByID {
		if rebuilt.ACLs.ByID[id] != a {
			t.Fatalf("rebuilt %s: %+v, want %+v", id, rebuilt.ACLs.ByID[id], a)
		}
	}
	// Replay refuses a duplicate id and the removal of an unknown id.
	if _, err := im.Apply(im.Offset+1, im.aclRecords()[:1]); err == nil {
		t.Fatal("a duplicate ACL id was applied")
	}
	if _, err := im.Apply(im.Offset+1, []Record{&RemoveAccessControlEntryRecord{Id: randomTopicID()}}); err == nil {
		t.Fatal("removing an unknown ACL id was applied")
	}

	topics := func(a ACL) bool { return a.ResourceType == 2 }
	alice := func(a ACL) bool { return a.Principal == "User:alice" }
	matched, err := c.DeleteACLs(ctx, []func(ACL) bool{topics, alice})
	if err != nil || len(matched) != 2 || len(matched[0]) != 2 || len(matched[1]) != 1 || matched[1][0] != read {
		t.Fatalf("delete: %v %+v", err, matched)
	}
	if im := c.Image(); len(im.ACLs.ByID) != 0 {
		t.Fatalf("acls after delete: %+v", im.ACLs.ByID)
	}
	if matched, err := c.DeleteACLs(ctx, []func(ACL) bool{topics}); err != nil || len(matched[0]) != 0 {
		t.Fatalf("delete again: %v %+v", err, matched)
	}
}
