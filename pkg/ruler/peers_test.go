package ruler

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

type staticRing []ring.InstanceStatus

func (s staticRing) Status() ring.Status { return ring.Status{Instances: s} }

// TestStateMergesOtherRulers serves one ruler's groups over gRPC and reads
// the merged state from another: both rulers' groups, sorted, for the
// caller's tenant only.
func TestStateMergesOtherRulers(t *testing.T) {
	local := startRuler(t, testConfig(t), nil, nil, nil)
	remote := startRuler(t, testConfig(t), nil, nil, nil)
	local.store.set(t, "team-a", "ns", "groups:\n- name: z-local\n  rules:\n  - record: a\n    expr: vector(1)\n")
	remote.store.set(t, "team-a", "ns", "groups:\n- name: a-remote\n  rules:\n  - record: b\n    expr: vector(1)\n")
	local.ruler.Notify("team-a")
	remote.ruler.Notify("team-a")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor))
	remote.ruler.RegisterGRPC(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	peers := NewPeerClient(staticRing{
		{ID: "self", Addr: "127.0.0.1:1", Healthy: true, State: ring.StateName(ring.Active)},
		{ID: "remote", Addr: lis.Addr().String(), Healthy: true, State: ring.StateName(ring.Active)},
		{ID: "dead", Addr: "127.0.0.1:1", Healthy: false, State: ring.StateName(ring.Active)},
	}, "self", 5*time.Second)
	t.Cleanup(func() { require.NoError(t, peers.Close()) })
	api := local.ruler.StateHandler(peers.Groups)
	require.Eventually(t, func() bool {
		code, groups, _, _ := getState(t, api, "team-a", "/api/v1/rules")
		return code == 200 && len(groups) == 2 && groups[0].Name == "a-remote" && groups[1].Name == "z-local"
	}, 10*time.Second, 50*time.Millisecond)
	code, groups, _, _ := getState(t, api, "team-b", "/api/v1/rules")
	require.Equal(t, 200, code)
	require.Empty(t, groups)
}
