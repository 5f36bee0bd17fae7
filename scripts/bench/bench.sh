#!/usr/bin/env bash
# Whole-system benchmark: Hearth against Prometheus v3 and VictoriaMetrics
# single-node (the peers) on this machine, driven by cmd/loadgen. Everything runs on 127.0.0.1 and stops by
# itself; results go to $OUT as a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench/bench.sh [scenario ...]
#   ingest   (default) RF=1 all-in-one vs Prometheus: max sustained samples/s
#            (-max-rate), CPU-seconds per million samples, RSS, then push
#            latency paced at half of that maximum, then query latency under
#            a steady scrape load.
#   cluster  3 ingesters + distributor/querier, RF=3, on loopback, the same
#            load (CPU and RSS summed over the processes), with Prometheus.
#   memory   scenario 1 at 1M series (RSS per series).
#   query    query latency over 1h of backfilled data (QUERY_SERIES [20000],
#            QUERY_CLASSIC [200], QUERY_RATE_4 [10], QUERY_DURATION_4 [60s]).
#
# Environment (defaults in brackets):
#   SERIES [200000] float series (half counters, half gauges); CLASSIC [1000]
#   classic histograms (14 series each); NATIVE [0] native histograms;
#   DURATION [60s] ingest phase; HALF_DURATION [30s] the phase paced at
#   half of the maximum rate just measured (0: skip it);
#   QUERY_DURATION [30s]; QUERY_RATE [5]; CONCURRENCY [8]; BATCH [2000];
#   PROTOCOL [rw1]; SYSTEMS ["prometheus victoriametrics hearth"]; REPEAT [3] runs per
#   system, alternating (the report shows each run and the medians);
#   PIN [unset]: when set, the system runs on CPU 1 and loadgen on CPU 0
#   (taskset);
#   HEARTH_BIN [build of ./cmd/hearth]; HEARTH_URL: push URL of an already
#   running Hearth (then HEARTH_PID, if set, is measured);
#   OUT [.cache/bench/results.md].
#
# Needs: go, curl, jq. Prometheus and VictoriaMetrics are installed through
# the Go module proxy into .cache/bench/bin (a few minutes each the first
# time), each only when SYSTEMS names it. Prometheus's build has no web UI
# assets (they need npm); the API and the remote-write receiver, which are
# all this benchmark uses, work without them. VictoriaMetrics takes remote
# write at /api/v1/write and answers the Prometheus query API at its root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$ROOT/.cache/bench
BIN=$CACHE/bin
PROM_MODULE_VERSION=v0.316.0 # Prometheus v3 as a Go module version (same as go.mod)
VM_VERSION=v1.140.0

SERIES=${SERIES:-200000}
CLASSIC=${CLASSIC:-1000}
NATIVE=${NATIVE:-0}
DURATION=${DURATION:-60s}
HALF_DURATION=${HALF_DURATION:-30s}
QUERY_DURATION=${QUERY_DURATION:-30s}
QUERY_RATE=${QUERY_RATE:-5}
CONCURRENCY=${CONCURRENCY:-8}
BATCH=${BATCH:-2000}
PROTOCOL=${PROTOCOL:-rw1}
SYSTEMS=${SYSTEMS:-prometheus victoriametrics hearth}
REPEAT=${REPEAT:-3}
PIN=${PIN:-}
OUT=${OUT:-$CACHE/results.md}
CLK_TCK=$(getconf CLK_TCK)

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
PIDS=()
NODE_ENV=()

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT

need() {
	command -v "$1" >/dev/null || { echo "bench: $1 is required (apt-get install $1)" >&2; exit 1; }
}

# free_port prints a loopback TCP port nobody listens on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

install_prometheus() {
	[[ " $SYSTEMS " == *" prometheus "* ]] || return 0
	if [[ ! -x $BIN/prometheus ]]; then
		log "installing Prometheus $PROM_MODULE_VERSION through the Go module proxy into $BIN (takes a few minutes)"
		mkdir -p "$BIN"
		GOBIN=$BIN go install "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION"
	fi
}

install_victoriametrics() {
	[[ " $SYSTEMS " == *" victoriametrics "* ]] || return 0
	if [[ ! -x $BIN/victoria-metrics ]]; then
		log "installing VictoriaMetrics $VM_VERSION through the Go module proxy into $BIN (about 2 minutes)"
		mkdir -p "$BIN"
		GOBIN=$BIN go install "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$VM_VERSION"
	fi
}

build_tools() {
	mkdir -p "$BIN"
	log "building loadgen"
	(cd "$ROOT" && go build -o "$BIN/loadgen" ./cmd/loadgen)
	if [[ -z ${HEARTH_BIN:-} && -z ${HEARTH_URL:-} ]]; then
		log "building hearth"
		(cd "$ROOT" && go build -o "$BIN/hearth" ./cmd/hearth)
		HEARTH_BIN=$BIN/hearth
	fi
}

# wait_http URL: poll until URL answers 200 (60s at most).
wait_http() {
	local i
	for i in $(seq 1 600); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench: $1 did not come up" >&2
	return 1
}

# wait_ready URL...: poll until one of the URLs answers 200 (60s at most).
wait_ready() {
	local i u
	for i in $(seq 1 600); do
		for u in "$@"; do
			if curl -fsS -o /dev/null "$u" 2>/dev/null; then
				return 0
			fi
		done
		sleep 0.1
	done
	echo "bench: none of $* came up" >&2
	return 1
}

# start_prometheus: on a fresh data directory; sets PROM_PID, PROM_BASE and
# SYSTEM_DIR.
start_prometheus() {
	local port dir
	port=$(free_port)
	dir=$(mktemp -d "$RUN_DIR/prometheus.XXXXXX")
	SYSTEM_DIR=$dir
	mkdir -p "$dir/data"
	cat >"$dir/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 15s
		scrape_configs: []
	EOF
	$PIN_SYSTEM "$BIN/prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
		--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest \
		--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request \
		>"$dir/log" 2>&1 &
	PROM_PID=$!
	PIDS+=("$PROM_PID")
	PROM_BASE=http://127.0.0.1:$port
	wait_http "$PROM_BASE/-/ready"
	log "prometheus up at $PROM_BASE (pid $PROM_PID)"
}

# start_victoriametrics: single-node VictoriaMetrics on a fresh data
# directory; sets VM_PID, VM_BASE and SYSTEM_DIR. -search.latencyOffset=0s
# makes samples queryable as soon as they arrive (its default hides the
# last 30s, which Prometheus and Hearth answer), and the retention covers
# backfilled data.
start_victoriametrics() {
	local port dir
	port=$(free_port)
	dir=$(mktemp -d "$RUN_DIR/victoriametrics.XXXXXX")
	SYSTEM_DIR=$dir
	$PIN_SYSTEM "$BIN/victoria-metrics" -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$port" \
		-retentionPeriod=100y -search.latencyOffset=0s >"$dir/log" 2>&1 &
	VM_PID=$!
	PIDS+=("$VM_PID")
	VM_BASE=http://127.0.0.1:$port
	wait_http "$VM_BASE/health"
	log "victoriametrics up at $VM_BASE (pid $VM_PID)"
}

# start_hearth_node NAME ARGS...: one Hearth process on fresh ports and a
# fresh data directory, trusting X-Scope-OrgID, without ingestion limits.
# Sets NODE_PID, NODE_HTTP, NODE_INTERNAL, NODE_GOSSIP and NODE_DIR.
start_hearth_node() {
	local name=$1 grpc help extra=()
	shift
	NODE_HTTP=$(free_port) grpc=$(free_port) NODE_INTERNAL=$(free_port) NODE_GOSSIP=$(free_port)
	NODE_DIR=$(mktemp -d "$RUN_DIR/$name.XXXXXX")
	help=$("$HEARTH_BIN" -help 2>&1 || true)
	# Flags that newer builds have: pass them only when this build knows them.
	if grep -q -- '-server.internal-listen-address' <<<"$help"; then
		extra+=(-server.internal-listen-address="127.0.0.1:$NODE_INTERNAL")
	fi
	if grep -q -- '-auth.mode' <<<"$help"; then
		extra+=(-auth.mode=trust-header)
	fi
	if grep -q -- '-auth.cluster-secret ' <<<"$help"; then
		extra+=(-auth.cluster-secret=hearth-bench)
	fi
	env "${NODE_ENV[@]}" $PIN_SYSTEM "$HEARTH_BIN" -storage.dir="$NODE_DIR/data" \
		-server.http-listen-address="127.0.0.1:$NODE_HTTP" \
		-server.grpc-listen-address="127.0.0.1:$grpc" \
		-memberlist.bind-addr=127.0.0.1 -memberlist.bind-port="$NODE_GOSSIP" \
		-distributor.ingestion-rate-limit=1e12 -distributor.ingestion-burst-size=2000000000 \
		"${extra[@]}" "$@" >"$NODE_DIR/log" 2>&1 &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
	wait_ready "http://127.0.0.1:$NODE_INTERNAL/ready" "http://127.0.0.1:$NODE_HTTP/ready" || { tail -20 "$NODE_DIR/log" >&2; return 1; }
	log "hearth $name up at http://127.0.0.1:$NODE_HTTP (pid $NODE_PID)"
}

# start_hearth: the all-in-one (RF=1). Sets HEARTH_PID, HEARTH_PUSH,
# HEARTH_QUERY and SYSTEM_DIR.
start_hearth() {
	start_hearth_node all
	HEARTH_PID=$NODE_PID SYSTEM_DIR=$NODE_DIR
	HEARTH_PUSH=http://127.0.0.1:$NODE_HTTP/api/v1/push
	HEARTH_QUERY=http://127.0.0.1:$NODE_HTTP/prometheus
}

# start_cluster RF: three ingesters and one distributor+querier process,
# replication factor RF, gossiping on loopback. Sets CLUSTER_PIDS
# (space-separated), CLUSTER_DIRS, HEARTH_PUSH and HEARTH_QUERY.
start_cluster() {
	local rf=$1 i seed="" pids=() dirs=() metrics emu store
	# A cluster needs a shared chunk store: the Bigtable emulator from the
	# bigtable module in go.mod (in memory; its CPU is not counted).
	if [[ ! -x $BIN/emulator ]]; then
		log "building the Bigtable emulator"
		(cd "$ROOT" && go build -o "$BIN/" cloud.google.com/go/bigtable/cmd/emulator)
	fi
	emu=$(free_port)
	"$BIN/emulator" -address="127.0.0.1:$emu" >"$RUN_DIR/emulator.log" 2>&1 &
	EMULATOR_PID=$!
	PIDS+=("$EMULATOR_PID")
	for i in $(seq 1 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$emu") 2>/dev/null && break
		sleep 0.1
	done
	NODE_ENV=(BIGTABLE_EMULATOR_HOST="127.0.0.1:$emu")
	store=(-store.backend=bigtable -store.bigtable.project=hearth-bench -store.bigtable.instance=hearth-bench -store.bigtable.create-table=true)
	for i in 0 1 2; do
		start_hearth_node "ingester-$i" -target=ingester -ingester.ring.instance-id="ingester-$i" \
			-ingester.ring.replication-factor="$rf" "${store[@]}" ${seed:+-memberlist.join=$seed}
		[[ -n $seed ]] || seed=127.0.0.1:$NODE_GOSSIP
		pids+=("$NODE_PID") dirs+=("$NODE_DIR")
	done
	start_hearth_node front -target=distributor,querier -ingester.ring.replication-factor="$rf" "${store[@]}" -memberlist.join="$seed"
	pids+=("$NODE_PID") dirs+=("$NODE_DIR")
	NODE_ENV=()
	CLUSTER_PIDS="${pids[*]}" CLUSTER_DIRS="${dirs[*]}"
	HEARTH_PUSH=http://127.0.0.1:$NODE_HTTP/api/v1/push
	HEARTH_QUERY=http://127.0.0.1:$NODE_HTTP/prometheus
	for i in $(seq 1 600); do
		metrics=$(curl -fsS "http://127.0.0.1:$NODE_INTERNAL/metrics" 2>/dev/null || true)
		if grep -E '^hearth_ring_members\{.*name="ingester".*state="ACTIVE".*\} 3$' <<<"$metrics" >/dev/null; then
			log "cluster: the distributor sees 3 ACTIVE ingesters"
			return 0
		fi
		sleep 0.1
	done
	echo "bench: the distributor never saw 3 ACTIVE ingesters" >&2
	return 1
}

# cpu_seconds PID...: user+system CPU seconds of the PIDs so far, summed.
cpu_seconds() {
	local pid
	for pid in "$@"; do
		cat "/proc/$pid/stat"
	done | awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s / tck }'
}

# rss_mib FIELD PID...: VmRSS (now) or VmHWM (peak) of the PIDs in MiB, summed.
rss_mib() {
	local field=$1 pid
	shift
	for pid in "$@"; do
		cat "/proc/$pid/status"
	done | awk -v f="$field:" '$1 == f { s += $2 } END { printf "%.0f", s / 1024 }'
}

# measure NAME PIDS PUSH_URL QUERY_URL RUN: the ingest phase (-max-rate),
# a phase paced at half the rate it reached, then a steady scrape load with
# queries. Appends one JSON object to $RUN_DIR/rows.json. PIDS is a
# space-separated list; CPU and RSS are summed over it.
measure() {
	local name=$1 pid=$2 push=$3 query=$4 run=$5 cpu0 cpu1 ingest half q rss hwm load interval_ms
	ingest=$RUN_DIR/$name-$run-ingest.json
	half=$RUN_DIR/$name-$run-half.json
	q=$RUN_DIR/$name-$run-query.json
	log "$name (run $run): ingest, $SERIES float series + $CLASSIC classic + $NATIVE native histograms, -max-rate for $DURATION"
	cpu0=$(cpu_seconds $pid)
	$PIN_LOADGEN "$BIN/loadgen" -url="$push" -protocol="$PROTOCOL" -tenant=bench -series="$SERIES" \
		-classic-histograms="$CLASSIC" -native-histograms="$NATIVE" \
		-max-rate -duration="$DURATION" ${ROUNDS:+-rounds=$ROUNDS} -concurrency="$CONCURRENCY" -batch-size="$BATCH" \
		-summary-json="$ingest" -live-every=5s
	cpu1=$(cpu_seconds $pid)
	rss=$(rss_mib VmRSS $pid)
	hwm=$(rss_mib VmHWM $pid)
	load=$(cut -d' ' -f1 /proc/loadavg)
	if [[ $HALF_DURATION != 0 ]]; then
		# Every series once per interval, the interval chosen so the rate is
		# half of the maximum just measured: the push latency of a system
		# with headroom, as it runs in production.
		interval_ms=$(jq -r --argjson n "$((SERIES + 14 * CLASSIC + NATIVE))" \
			'[($n * 1000 * 2 / .samples_per_second | round), 1] | max' "$ingest")
		log "$name (run $run): half load, every series every ${interval_ms}ms (half of $(jq -r '.samples_per_second | floor' "$ingest") samples/s) for $HALF_DURATION"
		$PIN_LOADGEN "$BIN/loadgen" -url="$push" -protocol="$PROTOCOL" -tenant=bench -series="$SERIES" \
			-classic-histograms="$CLASSIC" -native-histograms="$NATIVE" \
			-interval="${interval_ms}ms" -duration="$HALF_DURATION" -concurrency="$CONCURRENCY" -batch-size="$BATCH" \
			-summary-json="$half" -live-every=5s
	else
		echo '{}' >"$half"
	fi
	log "$name (run $run): steady load (the same series every 15s) with $QUERY_RATE queries/s for $QUERY_DURATION"
	$PIN_LOADGEN "$BIN/loadgen" -url="$push" -protocol="$PROTOCOL" -tenant=bench -series="$SERIES" \
		-classic-histograms="$CLASSIC" -native-histograms="$NATIVE" \
		-interval=15s -duration="$QUERY_DURATION" -concurrency="$CONCURRENCY" -batch-size="$BATCH" \
		-query-url="$query" -query-rate="$QUERY_RATE" -summary-json="$q" -live-every=5s
	jq -n --arg name "$name" --argjson run "$run" --argjson cpu "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" \
		--argjson rss "${rss:-0}" --argjson hwm "${hwm:-0}" --argjson load "$load" \
		--slurpfile i "$ingest" --slurpfile h "$half" --slurpfile q "$q" '
		{name: $name, run: $run, cpu: $cpu, rss: $rss, hwm: $hwm, load: $load, i: $i[0], h: $h[0], q: $q[0]}' >>"$RUN_DIR/rows.json"
}

# measure_system NAME RUN: start NAME on a fresh data directory, measure
# it, stop it.
measure_system() {
	case $1 in
	prometheus)
		start_prometheus
		measure prometheus "$PROM_PID" "$PROM_BASE/api/v1/write" "$PROM_BASE" "$2"
		kill "$PROM_PID"
		wait "$PROM_PID" 2>/dev/null || true
		rm -rf "$SYSTEM_DIR"
		;;
	victoriametrics)
		start_victoriametrics
		measure victoriametrics "$VM_PID" "$VM_BASE/api/v1/write" "$VM_BASE" "$2"
		kill "$VM_PID"
		wait "$VM_PID" 2>/dev/null || true
		rm -rf "$SYSTEM_DIR"
		;;
	hearth)
		if [[ -n ${HEARTH_URL:-} ]]; then
			[[ -n ${HEARTH_PID:-} ]] || { log "HEARTH_URL without HEARTH_PID: CPU and RSS are this script's"; HEARTH_PID=$$; }
			measure hearth "$HEARTH_PID" "$HEARTH_URL" "${HEARTH_QUERY_URL:-${HEARTH_URL%/api/v1/push}/prometheus}" "$2"
		else
			start_hearth
			measure hearth "$HEARTH_PID" "$HEARTH_PUSH" "$HEARTH_QUERY" "$2"
			kill "$HEARTH_PID"
			wait "$HEARTH_PID" 2>/dev/null || true
			rm -rf "$SYSTEM_DIR"
		fi
		;;
	hearth-rf3 | hearth-rf1)
		start_cluster "${1#hearth-rf}"
		measure "$1" "$CLUSTER_PIDS" "$HEARTH_PUSH" "$HEARTH_QUERY" "$2"
		# shellcheck disable=SC2086
		kill $CLUSTER_PIDS
		local pid
		for pid in $CLUSTER_PIDS; do
			wait "$pid" 2>/dev/null || true
		done
		kill "$EMULATOR_PID"
		wait "$EMULATOR_PID" 2>/dev/null || true
		# shellcheck disable=SC2086
		rm -rf $CLUSTER_DIRS
		;;
	*) echo "bench: unknown system $1" >&2; exit 1 ;;
	esac
}

# Scenario 1: RF=1, each system alone on a fresh data directory, REPEAT
# times, alternating the systems so that background load hits both alike.
scenario_ingest() {
	run_systems "Scenario 1: ingest, RF=1" ingest $SYSTEMS
}

# run_systems TITLE SCENARIO SYSTEM...: REPEAT alternating runs of each
# system, then the report.
run_systems() {
	local title=$1 scenario=$2 run sys
	shift 2
	: >"$RUN_DIR/rows.json"
	for run in $(seq 1 "$REPEAT"); do
		for sys in "$@"; do
			measure_system "$sys" "$run"
		done
	done
	report "$title" "$scenario"
}

# The jq helpers of the report.
JQ_DEFS='
def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r(n): if . == null then "-" else (. * n | round) / n end;
def cpm: if .i.samples_accepted > 0 then .cpu / (.i.samples_accepted / 1e6) else null end;
def qmax(f): [(.q.queries // {})[] | f] | max;
def row: {
	name, run,
	sps: .i.samples_per_second, cpm: cpm, cores: (.cpu / .i.duration_seconds),
	rss, hwm, p50: .i.push_latency.p50_ms, p99: .i.push_latency.p99_ms, dropped: .i.samples_dropped,
	hsps: .h.samples_per_second, h50: .h.push_latency.p50_ms, h99: .h.push_latency.p99_ms,
	heavy50: .q.queries.range1h_heavy.p50_ms, heavy99: .q.queries.range1h_heavy.p99_ms,
	q99: qmax(.p99_ms), load, gen: .i.generator_cpu_seconds
};
def line: "| \(.name) | \(.run) | \(.sps | floor) | \(.cpm | r(100)) | \(.cores | r(100)) | \(.rss | round) | \(.hwm | round) | \(.p50 | r(10)) / \(.p99 | r(10)) | \(.dropped) | \(if .hsps == null then "-" else .hsps | floor end) | \(.h50 | r(10)) / \(.h99 | r(10)) | \(.heavy50 | r(10)) / \(.heavy99 | r(10)) | \(.q99 | r(10)) | \(.load) | \(.gen | r(10)) |";
'

# report TITLE SCENARIO: the Markdown table of $RUN_DIR/rows.json.
report() {
	local HALF_NOTE=""
	[[ $HALF_DURATION == 0 ]] || HALF_NOTE=" ½ load: then $HALF_DURATION paced at half of the samples/s just reached (every series once per interval, \`-interval\` = series ÷ half the rate)."
	{
		echo "### $1 ($(date -u +%F))"
		echo
		echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); loadgen runs on the same cores${PIN:+ (pinned: system on CPU 1, loadgen on CPU 0)}."
		echo
		echo "Command: \`SERIES=$SERIES CLASSIC=$CLASSIC NATIVE=$NATIVE DURATION=$DURATION HALF_DURATION=$HALF_DURATION${ROUNDS:+ ROUNDS=$ROUNDS} REPEAT=$REPEAT CONCURRENCY=$CONCURRENCY BATCH=$BATCH PROTOCOL=$PROTOCOL QUERY_RATE=$QUERY_RATE QUERY_DURATION=$QUERY_DURATION${PIN:+ PIN=1} scripts/bench/bench.sh $2\`"
		echo
		echo "| system | run | samples/s accepted | CPU-s per 1M samples | cores used | RSS after ingest (MiB) | peak RSS (MiB) | push p50 / p99 (ms) | dropped | ½ load samples/s | ½ load push p50 / p99 (ms) | range 1h heavy p50 / p99 (ms) | slowest query class p99 (ms) | host load (1m) | loadgen CPU-s |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		jq -rs "$JQ_DEFS"' .[] | row | line' "$RUN_DIR/rows.json"
		jq -rs "$JQ_DEFS"'
			[.[] | row] | group_by(.name) | map(. as $g | reduce ("sps","cpm","cores","rss","hwm","p50","p99","dropped","hsps","h50","h99","heavy50","heavy99","q99","load","gen") as $k
				({name: ("**" + $g[0].name + "**"), run: "median"}; .[$k] = ([$g[] | .[$k] | select(. != null)] | median))) as $m
			| ($m[] | line),
			  (($m | map({key: (.name | gsub("\\*"; "")), value: .}) | from_entries) as $by
				| ("prometheus", "victoriametrics") as $peer | select($by[$peer] != null)
				| $m[] | (.name | gsub("\\*"; "")) as $n | select($n != "prometheus" and $n != "victoriametrics") | . as $x
				| def ratio(k): if ($by[$peer][k] // 0) > 0 and $x[k] != null then ($x[k] / $by[$peer][k] | r(100) | tostring) + "×" else "-" end;
				  "| \($n) ÷ \($peer) | median | \(ratio("sps")) | \(ratio("cpm")) | \(ratio("cores")) | \(ratio("rss")) | \(ratio("hwm")) | \(ratio("p50")) / \(ratio("p99")) | | \(ratio("hsps")) | \(ratio("h50")) / \(ratio("h99")) | \(ratio("heavy50")) / \(ratio("heavy99")) | \(ratio("q99")) | | |")' "$RUN_DIR/rows.json"
		echo
		echo "Ingest: \`loadgen -max-rate\` for $DURATION on a fresh data directory (timestamps from 1h ago, 15s apart per round). CPU-s and cores used are the system's own (/proc/<pid>/stat) during that phase; RSS is read right after it.${HALF_NOTE} Queries: the loadgen mix (instant cheap/medium/heavy, range 1h at 15s, 6h at 1m; heavy = histogram_quantile over classic buckets) at $QUERY_RATE/s while the same series are scraped every 15s. The slowest class's p99 is shown; per-class figures follow, and the JSON summaries are in a folder named after the scenario next to the results."
		jq -es 'any(.[]; .q.queries != null)' "$RUN_DIR/rows.json" >/dev/null || return 0
		echo
		echo "Per query class, median p50 / worst p99 over the runs in ms (count):"
		echo
		echo "| class | $(jq -rs '[.[].name] | unique | join(" | ")' "$RUN_DIR/rows.json") |"
		echo "|---|$(jq -rs '[.[].name] | unique | map("---:") | join("|")' "$RUN_DIR/rows.json")|"
		jq -rs "$JQ_DEFS"'
			. as $rows
			| ([$rows[].name] | unique) as $names
			| ([$rows[].q.queries // {} | keys[]] | unique)[] as $c
			| "| \($c) | " + ([$names[] as $n
				| [$rows[] | select(.name == $n) | .q.queries[$c] | select(. != null)] as $qs
				| if ($qs | length) == 0 then "-" else
				  "\([$qs[].p50_ms] | median | r(10)) / \([$qs[].p99_ms] | max | r(10)) (\([$qs[].count] | add))" end] | join(" | ")) + " |"' "$RUN_DIR/rows.json"
	} | tee "$OUT"
	mkdir -p "$(dirname "$OUT")/$2"
	cp "$RUN_DIR"/*.json "$(dirname "$OUT")/$2/" 2>/dev/null || true
	log "results in $OUT"
}

# Scenario 2: a loopback cluster (three ingesters, one distributor+querier
# process, RF=3) under the scenario 1 load, CPU and RSS summed over the
# four processes. The same cluster at RF=1 (hearth-rf1) is the peer that
# prices replication: the all-in-one pushes to its ingester in-process, a
# cluster always over gRPC. With SYSTEMS containing prometheus, it runs
# alongside.
scenario_cluster() {
	local systems=(hearth-rf1 hearth-rf3)
	[[ " $SYSTEMS " != *" prometheus "* ]] || systems=(prometheus hearth-rf1 hearth-rf3)
	run_systems "Scenario 2: ingest into a 3-ingester cluster, RF=3" cluster "${systems[@]}"
}

# Scenario 3: memory per active series: scenario 1 with 1M float series,
# without queries; bytes per series = RSS / series.
scenario_memory() {
	SERIES=1000000 DURATION=45s QUERY_RATE=0 HALF_DURATION=0 run_systems "Scenario 3: memory at 1M series" memory $SYSTEMS
}

# Scenario 4: query latency over 1h of data: a fresh system gets 1h of
# data backfilled (-max-rate -rounds=240, 15s apart, ending now), then the
# query mix runs at QUERY_RATE while the same series are scraped every 15s.
scenario_query() {
	SERIES=${QUERY_SERIES:-20000} CLASSIC=${QUERY_CLASSIC:-200} ROUNDS=240 DURATION=10m HALF_DURATION=0 \
		QUERY_RATE=${QUERY_RATE_4:-10} QUERY_DURATION=${QUERY_DURATION_4:-60s} \
		run_systems "Scenario 4: query latency over 1h of data" query $SYSTEMS
}

main() {
	PIN_SYSTEM="" PIN_LOADGEN=""
	if [[ -n $PIN ]]; then
		need taskset
		PIN_SYSTEM="taskset -c 1" PIN_LOADGEN="taskset -c 0"
	fi
	need curl
	need jq
	need go
	install_prometheus
	install_victoriametrics
	build_tools
	local s
	for s in "${@:-ingest}"; do
		"scenario_$s"
	done
}

main "$@"
