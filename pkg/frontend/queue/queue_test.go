package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustEnqueue(t *testing.T, q *Queue, id tenant.ID, v any) *Entry {
	t.Helper()
	e, err := q.Enqueue(id, v, 0)
	require.NoError(t, err)
	return e
}

func dequeueN(t *testing.T, q *Queue, n int, querier string) []any {
	t.Helper()
	cursor := -1
	var got []any
	for range n {
		e, next, err := q.Dequeue(t.Context(), cursor, querier)
		require.NoError(t, err)
		cursor = next
		got = append(got, e.Value)
	}
	return got
}

func TestDequeueOrder(t *testing.T) {
	for name, tc := range map[string]struct {
		enqueue []string // "tenant:value"
		want    []any
	}{
		"one tenant is first in, first out": {
			enqueue: []string{"a:1", "a:2", "a:3"},
			want:    []any{"a:1", "a:2", "a:3"},
		},
		"tenants take turns": {
			enqueue: []string{"a:1", "a:2", "a:3", "b:1", "b:2", "c:1"},
			want:    []any{"a:1", "b:1", "c:1", "a:2", "b:2", "a:3"},
		},
		"a tenant whose queue emptied rejoins at the end": {
			enqueue: []string{"a:1", "b:1", "b:2"},
			want:    []any{"a:1", "b:1", "b:2"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			q := New(prometheus.NewRegistry())
			for _, s := range tc.enqueue {
				id, _, _ := strings.Cut(s, ":")
				mustEnqueue(t, q, tenant.ID(id), s)
			}
			require.Equal(t, tc.want, dequeueN(t, q, len(tc.want), "q1"))
			require.Zero(t, q.Len())
		})
	}
}

// One tenant's 1,000 queued queries must not delay another's one: the
// other tenant's request is the second one out.
func TestFloodingTenantDoesNotDelayAnother(t *testing.T) {
	q := New(prometheus.NewRegistry())
	for i := range 1000 {
		mustEnqueue(t, q, "flood", i)
	}
	mustEnqueue(t, q, "light", "mine")
	got := dequeueN(t, q, 2, "q1")
	require.Equal(t, "mine", got[1])
}

// The queue refuses none of an admitted query's requests: admission is the
// handler's (-frontend.max-outstanding-requests-per-tenant counts queries).
// 5,000 is past the 2,000 queued requests the queue once refused at.
func TestQueueRefusesNoAdmittedRequest(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	q := New(reg)
	for i := range 5000 {
		mustEnqueue(t, q, "a", i)
	}
	mustEnqueue(t, q, "b", 1)
	require.Equal(t, 5001, q.Len())
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hearth_query_frontend_queue_length Requests queued in the query frontend, by tenant.
# TYPE hearth_query_frontend_queue_length gauge
hearth_query_frontend_queue_length{tenant="a"} 5000
hearth_query_frontend_queue_length{tenant="b"} 1
`), "hearth_query_frontend_discarded_requests_total", "hearth_query_frontend_queue_length"))
}

func TestCancelRemovesAQueuedRequest(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	q := New(reg)
	e1 := mustEnqueue(t, q, "a", 1)
	mustEnqueue(t, q, "a", 2)
	require.True(t, q.Cancel(e1))
	require.False(t, q.Cancel(e1), "cancelled twice")
	require.Equal(t, []any{2}, dequeueN(t, q, 1, "q1"))
	e3 := mustEnqueue(t, q, "a", 3)
	dequeueN(t, q, 1, "q1")
	require.False(t, q.Cancel(e3), "a dequeued request is not in the queue")
	require.InDelta(t, 1, testutil.ToFloat64(q.discarded.WithLabelValues("a", reasonCancelled)), 0)
	require.InDelta(t, 0, testutil.ToFloat64(q.length.WithLabelValues("a")), 0)
}

func TestDequeueWaits(t *testing.T) {
	q := New(prometheus.NewRegistry())
	got := make(chan any)
	go func() {
		e, _, err := q.Dequeue(context.Background(), -1, "q1")
		if err != nil {
			got <- err
			return
		}
		got <- e.Value
	}()
	mustEnqueue(t, q, "a", "late")
	require.Equal(t, "late", <-got)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := q.Dequeue(ctx, -1, "q1")
	require.ErrorIs(t, err, context.Canceled)
}

func TestClose(t *testing.T) {
	q := New(prometheus.NewRegistry())
	mustEnqueue(t, q, "a", 1)
	left := q.Close()
	require.Len(t, left, 1)
	require.Equal(t, 1, left[0].Value)
	_, err := q.Enqueue("a", 2, 0)
	require.ErrorIs(t, err, ErrStopped)
	_, _, err = q.Dequeue(t.Context(), -1, "q1")
	require.ErrorIs(t, err, ErrStopped)
}

func TestShuffleShardingQueriers(t *testing.T) {
	q := New(prometheus.NewRegistry())
	queriers := []string{"q1", "q2", "q3", "q4"}
	for _, id := range queriers {
		q.RegisterQuerier(id)
	}
	_, err := q.Enqueue("a", 1, 1)
	require.NoError(t, err)
	allowed := q.tenants["a"].queriers
	require.Len(t, allowed, 1)
	// The same tenant and queriers give the same subset.
	require.Equal(t, allowed, q.shard("a", 1))

	served := 0
	for _, id := range queriers {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		e, _, err := q.Dequeue(ctx, -1, id)
		cancel()
		_, ok := allowed[id]
		if !ok {
			require.ErrorIs(t, err, context.DeadlineExceeded, "querier %s is outside the tenant's shard", id)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, e.Value)
		served++
	}
	require.Equal(t, 1, served)

	// With the shard's querier gone, another one takes the tenant over.
	_, err = q.Enqueue("a", 2, 1)
	require.NoError(t, err)
	for id := range allowed {
		q.UnregisterQuerier(id)
	}
	require.Len(t, q.tenants["a"].queriers, 1)
	require.NotEqual(t, allowed, q.tenants["a"].queriers)

	// 0, or more than are connected, means every querier.
	require.Nil(t, q.shard("a", 0))
	require.Nil(t, q.shard("a", 10))
}

func TestForgetIdle(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	q := New(reg)
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	mustEnqueue(t, q, "a", 1)
	dequeueN(t, q, 1, "q1")
	now = now.Add(2 * time.Hour)
	q.ForgetIdle(time.Hour)
	n, err := testutil.GatherAndCount(reg, "hearth_query_frontend_queue_length", "hearth_query_frontend_queue_duration_seconds")
	require.NoError(t, err)
	require.Zero(t, n)
}
