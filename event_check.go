package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event validation: everything Postgres would refuse is refused here, before
// any statement, so that an invalid event never aborts the caller's
// transaction (a failed statement aborts a Postgres transaction) and never
// reaches the database as a raw SQL error.

const (
	// maxEventIDLen bounds Event.ID, which is a key of an index (a btree
	// refuses entries over about 2.7 KB).
	maxEventIDLen = 256

	// Postgres numeric limits, which jsonb numbers share: at most 131072
	// digits before the decimal point and 16383 after it.
	pgNumericMaxWeight = 131071
	pgNumericMaxScale  = 16383
)

var (
	// minEventTS and maxEventTS bound Event.TS: times that both Postgres's
	// timestamptz and JSON's RFC 3339 text (years 0001 to 9999) can hold.
	minEventTS = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxEventTS = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// validateEvent checks one event as sent, and returns its data encoded as
// JSON. Its errors say what is wrong; the caller adds which event.
func validateEvent(ev Event) ([]byte, error) {
	if err := validateEventName(ev.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(ev.Name, reservedPrefix) {
		return nil, fmt.Errorf("names starting with %q are reserved for the library's own events", reservedPrefix)
	}
	if err := validateEventID(ev.ID); err != nil {
		return nil, err
	}
	if !ev.TS.IsZero() && (ev.TS.Before(minEventTS) || ev.TS.After(maxEventTS)) {
		return nil, fmt.Errorf("TS %s is outside the years 1 to 9999", ev.TS.UTC().Format(time.RFC3339))
	}
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("data cannot be encoded as JSON: %v", err)
	}
	if err := checkStorableJSON(data, isRawJSON(ev.Data)); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	return data, nil
}

// validateEventID checks a sender's dedupe ID (empty: none).
func validateEventID(id string) error {
	switch {
	case len(id) > maxEventIDLen:
		return fmt.Errorf("ID is %d bytes, over the limit of %d", len(id), maxEventIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("ID %q is not valid UTF-8", id)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("ID %q contains a NUL character", id)
	}
	return nil
}

// isRawJSON reports whether v encodes itself, so that its escapes are the
// sender's own rather than encoding/json's replacements.
func isRawJSON(v any) bool {
	switch v.(type) {
	case json.RawMessage, *json.RawMessage, json.Marshaler:
		return true
	}
	return false
}

// checkStorableJSON reports what in data, valid JSON from encoding/json,
// Postgres's jsonb would refuse: invalid UTF-8, the escape \u0000, an
// unpaired surrogate escape, a number beyond numeric's range. Unless raw, an
// escaped U+FFFD is encoding/json's replacement of invalid UTF-8 in a Go
// string, which would not read back as sent, and is refused too.
func checkStorableJSON(data []byte, raw bool) error {
	if !utf8.Valid(data) {
		return errors.New("invalid UTF-8")
	}
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			n, err := checkJSONString(data[i:], raw)
			if err != nil {
				return err
			}
			i += n
		case c == '-' || '0' <= c && c <= '9':
			n := 1
			for i+n < len(data) && strings.IndexByte("0123456789.eE+-", data[i+n]) >= 0 {
				n++
			}
			if err := checkJSONNumber(string(data[i : i+n])); err != nil {
				return err
			}
			i += n
		default:
			i++
		}
	}
	return nil
}

var errUnpairedHigh = errors.New(`a string has an unpaired surrogate escape (\ud800 to \udbff)`)

// checkJSONString checks the JSON string at the start of s and returns its
// length in bytes, quotes included.
func checkJSONString(s []byte, raw bool) (int, error) {
	highSurrogate := false // the previous escape was a high surrogate
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			if highSurrogate {
				return 0, errUnpairedHigh
			}
			return i + 1, nil
		}
		if c != '\\' {
			if highSurrogate {
				return 0, errUnpairedHigh
			}
			continue
		}
		i++
		if i >= len(s) || s[i] != 'u' || i+4 >= len(s) {
			if highSurrogate {
				return 0, errUnpairedHigh
			}
			continue
		}
		r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 16)
		if err != nil {
			return 0, fmt.Errorf("a string has a malformed escape %q", s[i-1:i+5])
		}
		i += 4
		switch {
		case r == 0:
			return 0, errors.New(`a key or string contains a NUL character (\u0000), which Postgres's jsonb cannot store`)
		case 0xd800 <= r && r <= 0xdbff:
			if highSurrogate {
				return 0, errUnpairedHigh
			}
			highSurrogate = true
		case 0xdc00 <= r && r <= 0xdfff:
			if !highSurrogate {
				return 0, errors.New(`a string has an unpaired surrogate escape (\udc00 to \udfff)`)
			}
			highSurrogate = false
		case r == utf8.RuneError && !raw:
			return 0, errors.New("a key or string is not valid UTF-8")
		default:
			if highSurrogate {
				return 0, errUnpairedHigh
			}
		}
	}
	return 0, errors.New("a string is not terminated")
}

// checkJSONNumber checks that a JSON number fits Postgres's numeric type.
func checkJSONNumber(num string) error {
	tooBig := fmt.Errorf("the number %s is beyond the range of Postgres's numeric type", shorten(num, 40))
	mant, expText, hasExp := strings.Cut(strings.ToLower(num), "e")
	mant = strings.TrimPrefix(mant, "-")
	intPart, frac, _ := strings.Cut(mant, ".")
	exp := 0
	if hasExp {
		expText = strings.TrimPrefix(expText, "+")
		digits := strings.TrimPrefix(expText, "-")
		if len(digits) > 9 {
			return tooBig
		}
		var err error
		if exp, err = strconv.Atoi(expText); err != nil {
			return tooBig
		}
	}
	if max(len(frac)-exp, 0) > pgNumericMaxScale {
		return tooBig
	}
	// The position of the first significant digit (0: units).
	if k := strings.IndexFunc(intPart, func(r rune) bool { return r != '0' }); k >= 0 {
		if len(intPart)-k-1+exp > pgNumericMaxWeight {
			return tooBig
		}
	} else if j := strings.IndexFunc(frac, func(r rune) bool { return r != '0' }); j >= 0 {
		if -(j+1)+exp > pgNumericMaxWeight {
			return tooBig
		}
	}
	return nil
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
