// Package dbsqlc is the Go that sqlc generates from queries/ and sql/
// (sqlc.yaml): one method per named query, each taking the DBTX to run on.
// Only internal/store uses it; regenerate with
// `go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate`, never edit.
package dbsqlc
