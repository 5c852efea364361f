package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/server"
)

// TestACLsSecurityDisabled is kafka-acls.sh --list / --add / --remove
// against a broker without an authorizer: as Kafka, every ACL call answers
// SECURITY_DISABLED with "No Authorizer is configured.", through kadm and
// Sarama's ClusterAdmin.
func TestACLsSecurityDisabled(t *testing.T) {
	tb, _, adm, ctx := startAdminBroker(t)

	list := kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Allow().AllowHosts().Operations(kadm.OpAny)
	desc, err := adm.DescribeACLs(ctx, list)
	if err != nil {
		t.Fatalf("describe acls: %v", err)
	}
	if len(desc) != 1 || !errors.Is(desc[0].Err, kerr.SecurityDisabled) || len(desc[0].Described) != 0 ||
		desc[0].ErrMessage != "No Authorizer is configured." {
		t.Fatalf("describe acls: %+v", desc)
	}

	add := kadm.NewACLs().Topics("t").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:alice").AllowHosts("*").Operations(kadm.OpRead, kadm.OpWrite)
	created, err := adm.CreateACLs(ctx, add)
	if err != nil {
		t.Fatalf("create acls: %v", err)
	}
	if len(created) != 2 {
		t.Fatalf("create acls: %d results, want 2", len(created))
	}
	for _, c := range created {
		if !errors.Is(c.Err, kerr.SecurityDisabled) {
			t.Fatalf("create acl: %+v", c)
		}
	}

	del := kadm.NewACLs().Topics("t").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:alice").AllowHosts("*").Operations(kadm.OpRead)
	deleted, err := adm.DeleteACLs(ctx, del)
	if err != nil {
		t.Fatalf("delete acls: %v", err)
	}
	if len(deleted) != 1 || !errors.Is(deleted[0].Err, kerr.SecurityDisabled) || len(deleted[0].Deleted) != 0 {
		t.Fatalf("delete acls: %+v", deleted)
	}

	ca := saramaClusterAdmin(t, tb.addr())
	_, err = ca.ListAcls(sarama.AclFilter{
		ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny,
	})
	if err == nil || !strings.Contains(err.Error(), "Security features are disabled") && !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Fatalf("sarama list acls: %v, want security disabled", err)
	}
}

// TestSecuredListenersRefused: a listener mapped to SSL or SASL is refused
// at start, not served in the clear.
func TestSecuredListenersRefused(t *testing.T) {
	for _, proto := range []string{"SSL", "SASL_PLAINTEXT", "SASL_SSL"} {
		cfg := config.Default()
		cfg.LogDirs = []string{t.TempDir()}
		var err error
		if cfg.Listeners, err = config.ParseListeners(proto + "://127.0.0.1:0,CONTROLLER://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if cfg.AdvertisedListeners, err = config.ParseListeners(proto + "://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		b, err := server.New(cfg, testLogger(t))
		if err == nil || !strings.Contains(err.Error(), "listener "+proto+" uses security protocol "+proto) {
			if b != nil {
				_ = b.Shutdown(ctxFor(t, requestTimeout))
			}
			t.Fatalf("%s listener: %v, want it refused", proto, err)
		}
	}
}
