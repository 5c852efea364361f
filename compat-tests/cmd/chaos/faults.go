package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riffle-io/riffle/compat-tests/chaos/checker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// step is one entry of the fault schedule. at is its nominal start from the
// beginning of the run: a step never starts earlier, and starts late if the
// steps before it took longer (a rolling restart waits for each node).
type step struct {
	at   time.Duration
	name string
	run  func(ctx context.Context) error
}

// plan builds the schedule for the chosen scenarios. It does nothing by
// itself, so -dry-run prints it as it is.
func (c *config) plan(r *runner) []step {
	var s []step
	at := c.warmup
	add := func(d time.Duration, name string, run func(context.Context) error) {
		s = append(s, step{at: at, name: name, run: run})
		at += d
	}
	if c.has("kill") {
		after := ""
		if c.killDown > 0 {
			after = fmt.Sprintf(" %v later", c.killDown)
		}
		for i := 0; time.Duration(i)*c.killEvery < c.killFor; i++ {
			p := int32(i % c.partitions)
			add(c.killEvery, fmt.Sprintf("kill -9 the leader of %s/%d, restart it%s", c.topic, p, after),
				func(ctx context.Context) error { return r.killLeader(ctx, p) })
		}
	}
	if c.has("wipe") {
		add(c.killEvery, fmt.Sprintf("SELF-TEST: kill -9 the leader of %s/0, delete the topic's logs on its volume (a lost disk), restart it: the checker must report lost writes", c.topic),
			func(ctx context.Context) error { return r.wipeLeader(ctx, 0) })
	}
	if c.has("isolate") {
		if len(c.nodes) < 2 {
			add(0, "isolate: skipped, a single node has no peers to be cut from", nil)
		} else {
			add(c.isolateFor+c.settle, fmt.Sprintf("cut the leader of %s/0 off from its peers for %v (clients still reach it), heal", c.topic, c.isolateFor),
				func(ctx context.Context) error { return r.isolateLeader(ctx, 0) })
		}
	}
	if c.has("pause") {
		add(c.pauseFor+c.settle, fmt.Sprintf("pause (SIGSTOP) the leader of %s/1 for %v, resume", c.topic, c.pauseFor),
			func(ctx context.Context) error { return r.pauseLeader(ctx, 1%int32(c.partitions)) })
	}
	if c.has("rolling") {
		for _, n := range c.nodeIDs() {
			add(c.settle, fmt.Sprintf("rolling restart: stop node %d (SIGTERM, controlled shutdown), start it, wait for it", n),
				func(ctx context.Context) error { return r.restart(ctx, n) })
		}
	}
	if c.has("eos") {
		add(c.killEvery, "kill -9 the exactly-once pipeline's group coordinator, restart it",
			func(ctx context.Context) error { return r.killCoordinator(ctx, "group") })
		add(c.killEvery, "kill -9 the exactly-once pipeline's transaction coordinator, restart it",
			func(ctx context.Context) error { return r.killCoordinator(ctx, "txn") })
	}
	s = append(s, step{at: at, name: "end of faults: stop producing, collect outcomes, read everything back"})
	return s
}

// printPlan is -dry-run.
func printPlan(steps []step) {
	for _, s := range steps {
		fmt.Printf("%8s  %s\n", "+"+s.at.String(), s.name)
	}
}

func (c *config) nodeIDs() []int32 {
	var ids []int32
	for id := range c.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// runner executes fault steps against the containers.
type runner struct {
	c       *config
	rec     *recorder
	adm     *kadm.Client
	brokers map[int32]bool // nodes Metadata listed as brokers at the start
}

func newRunner(c *config, rec *recorder) (*runner, func(), error) {
	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return nil, nil, err
	}
	r := &runner{c: c, rec: rec, adm: kadm.NewClient(cl), brokers: map[int32]bool{}}
	bs, err := r.adm.ListBrokers(context.Background())
	if err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("listing brokers: %w", err)
	}
	for _, b := range bs {
		r.brokers[b.NodeID] = true
	}
	return r, cl.Close, nil
}

// containerHosts maps each container's host name to the container.
func containerHosts(nodes map[int32]string) (map[string]string, error) {
	m := map[string]string{}
	for _, name := range nodes {
		h, err := docker(context.Background(), "inspect", "-f", "{{.Config.Hostname}}", name)
		if err != nil {
			return nil, err
		}
		m[h] = name
	}
	return m, nil
}

// dialContainer dials a node by its in-network listener, e.g.
// riffle-1:19092, at the container's current address, which docker
// reports only while it runs (a restart may change it). Going around the
// published ports matters: Docker's port proxy accepts a connection to a
// node that is down and closes it at once, which franz-go treats as a
// fatal misconfiguration (TLS expected) and fails the records, where a
// refused connection is retried as it would be against real hosts.
func (c *config) dialContainer(ctx context.Context, network, addr string) (net.Conn, error) {
	if h, port, err := net.SplitHostPort(addr); err == nil {
		if name, ok := c.hosts[h]; ok {
			ip, err := docker(ctx, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name)
			if err != nil {
				return nil, err
			}
			ips := strings.Fields(ip)
			if len(ips) == 0 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("container %s is not running", name)}
			}
			addr = net.JoinHostPort(ips[0], port)
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, addr)
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// leader returns the current leader of a partition of the run's topic,
// asking until one is known (bounded).
func (r *runner) leader(ctx context.Context, p int32) (int32, error) {
	var last error
	for i := 0; i < 40 && ctx.Err() == nil; i++ {
		md, err := r.adm.Metadata(ctx, r.c.topic)
		if err == nil {
			if pd, ok := md.Topics[r.c.topic].Partitions[p]; ok && pd.Leader >= 0 {
				if _, known := r.c.nodes[pd.Leader]; known {
					return pd.Leader, nil
				}
				err = fmt.Errorf("leader %d is not one of -nodes", pd.Leader)
			} else {
				err = fmt.Errorf("%s/%d has no leader", r.c.topic, p)
			}
		}
		last = err
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return -1, fmt.Errorf("leader of %s/%d: %v", r.c.topic, p, last)
}

func (r *runner) killLeader(ctx context.Context, p int32) error {
	n, err := r.leader(ctx, p)
	if err != nil {
		return err
	}
	return r.kill(ctx, n, p)
}

// kill sends SIGKILL to node n's container and starts it again at once.
func (r *runner) kill(ctx context.Context, n, p int32) error {
	if _, err := docker(ctx, "kill", "-s", "KILL", r.c.nodes[n]); err != nil {
		return err
	}
	// From when docker kill returned, the process is dead: a write sent
	// between calling docker and that moment may still be acknowledged by
	// the dying leader, which is no failover.
	f := checker.Fault{Kind: "kill", Node: n, Topic: r.c.topic, Partition: p, Start: time.Now()}
	sleepCtx(ctx, r.c.killDown)
	_, err := docker(context.Background(), "start", r.c.nodes[n])
	f.End = time.Now()
	r.rec.fault(f)
	if p >= 0 {
		log.Printf("killed node %d (leader of %s/%d), restarted", n, r.c.topic, p)
	} else {
		log.Printf("killed node %d, restarted", n)
	}
	return err
}

// wipeLeader is the harness's self-test: it kills the leader of p and
// deletes every log directory of the run's topic on that node's data volume
// (from the host: the image has no shell) before restarting it, as if its
// disk had been lost. Acknowledged writes are then gone wherever this node
// held the only copy, and the checker has to say so.
func (r *runner) wipeLeader(ctx context.Context, p int32) error {
	n, err := r.leader(ctx, p)
	if err != nil {
		return err
	}
	name := r.c.nodes[n]
	src, err := docker(ctx, "inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/var/lib/riffle"}}{{.Source}}{{end}}{{end}}`, name)
	if err != nil {
		return err
	}
	if src == "" {
		return fmt.Errorf("%s has no volume at /var/lib/riffle", name)
	}
	if _, err := docker(ctx, "kill", "-s", "KILL", name); err != nil {
		return err
	}
	f := checker.Fault{Kind: "wipe", Node: n, Topic: r.c.topic, Partition: p, Start: time.Now()}
	dirs, _ := filepath.Glob(filepath.Join(src, "data", r.c.topic+"-*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	_, err = docker(ctx, "start", name)
	f.End = time.Now()
	r.rec.fault(f)
	log.Printf("killed node %d, deleted %d log directories of %s, restarted", n, len(dirs), r.c.topic)
	if len(dirs) == 0 {
		return fmt.Errorf("no log directory of %s under %s/data", r.c.topic, src)
	}
	return err
}

// isolateLeader drops every packet between the leader of p and its peers,
// from the host side, in the container's network namespace (the image is
// FROM scratch, so it has no iptables of its own). Clients on the host
// still reach it through the published port: an isolated leader that
// acknowledged an acks=all write would be split brain.
func (r *runner) isolateLeader(ctx context.Context, p int32) error {
	n, err := r.leader(ctx, p)
	if err != nil {
		return err
	}
	pid, err := docker(ctx, "inspect", "-f", "{{.State.Pid}}", r.c.nodes[n])
	if err != nil {
		return err
	}
	var peers []string
	for id, name := range r.c.nodes {
		if id == n {
			continue
		}
		ips, err := docker(ctx, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name)
		if err != nil {
			return err
		}
		peers = append(peers, strings.Fields(ips)...)
	}
	rules := func(op string) error {
		for _, ip := range peers {
			for _, rule := range [][]string{{"INPUT", "-s", ip}, {"OUTPUT", "-d", ip}} {
				args := append([]string{"-t", pid, "-n", "iptables", "-w", op}, rule...)
				args = append(args, "-j", "DROP")
				if out, err := exec.CommandContext(context.Background(), "nsenter", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("nsenter %s: %v: %s", strings.Join(args, " "), err, out)
				}
			}
		}
		return nil
	}
	f := checker.Fault{Kind: "isolate", Node: n, Topic: r.c.topic, Partition: p, Start: time.Now()}
	if err := rules("-I"); err != nil {
		_ = rules("-D")
		return err
	}
	log.Printf("isolated node %d (leader of %s/%d) from %v for %v", n, r.c.topic, p, peers, r.c.isolateFor)
	sleepCtx(ctx, r.c.isolateFor)
	err = rules("-D")
	f.End = time.Now()
	r.rec.fault(f)
	log.Printf("healed node %d", n)
	return err
}

// pauseLeader freezes the leader of p (docker pause: the cgroup freezer,
// as SIGSTOP) past the session timeout, then resumes it.
func (r *runner) pauseLeader(ctx context.Context, p int32) error {
	n, err := r.leader(ctx, p)
	if err != nil {
		return err
	}
	f := checker.Fault{Kind: "pause", Node: n, Topic: r.c.topic, Partition: p, Start: time.Now()}
	if _, err := docker(ctx, "pause", r.c.nodes[n]); err != nil {
		return err
	}
	log.Printf("paused node %d (leader of %s/%d) for %v", n, r.c.topic, p, r.c.pauseFor)
	sleepCtx(ctx, r.c.pauseFor)
	_, err = docker(context.Background(), "unpause", r.c.nodes[n])
	f.End = time.Now()
	r.rec.fault(f)
	log.Printf("resumed node %d", n)
	return err
}

// restart stops node n with SIGTERM (docker stop: a controlled shutdown,
// SIGKILL only after stopGrace), starts it, and waits until the cluster
// lists it again and no partition of the run is under-replicated, as an
// operator waits before restarting the next node (restarting it earlier
// would take partitions below min.insync.replicas by the operator's doing).
func (r *runner) restart(ctx context.Context, n int32) error {
	f := checker.Fault{Kind: "restart", Node: n, Partition: -1, Start: time.Now()}
	if _, err := docker(ctx, "stop", "-t", fmt.Sprint(int(r.c.stopGrace.Seconds())), r.c.nodes[n]); err != nil {
		return err
	}
	if _, err := docker(ctx, "start", r.c.nodes[n]); err != nil {
		return err
	}
	var err error
	if r.brokers[n] {
		err = r.waitBroker(ctx, n)
	} else {
		// A controller-only node is not in Metadata: wait for its
		// healthcheck (its controller listener accepts connections).
		err = r.waitHealthy(ctx, n)
	}
	if err == nil {
		err = r.waitFullISR(ctx, 2*time.Minute)
	}
	f.End = time.Now()
	r.rec.fault(f)
	log.Printf("restarted node %d in %v", n, f.End.Sub(f.Start).Round(time.Millisecond))
	return err
}

// waitHealthy waits (bounded) until docker reports node n's container
// healthy.
func (r *runner) waitHealthy(ctx context.Context, n int32) error {
	for i := 0; i < 120 && ctx.Err() == nil; i++ {
		if st, err := docker(ctx, "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", r.c.nodes[n]); err == nil && (st == "healthy" || st == "none") {
			return nil
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("node %d not healthy 60 s after its restart", n)
}

// waitBroker waits (bounded) until Metadata lists node n.
func (r *runner) waitBroker(ctx context.Context, n int32) error {
	for i := 0; i < 120 && ctx.Err() == nil; i++ {
		if bs, err := r.adm.ListBrokers(ctx); err == nil {
			for _, b := range bs {
				if b.NodeID == n {
					return nil
				}
			}
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("node %d not listed in Metadata 60 s after its restart", n)
}

// watchLeaders polls Metadata for the run's topic every interval until ctx
// ends and records every change of a partition's leader or leader epoch.
func (r *runner) watchLeaders(ctx context.Context, interval time.Duration) {
	type state struct{ leader, epoch int32 }
	last := map[int32]state{}
	for ctx.Err() == nil {
		if md, err := r.adm.Metadata(ctx, r.c.topic); err == nil {
			for p, pd := range md.Topics[r.c.topic].Partitions {
				s := state{pd.Leader, pd.LeaderEpoch}
				if pd.Err != nil {
					s = state{-1, pd.LeaderEpoch}
				}
				if old, seen := last[p]; !seen || old != s {
					last[p] = s
					r.rec.mu.Lock()
					r.rec.h.Leaders = append(r.rec.h.Leaders, checker.LeaderChange{Topic: r.c.topic, Partition: p, At: time.Now(), Leader: s.leader, LeaderEpoch: s.epoch})
					r.rec.mu.Unlock()
				}
			}
		}
		sleepCtx(ctx, interval)
	}
}

// replicaLogs reads every replica of the topics' partitions from the nodes'
// data volumes on the host (the run is root, as for nsenter) and hashes
// each replica's .log segments in order. It waits until no partition is
// under-replicated and reads again (bounded) while replicas differ, so
// only a difference that lasts is reported.
func (r *runner) replicaLogs(ctx context.Context, topics []string) ([]checker.ReplicaLog, error) {
	if err := r.waitFullISR(ctx, time.Minute); err != nil {
		log.Printf("comparing replicas anyway: %v", err)
	}
	var logs []checker.ReplicaLog
	for attempt := 0; attempt < 10 && ctx.Err() == nil; attempt++ {
		var err error
		if logs, err = r.readReplicas(ctx, topics); err != nil {
			return nil, err
		}
		rep := checker.Check(&checker.History{Replicas: logs})
		if rep.Counts[checker.ReplicaDivergence] == 0 {
			break
		}
		sleepCtx(ctx, 2*time.Second)
	}
	return logs, nil
}

func (r *runner) readReplicas(ctx context.Context, topics []string) ([]checker.ReplicaLog, error) {
	var out []checker.ReplicaLog
	for id, name := range r.c.nodes {
		src, err := docker(ctx, "inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/var/lib/riffle"}}{{.Source}}{{end}}{{end}}`, name)
		if err != nil || src == "" {
			return nil, fmt.Errorf("the data volume of %s: %v", name, err)
		}
		for _, t := range topics {
			dirs, _ := filepath.Glob(filepath.Join(src, "data", t+"-*"))
			for _, d := range dirs {
				p, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(d), t+"-"), 10, 32)
				if err != nil {
					continue // another topic with this one as a prefix
				}
				segs, _ := filepath.Glob(filepath.Join(d, "*.log"))
				sort.Strings(segs) // zero-padded base offsets
				h := sha256.New()
				var n int64
				for _, s := range segs {
					f, err := os.Open(s)
					if err != nil {
						return nil, err
					}
					m, err := io.Copy(h, f)
					f.Close()
					if err != nil {
						return nil, err
					}
					n += m
				}
				out = append(out, checker.ReplicaLog{Topic: t, Partition: int32(p), Node: id, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
			}
		}
	}
	return out, nil
}

// waitFullISR waits until every partition of the run's topics has all its
// replicas in sync, or the bound passes.
func (r *runner) waitFullISR(ctx context.Context, bound time.Duration) error {
	topics := []string{r.c.topic}
	if r.c.has("eos") {
		topics = append(topics, r.c.eosIn(), r.c.eosOut())
	}
	deadline := time.Now().Add(bound)
	under := -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		md, err := r.adm.Metadata(ctx, topics...)
		if err == nil {
			under = 0
			for _, t := range md.Topics {
				for _, p := range t.Partitions {
					if p.Err != nil || len(p.ISR) < len(p.Replicas) {
						under++
					}
				}
			}
			if under == 0 {
				return nil
			}
		}
		sleepCtx(ctx, time.Second)
	}
	return fmt.Errorf("%d partitions still under-replicated %v after the restart", under, bound)
}

// killCoordinator kills the node hosting the exactly-once pipeline's group
// or transaction coordinator.
func (r *runner) killCoordinator(ctx context.Context, kind string) error {
	var resp kadm.FindCoordinatorResponses
	key := r.c.eosGroup()
	if kind == "group" {
		resp = r.adm.FindGroupCoordinators(ctx, key)
	} else {
		key = r.c.eosTxnID()
		resp = r.adm.FindTxnCoordinators(ctx, key)
	}
	co, ok := resp[key]
	if !ok || co.Err != nil {
		return fmt.Errorf("finding the %s coordinator of %s: %v", kind, key, co.Err)
	}
	if _, known := r.c.nodes[co.NodeID]; !known {
		return fmt.Errorf("%s coordinator %d is not one of -nodes", kind, co.NodeID)
	}
	log.Printf("the %s coordinator of %s is node %d", kind, key, co.NodeID)
	return r.kill(ctx, co.NodeID, -1)
}
