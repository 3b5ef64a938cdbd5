package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// FuzzEventValidation sends arbitrary events inside a caller's transaction:
// each is either stored and reads back as sent, or refused with
// ErrInvalidEvent (or ErrEventTooLarge), never with a raw Postgres error,
// and the caller's transaction runs its next statement either way. The
// event has a Go map as data (the key and value fuzzed) and, when raw is
// valid JSON, a second event with raw as its data. The seeds run with the
// tests; fuzz with
//
//	go test -run '^$' -fuzz FuzzEventValidation -fuzztime 1m .
func FuzzEventValidation(f *testing.F) {
	seeds := []struct {
		name, id, key, value, raw string
		sec                       int64
	}{
		{"user/signed.up", "", "email", "a@example.com", `{"n":1}`, 0},
		{"user/signed.up", "order-1", "k", "v", `[1,2.5,"x",null,true]`, 1767225600},
		{"", "", "k", "v", `{}`, 0},
		{"bad name", "", "k", "v", `{}`, 0},
		{"nul/\x00", "", "k", "v", `{}`, 0},
		{"utf8/\xff", "", "k", "v", `{}`, 0},
		{"flow/reserved", "", "k", "v", `{}`, 0},
		{"id/nul", "a\x00b", "k", "v", `{}`, 0},
		{"id/utf8", "\xc3\x28", "k", "v", `{}`, 0},
		{"data/nul", "", "k", "a\x00b", `{"s":"\u0000"}`, 0},
		{"data/nulkey", "", "\x00", "v", `{"\u0000":1}`, 0},
		{"data/utf8", "", "caf\xe9", "\xff\xfe", "{\"s\":\"\xe9\"}", 0},
		{"data/replacement", "", "k", "\ufffd", `{"s":"\ufffd"}`, 0},
		{"data/surrogate", "", "k", "v", `["\ud800"]`, 0},
		{"data/pair", "", "k", "😀", `["\ud83d\ude00", "\\u0000"]`, 0},
		{"data/escapes", "", `\u0000`, `\\u0000 "quoted" \n`, `{"a":"\\u0000"}`, 0},
		{"data/bignum", "", "k", "v", `{"n":1e131071}`, 0},
		{"data/hugenum", "", "k", "v", `{"n":1e131072}`, 0},
		{"data/tiny", "", "k", "v", `{"n":1e-16383,"m":-0.0e5}`, 0},
		{"data/toosmall", "", "k", "v", `{"n":1.5e-16383}`, 0},
		{"ts/far", "", "k", "v", `{}`, 9_999_999_999_999},
		{"ts/before", "", "k", "v", `{}`, -62_200_000_000},
		{"ts/1970", "", "k", "v", `{}`, 1},
	}
	for _, s := range seeds {
		f.Add(s.name, s.id, s.key, s.value, s.raw, s.sec)
	}

	pool := flowtest.Pool(f)
	c, err := flow.NewClient(pool, nil)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, name, id, key, value, raw string, sec int64) {
		var ts time.Time
		if sec != 0 {
			ts = time.Unix(sec, sec%1_000_000_000)
		}
		events := []flow.Event{{ID: id, Name: name, Data: map[string]string{key: value}, TS: ts}}
		if json.Valid([]byte(raw)) {
			events = append(events, flow.Event{Name: "fuzz/raw", Data: json.RawMessage(raw)})
		}
		for _, ev := range events {
			fuzzSendOne(ctx, t, c, pool, ev)
		}
	})
}

// fuzzSendOne sends ev with SendTx in a transaction it rolls back, and
// checks the outcome as FuzzEventValidation says.
func fuzzSendOne(ctx context.Context, t *testing.T, c *flow.Client, pool *pgxpool.Pool, ev flow.Event) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	ids, sendErr := c.SendTx(ctx, tx, ev)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the caller's transaction is broken after SendTx(%+v) = %v: %v", ev, sendErr, err)
	}
	if sendErr != nil {
		var pgErr *pgconn.PgError
		if errors.As(sendErr, &pgErr) {
			t.Fatalf("raw Postgres error for %+v: %v", ev, sendErr)
		}
		if !errors.Is(sendErr, flow.ErrInvalidEvent) && !errors.Is(sendErr, flow.ErrEventTooLarge) {
			t.Fatalf("SendTx(%+v) = %v, want ErrInvalidEvent", ev, sendErr)
		}
		return
	}
	var (
		name    string
		dedupe  *string
		storedT time.Time
		same    bool
	)
	want, _ := json.Marshal(ev.Data)
	if err := tx.QueryRow(ctx, "SELECT name, dedupe_id, ts, data = $2::jsonb FROM flow_event WHERE id = $1",
		ids[0], string(want)).Scan(&name, &dedupe, &storedT, &same); err != nil {
		t.Fatalf("read back %+v: %v", ev, err)
	}
	if name != ev.Name {
		t.Fatalf("name %q read back as %q", ev.Name, name)
	}
	if ev.ID != "" && (dedupe == nil || *dedupe != ev.ID) {
		t.Fatalf("ID %q read back as %v", ev.ID, dedupe)
	}
	if !ev.TS.IsZero() && !storedT.Equal(ev.TS.Truncate(time.Microsecond)) {
		t.Fatalf("TS %s read back as %s", ev.TS, storedT)
	}
	if !same {
		t.Fatalf("data %s did not read back as sent", want)
	}
	if m, ok := ev.Data.(map[string]string); ok {
		var got map[string]string
		var text string
		if err := tx.QueryRow(ctx, "SELECT data::text FROM flow_event WHERE id = $1", ids[0]).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(text), &got); err != nil || len(got) != 1 || got[fuzzOnlyKey(m)] != m[fuzzOnlyKey(m)] {
			t.Fatalf("data %q read back as %s (%v)", m, text, err)
		}
	}
}

func fuzzOnlyKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}
