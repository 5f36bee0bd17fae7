#!/usr/bin/env bash
# Stored bytes per sample on real data: a real Prometheus scrapes Debian's
# prometheus-node-exporter and itself every 15 s and remote-writes to the
# all-in-one (RF=1, Pebble) and to a single-node VictoriaMetrics (the peer);
# after DURATION the ingester flushes everything and the store's written
# bytes are divided by the samples ingested, and VictoriaMetrics's data
# directory (index included, after a flush and after a forced merge) by the
# samples it took in. Hearth's self-monitoring is off: both systems store
# exactly what Prometheus sends.
#
#   DURATION=45m BLOCK_RANGE=30m scripts/realdata.sh
#
# KEEP=.cache/realdata keeps the run's Prometheus TSDB there (after stopping
# Prometheus cleanly): the same real series and samples, replayable into the
# store in seconds by pkg/chunk's BenchmarkRealdataBytes.
#
# Installs what it needs itself: Prometheus and VictoriaMetrics through the Go
# module proxy into .cache/bench/bin, the node exporter from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-45m}
BLOCK_RANGE=${BLOCK_RANGE:-30m}
WORK=$(mktemp -d)
PROM=.cache/bench/bin/prometheus
VM=.cache/bench/bin/victoria-metrics
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ ! -x "$PROM" ]; then
  GOBIN=$PWD/.cache/bench/bin go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
fi
if [ ! -x "$VM" ]; then
  GOBIN=$PWD/.cache/bench/bin go install github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.140.0
fi
if ! command -v prometheus-node-exporter >/dev/null; then
  apt-get update -qq && apt-get install -y -qq prometheus-node-exporter
fi
go build -o bin/ ./cmd/hearth

prometheus-node-exporter --web.listen-address=127.0.0.1:19100 >"$WORK/node.log" 2>&1 &
bin/hearth -storage.dir="$WORK/hearth" -auth.mode=trust-header \
  -server.http-listen-address=127.0.0.1:19009 -server.internal-listen-address=127.0.0.1:19010 \
  -server.grpc-listen-address=127.0.0.1:19095 -memberlist.bind-addr=127.0.0.1 -memberlist.bind-port=17946 \
  -ingester.block-range="$BLOCK_RANGE" -self-monitoring.enabled=false >"$WORK/hearth.out" 2>"$WORK/hearth.log" &
hearthpid=$!
until curl -sf http://127.0.0.1:19009/ready >/dev/null; do sleep 0.5; done
"$VM" -storageDataPath="$WORK/vm" -httpListenAddr=127.0.0.1:19428 -retentionPeriod=100y \
  -search.latencyOffset=0s >"$WORK/vm.log" 2>&1 &
until curl -sf http://127.0.0.1:19428/health >/dev/null; do sleep 0.5; done

cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 15s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:19100"]}]
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:19090"]}]
remote_write:
  - url: http://127.0.0.1:19009/api/v1/push
    headers: {X-Scope-OrgID: realdata}
  - url: http://127.0.0.1:19428/api/v1/write
YAML
"$PROM" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address=127.0.0.1:19090 >"$WORK/prom.log" 2>&1 &
prompid=$!

metric() { curl -s "${2:-http://127.0.0.1:19010}/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f", s}'; }
seconds() { # 2h30m, 45m, 90s -> seconds
  local d=$1 total=0 n unit
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $unit in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
  done
  echo "$total"
}

# One line per flushed block: the store bytes it added, divided by the samples
# ingested since the previous flush (one block range at a steady scrape rate).
echo "Collecting for $DURATION (block range $BLOCK_RANGE)..."
end=$(($(date +%s) + $(seconds "$DURATION")))
blocks=0 lastbytes=0 lastchunk=0 lastsamples=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 30
  b=$(metric hearth_ingester_flushed_blocks_total)
  if [ "$b" -gt "$blocks" ]; then
    wb=$(metric hearth_chunk_written_bytes_total) cb=$(metric hearth_ingester_flushed_bytes_total)
    s=$(metric hearth_ingester_ingested_samples_total)
    awk -v b="$b" -v wb=$((wb - lastbytes)) -v cb=$((cb - lastchunk)) -v s=$((s - lastsamples)) 'BEGIN {
      printf "window %d flushed: %.2f B/sample stored (index included), %.2f B/sample chunk data, over %d samples\n", b, wb/s, cb/s, s }'
    blocks=$b lastbytes=$wb lastchunk=$cb lastsamples=$s
  fi
done
series=$(metric hearth_ingester_memory_series)
token=$(cat "$WORK/hearth/operator-token")
curl -sf -X POST -H "Authorization: Bearer $token" http://127.0.0.1:19010/ingester/flush
samples=$(metric hearth_ingester_ingested_samples_total)
bytes=$(metric hearth_chunk_written_bytes_total)
mutations=$(metric hearth_chunk_written_mutations_total)
chunkbytes=$(metric hearth_ingester_flushed_bytes_total)
disk=$(du -sb "$WORK/hearth/store" | cut -f1)
cpu=$(metric process_cpu_seconds_total)
awk -v cpu="$cpu" -v s="$samples" -v n="$series" -v b="$bytes" -v c="$chunkbytes" -v m="$mutations" -v d="$disk" -v dur="$DURATION" 'BEGIN {
  printf "real data, %s at 15 s: %d series, %d samples\n", dur, n, s
  printf "stored (keys+columns+values, index included): %d bytes = %.2f B/sample\n", b, b/s
  printf "chunk data flushed: %.2f B/sample; Pebble directory on disk: %.2f B/sample\n", c/s, d/s
  printf "store mutations: %d = %.1f per series\n", m, m/n
  printf "hearth CPU: %.1f s = %.2f CPU-s per million samples\n", cpu, cpu/s*1e6
}'
# Stopped, the store has flushed its memtables: its sstables are what it
# keeps on disk (compressed), without the WAL.
kill -TERM "$hearthpid" && wait "$hearthpid" || true
sst=$(find "$WORK/hearth/store" -name '*.sst' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
awk -v s="$samples" -v sst="$sst" 'BEGIN { printf "Pebble sstables after shutdown (memtables flushed): %d bytes = %.2f B/sample\n", sst, sst/s }'
vmsamples=$(metric vm_rows_inserted_total http://127.0.0.1:19428)
curl -sf http://127.0.0.1:19428/internal/force_flush >/dev/null
vmflushed=$(du -sb "$WORK/vm" | cut -f1)
curl -sf http://127.0.0.1:19428/internal/force_merge >/dev/null
sleep 5 # force_merge returns before the merge's old parts are removed
vmmerged=$(du -sb "$WORK/vm" | cut -f1)
vmcpu=$(metric process_cpu_seconds_total http://127.0.0.1:19428)
awk -v s="$vmsamples" -v f="$vmflushed" -v m="$vmmerged" -v cpu="$vmcpu" -v hb="$bytes" -v hs="$samples" -v sst="$sst" 'BEGIN {
  printf "victoriametrics: %d samples; data directory (index included) %.2f B/sample after a flush, %.2f B/sample after a forced merge\n", s, f/s, m/s
  printf "victoriametrics CPU: %.1f s = %.2f CPU-s per million samples\n", cpu, cpu/s*1e6
  printf "hearth stored B/sample ÷ victoriametrics (merged): %.2f×\n", (hb/hs)/(m/s)
  printf "hearth sstables B/sample ÷ victoriametrics (merged): %.2f×\n", (sst/hs)/(m/s)
}'
if [ -n "${KEEP:-}" ]; then
  kill -TERM "$prompid" && wait "$prompid" || true
  rm -rf "$KEEP/prom" && mkdir -p "$KEEP" && cp -r "$WORK/prom" "$KEEP/prom"
  echo "Prometheus TSDB kept in $KEEP/prom"
fi
