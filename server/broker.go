// Package server is the broker's edge: listeners, connections, one file per
// Kafka API (named by key, as 00_produce.go), and the wiring of the storage,
// replica and controller packages into a running broker.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
	"github.com/riffle-io/riffle/storage/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker is one Riffle node: a broker and, in the default combined mode
// (process.roles=broker,controller), a voter of the metadata quorum.
type Broker struct {
	cfg       *config.Broker
	logger    *slog.Logger
	clusterID string

	logs *storage.LogManager
	// halted closes when every log dir has failed (log_dir_failure.go).
	halted   chan struct{}
	haltOnce sync.Once
	// dirAssign wakes runDirectoryAssignments (directory_assignments.go).
	dirAssign chan struct{}
	// storageFS replaces the operating system's filesystem under the
	// logs when set (tests inject disk faults through it).
	storageFS vfs.FS
	ctrl      *controller.Controller
	replicas  *replica.Manager
	pids      producerIDs
	groups    *groupRuntime // group coordinator (group_runtime.go)
	txn       *txnRuntime   // transaction coordinator (txn_runtime.go)
	peers     peerClients   // clients to other brokers (txn_interbroker.go)
	// ctrlClients reach the active controller (controller_channel.go).
	ctrlClients controllerClients
	// brokerEpoch is this broker's epoch from its registration with the
	// active controller: the offset of its RegisterBrokerRecord. It goes
	// with every request that names this broker to the controller.
	brokerEpoch atomic.Int64
	// incarnationID is random per process start (Kafka's
	// BrokerLifecycleManager), so the controller can tell a restart from
	// a retried registration.
	incarnationID [16]byte
	metrics       *brokerMetrics // Prometheus registry (metrics.go)
	quotas        *clientQuotas  // client quota usage (quotas.go)
	admin         *adminServer   // admin HTTP endpoint, nil when disabled

	// fetchSessions is the cache of incremental fetch sessions
	// (fetch_session.go), shared by every connection.
	fetchSessions *fetchSessionCache

	// autoCreate tracks topics being auto-created (03_metadata.go).
	autoCreate autoTopicCreation

	ctx    context.Context
	cancel context.CancelFunc

	listeners  []net.Listener
	advertised []config.Listener // with bound ports filled in
	bg         sync.WaitGroup    // every goroutine the broker starts

	connMu sync.Mutex
	conns  map[*conn]struct{}

	// Connection and request bounds (conn_limits.go).
	connQuotas *connQuotas
	reqPool    *requestPool
	reqQueue   *requestQueue
	// unsentResponses is the encoded response bytes of every connection
	// not yet written; see limitFetch (conn_limits.go).
	unsentResponses atomic.Int64

	// applied is closed and replaced each time a metadata image has been
	// applied to the local partitions.
	appliedMu sync.Mutex
	applied   chan struct{}
	appliedAt uint64

	// dynCfg is cfg with the dynamic broker configs of the metadata image
	// applied (nil until the first image); see dynamic_config.go.
	dynCfg atomic.Pointer[config.Broker]
	// leaderQuota and followerQuota are the replication throttles
	// (KIP-73), set from the effective configuration.
	leaderQuota, followerQuota *replica.ReplicationQuota

	// security is each listener's TLS and SASL (listener_security.go).
	security map[string]*listenerSecurity
	// saslAuthentications and saslReauthentications count completed
	// SASL authentications (Kafka's successful-authentication-total and
	// successful-reauthentication-total).
	saslAuthentications, saslReauthentications atomic.Int64

	// wantShutdown is set once a controlled shutdown has begun
	// (broker_lifecycle.go).
	wantShutdown atomic.Bool

	// authorizer decides every request (authorize.go); nil when
	// authorizer.class.name is unset, which allows everything.
	authorizer *authz.Authorizer
	// testPrincipals lets tests name a request's principal in its client
	// id (authorize.go).
	testPrincipals atomic.Bool
}

// New returns a broker for cfg. Nothing is opened until Start.
func New(cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg:       cfg,
		logger:    logger,
		ctx:       ctx,
		cancel:    cancel,
		conns:     make(map[*conn]struct{}),
		applied:   make(chan struct{}),
		halted:    make(chan struct{}),
		dirAssign: make(chan struct{}, 1),

		connQuotas: newConnQuotas(),
		reqPool:    newRequestPool(cfg.QueuedMaxRequestBytes),
		reqQueue:   newRequestQueue(),

		authorizer: newAuthorizer(cfg.AuthorizerClassName, cfg.SuperUsers, cfg.AllowEveryoneIfNoACLFound),
	}
	sec, err := newListenerSecurity(b) // listener_security.go
	if err != nil {
		cancel()
		return nil, err
	}
	b.security = sec
	_, _ = rand.Read(b.incarnationID[:]) // never fails (Go 1.24+)
	b.quotas = newClientQuotas(cfg)
	b.metrics = newBrokerMetrics(b)
	b.fetchSessions = newFetchSessionCache(cfg.MaxIncrementalFetchSessionCacheSlots,
		cfg.MinIncrementalFetchSessionEvictionMs, b.metrics.fetchSessionEvictions.Inc)
	return b, nil
}

// Run starts a broker, serves until ctx is cancelled, then shuts it down
// gracefully.
func Run(ctx context.Context, cfg *config.Broker, logger *slog.Logger) error {
	b, err := New(cfg, logger)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		b.closeAfterFailedStart()
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.halted:
		return fmt.Errorf("broker %d stopped: %w", cfg.NodeID, errAllLogDirsFailed)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b.Shutdown(shutdownCtx)
}

// Start formats the log dirs on first start, recovers the logs, binds the
// listeners, starts the metadata quorum, registers this broker and begins
// serving.
func (b *Broker) Start(ctx context.Context) error {
	cfg := b.cfg
	if len(cfg.LogDirs) == 0 {
		return errors.New("log.dirs is empty")
	}
	clusterID, err := storage.EnsureFormatted(cfg.LogDirs, cfg.NodeID)
	if err != nil {
		return fmt.Errorf("log dirs: %w", err)
	}
	b.clusterID = clusterID

	storageOpts := []storage.Option{storage.WithProducerIDExpiration(int64(cfg.ProducerIDExpirationMs))}
	if b.storageFS != nil {
		storageOpts = append(storageOpts, storage.WithFS(b.storageFS))
	}
	logs, err := storage.NewLogManager(cfg.LogDirs, b.defaultLogConfig(), b.logger.With("component", "storage"), storageOpts...)
	if err != nil {
		return fmt.Errorf("loading logs: %w", err)
	}
	b.logs = logs
	b.replicas = replica.NewManager(cfg.NodeID, logs, b.logger.With("component", "replica"), b.replicaOptions())

	if err := b.bindListeners(); err != nil {
		return err
	}

	ctrlCfg, err := b.controllerConfig()
	if err != nil {
		return err
	}
	ctrl, err := controller.New(ctrlCfg)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	b.ctrl = ctrl
	ctrl.Subscribe(b.applyImage)
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := ctrl.Start(startCtx); err != nil {
		return fmt.Errorf("starting metadata quorum: %w", err)
	}
	// A controller-only node (process.roles=controller) is no broker:
	// it does not register, so Metadata never lists it.
	if cfg.HasRole(config.RoleBroker) {
		if err := b.register(startCtx); err != nil {
			return fmt.Errorf("registering broker %d: %w", cfg.NodeID, err)
		}
	}
	// Like Kafka's BrokerServer, which enables request processing only
	// once the initial metadata has been published, clients are served
	// after the partitions of the current image are in place: a request
	// for a partition whose log is still being opened would otherwise get
	// UNKNOWN_TOPIC_OR_PARTITION right after a restart.
	if err := b.waitAppliedUntil(startCtx, ctrl.Image().Offset); err != nil {
		return fmt.Errorf("applying metadata at start: %w", err)
	}
	if err := b.applyBootstrapScram(startCtx); err != nil { // bootstrap_scram.go
		return err
	}
	if cfg.HasRole(config.RoleBroker) {
		if err := b.awaitUnfenced(startCtx); err != nil {
			return fmt.Errorf("broker %d: %w", cfg.NodeID, err)
		}
		b.goBackground(b.runHeartbeats)
		b.goBackground(b.runLogDirFailureHandler)
		b.goBackground(b.runDirectoryAssignments)
	}
	b.groups = newGroupRuntime(b)
	b.goBackground(b.groups.run)
	b.txn = newTxnRuntime(b)
	b.goBackground(b.txn.run)
	b.startBackground()
	if err := b.startAdmin(); err != nil {
		return fmt.Errorf("admin endpoint %s: %w", cfg.AdminListener, err)
	}
	for i, ln := range b.listeners {
		name := b.clientListeners()[i].Name
		b.goBackground(func() { b.acceptLoop(ln, name) })
	}
	if b.admin != nil {
		b.admin.ready.Store(true)
	}
	b.logger.Info("riffle started", "node.id", cfg.NodeID, "cluster.id", clusterID, "listeners", b.advertisedString())
	return nil
}

// Addr returns the bound address of the first client listener.
func (b *Broker) Addr() string {
	if len(b.listeners) == 0 {
		return ""
	}
	return b.listeners[0].Addr().String()
}

// ClusterID returns the cluster id from meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

// ControllerAddr returns the address the metadata quorum's voters reach
// this node's controller at.
func (b *Broker) ControllerAddr() string { return b.ctrl.Addr() }

// Shutdown moves this broker's leaderships away (controlled shutdown),
// stops accepting connections, lets in-flight requests finish (each
// connection answers what it has read, then closes), stops the metadata
// quorum and closes the logs cleanly, so the next start needs no recovery.
func (b *Broker) Shutdown(ctx context.Context) error {
	// Leadership moves first, while clients are still answered (with
	// NOT_LEADER_OR_FOLLOWER, which sends them to the new leaders).
	b.controlledShutdown(ctx)
	for _, ln := range b.listeners {
		_ = ln.Close()
	}
	// Cancelling the broker's context completes delayed operations at once
	// (a long-poll fetch answers with what it has) and stops the background
	// workers; then every reader is woken: it stops reading, the writer
	// sends the responses already due, and the connection closes.
	b.cancel()
	b.stopAdmin()
	b.connMu.Lock()
	for c := range b.conns {
		_ = c.nc.SetReadDeadline(time.Now())
	}
	b.connMu.Unlock()
	drained := make(chan struct{})
	go func() {
		b.bg.Wait() // connections, accept loops and workers
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		b.logger.Warn("shutdown deadline reached with requests in flight; closing connections")
	}
	b.connMu.Lock()
	for c := range b.conns {
		c.close()
	}
	b.connMu.Unlock()
	b.bg.Wait()
	if b.txn != nil {
		b.txn.close()
	}
	b.closePeers()
	b.closeControllerClients()
	if b.replicas != nil {
		b.replicas.Close() // replica fetchers and the ISR check
	}
	var errs []error
	if b.ctrl != nil {
		if err := b.ctrl.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing controller: %w", err))
		}
	}
	if b.logs != nil {
		// The clean-shutdown markers name this incarnation's epoch, so
		// the next start can show the controller it stopped cleanly.
		b.logs.SetBrokerEpoch(b.brokerEpoch.Load())
		if err := b.logs.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("closing logs: %w", err))
		}
	}
	b.logger.Info("riffle stopped")
	return errors.Join(errs...)
}

func (b *Broker) closeAfterFailedStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.Shutdown(ctx)
}

func (b *Broker) trackConn(c *conn, add bool) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if add {
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
}

// goBackground starts a goroutine tracked for shutdown.
func (b *Broker) goBackground(fn func()) {
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		fn()
	}()
}

func (b *Broker) acceptLoop(ln net.Listener, name string) {
	for {
		// max.connections: at the limit, stop accepting until a
		// connection closes, as Kafka's acceptor does; new clients wait
		// in the listen backlog.
		if !b.connQuotas.waitSlot(b.ctx, b.effectiveConfig()) {
			return
		}
		nc, err := ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			b.logger.Warn("accept failed", "listener", name, "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-b.ctx.Done():
				return
			}
			continue
		}
		ip := remoteIP(nc)
		// max.connections.per.ip (and its overrides): a connection over
		// the limit is closed at once (Kafka: TooManyConnectionsException).
		if !b.connQuotas.admit(b.effectiveConfig(), ip) {
			b.logger.Debug("closing connection: max.connections.per.ip reached", "remote", ip, "listener", name)
			_ = nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		nc = b.security[name].wrap(nc)
		b.goBackground(func() {
			defer b.connQuotas.done(ip)
			b.serveConn(nc, name)
		})
	}
}

// remoteIP is the address a connection comes from, without its port.
func remoteIP(nc net.Conn) string {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// clientListeners are the listeners that serve Kafka clients: all but the
// controller listeners, which carry the metadata quorum.
func (b *Broker) clientListeners() []config.Listener {
	var out []config.Listener
	for _, l := range b.cfg.Listeners {
		if !b.isControllerListener(l.Name) {
			out = append(out, l)
		}
	}
	return out
}

func (b *Broker) isControllerListener(name string) bool {
	for _, n := range b.cfg.ControllerListenerNames {
		if n == name {
			return true
		}
	}
	return false
}

func (b *Broker) bindListeners() error {
	for _, l := range b.clientListeners() {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			return fmt.Errorf("listener %s: %w", l, err)
		}
		b.listeners = append(b.listeners, ln)
	}
	if len(b.listeners) == 0 && b.cfg.HasRole(config.RoleBroker) {
		return errors.New("listeners: no client listener configured")
	}
	// Advertised listeners: the configured ones, with port 0 replaced by
	// the bound port and an empty host by the listener's host (or this
	// machine's name, as Kafka does).
	bound := map[string]config.Listener{}
	for i, l := range b.clientListeners() {
		_, portStr, _ := net.SplitHostPort(b.listeners[i].Addr().String())
		port, _ := strconv.Atoi(portStr)
		l.Port = port
		bound[l.Name] = l
	}
	adv := b.cfg.AdvertisedListeners
	if len(adv) == 0 {
		adv = b.clientListeners()
	}
	for _, a := range adv {
		if b.isControllerListener(a.Name) {
			continue
		}
		bl, ok := bound[a.Name]
		if a.Port == 0 && ok {
			a.Port = bl.Port
		}
		if a.Host == "" {
			a.Host = bl.Host
			if a.Host == "" || a.Host == "0.0.0.0" || a.Host == "::" {
				h, err := os.Hostname()
				if err != nil {
					h = "localhost"
				}
				a.Host = h
			}
		}
		b.advertised = append(b.advertised, a)
	}
	return nil
}

func (b *Broker) advertisedString() string {
	s := ""
	for i, l := range b.advertised {
		if i > 0 {
			s += ","
		}
		s += l.String()
	}
	return s
}

func (b *Broker) controllerConfig() (controller.Config, error) {
	cfg := b.cfg
	var listen string
	for _, l := range cfg.Listeners {
		if b.isControllerListener(l.Name) {
			listen = l.Addr()
			break
		}
	}
	// process.roles=broker: the node follows the metadata log as a raft
	// non-voter, which needs a raft transport of its own. Kafka's brokers
	// fetch the metadata log from the controllers over their client
	// connection; hashicorp/raft pushes it, so a broker-only node binds an
	// ephemeral port on its inter-broker listener's host and tells the
	// controller in its registration (DESIGN-NOTES.md).
	var advertisedHost string
	nonVoter := b.brokerOnly()
	if nonVoter {
		host := ""
		for _, l := range cfg.Listeners {
			if l.Name == cfg.InterBrokerListenerName {
				host = l.Host
			}
		}
		listen = net.JoinHostPort(host, "0")
		for _, l := range b.advertised {
			if l.Name == cfg.InterBrokerListenerName {
				advertisedHost = l.Host
			}
		}
	}
	if listen == "" {
		return controller.Config{}, errors.New("listeners: no controller listener (controller.listener.names) configured")
	}
	serveKafka := b.serveControllerConn
	if nonVoter {
		serveKafka = nil // the raft port of a broker-only node is no CONTROLLER listener
	}
	voters, err := controller.ParseVoters(cfg.ControllerQuorumVoters)
	if err != nil {
		return controller.Config{}, fmt.Errorf("controller.quorum.voters: %w", err)
	}
	metadataDir := b.metadataDir()
	return controller.Config{
		NodeID:                   cfg.NodeID,
		ClusterID:                b.clusterID,
		Dir:                      filepath.Join(metadataDir, "__cluster_metadata-0"),
		ListenAddr:               listen,
		Voters:                   voters,
		DefaultNumPartitions:     cfg.NumPartitions,
		DefaultReplicationFactor: cfg.DefaultReplicationFactor,
		BootstrapFeatures:        bootstrapFeatures,
		ServeKafka:               serveKafka,
		NonVoter:                 nonVoter,
		AdvertisedHost:           advertisedHost,
		UncleanLeaderElection:    cfg.UncleanLeaderElectionEnable,
		MinInsyncReplicas:        int(cfg.MinInsyncReplicas),
		BrokerSessionTimeout:     time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond,
		// Kafka's KRaft controller ignores leader.imbalance.per.broker.percentage:
		// any partition off its preferred leader is moved back.
		LeaderImbalanceCheckInterval: leaderImbalanceCheckInterval(cfg),
		Logger:                       b.logger, // the controller names itself in its logs
	}, nil
}

// securityProtocolIDs are Kafka's SecurityProtocol ids.
var securityProtocolIDs = map[string]int16{"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}

// registrationRequest is this broker's BrokerRegistration: its advertised
// listeners, rack, incarnation id and supported features, as Kafka's
// BrokerLifecycleManager sends it.
func (b *Broker) registrationRequest() *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = b.cfg.NodeID
	req.ClusterID = b.clusterID
	req.IncarnationID = b.incarnationID
	// KIP-966: the epoch this broker's previous incarnation wrote into
	// its clean-shutdown markers; -1 after an unclean stop.
	req.PreviousBrokerEpoch = b.logs.PreviousBrokerEpoch()
	// KIP-858: the ids of the online log dirs (v2+).
	for _, id := range b.logDirIDs(false) {
		req.LogDirs = append(req.LogDirs, id)
	}
	if b.cfg.BrokerRack != "" {
		req.Rack = strPtr(b.cfg.BrokerRack)
	}
	for _, l := range b.advertised {
		proto := b.cfg.ListenerSecurityProtocolMap[l.Name]
		if proto == "" {
			proto = l.Name
		}
		rl := kmsg.NewBrokerRegistrationRequestListener()
		rl.Name, rl.Host, rl.Port = l.Name, l.Host, uint16(l.Port)
		id, ok := securityProtocolIDs[proto]
		if !ok {
			id = -1 // refused by the controller as an unknown protocol
		}
		rl.SecurityProtocol = id
		req.Listeners = append(req.Listeners, rl)
	}
	if b.brokerOnly() {
		controller.SetRaftAddress(req, b.ctrl.Addr())
	}
	for _, name := range sortedKeys(supportedFeatures) {
		f := kmsg.NewBrokerRegistrationRequestFeature()
		f.Name, f.MinSupportedVersion, f.MaxSupportedVersion = name, supportedFeatures[name][0], supportedFeatures[name][1]
		req.Features = append(req.Features, f)
	}
	return req
}

// register registers this broker with the active controller through the
// controller channel, retrying until ctx ends, and keeps its broker epoch.
func (b *Broker) register(ctx context.Context) error {
	var resp *kmsg.BrokerRegistrationResponse
	for {
		kresp, err := b.sendToController(ctx, b.registrationRequest())
		if err != nil {
			return err
		}
		resp = kresp.(*kmsg.BrokerRegistrationResponse)
		// Kafka's BrokerLifecycleManager retries a registration refused
		// while the previous incarnation's session is still valid
		// (DUPLICATE_BROKER_REGISTRATION) until that session expires.
		if resp.ErrorCode != kerr.DuplicateBrokerRegistration.Code {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", kerr.DuplicateBrokerRegistration, ctx.Err())
		case <-time.After(controllerRetryMax):
		}
	}
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	b.brokerEpoch.Store(resp.BrokerEpoch)
	// The epoch is the registration's offset: once it is applied here,
	// this node's own image lists it (Start then waits for the partitions).
	if resp.BrokerEpoch > 0 {
		if err := b.ctrl.WaitApplied(ctx, uint64(resp.BrokerEpoch)); err != nil {
			return err
		}
	}
	b.logger.Info("registered with the controller", "node.id", b.cfg.NodeID, "broker.epoch", resp.BrokerEpoch)
	return nil
}

// kill stops the broker as abruptly as a process can be stopped in
// process (tests standing in for kill -9): listeners and connections are
// closed at once, in-flight requests are not answered, and the metadata
// quorum member stops without handing anything over. Logs are closed so
// that the same directories can be started again.
func (b *Broker) kill() {
	for _, ln := range b.listeners {
		_ = ln.Close()
	}
	// Connections close before the context is cancelled: cancelling
	// answers delayed fetches at once with what they have, and a killed
	// process answers nothing (a follower's parked fetch would otherwise
	// carry away records the leader alone had).
	b.connMu.Lock()
	for c := range b.conns {
		c.close()
	}
	b.connMu.Unlock()
	b.cancel()
	if b.ctrl != nil {
		_ = b.ctrl.Close()
	}
	b.stopAdmin()
	b.bg.Wait()
	if b.txn != nil {
		b.txn.close()
	}
	b.closePeers()
	b.closeControllerClients()
	if b.replicas != nil {
		b.replicas.Close() // a killed process fetches no more
	}
	if b.logs != nil {
		// The logs are closed so that the directories can be reused, but
		// a killed process proves nothing: the markers name no epoch and
		// the restart counts as unclean (KIP-966).
		b.logs.SetBrokerEpoch(-1)
		_ = b.logs.Shutdown()
	}
}

// brokerOnly reports process.roles=broker: no controller here, the
// metadata log is followed without a vote.
func (b *Broker) brokerOnly() bool {
	return b.cfg.HasRole(config.RoleBroker) && !b.cfg.HasRole(config.RoleController)
}

// leaderImbalanceCheckInterval is how often the active controller restores
// preferred leaders: leader.imbalance.check.interval.seconds when
// auto.leader.rebalance.enable is true, else never (0).
func leaderImbalanceCheckInterval(cfg *config.Broker) time.Duration {
	if !cfg.AutoLeaderRebalanceEnable || cfg.LeaderImbalanceCheckIntervalSeconds <= 0 {
		return 0
	}
	return time.Duration(min(cfg.LeaderImbalanceCheckIntervalSeconds, int64(365*24*time.Hour/time.Second))) * time.Second
}

// ListenerAddr returns the bound address of the named client listener, ""
// when there is none.
func (b *Broker) ListenerAddr(name string) string {
	for i, l := range b.clientListeners() {
		if l.Name == name && i < len(b.listeners) {
			return b.listeners[i].Addr().String()
		}
	}
	return ""
}

// metadataDir is metadata.log.dir when set explicitly, else the first log
// dir (read from LogDirs here, not from the resolved MetadataLogDir, so that
// a config whose log dirs were changed after loading stays consistent).
func (b *Broker) metadataDir() string {
	if v := b.cfg.Raw["metadata.log.dir"]; v != "" {
		return v
	}
	return b.cfg.LogDirs[0]
}
