#!/usr/bin/env bash
# Whole-system benchmark: Hearth against Prometheus v3 (the peer) on this
# machine, driven by cmd/loadgen. Everything runs on 127.0.0.1 and stops by
# itself; results go to $OUT as a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench/bench.sh [scenario ...]
#   ingest   (default) RF=1 all-in-one vs Prometheus: max sustained samples/s
#            (-max-rate), CPU-seconds per million samples, RSS, then query
#            latency under a steady scrape load.
#   cluster  sketch: 3 ingesters, RF=3, on loopback (Hearth only).
#   memory   sketch: RSS per series at 1M active series.
#   query    sketch: query latency over 1h of data.
#
# Environment (defaults in brackets):
#   SERIES [200000] float series (half counters, half gauges); CLASSIC [1000]
#   classic histograms (14 series each); NATIVE [0] native histograms;
#   DURATION [60s] ingest phase;
#   QUERY_DURATION [30s]; QUERY_RATE [5]; CONCURRENCY [8]; BATCH [2000];
#   PROTOCOL [rw1]; SYSTEMS ["prometheus hearth"]; REPEAT [3] runs per
#   system, alternating (the report shows each run and the medians);
#   PIN [unset]: when set, the system runs on CPU 1 and loadgen on CPU 0
#   (taskset);
#   HEARTH_BIN [build of ./cmd/hearth]; HEARTH_URL: push URL of an already
#   running Hearth (then HEARTH_PID, if set, is measured);
#   OUT [.cache/bench/results.md].
#
# Needs: go, curl, jq. Prometheus is installed through the Go module proxy
# into .cache/bench/bin (a few minutes the first time). That build has no
# web UI assets (they need npm); the API and the remote-write receiver,
# which are all this benchmark uses, work without them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$ROOT/.cache/bench
BIN=$CACHE/bin
PROM_MODULE_VERSION=v0.316.0 # Prometheus v3 as a Go module version (same as go.mod)

SERIES=${SERIES:-200000}
CLASSIC=${CLASSIC:-1000}
NATIVE=${NATIVE:-0}
DURATION=${DURATION:-60s}
QUERY_DURATION=${QUERY_DURATION:-30s}
QUERY_RATE=${QUERY_RATE:-5}
CONCURRENCY=${CONCURRENCY:-8}
BATCH=${BATCH:-2000}
PROTOCOL=${PROTOCOL:-rw1}
SYSTEMS=${SYSTEMS:-prometheus hearth}
REPEAT=${REPEAT:-3}
PIN=${PIN:-}
OUT=${OUT:-$CACHE/results.md}
CLK_TCK=$(getconf CLK_TCK)

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
PIDS=()

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
	if [[ ! -x $BIN/prometheus ]]; then
		log "installing Prometheus $PROM_MODULE_VERSION through the Go module proxy into $BIN (takes a few minutes)"
		mkdir -p "$BIN"
		GOBIN=$BIN go install "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION"
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

# start_hearth: the all-in-one, RF=1, trusting X-Scope-OrgID and without
# ingestion limits, on a fresh data directory. Sets HEARTH_PID, HEARTH_PUSH,
# HEARTH_QUERY and SYSTEM_DIR.
start_hearth() {
	local http grpc internal gossip dir
	http=$(free_port) grpc=$(free_port) internal=$(free_port) gossip=$(free_port)
	dir=$(mktemp -d "$RUN_DIR/hearth.XXXXXX")
	SYSTEM_DIR=$dir
	local help extra=()
	help=$("$HEARTH_BIN" -help 2>&1 || true)
	# Flags that newer builds have: pass them only when this build knows them.
	if grep -q -- '-server.internal-listen-address' <<<"$help"; then
		extra+=(-server.internal-listen-address="127.0.0.1:$internal")
	fi
	if grep -q -- '-auth.mode' <<<"$help"; then
		extra+=(-auth.mode=trust-header)
	fi
	$PIN_SYSTEM "$HEARTH_BIN" -storage.dir="$dir/data" \
		-server.http-listen-address="127.0.0.1:$http" \
		-server.grpc-listen-address="127.0.0.1:$grpc" \
		-memberlist.bind-addr=127.0.0.1 -memberlist.bind-port="$gossip" \
		-distributor.ingestion-rate-limit=1e12 -distributor.ingestion-burst-size=2000000000 \
		"${extra[@]}" >"$dir/log" 2>&1 &
	HEARTH_PID=$!
	PIDS+=("$HEARTH_PID")
	HEARTH_PUSH=http://127.0.0.1:$http/api/v1/push
	HEARTH_QUERY=http://127.0.0.1:$http/prometheus
	wait_ready "http://127.0.0.1:$internal/ready" "http://127.0.0.1:$http/ready" || { tail -20 "$dir/log" >&2; return 1; }
	log "hearth up at http://127.0.0.1:$http (pid $HEARTH_PID)"
}

# cpu_seconds PID: user+system CPU seconds of PID so far.
cpu_seconds() {
	awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) / tck }' "/proc/$1/stat"
}

# rss_mib PID FIELD: VmRSS (now) or VmHWM (peak) of PID in MiB.
rss_mib() {
	awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# measure NAME PID PUSH_URL QUERY_URL RUN: the ingest phase (-max-rate),
# then a steady scrape load with queries. Appends one JSON object to
# $RUN_DIR/rows.json.
measure() {
	local name=$1 pid=$2 push=$3 query=$4 run=$5 cpu0 cpu1 ingest q rss hwm load
	ingest=$RUN_DIR/$name-$run-ingest.json
	q=$RUN_DIR/$name-$run-query.json
	log "$name (run $run): ingest, $SERIES float series + $CLASSIC classic + $NATIVE native histograms, -max-rate for $DURATION"
	cpu0=$(cpu_seconds "$pid")
	$PIN_LOADGEN "$BIN/loadgen" -url="$push" -protocol="$PROTOCOL" -tenant=bench -series="$SERIES" \
		-classic-histograms="$CLASSIC" -native-histograms="$NATIVE" \
		-max-rate -duration="$DURATION" -concurrency="$CONCURRENCY" -batch-size="$BATCH" \
		-summary-json="$ingest" -live-every=5s
	cpu1=$(cpu_seconds "$pid")
	rss=$(rss_mib "$pid" VmRSS)
	hwm=$(rss_mib "$pid" VmHWM)
	load=$(cut -d' ' -f1 /proc/loadavg)
	log "$name (run $run): steady load (the same series every 15s) with $QUERY_RATE queries/s for $QUERY_DURATION"
	$PIN_LOADGEN "$BIN/loadgen" -url="$push" -protocol="$PROTOCOL" -tenant=bench -series="$SERIES" \
		-classic-histograms="$CLASSIC" -native-histograms="$NATIVE" \
		-interval=15s -duration="$QUERY_DURATION" -concurrency="$CONCURRENCY" -batch-size="$BATCH" \
		-query-url="$query" -query-rate="$QUERY_RATE" -summary-json="$q" -live-every=5s
	jq -n --arg name "$name" --argjson run "$run" --argjson cpu "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" \
		--argjson rss "${rss:-0}" --argjson hwm "${hwm:-0}" --argjson load "$load" \
		--slurpfile i "$ingest" --slurpfile q "$q" '
		{name: $name, run: $run, cpu: $cpu, rss: $rss, hwm: $hwm, load: $load, i: $i[0], q: $q[0]}' >>"$RUN_DIR/rows.json"
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
	*) echo "bench: unknown system $1" >&2; exit 1 ;;
	esac
}

# Scenario 1: RF=1, each system alone on a fresh data directory, REPEAT
# times, alternating the systems so that background load hits both alike.
scenario_ingest() {
	local run sys
	: >"$RUN_DIR/rows.json"
	for run in $(seq 1 "$REPEAT"); do
		for sys in $SYSTEMS; do
			measure_system "$sys" "$run"
		done
	done
	report_ingest
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
	heavy50: .q.queries.range1h_heavy.p50_ms, heavy99: .q.queries.range1h_heavy.p99_ms,
	q99: qmax(.p99_ms), load, gen: .i.generator_cpu_seconds
};
def line: "| \(.name) | \(.run) | \(.sps | floor) | \(.cpm | r(100)) | \(.cores | r(100)) | \(.rss | round) | \(.hwm | round) | \(.p50 | r(10)) / \(.p99 | r(10)) | \(.dropped) | \(.heavy50 | r(10)) / \(.heavy99 | r(10)) | \(.q99 | r(10)) | \(.load) | \(.gen | r(10)) |";
'

report_ingest() {
	{
		echo "### Scenario 1: ingest, RF=1 ($(date -u +%F))"
		echo
		echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); loadgen runs on the same cores${PIN:+ (pinned: system on CPU 1, loadgen on CPU 0)}."
		echo
		echo "Command: \`SERIES=$SERIES CLASSIC=$CLASSIC NATIVE=$NATIVE DURATION=$DURATION REPEAT=$REPEAT CONCURRENCY=$CONCURRENCY BATCH=$BATCH PROTOCOL=$PROTOCOL QUERY_RATE=$QUERY_RATE QUERY_DURATION=$QUERY_DURATION${PIN:+ PIN=1} scripts/bench/bench.sh ingest\`"
		echo
		echo "| system | run | samples/s accepted | CPU-s per 1M samples | cores used | RSS after ingest (MiB) | peak RSS (MiB) | push p50 / p99 (ms) | dropped | range 1h heavy p50 / p99 (ms) | slowest query class p99 (ms) | host load (1m) | loadgen CPU-s |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		jq -rs "$JQ_DEFS"' .[] | row | line' "$RUN_DIR/rows.json"
		jq -rs "$JQ_DEFS"'
			[.[] | row] | group_by(.name) | map(. as $g | reduce ("sps","cpm","cores","rss","hwm","p50","p99","dropped","heavy50","heavy99","q99","load","gen") as $k
				({name: ("**" + $g[0].name + "**"), run: "median"}; .[$k] = ([$g[] | .[$k] | select(. != null)] | median))) as $m
			| ($m[] | line),
			  (if ($m | length) == 2 then
				($m | map({key: (.name | gsub("\\*"; "")), value: .}) | from_entries) as $by
				| if $by.hearth and $by.prometheus then
					def ratio(k): if ($by.prometheus[k] // 0) > 0 and $by.hearth[k] != null then ($by.hearth[k] / $by.prometheus[k] | r(100) | tostring) + "×" else "-" end;
					"| hearth ÷ prometheus | median | \(ratio("sps")) | \(ratio("cpm")) | \(ratio("cores")) | \(ratio("rss")) | \(ratio("hwm")) | \(ratio("p50")) / \(ratio("p99")) | | \(ratio("heavy50")) / \(ratio("heavy99")) | \(ratio("q99")) | | |"
				  else empty end
			   else empty end)' "$RUN_DIR/rows.json"
		echo
		echo "Ingest: \`loadgen -max-rate\` for $DURATION on a fresh data directory (timestamps from 1h ago, 15s apart per round). CPU-s and cores used are the system's own (/proc/<pid>/stat) during that phase; RSS is read right after it. Queries: the loadgen mix (instant cheap/medium/heavy, range 1h at 15s, 6h at 1m; heavy = histogram_quantile over classic buckets) at $QUERY_RATE/s while the same series are scraped every 15s. The slowest class's p99 is shown; per-class figures are in the JSON summaries next to the results."
	} | tee "$OUT"
	cp "$RUN_DIR"/*.json "$(dirname "$OUT")/" 2>/dev/null || true
	log "results in $OUT"
}

# Scenario 2 (sketch): a loopback cluster of 3 ingesters + distributor +
# querier with RF=3, loaded like scenario 1; compare samples/s and CPU per
# million samples with the RF=1 all-in-one (expect ~3× CPU per sample).
scenario_cluster() {
	log "cluster: sketch only. Start three '-target=ingester' processes (each its own -storage.dir, ports and -memberlist.join to the first),"
	log "one '-target=distributor,querier' with -ingester.ring.replication-factor=3, then run measure() against the distributor"
	log "and sum cpu_seconds over all five pids."
	return 0
}

# Scenario 3 (sketch): memory per active series: push 1M series at a
# steady 15s pacing for 3 rounds, then read RSS (and the Go heap from
# /metrics) on both systems; bytes per series = RSS / 1e6.
scenario_memory() {
	SERIES=1000000 DURATION=45s QUERY_RATE=0 scenario_ingest
}

# Scenario 4 (sketch): query latency over 1h of data: backfill 1h with
# -max-rate (240 rounds of 15s), then run only the query mix at a fixed
# rate for QUERY_DURATION and compare per-class p50/p99.
scenario_query() {
	log "query: sketch only: run scenario ingest with SERIES=10000 DURATION long enough for 240 rounds, QUERY_RATE=10."
	return 0
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
	build_tools
	local s
	for s in "${@:-ingest}"; do
		"scenario_$s"
	done
}

main "$@"
