package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A webhook transform reads the body, headers and query, builds an event
// (or a list of them), and keeps the null semantics of conditions.
func TestWebhookTransform(t *testing.T) {
	t.Parallel()
	in := WebhookInput{
		Body:    map[string]any{"action": "opened", "number": 7.0},
		Headers: map[string]any{"x-github-event": "pull_request"},
		Query:   map[string]any{"src": "gh"},
		Raw:     `{"action":"opened","number":7}`,
	}
	p, err := CompileWebhook(`{"name": "github/" + headers["x-github-event"] + "." + body.action, "data": {"n": body.number, "src": query.src, "missing": body.nope.deeper, "len": size(raw)}}`, 1_000_000)
	require.NoError(t, err)
	v, err := p.Value(in)
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"name": "github/pull_request.opened",
		"data": map[string]any{"n": 7.0, "src": "gh", "missing": nil, "len": int64(len(in.Raw))},
	}, v)

	list, err := CompileWebhook(`[{"name": "a", "data": body}, {"name": "b"}]`, 1_000_000)
	require.NoError(t, err)
	v, err = list.Value(in)
	require.NoError(t, err)
	require.Len(t, v, 2)

	empty, err := CompileWebhook(`body == null && headers.absent == null`, 1_000_000)
	require.NoError(t, err)
	v, err = empty.Value(WebhookInput{})
	require.NoError(t, err)
	require.Equal(t, true, v)

	_, err = CompileWebhook(`event.data`, 1_000_000)
	require.ErrorContains(t, err, "undeclared reference")

	costly, err := CompileWebhook(`[1,2,3,4,5,6,7,8,9,10].map(x, [1,2,3,4,5,6,7,8,9,10].map(y, x*y))`, 50)
	require.NoError(t, err)
	_, err = costly.Value(in)
	require.ErrorIs(t, err, ErrCostLimit)
}
