package storage

import (
	"encoding/json"
	"path/filepath"

	"github.com/riffle-io/riffle/storage/vfs"
)

// The clean-shutdown marker (.kafka_cleanshutdown) says two things, as
// Kafka's CleanShutdownFileHandler writes it:
//
//	{"version":0,"brokerEpoch":<epoch>}
//
// its presence lets the next start skip log recovery, and the broker epoch
// is the one the broker held when it stopped cleanly. The next start sends
// that epoch in its BrokerRegistration (PreviousBrokerEpoch, KIP-966), so
// the controller can tell a clean restart, whose replicas keep their place
// among the eligible leader replicas, from an unclean one. -1 means the
// epoch is unknown (an in-process kill, a broker that never registered).

type cleanShutdownContent struct {
	Version     int   `json:"version"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// maxCleanShutdownFile bounds what is read of a marker: a real one is a
// few dozen bytes.
const maxCleanShutdownFile = 4096

// readCleanShutdownEpoch returns the broker epoch of dir's marker, -1 when
// there is none or it cannot be read (Kafka's CleanShutdownFileHandler.read
// turns every failure into "unknown").
func readCleanShutdownEpoch(fs vfs.FS, dir string) int64 {
	path := filepath.Join(dir, CleanShutdownFile)
	fi, err := fs.Stat(path)
	if err != nil || fi.Size() > maxCleanShutdownFile {
		return -1
	}
	b, err := vfs.ReadFile(fs, path)
	if err != nil {
		return -1
	}
	var c cleanShutdownContent
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 0 || c.BrokerEpoch < 0 {
		return -1
	}
	return c.BrokerEpoch
}

func cleanShutdownMarker(epoch int64) []byte {
	b, _ := json.Marshal(cleanShutdownContent{Version: 0, BrokerEpoch: max(epoch, -1)})
	return b
}

// PreviousBrokerEpoch is the broker epoch every log directory's
// clean-shutdown marker named at start-up, -1 unless all of them named the
// same one (LogManager.readBrokerEpochFromCleanShutdownFiles: a directory
// without a marker may have lost data, so the restart is not clean).
func (m *LogManager) PreviousBrokerEpoch() int64 { return m.previousBrokerEpoch }

// SetBrokerEpoch records the broker epoch Shutdown writes into the
// clean-shutdown markers; -1 (the initial value) writes "unknown", which a
// killed broker keeps so that its restart counts as unclean.
func (m *LogManager) SetBrokerEpoch(epoch int64) {
	if epoch <= 0 {
		epoch = -1 // broker epochs are positive
	}
	m.brokerEpoch.Store(epoch)
}
