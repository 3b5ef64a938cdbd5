//go:build !flow_eventapi

package main

// A stand-in until package eventapi lands on main (build with
// -tags flow_eventapi against it). Delete this file, and the build line of
// webhook.go, once it has.

import (
	"context"
	"net/http"
)

func (a *app) mountEventAPI(context.Context) error {
	pending := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "workflows: package eventapi is not on this branch yet", http.StatusNotImplemented)
	})
	a.mux.Handle("POST /webhooks/run", pending)
	a.mux.Handle("/e/", pending)
	return nil
}
