package quota

// Which quota applies to a request (Kafka's ClientQuotaManager and its
// DefaultQuotaCallback). Quotas are set on entities: a user, a client-id,
// or both, each named or <default>. For a request by user U with client-id
// C the first of these that has a value for the quota key applies:
//
//	1. user=U, client-id=C            5. user=<default>, client-id=<default>
//	2. user=U, client-id=<default>    6. user=<default>
//	3. user=U                         7. client-id=C
//	4. user=<default>, client-id=C    8. client-id=<default>
//
// Usage is measured per Tags, not per connection: all the connections of
// the clients that a quota entity covers share its rate. A user quota
// (levels 3 and 6) is shared by every client-id of that user; a
// client-id quota (7 and 8) by every user using that client-id; levels 1,
// 2, 4 and 5 are per (user, client-id), as in Kafka's quotaMetricTags.

// Part is one component of a quota entity.
type Part struct {
	Set     bool // the entity has this component
	Default bool // <default> (Name unused)
	Name    string
}

// Named is a component naming name; DefaultPart the <default> one.
func Named(name string) Part { return Part{Set: true, Name: name} }

// DefaultPart is the <default> component.
var DefaultPart = Part{Set: true, Default: true}

// Entity is a quota entity: a user, a client-id, or both.
type Entity struct {
	User     Part
	ClientID Part
}

// Tags are what usage is measured under, and the labels of the quota
// metrics (Kafka's user and client-id metric tags); "" where the
// applying entity has no such component.
type Tags struct {
	User     string
	ClientID string
}

// Bits of Index.types, as Kafka's quotaTypesEnabled.
const (
	clientIDQuotas     = 1
	userQuotas         = 2
	userClientIDQuotas = 4
)

// Index holds the values of one quota key (producer_byte_rate, …) by
// entity. It is immutable once built; the server rebuilds it when the
// metadata image's quotas change, so that a change takes effect at the
// next request without a restart.
type Index struct {
	values map[Entity]float64
	types  int
}

// NewIndex indexes the entities that have a value for a quota key.
func NewIndex(values map[Entity]float64) *Index {
	ix := &Index{values: values}
	for e := range values {
		switch {
		case e.User.Set && e.ClientID.Set:
			ix.types |= userClientIDQuotas
		case e.User.Set:
			ix.types |= userQuotas
		case e.ClientID.Set:
			ix.types |= clientIDQuotas
		}
	}
	return ix
}

// Empty reports whether no entity has a value: nothing is measured then
// (Kafka's quotasEnabled).
func (ix *Index) Empty() bool { return ix == nil || len(ix.values) == 0 }

func (ix *Index) has(user, client Part) bool {
	_, ok := ix.values[Entity{User: user, ClientID: client}]
	return ok
}

// Resolve returns the tags that a request by user with clientID is
// measured under and the quota that applies to them; ok is false when no
// quota applies (the request is not measured).
func (ix *Index) Resolve(user, clientID string) (tags Tags, limit float64, ok bool) {
	if ix.Empty() {
		return Tags{}, 0, false
	}
	tags = ix.tags(user, clientID)
	limit, ok = ix.Limit(tags)
	return tags, limit, ok
}

// tags is DefaultQuotaCallback.quotaMetricTags: with one kind of entity
// configured the tags follow from it; otherwise the first level (in the
// order above) that has an entity decides which components count.
func (ix *Index) tags(user, clientID string) Tags {
	switch ix.types {
	case 0, clientIDQuotas:
		return Tags{ClientID: clientID}
	case userQuotas:
		return Tags{User: user}
	case userClientIDQuotas:
		return Tags{User: user, ClientID: clientID}
	}
	u, c, none := Named(user), Named(clientID), Part{}
	switch {
	case ix.has(u, c), ix.has(u, DefaultPart):
		return Tags{User: user, ClientID: clientID}
	case ix.has(u, none):
		return Tags{User: user}
	case ix.has(DefaultPart, c), ix.has(DefaultPart, DefaultPart):
		return Tags{User: user, ClientID: clientID}
	case ix.has(DefaultPart, none):
		return Tags{User: user}
	}
	return Tags{ClientID: clientID}
}

// Limit is the quota of the entity that tags stand for
// (DefaultQuotaCallback.quotaLimit).
func (ix *Index) Limit(tags Tags) (float64, bool) {
	if ix.Empty() {
		return 0, false
	}
	u, c, none := Named(tags.User), Named(tags.ClientID), Part{}
	var order [][2]Part
	switch {
	case tags.User != "" && tags.ClientID != "":
		order = [][2]Part{{u, c}, {u, DefaultPart}, {DefaultPart, c}, {DefaultPart, DefaultPart}}
	case tags.User != "":
		order = [][2]Part{{u, none}, {DefaultPart, none}}
	case tags.ClientID != "":
		order = [][2]Part{{none, c}, {none, DefaultPart}}
	}
	for _, e := range order {
		if v, ok := ix.values[Entity{User: e[0], ClientID: e[1]}]; ok {
			return v, true
		}
	}
	return 0, false
}
