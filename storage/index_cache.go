package storage

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/riffle-io/riffle/storage/vfs"
)

// Index lookups binary-search the index files (offset_index.go,
// time_index.go). Each probe would be a positioned read; the pages they
// touch are kept in one cache of fixed size shared by every index of the
// broker, as the page cache keeps the touched pages of Kafka's
// memory-mapped indexes. The upper levels of every search hit it, so a
// lookup costs about one read, and the heap it takes does not depend on
// how much data the logs retain.
const (
	indexPageSize       = 4096
	indexPageCacheBytes = 8 << 20
)

// indexIDs numbers index generations: an index takes a new id when it is
// opened and whenever entries are removed (truncation, reset), so pages
// cached before cannot be served again. Appends never change entries below
// the count, and only pages wholly below it are cached.
var indexIDs atomic.Uint64

type pageKey struct {
	id   uint64
	page int64
}

type pageCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	pages map[pageKey]*list.Element
}

type cachedPage struct {
	key  pageKey
	data []byte
}

var indexPages = &pageCache{max: indexPageCacheBytes / indexPageSize, ll: list.New(), pages: map[pageKey]*list.Element{}}

func (c *pageCache) get(k pageKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pages[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cachedPage).data
	}
	return nil
}

func (c *pageCache) put(k pageKey, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pages[k]; ok {
		return
	}
	c.pages[k] = c.ll.PushFront(&cachedPage{key: k, data: data})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.pages, e.Value.(*cachedPage).key)
	}
}

// readIndexEntry reads entry i of an index file with n entries of size
// entrySize into buf, through the page cache when its page is complete.
// The caller holds the index's mu (read or write).
func readIndexEntry(f vfs.File, id uint64, n, i, entrySize int, buf []byte) error {
	perPage := indexPageSize / entrySize
	page := i / perPage
	if (page+1)*perPage > n {
		_, err := f.ReadAt(buf[:entrySize], int64(i)*int64(entrySize))
		return err
	}
	k := pageKey{id: id, page: int64(page)}
	data := indexPages.get(k)
	if data == nil {
		data = make([]byte, perPage*entrySize)
		if _, err := f.ReadAt(data, int64(page)*int64(perPage)*int64(entrySize)); err != nil {
			return err
		}
		indexPages.put(k, data)
	}
	copy(buf[:entrySize], data[(i-page*perPage)*entrySize:])
	return nil
}
