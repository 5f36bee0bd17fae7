//go:build integration && adversarial

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/auth/cli"
)

// victimMemoryLimit is the memory cgroup limit the attacked process runs
// under where this machine lets the test create a cgroup: an attack that
// would grow it past this is OOM-killed by the kernel, and the test fails
// on a dead process instead of taking the machine down.
const victimMemoryLimit = 3 << 30

// victim is an all-in-one Hearth with API keys, under attack.
type victim struct {
	p        *process
	cgroup   string // the cgroup's directory, or "" when none could be made
	goodKey  string // tenant "good", write and read
	evilRead string // tenant "evil", read only
	evilPush string // tenant "evil", write only
}

// startVictim runs the all-in-one with its default limits (the point is
// that the defaults hold) and creates the keys of a well-behaved tenant and
// of an attacker.
func startVictim(t *testing.T, extra ...string) *victim {
	t.Helper()
	v := &victim{}
	args := append([]string{"-auth.mode=api-keys", "-ingester.ring.replication-factor=1"}, extra...)
	v.p = newProcess(t, "victim", "hearth", t.TempDir(), args...)
	v.cgroup = makeMemoryCgroup(t, victimMemoryLimit)
	if v.cgroup != "" {
		// Enter the cgroup before exec, so nothing of the process is
		// charged outside it.
		v.p.args = append([]string{"-c", `echo $$ > "$0"/cgroup.procs && exec "$@"`, v.cgroup, v.p.bin}, v.p.args...)
		v.p.bin = "/bin/sh"
	} else {
		t.Log("no writable memory cgroup: the attacked process is only watched, not capped")
	}
	v.p.start(t)
	v.p.waitReady(t)
	token := filepath.Join(v.p.dataDir, "operator-token")
	key := func(tenant, scope string) string {
		var out, errOut bytes.Buffer
		code := cli.Run([]string{"create", "--tenant", tenant, "--scope", scope, "--addr", "http://" + v.p.internal, "--token-file", token}, &out, &errOut)
		require.Zero(t, code, errOut.String())
		return strings.TrimSpace(out.String())
	}
	v.goodKey = key("good", "write,read")
	v.evilRead = key("evil", "read")
	v.evilPush = key("evil", "write")
	return v
}

// makeMemoryCgroup creates a memory cgroup limited to limit bytes (cgroup
// v2's memory.max, else v1's memory.limit_in_bytes) and returns its
// directory, or "" when neither is writable here.
func makeMemoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	name := fmt.Sprintf("hearth-adversarial-%d", os.Getpid())
	for _, c := range []struct{ root, file string }{
		{"/sys/fs/cgroup", "memory.max"},
		{"/sys/fs/cgroup/memory", "memory.limit_in_bytes"},
	} {
		if _, err := os.Stat(filepath.Join(c.root, c.file)); err != nil && c.file == "memory.max" {
			// v2 keeps memory.max only in child groups; the root has
			// cgroup.controllers listing "memory".
			b, err := os.ReadFile(filepath.Join(c.root, "cgroup.controllers"))
			if err != nil || !strings.Contains(string(b), "memory") {
				continue
			}
		}
		dir := filepath.Join(c.root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			_ = os.Remove(dir)
			continue
		}
		t.Cleanup(func() {
			// The process has ended (cleanups run in reverse order: the
			// process's kill was registered later); an empty cgroup can go.
			require.Eventually(t, func() bool { return os.Remove(dir) == nil || os.IsNotExist(os.Remove(dir)) }, 10*time.Second, 50*time.Millisecond)
		})
		return dir
	}
	return ""
}

// pid is the attacked process's PID (the shell execs into it).
func (v *victim) pid() int { return v.p.cmd.Process.Pid }

// alive reports whether the process still runs: it has a status that is
// not a zombie's (a killed child stays a zombie until it is waited for).
func (v *victim) alive() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", v.pid()))
	if err != nil || v.p.cmd.ProcessState != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if state, ok := strings.CutPrefix(line, "State:"); ok {
			s := strings.TrimSpace(state)
			return !strings.HasPrefix(s, "Z") && !strings.HasPrefix(s, "X")
		}
	}
	return false
}

// status reads one "Name:   N kB" field of /proc/<pid>/status, in bytes.
func (v *victim) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", v.pid()))
	require.NoError(t, err, "the attacked process is gone")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, v.pid())
	return 0
}

// resetPeak makes VmHWM start again from the current RSS.
func (v *victim) resetPeak(t *testing.T) {
	t.Helper()
	require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", v.pid()), []byte("5"), 0o200))
}

// cpuSeconds is the process's user plus system CPU time.
func (v *victim) cpuSeconds(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", v.pid()))
	require.NoError(t, err)
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// openFiles counts the process's file descriptors.
func (v *victim) openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", v.pid()))
	require.NoError(t, err)
	return len(ents)
}

// observation is one request of the well-behaved tenant.
type observation struct {
	at      time.Time
	kind    string // "push" or "query"
	status  int    // 0: transport error
	latency time.Duration
}

// wellBehaved is a tenant that pushes 10 series and queries them every
// 100 ms, on its own connections, for the whole test.
type wellBehaved struct {
	mu   sync.Mutex
	obs  []observation
	stop chan struct{}
	done sync.WaitGroup
}

func startWellBehaved(t *testing.T, v *victim) *wellBehaved {
	t.Helper()
	w := &wellBehaved{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	record := func(kind string, start time.Time, resp *http.Response, err error) {
		o := observation{at: start, kind: kind, latency: time.Since(start)}
		if err == nil {
			o.status = resp.StatusCode
			resp.Body.Close()
		}
		w.mu.Lock()
		w.obs = append(w.obs, o)
		w.mu.Unlock()
	}
	w.done.Add(2)
	go func() {
		defer w.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			req := prompb.WriteRequest{}
			now := time.Now().UnixMilli()
			for i := range 10 {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
					Labels:  []prompb.Label{{Name: "__name__", Value: "good_metric"}, {Name: "i", Value: strconv.Itoa(i)}},
					Samples: []prompb.Sample{{Value: float64(i), Timestamp: now}},
				})
			}
			raw, _ := req.Marshal()
			r, _ := http.NewRequest(http.MethodPost, "http://"+v.p.httpAddr+"/api/v1/push", bytes.NewReader(snappy.Encode(nil, raw)))
			r.Header.Set("Content-Type", "application/x-protobuf")
			r.Header.Set("Content-Encoding", "snappy")
			r.SetBasicAuth("good", v.goodKey)
			start := time.Now()
			resp, err := client.Do(r)
			record("push", start, resp, err)
		}
	}()
	go func() {
		defer w.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			r, _ := http.NewRequest(http.MethodGet, "http://"+v.p.httpAddr+"/prometheus/api/v1/query?query="+url.QueryEscape("sum(good_metric)"), nil)
			r.SetBasicAuth("good", v.goodKey)
			start := time.Now()
			resp, err := client.Do(r)
			record("query", start, resp, err)
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *wellBehaved) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		w.done.Wait()
	}
}

// window summarises the well-behaved tenant's requests of one kind
// started in [from, to).
type window struct {
	N, Failed int
	P50, P99  time.Duration
}

func (w *wellBehaved) window(kind string, from, to time.Time) window {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lat []time.Duration
	res := window{}
	for _, o := range w.obs {
		if o.kind != kind || o.at.Before(from) || !o.at.Before(to) {
			continue
		}
		res.N++
		if o.status < 200 || o.status > 299 {
			res.Failed++
		}
		lat = append(lat, o.latency)
	}
	if len(lat) == 0 {
		return res
	}
	slices.Sort(lat)
	res.P50 = lat[len(lat)/2]
	res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	return res
}

// attackReport is one line of .cache/adversarial/report.jsonl.
type attackReport struct {
	Attack          string         `json:"attack"`
	Statuses        map[string]int `json:"statuses"` // what the attacker got
	AttackSeconds   float64        `json:"attack_seconds"`
	PeakRSSMiB      float64        `json:"peak_rss_mib"`
	RSSBeforeMiB    float64        `json:"rss_before_mib"`
	CPUSeconds      float64        `json:"cpu_seconds"`
	PushP99Before   string         `json:"push_p99_before"`
	PushP99During   string         `json:"push_p99_during"`
	PushP99Ratio    float64        `json:"push_p99_ratio"`
	QueryP99Before  string         `json:"query_p99_before"`
	QueryP99During  string         `json:"query_p99_during"`
	QueryP99Ratio   float64        `json:"query_p99_ratio"`
	GoodFailed      int            `json:"good_requests_failed"`
	GoodRequests    int            `json:"good_requests"`
	ProcessSurvived bool           `json:"process_survived"`
}

func writeAttackReport(t *testing.T, r attackReport) {
	t.Helper()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	t.Logf("%s", b)
	if path := os.Getenv("HEARTH_ADVERSARIAL_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Write(append(b, '\n'))
		require.NoError(t, err)
	}
}

// statusCounter counts the attacker's answers by status (or error kind).
type statusCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *statusCounter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[key]++
}

func (c *statusCounter) addHTTP(resp *http.Response, err error) {
	if err != nil {
		c.add("error")
		return
	}
	c.add(strconv.Itoa(resp.StatusCode))
}

func (c *statusCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}
