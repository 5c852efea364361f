package server

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle-io/riffle/controller"
)

func errorsIsKerr(err error, target *kerr.Error) bool { return errors.Is(err, target) }

func sortedBrokerIDs(img *controller.Image) []int32 {
	ids := make([]int32, 0, len(img.Brokers))
	for id := range img.Brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// endpointFor returns the broker's endpoint for a listener name; clients are
// told the addresses of the listener they connected through.
func endpointFor(br *controller.BrokerRegistration, listener string) (controller.Endpoint, bool) {
	for _, ep := range br.Endpoints {
		if ep.Name == listener {
			return ep, true
		}
	}
	if len(br.Endpoints) > 0 {
		return br.Endpoints[0], true
	}
	return controller.Endpoint{}, false
}

// selfEndpoint returns this broker's advertised endpoint for a listener.
func (b *Broker) selfEndpoint(listener string) (string, int32) {
	for _, l := range b.advertised {
		if l.Name == listener {
			return l.Host, int32(l.Port)
		}
	}
	if len(b.advertised) > 0 {
		return b.advertised[0].Host, int32(b.advertised[0].Port)
	}
	return "localhost", 9092
}
