package coordinator

// The shard's timers. Tick fires every timer whose time has come;
// NextDeadline tells the runtime when the earliest one is due, so that it
// can arm one timer for exactly that moment instead of polling (Kafka's
// coordinators schedule each session, join, sync and rebalance timeout on a
// timing wheel with millisecond precision). Both read the same deadlines
// under the same conditions: a deadline NextDeadline reports is one Tick at
// that time consumes or moves.

import "time"

// NextDeadline returns the earliest time at which Tick has work to do, and
// false when no timer is pending.
func (s *Shard) NextDeadline() (time.Time, bool) {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range s.classic {
		g.eachDeadline(earliest)
	}
	for _, g := range s.consumer {
		g.eachDeadline(earliest)
	}
	if s.cfg.RetentionCheck > 0 {
		earliest(s.lastCleanup.Add(s.cfg.RetentionCheck))
	}
	return next, !next.IsZero()
}

// eachDeadline passes every deadline tickClassic acts on.
func (g *classicGroup) eachDeadline(fn func(time.Time)) {
	for _, d := range g.pending {
		fn(dueIfZero(d))
	}
	for _, m := range g.members {
		// As in tickClassic: members parked in a join or sync are kept
		// alive, so their session deadline is not a timer.
		if (m.awaitingJoin() && !m.isNew) || m.awaitingSync() {
			continue
		}
		fn(dueIfZero(m.heartbeatDeadline))
	}
	if g.state == statePreparingRebalance {
		fn(g.joinDeadline)
	}
	if (g.state == stateCompletingRebalance || g.state == stateStable) && g.syncGeneration == g.generation {
		fn(g.syncDeadline)
	}
}

// eachDeadline passes every deadline tickConsumer acts on.
func (g *consumerGroup) eachDeadline(fn func(time.Time)) {
	for _, m := range g.members {
		fn(dueIfZero(m.sessionDeadline))
		if m.state == memberUnrevokedPartitions {
			fn(m.revocationDeadline)
		}
	}
}

// dueIfZero maps an unset deadline that Tick treats as already passed
// (!now.Before(time.Time{})) to a time in the past, so that NextDeadline
// reports it due instead of skipping it; joinDeadline, syncDeadline and
// revocationDeadline are not passed through it because Tick ignores them
// while unset.
func dueIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 1)
	}
	return t
}
