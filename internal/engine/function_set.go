package engine

import (
	"cmp"
	"fmt"
	"slices"
)

// AddFunction adds the function of spec to the engine's functions. It fails
// with ErrDuplicateFunction for a known ID, and with ErrInvalidFunction once
// the engine started.
func (c *Engine) AddFunction(spec FunctionSpec) (*Function, error) {
	fn := NewFunction(spec)
	if err := c.addFunction(fn); err != nil {
		return nil, err
	}
	return fn, nil
}

func (c *Engine) addFunction(fn *Function) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("%w %q: create functions before Start", ErrInvalidFunction, fn.id)
	}
	if _, ok := c.functions[fn.id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateFunction, fn.id)
	}
	c.functions[fn.id] = fn
	return nil
}

// RemoveFunction removes the function id from the engine's functions.
func (c *Engine) RemoveFunction(id string) {
	c.mu.Lock()
	delete(c.functions, id)
	c.mu.Unlock()
}

func (c *Engine) function(id string) *Function {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.functions[id]
}

// sortedFunctions returns the engine's functions in ID order.
func (c *Engine) sortedFunctions() []*Function {
	c.mu.Lock()
	fns := make([]*Function, 0, len(c.functions))
	for _, fn := range c.functions {
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	slices.SortFunc(fns, func(a, b *Function) int { return cmp.Compare(a.id, b.id) })
	return fns
}

// Functions returns the engine's functions, in no order.
func (c *Engine) Functions() []*Function {
	c.mu.Lock()
	defer c.mu.Unlock()
	local := make([]*Function, 0, len(c.functions))
	for _, fn := range c.functions {
		local = append(local, fn)
	}
	return local
}
