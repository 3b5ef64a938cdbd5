package eventapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
)

// gitHubSign is GitHub's X-Hub-Signature-256 of body.
func gitHubSign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// stripeSign is Stripe's Stripe-Signature of body at time at.
func stripeSign(secret, body string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// A Go transform turns the request into events, which start runs; its
// error is a 400 naming it; no event is a 200 with no IDs.
func TestWebhookGoTransform(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{
		Transform: func(r *http.Request, body []byte) ([]flow.Event, error) {
			switch kind := r.URL.Query().Get("kind"); kind {
			case "":
				return nil, errors.New("no kind")
			case "ping":
				return nil, nil
			default:
				return []flow.Event{
					{Name: "api/" + kind, Data: map[string]any{"body": string(body), "agent": r.Header.Get("User-Agent")}},
					{Name: "api/" + kind + ".copy"},
				}, nil
			}
		},
	}))

	a := post(t, base+"/hook?kind=form", `a=1&b=2`, "User-Agent", "sender/1")
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 2)
	require.Equal(t, map[string]any{"body": "a=1&b=2", "agent": "sender/1"}, b.awaitOutput(t, a.IDs[0]))
	require.Nil(t, b.awaitOutput(t, a.IDs[1]), "a Go event's nil Data is JSON null, as with Send")

	ping := post(t, base+"/hook?kind=ping", `{}`)
	require.Equal(t, http.StatusOK, ping.code, ping.Error)
	require.Empty(t, ping.IDs)

	bad := post(t, base+"/hook", `{}`)
	require.Equal(t, http.StatusBadRequest, bad.code)
	require.Equal(t, "Transform: no kind", bad.Error)

	invalid := post(t, base+"/hook?kind=has%20space", `{}`)
	require.Equal(t, http.StatusBadRequest, invalid.code)
	require.Contains(t, invalid.Error, "space")

	get := do(t, http.MethodGet, base+"/hook?kind=x", "", "")
	require.Equal(t, http.StatusMethodNotAllowed, get.code)
	require.Equal(t, 2, b.eventCount(t))
}

// A CEL transform reads the body, headers and query; its result may be one
// event, a list, or null (ignored); a bad result is a 400 and stores
// nothing.
func TestWebhookCELTransform(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{
		Expression: `headers["x-kind"] == "ping" ? null :
			headers["x-kind"] == "list" ? dyn([{"name": "api/one"}, {"name": "api/two", "data": {"q": query.q}}]) :
			headers["x-kind"] == "bad" ? {"name": "api/x", "color": "red"} :
			{"name": "api/" + headers["x-kind"], "id": body.id, "ts": body.at,
			 "data": {"user": body.user.name, "missing": body.user.nope, "raw": size(raw) > 0}}`,
	}))

	a := post(t, base+"/?q=7", `{"id":"delivery-1","at":1700000000000,"user":{"name":"ada"}}`, "X-Kind", "signup")
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Len(t, a.IDs, 1)
	require.Equal(t, map[string]any{"user": "ada", "missing": nil, "raw": true}, b.awaitOutput(t, a.IDs[0]))
	ev, err := b.c.GetEvent(b.ctx, a.IDs[0])
	require.NoError(t, err)
	require.Equal(t, "api/signup", ev.Name)
	require.Equal(t, int64(1700000000000), ev.TS.UnixMilli())
	again := post(t, base+"/", `{"id":"delivery-1","user":{"name":"ada"}}`, "X-Kind", "signup")
	require.Equal(t, a.IDs, again.IDs, "the id field deduplicates a redelivery")

	list := post(t, base+"/?q=7", `not json`, "X-Kind", "list")
	require.Equal(t, http.StatusOK, list.code, list.Error)
	require.Len(t, list.IDs, 2)
	require.Equal(t, map[string]any{"q": "7"}, b.awaitOutput(t, list.IDs[1]))

	ping := post(t, base+"/", `{}`, "X-Kind", "ping")
	require.Equal(t, http.StatusOK, ping.code, ping.Error)
	require.Empty(t, ping.IDs)

	n := b.eventCount(t)
	for _, tc := range []struct {
		name, msg string
		header    []string
	}{
		{"unknown field", `unknown event field "color"`, []string{"X-Kind", "bad"}},
		{"evaluation error (null + string)", "no such overload", nil},
	} {
		r := post(t, base+"/", `{}`, tc.header...)
		require.Equal(t, http.StatusBadRequest, r.code, tc.name)
		require.True(t, strings.HasPrefix(r.Error, "Transform: "), r.Error)
		require.Contains(t, r.Error, tc.msg, tc.name)
	}
	require.Equal(t, n, b.eventCount(t))
}

// A webhook needs exactly one transform, and its expression must compile:
// Validate says so, and NewWebhook panics at start-up.
func TestWebhookValidate(t *testing.T) {
	t.Parallel()
	ok := func(*http.Request, []byte) ([]flow.Event, error) { return nil, nil }
	require.NoError(t, eventapi.Webhook{Transform: ok}.Validate())
	require.NoError(t, eventapi.Webhook{Expression: `{"name": "a"}`}.Validate())
	for _, w := range []eventapi.Webhook{
		{},
		{Transform: ok, Expression: `{"name": "a"}`},
		{Expression: `{"name": `},
		{Expression: `event.name`},
	} {
		err := w.Validate()
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "flow: eventapi.Webhook: "), err.Error())
		require.Panics(t, func() { eventapi.NewWebhook(&flow.Client{}, w) })
	}
}

// GitHub's X-Hub-Signature-256: a good signature passes; a wrong secret, a
// changed body, a malformed or missing header are 401 and store nothing.
func TestWebhookGitHubSignature(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{
		Verify:     eventapi.GitHubSignature("s3cret"),
		Expression: `{"name": "api/github." + headers["x-github-event"], "data": body}`,
	}))
	body := `{"action":"opened"}`

	a := post(t, base+"/", body, "X-GitHub-Event", "issues", "X-Hub-Signature-256", gitHubSign("s3cret", body))
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Equal(t, map[string]any{"action": "opened"}, b.awaitOutput(t, a.IDs[0]))

	for _, tc := range []struct{ name, sig, body, msg string }{
		{"wrong secret", gitHubSign("other", body), body, "does not match"},
		{"changed body", gitHubSign("s3cret", body), `{"action":"closed"}`, "does not match"},
		{"not hex", "sha256=zz", body, "not sha256=<hex>"},
		{"sha1", "sha1=" + strings.Repeat("0", 40), body, "not sha256=<hex>"},
		{"missing", "", body, "no X-Hub-Signature-256 header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"X-GitHub-Event", "issues"}
			if tc.sig != "" {
				hdr = append(hdr, "X-Hub-Signature-256", tc.sig)
			}
			r := post(t, base+"/", tc.body, hdr...)
			require.Equal(t, http.StatusUnauthorized, r.code)
			require.Contains(t, r.Error, "webhook signature invalid")
			require.Contains(t, r.Error, tc.msg)
		})
	}
	require.Equal(t, 1, b.eventCount(t))
}

// Stripe's Stripe-Signature: a good, fresh signature passes (also among
// several v1 candidates, as during a secret roll); a bad one, a stale
// timestamp, a missing part or header are 401 and store nothing.
func TestWebhookStripeSignature(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const secret = "whsec_test"
	base := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{
		Verify:     eventapi.StripeSignature(secret, time.Minute),
		Expression: `{"name": "api/stripe." + body.type, "id": body.id, "data": body.data.object}`,
	}))
	body := `{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","amount":300}}}`
	now := time.Now()

	a := post(t, base+"/", body, "Stripe-Signature", stripeSign(secret, body, now))
	require.Equal(t, http.StatusOK, a.code, a.Error)
	require.Equal(t, map[string]any{"id": "in_1", "amount": 300.0}, b.awaitOutput(t, a.IDs[0]))

	rolled := stripeSign(secret, body, now) + ",v1=" + strings.Repeat("ab", 32)
	rolled = strings.Replace(rolled, ",v1=", ",v1="+strings.Repeat("cd", 32)+",v0=00,v1=", 1)
	r := post(t, base+"/", body, "Stripe-Signature", rolled)
	require.Equal(t, http.StatusOK, r.code, r.Error)
	require.Equal(t, a.IDs, r.IDs, "Stripe's event id deduplicates a redelivery")

	ts := strconv.FormatInt(now.Unix(), 10)
	for _, tc := range []struct{ name, sig, msg string }{
		{"wrong secret", stripeSign("whsec_other", body, now), "no Stripe-Signature v1 signature matches"},
		{"stale", stripeSign(secret, body, now.Add(-2*time.Minute)), "over the tolerance of 1m0s"},
		{"timestamp changed", strings.Replace(stripeSign(secret, body, now), "t="+ts, fmt.Sprintf("t=%d", now.Unix()+1), 1), "no Stripe-Signature v1 signature matches"},
		{"no timestamp", "v1=" + strings.Repeat("00", 32), "no timestamp"},
		{"no v1", "t=" + ts + ",v0=00", "no v1 signature"},
		{"missing", "", "no Stripe-Signature header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.sig != "" {
				hdr = []string{"Stripe-Signature", tc.sig}
			}
			r := post(t, base+"/", body, hdr...)
			require.Equal(t, http.StatusUnauthorized, r.code)
			require.Contains(t, r.Error, "webhook signature invalid")
			require.Contains(t, r.Error, tc.msg)
		})
	}
	require.Equal(t, 1, b.eventCount(t))

	// The default tolerance is Stripe's: five minutes.
	def := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{Verify: eventapi.StripeSignature(secret, 0), Expression: `null`}))
	require.Equal(t, http.StatusOK, post(t, def+"/", body, "Stripe-Signature", stripeSign(secret, body, now.Add(-4*time.Minute))).code)
	require.Equal(t, http.StatusUnauthorized, post(t, def+"/", body, "Stripe-Signature", stripeSign(secret, body, now.Add(-6*time.Minute))).code)
}

// A webhook's body is bounded too.
func TestWebhookBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	base := serve(t, eventapi.NewWebhook(b.c, eventapi.Webhook{MaxBodyBytes: 100, Expression: `{"name": "api/x"}`}))
	r := post(t, base+"/", strings.Repeat("x", 101))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Equal(t, 0, b.eventCount(t))
}
