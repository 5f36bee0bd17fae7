package checker

import (
	"fmt"
	"strconv"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// MetricName is the metric name of every series the checker writes.
const MetricName = "hearth_check_sample"

// Labels of the written series besides the metric name.
const (
	runIDLabel  = "run_id"
	seriesLabel = "series"
)

// Value is the value of series at timestamp ts (milliseconds): an integer
// below 10^9 mixed from both (exact in a float64 and in any text format),
// so a value read back under the wrong series or timestamp does not match.
func Value(series int, ts int64) float64 {
	// SplitMix64's finaliser.
	z := uint64(ts)*0x9e3779b97f4a7c15 ^ uint64(series+1)*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z % 1_000_000_000)
}

// encoder builds the remote-write request of one tick.
type encoder struct {
	req prompb.WriteRequest
}

func newEncoder(runID string, series int) *encoder {
	e := &encoder{}
	e.req.Timeseries = make([]prompb.TimeSeries, series)
	for i := range e.req.Timeseries {
		// Sorted by name, as remote-write requires.
		e.req.Timeseries[i] = prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: MetricName},
				{Name: runIDLabel, Value: runID},
				{Name: seriesLabel, Value: strconv.Itoa(i)},
			},
			Samples: make([]prompb.Sample, 1),
		}
	}
	return e
}

// encode returns the snappy-compressed request carrying every series'
// sample at ts. The result is a new slice, owned by the caller.
func (e *encoder) encode(ts int64) ([]byte, error) {
	for i := range e.req.Timeseries {
		e.req.Timeseries[i].Samples[0] = prompb.Sample{Timestamp: ts, Value: Value(i, ts)}
	}
	raw, err := e.req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding write request: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}
