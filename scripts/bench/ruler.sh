#!/usr/bin/env bash
# Ruler benchmark: CPU-seconds per 1,000 evaluations of
# sum by (cardinality_1e3) (rate(loadgen_counter_0_total[5m])) over 10,000
# counters, Hearth's all-in-one ruler ÷ Prometheus evaluating the same rule
# file over the same data, one after the other in the same run.
#
#   scripts/bench/ruler.sh            # RULES=10 rules, 1s interval, WINDOW=60s
#
# Needs bin/hearth, bin/loadgen (make build) and .cache/bench/bin/prometheus
# (scripts/bench/bench.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PROM=.cache/bench/bin/prometheus
RULES=${RULES:-10}
WINDOW=${WINDOW:-60}
IDLE=${IDLE:-20}
SERIES=${SERIES:-10000}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/hearth-ruler-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
log() { echo "$(date +%T) $*" >&2; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; } # utime+stime in seconds (CLK_TCK 100)
evals() { curl -s "$1" | awk '/^prometheus_rule_evaluations_total/ {s+=$NF} END {printf "%d\n", s}'; }

{
	echo "groups:"
	echo "- name: bench"
	echo "  interval: 1s"
	echo "  rules:"
	for i in $(seq 1 "$RULES"); do
		echo "  - record: job:loadgen_counter:rate5m_$i"
		echo "    expr: sum by (cardinality_1e3) (rate(loadgen_counter_0_total[5m]))"
	done
} >"$RUN/rules.yml"

load() { # url tenant
	bin/loadgen -url "$1" -tenant "$2" -series "$SERIES" -gauge-fraction 0 -series-per-metric "$SERIES" \
		-max-rate -backfill 6m -interval 15s -rounds 25 -live-every 0 >/dev/null 2>&1
}

# measure name pid metrics-url: prints cpu-seconds per 1000 evaluations,
# idle CPU subtracted.
measure() {
	local c0 c1 e0 e1 i0 i1
	i0=$(cpu "$2"); sleep "$IDLE"; i1=$(cpu "$2")
	"$4" # load the rules
	sleep 10
	c0=$(cpu "$2"); e0=$(evals "$3"); sleep "$WINDOW"; c1=$(cpu "$2"); e1=$(evals "$3")
	python3 - "$1" "$i0" "$i1" "$c0" "$c1" "$e0" "$e1" "$IDLE" "$WINDOW" <<-'PY'
	import sys
	name, i0, i1, c0, c1, e0, e1, idle, window = sys.argv[1], *map(float, sys.argv[2:])
	idle_rate = (i1 - i0) / idle
	cpu = (c1 - c0) - idle_rate * window
	n = e1 - e0
	print(f"{name}: {n:.0f} evaluations in {window:.0f}s, {c1-c0:.2f} CPU-s ({idle_rate:.3f} CPU-s/s idle): {1000*cpu/n:.3f} CPU-s per 1000 evaluations (raw {1000*(c1-c0)/n:.3f})")
	PY
}

# Prometheus.
pp=$(port)
cat >"$RUN/prometheus.yml" <<EOF2
global: {evaluation_interval: 1s}
rule_files: [$RUN/rules.yml.off]
EOF2
"$PROM" --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prom" --web.listen-address="127.0.0.1:$pp" \
	--web.enable-remote-write-receiver --web.enable-lifecycle --log.level=warn >"$RUN/prom.log" 2>&1 &
PIDS+=($!); PROM_PID=$!
until curl -sf "http://127.0.0.1:$pp/-/ready" >/dev/null; do sleep 0.2; done
log "prometheus up; loading data"
load "http://127.0.0.1:$pp/api/v1/write" bench
prom_rules() { cp "$RUN/rules.yml" "$RUN/rules.yml.off"; curl -sf -XPOST "http://127.0.0.1:$pp/-/reload"; }
measure prometheus "$PROM_PID" "http://127.0.0.1:$pp/metrics" prom_rules
kill "$PROM_PID"; wait "$PROM_PID" 2>/dev/null || true

# Hearth, all in one.
hp=$(port); ip=$(port); gp=$(port); mp=$(port)
bin/hearth -target=all -storage.dir="$RUN/hearth" -auth.mode=trust-header -log.level=warn \
	-server.http-listen-address="127.0.0.1:$hp" -server.internal-listen-address="127.0.0.1:$ip" \
	-server.grpc-listen-address="127.0.0.1:$gp" -memberlist.bind-port="$mp" \
	-ruler.min-evaluation-interval=0 -ruler.ring.heartbeat-period=1s >"$RUN/hearth.log" 2>&1 &
PIDS+=($!); HEARTH_PID=$!
until curl -sf "http://127.0.0.1:$ip/ready" >/dev/null; do sleep 0.2; done
log "hearth up; loading data"
load "http://127.0.0.1:$hp/api/v1/push" bench
hearth_rules() {
	python3 - "$RUN/rules.yml" >"$RUN/group.yml" <<-'PY'
	import sys, re
	text = open(sys.argv[1]).read()
	# The one group, unindented (the API takes one group per POST).
	body = text.split("\n", 1)[1]
	print("\n".join(l[2:] if l.startswith("  ") else l.lstrip("- ") for l in body.splitlines()))
	PY
	curl -sf -XPOST -H 'X-Scope-OrgID: bench' -H 'Content-Type: application/yaml' --data-binary @"$RUN/group.yml" \
		"http://127.0.0.1:$hp/prometheus/config/v1/rules/bench" >/dev/null
}
measure hearth "$HEARTH_PID" "http://127.0.0.1:$ip/metrics" hearth_rules
