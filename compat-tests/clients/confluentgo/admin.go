package confluentgo

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

func (d Driver) admin() (*kafka.AdminClient, error) { return kafka.NewAdminClient(d.config(nil)) }

// topicResult turns the single result of a topic admin call into an error.
func topicResult(res []kafka.TopicResult, err error) error {
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("%d results, want 1", len(res))
	}
	switch res[0].Error.Code() {
	case kafka.ErrNoError:
		return nil
	case kafka.ErrTopicAlreadyExists:
		return fmt.Errorf("%w: %v", suite.ErrTopicAlreadyExists, res[0].Error)
	}
	return res[0].Error
}

func (d Driver) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return topicResult(adm.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic: topic, NumPartitions: int(partitions), ReplicationFactor: int(suite.ReplicationFactor()), Config: configs,
	}}))
}

func (d Driver) CreatePartitions(ctx context.Context, topic string, total int32) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return topicResult(adm.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: int(total)}}))
}

func (d Driver) DeleteTopic(ctx context.Context, topic string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return topicResult(adm.DeleteTopics(ctx, []string{topic}))
}

func (d Driver) DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error) {
	adm, err := d.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	res, err := adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("%d results, want 1", len(res))
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return nil, res[0].Error
	}
	out := map[string]string{}
	for name, e := range res[0].Config {
		out[name] = e.Value
	}
	return out, nil
}

func (d Driver) AlterTopicConfig(ctx context.Context, topic, key, value string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	res, err := adm.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{
		Type: kafka.ResourceTopic, Name: topic,
		Config: []kafka.ConfigEntry{{Name: key, Value: value, IncrementalOperation: kafka.AlterConfigOpTypeSet}},
	}})
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return r.Error
		}
	}
	return nil
}
