package pyclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

// GroupConsume runs client.py's group_consume: subscribe with the library's
// default assignors (range, roundrobin), n records, explicit commit, close.
func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	var resp struct {
		Records []pyRecord `json:"records"`
	}
	if err := d.call(ctx, "group_consume", map[string]any{"group": group, "topic": topic, "n": n}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Records) != n {
		return nil, fmt.Errorf("group_consume returned %d of %d records", len(resp.Records), n)
	}
	return toRecords(resp.Records)
}

// errTopicExists maps client.py's TOPIC_ALREADY_EXISTS answer.
func errTopicExists(err error) error {
	var pe *pyFailure
	if errors.As(err, &pe) && pe.Code == "TOPIC_ALREADY_EXISTS" {
		return fmt.Errorf("%w: %v", suite.ErrTopicAlreadyExists, err)
	}
	return err
}

func (d Driver) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	if configs == nil {
		configs = map[string]string{}
	}
	err := d.call(ctx, "create_topic", map[string]any{"topic": topic, "partitions": partitions, "configs": configs}, &struct{}{})
	return errTopicExists(err)
}

func (d Driver) CreatePartitions(ctx context.Context, topic string, total int32) error {
	return d.call(ctx, "create_partitions", map[string]any{"topic": topic, "total": total}, &struct{}{})
}

func (d Driver) DeleteTopic(ctx context.Context, topic string) error {
	return d.call(ctx, "delete_topic", map[string]any{"topic": topic}, &struct{}{})
}

func (d Driver) DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error) {
	var resp struct {
		Configs map[string]string `json:"configs"`
	}
	if err := d.call(ctx, "describe_configs", map[string]any{"topic": topic}, &resp); err != nil {
		return nil, err
	}
	return resp.Configs, nil
}

func (d Driver) AlterTopicConfig(ctx context.Context, topic, key, value string) error {
	return d.call(ctx, "alter_config", map[string]any{"topic": topic, "key": key, "value": value}, &struct{}{})
}
