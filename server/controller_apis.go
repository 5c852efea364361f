package server

// The Kafka protocol on the CONTROLLER listener (KIP-919). Kafka's
// ControllerApis serves brokers (registration, producer id blocks,
// forwarded requests in an Envelope) and admin clients that bootstrap from
// the controllers (`--bootstrap-controller`). The controller package hands
// this node every controller-listener connection that is not raft's
// (controller.Config.ServeKafka); it is served by the same connection code
// as client listeners, with this table instead of apiTable.
//
// A request that needs the active controller and reaches another one is
// answered NOT_CONTROLLER (the handlers' controller calls fail so), and the
// sender looks for the new one.

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// controllerOnlyAPIs are served on the CONTROLLER listener only (or, as
// DescribeCluster, served there by another handler than on a client
// listener). Registered from each API's file with registerController;
// adding one is one line there.
var controllerOnlyAPIs = map[int16]*apiEntry{}

func registerController(key kmsg.Key, min, max int16, h handlerFunc) {
	if req := kmsg.RequestForKey(int16(key)); req == nil || max > req.MaxVersion() {
		panic("server: controller API registered beyond what kmsg knows: " + key.Name())
	}
	controllerOnlyAPIs[int16(key)] = &apiEntry{key: int16(key), min: min, max: max, handle: h}
}

// controllerSharedAPIs are the client APIs the CONTROLLER listener serves
// too, with the same handlers and versions as on a client listener: the
// admin writes of Kafka's ControllerApis and what KIP-919's admin clients
// ask a controller.
var controllerSharedAPIs = []kmsg.Key{
	kmsg.ApiVersions,
	kmsg.CreateTopics,
	kmsg.DeleteTopics,
	kmsg.DescribeConfigs,
	kmsg.AlterConfigs,
	kmsg.CreatePartitions,
	kmsg.ElectLeaders,
	kmsg.IncrementalAlterConfigs,
	kmsg.AlterPartitionAssignments,
	kmsg.ListPartitionReassignments,
	kmsg.AlterClientQuotas,
	kmsg.DescribeQuorum,
	kmsg.UpdateFeatures,
	kmsg.UnregisterBroker,
	kmsg.AlterUserSCRAMCredentials,
	kmsg.DescribeACLs,
	kmsg.CreateACLs,
	kmsg.DeleteACLs,
}

// controllerAPI returns the controller listener's entry for key.
func controllerAPI(key int16) (*apiEntry, bool) {
	if e, ok := controllerOnlyAPIs[key]; ok {
		return e, true
	}
	for _, k := range controllerSharedAPIs {
		if int16(k) == key {
			e, ok := apiTable[key]
			return e, ok
		}
	}
	return nil, false
}

// controllerAPIs lists the controller listener's APIs (ApiVersions).
func controllerAPIs() []*apiEntry {
	var out []*apiEntry
	for _, e := range controllerOnlyAPIs {
		out = append(out, e)
	}
	for _, k := range controllerSharedAPIs {
		if e, ok := apiTable[int16(k)]; ok {
			out = append(out, e)
		}
	}
	return out
}

// lookupAPI finds the entry serving key at version on this connection.
func (c *conn) lookupAPI(key, version int16) (*apiEntry, bool) {
	if !c.controller {
		return lookupAPI(key, version)
	}
	e, ok := controllerAPI(key)
	if !ok || version < e.min || version > e.max {
		return e, false
	}
	return e, true
}

// serveControllerConn serves a Kafka connection to the CONTROLLER listener
// (controller.Config.ServeKafka).
func (b *Broker) serveControllerConn(nc net.Conn) {
	if b.ctx.Err() != nil {
		_ = nc.Close()
		return
	}
	name := "CONTROLLER"
	if len(b.cfg.ControllerListenerNames) > 0 {
		name = b.cfg.ControllerListenerNames[0]
	}
	b.goBackground(func() { b.serveConn(nc, name) })
}
