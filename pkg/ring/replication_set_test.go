package ring

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

func TestReplicationSetDo(t *testing.T) {
	errFail := errors.New("fail")
	set := func(zones ...string) []ringpb.InstanceDesc {
		var out []ringpb.InstanceDesc
		for i, z := range zones {
			out = append(out, ringpb.InstanceDesc{Id: string(rune('a' + i)), Zone: z})
		}
		return out
	}
	tests := map[string]struct {
		rs      ReplicationSet
		fail    []string // instance IDs whose call fails
		wantErr string
		wantMin int // at least this many results
	}{
		"all succeed": {
			rs: ReplicationSet{Instances: set("", "", ""), MaxErrors: 1}, wantMin: 2,
		},
		"one failure tolerated": {
			rs: ReplicationSet{Instances: set("", "", ""), MaxErrors: 1}, fail: []string{"b"}, wantMin: 2,
		},
		"two failures are not": {
			rs: ReplicationSet{Instances: set("", "", ""), MaxErrors: 1}, fail: []string{"a", "c"}, wantErr: "2 of 3 instances failed, 1 tolerated: fail",
		},
		"no failure tolerated": {
			rs: ReplicationSet{Instances: set("", ""), MaxErrors: 0}, fail: []string{"a"}, wantErr: "1 of 2 instances failed, 0 tolerated",
		},
		"a tolerance of the whole set still needs one success": {
			rs: ReplicationSet{Instances: set(""), MaxErrors: 1}, fail: []string{"a"}, wantErr: "1 of 1 instances failed, 0 tolerated",
		},
		"zones: a whole zone may fail": {
			rs: ReplicationSet{Instances: set("z1", "z1", "z2", "z2", "z3", "z3"), MaxUnavailableZones: 1}, fail: []string{"a", "b"}, wantMin: 4,
		},
		"zones: failures in two zones are not tolerated": {
			rs: ReplicationSet{Instances: set("z1", "z1", "z2", "z2", "z3", "z3"), MaxUnavailableZones: 1}, fail: []string{"a", "c"}, wantErr: "2 of 3 zones failed, 1 tolerated",
		},
		"zones: one zone only must answer": {
			rs: ReplicationSet{Instances: set("z1", "z1"), MaxUnavailableZones: 1}, fail: []string{"a"}, wantErr: "1 of 1 zones failed, 0 tolerated",
		},
		"empty set": {
			rs: ReplicationSet{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := tc.rs.Do(t.Context(), func(_ context.Context, in *ringpb.InstanceDesc) (any, error) {
				if slices.Contains(tc.fail, in.Id) {
					return nil, errFail
				}
				return in.Id, nil
			})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorIs(t, err, errFail)
				return
			}
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(res), tc.wantMin)
			for _, r := range res {
				require.NotContains(t, tc.fail, r)
			}
		})
	}
}

// TestReplicationSetDoWaitsForCompleteZones: with zones, Do returns only
// when every instance of enough zones answered; successes in a failed zone
// do not stand in for a slow instance of another zone.
func TestReplicationSetDoWaitsForCompleteZones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := ReplicationSet{MaxUnavailableZones: 1, Instances: []ringpb.InstanceDesc{
			{Id: "a1", Zone: "a"}, {Id: "a2", Zone: "a"},
			{Id: "b1", Zone: "b"}, {Id: "b2", Zone: "b"},
			{Id: "c1", Zone: "c"}, {Id: "c2", Zone: "c"},
		}}
		release := make(chan struct{})
		done := make(chan []any, 1)
		errs := make(chan error, 1)
		go func() {
			res, err := rs.Do(t.Context(), func(_ context.Context, in *ringpb.InstanceDesc) (any, error) {
				switch in.Id {
				case "a2":
					return nil, errors.New("fail")
				case "c2":
					<-release
				}
				return in.Id, nil
			})
			errs <- err
			done <- res
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Do returned before zone c was complete")
		default:
		}
		close(release)
		require.NoError(t, <-errs)
		res := <-done
		require.ElementsMatch(t, []any{"a1", "b1", "b2", "c1", "c2"}, res)
	})
}

// TestReplicationSetDoCancelsTheRest: once the quorum answered, the calls
// still running see their context cancelled.
func TestReplicationSetDoCancelsTheRest(t *testing.T) {
	rs := ReplicationSet{MaxErrors: 1, Instances: []ringpb.InstanceDesc{{Id: "a"}, {Id: "b"}, {Id: "c"}}}
	cancelled := make(chan struct{})
	res, err := rs.Do(t.Context(), func(ctx context.Context, in *ringpb.InstanceDesc) (any, error) {
		if in.Id == "c" {
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		}
		return in.Id, nil
	})
	require.NoError(t, err)
	require.ElementsMatch(t, []any{"a", "b"}, res)
	<-cancelled
}
