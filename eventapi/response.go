package eventapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// response is the body of every answer, as Inngest's event API gives it.
type response struct {
	IDs    []string `json:"ids"`
	Status int      `json:"status"`
	Error  string   `json:"error,omitempty"`
}

// writeIDs answers 200 with the stored events' IDs.
func writeIDs(w http.ResponseWriter, ids []string) {
	if ids == nil {
		ids = []string{}
	}
	writeResponse(w, response{IDs: ids, Status: http.StatusOK})
}

// writeError answers status with a JSON error naming the problem.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeResponse(w, response{IDs: []string{}, Status: status, Error: msg})
}

func writeResponse(w http.ResponseWriter, r response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(r)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
