// Package flowui is a web dashboard for flow: an [http.Handler] that a
// service mounts on its own mux to see its runs, their steps and their
// events, send test events, and cancel and rerun runs.
//
//	mux.Handle("/flow/", flowui.Handler(client, &flowui.Options{
//		Authorize: func(r *http.Request) error { return requireAdmin(r) },
//	}))
//
// # Pages
//
// Runs (filtered by function, status and creation time, paged, updated
// live while runs progress), a run (its status and timings, each step as a
// row of a timeline with its kind, attempts, duration, output and error,
// what a wait waits for and until when, the triggering event, and the
// realtime messages the run publishes, streamed live), events (the
// recent events and the runs each started), functions (their triggers and
// options, whether a running process defines them, and how many runs they
// had lately), and a form that sends an event. A warning on the runs and
// functions pages names the functions whose runs wait for a worker while no
// running process defines them (see [flow.FunctionInfo.HasWorker]). Everything is rendered on the server with html/template; a little
// plain JavaScript refreshes the live parts every second. All assets are
// embedded: nothing is loaded from elsewhere, and there is no build step.
// Long values (outputs, errors, event data) are cut at 2 KiB, with a link to
// the whole value. Times are shown in UTC, each in a <time datetime>
// element; a button in the footer shows them in the viewer's time zone
// instead (the browser converts them, and remembers the choice in its
// localStorage).
//
// The status counts of the runs page are cached for 5 seconds, so that open
// pages refreshing every second do not count the runs table every second.
//
// Elements that tests and scripts can rely on carry ids and data attributes:
// runs are rows with data-run-id and data-status (in #runs-table, and
// #event-runs on an event's page); a run's page has #run (data-run-id,
// data-status), #cancel-form, #rerun-form, and each step is an element with
// data-step-id, data-step-status and data-kind in #timeline, and each
// realtime message an element with data-message-id, data-channel and
// data-topic in #message-list (in #messages); the send form
// is #send-form (#event-name-input, #event-data-input, #send-button, and
// #form-error after a failed post); live parts have data-poll and count
// their refreshes in data-refreshes, and data-live="false" once they stop.
//
// # Mounting
//
// Mount the handler at a path ending in a slash, such as "/flow/", or at
// "/". With [net/http.ServeMux] it finds its mount path from the pattern
// that matched, so no [net/http.StripPrefix] is needed (it works with one
// too). With another router that neither strips the prefix nor uses
// ServeMux patterns, set [Options.BasePath]. Every link the dashboard makes
// is relative, so it also works behind a reverse proxy that adds a prefix.
//
// # Security
//
// The dashboard shows event data and run outputs, and its actions start and
// cancel runs: in production, put it behind authentication. Set
// [Options.Authorize] to check each request (a denial gives 403 on every
// route, assets included), or wrap the handler in the service's own
// middleware; [Options.ReadOnly] removes the actions.
//
// Safe by default: actions (send, cancel, rerun) take POST only and are
// protected against cross-site request forgery twice: by the standard
// library's [net/http.CrossOriginProtection] (which rejects cross-origin
// browser requests by their Sec-Fetch-Site or Origin headers), and by a form
// token, an HMAC of a random cookie under a per-handler key (a
// double-submit cookie that a forged form cannot know). Every value shown is
// escaped by html/template. Responses carry a Content-Security-Policy that
// allows only the dashboard's own script and style (no inline script), and
// forbids framing. The handler runs only the library's fixed queries through
// the flow client's pool: nothing in a request chooses SQL, a table or a
// schema, and IDs are checked to be UUIDs before they reach a query.
package flowui

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/riverflow/flow"
)

// Options configures the dashboard. A nil *Options means the defaults.
type Options struct {
	// Authorize, if set, is called with every request before anything
	// else; an error denies the request with 403 Forbidden. Nil allows every
	// request: then the dashboard must be protected otherwise (by the
	// service's middleware, or by listening on a private address), since it
	// shows event data and run outputs and can start and cancel runs.
	Authorize func(r *http.Request) error

	// ReadOnly hides the actions (the send form, cancel and rerun) and
	// rejects their requests with 403 Forbidden.
	ReadOnly bool

	// TrustedOrigins are origins ("https://admin.example.com") allowed to
	// post to the dashboard's actions besides its own, for a dashboard
	// reached through a proxy on another origin. See
	// net/http.CrossOriginProtection.AddTrustedOrigin. Defaults to none.
	TrustedOrigins []string

	// CSRFKey is the key of the form tokens (at least 32 bytes). Give every
	// replica of a service the same key when requests may reach any of
	// them; with none, each handler makes its own random key, and forms
	// rendered by another replica, or before a restart, are rejected (the
	// page asks for a reload). Defaults to a random key.
	CSRFKey []byte

	// BasePath is the path the handler is mounted at, such as "/flow/",
	// for routers that neither strip it nor are a net/http.ServeMux (which
	// the handler reads it from). Defaults to detecting it.
	BasePath string

	// RiverUIURL, if set, adds a "River UI" link to the navigation, to
	// River's own dashboard (riverqueue.com/riverui) where the queue's jobs
	// are. It is used as the link's href as it is: an absolute URL, or a path
	// such as "/riverui/" (what flow dev mounts). Relative paths are
	// relative to the dashboard's mount point. Defaults to no link.
	RiverUIURL string

	// Title is shown in the header and in page titles. Defaults to "flow".
	Title string

	// Logger receives errors the dashboard answers with 500. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

const (
	csrfCookie = "flowui_csrf"
	csrfField  = "csrf_token"
	// maxFormBytes bounds a posted form (an event's data, mostly).
	maxFormBytes = 4 << 20
)

type handler struct {
	c       *flow.Client
	opts    Options
	tmpl    *template.Template
	csrfKey []byte
	cop     *http.CrossOriginProtection
	static  map[string]staticFile
	version string
	counts  countCache
}

// Handler returns the dashboard for client. opts may be nil for the
// defaults. It panics if client is nil or an option is invalid (a
// malformed trusted origin, a short CSRFKey), as net/http.ServeMux does for
// a bad pattern.
func Handler(client *flow.Client, opts *Options) http.Handler {
	if client == nil {
		panic("flowui: Handler: nil client")
	}
	h := &handler{c: client, cop: http.NewCrossOriginProtection()}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Title == "" {
		h.opts.Title = "flow"
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.Default()
	}
	for _, o := range h.opts.TrustedOrigins {
		if err := h.cop.AddTrustedOrigin(o); err != nil {
			panic(fmt.Sprintf("flowui: Handler: TrustedOrigins: %v", err))
		}
	}
	if h.opts.BasePath != "" && (!strings.HasPrefix(h.opts.BasePath, "/") || !strings.HasSuffix(h.opts.BasePath, "/")) {
		panic(fmt.Sprintf("flowui: Handler: BasePath %q must start and end with a slash", h.opts.BasePath))
	}
	switch {
	case h.opts.CSRFKey == nil:
		h.csrfKey = make([]byte, 32)
		_, _ = rand.Read(h.csrfKey)
	case len(h.opts.CSRFKey) < 32:
		panic(fmt.Sprintf("flowui: Handler: CSRFKey must be at least 32 bytes, got %d", len(h.opts.CSRFKey)))
	default:
		h.csrfKey = bytes.Clone(h.opts.CSRFKey)
	}
	h.static, h.version = loadStatic()
	h.tmpl = parseTemplates()
	return h
}

// contentSecurityPolicy allows the dashboard's own script, style and
// requests only, and forbids framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'"

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin (not no-referrer) keeps the Origin header of form posts,
	// which CrossOriginProtection checks where Sec-Fetch-Site is missing.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// request is one request with the handler's view of it.
type request struct {
	*http.Request
	// local is the path below the mount point, starting with "/".
	local string
	segs  []string
	// base is the relative URL of the mount point from the page ("./",
	// "../"), for the page's <base href>.
	base string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	local := h.localPath(r)
	if local == "" {
		// Mounted with StripPrefix("/flow") and asked for "/flow": relative
		// links need the trailing slash.
		w.Header().Set("Location", path.Base(requestPath(r))+"/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	req := &request{Request: r, local: local, base: "./"}
	if local != "/" {
		req.segs = strings.Split(strings.TrimPrefix(local, "/"), "/")
		if n := len(req.segs); n > 1 {
			req.base = strings.Repeat("../", n-1)
		}
	}
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r); err != nil {
			h.renderError(w, req, http.StatusForbidden, "Forbidden", "You are not allowed to see this dashboard.")
			return
		}
	}
	if path.Clean(local) != local {
		h.notFound(w, req)
		return
	}
	if msg := badParams(r.URL.RawQuery); msg != "" {
		h.badRequest(w, req, msg)
		return
	}
	h.route(w, req)
}

// requestPath is the path the client asked for, before any StripPrefix.
func requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		return u.Path
	}
	return r.URL.Path
}

// localPath returns the request's path below the handler's mount point.
func (h *handler) localPath(r *http.Request) string {
	p := r.URL.Path
	if h.opts.BasePath != "" {
		if rest, ok := strings.CutPrefix(p, h.opts.BasePath); ok {
			return "/" + rest
		}
		if p+"/" == h.opts.BasePath {
			return ""
		}
		return p
	}
	if rest, ok := stripPattern(r.Pattern, p); ok {
		return rest
	}
	return p
}

// stripPattern removes from p the prefix that a ServeMux pattern ending in
// a slash (such as "/flow/" or "GET /t/{tenant}/flow/") matched. It reports
// false when p does not start with the pattern's path, as after a
// StripPrefix.
func stripPattern(pattern, p string) (string, bool) {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i:], " \t") // drop the method
	}
	i := strings.Index(pattern, "/")
	if i < 0 {
		return "", false
	}
	pattern = pattern[i:] // drop the host
	if pattern == "/" || !strings.HasSuffix(pattern, "/") {
		return "", false
	}
	want := strings.Split(strings.Trim(pattern, "/"), "/")
	got := strings.SplitN(strings.TrimPrefix(p, "/"), "/", len(want)+1)
	if len(got) < len(want) {
		return "", false
	}
	for k, seg := range want {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if strings.HasSuffix(seg, "...}") {
				return "", false
			}
			continue
		}
		if got[k] != seg {
			return "", false
		}
	}
	if len(got) == len(want) {
		return "/", true
	}
	return "/" + got[len(want)], true
}

// route dispatches a request by its local path.
func (h *handler) route(w http.ResponseWriter, r *request) {
	s := r.segs
	switch {
	case len(s) == 0 || len(s) == 1 && s[0] == "runs":
		h.get(w, r, h.runs)
	case len(s) == 2 && s[0] == "runs" && s[1] == "bulk":
		h.post(w, r, h.bulk)
	case len(s) == 2 && s[0] == "runs":
		h.get(w, r, h.run)
	case len(s) == 3 && s[0] == "runs" && s[2] == "raw":
		h.get(w, r, h.runRaw)
	case len(s) == 3 && s[0] == "runs" && s[2] == "messages":
		h.get(w, r, h.runMessages)
	case len(s) == 3 && s[0] == "runs" && s[2] == "cancel":
		h.post(w, r, h.cancel)
	case len(s) == 3 && s[0] == "runs" && s[2] == "rerun":
		h.post(w, r, h.rerun)
	case len(s) == 1 && s[0] == "events":
		h.get(w, r, h.events)
	case len(s) == 2 && s[0] == "events":
		h.get(w, r, h.event)
	case len(s) == 3 && s[0] == "events" && s[2] == "raw":
		h.get(w, r, h.eventRaw)
	case len(s) == 1 && s[0] == "functions":
		h.get(w, r, h.functions)
	case len(s) == 1 && s[0] == "search":
		h.get(w, r, h.search)
	case len(s) == 2 && s[0] == "functions" && s[1] == "pause":
		h.post(w, r, h.pauseFunction)
	case len(s) == 2 && s[0] == "functions" && s[1] == "resume":
		h.post(w, r, h.resumeFunction)
	case len(s) == 1 && s[0] == "send":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.sendForm(w, r)
		case http.MethodPost:
			h.post(w, r, h.send)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
	case len(s) == 2 && s[0] == "static":
		h.get(w, r, h.serveStatic)
	default:
		h.notFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
}

func (h *handler) get(w http.ResponseWriter, r *request, f func(http.ResponseWriter, *request)) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	f(w, r)
}

// post runs an action after its checks: not read-only, same origin, and a
// valid form token.
func (h *handler) post(w http.ResponseWriter, r *request, f func(http.ResponseWriter, *request)) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if h.opts.ReadOnly {
		h.renderError(w, r, http.StatusForbidden, "Read-only", "This dashboard is read-only: it cannot send events, cancel or rerun runs.")
		return
	}
	if err := h.cop.Check(r.Request); err != nil {
		h.renderError(w, r, http.StatusForbidden, "Forbidden", "Cross-origin request rejected.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	if !h.validToken(r.Request, r.PostForm.Get(csrfField)) {
		h.renderError(w, r, http.StatusForbidden, "Forbidden",
			"The form's security token is missing or stale. Reload the page and try again.")
		return
	}
	f(w, r)
}

// csrfToken returns the form token for the request's CSRF cookie, setting a
// new cookie first if it has none.
func (h *handler) csrfToken(w http.ResponseWriter, r *request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validNonce(c.Value) {
		return h.tokenFor(c.Value)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	return h.tokenFor(nonce)
}

func validNonce(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

func (h *handler) tokenFor(nonce string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte("flowui csrf\x00"))
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validToken reports whether token is the form token of the request's CSRF
// cookie.
func (h *handler) validToken(r *http.Request, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validNonce(c.Value) || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(h.tokenFor(c.Value)))
}

// redirect answers a POST with 303 See Other to a URL relative to the
// handler's mount point. The Location is relative, so it is right whatever
// prefix the handler sits under.
func redirect(w http.ResponseWriter, r *request, to string) {
	w.Header().Set("Location", r.base+to)
	w.WriteHeader(http.StatusSeeOther)
}
