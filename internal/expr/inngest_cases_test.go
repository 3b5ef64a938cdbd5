package expr

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// inngestCase is one case of upstream's TestEvaluateExpression
// (inngest/inngest pkg/expressions/expressions_test.go), in its order.
type inngestCase struct {
	// expr is upstream's expression, verbatim.
	expr string
	// event and async are upstream's data as the JSON of our two variables.
	event, async string
	// want is upstream's expected result (bool, string, int64).
	want any
	// renamed, when set, is expr with upstream's other variables (steps,
	// actions, action, user, response) renamed to event, or to async when
	// the expression also reads event. riverflow declares only event and
	// async: an expression naming any other variable is refused when the
	// function is created ("undeclared reference"), a typo caught at once
	// instead of a condition that is silently always false. The case checks
	// that refusal, then upstream's semantics on the renamed expression.
	renamed string
}

var inngestCases = []inngestCase{
	// Returning data
	{expr: `event.data.name`, event: `{"data":{"name":"Tester McTestyFace"}}`, want: "Tester McTestyFace"},
	{expr: `5 + 4`, event: `{"data":{"name":"Tester McTestyFace"}}`, want: int64(9)},
	{expr: `event.data.name + '-' + event.data.number + '-' + event.data.bool + '-' + event.data.missing`,
		event: `{"data":{"name":"hi","number":9.1,"bool":true}}`, want: "hi-9.1-true-"},
	{expr: `event.data.name + '-' + event.data.foo`, event: `{"data":{"name":"Tester McTestyFace"}}`, want: "Tester McTestyFace-"},
	{expr: `uppercase(event.data.name) + ' is my name'`, event: `{"data":{"name":"Tester McTestyFace"}}`, want: "TESTER MCTESTYFACE is my name"},

	// Base64 decoding
	{expr: `b64decode("aGkgdGhlcmUh") + " - b64 data"`, event: `{"data":{}}`, want: "hi there! - b64 data"},
	{expr: `b64decode("aGkgdGhlcmUh") == "hi there!"`, event: `{"data":{}}`, want: true},
	// Base64 decoding a JSON map and accessing the object
	{expr: `json_parse(b64decode(event.data.encoded)).nested.data`,
		event: `{"data":{"encoded":"eyJuZXN0ZWQiOnsiZGF0YSI6InllYSJ9fQ==","decoded":{"nested":{"data":"yea"}}}}`, want: "yea"},
	{expr: `json_parse(b64decode(event.data.encoded)).nested.data == "yea"`,
		event: `{"data":{"encoded":"eyJuZXN0ZWQiOnsiZGF0YSI6InllYSJ9fQ==","decoded":{"nested":{"data":"yea"}}}}`, want: true},

	// map equality
	{expr: `event.data == event.data`, event: `{"data":{"nope":null,"inner":{"eval":"ok"}}}`, want: true},
	{expr: `event.data.a == event.data.b`,
		event: `{"data":{"nope":null,"a":{"eval":"ok","num":1.161},"b":{"eval":"ok","num":1.161}}}`, want: true},
	{expr: `event.data.a == event.data.b`,
		event: `{"data":{"nope":null,"a":{"eval":"ok","num":9},"b":{"eval":"ok","num":1.161}}}`, want: false},

	// Basic boolean expressions
	{expr: `null > 0`, event: `{"data":{"nope":null}}`, want: false},
	{expr: `size(event.data.nope) > 0`, event: `{"data":{"nope":null}}`, want: false},
	{expr: `event.data.action > 0`, event: `{"data":{"action":null}}`, want: false},
	{expr: `event.data.float <= null && event.data.int < null`, event: `{"data":{"float":3.141,"int":8}}`, want: false},
	// Type coercion: comparing against unknowns / null
	{expr: `event.data.int > event.data.unknown`, event: `{"data":{"int":2}}`, want: true},
	{expr: `event.data.something == null`, event: `{"data":{"something":"hi"}}`, want: false},
	{expr: `event.data.float > null && event.data.int > null`, event: `{"data":{"float":3.141,"int":8}}`, want: true},
	{expr: `event.data.float <= null && event.data.int < null`, event: `{"data":{"float":3.141,"int":8}}`, want: false},
	{expr: `event.data.int > 3.141 && event.data.float <= 2`, event: `{"data":{"int":8,"float":1.111}}`, want: true},
	// nulls
	{expr: `event.data.something == null`, event: `{"data":{"something":null}}`, want: true},
	{expr: `event.data.another == null`, event: `{"data":{}}`, want: true},
	// basics
	{expr: `steps.first.foo == 'test' && steps.second.bar != true && steps.second.baz != true`,
		event: `{"first":{"foo":"test"},"second":{"foo":"test"}}`, want: true,
		renamed: `event.first.foo == 'test' && event.second.bar != true && event.second.baz != true`},
	{expr: `actions.first.foo != 'test' && (actions.first.bar == true || actions.second.baz == true)`,
		event: `{"first":{"foo":"test"}}`, want: false,
		renamed: `event.first.foo != 'test' && (event.first.bar == true || event.second.baz == true)`},
	{expr: `event.data.foo != '' && 'item' in event.data.issue.fields.tags`, event: `{"data":{}}`, want: false},
	{expr: `event.data.foo != ''`, event: `{"data":{"foo":"hi"}}`, want: true},
	{expr: `event['data'].foo != '' && event['data'].bar != true`, event: `{"data":{"foo":"hi"}}`, want: true},
	// unknowns
	{expr: `event.data.something == null`, event: `{"data":{"something":null}}`, want: true},
	{expr: `event.data.NOPE == null`, event: `{"name":"","data":null}`, want: true},
	{expr: `event.data.name == action.first.result.name`, event: `{"data":{"name":"no"}}`, want: false,
		renamed: `event.data.name == async.first.result.name`},
	// deeply nested
	{expr: `event.data.issue.field.another == 'another'`, event: `{"data":{"issue":null}}`, want: false},
	{expr: `event.data.issue.field.another == 'another'`, event: `{"data":{"issue":null}}`, want: false},
	// deeply nested, testing non-existent fields.
	{expr: `event.data.test == true && event.data.issue.field.another != 'another'`,
		event: `{"data":{"test":true,"issue":null}}`, want: true},
	// includes
	{expr: `user.nonexistent.exists(x, x == 'a')`, want: false, renamed: `event.nonexistent.exists(x, x == 'a')`},
	// steps
	{expr: `steps.first.foo == 'test'`, event: `{"first":{"foo":"test"}}`, want: true, renamed: `event.first.foo == 'test'`},
	// action
	{expr: `actions.first.foo == 'test' && actions.first.bar != true`, event: `{"first":{"foo":"test"}}`, want: true,
		renamed: `event.first.foo == 'test' && event.first.bar != true`},
	{expr: `actions.first.foo == 'test' && actions.first.bar != true`, event: `{"first":{"foo":"test"}}`, want: true,
		renamed: `event.first.foo == 'test' && event.first.bar != true`},
	// matches
	{expr: `event.data.title.matches('^[a-z\\d]{0,10}$')`, event: `{"data":{"title":"nope"}}`, want: true},
	{expr: `event.data.title.matches('\\w')`, event: `{"data":{"title":"nope"}}`, want: true},
	// contains
	{expr: `event.data.some.unknown.contains(event.data.title)`, event: `{"data":{"title":"nope"}}`, want: false},
	{expr: `'hello'.contains('llo')`, event: `{"data":{"action":"opened"}}`, async: `{"status":"200"}`, want: true},
	{expr: `'hello'.contains('what')`, event: `{"data":{"action":"opened"}}`, async: `{"status":"200"}`, want: false},
	// size text
	{expr: `size(event.data.action) > 0`, event: `{"data":{"action":null}}`, want: false},
	{expr: `size(event.data.action) > 0`, event: `{"data":{"action":"opened"}}`, want: true},
	{expr: `size(event.data.action) == 6`, event: `{"data":{"action":"opened"}}`, want: true},
	// inputs
	{expr: `event.data.action == 'opened'`, event: `{"data":{"action":"opened"}}`, async: `{"status":"200"}`, want: true},
	{expr: `int(response.status) == 200`, event: `{"status":"200"}`, want: true, renamed: `int(event.status) == 200`},
	// upper/lower
	{expr: `uppercase(event.priority) == 'P1'`, event: `{"priority":"p1"}`, want: true},
	{expr: `lowercase(event.priority) == 'urgent'`, event: `{"priority":"URGENT"}`, want: true},
	// multiline
	{expr: "\n\t\t\t\t\t\t\t\t\tint(response.status) >= 400 &&\n\t\t\t\t\t\t\t\t\tresponse.error == true\n\t\t\t\t\t\t\t\t",
		event: `{"status":"400","error":true}`, want: true,
		renamed: "\n\t\t\t\t\t\t\t\t\tint(event.status) >= 400 &&\n\t\t\t\t\t\t\t\t\tevent.error == true\n\t\t\t\t\t\t\t\t"},
	// Array funcs
	{expr: `size(event.data.tags) == 0`, event: `{"data":{}}`, want: true},
	{expr: `size(event.data.tags) == 1`, event: `{"data":{}}`, want: false},
	{expr: `size(event.data.tags) == 0`, event: `{"data":{"tags":[]}}`, want: true},
	{expr: `size(event.data.tags) > 2`, event: `{"data":{"tags":["a","b","c"]}}`, want: true},
	{expr: `event.data.tags.exists(x, x == 'a')`, event: `{"data":{"tags":["a","b","c"]}}`, want: true},
	{expr: `event.data.tags.exists(x, x == 'd' || x == 'a')`, event: `{"data":{"tags":["a","b","c"]}}`, want: true},
	{expr: `event.data.tags.exists(x, x == 'd')`, event: `{"data":{"tags":["a","b","c"]}}`, want: false},
	{expr: `event.data.tags.exists(x, x == 'd') == false`, event: `{"data":{"tags":["a","b","c"]}}`, want: true},
	// in
	{expr: `event.data.issue in ['Bug', 'Issue', 'Epic'] == true`, event: `{"data":{"issue":"Bug"}}`, want: true},
	{expr: `event.data.issue in ['LOL', 'Issue', 'Epic'] == false`, event: `{"data":{"issue":"Bug"}}`, want: true},
	{expr: `event.data.nonexistent in ['LOL', 'Issue', 'Epic'] == false`, event: `{"data":{"issue":"Bug"}}`, want: true},
	// Struct + cel stdlib expressions
	{expr: `[1, 2, 3].all(x, x > 0) && response.status == '200'`, event: `{"status":"200"}`, want: true,
		renamed: `[1, 2, 3].all(x, x > 0) && event.status == '200'`},
	// no error, but it doesn't match.
	{expr: `response.status == 200`, event: `{"foo":"bar"}`, async: `{"status":"200"}`, want: false,
		renamed: `async.status == 200`},
	// Event data time manipulation
	{expr: `date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')`,
		event: `{"from":"2020-01-01T12:00:00"}`, want: true},
}

// TestInngestEvaluateExpression runs every case of upstream's
// TestEvaluateExpression, named by its index and expression: the result
// must be upstream's, with no error.
func TestInngestEvaluateExpression(t *testing.T) {
	t.Parallel()
	require.Len(t, inngestCases, 65, "upstream's table has 65 cases")
	for n, c := range inngestCases {
		t.Run(fmt.Sprintf("%02d %s", n, c.expr), func(t *testing.T) {
			t.Parallel()
			src := c.expr
			if c.renamed != "" {
				_, err := Compile(c.expr, testLimit)
				require.ErrorContains(t, err, "undeclared reference", "only event and async are declared")
				src = c.renamed
			}
			p, err := Compile(src, testLimit)
			require.NoError(t, err, src)
			var event, async []byte
			if c.event != "" {
				event = []byte(c.event)
			}
			if c.async != "" {
				async = []byte(c.async)
			}
			got, err := p.Value(event, async)
			require.NoError(t, err, src)
			require.Equal(t, c.want, got, src)
			if b, ok := c.want.(bool); ok {
				got, err := p.Bool(event, async)
				require.NoError(t, err, src)
				require.Equal(t, b, got, src)
			}
		})
	}
}
