package queryshard

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for value, tc := range map[string]struct {
		want    Shard
		wantErr string
	}{
		"1_of_1":      {want: Shard{0, 1}},
		"1_of_16":     {want: Shard{0, 16}},
		"16_of_16":    {want: Shard{15, 16}},
		"0_of_16":     {wantErr: "the shard must be between 1 and the count 16"},
		"17_of_16":    {wantErr: "the shard must be between 1 and the count 16"},
		"1_of_0":      {wantErr: "the count must be between 1 and 65536"},
		"1_of_65537":  {wantErr: "the count must be between 1 and 65536"},
		"1of16":       {wantErr: `__query_shard__="1of16", want <shard>_of_<count>`},
		"":            {wantErr: `__query_shard__="", want <shard>_of_<count>`},
		"-1_of_2":     {wantErr: "with decimal numbers"},
		"1_of_2_of_3": {wantErr: "with decimal numbers"},
		"a_of_b":      {wantErr: `__query_shard__="a_of_b"`},
	} {
		t.Run(value, func(t *testing.T) {
			got, err := Parse(value)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrMalformed)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, value, got.String())
		})
	}
}

func TestSplit(t *testing.T) {
	name := labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")
	job := labels.MustNewMatcher(labels.MatchRegexp, "job", "a.*")
	for desc, tc := range map[string]struct {
		in        []*labels.Matcher
		wantShard *Shard
		wantRest  []*labels.Matcher
		wantErr   string
	}{
		"no shard matcher": {in: []*labels.Matcher{name, job}, wantRest: []*labels.Matcher{name, job}},
		"shard in the middle": {
			in:        []*labels.Matcher{name, Shard{2, 4}.Matcher(), job},
			wantShard: &Shard{2, 4}, wantRest: []*labels.Matcher{name, job},
		},
		"shard alone": {in: []*labels.Matcher{Shard{0, 2}.Matcher()}, wantShard: &Shard{0, 2}, wantRest: []*labels.Matcher{}},
		"regex shard matcher": {
			in:      []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, LabelName, "1_of_2")},
			wantErr: `__query_shard__=~"1_of_2", only = is allowed`,
		},
		"two shard matchers": {
			in:      []*labels.Matcher{Shard{0, 2}.Matcher(), Shard{1, 2}.Matcher()},
			wantErr: "more than one __query_shard__ matcher",
		},
		"bad value": {
			in:      []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, LabelName, "3_of_2")},
			wantErr: `__query_shard__="3_of_2"`,
		},
	} {
		t.Run(desc, func(t *testing.T) {
			in := append([]*labels.Matcher(nil), tc.in...)
			shard, rest, err := Split(tc.in)
			require.Equal(t, in, tc.in, "Split must not modify its input")
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrMalformed)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantShard, shard)
			require.Equal(t, tc.wantRest, rest)
		})
	}
}

// TestContainsAgreesWithTSDB checks the contract the ingester relies on:
// Prometheus's TSDB, asked for shard i of N through SelectHints, returns
// exactly the series Contains puts in that shard, from the head and from a
// persisted block alike.
func TestContainsAgreesWithTSDB(t *testing.T) {
	opts := tsdb.DefaultOptions()
	opts.EnableSharding = true
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	ctx := context.Background()
	var all []labels.Labels
	app := db.Appender(ctx)
	for i := range 200 {
		ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i), "pod", fmt.Sprintf("pod-%d", i*7))
		all = append(all, ls)
		_, err := app.Append(0, ls, 1000, float64(i))
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())

	check := func(t *testing.T, mint, maxt int64) {
		t.Helper()
		const n = 5
		seen := map[string]int{}
		for i := range uint64(n) {
			shard := Shard{Index: i, Count: n}
			q, err := db.Querier(mint, maxt)
			require.NoError(t, err)
			ss := q.Select(ctx, false, &storage.SelectHints{Start: mint, End: maxt, ShardIndex: i, ShardCount: n},
				labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
			got := 0
			for ss.Next() {
				ls := ss.At().Labels()
				require.True(t, shard.Contains(ls), "TSDB put %s in shard %s", ls, shard)
				seen[ls.String()]++
				got++
			}
			require.NoError(t, ss.Err())
			require.NoError(t, q.Close())
			want := 0
			for _, ls := range all {
				if shard.Contains(ls) {
					want++
				}
			}
			require.Equal(t, want, got, "shard %s", shard)
		}
		require.Len(t, seen, len(all))
	}
	t.Run("head", func(t *testing.T) { check(t, 0, 2000) })
	require.NoError(t, db.CompactHead(tsdb.NewRangeHead(db.Head(), 0, 2000)))
	require.NotEmpty(t, db.Blocks())
	t.Run("block", func(t *testing.T) { check(t, 0, 2000) })
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1_of_1", "16_of_16", "0_of_1", "1_of_0", "x_of_y", "", "_of_", "18446744073709551616_of_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		s, err := Parse(value)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.Less(t, s.Index, s.Count)
		again, err := Parse(s.String())
		require.NoError(t, err)
		require.Equal(t, s, again)
	})
}
