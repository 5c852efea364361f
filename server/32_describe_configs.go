package server

// DescribeConfigs (key 32), v1–v4.
//
// TOPIC resources list every topic config with its effective value; the
// source is DYNAMIC_TOPIC_CONFIG for an override, else that of the broker
// property supplying the default (DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG or DEFAULT_CONFIG:
// never -1, which the Java client refuses). BROKER resources list every
// broker property for this broker's id, or the dynamic cluster defaults for
// "". BROKER_LOGGER resources list the root logger's level. Synonyms (v1+) are listed when asked for, highest precedence first, as
// Kafka's ConfigHelper does; ConfigType and Documentation come with v3+.
// Sensitive values are null. Null or empty ConfigNames ask for every config;
// names asked for that do not exist are left out, as Kafka does. Every array is present, even when empty.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DescribeConfigs, 1, 4, handleDescribeConfigs) }

func handleDescribeConfigs(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	im := b.ctrl.Image()
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		// DESCRIBE_CONFIGS on the cluster for brokers, on the topic or
		// group itself (KafkaApis.handleDescribeConfigsRequest).
		if denied := rc.configResourceDenied(authz.OpDescribeConfigs, r.ResourceType, r.ResourceName); denied != nil {
			rr.ErrorCode, rr.ErrorMessage = denied.Code, kmsg.StringPtr(denied.Message)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		entries, err := b.describeResource(im, r.ResourceType, r.ResourceName)
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = errCode(err), errMsg(err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		for _, e := range entries {
			if len(r.ConfigNames) > 0 && !slices.Contains(r.ConfigNames, e.def.Name) {
				continue
			}
			rr.Configs = append(rr.Configs, describeConfigEntry(e, req))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func (b *Broker) describeResource(img *controller.Image, typ kmsg.ConfigResourceType, name string) ([]configEntry, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, err := lookupConfigTopic(img, name)
		if err != nil {
			return nil, err
		}
		return b.topicConfigEntries(img, t), nil
	case kmsg.ConfigResourceTypeBroker:
		if err := b.checkBrokerResource(name, true); err != nil {
			return nil, err
		}
		return b.brokerConfigEntries(img, name == ""), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if name == "" {
			return nil, fmt.Errorf("%w: broker id must not be empty", kerr.InvalidRequest)
		}
		if err := b.checkBrokerResource(name, true); err != nil {
			return nil, err
		}
		return []configEntry{b.rootLoggerEntry()}, nil
	}
	return nil, fmt.Errorf("%w: unsupported resource type: %v", kerr.InvalidRequest, typ)
}

// rootLoggerEntry describes the broker's one logger, as Kafka describes its
// log4j loggers for BROKER_LOGGER resources (DYNAMIC_BROKER_LOGGER_CONFIG).
func (b *Broker) rootLoggerEntry() configEntry {
	level := "ERROR"
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if b.logger.Enabled(context.Background(), l) {
			level = strings.ToUpper(l.String())
			break
		}
	}
	return configEntry{
		def:    config.ConfigDef{Name: "root"},
		value:  strPtr(level),
		source: kmsg.ConfigSourceDynamicBrokerLoggerConfig,
	}
}

func describeConfigEntry(e configEntry, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.def.Name
	c.Value = e.value
	c.ReadOnly = e.readOnly
	c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
	c.Source = e.source
	c.IsSensitive = e.def.Sensitive()
	c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
	if req.IncludeSynonyms {
		c.ConfigSynonyms = append(c.ConfigSynonyms, e.synonyms...)
	}
	c.ConfigType = configTypes[e.def.Type]
	if req.IncludeDocumentation && e.def.Doc != "" {
		c.Documentation = strPtr(e.def.Doc)
	}
	return c
}
