package server

// Config resources shared by DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs: what a topic's or a broker's configs look like in
// a response (Kafka's ConfigHelper), and how changes are validated and
// written to the metadata log (ConfigAdminManager, ConfigurationControlManager).

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
)

// configTypes maps config.Type* to DescribeConfigs' ConfigType (v3+).
var configTypes = map[string]kmsg.ConfigType{
	config.TypeBoolean:  kmsg.ConfigTypeBoolean,
	config.TypeString:   kmsg.ConfigTypeString,
	config.TypeInt:      kmsg.ConfigTypeInt,
	config.TypeShort:    kmsg.ConfigTypeShort,
	config.TypeLong:     kmsg.ConfigTypeLong,
	config.TypeDouble:   kmsg.ConfigTypeDouble,
	config.TypeList:     kmsg.ConfigTypeList,
	config.TypeClass:    kmsg.ConfigTypeClass,
	config.TypePassword: kmsg.ConfigTypePassword,
}

// configEntry is one config as DescribeConfigs reports it, before it is
// shaped into the response.
type configEntry struct {
	def      config.ConfigDef
	value    *string
	readOnly bool
	source   kmsg.ConfigSource
	synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

func synonym(name string, value *string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, value, source
	return s
}

func strPtr(s string) *string { return &s }

// brokerSynonyms lists the values that broker property name and its
// synonyms take, as Kafka's ConfigHelper.configSynonyms does: layer by layer
// (this broker's dynamic configs, the cluster defaults, server.properties,
// the built-in defaults), each layer in synonym order (log.retention.ms,
// .minutes, .hours), then dropping the entries before the first one for name
// itself, so that a property never lists synonyms of higher precedence than
// itself. perBroker false keeps only the cluster defaults (the "" resource).
func (b *Broker) brokerSynonyms(im *controller.Image, name string, perBroker bool) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	dynDefault, dynBroker := b.dynamicBrokerConfigs(im)
	static := map[string]string{}
	builtin := map[string]string{}
	names := config.BrokerConfigSynonyms(name)
	sensitive := false
	for _, s := range names {
		def, ok := config.LookupBrokerConfig(s)
		if !ok {
			continue
		}
		sensitive = sensitive || def.Sensitive()
		if src, ok := b.cfg.Sources[s]; ok && src != config.SourceDefault {
			static[s] = b.cfg.Raw[s]
		}
		if !def.NoDefault {
			builtin[s] = def.Default
		}
	}
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	for _, layer := range []struct {
		values map[string]string
		source kmsg.ConfigSource
	}{
		{dynBroker, kmsg.ConfigSourceDynamicBrokerConfig},
		{dynDefault, kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{static, kmsg.ConfigSourceStaticBrokerConfig},
		{builtin, kmsg.ConfigSourceDefaultConfig},
	} {
		for _, s := range names {
			v, ok := layer.values[s]
			if !ok {
				continue
			}
			var val *string
			if !sensitive {
				val = strPtr(v)
			}
			out = append(out, synonym(s, val, layer.source))
		}
	}
	for len(out) > 0 && out[0].Name != name {
		out = out[1:]
	}
	if !perBroker {
		var def []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		for _, s := range out {
			if s.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig {
				def = append(def, s)
			}
		}
		out = def
	}
	return out
}

// topicConfigEntries describes a topic's configs: every topic config with
// its effective value; the source is DYNAMIC_TOPIC_CONFIG for an override,
// else that of the broker property supplying the default.
func (b *Broker) topicConfigEntries(im *controller.Image, t *controller.TopicImage) []configEntry {
	eff := b.effectiveConfig()
	defs := config.TopicConfigDefs()
	out := make([]configEntry, 0, len(defs))
	for _, d := range defs {
		e := configEntry{def: d}
		v, overridden := t.Configs[d.Name]
		if overridden {
			e.synonyms = append(e.synonyms, synonym(d.Name, strPtr(v), kmsg.ConfigSourceDynamicTopicConfig))
		} else {
			v, _, _ = eff.TopicDefault(d.Name)
		}
		if d.BrokerSynonym != "" {
			e.synonyms = append(e.synonyms, b.brokerSynonyms(im, d.BrokerSynonym, true)...)
		}
		e.source = kmsg.ConfigSourceDefaultConfig
		if len(e.synonyms) > 0 {
			e.source = e.synonyms[0].Source
		}
		if !d.Sensitive() {
			e.value = strPtr(v)
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries describes the BROKER resource: for this broker every
// property Riffle knows, read-only unless it can be updated dynamically; for
// the cluster default ("") only the dynamic defaults that are set.
func (b *Broker) brokerConfigEntries(im *controller.Image, isDefault bool) []configEntry {
	eff := b.effectiveConfig()
	dynDefault, _ := b.dynamicBrokerConfigs(im)
	var out []configEntry
	for _, d := range config.BrokerConfigDefs() {
		e := configEntry{def: d, readOnly: !config.IsDynamicBrokerConfig(d.Name)}
		var v string
		var has bool
		if isDefault {
			v, has = dynDefault[d.Name]
			if !has {
				continue
			}
		} else {
			v, has = eff.Raw[d.Name]
		}
		if has && !d.Sensitive() {
			e.value = strPtr(v)
		}
		e.synonyms = b.brokerSynonyms(im, d.Name, !isDefault)
		e.source = kmsg.ConfigSourceDefaultConfig
		if len(e.synonyms) > 0 {
			e.source = e.synonyms[0].Source
		}
		out = append(out, e)
	}
	return out
}

// checkBrokerResource checks a BROKER resource name: "" or a broker id; for
// DescribeConfigs only this broker's id (Kafka answers for itself only).
func (b *Broker) checkBrokerResource(name string, describe bool) error {
	id, isDefault, err := config.BrokerResourceName(name)
	if err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
	}
	if describe && !isDefault && id != b.cfg.NodeID {
		return fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, b.cfg.NodeID, name)
	}
	return nil
}

// lookupConfigTopic finds a topic named in a config resource.
func lookupConfigTopic(im *controller.Image, name string) (*controller.TopicImage, error) {
	if err := controller.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t, ok := im.Topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
	}
	return t, nil
}

// configResource is one resource of an alter request, with the overrides it
// would have after the request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// currentOverrides returns the dynamic configs a resource has now.
func (b *Broker) currentOverrides(im *controller.Image, r configResource) (map[string]string, error) {
	switch r.typ {
	case kmsg.ConfigResourceTypeTopic:
		t, err := lookupConfigTopic(im, r.name)
		if err != nil {
			return nil, err
		}
		return maps.Clone(t.Configs), nil
	case kmsg.ConfigResourceTypeBroker:
		if err := b.checkBrokerResource(r.name, false); err != nil {
			return nil, err
		}
		return maps.Clone(im.BrokerConfigs[r.name]), nil
	}
	return nil, fmt.Errorf("%w: altering configs of resource type %v is not supported", kerr.InvalidRequest, r.typ)
}

// validateOverrides checks a resource's complete set of dynamic configs
// after a change. Any problem is INVALID_CONFIG with the reason.
func (b *Broker) validateOverrides(im *controller.Image, r configResource, next map[string]string) error {
	switch r.typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := config.ValidateTopicConfigs(next); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
		if _, err := b.effectiveConfig().TopicConfig(next); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
	case kmsg.ConfigResourceTypeBroker:
		if err := config.ValidateDynamicBrokerConfigs(next, r.name != ""); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
		// The layered result must resolve too (log.retention.ms=0 is
		// refused only once the synonyms are resolved).
		dynDefault, dynBroker := b.dynamicBrokerConfigs(im)
		if r.name == "" {
			dynDefault = next
		} else if r.name == strconv.Itoa(int(b.cfg.NodeID)) {
			dynBroker = next
		}
		if _, err := b.cfg.WithDynamic(dynDefault, dynBroker); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
	}
	return nil
}

// writeOverrides stores a resource's new dynamic configs: only the configs
// that differ from cur become ConfigRecords.
func (b *Broker) writeOverrides(ctx context.Context, r configResource, cur, next map[string]string) error {
	changes := map[string]*string{}
	for k, v := range next {
		if old, ok := cur[k]; !ok || old != v {
			changes[k] = strPtr(v)
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			changes[k] = nil
		}
	}
	if len(changes) == 0 {
		return nil
	}
	var err error
	if r.typ == kmsg.ConfigResourceTypeTopic {
		err = b.ctrl.SetTopicConfigs(ctx, r.name, changes)
	} else {
		err = b.ctrl.SetBrokerConfigs(ctx, r.name, changes)
	}
	if err != nil {
		return err
	}
	b.waitApplied(ctx, b.ctrl.Image().Offset)
	return nil
}

// duplicateResources returns the resources named more than once in a
// request; Kafka answers each with INVALID_REQUEST.
func duplicateResources(rs []configResource) map[configResource]bool {
	count := map[configResource]int{}
	for _, r := range rs {
		count[r]++
	}
	dup := map[configResource]bool{}
	for r, n := range count {
		if n > 1 {
			dup[r] = true
		}
	}
	return dup
}
