package server

// Incremental fetch sessions (KIP-227), after Kafka's FetchSession.scala.
//
// A full fetch (SessionEpoch 0) may create a session that caches the
// partitions of the request; the fetcher then sends only what changed
// (partitions added or whose fetch offset moved, ForgottenTopics removed) with
// the next epoch, and the broker answers only the partitions with something
// new (CachedPartition.maybeUpdateResponseData). Every session partition is
// read at the fetch offset the fetcher last sent for it: the broker never
// moves it on its own, since it cannot know what the fetcher kept.
//
// The cache is shared by every connection and bounded by
// max.incremental.fetch.session.cache.slots (0 disables sessions); when it is
// full, a new session may evict one unused for
// riffle.fetch.session.eviction.ms, or one less valuable
// (FetchSessionCache.tryEvict). Kafka shards the cache (KAFKA-9401) to spread
// lock contention over many request threads; one mutex is enough here, and
// eviction scans the sessions instead of keeping Kafka's sorted trees, as it
// only runs when a full cache is asked for a new session.

import (
	"container/list"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FetchMetadata's constants.
const (
	fetchInvalidSessionID = 0  // INVALID_SESSION_ID: no session
	fetchInitialEpoch     = 0  // INITIAL_EPOCH: full fetch, create a session
	fetchFinalEpoch       = -1 // FINAL_EPOCH: full fetch, no session
)

// nextFetchEpoch is FetchMetadata.nextEpoch: epochs run 1..MaxInt32 and wrap
// to 1; the epoch after FINAL_EPOCH is FINAL_EPOCH.
func nextFetchEpoch(prev int32) int32 {
	switch {
	case prev < 0:
		return fetchFinalEpoch
	case prev == math.MaxInt32:
		return 1
	default:
		return prev + 1
	}
}

// fetchSessionKey identifies a partition within a session: by topic ID in the
// sessions of Fetch v13+, by name before (CachedPartition.equals), so that a
// partition whose ID is not yet known is the same partition once it is.
type fetchSessionKey struct {
	topicID   [16]byte
	topic     string
	partition int32
}

// fetchPartitionParams is one partition's part of a fetch request
// (FetchRequest.PartitionData), with its topic's name and ID.
type fetchPartitionParams struct {
	topic              string // "" while a topic ID is unknown (Kafka: null)
	topicID            [16]byte
	partition          int32
	fetchOffset        int64
	currentLeaderEpoch int32
	logStartOffset     int64 // the fetcher's (followers)
	lastFetchedEpoch   int32 // the follower's (v12+), -1: none
	maxBytes           int32
}

func (p *fetchPartitionParams) key(usesTopicIDs bool) fetchSessionKey {
	if usesTopicIDs {
		return fetchSessionKey{topicID: p.topicID, partition: p.partition}
	}
	return fetchSessionKey{topic: p.topic, partition: p.partition}
}

// cachedPartition is Kafka's CachedPartition: the request parameters last
// sent for a partition and what the fetcher was last told about it.
type cachedPartition struct {
	fetchPartitionParams
	highWatermark       int64
	lastStableOffset    int64
	localLogStartOffset int64
}

// updateRequestParams takes a request's new parameters; the topic name stays
// the one resolved when the partition entered the session.
func (cp *cachedPartition) updateRequestParams(p fetchPartitionParams) {
	cp.fetchOffset = p.fetchOffset
	cp.currentLeaderEpoch = p.currentLeaderEpoch
	cp.logStartOffset = p.logStartOffset
	cp.lastFetchedEpoch = p.lastFetchedEpoch
	cp.maxBytes = p.maxBytes
}

// maybeUpdateResponseData reports whether an incremental response must carry
// the partition (CachedPartition.maybeUpdateResponseData), and remembers what
// the fetcher is told. Riffle computes no preferred read replica and no
// diverging epoch, Kafka's other two reasons. Kafka does not compare the last
// stable offset; it is compared here too so that a read_committed fetcher
// always learns it, whatever moved it.
func (cp *cachedPartition) maybeUpdateResponseData(sp *kmsg.FetchResponseTopicPartition) bool {
	mustRespond := len(sp.RecordBatches) > 0
	if cp.highWatermark != sp.HighWatermark {
		mustRespond = true
		cp.highWatermark = sp.HighWatermark
	}
	if cp.lastStableOffset != sp.LastStableOffset {
		mustRespond = true
		cp.lastStableOffset = sp.LastStableOffset
	}
	if cp.localLogStartOffset != sp.LogStartOffset {
		mustRespond = true
		cp.localLogStartOffset = sp.LogStartOffset
	}
	if sp.ErrorCode != 0 {
		// Forget the high watermark so that the partition is sent
		// again once the error is gone.
		cp.highWatermark = -1
		mustRespond = true
	}
	return mustRespond
}

// fetchSession is Kafka's FetchSession. Its fields are guarded by the cache's
// mutex.
type fetchSession struct {
	id           int32
	privileged   bool // created by a follower
	usesTopicIDs bool // created by Fetch v13+
	creationMs   int64
	lastUsedMs   int64
	epoch        int32 // the epoch the next incremental request must carry

	// partitions are in fetch order: a partition that returned records
	// moves to the back, so that each gets its turn at the response's
	// byte budget (KIP-227's fairness).
	partitions map[fetchSessionKey]*list.Element // of *cachedPartition
	order      list.List

	// As of the last touch: the size counted in the cache's total, and
	// whether the session may be evicted for a new one (Kafka's
	// evictableByAll and evictableByPrivileged trees).
	cachedSize            int
	evictableByAll        bool
	evictableByPrivileged bool
}

func (s *fetchSession) add(p fetchPartitionParams, hw, lso, logStart int64) {
	k := p.key(s.usesTopicIDs)
	if _, ok := s.partitions[k]; ok {
		return
	}
	cp := &cachedPartition{fetchPartitionParams: p, highWatermark: hw, lastStableOffset: lso, localLogStartOffset: logStart}
	s.partitions[k] = s.order.PushBack(cp)
}

// update applies an incremental request to the session (FetchSession.update):
// its partitions are added or take the new parameters; toForget are removed.
func (s *fetchSession) update(fetchData []fetchPartitionParams, toForget []fetchSessionKey) {
	for _, p := range fetchData {
		if e, ok := s.partitions[p.key(s.usesTopicIDs)]; ok {
			e.Value.(*cachedPartition).updateRequestParams(p)
		} else {
			s.add(p, -1, -1, -1)
		}
	}
	for _, k := range toForget {
		if e, ok := s.partitions[k]; ok {
			s.order.Remove(e)
			delete(s.partitions, k)
		}
	}
}

// fetchContext is how one Fetch request relates to the cache (Kafka's
// FetchContext subclasses).
type fetchContext struct {
	kind fetchContextKind
	err  *kerr.Error // sessionError: the response's top-level error

	privileged   bool // full
	usesTopicIDs bool // full

	session       *fetchSession          // incremental
	expectedEpoch int32                  // incremental: session's epoch after this request
	partitions    []fetchPartitionParams // incremental: every session partition, in order
}

type fetchContextKind int8

const (
	fetchSessionless  fetchContextKind = iota // SessionlessFetchContext
	fetchSessionError                         // SessionErrorContext
	fetchFull                                 // FullFetchContext
	fetchIncremental                          // IncrementalFetchContext
)

// fetchSessionCache is Kafka's FetchSessionCache and FetchManager.
type fetchSessionCache struct {
	maxEntries int
	evictionMs int64
	onEvict    func() // metrics

	mu            sync.Mutex
	sessions      map[int32]*fetchSession
	numPartitions int
}

func newFetchSessionCache(maxEntries, evictionMs int32, onEvict func()) *fetchSessionCache {
	return &fetchSessionCache{
		maxEntries: int(maxEntries),
		evictionMs: int64(evictionMs),
		onEvict:    onEvict,
		sessions:   make(map[int32]*fetchSession),
	}
}

// size and totalPartitions are the cache's gauges.
func (c *fetchSessionCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

func (c *fetchSessionCache) totalPartitions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.numPartitions
}

// newContext is FetchManager.newContext. A full request closes the session it
// names; an incremental one is checked against its session, which it updates
// and moves to its next epoch. resolve names the topic of a session partition
// whose ID was unknown (CachedPartition.maybeResolveUnknownName).
func (c *fetchSessionCache) newContext(version int16, sessionID, epoch int32, privileged bool,
	fetchData []fetchPartitionParams, toForget []fetchSessionKey, resolve func([16]byte) (string, bool), nowMs int64,
) fetchContext {
	if version < 7 { // sessions start at Fetch v7
		return fetchContext{kind: fetchSessionless}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == fetchInitialEpoch || epoch == fetchFinalEpoch {
		if s, ok := c.sessions[sessionID]; ok {
			c.remove(s)
		}
		if epoch == fetchFinalEpoch {
			return fetchContext{kind: fetchSessionless}
		}
		return fetchContext{kind: fetchFull, privileged: privileged, usesTopicIDs: version >= 13}
	}
	s, ok := c.sessions[sessionID]
	switch {
	case !ok:
		return fetchContext{kind: fetchSessionError, err: kerr.FetchSessionIDNotFound}
	case s.epoch != epoch:
		return fetchContext{kind: fetchSessionError, err: kerr.InvalidFetchSessionEpoch}
	case s.usesTopicIDs != (version >= 13):
		// A session keyed by topic IDs cannot go on with names, nor
		// the reverse.
		return fetchContext{kind: fetchSessionError, err: kerr.FetchSessionTopicIDError}
	}
	s.update(fetchData, toForget)
	if s.order.Len() == 0 {
		// Nothing left to fetch: the session closes and the request is
		// answered as a sessionless one.
		c.remove(s)
		return fetchContext{kind: fetchSessionless}
	}
	c.touch(s, nowMs)
	s.epoch = nextFetchEpoch(s.epoch)
	parts := make([]fetchPartitionParams, 0, s.order.Len())
	for e := s.order.Front(); e != nil; e = e.Next() {
		cp := e.Value.(*cachedPartition)
		if s.usesTopicIDs && cp.topic == "" {
			if name, ok := resolve(cp.topicID); ok {
				cp.topic = name
			}
		}
		parts = append(parts, cp.fetchPartitionParams)
	}
	return fetchContext{kind: fetchIncremental, session: s, expectedEpoch: s.epoch, partitions: parts}
}

// maybeCreateSession creates a session for a full fetch whose partitions were
// read into results, if there is room or something to evict; it returns the
// new session's ID, or INVALID_SESSION_ID.
func (c *fetchSessionCache) maybeCreateSession(fctx *fetchContext, parts []fetchPartitionParams,
	results []kmsg.FetchResponseTopicPartition, nowMs int64,
) int32 {
	if len(parts) == 0 || c.maxEntries <= 0 {
		return fetchInvalidSessionID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= c.maxEntries && !c.tryEvict(fctx.privileged, len(parts), nowMs) {
		return fetchInvalidSessionID
	}
	s := &fetchSession{
		id:           c.newSessionID(),
		privileged:   fctx.privileged,
		usesTopicIDs: fctx.usesTopicIDs,
		creationMs:   nowMs,
		epoch:        nextFetchEpoch(fetchInitialEpoch),
		partitions:   make(map[fetchSessionKey]*list.Element, len(parts)),
	}
	for i, p := range parts {
		r := &results[i]
		hw := r.HighWatermark
		if r.ErrorCode != 0 {
			hw = -1
		}
		s.add(p, hw, r.LastStableOffset, r.LogStartOffset)
	}
	c.sessions[s.id] = s
	c.touch(s, nowMs)
	return s.id
}

// completeIncremental decides which partitions an incremental response
// carries (IncrementalFetchContext.updateAndGenerateResponseData). A request
// that raced another of the same session (a duplicate) gets
// INVALID_FETCH_SESSION_EPOCH and nothing.
func (c *fetchSessionCache) completeIncremental(fctx *fetchContext, results []kmsg.FetchResponseTopicPartition) ([]bool, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fctx.session
	if s.epoch != fctx.expectedEpoch {
		return nil, kerr.InvalidFetchSessionEpoch
	}
	include := make([]bool, len(results))
	for i, p := range fctx.partitions {
		e, ok := s.partitions[p.key(s.usesTopicIDs)]
		if !ok { // cannot happen while the epoch is unchanged
			include[i] = true
			continue
		}
		include[i] = e.Value.(*cachedPartition).maybeUpdateResponseData(&results[i])
		if len(results[i].RecordBatches) > 0 {
			s.order.MoveToBack(e)
		}
	}
	return include, nil
}

// newSessionID returns a random positive ID unused on this broker.
func (c *fetchSessionCache) newSessionID() int32 {
	for {
		id := rand.Int32N(math.MaxInt32) + 1
		if _, taken := c.sessions[id]; !taken {
			return id
		}
	}
}

// tryEvict makes room for a new session of size partitions
// (FetchSessionCache.tryEvict). It evicts the least recently used session if
// it is stale (unused for evictionMs); otherwise the least valuable evictable
// session if the new one is worth more: privileged (follower) sessions over
// client ones, then more partitions; a session younger than evictionMs is only
// evictable by a privileged one, and only if it is not privileged itself.
func (c *fetchSessionCache) tryEvict(privileged bool, size int, nowMs int64) bool {
	var lru, victim *fetchSession
	for _, s := range c.sessions {
		if lru == nil || s.lastUsedMs < lru.lastUsedMs || (s.lastUsedMs == lru.lastUsedMs && s.id < lru.id) {
			lru = s
		}
		evictable := s.evictableByAll
		if privileged {
			evictable = s.evictableByPrivileged
		}
		if evictable && (victim == nil || evictableLess(s.privileged, s.cachedSize, s.id, victim)) {
			victim = s
		}
	}
	if lru == nil {
		return false
	}
	if nowMs-lru.lastUsedMs > c.evictionMs {
		c.evict(lru)
		return true
	}
	// The new session's key carries ID 0, below every real one: it must
	// be strictly more valuable to evict.
	if victim == nil || evictableLess(privileged, size, 0, victim) {
		return false
	}
	c.evict(victim)
	return true
}

// evictableLess orders sessions as Kafka's EvictableKey: by privileged (false
// first), size, then ID.
func evictableLess(privileged bool, size int, id int32, s *fetchSession) bool {
	if privileged != s.privileged {
		return !privileged
	}
	if size != s.cachedSize {
		return size < s.cachedSize
	}
	return id < s.id
}

func (c *fetchSessionCache) evict(s *fetchSession) {
	c.remove(s)
	if c.onEvict != nil {
		c.onEvict()
	}
}

func (c *fetchSessionCache) remove(s *fetchSession) {
	if c.sessions[s.id] != s {
		return
	}
	delete(c.sessions, s.id)
	c.numPartitions -= s.cachedSize
}

// touch records a use of the session (FetchSessionCache.touch): its last use,
// its size, and whether it may now be evicted for a new session.
func (c *fetchSessionCache) touch(s *fetchSession, nowMs int64) {
	s.lastUsedMs = nowMs
	c.numPartitions += s.order.Len() - s.cachedSize
	s.cachedSize = s.order.Len()
	old := nowMs-s.creationMs > c.evictionMs
	s.evictableByAll = old
	s.evictableByPrivileged = !s.privileged || old
}
