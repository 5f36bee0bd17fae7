package querier

import (
	"bytes"
	"container/heap"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// Chunk is one compressed chunk of a series as an ingester or the chunk
// store returns it. Data is not copied: it must stay unchanged for as long as
// a series built on it is iterated.
type Chunk struct {
	MinTime, MaxTime int64
	Encoding         chunkenc.Encoding
	Data             []byte
}

// ChunkSeries is a series whose samples are in chunks, possibly from several
// replicas that overlap. It implements [storage.Series]; its iterator yields
// every distinct timestamp in [mint, maxt] once, in order.
type ChunkSeries struct {
	lset       labels.Labels
	chunks     []Chunk
	mint, maxt int64
}

var _ storage.Series = (*ChunkSeries)(nil)

// MergeChunks returns the series lset whose samples are those of chunks
// (from any number of replicas, in any order) between mint and maxt
// inclusive, deduplicated by timestamp. Byte-identical chunks, which replicas
// that received the same samples produce, are kept once. chunks is sorted
// in place and retained.
func MergeChunks(lset labels.Labels, chunks []Chunk, mint, maxt int64) *ChunkSeries {
	slices.SortFunc(chunks, func(a, b Chunk) int {
		switch {
		case a.MinTime != b.MinTime:
			return cmpInt64(a.MinTime, b.MinTime)
		case a.MaxTime != b.MaxTime:
			return cmpInt64(a.MaxTime, b.MaxTime)
		case a.Encoding != b.Encoding:
			return int(a.Encoding) - int(b.Encoding)
		}
		return bytes.Compare(a.Data, b.Data)
	})
	chunks = slices.CompactFunc(chunks, func(a, b Chunk) bool {
		return a.MinTime == b.MinTime && a.MaxTime == b.MaxTime && a.Encoding == b.Encoding && bytes.Equal(a.Data, b.Data)
	})
	return &ChunkSeries{lset: lset, chunks: chunks, mint: mint, maxt: maxt}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Labels returns the series' labels.
func (s *ChunkSeries) Labels() labels.Labels { return s.lset }

// Iterator returns an iterator over the merged samples, reusing it when it
// is one this package returned before.
func (s *ChunkSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	m, ok := it.(*mergeIterator)
	if !ok {
		m = &mergeIterator{}
	}
	m.reset(s.chunks, s.mint, s.maxt)
	return m
}

// chunkIter is one open chunk, positioned on a sample (t, typ).
type chunkIter struct {
	it  chunkenc.Iterator
	t   int64
	typ chunkenc.ValueType
	id  int // the order in which chunks were opened; tells iterators apart
}

type iterHeap []*chunkIter

func (h iterHeap) Len() int { return len(h) }
func (h iterHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].id < h[j].id
}
func (h iterHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *iterHeap) Push(x any)   { *h = append(*h, x.(*chunkIter)) }
func (h *iterHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// mergeIterator walks chunks sorted by MinTime, opening each only when the
// samples reach it, so non-overlapping chunks (the common case once identical
// replica chunks are dropped) are read one after the other with a heap of
// one. Overlapping chunks are merged through the heap; of several samples
// with one timestamp the first opened chunk's wins and the others are
// skipped.
type mergeIterator struct {
	chunks     []Chunk
	mint, maxt int64
	next       int // index of the first chunk not yet opened
	nextID     int
	h          iterHeap
	free       []*chunkIter

	cur     *chunkIter
	curT    int64
	started bool
	done    bool
	err     error
	prevID  int // id of the iterator of the previous sample
	// consecutive is whether a histogram's counter-reset hint, which is
	// relative to the previous sample of its own chunk, still holds: the
	// current sample comes from the same chunk as the previous one, or from
	// the only chunk open (no replica overlaps), as in Prometheus's own
	// storage. Otherwise the hint becomes unknown, as Prometheus's merge of
	// overlapping blocks does.
	consecutive bool
}

var _ chunkenc.Iterator = (*mergeIterator)(nil)

func (m *mergeIterator) reset(chunks []Chunk, mint, maxt int64) {
	for _, c := range m.h {
		m.free = append(m.free, c)
	}
	m.h = m.h[:0]
	m.chunks, m.mint, m.maxt = chunks, mint, maxt
	m.next, m.nextID = 0, 0
	m.cur, m.curT, m.started, m.done, m.err = nil, 0, false, false, nil
	m.prevID, m.consecutive = -1, false
}

func (m *mergeIterator) Next() chunkenc.ValueType {
	if m.done {
		return chunkenc.ValNone
	}
	if m.started && len(m.h) == 1 {
		// One chunk open, the common case once replicas are merged: it moves
		// on, and unless the next chunk may start at or before its next
		// sample, that sample is the merged one, with no heap work.
		c := m.h[0]
		m.prevID = c.id
		typ := c.it.Next()
		if typ == chunkenc.ValNone {
			if err := c.it.Err(); err != nil {
				return m.fail(err)
			}
			m.h = m.h[:0]
			m.free = append(m.free, c)
			return m.fill(m.curT+1, true)
		}
		c.t, c.typ = c.it.AtT(), typ
		if c.t <= m.maxt && (m.next == len(m.chunks) || m.chunks[m.next].MinTime > c.t) {
			m.curT = c.t
			m.consecutive = true
			return typ
		}
		return m.fill(m.curT+1, true)
	}
	floor := m.mint
	if m.started {
		floor = m.curT + 1
		m.prevID = m.cur.id
		// Every open chunk positioned on the current timestamp moves on:
		// the one that was emitted and its duplicates.
		for len(m.h) > 0 && m.h[0].t < floor {
			c := m.h[0]
			if !m.advance(c, c.it.Next()) {
				return chunkenc.ValNone
			}
		}
	}
	return m.fill(floor, true)
}

// millis is a timestamp in milliseconds. Seek's parameter is spelt with it
// only because go vet's stdmethods check takes any Seek(int64 ...) for a
// broken io.Seeker; the alias is the same type, so chunkenc.Iterator is
// implemented all the same.
type millis = int64

func (m *mergeIterator) Seek(t millis) chunkenc.ValueType {
	if m.done {
		return chunkenc.ValNone
	}
	if m.started && m.curT >= t {
		return m.cur.typ
	}
	floor := max(t, m.mint)
	if m.started {
		floor = max(floor, m.curT+1)
	}
	for i := 0; i < len(m.h); {
		c := m.h[i]
		if c.t >= floor {
			i++
			continue
		}
		if typ := c.it.Seek(floor); typ != chunkenc.ValNone {
			c.t, c.typ = c.it.AtT(), typ
			i++
			continue
		}
		if err := c.it.Err(); err != nil {
			return m.fail(err)
		}
		m.h[i] = m.h[len(m.h)-1]
		m.h = m.h[:len(m.h)-1]
		m.free = append(m.free, c)
	}
	heap.Init(&m.h)
	return m.fill(floor, false)
}

// advance moves the heap's top after c.it returned typ: it re-sorts the
// heap, or drops c when it is exhausted. It reports false on an error.
func (m *mergeIterator) advance(c *chunkIter, typ chunkenc.ValueType) bool {
	if typ == chunkenc.ValNone {
		if err := c.it.Err(); err != nil {
			m.fail(err)
			return false
		}
		heap.Pop(&m.h)
		m.free = append(m.free, c)
		return true
	}
	c.t, c.typ = c.it.AtT(), typ
	heap.Fix(&m.h, 0)
	return true
}

// fill opens the chunks that may hold the next sample at or after floor and
// positions the iterator on it.
func (m *mergeIterator) fill(floor int64, fromNext bool) chunkenc.ValueType {
	for m.next < len(m.chunks) {
		ch := &m.chunks[m.next]
		if len(m.h) > 0 && ch.MinTime > m.h[0].t {
			break
		}
		if ch.MinTime > m.maxt {
			m.next = len(m.chunks)
			break
		}
		m.next++
		if ch.MaxTime < floor {
			continue
		}
		c, err := m.open(ch)
		if err != nil {
			return m.fail(err)
		}
		typ := c.it.Seek(floor)
		if typ == chunkenc.ValNone {
			m.free = append(m.free, c)
			if err := c.it.Err(); err != nil {
				return m.fail(err)
			}
			continue
		}
		c.t, c.typ = c.it.AtT(), typ
		heap.Push(&m.h, c)
	}
	if len(m.h) == 0 || m.h[0].t > m.maxt {
		m.done = true
		m.cur = nil
		return chunkenc.ValNone
	}
	m.cur = m.h[0]
	m.curT = m.cur.t
	m.started = true
	m.consecutive = len(m.h) == 1 || (fromNext && m.cur.id == m.prevID)
	return m.cur.typ
}

func (m *mergeIterator) open(ch *Chunk) (*chunkIter, error) {
	chk, err := chunkenc.FromData(ch.Encoding, ch.Data)
	if err != nil {
		return nil, err
	}
	var c *chunkIter
	if n := len(m.free); n > 0 {
		c = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		c = &chunkIter{}
	}
	c.it = chk.Iterator(c.it)
	c.id = m.nextID
	m.nextID++
	return c, nil
}

func (m *mergeIterator) fail(err error) chunkenc.ValueType {
	m.err = err
	m.done = true
	m.cur = nil
	return chunkenc.ValNone
}

func (m *mergeIterator) At() (int64, float64) { return m.cur.it.At() }

func (m *mergeIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := m.cur.it.AtHistogram(h)
	if !m.consecutive && h.CounterResetHint != histogram.GaugeType {
		h.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, h
}

func (m *mergeIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := m.cur.it.AtFloatHistogram(fh)
	if !m.consecutive && fh.CounterResetHint != histogram.GaugeType {
		fh.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, fh
}

func (m *mergeIterator) AtT() int64  { return m.curT }
func (m *mergeIterator) AtST() int64 { return m.cur.it.AtST() }
func (m *mergeIterator) Err() error  { return m.err }

// sliceSeriesSet is a [storage.SeriesSet] over series already sorted.
type sliceSeriesSet struct {
	series   []storage.Series
	i        int
	warnings annotations.Annotations
}

func (s *sliceSeriesSet) Next() bool {
	if s.i >= len(s.series) {
		return false
	}
	s.i++
	return true
}

func (s *sliceSeriesSet) At() storage.Series { return s.series[s.i-1] }
func (s *sliceSeriesSet) Err() error         { return nil }
func (s *sliceSeriesSet) Warnings() annotations.Annotations {
	return s.warnings
}
