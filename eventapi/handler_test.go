package eventapi_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
)

// One event, posted as curl -d posts it (form content type, JSON body, as
// Inngest reads it), is stored and starts its run; the answer carries its
// ID, as Inngest's does.
func TestHandlerSendsOneEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	key, _, err := b.c.CreateEventKey(b.ctx, "test")
	require.NoError(t, err)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{}))

	a := do(t, http.MethodPost, base+"/e/"+key, "application/x-www-form-urlencoded", `{"name":"api/hello","data":{"n":1,"s":"é"}}`)
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 1)
	require.Empty(t, a.Error)
	require.Equal(t, map[string]any{"n": 1.0, "s": "é"}, b.awaitOutput(t, a.IDs[0]))

	ev, err := b.c.GetEvent(b.ctx, a.IDs[0])
	require.NoError(t, err)
	require.Equal(t, "api/hello", ev.Name)
}

// An array of events is stored in one request and starts a run each; the
// IDs come back in order. ts (milliseconds) and id (dedupe) mean what they
// mean to Inngest; data may be absent.
func TestHandlerSendsArray(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))

	a := post(t, base+"/e/dev", `[
		{"name":"api/a","data":{"i":0}},
		{"name":"api/b","data":{"i":1},"ts":1700000000000,"id":"once","v":"2024-01-01.1","user":{}},
		{"name":"api/c"}
	]`)
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 3)
	require.Equal(t, map[string]any{"i": 0.0}, b.awaitOutput(t, a.IDs[0]))
	require.Equal(t, map[string]any{"i": 1.0}, b.awaitOutput(t, a.IDs[1]))
	require.Equal(t, map[string]any{}, b.awaitOutput(t, a.IDs[2]))

	ev, err := b.c.GetEvent(b.ctx, a.IDs[1])
	require.NoError(t, err)
	require.Equal(t, int64(1700000000000), ev.TS.UnixMilli())

	// The same id again is accepted and ignored: the first event's ID.
	again := post(t, base+"/e/dev", `{"name":"api/b","data":{"i":2},"id":"once"}`)
	require.Equal(t, http.StatusOK, again.code, again.Error)
	require.Equal(t, []string{a.IDs[1]}, again.IDs)
	require.Equal(t, 3, b.eventCount(t))

	empty := post(t, base+"/e/dev", `[]`)
	require.Equal(t, http.StatusOK, empty.code, empty.Error)
	require.Empty(t, empty.IDs)
}

// Every bad request is a 4xx with a JSON error naming the problem, and
// stores nothing: a batch with one bad event stores none of it.
func TestHandlerRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, &flow.Config{MaxEventBytes: 1000})
	key, _, err := b.c.CreateEventKey(b.ctx, "test")
	require.NoError(t, err)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{MaxBodyBytes: 64 << 10}))
	url := base + "/e/" + key

	many := "[" + strings.TrimSuffix(strings.Repeat(`{"name":"api/x"},`, 5001), ",") + "]"
	for _, tc := range []struct {
		name, method, url, body string
		code                    int
		msg                     string
	}{
		{"malformed JSON", "POST", url, `{"name":"api/x",`, 400, "malformed JSON"},
		{"malformed array", "POST", url, `[{"name":"api/x"},`, 400, "malformed JSON"},
		{"trailing data", "POST", url, `{"name":"api/x"} {}`, 400, "malformed JSON"},
		{"not an event", "POST", url, `42`, 400, "Request body must contain an event object or an array of event objects"},
		{"empty body", "POST", url, ``, 400, "Request body must contain an event object"},
		{"array of non-objects", "POST", url, `[1]`, 400, "event 0: an event must be a JSON object"},
		{"no name", "POST", url, `{"data":{}}`, 400, "event name is empty"},
		{"name not a string", "POST", url, `{"name":5}`, 400, "malformed JSON"},
		{"data not an object", "POST", url, `{"name":"api/x","data":[1]}`, 400, "data must be a JSON object"},
		{"ts before 1980", "POST", url, `{"name":"api/x","ts":1000}`, 400, "timestamp is before Jan 1, 1980"},
		{"ts after 2100", "POST", url, `{"name":"api/x","ts":9000000000000}`, 400, "timestamp is after Jan 1, 2100"},
		{"ts not an integer", "POST", url, `{"name":"api/x","ts":1.5}`, 400, "is not an integer"},
		{"reserved name", "POST", url, `{"name":"flow/function.failed"}`, 400, "reserved"},
		{"invalid name", "POST", url, `{"name":"has space"}`, 400, "space"},
		{"one bad event in a batch", "POST", url, `[{"name":"api/ok"},{"name":"api/ok2"},{"name":""}]`, 400, "event 2: event name is empty"},
		{"one invalid event in a batch", "POST", url, `[{"name":"api/ok"},{"name":"api/bad","data":{"s":"\u0000"}}]`, 400, "event 1"},
		{"event over MaxEventBytes", "POST", url, `{"name":"api/x","data":{"s":"` + strings.Repeat("x", 2000) + `"}}`, 400, "over the limit of 1000"},
		{"body over MaxBodyBytes", "POST", url, `[` + strings.Repeat(`{"name":"api/x"},`, 5000) + `{}]`, 413, "Request body is over the limit of 65536 bytes"},
		{"too many events", "POST", url, many, 413, "over the limit"},
		{"wrong method", "GET", url, ``, 405, "Method GET not allowed"},
		{"PUT", "PUT", url, `{"name":"api/x"}`, 405, "not allowed"},
		{"no key", "POST", base + "/e/", `{"name":"api/x"}`, 401, "Event key is required"},
		{"unknown key", "POST", base + "/e/fek_0123456789", `{"name":"api/x"}`, 401, "Event key not found"},
		{"the dev key unset", "POST", base + "/e/dev", `{"name":"api/x"}`, 401, "Event key not found"},
		{"a key's prefix", "POST", base + "/e/" + key[:12], `{"name":"api/x"}`, 401, "Event key not found"},
		{"other path", "POST", base + "/events", `{"name":"api/x"}`, 404, "Not found"},
		{"nested path", "POST", url + "/x", `{"name":"api/x"}`, 404, "Not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.method, tc.url, "application/json", tc.body)
			require.Equal(t, tc.code, a.code, a.Error)
			require.Contains(t, a.Error, tc.msg)
			require.Empty(t, a.IDs)
		})
	}
	require.Equal(t, 0, b.eventCount(t), "a refused request stored an event")

	// 5,001 small events fit a larger body limit and are refused by count.
	big := serve(t, eventapi.NewHandler(b.c, eventapi.Options{MaxBodyBytes: 1 << 20}))
	a := post(t, big+"/e/"+key, many)
	require.Equal(t, 400, a.code)
	require.Equal(t, "Cannot have more than 5000 events in a batch", a.Error)
	require.Equal(t, 0, b.eventCount(t))
}

// The database never holds a key: only its SHA-256 hash and a short
// prefix; the key is shown once, at creation.
func TestEventKeysStoredHashed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	key, info, err := b.c.CreateEventKey(b.ctx, "  billing service ")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(key, "fek_"), key)
	require.Len(t, key, 4+64)
	require.Equal(t, "billing service", info.Name)
	require.Equal(t, key[:12], info.Prefix)
	require.Nil(t, info.RevokedAt)

	var hash []byte
	var row string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT hash, row_to_json(k)::text FROM flow_event_key k`).Scan(&hash, &row))
	want := sha256.Sum256([]byte(key))
	require.Equal(t, want[:], hash)
	require.NotContains(t, row, key)
	require.NotContains(t, row, key[12:], "the key's secret part is stored")

	got, err := b.c.VerifyEventKey(b.ctx, key)
	require.NoError(t, err)
	require.Equal(t, info.ID, got.ID)
	_, err = b.c.VerifyEventKey(b.ctx, key+"0")
	require.ErrorIs(t, err, flow.ErrInvalidEventKey)

	key2, _, err := b.c.CreateEventKey(b.ctx, "other")
	require.NoError(t, err)
	require.NotEqual(t, key, key2)

	for _, name := range []string{"", "   ", strings.Repeat("n", 201), "a\x00b"} {
		_, _, err := b.c.CreateEventKey(b.ctx, name)
		require.Error(t, err, "name %q", name)
		require.True(t, strings.HasPrefix(err.Error(), "flow: "), err.Error())
	}
}

// A revoked key is refused from then on; the list shows when it was
// revoked; an unknown ID is ErrNotFound.
func TestRevokeEventKey(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	key, info, err := b.c.CreateEventKey(b.ctx, "mobile")
	require.NoError(t, err)
	other, _, err := b.c.CreateEventKey(b.ctx, "web")
	require.NoError(t, err)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{}))

	require.Equal(t, http.StatusOK, post(t, base+"/e/"+key, `{"name":"api/x"}`).code)
	require.NoError(t, b.c.RevokeEventKey(b.ctx, info.ID))
	a := post(t, base+"/e/"+key, `{"name":"api/x"}`)
	require.Equal(t, http.StatusUnauthorized, a.code)
	require.Equal(t, "Event key not found", a.Error)
	require.Equal(t, http.StatusOK, post(t, base+"/e/"+other, `{"name":"api/x"}`).code, "revoking one key revoked another")
	require.Equal(t, 2, b.eventCount(t))

	keys, err := b.c.ListEventKeys(b.ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, "mobile", keys[0].Name)
	require.NotNil(t, keys[0].RevokedAt)
	require.Nil(t, keys[1].RevokedAt)

	require.NoError(t, b.c.RevokeEventKey(b.ctx, info.ID), "revoking twice")
	for _, id := range []string{"0193a4f0-0000-7000-8000-000000000000", "not-a-uuid"} {
		err := b.c.RevokeEventKey(b.ctx, id)
		require.ErrorIs(t, err, flow.ErrNotFound)
		require.Contains(t, err.Error(), id)
	}
}

// Browsers may call the API from any origin, as Inngest's: preflights are
// answered and answers carry Access-Control-Allow-Origin.
func TestHandlerCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))

	pre := do(t, http.MethodOptions, base+"/e/dev", "", "",
		"Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	require.Equal(t, http.StatusNoContent, pre.code)
	require.Equal(t, "*", pre.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, pre.header.Get("Access-Control-Allow-Methods"), "POST")
	require.Equal(t, "content-type", pre.header.Get("Access-Control-Allow-Headers"))

	a := post(t, base+"/e/dev", `{"name":"api/x"}`, "Origin", "https://app.example")
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Equal(t, "*", a.header.Get("Access-Control-Allow-Origin"))
}

// Sends from many goroutines at once each get their own IDs, and every
// event is stored once.
func TestHandlerConcurrentSends(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	const n = 16
	ids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			body := fmt.Sprintf(`{"name":"api/c","data":{"i":%d}}`, i)
			resp, err := http.Post(base+"/e/dev", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var a struct{ IDs []string }
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK || len(a.IDs) != 1 {
				errs <- fmt.Errorf("send %d: %d %v %v", i, resp.StatusCode, a.IDs, err)
				return
			}
			ids <- a.IDs[0]
		}()
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-ids:
			seen[id] = true
		case err := <-errs:
			t.Fatal(err)
		}
	}
	require.Len(t, seen, n)
	require.Equal(t, n, b.eventCount(t))
}
