package server_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server"
)

// TestACLsAcrossACluster: on a broker that is not the active controller,
// CreateAcls and DeleteAcls are forwarded and take effect on every node,
// and a forwarded CreateTopics is authorized as the client the Envelope
// names: the brokers themselves talk as User:ANONYMOUS, a super user here,
// yet alice may create only what her ACLs allow.
func TestACLsAcrossACluster(t *testing.T) {
	t.Parallel()
	tc := startCluster(t, 3, func(_ int32, c *config.Broker) {
		c.AuthorizerClassName = config.StandardAuthorizer
		c.SuperUsers = "User:admin;User:ANONYMOUS"
	})
	var addr string
	for i := range 3 {
		tc.node(i).b.PrincipalsFromClientIDs()
		if addr == "" && !server.IsActiveController(tc.node(i).b) {
			addr = tc.node(i).addr()
		}
	}
	if addr == "" {
		t.Fatal("no node that is not the active controller")
	}
	ctx := ctxFor(t, 2*time.Minute)
	adm := kadm.NewClient(principalClient(t, addr, "admin"))
	alice := kadm.NewClient(principalClient(t, addr, "alice"))
	grant := kadm.NewACLs().Topics("fw-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:alice").AllowHosts().Operations(kadm.OpCreate)
	res, err := adm.CreateACLs(ctx, grant)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("create acl through a broker: %v %+v", err, res)
	}
	// Every node's authorizer has the ACL (DescribeAcls reads its image).
	for i := range 3 {
		nadm := kadm.NewClient(principalClient(t, tc.node(i).addr(), "admin"))
		waitFor(t, ctx, "node sees the acl", func() error {
			d, err := nadm.DescribeACLs(ctx, kadm.NewACLs().Topics("fw-x").ResourcePatternType(kadm.ACLPatternMatch).
				Allow().AllowHosts().Operations(kadm.OpAny))
			switch {
			case err != nil:
				return err
			case len(d) != 1 || d[0].Err != nil || len(d[0].Described) != 1:
				return fmt.Errorf("described %+v", d)
			}
			return nil
		})
	}

	if r, err := alice.CreateTopic(ctx, 1, 3, nil, "fw-a"); err != nil || r.Err != nil {
		t.Fatalf("alice creates fw-a through a broker: %v %+v", err, r)
	}
	if r, _ := alice.CreateTopic(ctx, 1, 3, nil, "other"); !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creates other through a broker: %+v, want TOPIC_AUTHORIZATION_FAILED", r)
	}

	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("fw-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:alice").AllowHosts().Operations(kadm.OpCreate))
	if err != nil || len(del) != 1 || del[0].Err != nil || len(del[0].Deleted) != 1 {
		t.Fatalf("delete acl through a broker: %v %+v", err, del)
	}
	if r, _ := alice.CreateTopic(ctx, 1, 3, nil, "fw-b"); !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creates fw-b after the acl is gone: %+v", r)
	}
}
