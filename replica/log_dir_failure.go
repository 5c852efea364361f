package replica

// HandleLogDirFailure is Kafka's ReplicaManager.handleLogDirFailure for
// the partitions whose logs are in dir, which storage has taken offline:
// they stop fetching from their leaders, and produces waiting for their
// high watermark answer KAFKA_STORAGE_ERROR at once instead of timing
// out. Their roles stay until the controller, told by the broker's
// heartbeat, moves their leadership (KIP-858). It returns how many
// partitions it took offline.
func (m *Manager) HandleLogDirFailure(dir string) int {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	n := 0
	for _, p := range m.Partitions() {
		if d, ok := m.logs.LogDir(p.TP); !ok || d != dir {
			continue
		}
		m.fetchers.removePartition(p)
		p.wake()
		n++
	}
	return n
}
