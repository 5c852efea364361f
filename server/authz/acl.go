// Package authz decides whether a principal may perform an operation on a
// resource, with the semantics of Kafka's StandardAuthorizer
// (org.apache.kafka.metadata.authorizer.StandardAuthorizer and
// StandardAuthorizerData): ACLs on literal, prefixed and wildcard ("*")
// resource patterns, ALLOW and DENY with DENY winning, hosts ("*" or one
// IP address), the operations that imply DESCRIBE and DESCRIBE_CONFIGS,
// ALL, super.users and allow.everyone.if.no.acl.found.
//
// The ACLs themselves live in the metadata image (controller, Kafka's
// AccessControlEntryRecord); the server hands every new set of them to
// Authorizer.SetACLs, which builds an index that every request reads
// without locks. This package also holds Kafka's AclBindingFilter (the
// filters of DescribeAcls and DeleteAcls).
package authz

import "strings"

// ResourceType is Kafka's ResourceType, with its wire codes.
type ResourceType int8

// Kafka's resource types.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// ClusterName is the name of the one CLUSTER resource (Kafka's
// CLUSTER_NAME).
const ClusterName = "kafka-cluster"

// Wildcard is the resource name of a literal pattern that matches every
// resource of its type, and the principal name or host that matches every
// principal or host (ResourcePattern.WILDCARD_RESOURCE).
const Wildcard = "*"

// WildcardPrincipal is the principal of an ACL that applies to every
// principal (StandardAuthorizerData's WILDCARD_KAFKA_PRINCIPAL).
const WildcardPrincipal = "User:*"

// PatternType is Kafka's PatternType, with its wire codes. ANY and MATCH
// exist in filters only.
type PatternType int8

// Kafka's pattern types.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is Kafka's AclOperation, with its wire codes.
type Operation int8

// Kafka's ACL operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is Kafka's AclPermissionType, with its wire codes.
type Permission int8

// Kafka's permission types.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// ACL is one access control entry on a resource pattern: Kafka's
// AclBinding (a ResourcePattern and an AccessControlEntry).
type ACL struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType // LITERAL or PREFIXED
	Principal    string      // "User:alice", or "User:*"
	Host         string      // "*" or an IP address
	Operation    Operation
	Permission   Permission // ALLOW or DENY
}

// SupportedOperations are the operations that apply to each resource type
// (Kafka's AclEntry.supportedOperations), in code order: the bits of the
// authorized-operations fields of Metadata, DescribeCluster, DescribeGroups
// and DescribeTopicPartitions.
func SupportedOperations(rt ResourceType) []Operation {
	switch rt {
	case ResourceTopic:
		return []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	case ResourceGroup:
		return []Operation{OpRead, OpDelete, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	case ResourceCluster:
		return []Operation{OpCreate, OpAlter, OpDescribe, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite}
	case ResourceTransactionalID:
		return []Operation{OpWrite, OpDescribe}
	case ResourceDelegationToken:
		return []Operation{OpDescribe}
	case ResourceUser:
		return []Operation{OpCreateTokens, OpDescribeTokens}
	}
	return nil
}

// ValidPrincipal reports whether s parses as a principal "Type:Name"
// (SecurityUtils.parseKafkaPrincipal: a colon separates a type from a name).
func ValidPrincipal(s string) bool {
	i := strings.IndexByte(s, ':')
	return i > 0 && i < len(s)-1
}

// Filter is Kafka's AclBindingFilter: nil strings and the ANY codes match
// everything; PatternType MATCH matches the patterns that would apply to
// the named resource (literal of that name, the wildcard, and prefixes of
// it).
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Unknown reports whether the filter holds an UNKNOWN code, which Kafka's
// AclControlManager refuses (INVALID_REQUEST).
func (f Filter) Unknown() bool {
	return f.ResourceType == ResourceUnknown || f.PatternType == PatternUnknown ||
		f.Operation == OpUnknown || f.Permission == PermissionUnknown
}

// Matches reports whether a is selected by the filter
// (AclBindingFilter.matches: ResourcePatternFilter and
// AccessControlEntryFilter).
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != a.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		if f.PatternType == PatternAny || f.PatternType == a.PatternType {
			if name != a.ResourceName {
				return false
			}
		} else { // MATCH
			switch a.PatternType {
			case PatternLiteral:
				if name != a.ResourceName && a.ResourceName != Wildcard {
					return false
				}
			case PatternPrefixed:
				if !strings.HasPrefix(name, a.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != a.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == a.Permission
}
