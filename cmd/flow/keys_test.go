package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// flow keys create prints the key once; list shows it by prefix, never the
// key; revoke refuses it from then on, on the event API too.
func TestCLIKeys(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)

	res := cliRun(t, dbURL, "keys", "list")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stderr, "no event keys")

	out := cliOK(t, dbURL, "keys", "create", "-name", "billing")
	require.Contains(t, out, "Copy it now")
	var key string
	for f := range strings.FieldsSeq(out) {
		if strings.HasPrefix(f, "fek_") {
			key = f
		}
	}
	require.Len(t, key, 68, out)

	var created struct {
		Key string `json:"key"`
		flow.EventKey
	}
	require.NoError(t, json.Unmarshal([]byte(cliOK(t, dbURL, "keys", "create", "-name", "web", "-json")), &created))
	require.True(t, strings.HasPrefix(created.Key, created.Prefix))
	require.Equal(t, "web", created.Name)

	list := cliOK(t, dbURL, "keys", "list")
	require.Contains(t, list, "billing")
	require.Contains(t, list, key[:12]+"…")
	require.NotContains(t, list, key)
	require.NotContains(t, list, created.Key)

	var keys []flow.EventKey
	require.NoError(t, json.Unmarshal([]byte(cliOK(t, dbURL, "keys", "list", "-json")), &keys))
	require.Len(t, keys, 2)
	require.Equal(t, "billing", keys[0].Name)

	// Both keys work on the dev server's event API until revoked.
	base, _, _, stop := devStart(t, dbURL)
	t.Cleanup(func() { stop() })
	require.Equal(t, http.StatusOK, devPost(t, base+"/e/"+key, `{"name":"cli/keyed"}`))
	require.Contains(t, cliOK(t, dbURL, "keys", "revoke", keys[0].ID), "revoked event key "+keys[0].ID)
	require.Equal(t, http.StatusUnauthorized, devPost(t, base+"/e/"+key, `{"name":"cli/keyed"}`))
	require.Equal(t, http.StatusOK, devPost(t, base+"/e/"+created.Key, `{"name":"cli/keyed"}`))

	require.NoError(t, json.Unmarshal([]byte(cliOK(t, dbURL, "keys", "list", "-json")), &keys))
	require.NotNil(t, keys[0].RevokedAt)
	require.Nil(t, keys[1].RevokedAt)
	require.NotContains(t, strings.Split(cliOK(t, dbURL, "keys", "list"), "\n")[1], " - ", "the revoked key shows when")

	res = cliRun(t, dbURL, "keys", "revoke", "0193a4f0-0000-7000-8000-000000000000")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "no event key")

	for _, args := range [][]string{
		{"keys"}, {"keys", "create"}, {"keys", "create", "extra", "-name", "x"}, {"keys", "revoke"},
		{"keys", "list", "extra"}, {"keys", "rotate"},
	} {
		res := cliRun(t, dbURL, args...)
		require.Equal(t, 2, res.code, "flow %v: %s", args, res.stderr)
		require.True(t, strings.HasPrefix(res.stderr, "flow: keys: "), res.stderr)
	}
}
