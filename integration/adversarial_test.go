//go:build integration && adversarial

package integration

import (
	"bytes"
	"context"
	encbin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// attack is one hostile workload against the victim. run blocks until the
// attack is over (each is bounded in count and time) and records what the
// attacker was answered; allowed lists the answers that are acceptable.
type attack struct {
	name    string
	run     func(t *testing.T, v *victim, c *statusCounter)
	allowed []string
	// goodMayFail: the attack holds resources every client shares (the
	// listener's connections), so the well-behaved tenant may be refused
	// during it; it must be served again once the attack ends.
	goodMayFail bool
}

// sustain is how long an attack is repeated for.
const sustain = 5 * time.Second

// TestAdversarial runs the worst inputs found against a running
// all-in-one with its default limits, one after another, while a
// well-behaved tenant pushes and queries: the process must survive each
// (under a memory cgroup where one can be made), answer the attacker with
// a 4xx, and keep serving the well-behaved tenant. Figures per attack are
// logged and appended to $HEARTH_ADVERSARIAL_REPORT (make test-adversarial).
func TestAdversarial(t *testing.T) {
	v := startVictim(t)
	good := startWellBehaved(t, v)

	attacks := []attack{
		{name: "query count_over_time(vector(1)[100y:1s])", run: queryAttack("count_over_time(vector(1)[100y:1s])", 4), allowed: []string{"400", "422"}},
		{name: "query count_over_time(vector(1)[1y:1s])", run: queryAttack("count_over_time(vector(1)[1y:1s])", 4), allowed: []string{"400", "422"}},
		{name: "query count_over_time(vector(1)[6h:1ms])", run: queryAttack("count_over_time(vector(1)[6h:1ms])", 4), allowed: []string{"400", "422"}},
		{name: "query 300 KB of 1+1+...+1", run: queryAttack(strings.Repeat("1+", 150_000)+"1", 4), allowed: []string{"400", "413", "422"}},
		{name: "push 25 x 9-byte snappy bodies claiming 100 MiB", run: pushAttack(snappyBomb(), 25), allowed: []string{"400", "413"}},
		{name: "push 5.2M empty series in one body", run: pushAttack(emptySeries(5_200_000), 4), allowed: []string{"400", "413"}},
		{name: "push one series with 1.5M empty labels", run: pushAttack(emptyLabels(1_500_000), 4), allowed: []string{"400", "413"}},
		{name: "auth 40 bad keys/s for 5 s from the good tenant's address", run: badKeyFlood, allowed: []string{"401", "429"}},
		{name: "http 2000 idle connections and 50 slow bodies", run: connectionFlood(2000, 50), allowed: []string{"closed", "open", "refused", "408", "400"}, goodMayFail: true},
		{name: "grpc 8 unauthenticated 90 MiB Push calls", run: grpcBigPush(8, 90<<20), allowed: []string{"Unauthenticated", "ResourceExhausted", "Unavailable", "Canceled"}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			// A quiet window before the attack is the well-behaved
			// tenant's baseline.
			baseline := time.Now()
			<-time.After(3 * time.Second)
			rssBefore := v.status(t, "VmRSS")
			v.resetPeak(t)
			cpuBefore := v.cpuSeconds(t)
			c := &statusCounter{}
			start := time.Now()
			// Attacks that are refused at once repeat for a few seconds,
			// so the well-behaved tenant's latency is measured during a
			// sustained attack; bounded in count too.
			for i := 0; i < 500 && (i == 0 || time.Since(start) < sustain); i++ {
				a.run(t, v, c)
			}
			end := time.Now()

			survived := v.alive()
			r := attackReport{Attack: a.name, Statuses: c.snapshot(), AttackSeconds: end.Sub(start).Seconds(), ProcessSurvived: survived,
				RSSBeforeMiB: float64(rssBefore) / (1 << 20)}
			if survived {
				r.PeakRSSMiB = float64(v.status(t, "VmHWM")) / (1 << 20)
				r.CPUSeconds = v.cpuSeconds(t) - cpuBefore
			}
			pb, pd := good.window("push", baseline, start), good.window("push", start, end.Add(time.Second))
			qb, qd := good.window("query", baseline, start), good.window("query", start, end.Add(time.Second))
			r.PushP99Before, r.PushP99During = pb.P99.String(), pd.P99.String()
			r.QueryP99Before, r.QueryP99During = qb.P99.String(), qd.P99.String()
			if pb.P99 > 0 {
				r.PushP99Ratio = float64(pd.P99) / float64(pb.P99)
			}
			if qb.P99 > 0 {
				r.QueryP99Ratio = float64(qd.P99) / float64(qb.P99)
			}
			r.GoodFailed, r.GoodRequests = pd.Failed+qd.Failed, pd.N+qd.N
			writeAttackReport(t, r)

			require.True(t, survived, "the process died under %q:\n%s", a.name, v.p.logsString())
			for got := range r.Statuses {
				require.Containsf(t, a.allowed, got, "the attacker got %q (want one of %v); all: %v", got, a.allowed, r.Statuses)
			}
			if !a.goodMayFail {
				require.Zerof(t, r.GoodFailed, "the well-behaved tenant had %d of %d requests fail during %q", r.GoodFailed, r.GoodRequests, a.name)
			}
			// Whatever the attack, the well-behaved tenant is served
			// again once it is over.
			require.Eventually(t, func() bool {
				from := time.Now()
				<-time.After(time.Second)
				w := good.window("push", from, time.Now())
				return w.N > 0 && w.Failed == 0
			}, 60*time.Second, 10*time.Millisecond, "the well-behaved tenant is not served after %q", a.name)
			// The operator listener answers throughout.
			resp, err := http.Get("http://" + v.p.internal + "/ready")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// queryAttack sends an instant query with the attacker's read key from n
// clients at once.
func queryAttack(expr string, n int) func(*testing.T, *victim, *statusCounter) {
	return func(t *testing.T, v *victim, c *statusCounter) {
		form := url.Values{"query": {expr}}.Encode()
		parallel(n, func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+v.p.httpAddr+"/prometheus/api/v1/query", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("evil", v.evilRead)
			resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
			c.addHTTP(resp, err)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// pushAttack sends a remote-write 1.0 body with the attacker's write key
// from n clients at once.
func pushAttack(body []byte, n int) func(*testing.T, *victim, *statusCounter) {
	return func(t *testing.T, v *victim, c *statusCounter) {
		parallel(n, func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+v.p.httpAddr+"/api/v1/push", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Content-Encoding", "snappy")
			req.SetBasicAuth("evil", v.evilPush)
			resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
			c.addHTTP(resp, err)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

func parallel(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(f)
	}
	wg.Wait()
}

// snappyBomb is a snappy block whose header claims 100 MiB of decoded
// data, followed by one literal byte.
func snappyBomb() []byte {
	b := encbin.AppendUvarint(nil, 100<<20)
	return append(b, 0x00, 'x', 0x00, 0x00)
}

// emptySeries is a WriteRequest of n empty TimeSeries (field 1, length 0):
// 2 bytes each on the wire, snappy-compressed to almost nothing.
func emptySeries(n int) []byte {
	return snappy.Encode(nil, bytes.Repeat([]byte{0x0a, 0x00}, n))
}

// emptyLabels is a WriteRequest of one TimeSeries holding n empty labels.
func emptyLabels(n int) []byte {
	series := bytes.Repeat([]byte{0x0a, 0x00}, n)
	raw := append([]byte{0x0a}, encbin.AppendUvarint(nil, uint64(len(series)))...)
	return snappy.Encode(nil, append(raw, series...))
}

// badKeyFlood sends 40 pushes a second for 5 s with wrong keys, half of
// them claiming the well-behaved tenant, from the same address it uses.
func badKeyFlood(t *testing.T, v *victim, c *statusCounter) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		<-tick.C
		tenant := "good"
		if i%2 == 1 {
			tenant = fmt.Sprintf("guess-%d", i)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+v.p.httpAddr+"/api/v1/push", strings.NewReader("x"))
		req.SetBasicAuth(tenant, fmt.Sprintf("hearth_aaaaaaaaaaaaaaaa_%052d", i))
		resp, err := http.DefaultClient.Do(req)
		c.addHTTP(resp, err)
		if err == nil {
			resp.Body.Close()
		}
	}
}

// connectionFlood opens idle connections that never send a request, and
// slow pushes that send their body one byte every 2 s, holds them for 10 s,
// then records per connection whether the server had closed it ("closed"),
// still held it ("open") or never accepted it ("refused").
func connectionFlood(idle, slow int) func(*testing.T, *victim, *statusCounter) {
	return func(t *testing.T, v *victim, c *statusCounter) {
		var conns []net.Conn
		defer func() {
			for _, conn := range conns {
				conn.Close()
			}
		}()
		for range idle {
			conn, err := net.DialTimeout("tcp", v.p.httpAddr, 2*time.Second)
			if err != nil {
				c.add("refused")
				continue
			}
			conns = append(conns, conn)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range slow {
			conn, err := net.DialTimeout("tcp", v.p.httpAddr, 2*time.Second)
			if err != nil {
				c.add("refused")
				continue
			}
			wg.Go(func() {
				defer conn.Close()
				fmt.Fprintf(conn, "POST /api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\nAuthorization: Basic %s\r\n\r\n", basic("evil", v.evilPush))
				tick := time.NewTicker(2 * time.Second)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						c.add(readStatus(conn))
						return
					case <-tick.C:
						if _, err := conn.Write([]byte{0}); err != nil {
							c.add(readStatus(conn))
							return
						}
					}
				}
			})
		}
		t.Logf("victim holds %d file descriptors with %d idle and %d slow connections open", v.openFiles(t), len(conns), slow)
		<-time.After(10 * time.Second)
		close(stop)
		wg.Wait()
		for _, conn := range conns {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := conn.Read(make([]byte, 1))
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				c.add("open")
			} else {
				c.add("closed")
			}
		}
	}
}

// readStatus reads an HTTP status from a connection that sent a partial
// request, or says it was closed.
func readStatus(conn net.Conn) string {
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b := make([]byte, 64)
	n, _ := conn.Read(b)
	if fields := strings.Fields(string(b[:n])); len(fields) > 1 && strings.HasPrefix(fields[0], "HTTP/") {
		return fields[1]
	}
	if n == 0 {
		return "closed"
	}
	return "open"
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// rawCodec sends pre-encoded bytes as a gRPC message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal([]byte, any) error   { return nil }
func (rawCodec) Name() string                  { return "proto" }

// grpcBigPush sends n concurrent Push calls of size bytes to the ingester's
// gRPC port without any cluster credential.
func grpcBigPush(n, size int) func(*testing.T, *victim, *statusCounter) {
	return func(t *testing.T, v *victim, c *statusCounter) {
		msg := bigPushOnce(size)
		conn, err := grpc.NewClient(v.p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(size*2)))
		require.NoError(t, err)
		defer conn.Close()
		parallel(n, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out []byte
			err := conn.Invoke(ctx, "/hearth.ingester.v1.Ingester/Push", msg, &out)
			c.add(status.Code(err).String())
		})
	}
}

var (
	bigPushMu  sync.Mutex
	bigPushMsg []byte
)

// bigPushOnce is one PushRequest of about size bytes: field 1 (a
// TimeSeries) holding padding, a valid message a handler would have to
// decode. It is built once per test run.
func bigPushOnce(size int) []byte {
	bigPushMu.Lock()
	defer bigPushMu.Unlock()
	if len(bigPushMsg) < size-16 {
		series := bytes.Repeat([]byte{0x0a, 0x00}, (size-16)/2)
		bigPushMsg = append([]byte{0x0a}, encbin.AppendUvarint(nil, uint64(len(series)))...)
		bigPushMsg = append(bigPushMsg, series...)
	}
	return bigPushMsg
}
