package checker

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Summary is the result of a run. [Checker.Verify] returns it; the command
// prints it and writes it as JSON with -summary-json.
type Summary struct {
	RunID           string  `json:"run_id"`
	Tenant          string  `json:"tenant"`
	Series          int     `json:"series"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// WriteSeconds is how long the run pushed.
	WriteSeconds float64 `json:"write_seconds"`

	Counts

	// SamplesAcknowledged counts the samples of acknowledged pushes.
	SamplesAcknowledged uint64 `json:"samples_acknowledged"`
	// SamplesReadBack counts the distinct samples of the run read back.
	SamplesReadBack uint64 `json:"samples_read_back"`
	// SamplesLost counts acknowledged samples not read back: must be 0.
	SamplesLost uint64 `json:"samples_lost"`
	// ValueMismatches counts samples read back with another value than
	// pushed (during the run or at the end): must be 0.
	ValueMismatches uint64 `json:"value_mismatches"`
	// ReadBackUnacknowledged counts samples read back whose push was never
	// acknowledged: allowed, a failed push may have been partly written.
	ReadBackUnacknowledged uint64 `json:"read_back_unacknowledged"`
	// Phantoms counts samples read back that were never pushed: must be 0.
	Phantoms uint64 `json:"phantoms"`
	// FinalAttempts is the number of final read-backs (repeated while
	// queries failed or samples were missing).
	FinalAttempts int `json:"final_attempts"`
	// LostExamples names the first few lost samples.
	LostExamples []string `json:"lost_examples,omitempty"`
}

func (c *Checker) summary(t *tally, attempts int) *Summary {
	end := c.stopped
	if end.IsZero() {
		end = time.Now()
	}
	lost, examples := t.missing()
	s := &Summary{
		RunID:                  c.runID,
		Tenant:                 c.cfg.Tenant,
		Series:                 c.cfg.Series,
		IntervalSeconds:        c.cfg.Interval.Seconds(),
		WriteSeconds:           end.Sub(c.started).Seconds(),
		Counts:                 c.Progress(),
		SamplesAcknowledged:    uint64(t.expectedCount()),
		SamplesReadBack:        uint64(t.readBack),
		SamplesLost:            uint64(lost),
		ReadBackUnacknowledged: uint64(t.unacked),
		FinalAttempts:          attempts,
	}
	c.wrongMu.Lock()
	s.ValueMismatches = uint64(len(c.mismatches))
	s.Phantoms = uint64(len(c.phantoms))
	c.wrongMu.Unlock()
	for _, k := range examples {
		s.LostExamples = append(s.LostExamples, k.String())
	}
	return s
}

// OK reports whether every acknowledged sample was read back unchanged
// and nothing unknown was read.
func (s *Summary) OK() bool {
	return s.SamplesLost == 0 && s.ValueMismatches == 0 && s.Phantoms == 0
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	verdict := "OK: every acknowledged sample was read back unchanged"
	if !s.OK() {
		verdict = fmt.Sprintf("FAILED: %d acknowledged samples lost, %d values mismatched, %d samples never pushed", s.SamplesLost, s.ValueMismatches, s.Phantoms)
	}
	_, err := fmt.Fprintf(w, `run %s, tenant %s: %d series every %s for %.1fs
pushes:   %d sent, %d acknowledged, %d retried (%d retries: %d×5xx, %d×429, %d without answer), %d refused (4xx), %d unacknowledged at the end
samples:  %d acknowledged, %d read back, %d lost, %d value mismatches, %d read back unacknowledged, %d never pushed
queries:  %d checks during the run (%d incomplete), %d query failures, %d final read-backs
%s
`,
		s.RunID, s.Tenant, s.Series, time.Duration(s.IntervalSeconds*float64(time.Second)), s.WriteSeconds,
		s.Pushes, s.PushesAcknowledged, s.PushesRetried, s.Retries, s.Responses5xx, s.Responses429, s.TransportErrors, s.PushesFailed, s.PushesUnacknowledged,
		s.SamplesAcknowledged, s.SamplesReadBack, s.SamplesLost, s.ValueMismatches, s.ReadBackUnacknowledged, s.Phantoms,
		s.PeriodicChecks, s.PeriodicIncomplete, s.QueryFailures, s.FinalAttempts,
		verdict)
	if err != nil {
		return err
	}
	for _, e := range s.LostExamples {
		if _, err := fmt.Fprintf(w, "lost: %s\n", e); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes s as indented JSON to path.
func (s *Summary) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}
