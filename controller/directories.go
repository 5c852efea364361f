package controller

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Log dirs of brokers (KIP-858, JBOD in KRaft). A broker registers the ids
// of its online log dirs (meta.properties directory.id); every partition
// records, per replica, the dir holding it (Directories). When a broker's
// heartbeat names offline log dirs, the controller takes the replicas in
// them out of their ISRs and moves their leadership away, and records the
// broker's remaining online dirs (Kafka's
// ReplicationControlManager.handleDirectoriesOffline). A replica whose dir
// is offline never leads. A broker restarted with the dir repaired
// registers it online again, and its replicas rejoin the ISR once caught
// up.

// Reserved directory ids (Kafka's DirectoryId): UNASSIGNED is a replica
// whose dir is not known yet, LOST one whose dir is gone, MIGRATING one
// of a broker that predates KIP-858. Ids below 100 are reserved.
var (
	DirUnassigned = UUID{}
	DirLost       = UUID{15: 1}
	DirMigrating  = UUID{15: 2}
)

// reservedDir reports whether id is one of Kafka's reserved directory ids.
func reservedDir(id UUID) bool {
	return id == UUID{} || (bytes.Equal(id[:15], make([]byte, 15)) && id[15] < 100)
}

func sortedDirs(dirs []UUID) []UUID {
	if len(dirs) == 0 {
		return nil
	}
	out := slices.Clone(dirs)
	slices.SortFunc(out, func(a, b UUID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// hasOnlineDir is Kafka's DirectoryId.isOnline: an unassigned or
// migrating replica counts as online, a lost one as offline, and so does
// any replica of a broker that registered no dirs.
func (b *BrokerRegistration) hasOnlineDir(dir UUID) bool {
	switch dir {
	case DirUnassigned, DirMigrating:
		return true
	case DirLost:
		return false
	}
	if len(b.LogDirs) == 0 {
		return true
	}
	return b.hasDir(dir)
}

// hasDir reports whether dir is among the broker's (sorted) log dirs.
func (b *BrokerRegistration) hasDir(dir UUID) bool {
	_, ok := slices.BinarySearchFunc(b.LogDirs, dir, func(a, b UUID) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// Directory returns the log dir id of broker id's replica of p.
func (p PartitionImage) Directory(id int32) UUID {
	i := slices.Index(p.Replicas, id)
	if i < 0 || i >= len(p.Directories) {
		return DirUnassigned
	}
	return p.Directories[i]
}

// replicaDirOnline reports whether broker id's replica of p is not in one
// of the broker's offline log dirs.
func (im *Image) replicaDirOnline(p PartitionImage, id int32) bool {
	b, ok := im.Brokers[id]
	return !ok || b.hasOnlineDir(p.Directory(id))
}

// ReplicaOffline reports whether broker id's replica of p is offline as
// Kafka's metadata cache reports it (Metadata OfflineReplicas): its broker
// is not registered or fenced, or its log dir is offline.
func (im *Image) ReplicaOffline(p PartitionImage, id int32) bool {
	b, ok := im.Brokers[id]
	return !ok || b.Fenced || !b.hasOnlineDir(p.Directory(id))
}

// defaultDirectories places each replica as Kafka's
// ClusterControlManager.defaultDir does: in the broker's log dir when it
// has exactly one, otherwise unassigned until the broker says
// (AssignReplicasToDirs). nil when nothing is known.
func (im *Image) defaultDirectories(replicas []int32) []UUID {
	dirs := make([]UUID, len(replicas))
	known := false
	for i, id := range replicas {
		if b, ok := im.Brokers[id]; ok && len(b.LogDirs) == 1 {
			dirs[i], known = b.LogDirs[0], true
		}
	}
	if !known {
		return nil
	}
	return dirs
}

// directoriesFrom is Kafka's DirectoryId.createDirectoriesFrom: the dirs of
// newReplicas, keeping those of the replicas in oldReplicas.
func directoriesFrom(oldReplicas []int32, oldDirs []UUID, newReplicas []int32) []UUID {
	if oldDirs == nil {
		return nil
	}
	out := make([]UUID, len(newReplicas))
	for i, id := range newReplicas {
		if j := slices.Index(oldReplicas, id); j >= 0 && j < len(oldDirs) {
			out[i] = oldDirs[j]
		}
	}
	return out
}

// registrationLogDirs validates the log dirs of a BrokerRegistration as
// Kafka's ClusterControlManager does: no reserved and no repeated ids.
func registrationLogDirs(req *kmsg.BrokerRegistrationRequest) ([]UUID, error) {
	dirs := make([]UUID, 0, min(len(req.LogDirs), 1000))
	seen := make(map[UUID]bool, min(len(req.LogDirs), 1000))
	for _, d := range req.LogDirs {
		id := UUID(d)
		if reservedDir(id) {
			return nil, fmt.Errorf("reserved directory id %s in the registration of broker %d: %w", id, req.BrokerID, kerr.InvalidRegistration)
		}
		if seen[id] {
			return nil, fmt.Errorf("directory id %s repeated in the registration of broker %d: %w", id, req.BrokerID, kerr.InvalidRegistration)
		}
		seen[id] = true
		dirs = append(dirs, id)
	}
	return sortedDirs(dirs), nil
}

// planDirectoriesOffline is Kafka's handleDirectoriesOffline: the broker's
// replicas in the newly offline dirs leave their ISRs and their
// leaderships move; the broker's registration keeps only its online dirs.
func planDirectoriesOffline(im *Image, b *BrokerRegistration, offline [][16]byte, unclean electionPolicy) []Record {
	// Bounded by the broker's registered dirs, however many the request
	// names.
	var gone []UUID
	for _, d := range offline {
		if id := UUID(d); b.hasDir(id) && !slices.Contains(gone, id) {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	acceptable := func(r int32) bool { return r != b.ID && im.isActive(r) }
	recs := leadershipChanges(im, b.ID, acceptable, unclean, func(p PartitionImage) bool {
		return slices.Contains(p.Replicas, b.ID) && slices.Contains(gone, p.Directory(b.ID)) &&
			(p.Leader == b.ID || slices.Contains(p.ISR, b.ID))
	})
	online := slices.DeleteFunc(slices.Clone(b.LogDirs), func(d UUID) bool { return slices.Contains(gone, d) })
	if len(online) == 0 {
		// The record cannot say "none" (empty leaves the dirs alone);
		// a broker whose dirs have all failed stops, as Kafka's does,
		// and its session then expires.
		online = []UUID{DirLost}
	}
	return append(recs, &BrokerRegistrationChangeRecord{BrokerId: b.ID, BrokerEpoch: b.Epoch, LogDirs: online})
}
