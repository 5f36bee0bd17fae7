#!/usr/bin/env bash
# How many rule groups (10 rules each, 1m interval) one Hearth ruler (the
# all-in-one) sustains: for each NGROUPS count, load that many groups of
# sum by (cardinality_1e3) (rate(loadgen_counter_0_total[5m])) over 10,000
# counters, run RUNFOR seconds and report
# prometheus_rule_group_iterations_missed_total and the CPU used.
#
#   NGROUPS="50 100 200" scripts/bench/ruler-groups.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
GROUPS_LIST=${NGROUPS:-50 100 200}
RUNFOR=${RUNFOR:-180}
SERIES=${SERIES:-10000}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
metric() { curl -s "$1" | awk -v m="^$2" '$0 ~ m {s+=$NF} END {printf "%d\n", s}'; }
for n in $GROUPS_LIST; do
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/hearth-ruler-groups.XXXXXX")
	hp=$(port); ip=$(port); gp=$(port); mp=$(port)
	bin/hearth -target=all -storage.dir="$RUN/hearth" -auth.mode=trust-header -log.level=warn \
		-server.http-listen-address="127.0.0.1:$hp" -server.internal-listen-address="127.0.0.1:$ip" \
		-server.grpc-listen-address="127.0.0.1:$gp" -memberlist.bind-port="$mp" \
		-ruler.max-rule-groups-per-tenant=0 >"$RUN/hearth.log" 2>&1 &
	pid=$!
	until curl -sf "http://127.0.0.1:$ip/ready" >/dev/null; do sleep 0.2; done
	bin/loadgen -url "http://127.0.0.1:$hp/api/v1/push" -tenant bench -series "$SERIES" -gauge-fraction 0 \
		-series-per-metric "$SERIES" -max-rate -backfill 6m -interval 15s -rounds 25 -live-every 0 >/dev/null 2>&1
	for g in $(seq 1 "$n"); do
		{
			echo "name: g$g"
			echo "interval: 1m"
			echo "rules:"
			for i in $(seq 1 10); do
				echo "- record: job:loadgen_counter:rate5m_$i"
				echo "  expr: sum by (cardinality_1e3) (rate(loadgen_counter_0_total[5m]))"
				echo "  labels: {group: g$g}"
			done
		} | curl -sf -XPOST -H 'X-Scope-OrgID: bench' -H 'Content-Type: application/yaml' --data-binary @- \
			"http://127.0.0.1:$hp/prometheus/config/v1/rules/bench" >/dev/null
	done
	c0=$(cpu "$pid")
	sleep "$RUNFOR"
	c1=$(cpu "$pid")
	missed=$(metric "http://127.0.0.1:$ip/metrics" prometheus_rule_group_iterations_missed_total)
	iters=$(metric "http://127.0.0.1:$ip/metrics" prometheus_rule_group_iterations_total)
	fails=$(metric "http://127.0.0.1:$ip/metrics" prometheus_rule_evaluation_failures_total)
	python3 -c "print(f'$n groups: {$iters} group iterations, {$missed} missed, {$fails} rule failures in ${RUNFOR}s; {($c1-$c0)/$RUNFOR:.2f} CPU cores')"
	# The distinct errors of failing rules, if any.
	curl -s -H 'X-Scope-OrgID: bench' "http://127.0.0.1:$hp/prometheus/api/v1/rules" |
		python3 -c 'import json,sys,collections; c=collections.Counter(r.get("lastError","") for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"] if r.get("lastError")); [print(f"  {n} rules: {e[:300]}") for e,n in c.most_common(3)]'
	kill "$pid"; wait "$pid" 2>/dev/null || true
	rm -rf "$RUN"
done
