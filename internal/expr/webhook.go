package expr

import (
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Webhook transforms: a CEL expression that turns an incoming HTTP request
// into events (package eventapi). It has its own environment, with the
// request's parts as variables instead of events, and the same null
// semantics, numeric comparisons and cost limit as conditions:
//
//   - body: the request body decoded as JSON (null when it is empty or not
//     JSON; JSON numbers are doubles);
//   - headers: map(string, dyn), each header by its lower-case name, several
//     values joined by ", " (an absent header is null);
//   - query: map(string, dyn), the URL's query parameters, first value each;
//   - raw: the body as a string.

var (
	webhookEnvOnce sync.Once
	webhookEnv     *cel.Env
	webhookEnvErr  error
)

func celWebhookEnv() (*cel.Env, error) {
	webhookEnvOnce.Do(func() {
		obj := cel.MapType(cel.StringType, cel.DynType)
		webhookEnv, webhookEnvErr = cel.NewEnv(
			cel.Variable("body", cel.DynType),
			cel.Variable("headers", obj),
			cel.Variable("query", obj),
			cel.Variable("raw", cel.StringType),
			cel.CustomTypeAdapter(jsonAdapter{}),
			cel.CrossTypeNumericComparisons(true),
		)
		if webhookEnvErr != nil {
			webhookEnvErr = fmt.Errorf("expr: building CEL webhook environment: %w", webhookEnvErr)
			return
		}
		// The same cel-go race as in celEnv: build the symbol catalog before
		// the environment is shared.
		_, _ = webhookEnv.Compile("flow_expr_warmup_undeclared")
	})
	return webhookEnv, webhookEnvErr
}

// WebhookProgram is a compiled webhook transform. It is safe for concurrent
// use.
type WebhookProgram struct {
	src   string
	prg   cel.Program
	limit uint64
}

// CompileWebhook parses and type-checks a webhook transform; limit bounds
// each evaluation's cost as in [Compile].
func CompileWebhook(src string, limit uint64) (*WebhookProgram, error) {
	e, err := celWebhookEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := e.Compile(src)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("expr: %q: %w", src, err)
	}
	prg, err := e.Program(ast, cel.CustomDecoratorV2(decorate), cel.CostLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("expr: %q: %w", src, err)
	}
	return &WebhookProgram{src: src, prg: prg, limit: limit}, nil
}

// WebhookInput is a request as a transform sees it. Body is the decoded JSON
// body (nil for none); Headers and Query map names to values.
type WebhookInput struct {
	Body    any
	Headers map[string]any
	Query   map[string]any
	Raw     string
}

// Value evaluates the transform and returns its result as Go values (see
// [Program.Value]).
func (p *WebhookProgram) Value(in WebhookInput) (any, error) {
	act := &webhookActivation{
		body:    jsonAdapter{}.NativeToValue(in.Body),
		headers: jsonAdapter{}.NativeToValue(nonNil(in.Headers)),
		query:   jsonAdapter{}.NativeToValue(nonNil(in.Query)),
		raw:     types.String(in.Raw),
	}
	if in.Body == nil {
		act.body = missing
	}
	out, _, err := p.prg.Eval(act)
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return nil, fmt.Errorf("expr: %q: %w (limit %d)", p.src, ErrCostLimit, p.limit)
		}
		return nil, fmt.Errorf("expr: %q: %w", p.src, err)
	}
	if types.IsUnknown(out) {
		return nil, fmt.Errorf("expr: %q: result is unknown", p.src)
	}
	v, err := toGo(out)
	if err != nil {
		return nil, fmt.Errorf("expr: %q: %w", p.src, err)
	}
	return v, nil
}

// String returns the transform's source.
func (p *WebhookProgram) String() string { return p.src }

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// webhookActivation binds a webhook transform's variables.
type webhookActivation struct {
	body, headers, query, raw ref.Val
}

func (a *webhookActivation) ResolveName(name string) (any, bool) {
	switch name {
	case "body":
		return a.body, true
	case "headers":
		return a.headers, true
	case "query":
		return a.query, true
	case "raw":
		return a.raw, true
	}
	return nil, false
}

func (a *webhookActivation) Parent() interpreter.Activation { return nil }
