package flowui_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// The dashboard's part of the bad-input table (the root package's
// bad_input_test.go has the API's): each bad request gets a 4xx page that
// says what is wrong, never a 500, and a refused action stores nothing.
func TestUIBadInput(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	token := b.token(t, "send")
	const unknownRun = "00000000-0000-7000-8000-000000000000"

	for _, tc := range []struct {
		name    string
		path    string     // GET, or POST when form is set
		form    url.Values // csrf_token is added
		status  int
		mention string
	}{
		{name: "NUL in runs function filter", path: "runs?function=a%00b", status: 400, mention: "NUL"},
		{name: "invalid UTF-8 in runs function filter", path: "runs?function=%FF%FE", status: 400, mention: "UTF-8"},
		{name: "NUL in events name filter", path: "events?name=ui%2F%00", status: 400, mention: "NUL"},
		{name: "invalid UTF-8 in events name filter", path: "events?name=%C3%28", status: 400, mention: "UTF-8"},
		{name: "NUL in a parameter's name", path: "runs?a%00=1", status: 400, mention: "NUL"},
		{name: "NUL in the live-update fragment", path: "runs?fragment=1&function=%00", status: 400, mention: "NUL"},
		{name: "unknown status", path: "runs?status=bogus", status: 400, mention: "Unknown status"},
		{name: "page size out of range", path: "runs?limit=0", status: 400, mention: "page size"},
		{name: "unknown time range", path: "runs?since=forever", status: 400, mention: "time range"},
		{name: "bad from time", path: "runs?from=yesterday", status: 400, mention: "From:"},
		{name: "event filter not an ID", path: "runs?event=nope", status: 400, mention: "not an event ID"},
		{name: "runs cursor not an ID", path: "runs?before=nope", status: 400, mention: "not a run ID"},
		{name: "events cursor not an ID", path: "events?before=nope", status: 400, mention: "not an event ID"},
		{name: "run ID not a UUID", path: "runs/not-an-id", status: 404, mention: "Not found"},
		{name: "event ID with NUL", path: "events/%00", status: 404, mention: "Not found"},
		{name: "send: name with a space", path: "send", form: url.Values{"name": {"has space"}, "data": {"{}"}}, status: 422, mention: "space"},
		{name: "send: data not JSON", path: "send", form: url.Values{"name": {"ui/ok"}, "data": {"{bad"}}, status: 422, mention: "not valid JSON"},
		{name: `send: \u0000 in data`, path: "send", form: url.Values{"name": {"ui/ok"}, "data": {`{"a":"x\u0000"}`}}, status: 422, mention: "NUL"},
		{name: "send: NUL in name", path: "send", form: url.Values{"name": {"ui/\x00"}, "data": {"{}"}}, status: 422, mention: "invalid event"},
		{name: "send: invalid UTF-8 in name", path: "send", form: url.Values{"name": {"ui/\xff"}, "data": {"{}"}}, status: 422, mention: "UTF-8"},
		{name: "send: NUL in ID", path: "send", form: url.Values{"name": {"ui/ok"}, "id": {"a\x00"}, "data": {"{}"}}, status: 422, mention: "NUL"},
		{name: "send: number beyond numeric", path: "send", form: url.Values{"name": {"ui/ok"}, "data": {`{"n":1e999999}`}}, status: 422, mention: "numeric"},
		{name: "cancel: unknown run", path: "runs/" + unknownRun + "/cancel", form: url.Values{}, status: 404, mention: "Not found"},
		{name: "rerun: bad run ID", path: "runs/nope/rerun", form: url.Values{}, status: 404, mention: "Not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res response
			if tc.form != nil {
				tc.form.Set("csrf_token", token)
				res = b.post(t, tc.path, tc.form)
			} else {
				res = b.get(t, tc.path)
			}
			require.Equal(t, tc.status, res.status, res.body)
			require.Contains(t, res.body, tc.mention)
		})
	}

	events, err := b.c.ListEvents(uiTestCtx(t), flow.EventFilter{})
	require.NoError(t, err)
	require.Empty(t, events, "a refused post stored an event")

	// A valid filter by a status the dashboard offers works.
	res := b.get(t, "runs?status=skipped")
	require.Equal(t, http.StatusOK, res.status, res.body)
}
