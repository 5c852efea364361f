package server

// UpdateFeatures (key 57), v0–v2.
//
// KIP-584 (kafka-features.sh upgrade/downgrade): finalizes feature levels in
// the metadata log as FeatureLevelRecords; ApiVersions v3+ reports the
// supported ranges and the finalized levels. Riffle supports
// metadata.version over Kafka 4.0's range (3.3-IV3 = 7 to 4.0-IV3 = 25) and
// transaction.version 0–2; a new cluster starts, as one formatted by Kafka
// 4.0, at metadata.version 25 and transaction.version 2, which tells clients
// to use KIP-890 part 2 (an epoch bump per transaction, see 26_end_txn.go),
// and, as one formatted by Kafka 4.1+, eligible.leader.replicas.version 1
// (KIP-966, controller/elr.go; it needs metadata.version 24 or above, and
// lowering it to 0 clears every partition's ELR).
// Lowering transaction.version (a downgrade) makes clients go back to
// AddPartitionsToTxn and EndTxn v4 from their next transaction. A level outside the
// supported range, an unknown feature, or a downgrade not allowed (v0's
// AllowDowngrade, v1+'s UpgradeType 2 or 3) is INVALID_UPDATE_VERSION; all
// updates apply together or none does. v0–v1 answer per feature, v2 only at
// the top level. ValidateOnly (v1+) writes nothing.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.UpdateFeatures, 0, 2, handleUpdateFeatures) }

// supportedFeatures are the features this broker supports, [min, max].
var supportedFeatures = map[string][2]int16{
	"metadata.version":    {7, 25},
	"transaction.version": {0, 2},
	controller.ELRFeature: {0, 1},
}

// bootstrapFeatures are the levels a new cluster finalizes. Kafka 4.1+
// formats new clusters with eligible.leader.replicas.version=1
// (EligibleLeaderReplicasVersion.LATEST_PRODUCTION); its dependency,
// metadata.version 4.0-IV2, is met by 25.
var bootstrapFeatures = map[string]int16{
	"metadata.version":    25,
	"transaction.version": 2,
	controller.ELRFeature: 1,
}

// Upgrade types of UpdateFeatures v1+.
const (
	featureUpgrade         = 1
	featureSafeDowngrade   = 2
	featureUnsafeDowngrade = 3
)

func handleUpdateFeatures(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.UpdateFeaturesRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	updates := make([]controller.FeatureUpdate, 0, len(req.FeatureUpdates))
	for _, u := range req.FeatureUpdates {
		down := u.AllowDowngrade
		if req.Version >= 1 {
			down = u.UpgradeType == featureSafeDowngrade || u.UpgradeType == featureUnsafeDowngrade
		}
		updates = append(updates, controller.FeatureUpdate{Name: u.Feature, Level: u.MaxVersionLevel, Downgrade: down})
	}
	var errs map[string]error
	var err error
	// ALTER on the cluster (ControllerApis.handleUpdateFeatures).
	if rc.authorizeCluster(authz.OpAlter) {
		errs, err = b.ctrl.UpdateFeatures(ctx, updates, supportedFeatures, req.ValidateOnly)
	} else {
		err = kerr.ClusterAuthorizationFailed
	}
	if err == nil && len(errs) > 0 {
		names := make([]string, 0, len(errs))
		for n := range errs {
			names = append(names, n)
		}
		sort.Strings(names)
		err = errs[names[0]]
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
	}
	if req.Version <= 1 {
		resp.Results = []kmsg.UpdateFeaturesResponseResult{}
		for _, u := range req.FeatureUpdates {
			r := kmsg.NewUpdateFeaturesResponseResult()
			r.Feature = u.Feature
			if e := errs[u.Feature]; e != nil {
				r.ErrorCode, r.ErrorMessage = errCode(e), errMsg(e)
			} else if err != nil {
				r.ErrorCode, r.ErrorMessage = errCode(err), errMsg(err)
			}
			resp.Results = append(resp.Results, r)
		}
	}
	if err == nil && !req.ValidateOnly {
		b.waitApplied(ctx, b.ctrl.Image().Offset)
	}
	return resp, nil
}

// addFeatures fills ApiVersions v3+'s feature fields (KIP-584): the
// supported ranges and the levels finalized in the metadata log, whose
// offset is the finalized features epoch, as in Kafka.
func (b *Broker) addFeatures(resp *kmsg.ApiVersionsResponse) {
	if resp.Version < 3 {
		return
	}
	for _, name := range sortedKeys(supportedFeatures) {
		r := supportedFeatures[name]
		f := kmsg.NewApiVersionsResponseSupportedFeature()
		f.Name, f.MinVersion, f.MaxVersion = name, r[0], r[1]
		resp.SupportedFeatures = append(resp.SupportedFeatures, f)
	}
	im := b.ctrl.Image()
	resp.FinalizedFeaturesEpoch = int64(im.Offset)
	for _, name := range sortedKeys(im.Features) {
		f := kmsg.NewApiVersionsResponseFinalizedFeature()
		f.Name = name
		f.MinVersionLevel, f.MaxVersionLevel = im.Features[name], im.Features[name]
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, f)
	}
}
