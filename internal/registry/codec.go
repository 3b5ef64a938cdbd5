package registry

import (
	"encoding/json"
	"fmt"
)

// Encode returns the stored config of a function with flow control c (nil:
// none).
func Encode(c *Control) []byte {
	b, err := json.Marshal(Config{Control: c})
	if err != nil {
		// The stored types hold only strings, integers and durations.
		panic(fmt.Sprintf("flow: encode function config: %v", err))
	}
	return b
}

// Decode returns the flow control of a stored config (nil: none). It reads
// every config Encode has written, in any key order or spacing (Postgres
// returns jsonb normalized).
func Decode(raw []byte) (*Control, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode function config: %w", err)
	}
	return c.Control, nil
}
