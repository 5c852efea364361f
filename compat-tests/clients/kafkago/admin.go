package kafkago

import (
	"context"
	"errors"
	"fmt"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/segmentio/kafka-go"
)

func (d Driver) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: int(suite.ReplicationFactor())}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := d.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return err
	}
	err = resp.Errors[topic]
	if errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("%w: %v", suite.ErrTopicAlreadyExists, err)
	}
	return err
}

func (d Driver) CreatePartitions(ctx context.Context, topic string, total int32) error {
	resp, err := d.client().CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: total}},
	})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (d Driver) DeleteTopic(ctx context.Context, topic string) error {
	resp, err := d.client().DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (d Driver) DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error) {
	resp, err := d.client().DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("DescribeConfigs: %d resources in the answer", len(resp.Resources))
	}
	res := resp.Resources[0]
	if res.Error != nil {
		return nil, res.Error
	}
	out := map[string]string{}
	for _, e := range res.ConfigEntries {
		out[e.ConfigName] = e.ConfigValue
	}
	return out, nil
}

func (d Driver) AlterTopicConfig(ctx context.Context, topic, key, value string) error {
	resp, err := d.client().IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			Configs:      []kafka.IncrementalAlterConfigsRequestConfig{{Name: key, Value: value, ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err != nil {
		return err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return r.Error
		}
	}
	return nil
}
