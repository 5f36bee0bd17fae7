#!/usr/bin/env bash
# `make run-cluster`: Hearth's scaled-out shape on one machine, from the
# built binaries (bin/hearth -target=...): the Bigtable emulator, a
# distributor, 3 ingesters (RF=3), a querier, a query frontend, a ruler and
# an Alertmanager, all on 127.0.0.1, gossiping through the distributor.
# State (emulator excepted: it keeps data in memory), logs and the shared
# credentials are in $CLUSTER_DIR (.cache/cluster). Ctrl-C stops everything.
#
#   distributor     public :9009 (push)      operator :9010
#   ingester-N      public :910N             operator :911N   (N = 1..3)
#   querier         public :9201             operator :9211
#   query-frontend  public :9301 (queries)   operator :9311
#   ruler           public :9401 (rules)     operator :9411
#   alertmanager    :9093
#   emulator        :8086 (BIGTABLE_EMULATOR_HOST)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${CLUSTER_DIR:-.cache/cluster}
tools=.cache/bin
am_version=${ALERTMANAGER_VERSION:-v0.31.1}
mkdir -p "$dir/logs" "$tools"

# The Bigtable emulator at the version of cloud.google.com/go/bigtable in
# go.mod, as the integration tests build it.
if [[ ! -x $tools/emulator ]]; then
	echo "Building the Bigtable emulator (once) into $tools/"
	go build -o "$tools/emulator" cloud.google.com/go/bigtable/cmd/emulator
fi
# Alertmanager, the upstream binary (once; SKIP_ALERTMANAGER=1 to go without).
if [[ ${SKIP_ALERTMANAGER:-} == "" && ! -x $tools/alertmanager ]]; then
	echo "Installing Alertmanager $am_version (once) into $tools/"
	GOBIN=$PWD/$tools go install "github.com/prometheus/alertmanager/cmd/alertmanager@$am_version" ||
		{ echo "Could not install Alertmanager; running without it." >&2; SKIP_ALERTMANAGER=1; }
fi

# One cluster secret and one operator token for every process.
if [[ ! -s $dir/cluster-secret ]]; then
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/cluster-secret")
fi

pids=()
stop() {
	trap - INT TERM EXIT
	echo; echo "Stopping the cluster"
	for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do kill "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

export BIGTABLE_EMULATOR_HOST=127.0.0.1:8086
"$tools/emulator" -host=127.0.0.1 -port=8086 >"$dir/logs/emulator.log" 2>&1 &
pids+=($!)

common=(
	-store.backend=bigtable -store.bigtable.project=hearth-local -store.bigtable.instance=hearth-local -store.bigtable.create-table=true
	-auth.cluster-secret-file="$dir/cluster-secret" -auth.operator-token-file="$dir/operator-token"
	-memberlist.bind-addr=127.0.0.1 -memberlist.join=127.0.0.1:7946
	-ingester.ring.replication-factor=3
)
# start NAME HTTP_PORT GOSSIP_PORT ARGS...: the operator port is HTTP+10,
# gRPC HTTP+20.
start() {
	local name=$1 http=$2 gossip=$3; shift 3
	mkdir -p "$dir/$name"
	bin/hearth "${common[@]}" -storage.dir="$dir/$name" \
		-server.http-listen-address=127.0.0.1:"$http" \
		-server.internal-listen-address=127.0.0.1:$((http == 9009 ? 9010 : http + 10)) \
		-server.grpc-listen-address=127.0.0.1:$((http == 9009 ? 9095 : http + 20)) \
		-memberlist.bind-port="$gossip" "$@" >"$dir/logs/$name.log" 2>&1 &
	pids+=($!)
}
# wait_ready NAME OPERATOR_PORT
wait_ready() {
	for _ in $(seq 1 300); do
		curl -sf -o /dev/null "http://127.0.0.1:$2/ready" && return 0
		sleep 0.2
	done
	echo "$1 is not ready after 60s; its log: $dir/logs/$1.log" >&2
	tail -20 "$dir/logs/$1.log" >&2
	exit 1
}

# Components this build has (the query frontend and the ruler are being
# added): a target -help does not list is skipped with a note.
help=$(bin/hearth -help 2>&1 || true)
has_target() { grep -q "components to run:.*\b$1\b" <<<"$help"; }
has_flag() { grep -q -- "^  -$1 " <<<"$help"; }
skipped=()

# The distributor first: everyone joins its gossip port.
start distributor 9009 7946 -target=distributor
for i in 1 2 3; do
	start "ingester-$i" $((9100 + i)) $((7946 + i)) -target=ingester -ingester.ring.instance-id="ingester-$i"
done
frontend_flag=()
if has_target query-frontend; then
	has_flag querier.frontend-address && frontend_flag=(-querier.frontend-address=127.0.0.1:9321)
	# Rules configuration and state are the ruler's: the frontend proxies
	# them, so Grafana needs the frontend's URL only.
	ruler_url=()
	has_target ruler && ruler_url=(-frontend.ruler-url=http://127.0.0.1:9401)
	start query-frontend 9301 7951 -target=query-frontend "${ruler_url[@]}"
else
	skipped+=(query-frontend)
fi
start querier 9201 7950 -target=querier "${frontend_flag[@]}"
am_flag=()
if [[ ${SKIP_ALERTMANAGER:-} == "" ]]; then
	printf 'route: {receiver: default}\nreceivers: [{name: default}]\n' >"$dir/alertmanager.yml"
	"$tools/alertmanager" --config.file="$dir/alertmanager.yml" --storage.path="$dir/alertmanager" \
		--web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$dir/logs/alertmanager.log" 2>&1 &
	pids+=($!)
	am_flag=(-ruler.alertmanager-url=http://127.0.0.1:9093)
fi
if has_target ruler; then
	has_flag ruler.alertmanager-url || am_flag=()
	start ruler 9401 7952 -target=ruler "${am_flag[@]}"
else
	skipped+=(ruler)
fi

wait_ready distributor 9010
for i in 1 2 3; do wait_ready "ingester-$i" $((9110 + i)); done
wait_ready querier 9211
has_target query-frontend && wait_ready query-frontend 9311
has_target ruler && wait_ready ruler 9411
# Queries go to the frontend, or to the querier when there is none.
query_port=9301
has_target query-frontend || query_port=9201

running="distributor, 3 ingesters with replication factor 3, querier"
has_target query-frontend && running+=", query frontend"
has_target ruler && running+=", ruler"
[[ ${SKIP_ALERTMANAGER:-} == "" ]] && running+=", Alertmanager (http://localhost:9093)"
rules=""
has_target ruler && rules="  Rules: http://localhost:${query_port:-9301}/prometheus/config/v1/rules (the ruler itself: :9401)"
cat <<MSG

Hearth is running as a cluster ($running;
Bigtable emulator; state and logs in $dir).

  Prometheus remote_write:  http://localhost:9009/api/v1/push
      basic_auth: { username: <tenant>, password: <key> }
  Grafana Prometheus datasource:  http://localhost:$query_port/prometheus
      (basic auth: user <tenant>, password <key>)
$rules

  Operator credential: $dir/operator-token
  Create the first key:
      bin/hearth keys create --tenant <tenant> --scope write,read --addr http://localhost:9010 --token-file $dir/operator-token
  Operator endpoints (keep them private): http://localhost:9010/ring  http://localhost:9010/config  http://localhost:9010/services
      (a browser asks for a user, any, and the operator token as password;
      http://localhost:9010/metrics and /ready need none)

  Scale-down of an ingester: curl -X POST -H "Authorization: Bearer \$(cat $dir/operator-token)" http://localhost:9113/ingester/shutdown

Ctrl-C stops the cluster.
MSG
if (( ${#skipped[@]} )); then
	echo "Not started (this build of bin/hearth has no such target yet): ${skipped[*]}"
fi
wait -n "${pids[@]}" || true
echo "A process exited; see $dir/logs/." >&2
