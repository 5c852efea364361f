package server

import "github.com/riffle-io/riffle/storage/vfs"

// SetStorageFS makes b's logs use fs (a fault-injecting filesystem); call
// it before Start.
func (b *Broker) SetStorageFS(fs vfs.FS) { b.storageFS = fs }

// PendingDirAssignments is how many of b's replicas the controller does
// not yet record in the log dir that holds them.
func (b *Broker) PendingDirAssignments() int {
	req := b.pendingDirAssignments()
	if req == nil {
		return 0
	}
	n := 0
	for _, d := range req.Directories {
		for _, t := range d.Topics {
			n += len(t.Partitions)
		}
	}
	return n
}
