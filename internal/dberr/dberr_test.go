package dberr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/dberr"
)

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"22P05": true,  // untranslatable character
		"23505": true,  // unique violation
		"54000": true,  // program limit exceeded
		"42601": true,  // syntax error
		"42P01": false, // undefined table: a migration still to apply
		"42883": false, // undefined function
		"08006": false, // connection failure
		"40001": false, // serialization failure
	} {
		err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})
		require.Equal(t, want, dberr.IsPermanent(err), "SQLSTATE %s", code)
	}
	require.False(t, dberr.IsPermanent(errors.New("not a database error")))
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"08006": true, "57P01": true, "53300": true, "57014": true,
		"40001": true, "40P01": true, "55P03": true,
		"22P05": false, "23505": false,
	} {
		require.Equal(t, want, dberr.IsTransient(&pgconn.PgError{Code: code}), "SQLSTATE %s", code)
	}
	require.True(t, dberr.IsTransient(context.Canceled))
	require.True(t, dberr.IsTransient(fmt.Errorf("read: %w", io.ErrUnexpectedEOF)))
	require.False(t, dberr.IsTransient(errors.New("not a database error")))
}

func TestWithDetail(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("store: %w", &pgconn.PgError{Code: "22P05", Message: "unsupported Unicode escape sequence", Detail: `\u0000 cannot be converted to text.`})
	got := dberr.WithDetail(err)
	require.ErrorIs(t, got, err)
	require.Contains(t, got.Error(), `\u0000 cannot be converted to text.`)
	require.Equal(t, got, dberr.WithDetail(got), "the detail is added once")
	plain := errors.New("no detail")
	require.Equal(t, plain, dberr.WithDetail(plain))
}
