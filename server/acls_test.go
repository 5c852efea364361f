package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// TestSecuredListenersRefused: a listener mapped to SSL without a key
// store, or to SASL with Kafka's default mechanism (GSSAPI, which Riffle
// does not serve), is refused at start, not served in the clear.
func TestSecuredListenersRefused(t *testing.T) {
	want := map[string]string{"SSL": "ssl.keystore.location", "SASL_PLAINTEXT": "SASL mechanism GSSAPI is not supported", "SASL_SSL": "SASL mechanism GSSAPI is not supported"}
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
		if err == nil || !strings.Contains(err.Error(), want[proto]) {
			if b != nil {
				_ = b.Shutdown(ctxFor(t, requestTimeout))
			}
			t.Fatalf("%s listener: %v, want it refused", proto, err)
		}
	}
}

// TestDescribeUserScramCredentials is kafka-configs.sh --describe
// --entity-type users, which asks for SCRAM credentials besides quotas:
// with no SASL there are none, so a named user is RESOURCE_NOT_FOUND, a
// user named twice DUPLICATE_RESOURCE, and all users is an empty list, as
// Kafka answers for users without credentials; through kadm and Sarama.
func TestDescribeUserScramCredentials(t *testing.T) {
	tb, cl, adm, ctx := startAdminBroker(t)
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: kmsg.StringPtr("alice")}}); err != nil {
		t.Fatalf("describe user quotas: %v", err)
	}
	all, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("describe all users: %v %+v", err, all)
	}
	named, err := adm.DescribeUserSCRAMs(ctx, "alice")
	if err != nil || len(named) != 1 || !errors.Is(named["alice"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe alice: %v %+v", err, named)
	}
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, u := range []string{"bob", "bob", "carol"} {
		ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		ru.Name = u
		req.Users = append(req.Users, ru)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Results) != 2 || resp.Results[0].User != "bob" || resp.Results[0].ErrorCode != kerr.DuplicateResource.Code ||
		resp.Results[1].User != "carol" || resp.Results[1].ErrorCode != kerr.ResourceNotFound.Code {
		t.Fatalf("describe bob twice and carol: %v %+v", err, resp)
	}

	ca := saramaClusterAdmin(t, tb.addr())
	res, err := ca.DescribeUserScramCredentials([]string{"alice"})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.KError(kerr.ResourceNotFound.Code) {
		t.Fatalf("sarama describe alice: %v %+v", err, res)
	}
}
