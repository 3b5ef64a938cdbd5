package registry

import "time"

// Config is what flow_function.config holds for a function. A function
// without flow control, registered before Options were stored, holds {}.
type Config struct {
	Control *Control `json:"control,omitempty"`
	// Options are the options only the processes defining the function
	// apply, stored so that any process can show them. Nil in rows written
	// before they were stored.
	Options *Options `json:"options,omitempty"`
}

// Options are a function's options that only the processes defining it
// apply (its cron triggers, CancelOn and Timeouts), stored so that the
// dashboard and the command line of any process can show them. Every
// function registered since they were stored has them, even when empty
// ({"options":{}}), so that a reader can tell "none" from "not stored".
type Options struct {
	Crons    []string   `json:"crons,omitempty"`
	CancelOn []CancelOn `json:"cancel_on,omitempty"`
	Timeouts *Timeouts  `json:"timeouts,omitempty"`
}

// CancelOn is flow.CancelOn as stored (Timeout in nanoseconds).
type CancelOn struct {
	Event   string        `json:"Event"`
	Match   string        `json:"Match"`
	If      string        `json:"If"`
	Timeout time.Duration `json:"Timeout"`
}

// Timeouts is flow.Timeouts as stored (in nanoseconds); nil when neither
// is set.
type Timeouts struct {
	Start  time.Duration `json:"Start"`
	Finish time.Duration `json:"Finish"`
}

// Control is a function's flow control as stored: the options of
// flow.FunctionOpts that any process starting a run of the function must
// apply. A nil *Control is a function without flow control.
type Control struct {
	Concurrency []Concurrency `json:"concurrency,omitempty"`
	Throttle    *Throttle     `json:"throttle,omitempty"`
	RateLimit   *RateLimit    `json:"rate_limit,omitempty"`
	Debounce    *Debounce     `json:"debounce,omitempty"`
	Batch       *Batch        `json:"batch,omitempty"`
	Priority    *Priority     `json:"priority,omitempty"`
	Idempotency string        `json:"idempotency,omitempty"`
	Singleton   *Singleton    `json:"singleton,omitempty"`
}

// Concurrency is flow.Concurrency as stored: Mode is "run" for a whole-run
// limit, and empty for the default step-level one (rows written before
// modes existed have none).
type Concurrency struct {
	Limit int    `json:"Limit"`
	Key   string `json:"Key"`
	Mode  string `json:"Mode,omitempty"`
}

// Throttle is flow.Throttle as stored (Period in nanoseconds).
type Throttle struct {
	Limit  int           `json:"Limit"`
	Period time.Duration `json:"Period"`
	Burst  int           `json:"Burst"`
	Key    string        `json:"Key"`
}

// RateLimit is flow.RateLimit as stored (Period in nanoseconds).
type RateLimit struct {
	Limit  int           `json:"Limit"`
	Period time.Duration `json:"Period"`
	Key    string        `json:"Key"`
}

// Debounce is flow.Debounce as stored (Period and Timeout in nanoseconds).
type Debounce struct {
	Period  time.Duration `json:"Period"`
	Key     string        `json:"Key"`
	Timeout time.Duration `json:"Timeout"`
}

// Batch is flow.Batch as stored (Timeout in nanoseconds).
type Batch struct {
	MaxSize int           `json:"MaxSize"`
	Timeout time.Duration `json:"Timeout"`
	Key     string        `json:"Key"`
}

// Priority is flow.Priority as stored.
type Priority struct {
	Run string `json:"Run"`
}

// Singleton is flow.Singleton as stored: Mode is the text of a
// flow.SingletonMode ("skip", "cancel" or "queue").
type Singleton struct {
	Key  string `json:"Key"`
	Mode string `json:"Mode"`
}
