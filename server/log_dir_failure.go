package server

import (
	"context"
	"errors"
	"time"
)

// Log dir failure on the broker, Kafka's ReplicaManager.handleLogDirFailure
// with BrokerLifecycleManager.propagateDirectoryFailure (KIP-858): when
// storage takes a log dir offline after an I/O error, its partitions stop
// replicating and the broker tells the active controller at once, in a
// heartbeat naming the dir's id among OfflineLogDirs (every later heartbeat
// names it too). The controller moves leadership away from the replicas in
// it and takes them out of their ISRs. A broker whose log dirs have all
// failed stops, as Kafka's halts: it can serve nothing.

// logDirIDs returns the ids (meta.properties directory.id) of the broker's
// online log dirs, or of its offline ones.
func (b *Broker) logDirIDs(offline bool) [][16]byte {
	if b.logs == nil {
		return nil
	}
	var out [][16]byte
	for _, d := range b.logs.Dirs() {
		if (b.logs.DirOffline(d) != nil) == offline {
			out = append(out, b.logs.DirectoryID(d))
		}
	}
	return out
}

// runLogDirFailureHandler acts on each log dir storage reports offline
// until the broker stops.
func (b *Broker) runLogDirFailureHandler() {
	for {
		var dir string
		select {
		case <-b.ctx.Done():
			return
		case dir = <-b.logs.DirFailures():
		}
		n := b.replicas.HandleLogDirFailure(dir)
		if len(b.logDirIDs(false)) == 0 {
			b.logger.Error("Shutdown broker because all log dirs in "+b.logDirsString()+" have failed", "dir", dir)
			b.halt()
			return
		}
		b.logger.Error("log dir failed: its partitions are offline on this broker until it restarts",
			"dir", dir, "partitions", n)
		start := time.Now()
		if b.propagateDirectoryFailure() {
			b.logger.Info("reported the offline log dir to the controller", "dir", dir, "took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// propagateDirectoryFailure heartbeats now rather than at the next
// interval, so that leadership moves as soon as possible; it retries until
// a controller has heard it or the broker stops (the periodic heartbeats
// name the dir too).
func (b *Broker) propagateDirectoryFailure() bool {
	wait := min(b.heartbeatInterval(), 50*time.Millisecond)
	for b.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(b.ctx, max(b.heartbeatInterval(), time.Second))
		_, err := b.heartbeat(ctx, b.wantShutdown.Load())
		cancel()
		if err == nil {
			return true
		}
		b.logger.Warn("reporting an offline log dir to the controller", "err", err)
		select {
		case <-b.ctx.Done():
		case <-time.After(wait):
		}
	}
	return false
}

func (b *Broker) logDirsString() string {
	s := ""
	for i, d := range b.logs.Dirs() {
		if i > 0 {
			s += ","
		}
		s += absDir(d)
	}
	return s
}

// errAllLogDirsFailed is what Run returns for a broker halted because
// every log dir failed.
var errAllLogDirsFailed = errors.New("all log dirs have failed")

// halt stops the broker at once, as Kafka's Exit.halt: no controlled
// shutdown (nothing it leads can be served), no clean-shutdown marker.
// Run then returns errAllLogDirsFailed.
func (b *Broker) halt() {
	b.haltOnce.Do(func() {
		close(b.halted)
		go b.kill() // kill waits for the background goroutines, this one among them
	})
}

// Halted is closed once the broker has halted itself (every log dir
// failed).
func (b *Broker) Halted() <-chan struct{} { return b.halted }
