package sarama

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

func (d Driver) admin(ctx context.Context) (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin(d.Seeds, d.config(ctx))
}

func (d Driver) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	entries := map[string]*string{}
	for k, v := range configs {
		entries[k] = &v
	}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: suite.ReplicationFactor(), ConfigEntries: entries}, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("%w: %v", suite.ErrTopicAlreadyExists, err)
	}
	return err
}

func (d Driver) CreatePartitions(ctx context.Context, topic string, total int32) error {
	adm, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.CreatePartitions(topic, total, nil, false)
}

func (d Driver) DeleteTopic(ctx context.Context, topic string) error {
	adm, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.DeleteTopic(topic)
}

func (d Driver) DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error) {
	adm, err := d.admin(ctx)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name] = e.Value
	}
	return out, nil
}

func (d Driver) AlterTopicConfig(ctx context.Context, topic, key, value string) error {
	adm, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
	}, false)
}
