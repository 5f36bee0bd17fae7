package distributor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// ShardKey returns the ring token of a series: a 32-bit hash of the tenant
// and every label name and value. scratch is reused for the hashed bytes
// and returned, so a caller that keeps it hashes without allocating.
func ShardKey(scratch []byte, t tenant.ID, labels []ingesterpb.LabelPair) (uint32, []byte) {
	b := append(scratch[:0], t...)
	b = append(b, 0xff)
	for i := range labels {
		b = append(b, labels[i].Name...)
		b = append(b, 0xfe)
		b = append(b, labels[i].Value...)
		b = append(b, 0xff)
	}
	h := xxhash.Sum64(b)
	return uint32(h) ^ uint32(h>>32), b
}

// metadataKey is the token of a metadata entry: tenant and family name.
func metadataKey(scratch []byte, t tenant.ID, name string) (uint32, []byte) {
	b := append(scratch[:0], t...)
	b = append(b, 0xfd)
	b = append(b, name...)
	h := xxhash.Sum64(b)
	return uint32(h) ^ uint32(h>>32), b
}

// outcome is how one ingester answered one Push.
type outcome int

const (
	outcomeOK   outcome = iota
	outcomeSoft         // stored what it could; refused some data for good
	outcomeFail         // failed, or refused data that may succeed later
)

var outcomeNames = [...]string{"ok", "soft_error", "error"}

// item tracks the replicas of one series or metadata entry.
type item struct {
	need, maxErrors  int32
	ok, soft, failed int32
	finished         bool
	// lost is what the last replica that refused part of the series
	// refused (samples, histograms, exemplars); partial says a replica
	// said so (otherwise a refusal is taken to be of everything).
	lost    [3]uint32
	partial bool
}

// batch is what goes to one ingester.
type batch struct {
	addr   string
	series []int32 // indexes into the request's Timeseries
	meta   []int32 // indexes into the request's Metadata
	req    ingesterpb.PushRequest
	// lsets are the labels.Labels of req's series, for an ingester in
	// this process (remotewrite.Request.SeriesLabels).
	lsets []labels.Labels
}

// pushState is one request's fan-out. It is shared by the waiting request
// and the ingester pushes, and recycled when the last of them lets go.
type pushState struct {
	tenant tenant.ID
	pr     *ingesterpb.PushRequest
	refs   atomic.Int32

	mu          sync.Mutex
	items       []item
	remaining   int
	done        chan struct{}
	closed      bool
	hardErr     error
	softErr     *IngesterError
	softFailed  bool
	softSamples map[string]uint64
	maxReplicas int
	stats       remotewrite.Stats

	batches []*batch
	nb      int
	byAddr  map[string]*batch
	scratch []byte
	instBuf []ringpb.InstanceDesc
}

func (d *Distributor) getState(t tenant.ID, pr *ingesterpb.PushRequest) *pushState {
	st, _ := d.states.Get().(*pushState)
	if st == nil {
		st = &pushState{byAddr: map[string]*batch{}, softSamples: map[string]uint64{}}
	}
	st.tenant, st.pr = t, pr
	n := len(pr.Timeseries) + len(pr.Metadata)
	if cap(st.items) < n {
		st.items = make([]item, n)
	}
	st.items = st.items[:n]
	st.remaining = n
	st.done = make(chan struct{})
	st.closed, st.hardErr, st.softErr, st.softFailed = false, nil, nil, false
	st.maxReplicas = 0
	st.stats = remotewrite.Stats{}
	return st
}

func (st *pushState) batchFor(addr string) *batch {
	if b, ok := st.byAddr[addr]; ok {
		return b
	}
	if st.nb == len(st.batches) {
		st.batches = append(st.batches, &batch{})
	}
	b := st.batches[st.nb]
	st.nb++
	b.addr = addr
	b.series, b.meta = b.series[:0], b.meta[:0]
	st.byAddr[addr] = b
	return b
}

// release drops a reference; the last one counts ingester refusals (once,
// now that every replica answered) and recycles the state.
func (d *Distributor) release(st *pushState) {
	if st.refs.Add(-1) != 0 {
		return
	}
	if st.softFailed && st.maxReplicas > 0 {
		for reason, n := range st.softSamples {
			// Each replica reports the samples it refused: divide by
			// the replication to count them once.
			per := (n + uint64(st.maxReplicas) - 1) / uint64(st.maxReplicas)
			d.metrics.discardedSamples.WithLabelValues(string(st.tenant), reason).Add(float64(per))
		}
	}
	clear(st.softSamples)
	clear(st.byAddr)
	for _, b := range st.batches[:st.nb] {
		// Drop the references into the request body.
		clear(b.req.Timeseries)
		clear(b.req.Metadata)
		clear(b.lsets)
		b.req.Timeseries, b.req.Metadata, b.lsets = b.req.Timeseries[:0], b.req.Metadata[:0], b.lsets[:0]
		b.addr = ""
	}
	st.nb = 0
	st.pr = nil
	if st.retained() <= maxKeptStateBytes {
		d.states.Put(st)
	}
}

// maxKeptStateBytes is the most memory a pooled fan-out state may hold:
// one huge request must not pin its per-series slices forever.
const maxKeptStateBytes = 16 << 20

// retained estimates the bytes the state's slices hold.
func (st *pushState) retained() int {
	n := cap(st.items)*int(unsafe.Sizeof(item{})) + cap(st.scratch)
	for _, b := range st.batches {
		n += 4*(cap(b.series)+cap(b.meta)) + cap(b.lsets)*int(unsafe.Sizeof(labels.Labels{})) +
			cap(b.req.Timeseries)*int(unsafe.Sizeof(ingesterpb.TimeSeries{})) +
			cap(b.req.Metadata)*int(unsafe.Sizeof(ingesterpb.MetricMetadata{}))
	}
	return n
}

// fanOut sends the request's series to their replicas and waits until
// every series and metadata entry reached a quorum, or one of them cannot.
// Pushes still running then continue, detached from ctx, each bounded by
// -distributor.remote-timeout; each holds a reference on req.
func (d *Distributor) fanOut(ctx context.Context, t tenant.ID, req *remotewrite.Request) (remotewrite.Stats, error) {
	pr := &req.Push
	st := d.getState(t, pr)
	st.refs.Store(1)
	defer d.release(st)

	if err := d.shard(st, t, pr); err != nil {
		return remotewrite.Stats{}, err
	}
	d.pushesMu.RLock()
	if d.stopping {
		d.pushesMu.RUnlock()
		return remotewrite.Stats{}, fmt.Errorf("%w: the distributor is stopping", remotewrite.ErrUnavailable)
	}
	d.pushes.Add(st.nb)
	d.pushesMu.RUnlock()
	st.refs.Add(int32(st.nb))
	for _, b := range st.batches[:st.nb] {
		b.req.Source = pr.Source
		for _, i := range b.series {
			b.req.Timeseries = append(b.req.Timeseries, pr.Timeseries[i])
		}
		for _, i := range b.meta {
			b.req.Metadata = append(b.req.Metadata, pr.Metadata[i])
		}
		req.Ref()
		go d.pushBatch(ctx, st, b, req)
	}

	select {
	case <-st.done:
	case <-ctx.Done():
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.closed:
		return st.stats, fmt.Errorf("%w: waiting for a quorum of ingesters: %w", remotewrite.ErrUnavailable, context.Cause(ctx))
	case st.hardErr != nil:
		return st.stats, st.hardErr
	case st.softFailed:
		return st.stats, st.softErr
	}
	return st.stats, nil
}

// shard finds every item's replicas and groups the items per ingester.
func (d *Distributor) shard(st *pushState, t tenant.ID, pr *ingesterpb.PushRequest) error {
	if cap(st.instBuf) < 8 {
		st.instBuf = make([]ringpb.InstanceDesc, 0, 8)
	}
	assign := func(idx int, key uint32, meta bool) error {
		rs, err := d.ring.Get(key, ring.Write, st.instBuf[:0])
		if err != nil {
			return fmt.Errorf("%w: finding ingesters: %w", remotewrite.ErrUnavailable, err)
		}
		maxErr := rs.MaxErrors
		if rs.MaxUnavailableZones > 0 {
			// Zone-aware sets hold one replica per zone.
			maxErr = rs.MaxUnavailableZones
		}
		n := len(rs.Instances)
		st.items[idx] = item{need: int32(n - maxErr), maxErrors: int32(maxErr)}
		st.maxReplicas = max(st.maxReplicas, n)
		for i := range rs.Instances {
			b := st.batchFor(rs.Instances[i].Addr)
			if meta {
				b.meta = append(b.meta, int32(idx-len(pr.Timeseries)))
			} else {
				b.series = append(b.series, int32(idx))
			}
		}
		return nil
	}
	if so, ok := d.ring.(singleOwner); ok && so.SingleOwner() {
		// Every key has the same replicas: place every item with the
		// first one's, skipping the hashing and the ring lookups. A ring
		// that grew meanwhile is seen by the next request.
		return d.shardSingle(st, pr, assign)
	}
	for i := range pr.Timeseries {
		var key uint32
		key, st.scratch = ShardKey(st.scratch, t, pr.Timeseries[i].Labels)
		if err := assign(i, key, false); err != nil {
			return err
		}
	}
	for i := range pr.Metadata {
		var key uint32
		key, st.scratch = metadataKey(st.scratch, t, pr.Metadata[i].MetricFamilyName)
		if err := assign(len(pr.Timeseries)+i, key, true); err != nil {
			return err
		}
	}
	return nil
}

// singleOwner is implemented by a ring that can tell when one instance
// owns every key (*ring.Ring).
type singleOwner interface {
	SingleOwner() bool
}

// shardSingle places pr's items when one instance owns every key: it asks
// the ring once, then copies that placement to every item.
func (d *Distributor) shardSingle(st *pushState, pr *ingesterpb.PushRequest, assign func(idx int, key uint32, meta bool) error) error {
	n := len(pr.Timeseries) + len(pr.Metadata)
	if n == 0 {
		return nil
	}
	if err := assign(0, 0, len(pr.Timeseries) == 0); err != nil {
		return err
	}
	first := st.items[0]
	for i := 1; i < n; i++ {
		st.items[i] = first
	}
	// assign put item 0 (a series, or the first metadata when there are
	// none) in the batch of each replica.
	for _, b := range st.batches[:st.nb] {
		for i := len(b.series); i < len(pr.Timeseries); i++ {
			b.series = append(b.series, int32(i))
		}
		for i := len(b.meta); i < len(pr.Metadata); i++ {
			b.meta = append(b.meta, int32(i))
		}
	}
	return nil
}

// pushBatch sends one ingester its batch, detached from the request's
// cancellation, and records the answer.
func (d *Distributor) pushBatch(ctx context.Context, st *pushState, b *batch, req *remotewrite.Request) {
	defer d.pushes.Done()
	defer d.release(st)
	// The request (and the body its strings alias) stays alive until the
	// call returned: by then gRPC has marshalled and sent it.
	defer req.Unref()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RemoteTimeout)
	defer cancel()

	start := time.Now()
	var resp *ingesterpb.PushResponse
	c, err := d.clients.Get(b.addr)
	if err == nil {
		if lp, ok := c.(labelsPusher); ok && len(req.SeriesLabels) > 0 && lp.InProcess() {
			resp, err = lp.PushWithLabels(ctx, &b.req, b.localLabels(req.SeriesLabels))
		} else {
			resp, err = c.Push(ctx, &b.req)
		}
	}
	out, cause := classify(b.addr, resp, err)
	d.metrics.ingesterDuration.WithLabelValues(outcomeNames[out]).Observe(time.Since(start).Seconds())
	if out == outcomeFail {
		d.metrics.ingesterFailures.WithLabelValues(b.addr).Inc()
	}
	st.record(b, out, resp, cause)
}

// labelsPusher is the client of an ingester in this process
// (*clientpool.client when the pool has Options.Local): it takes, beside
// the request, the labels.Labels the series' pairs were built from, and the
// ingester appends with them instead of rebuilding them from the pairs.
type labelsPusher interface {
	// InProcess reports whether pushes reach an ingester of this process.
	InProcess() bool
	// PushWithLabels is Push with series[k] the labels of
	// req.Timeseries[k] (empty: built from the pairs).
	PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels, opts ...grpc.CallOption) (*ingesterpb.PushResponse, error)
}

// localLabels returns the labels.Labels of the batch's series from the
// request's (local, indexed like the request's series): empty for a series
// whose pairs changed since they were recorded.
func (b *batch) localLabels(local []remotewrite.LocalLabels) []labels.Labels {
	b.lsets = b.lsets[:0]
	for k, i := range b.series {
		ls := labels.EmptyLabels()
		if int(i) < len(local) {
			ls = local[i].For(&b.req.Timeseries[k])
		}
		b.lsets = append(b.lsets, ls)
	}
	return b.lsets
}

// classify sorts an ingester's answer.
func classify(addr string, resp *ingesterpb.PushResponse, err error) (outcome, error) {
	if err != nil {
		if status.Code(err) == codes.InvalidArgument {
			return outcomeSoft, fmt.Errorf("ingester %s: %w", addr, err)
		}
		return outcomeFail, fmt.Errorf("%w: pushing to ingester %s: %w", remotewrite.ErrUnavailable, addr, err)
	}
	if resp == nil || len(resp.Errors) == 0 {
		return outcomeOK, nil
	}
	for _, e := range resp.Errors {
		if e.Retryable {
			return outcomeFail, fmt.Errorf("%w: ingester %s [%s]: %s", remotewrite.ErrUnavailable, addr, e.Reason, e.Message)
		}
	}
	return outcomeSoft, nil
}

// record applies one ingester's answer to the items of its batch.
func (st *pushState) record(b *batch, out outcome, resp *ingesterpb.PushResponse, cause error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if out == outcomeSoft {
		if resp != nil {
			for _, e := range resp.Errors {
				st.softSamples[e.Reason] += e.Samples
				if st.softErr == nil {
					st.softErr = &IngesterError{Tenant: st.tenant, Reason: e.Reason, Message: e.Message}
				}
			}
		}
		if st.softErr == nil {
			st.softErr = &IngesterError{Tenant: st.tenant, Reason: "invalid_argument", Message: cause.Error()}
		}
	}
	apply := func(idx int32, ts *ingesterpb.TimeSeries, out outcome, lost *ingesterpb.SeriesRefusal) {
		it := &st.items[idx]
		if it.finished {
			return
		}
		if lost != nil {
			it.lost, it.partial = [3]uint32{lost.Samples, lost.Histograms, lost.Exemplars}, true
		}
		switch out {
		case outcomeOK:
			it.ok++
			if it.ok >= it.need {
				it.finished = true
				st.remaining--
				if ts != nil {
					st.stats.Samples += len(ts.Samples)
					st.stats.Histograms += len(ts.Histograms)
					st.stats.Exemplars += len(ts.Exemplars)
				}
				return
			}
		case outcomeSoft:
			it.soft++
		default:
			it.failed++
		}
		if it.soft+it.failed > it.maxErrors {
			it.finished = true
			st.remaining--
			if it.soft > it.maxErrors {
				// A quorum agrees the data can never be written: what
				// it refused of the series, the rest is written.
				st.softFailed = true
				if ts != nil && it.partial {
					st.stats.Samples += max(0, len(ts.Samples)-int(it.lost[0]))
					st.stats.Histograms += max(0, len(ts.Histograms)-int(it.lost[1]))
					st.stats.Exemplars += max(0, len(ts.Exemplars)-int(it.lost[2]))
				}
			} else if st.hardErr == nil {
				st.hardErr = cause
				if cause == nil {
					st.hardErr = fmt.Errorf("%w: no quorum of ingesters", remotewrite.ErrUnavailable)
				}
				st.close()
			}
		}
	}
	// A soft answer says which series lost what (resp.Refused, in batch
	// order); the others were stored whole and count as acknowledged.
	// Metadata is refused only under a metadata reason
	// (ingesterpb.IsMetadataReason). An answer
	// without that detail fails the whole batch softly.
	seriesOut, metaOut := out, out
	var refused []ingesterpb.SeriesRefusal
	detailed := false
	if out == outcomeSoft && resp != nil {
		metaRefused, seriesRefused := false, false
		for _, e := range resp.Errors {
			if ingesterpb.IsMetadataReason(e.Reason) {
				metaRefused = true
			} else {
				seriesRefused = true
			}
		}
		// An ingester that refused series data without listing the
		// series predates the list.
		if len(resp.Refused) > 0 || !seriesRefused {
			detailed, refused = true, resp.Refused
			if !metaRefused {
				metaOut = outcomeOK
			}
		}
	}
	for j, i := range b.series {
		o, lost := seriesOut, (*ingesterpb.SeriesRefusal)(nil)
		if detailed {
			o = outcomeOK
			if len(refused) > 0 && int(refused[0].Series) == j {
				o, lost = outcomeSoft, &refused[0]
				refused = refused[1:]
			}
		}
		apply(i, &st.pr.Timeseries[i], o, lost)
	}
	for _, i := range b.meta {
		apply(int32(len(st.pr.Timeseries))+i, nil, metaOut, nil)
	}
	if st.remaining == 0 {
		st.close()
	}
}

func (st *pushState) close() {
	if !st.closed {
		st.closed = true
		close(st.done)
	}
}
