package expr

import "sync"

// cacheLimit bounds the process-wide cache of compiled programs.
const cacheLimit = 10_000

var cache = newProgramCache(cacheLimit)

// Cached is Compile with a process-wide cache keyed by source: each distinct
// source is compiled once (compile errors included) and every caller gets the
// same *Program, or the same error. The cache holds at most 10,000 entries;
// past that an arbitrary entry is evicted for each new one.
func Cached(src string) (*Program, error) { return cache.get(src) }

type cacheEntry struct {
	p   *Program
	err error
}

type programCache struct {
	mu    sync.RWMutex
	m     map[string]cacheEntry
	limit int
}

func newProgramCache(limit int) *programCache {
	return &programCache{m: make(map[string]cacheEntry), limit: limit}
}

func (c *programCache) get(src string) (*Program, error) {
	c.mu.RLock()
	e, ok := c.m[src]
	c.mu.RUnlock()
	if ok {
		return e.p, e.err
	}

	p, err := Compile(src)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[src]; ok { // another caller compiled it meanwhile
		return e.p, e.err
	}
	if len(c.m) >= c.limit {
		for k := range c.m { // map order is unspecified: an arbitrary victim
			delete(c.m, k)
			break
		}
	}
	c.m[src] = cacheEntry{p: p, err: err}
	return p, err
}

func (c *programCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
