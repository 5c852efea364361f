package server

import (
	"maps"
	"strconv"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
)

// Dynamic broker configs (KIP-226) live in the metadata log as ConfigRecords
// on the BROKER resource: "" for the cluster-wide default, "<node.id>" for
// one broker. Each applied image that changes them rebuilds the effective
// configuration, server.properties under the dynamic default under this
// broker's own, as Kafka's DynamicBrokerConfig layers them.

// effectiveConfig returns the configuration in force: the static one with
// the dynamic broker configs applied.
func (b *Broker) effectiveConfig() *config.Broker {
	if c := b.dynCfg.Load(); c != nil {
		return c
	}
	return b.cfg
}

// dynamicBrokerConfigs returns the cluster-default and this broker's dynamic
// configs from an image.
func (b *Broker) dynamicBrokerConfigs(im *controller.Image) (clusterDefault, perBroker map[string]string) {
	if im == nil {
		return nil, nil
	}
	return im.BrokerConfigs[""], im.BrokerConfigs[strconv.Itoa(int(b.cfg.NodeID))]
}

// applyDynamicConfigs rebuilds the effective configuration when next changes
// the dynamic broker configs, and reports whether it did (every topic's
// defaults may then have changed).
func (b *Broker) applyDynamicConfigs(prev, next *controller.Image) bool {
	nd, nb := b.dynamicBrokerConfigs(next)
	if prev != nil && b.dynCfg.Load() != nil {
		pd, pb := b.dynamicBrokerConfigs(prev)
		if maps.Equal(pd, nd) && maps.Equal(pb, nb) {
			return false
		}
	}
	eff, err := b.cfg.WithDynamic(nd, nb)
	if err != nil {
		// Values were validated before they were written; a config written
		// by a newer Riffle may still not fit. Keep serving with what we had.
		b.logger.Error("dynamic broker configs do not apply; keeping the previous configuration", "err", err)
		if b.dynCfg.Load() == nil {
			b.dynCfg.Store(b.cfg)
		}
		return false
	}
	changed := b.dynCfg.Load() != nil && b.dynCfg.Load() != eff
	b.dynCfg.Store(eff)
	return changed || len(nd) > 0 || len(nb) > 0
}

// applyReplicationQuotas sets the replication throttles (KIP-73) from the
// effective configuration: leader.replication.throttled.rate and
// follower.replication.throttled.rate are dynamic, per broker or as the
// cluster default, and take effect at once.
func (b *Broker) applyReplicationQuotas() {
	cfg := b.effectiveConfig()
	b.leaderQuota.UpdateQuota(cfg.LeaderReplicationThrottledRate)
	b.followerQuota.UpdateQuota(cfg.FollowerReplicationThrottledRate)
}
