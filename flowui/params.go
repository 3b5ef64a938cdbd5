package flowui

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// badParams returns why the query string cannot be used, or "": a NUL
// character or invalid UTF-8 in a parameter's name or value (as a filter,
// Postgres would refuse it; the request is the caller's mistake, so 400).
func badParams(rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery) // malformed pairs are dropped, as r.URL.Query does
	for k, vs := range q {
		for _, s := range append([]string{k}, vs...) {
			switch {
			case !utf8.ValidString(s):
				return "The parameter " + quote(k) + " is not valid UTF-8."
			case strings.IndexByte(s, 0) >= 0:
				return "The parameter " + quote(k) + " contains a NUL character."
			}
		}
	}
	return ""
}
