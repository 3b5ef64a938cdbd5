package eventapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSignature is wrapped by the errors of GitHubSignature's and
// StripeSignature's verifiers: the request's signature header is missing,
// malformed, does not match the body, or (Stripe) is too old.
var ErrInvalidSignature = errors.New("flow: webhook signature invalid")

// A Verifier checks that a webhook request comes from its sender, usually by
// a signature over the body in a header. body is the request's body, already
// read. An error refuses the request with 401 and its message.
type Verifier func(r *http.Request, body []byte) error

// GitHubSignature verifies GitHub's webhook signature: the header
// X-Hub-Signature-256 holds "sha256=" and the hex HMAC-SHA256 of the body
// with the webhook's secret. The comparison takes constant time.
func GitHubSignature(secret string) Verifier {
	key := []byte(secret)
	return func(r *http.Request, body []byte) error {
		header := r.Header.Get("X-Hub-Signature-256")
		if header == "" {
			return fmt.Errorf("%w: no X-Hub-Signature-256 header", ErrInvalidSignature)
		}
		hexSig, ok := strings.CutPrefix(header, "sha256=")
		got, err := hex.DecodeString(hexSig)
		if !ok || err != nil {
			return fmt.Errorf("%w: X-Hub-Signature-256 is not sha256=<hex>", ErrInvalidSignature)
		}
		if !hmac.Equal(got, hmacSHA256(key, body)) {
			return fmt.Errorf("%w: X-Hub-Signature-256 does not match the body", ErrInvalidSignature)
		}
		return nil
	}
}

// DefaultStripeTolerance is how old a Stripe signature may be, as Stripe's
// own libraries allow.
const DefaultStripeTolerance = 5 * time.Minute

// StripeSignature verifies Stripe's webhook signature: the header
// Stripe-Signature holds "t=<unix seconds>" and one or more "v1=<hex>", each
// a candidate HMAC-SHA256 of "<t>.<body>" with the endpoint's signing secret
// ("whsec_..."). A signature older than tolerance is refused, so that a
// captured request cannot be replayed later (tolerance <= 0:
// DefaultStripeTolerance). The comparisons take constant time.
func StripeSignature(secret string, tolerance time.Duration) Verifier {
	key := []byte(secret)
	if tolerance <= 0 {
		tolerance = DefaultStripeTolerance
	}
	return func(r *http.Request, body []byte) error {
		header := r.Header.Get("Stripe-Signature")
		if header == "" {
			return fmt.Errorf("%w: no Stripe-Signature header", ErrInvalidSignature)
		}
		var ts string
		var sigs [][]byte
		for _, part := range strings.Split(header, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				if sig, err := hex.DecodeString(v); err == nil {
					sigs = append(sigs, sig)
				}
			}
		}
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: Stripe-Signature has no timestamp t=", ErrInvalidSignature)
		}
		if len(sigs) == 0 {
			return fmt.Errorf("%w: Stripe-Signature has no v1 signature", ErrInvalidSignature)
		}
		if age := time.Since(time.Unix(secs, 0)); age > tolerance {
			return fmt.Errorf("%w: Stripe-Signature timestamp is %s old, over the tolerance of %s", ErrInvalidSignature, age.Round(time.Second), tolerance)
		}
		want := hmacSHA256(key, append([]byte(ts+"."), body...))
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
		return fmt.Errorf("%w: no Stripe-Signature v1 signature matches the body", ErrInvalidSignature)
	}
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
