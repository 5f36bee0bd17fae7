#!/usr/bin/env bash
# Stored bytes per sample on synthetic data, over several 2h windows: the
# load generator backfills HOURS of SERIES series at 15 s as fast as it can
# into the all-in-one (RF=1, Pebble, default 2h blocks). The head compacts
# each 2h block as it falls behind, and the flusher writes it to the store;
# a line per flushed block gives the store bytes it added. At the end the
# ingester flushes everything and the totals are divided by the samples.
#
#   SERIES=10000 HOURS=13 scripts/synthetic-store.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-10000}
HOURS=${HOURS:-13}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o bin/ ./cmd/hearth ./cmd/loadgen
bin/hearth -storage.dir="$WORK/hearth" -auth.mode=trust-header \
  -server.http-listen-address=127.0.0.1:19009 -server.internal-listen-address=127.0.0.1:19010 \
  -server.grpc-listen-address=127.0.0.1:19095 -memberlist.bind-addr=127.0.0.1 -memberlist.bind-port=17946 \
  -distributor.ingestion-rate-limit=1e12 -distributor.ingestion-burst-size=2000000000 \
  >"$WORK/hearth.out" 2>"$WORK/hearth.log" &
until curl -sf http://127.0.0.1:19009/ready >/dev/null; do sleep 0.5; done

metric() { curl -s http://127.0.0.1:19010/metrics | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f", s}'; }

# One pusher: pushers run ahead of each other, and a sample more than half
# a block range (1h) behind the head's newest is out of bounds, in
# Prometheus's TSDB as here.
# The first sample sits on a 2h boundary, so every flushed block is a full
# window of SERIES × 480 samples.
now=$(date +%s)
start=$(((now - HOURS * 3600) / 7200 * 7200))
bin/loadgen -url=http://127.0.0.1:19009/api/v1/push -tenant=synthetic -series="$SERIES" \
  -max-rate -backfill="$((now - start))s" -rounds=$(((now - start) / 15)) -duration=1h -concurrency=1 -batch-size=2000 -live-every=0 | tail -3

# Each flushed 2h block holds SERIES × 480 samples.
per_block=$((SERIES * 480))
echo "Waiting for the head to compact and flush its 2h blocks..."
blocks=0 last=0 lastchunk=0 quiet=0
while [ "$quiet" -lt 6 ]; do
  sleep 10
  b=$(metric hearth_ingester_flushed_blocks_total)
  if [ "$b" -gt "$blocks" ]; then
    wb=$(metric hearth_chunk_written_bytes_total) cb=$(metric hearth_ingester_flushed_bytes_total)
    awk -v n=$((b - blocks)) -v b="$b" -v wb=$((wb - last)) -v cb=$((cb - lastchunk)) -v s=$(((b - blocks) * per_block)) 'BEGIN {
      printf "blocks up to %d flushed (%d new): %.2f B/sample stored (index included), %.2f B/sample chunk data\n", b, n, wb/s, cb/s }'
    blocks=$b last=$wb lastchunk=$cb quiet=0
  else
    quiet=$((quiet + 1))
  fi
done
token=$(cat "$WORK/hearth/operator-token")
curl -sf -X POST -H "Authorization: Bearer $token" http://127.0.0.1:19010/ingester/flush
samples=$(metric hearth_ingester_ingested_samples_total)
bytes=$(metric hearth_chunk_written_bytes_total)
mutations=$(metric hearth_chunk_written_mutations_total)
chunkbytes=$(metric hearth_ingester_flushed_bytes_total)
disk=$(du -sb "$WORK/hearth/store" | cut -f1)
awk -v s="$samples" -v n="$SERIES" -v b="$bytes" -v c="$chunkbytes" -v m="$mutations" -v d="$disk" -v h="$(((now - start) / 3600))" 'BEGIN {
  printf "synthetic, %dh at 15 s: %d series, %d samples\n", h, n, s
  printf "stored (keys+columns+values, index included): %d bytes = %.2f B/sample\n", b, b/s
  printf "chunk data flushed: %.2f B/sample; Pebble directory on disk: %.2f B/sample\n", c/s, d/s
  printf "store mutations: %d = %.1f per series, %.1f per series per 2h window\n", m, m/n, m/n/(h/2)
}'
