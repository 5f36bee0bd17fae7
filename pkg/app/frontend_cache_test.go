package app

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestDeletedSeriesNeverComeBackFromTheCache: a range query through the
// all-in-one's frontend is answered from the results cache the second
// time; after delete_series the same query answers without the deleted
// series, because the deletion bumped the tenant's cache generation.
func TestDeletedSeriesNeverComeBackFromTheCache(t *testing.T) {
	// Freshness 0: the recent samples of this test may be cached.
	p := startProcess(t, TargetAll, "-frontend.max-cache-freshness=0s")
	now := time.Now().Truncate(time.Minute)
	req := seriesRequest(3, now.Add(-10*time.Minute))
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", req).StatusCode)

	api := queryAPI(t, p.app.HTTPAddr(), "team-a")
	r := promv1.Range{Start: now.Add(-20 * time.Minute), End: now.Add(-5 * time.Minute), Step: time.Minute}
	count := func() int {
		t.Helper()
		v, _, _, err := api.QueryRange(context.Background(), "limited", r)
		require.NoError(t, err)
		return len(v.(model.Matrix))
	}
	require.Equal(t, 3, count())
	require.Equal(t, 3, count())
	require.Positive(t, gatherSum(t, p, "hearth_query_frontend_results_cache_hits_total"), "the second query came from the cache")

	form := url.Values{"match[]": {`limited`}, "start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}}
	del, err := http.NewRequest(http.MethodPost, "http://"+p.app.HTTPAddr()+"/prometheus/api/v1/admin/tsdb/delete_series", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	del.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	del.Header.Set("X-Scope-OrgID", "team-a")
	resp, err := http.DefaultClient.Do(del)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	require.Equal(t, 0, count(), "deleted series came back from the results cache")
}
