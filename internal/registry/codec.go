package registry

import (
	"encoding/json"
	"fmt"
)

// Encode returns the stored config of a function with flow control c (nil:
// none).
func Encode(c *Control) []byte { return EncodeConfig(Config{Control: c}) }

// EncodeConfig returns the stored form of c.
func EncodeConfig(c Config) []byte {
	b, err := json.Marshal(c)
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
	c, err := DecodeConfig(raw)
	return c.Control, err
}

// DecodeConfig returns the whole stored config: the flow control and the
// options (nil in rows written before options were stored).
func DecodeConfig(raw []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("decode function config: %w", err)
	}
	return c, nil
}
