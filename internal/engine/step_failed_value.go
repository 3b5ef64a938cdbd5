package engine

import (
	"errors"
	"fmt"

	"github.com/riverflow/flow/internal/dberr"
)

// failedValue is the value a step's function returned together with its
// error. Inngest hands a step's function both when the step fails for good,
// so the step stores the value beside its error and every replay returns
// the same pair. ok is false when there is no value to keep: the function
// panicked, returned a nil interface, or the failure was the library's (a
// refused transaction, a result the database would not store).
type failedValue struct {
	val any
	ok  bool
}

// storeFailedValue stores r, a step's final failure, with val encoded as a
// success's result is (JSON, within Config.MaxStepOutputBytes), and sets
// r.output to it. A value that cannot be encoded, or that the database
// refuses, is left out and the reason is added to the step's stored message
// (r.err), so that neither the step's own error nor why its value is
// missing is lost; *cause then also wraps that reason.
func (s *Segment) storeFailedValue(r *stepRecord, cause *error, val any) error {
	out, encErr := s.encodeOutput(r.id, val)
	if encErr == nil {
		r.output = out
		err := s.saveFenced(*r)
		if err == nil || IsSuspend(err) || !dberr.IsPermanent(err) {
			return err
		}
		encErr = err // the database refused the value: store the failure without it
	}
	msg := storableText(fmt.Sprintf("%s (its value was not stored: %v)", *r.err, unwrapNonRetriable(encErr)))
	r.err, r.output = &msg, nil
	*cause = errors.Join(*cause, encErr)
	return s.mustSave(*r)
}

// unwrapNonRetriable returns the error NonRetriable wrapped, or err.
func unwrapNonRetriable(err error) error {
	var nr *nonRetriableError
	if errors.As(err, &nr) {
		return nr.err
	}
	return err
}

// stepErrorOutput returns the value stored with the step's failure when err
// is its *StepError, or nil.
func stepErrorOutput(err error) []byte {
	var se *StepError
	if errors.As(err, &se) && se.output != "" {
		return []byte(se.output)
	}
	return nil
}
