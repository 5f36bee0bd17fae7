package checker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// maxSamplesPerQuery bounds the samples one read-back query returns.
const maxSamplesPerQuery = 100_000

// maxExamples is how many lost or wrong samples a report names.
const maxExamples = 10

// sampleKey names one sample of the run.
type sampleKey struct {
	series int
	ts     int64
}

func (k sampleKey) String() string {
	return fmt.Sprintf("series=%d@%d (%s)", k.series, k.ts, time.UnixMilli(k.ts).UTC().Format(time.RFC3339Nano))
}

// tally sorts the samples read back against the pushes of the ledger.
type tally struct {
	pushes []pushRecord
	index  map[int64]int // ts → position in pushes
	series int
	// expected reports whether a push's samples must be read back.
	expected func(p pushRecord) bool
	found    []bool // position*series + series index

	readBack, unacked int
	mismatches        []sampleKey
	phantoms          []sampleKey
}

func newTally(pushes []pushRecord, series int, expected func(pushRecord) bool) *tally {
	t := &tally{pushes: pushes, index: make(map[int64]int, len(pushes)), series: series, expected: expected, found: make([]bool, len(pushes)*series)}
	for i, p := range pushes {
		t.index[p.ts] = i
	}
	return t
}

// add sorts the samples of m with timestamps in [from, to].
func (t *tally) add(m model.Matrix, from, to int64) {
	for _, s := range m {
		idx, err := strconv.Atoi(string(s.Metric[seriesLabel]))
		for _, v := range s.Values {
			ts := int64(v.Timestamp)
			if ts < from || ts > to {
				continue // Another window's.
			}
			key := sampleKey{series: idx, ts: ts}
			pos, sent := t.index[ts]
			if err != nil || idx < 0 || idx >= t.series || !sent {
				t.readBack++
				t.phantoms = append(t.phantoms, key)
				continue
			}
			if t.found[pos*t.series+idx] {
				continue // The same sample twice: counted once.
			}
			t.found[pos*t.series+idx] = true
			t.readBack++
			if float64(v.Value) != Value(idx, ts) {
				t.mismatches = append(t.mismatches, key)
			}
			if !t.pushes[pos].acked {
				t.unacked++
			}
		}
	}
}

// missing returns the number of expected samples not read back and the
// first few of them.
func (t *tally) missing() (int, []sampleKey) {
	n := 0
	var examples []sampleKey
	for pos, p := range t.pushes {
		if !t.expected(p) {
			continue
		}
		for idx := range t.series {
			if t.found[pos*t.series+idx] {
				continue
			}
			n++
			if len(examples) < maxExamples {
				examples = append(examples, sampleKey{series: idx, ts: p.ts})
			}
		}
	}
	return n, examples
}

// expectedCount is the number of samples the tally expects.
func (t *tally) expectedCount() int {
	n := 0
	for _, p := range t.pushes {
		if t.expected(p) {
			n += t.series
		}
	}
	return n
}

// readRange reads the run's samples with timestamps in [from, to] back,
// one query per window of at most maxSamplesPerQuery samples, and hands
// each window's answer to visit.
func (c *Checker) readRange(ctx context.Context, from, to int64, visit func(m model.Matrix, from, to int64)) error {
	span := c.cfg.Interval.Milliseconds() * int64(max(1, maxSamplesPerQuery/c.cfg.Series))
	span = max(span, 1)
	for lo := from; lo <= to; lo += span {
		hi := min(lo+span-1, to)
		m, err := c.query(ctx, lo, hi)
		if err != nil {
			return err
		}
		visit(m, lo, hi)
	}
	return nil
}

// query returns the raw samples of the run in [from, to], and possibly a
// few before (the caller filters): a range selector evaluated at to, one
// second longer than the window, covers it whether the server's ranges are
// closed at their start (Prometheus 2) or open (Prometheus 3).
func (c *Checker) query(ctx context.Context, from, to int64) (model.Matrix, error) {
	expr := fmt.Sprintf(`%s{%s=%q}[%dms]`, MetricName, runIDLabel, c.runID, to-from+1+1000)
	qctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	v, _, _, err := c.api.Query(qctx, expr, time.UnixMilli(to))
	if err != nil {
		// A read-back cut short because the run ended is not the
		// backend's failure; its own timeout is.
		if ctx.Err() == nil {
			c.counts.queryFailures.Add(1)
		}
		return nil, fmt.Errorf("querying %s at %d: %w", expr, to, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		c.counts.queryFailures.Add(1)
		return nil, fmt.Errorf("querying %s: got a %s, want a matrix", expr, v.Type())
	}
	return m, nil
}

// periodicLoop checks the recent samples every CheckInterval until ctx
// ends.
func (c *Checker) periodicLoop(ctx context.Context) {
	for sleep(ctx, c.cfg.CheckInterval) {
		c.periodicCheck(ctx)
	}
}

// periodicCheck reads back the last CheckSpan and expects every sample
// acknowledged at least Settle before the check started.
func (c *Checker) periodicCheck(ctx context.Context) {
	now := time.Now()
	cutoff := now.Add(-c.cfg.Settle)
	pushes := c.ledger.snapshot()
	expected := func(p pushRecord) bool { return p.acked && !p.ackedAt.After(cutoff) }
	// The window: from the first push in the span to the last expected one.
	first := slices.IndexFunc(pushes, func(p pushRecord) bool { return p.ts >= now.Add(-c.cfg.CheckSpan).UnixMilli() })
	last := -1
	for i := len(pushes) - 1; i >= max(first, 0); i-- {
		if expected(pushes[i]) {
			last = i
			break
		}
	}
	if first < 0 || last < first {
		return // Nothing to expect yet.
	}
	pushes = pushes[first : last+1]
	t := newTally(pushes, c.cfg.Series, expected)
	if err := c.readRange(ctx, pushes[0].ts, pushes[len(pushes)-1].ts, t.add); err != nil {
		if ctx.Err() == nil {
			c.logger.Warn("Read-back during the run failed", "err", err)
		}
		return
	}
	c.counts.periodicChecks.Add(1)
	c.recordWrong(t)
	if n, examples := t.missing(); n > 0 {
		c.counts.periodicIncomplete.Add(1)
		c.logger.Warn("Acknowledged samples missing from a read-back during the run", "missing", n, "expected", t.expectedCount(), "settle", c.cfg.Settle, "examples", fmt.Sprint(examples))
	}
}

// recordWrong adds the mismatches and phantoms of t to the run's.
func (c *Checker) recordWrong(t *tally) {
	c.wrongMu.Lock()
	defer c.wrongMu.Unlock()
	for _, k := range t.mismatches {
		if _, seen := c.mismatches[k]; !seen {
			c.mismatches[k] = struct{}{}
			if len(c.mismatches) <= maxExamples {
				c.logger.Warn("Value read back differs from the value pushed", "sample", k.String(), "want", Value(k.series, k.ts))
			}
		}
	}
	for _, k := range t.phantoms {
		if _, seen := c.phantoms[k]; !seen {
			c.phantoms[k] = struct{}{}
			if len(c.phantoms) <= maxExamples {
				c.logger.Warn("Sample read back was never pushed", "sample", k.String())
			}
		}
	}
}
