package expr

import "sync"

// cacheLimit bounds the process-wide cache of compiled programs.
const cacheLimit = 10_000

var cache = newProgramCache(cacheLimit)

// Cached is Compile with a process-wide cache keyed by source and limit: each
// distinct pair is compiled once (compile errors included) and every caller
// gets the same *Program, or the same error. The cache holds at most 10,000
// entries; past that an arbitrary entry is evicted for each new one.
func Cached(src string, limit uint64) (*Program, error) { return cache.get(src, limit) }

type cacheKey struct {
	src   string
	limit uint64
}

type cacheEntry struct {
	p   *Program
	err error
}

type programCache struct {
	mu    sync.RWMutex
	m     map[cacheKey]cacheEntry
	limit int
}

func newProgramCache(limit int) *programCache {
	return &programCache{m: make(map[cacheKey]cacheEntry), limit: limit}
}

func (c *programCache) get(src string, limit uint64) (*Program, error) {
	key := cacheKey{src: src, limit: limit}
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return e.p, e.err
	}

	p, err := Compile(src, limit)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok { // another caller compiled it meanwhile
		return e.p, e.err
	}
	if len(c.m) >= c.limit {
		for k := range c.m { // map order is unspecified: an arbitrary victim
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cacheEntry{p: p, err: err}
	return p, err
}

func (c *programCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
