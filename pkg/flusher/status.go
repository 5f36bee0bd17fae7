package flusher

import (
	"time"
)

// Status is the flush backlog as /ready shows it.
type Status struct {
	// QueueLength is the number of blocks not yet in the chunk store:
	// Waiting for a worker, or InProgress (retries included).
	QueueLength int `json:"queue_length"`
	Waiting     int `json:"blocks_waiting"`
	InProgress  int `json:"blocks_in_progress"`
	// OldestUnflushedAgeSeconds is the age of the oldest of those blocks
	// (since its compaction), 0 when there is none.
	OldestUnflushedAgeSeconds float64 `json:"oldest_unflushed_block_age_seconds"`
	// ConsecutiveFailures counts the failed flush attempts since the last
	// successful one; LastError is the last failure, at LastErrorTime.
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorTime       *time.Time `json:"last_error_time,omitempty"`
	// LastFlushTime is when a block was last entirely written.
	LastFlushTime *time.Time `json:"last_flush_time,omitempty"`
}

// outcomes are the recent flush results, guarded by Flusher.mu.
type outcomes struct {
	consecutiveFailures int
	lastErr             error
	lastErrAt           time.Time
	lastFlushAt         time.Time
}

// Status returns the flush backlog. It is safe to call at any time.
func (f *Flusher) Status() Status {
	age := f.oldestUnflushedAge()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{
		QueueLength:               len(f.pending),
		Waiting:                   len(f.queue),
		InProgress:                len(f.running),
		OldestUnflushedAgeSeconds: age,
		ConsecutiveFailures:       f.outcomes.consecutiveFailures,
	}
	if f.outcomes.lastErr != nil {
		s.LastError = f.outcomes.lastErr.Error()
		at := f.outcomes.lastErrAt
		s.LastErrorTime = &at
	}
	if !f.outcomes.lastFlushAt.IsZero() {
		at := f.outcomes.lastFlushAt
		s.LastFlushTime = &at
	}
	return s
}

// recordFailure notes a failed flush attempt.
func (f *Flusher) recordFailure(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes.consecutiveFailures++
	f.outcomes.lastErr = err
	f.outcomes.lastErrAt = f.now()
}

// recordFlush notes a block entirely written.
func (f *Flusher) recordFlush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes.consecutiveFailures = 0
	f.outcomes.lastFlushAt = f.now()
}
