package flow

import (
	"context"
)

// Func is a function made with Define: CreateFunction's typed twin. In is
// the type of its event's data, Out the type of its handler's output, so
// that Start and Func.Invoke check both at compile time.
type Func[In, Out any] struct {
	fn *Function
}

// Define defines a durable function on the client, as CreateFunction does,
// whose handler returns an Out, and returns its typed handle. Its options,
// trigger (NoTrigger for a function started only by Start or Invoke) and
// errors are CreateFunction's.
func Define[In, Out any](c *Client, opts FunctionOpts, trigger Trigger, handler func(ctx context.Context, in Input[In]) (Out, error)) (*Func[In, Out], error) {
	var call func(ctx context.Context, in Input[In]) (any, error)
	if handler != nil {
		call = func(ctx context.Context, in Input[In]) (any, error) {
			out, err := handler(ctx, in)
			if err != nil {
				return nil, err
			}
			return out, nil
		}
	}
	fn, err := CreateFunction(c, opts, trigger, call)
	if err != nil {
		return nil, err
	}
	return &Func[In, Out]{fn: fn}, nil
}

// Function returns the untyped handle (its ID and Name; the package-level
// Invoke and Client.StartFunction take it).
func (f *Func[In, Out]) Function() *Function { return f.fn }

// Invoke runs f as a child run of the run in ctx with data as its event's
// data, and returns its output: Invoke[Out](ctx, stepID, f.Function(), data,
// opts), with the types checked at compile time. See Invoke.
func (f *Func[In, Out]) Invoke(ctx context.Context, stepID string, data In, opts InvokeOpts) (Out, error) {
	var fn *Function
	if f != nil {
		fn = f.fn
	}
	return Invoke[Out](ctx, stepID, fn, data, opts)
}
