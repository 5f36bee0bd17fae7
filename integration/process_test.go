//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds every command once per test run and returns the path of
// the named one.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hearth-e2e-bin")
		if buildErr != nil {
			return
		}
		// The Bigtable emulator comes from the bigtable module in go.mod,
		// so it builds offline from the module cache like everything else.
		for _, pkg := range []string{"../cmd/...", "cloud.google.com/go/bigtable/cmd/emulator"} {
			cmd := exec.Command("go", "build", "-o", binDir+"/", pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %w\n%s", pkg, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, name)
}

// freePort returns a port free for TCP and UDP on 127.0.0.1 at the time of
// the call. It picks below the kernel's ephemeral range (32768 and up on
// Linux): a port the kernel hands out is soon the local end of some
// outgoing connection, which then keeps the process started on it from
// binding. Ports already handed out in this run are not picked again.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if portsUsed[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		portsUsed[port] = true
		return port
	}
	t.Fatal("no free port in 20000-31999 on 127.0.0.1")
	return 0
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// emulator is a running Bigtable emulator (cbtemulator).
type emulator struct{ addr string }

// startEmulator runs the Bigtable emulator binary on a free loopback port.
func startEmulator(t *testing.T) *emulator {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binary(t, "emulator"), "-address="+addr)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventuallyf(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "emulator never listened:\n%s", logs)
	return &emulator{addr: addr}
}

// storeFlags point a process at the emulator's table.
func (e *emulator) storeFlags() []string {
	return []string{
		"-store.backend=bigtable",
		"-store.bigtable.project=hearth-e2e",
		"-store.bigtable.instance=hearth-e2e",
		"-store.bigtable.create-table=true",
	}
}

// process is one running Hearth binary.
type process struct {
	name     string
	bin      string
	args     []string
	env      []string
	dataDir  string
	httpAddr string
	internal string
	grpcAddr string
	gossip   string
	cmd      *exec.Cmd
	logs     *bytes.Buffer
	mu       sync.Mutex
}

// newProcess prepares a binary on free loopback ports; start runs it.
func newProcess(t *testing.T, name, bin string, dataDir string, extra ...string) *process {
	t.Helper()
	p := &process{
		name:     name,
		dataDir:  dataDir,
		bin:      binary(t, bin),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		internal: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		grpcAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gossip:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	_, gossipPort, _ := net.SplitHostPort(p.gossip)
	p.args = append([]string{
		"-storage.dir=" + dataDir,
		"-server.http-listen-address=" + p.httpAddr,
		"-server.grpc-listen-address=" + p.grpcAddr,
		"-server.internal-listen-address=" + p.internal,
		"-memberlist.bind-addr=127.0.0.1",
		"-memberlist.bind-port=" + gossipPort,
		"-memberlist.gossip-interval=50ms",
		"-memberlist.push-pull-interval=1s",
		"-ingester.ring.heartbeat-period=1s",
		"-ingester.ring.instance-id=" + name,
		"-ingester-client.health-check-period=1s",
		"-log.level=info",
		// Authentication has its own tests; these name the tenant by header.
		"-auth.mode=trust-header",
		"-auth.cluster-secret=e2e-cluster-secret",
	}, extra...)
	return p
}

// start runs the process and registers a cleanup that stops it.
func (p *process) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs = &bytes.Buffer{}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	require.NoError(t, p.cmd.Start())
	cmd := p.cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("--- logs of %s ---\n%s", p.name, p.logsString())
		}
	})
}

func (p *process) logsString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		return ""
	}
	s := p.logs.String()
	if len(s) > 8000 {
		s = "...\n" + s[len(s)-8000:]
	}
	return s
}

// operatorPost sends an authenticated POST to the operator listener.
func (p *process) operatorPost(t *testing.T, path string) *http.Response {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(p.dataDir, "operator-token"))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+p.internal+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// kill sends SIGKILL and waits for the process to end.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait(), "%s did not exit cleanly", p.name)
}

// waitReady waits for /ready to answer 200.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	require.Eventuallyf(t, func() bool {
		resp, err := http.Get("http://" + p.httpAddr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond, "%s never became ready:\n%s", p.name, p.logsString())
}

// metric returns the sum of the samples of a metric whose series contain
// every one of the given label matchers (`name="value"`).
func (p *process) metric(t *testing.T, name string, matchers ...string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.internal+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range matchers {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v); err == nil {
			sum += v
		}
	}
	return sum
}
