// Package auth holds what authentication yields and authorization reads: the
// principal a connection acts as (Kafka's KafkaPrincipal). The mechanisms
// that establish it (TLS client certificates, SASL) and the checks that read
// it live beside it in server.
package auth

// Principal is Kafka's KafkaPrincipal: a type ("User") and a name. ACLs,
// quotas and super.users name principals as "User:alice".
type Principal struct {
	Type string
	Name string
}

// PrincipalTypeUser is the only principal type Kafka's built-in builders
// produce (KafkaPrincipal.USER_TYPE).
const PrincipalTypeUser = "User"

// Anonymous is the principal of a connection that has not authenticated:
// every connection on a PLAINTEXT listener, and an SSL listener's connection
// without a client certificate (KafkaPrincipal.ANONYMOUS).
var Anonymous = Principal{Type: PrincipalTypeUser, Name: "ANONYMOUS"}

// String renders the principal as Kafka does: "User:alice".
func (p Principal) String() string { return p.Type + ":" + p.Name }
