package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a Controller.
type Config struct {
	NodeID    int32
	ClusterID string
	// Dir is the metadata log directory, e.g. <first log dir>/__cluster_metadata-0
	// (Kafka's name). It holds the raft log (wal/) and snapshots (snapshots/).
	Dir string
	// ListenAddr is the CONTROLLER listener bind address; port 0 picks a free
	// port (tests).
	ListenAddr string
	// AdvertisedAddr is the address other voters dial. Default: this node's
	// entry in Voters, else AdvertisedHost with the bound port, else the
	// bound address (127.0.0.1 for a wildcard bind).
	AdvertisedAddr string
	// AdvertisedHost is the host advertised with the bound port when
	// AdvertisedAddr is unset and this node is not a voter.
	AdvertisedHost string
	// Voters is controller.quorum.voters. Empty: a single-voter quorum of
	// this node at its advertised address.
	Voters                   []Voter
	DefaultNumPartitions     int32
	DefaultReplicationFactor int16
	// BootstrapFeatures are the feature levels a new cluster finalizes
	// (kafka-storage.sh format's bootstrap metadata): written by the
	// first active controller of a quorum that starts with an empty log.
	BootstrapFeatures map[string]int16
	// BrokerSessionTimeout is broker.session.timeout.ms: a broker not
	// heard from for this long is fenced. 0: sessions never expire, for a
	// node whose brokers do not heartbeat.
	BrokerSessionTimeout time.Duration
	// UncleanLeaderElection is the static unclean.leader.election.enable,
	// used when neither the topic nor a dynamic broker config sets it.
	UncleanLeaderElection bool
	// MinInsyncReplicas is the static min.insync.replicas: turning
	// eligible leader replicas on (KIP-966) writes it as the cluster-wide
	// value when none is set, as Kafka's active controller does.
	MinInsyncReplicas int
	// LeaderImbalanceCheckInterval is leader.imbalance.check.interval.seconds
	// when auto.leader.rebalance.enable is true: how often the active
	// controller moves leadership back to preferred replicas. 0: never.
	LeaderImbalanceCheckInterval time.Duration
	// NonVoter makes this node follow the metadata log without voting
	// (process.roles=broker): it is not in Voters, starts with no quorum
	// of its own, and the active controller adds it as a raft non-voter
	// when it registers (RegisterBroker with its raft address), so Start
	// does not wait for a leader; the broker waits for its registration
	// to be applied instead.
	NonVoter bool
	// ServeKafka, when set, is handed every connection to the CONTROLLER
	// listener that speaks the Kafka protocol rather than raft's (KIP-919:
	// admin clients and brokers talk Kafka to controllers), with the bytes
	// read to tell them apart replayed. It owns the connection. Nil: such
	// connections are closed.
	ServeKafka func(net.Conn)
	Logger     *slog.Logger
}

// Controller runs this node's member of the controller quorum and holds the
// latest metadata image. Lock order: opMu, then pubMu, then notifier.mu.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	hlog   hclog.Logger
	image  atomic.Pointer[Image]
	notify *notifier

	// pubMu orders publishing images (raft apply, restore, leader changes)
	// with queueing their notifications and with Subscribe.
	pubMu sync.Mutex

	// opMu serialises proposals: each is validated against an image that
	// includes every earlier proposal.
	opMu        sync.Mutex
	barrierTerm uint64           // term whose entries the image is known to include; under opMu
	hb          *heartbeats      // broker sessions; under opMu, meaningful on the active controller
	clock       func() time.Time // nil: time.Now; tests replace it before Start

	started   atomic.Bool
	addr      string
	lock      *os.File
	wal       *raftwal.WAL
	walMeta   *metadb.BoltMetaDB
	trans     *raft.NetworkTransport
	progress  *progressTransport        // trans, observed for DescribeQuorum
	rafts     atomic.Pointer[raft.Raft] // set once Start has created it
	observer  *raft.Observer
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// walSegmentBytes is the raft log's segment size. raft-wal preallocates whole
// segments (64 MiB by default) and metadata is small; a larger entry simply
// overfills its segment, which raft-wal allows.
const walSegmentBytes = 8 << 20

// New checks cfg and returns a Controller that Start brings up.
func New(cfg Config) (*Controller, error) {
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("controller: invalid node id %d", cfg.NodeID)
	}
	if cfg.Dir == "" {
		return nil, errors.New("controller: no metadata log directory")
	}
	if cfg.ListenAddr == "" {
		return nil, errors.New("controller: no CONTROLLER listener address")
	}
	switch {
	case cfg.NonVoter && len(cfg.Voters) == 0:
		return nil, errors.New("controller: a node that does not vote needs controller.quorum.voters to find the quorum")
	case cfg.NonVoter && voterAddr(cfg.Voters, cfg.NodeID) != "":
		return nil, fmt.Errorf("controller: node %d is in controller.quorum.voters but does not run a controller", cfg.NodeID)
	case !cfg.NonVoter && len(cfg.Voters) > 0 && voterAddr(cfg.Voters, cfg.NodeID) == "":
		return nil, fmt.Errorf("controller: node %d is not in controller.quorum.voters", cfg.NodeID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "controller"),
		notify: newNotifier(),
		stop:   make(chan struct{}),
		hb:     newHeartbeats(cfg.BrokerSessionTimeout),
	}
	c.hlog = newHCLogger(c.log, "raft")
	c.image.Store(NewImage(cfg.ClusterID))
	return c, nil
}

func voterAddr(voters []Voter, id int32) string {
	for _, v := range voters {
		if v.ID == id {
			return v.Addr
		}
	}
	return ""
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// Start opens the metadata log, bootstraps the quorum on first start, and
// waits (bounded by ctx) until a leader exists and this node's image has
// replayed the log.
func (c *Controller) Start(ctx context.Context) (err error) {
	if c.started.Swap(true) {
		return errors.New("controller: already started")
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	walDir := filepath.Join(c.cfg.Dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if c.lock, err = lockDir(c.cfg.Dir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("controller: listen on %s: %w", c.cfg.ListenAddr, err)
	}
	c.addr = c.advertisedAddr(ln.Addr().(*net.TCPAddr))
	c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &streamLayer{ln: ln, advertise: hostPortAddr(c.addr), log: c.log, serveKafka: c.cfg.ServeKafka},
		MaxPool: 3,
		// One AppendEntries in flight per follower: pipelined
		// replication would bypass what progressTransport observes.
		MaxRPCsInFlight: 1,
		Timeout:         10 * time.Second,
		Logger:          c.hlog.Named("transport"),
	})
	// raft-wal's Close leaves its meta store open (and flock'ed), so Riffle
	// owns the meta store and closes it after the log.
	c.walMeta = &metadb.BoltMetaDB{}
	if c.wal, err = raftwal.Open(walDir, raftwal.WithLogger(c.hlog.Named("wal")), raftwal.WithMetaStore(c.walMeta),
		raftwal.WithSegmentSize(walSegmentBytes)); err != nil {
		return fmt.Errorf("controller: open metadata log in %s: %w", c.cfg.Dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.Dir, 2, c.hlog.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("controller: open metadata snapshots in %s: %w", c.cfg.Dir, err)
	}

	voters := c.cfg.Voters
	if len(voters) == 0 {
		voters = []Voter{{ID: c.cfg.NodeID, Addr: c.addr}}
	}
	rc := c.raftConfig(len(voters))
	if c.cfg.NonVoter {
		rc = c.raftConfig(3) // the quorum's timings, not a lone voter's
	}
	has, err := raft.HasExistingState(c.wal, c.wal, snaps)
	if err != nil {
		return fmt.Errorf("controller: inspect metadata log: %w", err)
	}
	if !has && !c.cfg.NonVoter {
		// Every voter bootstraps with the same static voter set, which
		// hashicorp/raft documents as safe; later starts reuse the log.
		var conf raft.Configuration
		for _, v := range voters {
			addr := v.Addr
			if v.ID == c.cfg.NodeID {
				addr = c.addr
			}
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(addr)})
		}
		if err := raft.BootstrapCluster(rc, c.wal, c.wal, snaps, c.trans, conf); err != nil {
			return fmt.Errorf("controller: bootstrap metadata quorum: %w", err)
		}
		c.log.Info("bootstrapped metadata quorum", "voters", len(voters), "dir", c.cfg.Dir)
	}
	c.goTracked(func() { c.notify.run(c.stop) })
	c.progress = &progressTransport{NetworkTransport: c.trans, progress: map[raft.ServerID]followerProgress{},
		lastIndex: func() uint64 {
			if r := c.rafts.Load(); r != nil {
				return r.LastIndex()
			}
			return 0
		}}
	r, err := raft.NewRaft(rc, &fsm{c: c}, c.wal, c.wal, snaps, c.progress)
	if err != nil {
		return fmt.Errorf("controller: start raft: %w", err)
	}
	c.rafts.Store(r)
	obs := make(chan raft.Observation, 16)
	c.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	c.raft().RegisterObserver(c.observer)
	c.goTracked(func() { c.watchLeader(obs) })
	if c.cfg.BrokerSessionTimeout > 0 {
		c.goTracked(c.runSessionTimer)
	}
	if c.cfg.LeaderImbalanceCheckInterval > 0 {
		c.goTracked(c.runLeaderRebalance)
	}
	if c.cfg.NonVoter {
		// Nothing to wait for until the active controller adds this
		// node (its registration); the leader then replicates to it.
		c.log.Info("metadata follower started", "node", c.cfg.NodeID, "addr", c.addr)
		return nil
	}
	if err := c.awaitCaughtUp(ctx); err != nil {
		return err
	}
	if c.IsActive() && c.needsBootstrap() {
		if err := c.bootstrapFeatures(ctx); err != nil {
			// Retried when this node next becomes the leader, or at
			// the next start.
			c.log.Warn("bootstrapping feature levels", "err", err)
		}
	}
	c.log.Info("controller started", "node", c.cfg.NodeID, "addr", c.addr,
		"active", c.IsActive(), "offset", c.Image().Offset)
	return nil
}

// bootstrapMarker is the feature whose absence means the metadata log was
// never bootstrapped: it cannot be removed (its lowest level is above 0).
const bootstrapMarker = "metadata.version"

// needsBootstrap reports whether the log still lacks its bootstrap
// feature levels.
func (c *Controller) needsBootstrap() bool {
	if _, ok := c.cfg.BootstrapFeatures[bootstrapMarker]; !ok {
		return false
	}
	_, ok := c.Image().Features[bootstrapMarker]
	return !ok
}

// bootstrapFeatures finalizes Config.BootstrapFeatures, as kafka-storage.sh
// format's bootstrap metadata does, once per metadata log: the active
// controller writes them when metadata.version is unset, at start or when
// it becomes the leader, so a failed attempt is retried. A log written
// before Riffle bootstrapped features gets them too.
func (c *Controller) bootstrapFeatures(ctx context.Context) error {
	if len(c.cfg.BootstrapFeatures) == 0 || !c.IsActive() {
		return nil
	}
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		if _, ok := im.Features[bootstrapMarker]; ok {
			return nil, nil // done already
		}
		var recs []Record
		levels := maps.Clone(im.Features)
		if levels == nil {
			levels = map[string]int16{}
		}
		for _, name := range slices.Sorted(maps.Keys(c.cfg.BootstrapFeatures)) {
			if _, ok := im.Features[name]; !ok && c.cfg.BootstrapFeatures[name] > 0 {
				recs = append(recs, &FeatureLevelRecord{Name: name, FeatureLevel: c.cfg.BootstrapFeatures[name]})
				levels[name] = c.cfg.BootstrapFeatures[name]
			}
		}
		return append(recs, elrFeatureRecords(im, levels, c.cfg.MinInsyncReplicas)...), nil
	})
	if err != nil {
		return fmt.Errorf("controller: bootstrap feature levels: %w", err)
	}
	return nil
}

// goTracked runs fn on a goroutine that Close waits for.
func (c *Controller) goTracked(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// advertisedAddr picks the address other voters reach this node at.
func (c *Controller) advertisedAddr(bound *net.TCPAddr) string {
	if c.cfg.AdvertisedAddr != "" {
		return c.cfg.AdvertisedAddr
	}
	if a := voterAddr(c.cfg.Voters, c.cfg.NodeID); a != "" {
		return a
	}
	if h := c.cfg.AdvertisedHost; h != "" {
		return net.JoinHostPort(h, strconv.Itoa(bound.Port))
	}
	ip := bound.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(bound.Port))
}

// raftConfig tunes raft's timers. A single voter needs no election wait
// beyond one heartbeat timeout, so it starts in well under a second.
func (c *Controller) raftConfig(voters int) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(c.cfg.NodeID)
	rc.Logger = c.hlog
	if voters == 1 {
		rc.HeartbeatTimeout = 50 * time.Millisecond
		rc.ElectionTimeout = 50 * time.Millisecond
		rc.LeaderLeaseTimeout = 50 * time.Millisecond
	} else {
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
	}
	rc.CommitTimeout = 10 * time.Millisecond
	return rc
}

// awaitCaughtUp waits until a leader exists and this node's image includes
// every entry committed at that point.
func (c *Controller) awaitCaughtUp(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, id := c.raft().LeaderWithID(); id != "" {
			if id == serverID(c.cfg.NodeID) {
				if err := c.barrier(ctx); err == nil {
					c.refreshControllerID()
					c.fixOwnAddress(ctx)
					return nil
				}
				// Leadership moved during the barrier: keep waiting.
			} else if commit := c.raft().CommitIndex(); commit > 0 && c.raft().AppliedIndex() >= commit &&
				c.Image().Offset >= c.lastCommandAtOrBefore(commit) {
				// AppliedIndex moves when raft hands entries to the
				// FSM, before the image is published (WaitApplied).
				c.refreshControllerID()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller: waiting for the metadata quorum to elect a leader: %w: %w", kerr.RequestTimedOut, ctx.Err())
		case <-tick.C:
		}
	}
}

// fixOwnAddress updates this voter's address in the raft configuration when
// it changed since the quorum was formed (a restart on another port).
func (c *Controller) fixOwnAddress(ctx context.Context) {
	f := c.raft().GetConfiguration()
	if err := waitFuture(ctx, f); err != nil {
		return
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == serverID(c.cfg.NodeID) && s.Address != raft.ServerAddress(c.addr) {
			err := waitFuture(ctx, c.raft().AddVoter(s.ID, raft.ServerAddress(c.addr), 0, timeoutOf(ctx)))
			c.log.Info("controller address changed", "from", s.Address, "to", c.addr, "err", err)
		}
	}
}

// barrier makes the image include every entry committed before it. The
// caller must be the leader.
func (c *Controller) barrier(ctx context.Context) error {
	return waitFuture(ctx, c.raft().Barrier(timeoutOf(ctx)))
}

func (c *Controller) watchLeader(obs <-chan raft.Observation) {
	for {
		select {
		case <-c.stop:
			return
		case <-obs:
			// A new leader knows nothing yet of its followers.
			c.progress.resetProgress()
			c.refreshControllerID()
			if c.IsActive() && c.needsBootstrap() {
				c.goTracked(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					if err := c.bootstrapFeatures(ctx); err != nil {
						c.log.Warn("bootstrapping feature levels", "err", err)
					}
				})
			}
		}
	}
}

// refreshControllerID republishes the image naming the current leader.
func (c *Controller) refreshControllerID() {
	id := int32(-1)
	if _, sid := c.raft().LeaderWithID(); sid != "" {
		if n, err := strconv.ParseInt(string(sid), 10, 32); err == nil {
			id = int32(n)
		}
	}
	c.pubMu.Lock()
	if cur := c.image.Load(); cur.ControllerID != id {
		c.image.Store(cur.withControllerID(id))
	}
	c.pubMu.Unlock()
}

// Close stops this quorum member and releases the metadata directory.
func (c *Controller) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		if r := c.rafts.Load(); r != nil {
			r.DeregisterObserver(c.observer)
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.trans != nil {
			if err := c.trans.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		close(c.stop)
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("controller: a metadata subscriber did not return within 10s"))
		}
		if c.wal != nil {
			if err := c.wal.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.walMeta != nil {
			if err := c.walMeta.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.lock != nil {
			c.lock.Close() // releases the flock
		}
	})
	return errors.Join(errs...)
}

// raft returns the raft node; only called once Start created it.
func (c *Controller) raft() *raft.Raft { return c.rafts.Load() }

// Addr returns the address this node's raft transport is reachable at.
func (c *Controller) Addr() string { return c.addr }

// IsActive reports whether this node is the active controller (raft leader).
func (c *Controller) IsActive() bool {
	r := c.rafts.Load()
	return r != nil && r.State() == raft.Leader
}

// Image returns the latest applied image; never nil.
func (c *Controller) Image() *Image { return c.image.Load() }

// Subscribe registers fn to be called, in order and from one goroutine, with
// each new image after every applied raft entry (a rejected entry yields an
// image that differs only in Offset) and after a snapshot restore. The first
// call hands fn the empty image and the image current at subscription, so a
// subscriber that diffs prev against next sees every topic exactly once.
// fn must not block for long: it delays every later notification.
func (c *Controller) Subscribe(fn func(prev, next *Image)) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.notify.add(fn)
	cur := c.image.Load()
	c.notify.enqueue(NewImage(cur.ClusterID), cur, []func(prev, next *Image){fn})
}

// lockDir takes an exclusive lock on dir, as Kafka locks its log dirs, so a
// second process fails fast instead of waiting on the raft log's own lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("controller: metadata directory %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

// timeoutOf converts ctx's deadline into raft's enqueue timeout (0 = none).
func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// waitFuture waits for a raft future, bounded by ctx. raft resolves every
// future eventually (applied, leadership lost or shut down), so the helper
// goroutine left behind on timeout ends too.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return raftError(err)
	case <-ctx.Done():
		return fmt.Errorf("metadata change not committed in time (it may still be): %w", kerr.RequestTimedOut)
	}
}

// raftError maps raft's failures onto Kafka's outcomes.
func raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%v: %w", err, kerr.NotController)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%v: %w", err, kerr.RequestTimedOut)
	}
	return fmt.Errorf("metadata quorum: %v: %w", err, kerr.UnknownServerError)
}

// randomTopicID returns a random version-4 UUID as Kafka's Uuid.randomUuid
// does. Version bits make it neither zero nor the metadata topic's id 1, and
// Kafka also refuses ids whose base64 form starts with '-' (first six bits 62).
func randomTopicID() UUID {
	var u UUID
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	if u[0]>>2 == 62 {
		u[0] &^= 0x80
	}
	return u
}

// randomStart picks where round-robin placement starts.
func randomStart(n int) int {
	if n <= 1 {
		return 0
	}
	return mrand.IntN(n)
}
