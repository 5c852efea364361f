package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ACLs are stored in the metadata log as Kafka's AccessControlEntryRecord
// and removed with RemoveAccessControlEntryRecord, each ACL under a random
// id. This file is Kafka's AclControlManager: it validates new ACLs and
// turns creations and deletions into records; deciding requests by them is
// the server's job (server/authz).

// AccessControlEntryRecord adds one ACL (Kafka AccessControlEntryRecord).
// The codes are Kafka's ResourceType, PatternType, AclOperation and
// AclPermissionType.
type AccessControlEntryRecord struct {
	Id             UUID   `json:"Id"`
	ResourceType   int8   `json:"ResourceType"`
	ResourceName   string `json:"ResourceName"`
	PatternType    int8   `json:"PatternType"`
	Principal      string `json:"Principal"`
	Host           string `json:"Host"`
	Operation      int8   `json:"Operation"`
	PermissionType int8   `json:"PermissionType"`
}

// RemoveAccessControlEntryRecord removes the ACL with the id (Kafka
// RemoveAccessControlEntryRecord).
type RemoveAccessControlEntryRecord struct {
	Id UUID `json:"Id"`
}

func (*AccessControlEntryRecord) recordType() string       { return "AccessControlEntryRecord" }
func (*RemoveAccessControlEntryRecord) recordType() string { return "RemoveAccessControlEntryRecord" }

// ACL is one access control entry on a resource pattern (Kafka's
// AclBinding), with Kafka's codes.
type ACL struct {
	ResourceType   int8
	ResourceName   string
	PatternType    int8
	Principal      string
	Host           string
	Operation      int8
	PermissionType int8
}

// ACLImage is the ACLs of an image by id. It is immutable once published;
// a batch that changes an ACL makes a new one, so a reader can tell that
// the ACLs changed by comparing pointers.
type ACLImage struct {
	ByID map[UUID]ACL
}

// Kafka codes the controller checks (ResourceType, PatternType,
// AclOperation, AclPermissionType).
const (
	aclResourceTopic           int8 = 2
	aclResourceUser            int8 = 7
	aclResourceCluster         int8 = 4
	aclPatternLiteral          int8 = 3
	aclPatternPrefixed         int8 = 4
	aclOperationAll            int8 = 2
	aclOperationDescribeTokens int8 = 14
	aclPermissionDeny          int8 = 2
	aclPermissionAllow         int8 = 3
	aclClusterName                  = "kafka-cluster"
)

// ValidateACL checks a new ACL as Kafka's AclControlManager.validateNewAcl
// and AclApis do: a concrete resource type, LITERAL or PREFIXED, a concrete
// operation and permission, a non-empty resource name ("kafka-cluster" for
// the cluster), and a principal "Type:Name".
func ValidateACL(a ACL) error {
	switch {
	case a.ResourceType < aclResourceTopic || a.ResourceType > aclResourceUser:
		return fmt.Errorf("invalid resource type %d: %w", a.ResourceType, kerr.InvalidRequest)
	case a.PatternType != aclPatternLiteral && a.PatternType != aclPatternPrefixed:
		return fmt.Errorf("invalid pattern type %d: %w", a.PatternType, kerr.InvalidRequest)
	case a.Operation < aclOperationAll || a.Operation > aclOperationDescribeTokens:
		return fmt.Errorf("invalid operation %d: %w", a.Operation, kerr.InvalidRequest)
	case a.PermissionType != aclPermissionDeny && a.PermissionType != aclPermissionAllow:
		return fmt.Errorf("invalid permission type %d: %w", a.PermissionType, kerr.InvalidRequest)
	case a.ResourceName == "":
		return fmt.Errorf("resource name should not be empty: %w", kerr.InvalidRequest)
	case a.ResourceType == aclResourceCluster && a.ResourceName != aclClusterName:
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s: %w", aclClusterName, kerr.InvalidRequest)
	case a.Host == "":
		return fmt.Errorf("host should not be empty (use * for any host): %w", kerr.InvalidRequest)
	}
	if i := strings.IndexByte(a.Principal, ':'); i <= 0 || i == len(a.Principal)-1 {
		return fmt.Errorf("could not parse principal from `%s` (no colon is present separating the principal type from the principal name): %w", a.Principal, kerr.InvalidRequest)
	}
	return nil
}

// CreateACLs adds ACLs; each is valid or not on its own, and the valid ones
// commit together. An ACL that already exists is a success that writes
// nothing, as in Kafka. One error per ACL.
func (c *Controller) CreateACLs(ctx context.Context, acls []ACL) []error {
	errs := make([]error, len(acls))
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		existing := map[ACL]bool{}
		if im.ACLs != nil {
			for _, a := range im.ACLs.ByID {
				existing[a] = true
			}
		}
		var recs []Record
		for i, a := range acls {
			if err := ValidateACL(a); err != nil {
				errs[i] = err
				continue
			}
			if existing[a] {
				continue
			}
			existing[a] = true
			recs = append(recs, aclRecord(randomTopicID(), a))
		}
		return recs, nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// DeleteACLs removes, for each filter, the ACLs it matches and returns
// them (Kafka's AclControlManager.deleteAcls). An ACL that several filters
// match is removed once and reported under each. A non-nil error means
// nothing was removed.
func (c *Controller) DeleteACLs(ctx context.Context, filters []func(ACL) bool) ([][]ACL, error) {
	matched := make([][]ACL, len(filters))
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		for i := range matched {
			matched[i] = nil
		}
		if im.ACLs == nil {
			return nil, nil
		}
		removed := map[UUID]bool{}
		var recs []Record
		for _, id := range slices.SortedFunc(maps.Keys(im.ACLs.ByID), compareUUID) {
			a := im.ACLs.ByID[id]
			for i, f := range filters {
				if !f(a) {
					continue
				}
				matched[i] = append(matched[i], a)
				if !removed[id] {
					removed[id] = true
					recs = append(recs, &RemoveAccessControlEntryRecord{Id: id})
				}
			}
		}
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	return matched, nil
}

func compareUUID(a, b UUID) int { return slices.Compare(a[:], b[:]) }

func aclRecord(id UUID, a ACL) *AccessControlEntryRecord {
	return &AccessControlEntryRecord{
		Id: id, ResourceType: a.ResourceType, ResourceName: a.ResourceName, PatternType: a.PatternType,
		Principal: a.Principal, Host: a.Host, Operation: a.Operation, PermissionType: a.PermissionType,
	}
}

// mutableACLs returns the batch's own copy of the ACL map.
func (b *builder) mutableACLs() map[UUID]ACL {
	if !b.aclsCopied {
		next := &ACLImage{ByID: map[UUID]ACL{}}
		if b.next.ACLs != nil {
			next.ByID = maps.Clone(b.next.ACLs.ByID)
		}
		b.next.ACLs = next
		b.aclsCopied = true
	}
	return b.next.ACLs.ByID
}

func (b *builder) replayACL(r *AccessControlEntryRecord) error {
	a := ACL{
		ResourceType: r.ResourceType, ResourceName: r.ResourceName, PatternType: r.PatternType,
		Principal: r.Principal, Host: r.Host, Operation: r.Operation, PermissionType: r.PermissionType,
	}
	if err := ValidateACL(a); err != nil {
		return err
	}
	acls := b.mutableACLs()
	if _, ok := acls[r.Id]; ok {
		return fmt.Errorf("an ACL with id %s already exists", r.Id)
	}
	acls[r.Id] = a
	return nil
}

func (b *builder) replayRemoveACL(r *RemoveAccessControlEntryRecord) error {
	if b.next.ACLs == nil {
		return fmt.Errorf("no ACL with id %s", r.Id)
	}
	if _, ok := b.next.ACLs.ByID[r.Id]; !ok {
		return fmt.Errorf("no ACL with id %s", r.Id)
	}
	delete(b.mutableACLs(), r.Id)
	return nil
}

// aclRecords returns the records rebuilding im's ACLs (snapshots).
func (im *Image) aclRecords() []Record {
	if im.ACLs == nil {
		return nil
	}
	var recs []Record
	for _, id := range slices.SortedFunc(maps.Keys(im.ACLs.ByID), compareUUID) {
		recs = append(recs, aclRecord(id, im.ACLs.ByID[id]))
	}
	return recs
}
