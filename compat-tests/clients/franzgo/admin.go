package franzgo

import (
	"context"
	"errors"
	"fmt"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (d Driver) admin() (*kadm.Client, error) {
	cl, err := d.client()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

func (d Driver) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, partitions, suite.ReplicationFactor(), cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("%w: %v", suite.ErrTopicAlreadyExists, err)
	}
	return err
}

func (d Driver) CreatePartitions(ctx context.Context, topic string, total int32) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	resps, err := adm.UpdatePartitions(ctx, int(total), topic)
	if err != nil {
		return err
	}
	return resps.Error()
}

func (d Driver) DeleteTopic(ctx context.Context, topic string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	resp, err := adm.DeleteTopic(ctx, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func (d Driver) DescribeTopicConfigs(ctx context.Context, topic string) (map[string]string, error) {
	adm, err := d.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return nil, err
	}
	if rc.Err != nil {
		return nil, fmt.Errorf("%w: %s", rc.Err, rc.ErrMessage)
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out, nil
}

func (d Driver) AlterTopicConfig(ctx context.Context, topic, key, value string) error {
	adm, err := d.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
	}
	return nil
}
