package queryrange

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// alignMiddleware moves start and end down to multiples of the step for
// tenants that opted in (align_queries_with_step): it changes the answer,
// as Cortex and Mimir do, so it is off by default.
type alignMiddleware struct {
	next Handler
	m    *Middlewares
}

func (a *alignMiddleware) Do(ctx context.Context, r *Request) (*Response, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if a.m.tenantLimits(id).align {
		start, end := floorDiv(r.Start, r.Step)*r.Step, floorDiv(r.End, r.Step)*r.Step
		if start != r.Start || end != r.End {
			r = r.WithRange(start, end)
		}
	}
	return a.next.Do(ctx, r)
}

// splitMiddleware splits a range query at multiples of interval (UTC) into
// parts evaluated at the original's steps, runs them in parallel and
// concatenates their series.
type splitMiddleware struct {
	next     Handler
	interval int64
	m        *Middlewares
}

func (s *splitMiddleware) Do(ctx context.Context, r *Request) (*Response, error) {
	if !splittable(s.m, r) {
		return s.next.Do(ctx, r)
	}
	parts := splitByInterval(r, s.interval)
	if len(parts) == 1 {
		return s.next.Do(ctx, r)
	}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	s.m.metrics.splitQueries.WithLabelValues(string(id)).Add(float64(len(parts)))
	statsOf(ctx).SplitQueries.Add(int64(len(parts)))
	resps := make([]*Response, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range parts {
		g.Go(func() error {
			resp, err := s.next.Do(gctx, p)
			if err != nil {
				return err
			}
			if resp.ResultType != typeMatrix {
				return fmt.Errorf("a split range query answered a %s, not a matrix", resp.ResultType)
			}
			resps[i] = resp
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return mergeMatrices(resps), nil
}

// splittable reports whether r's expression allows splitting and caching:
// it parses and does not depend on the query's range.
func splittable(m *Middlewares, r *Request) bool {
	expr, err := m.parser.ParseExpr(r.Query)
	if err != nil {
		return false
	}
	return !analyse(expr).dependsOnRange
}

// splitByInterval splits r into parts that each lie within one multiple of
// interval, every part's start on r's step grid.
func splitByInterval(r *Request, interval int64) []*Request {
	var parts []*Request
	for start := r.Start; start <= r.End; {
		end := lastStepInInterval(start, r.Step, interval)
		if end >= r.End {
			end = r.End
		}
		parts = append(parts, r.WithRange(start, end))
		start = end + r.Step
	}
	return parts
}

// lastStepInInterval returns the last time on t's step grid (t + k·step)
// within the interval t is in.
func lastStepInInterval(t, step, interval int64) int64 {
	last := (floorDiv(t, interval)+1)*interval - 1
	return t + (last-t)/step*step
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
