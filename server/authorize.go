package server

// Authorization: every handler asks the broker's authorizer before acting,
// as Kafka's KafkaApis and ControllerApis ask theirs through AuthHelper.
// With authorizer.class.name unset there is no authorizer and everything is
// allowed, as in Kafka. The authorizer decides by the ACLs of the metadata
// image (controller/acls.go), which applyImage hands it on every change.

import (
	"github.com/riffle-io/riffle/config"
	"strings"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/auth"
	"github.com/riffle-io/riffle/server/authz"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newAuthorizer returns the authorizer authorizer.class.name configures, nil
// for none. config validation has already refused other class names.
func newAuthorizer(className, superUsers string, allowEveryone bool) *authz.Authorizer {
	if className != config.StandardAuthorizer {
		return nil
	}
	return authz.New(authz.ParseSuperUsers(superUsers), allowEveryone)
}

// applyACLs hands the authorizer the image's ACLs when they changed.
func (b *Broker) applyACLs(prev, next *controller.Image) {
	if b.authorizer == nil || (prev != nil && prev.ACLs == next.ACLs) {
		return
	}
	var acls []authz.ACL
	if next.ACLs != nil {
		acls = make([]authz.ACL, 0, len(next.ACLs.ByID))
		for _, a := range next.ACLs.ByID {
			acls = append(acls, aclFromController(a))
		}
	}
	b.authorizer.SetACLs(acls)
}

func aclFromController(a controller.ACL) authz.ACL {
	return authz.ACL{
		ResourceType: authz.ResourceType(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: authz.PatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
		Operation: authz.Operation(a.Operation), Permission: authz.Permission(a.PermissionType),
	}
}

// internal reports whether the request was made by this broker itself (in
// process, with no connection), which Kafka would send as its inter-broker
// principal: it is not subject to ACLs.
func (rc *requestContext) internal() bool { return rc.conn == nil && !rc.forwarded }

// authorize reports whether the request's principal may perform op on the
// resource (Kafka's AuthHelper.authorize).
func (rc *requestContext) authorize(op authz.Operation, rt authz.ResourceType, name string) bool {
	a := rc.b.authorizer
	if a == nil || rc.internal() {
		return true
	}
	return a.Authorize(rc.principal(), rc.clientHost(), op, rt, name)
}

// authorizeCluster is authorize on the cluster resource.
func (rc *requestContext) authorizeCluster(op authz.Operation) bool {
	return rc.authorize(op, authz.ResourceCluster, authz.ClusterName)
}

// authorizeTopic is authorize on a topic.
func (rc *requestContext) authorizeTopic(op authz.Operation, topic string) bool {
	return rc.authorize(op, authz.ResourceTopic, topic)
}

// authorizeGroup is authorize on a consumer group.
func (rc *requestContext) authorizeGroup(op authz.Operation, group string) bool {
	return rc.authorize(op, authz.ResourceGroup, group)
}

// authorizeTxnID is authorize on a transactional id.
func (rc *requestContext) authorizeTxnID(op authz.Operation, id string) bool {
	return rc.authorize(op, authz.ResourceTransactionalID, id)
}

// authorizeByResourceType reports whether the principal may perform op on
// some resource of the type (Kafka's Authorizer.authorizeByResourceType).
func (rc *requestContext) authorizeByResourceType(op authz.Operation, rt authz.ResourceType) bool {
	a := rc.b.authorizer
	if a == nil || rc.internal() {
		return true
	}
	return a.AuthorizeByResourceType(rc.principal(), rc.clientHost(), op, rt)
}

// authorizedOps is the authorized-operations bit field of the resource
// (AuthHelper.authorizedOperations): every supported operation when there
// is no authorizer.
func (rc *requestContext) authorizedOps(rt authz.ResourceType, name string) int32 {
	a := rc.b.authorizer
	if a == nil || rc.internal() {
		var bits int32
		for _, op := range authz.SupportedOperations(rt) {
			bits |= 1 << op
		}
		return bits
	}
	return a.AuthorizedOperations(rc.principal(), rc.clientHost(), rt, name)
}

// topicAuthorizer memoizes topic decisions within one request: a produce
// or fetch names the same topic once per partition, and the answer cannot
// change in between (Kafka's filterByAuthorized asks once per topic too).
type topicAuthorizer struct {
	rc   *requestContext
	op   authz.Operation
	seen map[string]bool
}

func (rc *requestContext) topicAuthorizer(op authz.Operation) *topicAuthorizer {
	return &topicAuthorizer{rc: rc, op: op}
}

func (t *topicAuthorizer) allowed(topic string) bool {
	if t.rc.b.authorizer == nil || t.rc.internal() {
		return true
	}
	if ok, found := t.seen[topic]; found {
		return ok
	}
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	ok := t.rc.authorizeTopic(t.op, topic)
	t.seen[topic] = ok
	return ok
}

// testPrincipalPrefix: with Broker.testPrincipals set (a test hook from
// before SASL authenticated clients), a request whose client id is
// "principal:User:alice" acts as User:alice.
const testPrincipalPrefix = "principal:"

func (rc *requestContext) testPrincipal() (auth.Principal, bool) {
	if !rc.b.testPrincipals.Load() || rc.header.ClientID == nil {
		return auth.Principal{}, false
	}
	id, ok := strings.CutPrefix(*rc.header.ClientID, testPrincipalPrefix)
	if !ok {
		return auth.Principal{}, false
	}
	typ, name, ok := strings.Cut(id, ":")
	if !ok {
		return auth.Principal{}, false
	}
	return auth.Principal{Type: typ, Name: name}, true
}

// configResourceDenied authorizes op (DESCRIBE_CONFIGS or ALTER_CONFIGS)
// on a config resource as Kafka's config handlers do: brokers, broker
// loggers and client-metrics resources by the cluster, topics and groups by
// their own name. It returns the error for a refused resource, nil when
// allowed (unknown resource types are left to the handler).
func (rc *requestContext) configResourceDenied(op authz.Operation, resourceType kmsg.ConfigResourceType, name string) *kerr.Error {
	switch resourceType {
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		if !rc.authorizeCluster(op) {
			return kerr.ClusterAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeTopic:
		if !rc.authorizeTopic(op, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !rc.authorizeGroup(op, name) {
			return kerr.GroupAuthorizationFailed
		}
	}
	return nil
}
