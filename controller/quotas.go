package controller

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Client quotas (KIP-546) are stored in the metadata log as Kafka's
// ClientQuotaRecord, one record per (entity, key); enforcement is the
// server's job. This file is Kafka's ClientQuotaControlManager.

// Quota entity types.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"
)

// quotaKeys are the quota keys Kafka accepts for each kind of entity
// (QuotaConfig), and whether the value must be a whole number (LONG).
var (
	clientQuotaKeys = map[string]bool{
		"producer_byte_rate":       true,
		"consumer_byte_rate":       true,
		"request_percentage":       false,
		"controller_mutation_rate": false,
	}
	ipQuotaKeys = map[string]bool{"connection_creation_rate": true}
)

// QuotaEntityData is one component of a quota entity. A nil Name is the
// default entity of that type (shown as <default> by the CLI).
type QuotaEntityData struct {
	EntityType string  `json:"EntityType"`
	EntityName *string `json:"EntityName"`
}

// ClientQuotaRecord sets or removes one quota value (Kafka ClientQuotaRecord).
type ClientQuotaRecord struct {
	Entity []QuotaEntityData `json:"Entity"`
	Key    string            `json:"Key"`
	Value  float64           `json:"Value"`
	Remove bool              `json:"Remove"`
}

func (*ClientQuotaRecord) recordType() string { return "ClientQuotaRecord" }

// ClientQuota is the quota values of one entity.
type ClientQuota struct {
	Entity []QuotaEntityData // sorted by entity type
	Values map[string]float64
}

// quotaEntityKey is the canonical map key of an entity: its components
// sorted by type, a default name written as an unquoted <default>.
func quotaEntityKey(e []QuotaEntityData) string {
	parts := make([]string, 0, len(e))
	for _, d := range sortedEntity(e) {
		name := "<default>"
		if d.EntityName != nil {
			name = fmt.Sprintf("%q", *d.EntityName)
		}
		parts = append(parts, d.EntityType+"="+name)
	}
	return strings.Join(parts, ",")
}

func sortedEntity(e []QuotaEntityData) []QuotaEntityData {
	out := slices.Clone(e)
	slices.SortFunc(out, func(a, b QuotaEntityData) int { return strings.Compare(a.EntityType, b.EntityType) })
	return out
}

// ValidateQuotaEntity checks an entity as Kafka does: user, client-id, or
// both; or ip alone, naming a valid address or the default.
func ValidateQuotaEntity(e []QuotaEntityData) error {
	if len(e) == 0 {
		return fmt.Errorf("invalid empty client quota entity: %w", kerr.InvalidRequest)
	}
	seen := map[string]bool{}
	for _, d := range e {
		switch d.EntityType {
		case QuotaEntityUser, QuotaEntityClientID, QuotaEntityIP:
		default:
			return fmt.Errorf("unhandled client quota entity type: %q: %w", d.EntityType, kerr.InvalidRequest)
		}
		if seen[d.EntityType] {
			return fmt.Errorf("duplicate %s component in client quota entity: %w", d.EntityType, kerr.InvalidRequest)
		}
		seen[d.EntityType] = true
		if d.EntityName != nil && *d.EntityName == "" && d.EntityType != QuotaEntityClientID {
			return fmt.Errorf("empty %s name in client quota entity: %w", d.EntityType, kerr.InvalidRequest)
		}
		if d.EntityType == QuotaEntityIP && d.EntityName != nil {
			if _, err := netip.ParseAddr(*d.EntityName); err != nil {
				return fmt.Errorf("%q is not a valid IP address: %w", *d.EntityName, kerr.InvalidRequest)
			}
		}
	}
	if seen[QuotaEntityIP] && len(e) > 1 {
		return fmt.Errorf("an ip quota entity cannot be combined with user or client-id: %w", kerr.InvalidRequest)
	}
	return nil
}

// QuotaOp sets (Remove false) or removes one quota key.
type QuotaOp struct {
	Key    string
	Value  float64
	Remove bool
}

// QuotaAlteration is one entry of AlterClientQuotas.
type QuotaAlteration struct {
	Entity []QuotaEntityData
	Ops    []QuotaOp
}

func validateQuotaOps(e []QuotaEntityData, ops []QuotaOp) error {
	keys := clientQuotaKeys
	if len(e) == 1 && e[0].EntityType == QuotaEntityIP {
		keys = ipQuotaKeys
	}
	seen := map[string]bool{}
	for _, op := range ops {
		whole, ok := keys[op.Key]
		if !ok {
			return fmt.Errorf("unknown quota key %q for entity %s: %w", op.Key, quotaEntityKey(e), kerr.InvalidRequest)
		}
		if seen[op.Key] {
			return fmt.Errorf("quota key %q appears more than once: %w", op.Key, kerr.InvalidRequest)
		}
		seen[op.Key] = true
		if op.Remove {
			continue
		}
		if math.IsNaN(op.Value) || math.IsInf(op.Value, 0) || op.Value <= 0 {
			return fmt.Errorf("invalid value %v for quota key %q: must be a positive number: %w", op.Value, op.Key, kerr.InvalidRequest)
		}
		if whole && op.Value != math.Trunc(op.Value) {
			return fmt.Errorf("invalid value %v for quota key %q: must be a whole number: %w", op.Value, op.Key, kerr.InvalidRequest)
		}
	}
	return nil
}

// AlterClientQuotas applies quota alterations; each entity is valid or not
// on its own, and the valid ones commit together. One error per alteration.
func (c *Controller) AlterClientQuotas(ctx context.Context, alts []QuotaAlteration, validateOnly bool) []error {
	errs := make([]error, len(alts))
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		for i, a := range alts {
			if err := ValidateQuotaEntity(a.Entity); err != nil {
				errs[i] = err
				continue
			}
			if err := validateQuotaOps(a.Entity, a.Ops); err != nil {
				errs[i] = err
				continue
			}
			entity := sortedEntity(a.Entity)
			for _, op := range a.Ops {
				recs = append(recs, &ClientQuotaRecord{Entity: entity, Key: op.Key, Value: op.Value, Remove: op.Remove})
			}
		}
		if validateOnly {
			return nil, nil
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

// replayClientQuota applies a ClientQuotaRecord. The quota map is small and
// changes rarely, so it is copied whole.
func (b *builder) replayClientQuota(r *ClientQuotaRecord) error {
	if err := ValidateQuotaEntity(r.Entity); err != nil {
		return err
	}
	if r.Key == "" {
		return fmt.Errorf("empty quota key")
	}
	key := quotaEntityKey(r.Entity)
	next := maps.Clone(b.next.ClientQuotas)
	if next == nil {
		next = map[string]ClientQuota{}
	}
	q, ok := next[key]
	if ok {
		q.Values = maps.Clone(q.Values)
	} else {
		q = ClientQuota{Entity: sortedEntity(r.Entity), Values: map[string]float64{}}
	}
	if r.Remove {
		delete(q.Values, r.Key)
	} else {
		q.Values[r.Key] = r.Value
	}
	if len(q.Values) == 0 {
		delete(next, key)
	} else {
		next[key] = q
	}
	b.next.ClientQuotas = next
	return nil
}

// quotaRecords returns the records rebuilding im's client quotas (snapshots).
func (im *Image) quotaRecords() []Record {
	var recs []Record
	for _, k := range slices.Sorted(maps.Keys(im.ClientQuotas)) {
		q := im.ClientQuotas[k]
		for _, key := range slices.Sorted(maps.Keys(q.Values)) {
			recs = append(recs, &ClientQuotaRecord{Entity: q.Entity, Key: key, Value: q.Values[key]})
		}
	}
	return recs
}
