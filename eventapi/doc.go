// Package eventapi serves flow's events over HTTP, as Inngest's event API
// does, so that services in other languages, webhooks and browser-facing
// backends can send events to a flow application.
//
// # The event API
//
// [NewHandler] serves POST /e/{key}. The body is one event or a JSON array of
// events, in Inngest's shape:
//
//	{"name": "user/signed.up", "data": {"email": "a@example.com"}, "id": "optional-dedupe-id", "ts": 1700000000000}
//
// ts is in milliseconds since the Unix epoch (default: the time of
// receipt); id deduplicates as flow.Event.ID does. The answer is the stored
// events' IDs, in order:
//
//	{"ids": ["0193..."], "status": 200}
//
// A request is all or nothing: a malformed body, an invalid event anywhere
// in an array, a body over the limit, a wrong method or a bad or revoked key
// is answered with a 4xx status and {"ids": [], "status": 4xx, "error":
// "..."} naming the problem, and nothing of it is stored.
//
// Keys are created with flow.Client.CreateEventKey (or "flow keys create
// -name NAME"), which shows a key once; the database keeps only its SHA-256
// hash. RevokeEventKey ("flow keys revoke ID") refuses it from then on.
// Options.DevKey accepts a fixed key besides, for a dev server ("flow dev"
// accepts "dev").
//
// # Webhooks
//
// [NewWebhook] turns requests from another service (GitHub, Stripe, ...)
// into events: it checks the request's signature ([GitHubSignature],
// [StripeSignature], or a [Verifier] of your own), then a transform, a Go
// function or a CEL expression over the request, makes the events.
//
// # Differences from Inngest
//
//   - A request is all or nothing. Inngest stores the events before the first
//     invalid one of an array and answers 400 with their IDs; here an array
//     with one invalid event stores none and answers 400 with no IDs, so a
//     sender can fix it and resend the whole array without duplicates.
//   - An empty body is a 400 here (Inngest answers 200 with no event).
//   - The whole body is bounded (Options.MaxBodyBytes, 413 past it) as well
//     as each event (flow.Config.MaxEventBytes, 400 past it, as Inngest's
//     per-event limit); Inngest bounds only each event (3 MiB) and the count
//     (5,000, the same here).
//   - Event names starting with "flow/" are reserved, as "inngest/" are there.
//   - Only JSON bodies are read (whatever the Content-Type, as Inngest
//     defaults to); Inngest also turns multipart form bodies into an event.
//   - A wrong method is a 405 with a JSON error; Inngest's router answers 405
//     with an empty body. Every answer here has the shape above; Inngest's
//     401 answers are {"status": 401, "message": "", "error": "..."}.
//   - Event IDs are flow's (UUIDs), not Inngest's ULIDs.
//   - Inngest's webhook transforms are JavaScript functions of (evt,
//     headers, queryParams); here a transform is a Go function or a CEL
//     expression over body, headers, query and raw, and signatures are
//     checked by the handler (Inngest leaves that to the function).
package eventapi
