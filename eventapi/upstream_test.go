package eventapi_test

// Cases ported from Inngest's parser of event API bodies
// (inngest/inngest pkg/eventstream/eventstream_test.go), sent through the
// handler to Postgres.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/eventapi"
)

// TestParseStream_JSON "single": an event just under the size limit is
// stored as sent.
func TestUpstreamSingleLargeEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil) // Config.MaxEventBytes: 512 KiB, as Inngest's default
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	raw := make([]byte, 200<<10)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	data := map[string]any{"order": 1.0, "string": hex.EncodeToString(raw)}
	body, err := json.Marshal(map[string]any{"name": "1", "data": data})
	require.NoError(t, err)

	a := post(t, base+"/e/dev", string(body))
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 1)
	ev, err := b.c.GetEvent(b.ctx, a.IDs[0])
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(ev.Data, &got))
	require.Equal(t, data, got)
}

// TestParseStream_JSON "multiple": an array keeps its order.
func TestUpstreamMultipleEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	a := post(t, base+"/e/dev", `[{"name":"1","data":{"order":1}},{"name":"2","data":{"order":2}},{"name":"3","data":{"order":3}}]`)
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 3)
	for i, id := range a.IDs {
		ev, err := b.c.GetEvent(b.ctx, id)
		require.NoError(t, err)
		require.Equal(t, string(rune('1'+i)), ev.Name)
		require.JSONEq(t, `{"order":`+string(rune('1'+i))+`}`, string(ev.Data))
	}
}

// TestParseStream_JSON "max size": an event over the size limit is refused
// (Inngest: "Event is over the max size"; here the client's
// Config.MaxEventBytes names the limit).
func TestUpstreamEventOverMaxSize(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	raw := make([]byte, 512<<10)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	body, err := json.Marshal([]map[string]any{{"name": "large", "data": map[string]any{"order": 1, "large": hex.EncodeToString(raw)}}})
	require.NoError(t, err)

	a := post(t, base+"/e/dev", string(body))
	require.Equal(t, http.StatusBadRequest, a.code)
	require.Contains(t, a.Error, "event too large")
	require.Contains(t, a.Error, "over the limit of 524288")
	require.Equal(t, 0, b.eventCount(t))
}

// TestParseStream_FormUrlencoded "JSON": curl -d sends a JSON body as
// application/x-www-form-urlencoded; it is read as JSON.
func TestUpstreamCurlFormContentType(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	a := do(t, http.MethodPost, base+"/e/dev", "application/x-www-form-urlencoded", `{"name": "my-event", "data": {"name": "Alice"}}`)
	require.Equal(t, http.StatusOK, a.code, a.Error)
	ev, err := b.c.GetEvent(b.ctx, a.IDs[0])
	require.NoError(t, err)
	require.Equal(t, "my-event", ev.Name)
	require.JSONEq(t, `{"name":"Alice"}`, string(ev.Data))
}

// TestParseStream_Multipart: Inngest turns multipart form fields into an
// event's JSON; here only JSON bodies are read, so a form is refused (use a
// webhook's Transform to accept forms) and nothing is stored.
func TestUpstreamMultipartRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewHandler(b.c, eventapi.Options{DevKey: "dev"}))
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("name", "Alice"))
	require.NoError(t, w.Close())
	a := do(t, http.MethodPost, base+"/e/dev", w.FormDataContentType(), body.String())
	require.Equal(t, http.StatusBadRequest, a.code)
	require.Contains(t, a.Error, "Request body must contain an event object or an array of event objects")
	require.Equal(t, 0, b.eventCount(t))
}
