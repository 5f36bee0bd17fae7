package querier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// selectIngesters fans QueryStream out and returns the series, each with
// the chunks of every replica, sorted by labels if sorted is set. Each
// message is merged as it arrives, so merging overlaps the ingesters'
// work instead of waiting for the last answer.
func (q *Queryable) selectIngesters(ctx context.Context, mint, maxt int64, skipChunks, sorted bool, matchers []*labels.Matcher) ([]seriesChunks, error) {
	pbMatchers, err := ingesterpb.FromLabelMatchers(matchers)
	if err != nil {
		return nil, err
	}
	rs, err := q.readSet(ctx, "query_stream")
	if err != nil {
		return nil, err
	}
	m := newReplicaMerger(len(rs.Instances), hashPairs)
	req := &ingesterpb.QueryRequest{StartMs: mint, EndMs: maxt, Matchers: pbMatchers, SkipChunks: skipChunks}
	_, err = q.do(ctx, "query_stream", rs, func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		return nil, queryStream(ctx, c, req, m.add)
	})
	// Calls that Do stopped waiting for may still be receiving: close
	// before reading what was merged.
	out, nChunks, nBytes := m.close()
	if err != nil {
		return nil, err
	}
	q.metrics.fetchedSeries.Add(float64(len(out)))
	q.metrics.fetchedChunks.Add(float64(nChunks))
	q.metrics.fetchedChunkBytes.Add(float64(nBytes))
	if sorted {
		slices.SortFunc(out, func(a, b seriesChunks) int { return labels.Compare(a.lset, b.lset) })
	}
	return out, nil
}

// queryStream reads one ingester's answer, handing each message to add.
func queryStream(ctx context.Context, c ingesterpb.IngesterClient, req *ingesterpb.QueryRequest, add func([]ingesterpb.ChunkSeries) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // Ends the stream on an early return.
	stream, err := c.QueryStream(ctx, req)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := add(resp.Series); err != nil {
			return err
		}
	}
}

// errMergeClosed answers a message that arrives after the merge was read.
var errMergeClosed = errors.New("query stream: the merge of replicas is closed")

// replicaMerger gathers the chunks of each series from every ingester's
// answer into one entry per series. It is safe for concurrent use: the
// answers of several ingesters arrive at once. Series are found by a
// 64-bit hash of their labels (hashPairs; tests pass one that collides),
// checked against the labels on a hit. A single answer (RF=1, or one
// ingester holding the series) has each series once and needs no lookup.
// Series keep the labels and chunk bytes of the messages they came in.
type replicaMerger struct {
	mu      sync.Mutex
	closed  bool
	hash    func([]ingesterpb.LabelPair) uint64
	answers int
	out     []seriesChunks
	first   [][]ingesterpb.LabelPair // out[i]'s labels as the wire had them.
	byHash  map[uint64]int           // Index in out by label hash.
	// collided holds, by exact key, series whose hash another series had
	// first.
	collided map[string]int
	// arena backs series' chunks, a growing array at a time; a series
	// keeps room for as many chunks again from each other answer.
	arena           []Chunk
	nChunks, nBytes int
	b               labels.ScratchBuilder
	addSeries       func(*ingesterpb.ChunkSeries) error
}

func newReplicaMerger(answers int, hash func([]ingesterpb.LabelPair) uint64) *replicaMerger {
	m := &replicaMerger{hash: hash, answers: max(answers, 1)}
	m.addSeries = m.append
	if answers > 1 {
		m.byHash = map[uint64]int{}
		m.collided = map[string]int{}
		m.addSeries = m.lookup
	}
	return m
}

// add merges one message's series.
func (m *replicaMerger) add(msg []ingesterpb.ChunkSeries) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMergeClosed
	}
	for i := range msg {
		if err := m.addSeries(&msg[i]); err != nil {
			return err
		}
		m.nChunks += len(msg[i].Chunks)
		for _, c := range msg[i].Chunks {
			m.nBytes += len(c.Data)
		}
	}
	return nil
}

// close ends the merge and returns its series, with the number of chunks
// and chunk bytes received.
func (m *replicaMerger) close() (out []seriesChunks, nChunks, nBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return m.out, m.nChunks, m.nBytes
}

// lookup appends s's chunks to its series' entry, made on its first sight.
func (m *replicaMerger) lookup(s *ingesterpb.ChunkSeries) error {
	h := m.hash(s.Labels)
	idx, ok := m.byHash[h]
	if ok && !slices.EqualFunc(m.first[idx], s.Labels, sameLabel) {
		key := pairsKey(s.Labels)
		if idx, ok = m.collided[key]; !ok {
			m.collided[key] = len(m.out)
		}
	} else if !ok {
		m.byHash[h] = len(m.out)
	}
	if !ok {
		idx = len(m.out)
		m.out = append(m.out, seriesChunks{lset: m.labels(s.Labels), chunks: m.chunks(len(s.Chunks) * m.answers)})
		m.first = append(m.first, s.Labels)
	}
	return m.addChunks(&m.out[idx], s.Chunks)
}

// append gives s an entry of its own, for a single answer, which holds
// each series once.
func (m *replicaMerger) append(s *ingesterpb.ChunkSeries) error {
	m.out = append(m.out, seriesChunks{lset: m.labels(s.Labels), chunks: m.chunks(len(s.Chunks))})
	return m.addChunks(&m.out[len(m.out)-1], s.Chunks)
}

func (m *replicaMerger) addChunks(e *seriesChunks, chunks []ingesterpb.Chunk) error {
	for _, c := range chunks {
		enc, err := c.Encoding.ChunkEncoding()
		if err != nil {
			return fmt.Errorf("series %s: %w", e.lset, err)
		}
		e.chunks = append(e.chunks, Chunk{MinTime: c.MinTimeMs, MaxTime: c.MaxTimeMs, Encoding: enc, Data: c.Data})
	}
	return nil
}

// labels builds a series' labels. Ingesters send them sorted, which is
// checked rather than assumed.
func (m *replicaMerger) labels(pairs []ingesterpb.LabelPair) labels.Labels {
	ingesterpb.BuildLabels(&m.b, pairs, false)
	return m.b.Labels()
}

// chunks returns an empty slice with room for n chunks, cut from the
// arena; a full arena is replaced by one twice its size (slices already
// cut keep the old one).
func (m *replicaMerger) chunks(n int) []Chunk {
	l := len(m.arena)
	if l+n > cap(m.arena) {
		m.arena, l = make([]Chunk, 0, max(2*cap(m.arena), 1024, n)), 0
	}
	m.arena = m.arena[:l+n]
	return m.arena[l : l : l+n]
}

func hashPairs(ls []ingesterpb.LabelPair) uint64 {
	var d xxhash.Digest
	d.Reset()
	sep := []byte{0xff}
	for _, l := range ls {
		_, _ = d.WriteString(l.Name)
		_, _ = d.Write(sep)
		_, _ = d.WriteString(l.Value)
		_, _ = d.Write(sep)
	}
	return d.Sum64()
}

func sameLabel(a, b ingesterpb.LabelPair) bool { return a.Name == b.Name && a.Value == b.Value }

// pairsKey is an exact key for a label set, with lengths so that no two
// label sets share one.
func pairsKey(ls []ingesterpb.LabelPair) string {
	var k strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&k, "%d:%s%d:%s", len(l.Name), l.Name, len(l.Value), l.Value)
	}
	return k.String()
}
