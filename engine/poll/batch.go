package poll

import "context"

// BatchReader is a Reader that can read many attributes in one request,
// as the household smart-home API's POST /api/phoenix/state does. When
// Options.Reader is one, the poller reads every target due at the same
// time, and those due within the coalescing window (Options.Coalesce),
// with one ReadMany call of at most MaxBatch reads; the budget
// (Options.Rate, Options.Concurrency) counts that call as one request.
//
// A result's Err is classified per target as a single read's error is
// (see Reader): unreachable, not found, retryable (the whole batch then
// backs off together) or other. An error of the whole request is the Err
// of every result.
type BatchReader interface {
	Reader
	// ReadMany reads every (EndpointID, Attr) pair with as few requests
	// as the backend allows; results in the same order as reads.
	ReadMany(ctx context.Context, reads []Read) []ReadResult
	// MaxBatch is the most reads one ReadMany call may carry (below 1
	// counts as 1).
	MaxBatch() int
}

// Read is one attribute of one endpoint to read in a batch.
type Read struct{ EndpointID, Attr string }

// ReadResult is the answer to one Read: the value as Reader.Get returns
// it, or the error.
type ReadResult struct {
	Value any
	Err   error
}
