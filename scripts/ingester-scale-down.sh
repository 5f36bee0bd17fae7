#!/usr/bin/env bash
# Scale an ingester StatefulSet down without losing data (deploy/helm/hearth/README.md,
# "Scaling ingesters down"). For each pod to remove, highest ordinal first:
#
#   1. POST /ingester/shutdown on its operator listener with the operator
#      token: it goes LEAVING (no more writes), flushes everything to the
#      store, leaves the ring and exits; a 503 means the flush failed and the
#      script stops with the ingester still running and its data intact;
#   2. shrink the StatefulSet by one (the pod is gone before Kubernetes'
#      restart of the exited container can take writes for long);
#   3. wait until the instance is no longer in the ring, as seen by the
#      remaining ingester 0, forgetting it if the restarted container
#      re-registered before it was stopped.
#
# Usage: scripts/ingester-scale-down.sh [-n namespace] [-s statefulset] [-k token-secret] <replicas>
# Needs kubectl (with port-forward rights) and curl. The operator token is
# read from the Secret (key operator-token), or from $HEARTH_OPERATOR_TOKEN.
# With zone-aware replication, run it once per zone's StatefulSet.
set -euo pipefail

namespace=hearth
sts=hearth-ingester
secret=hearth-operator-token
port=9010
while getopts "n:s:k:p:" opt; do
  case $opt in
    n) namespace=$OPTARG ;;
    s) sts=$OPTARG ;;
    k) secret=$OPTARG ;;
    p) port=$OPTARG ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 [-n namespace] [-s statefulset] [-k token-secret] <replicas>" >&2; exit 2; }
want=$1
kc=(kubectl -n "$namespace")

current=$("${kc[@]}" get statefulset "$sts" -o jsonpath='{.spec.replicas}')
if (( want >= current )); then
  echo "$sts has $current replicas; nothing to remove for $want." >&2
  exit 0
fi
if (( want < 1 )); then
  echo "Refusing to scale $sts to $want: keep at least the replication factor of ingesters." >&2
  exit 2
fi

token=${HEARTH_OPERATOR_TOKEN:-}
if [[ -z $token ]]; then
  token=$("${kc[@]}" get secret "$secret" -o jsonpath='{.data.operator-token}' | base64 -d)
fi
auth=(-H "Authorization: Bearer $token")

forwards=()
cleanup() { for p in "${forwards[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# forward <pod> <local port>: port-forward the pod's operator listener and
# wait until it answers /ready's listener.
forward() {
  "${kc[@]}" port-forward "pod/$1" "$2:$port" >/dev/null 2>&1 &
  forwards+=($!)
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$2/metrics" && return 0
    sleep 0.2
  done
  echo "port-forward to $1 did not come up" >&2
  return 1
}

survivor=$sts-0
forward "$survivor" 19010

for (( i = current - 1; i >= want; i-- )); do
  pod=$sts-$i
  echo "== $pod: POST /ingester/shutdown (flushes everything; can take minutes)"
  forward "$pod" 19011
  code=$(curl -s -o /tmp/shutdown.$$ -w '%{http_code}' --max-time 3600 -X POST "${auth[@]}" "http://127.0.0.1:19011/ingester/shutdown" || true)
  kill "${forwards[-1]}" 2>/dev/null || true
  if [[ $code != 204 && $code != 200 ]]; then
    echo "$pod refused the shutdown (HTTP $code): $(cat /tmp/shutdown.$$ 2>/dev/null)" >&2
    echo "It keeps running with its data; fix the cause (usually the store: see docs/runbooks.md#hearthstoreerrors) and run this again." >&2
    rm -f /tmp/shutdown.$$
    exit 1
  fi
  rm -f /tmp/shutdown.$$
  echo "== $pod flushed and left the ring; scaling $sts to $i"
  "${kc[@]}" scale statefulset "$sts" --replicas="$i"
  "${kc[@]}" wait --for=delete "pod/$pod" --timeout=15m || true
  for _ in $(seq 1 60); do
    if ! curl -s "${auth[@]}" -H 'Accept: application/json' "http://127.0.0.1:19010/ring" | grep -q "\"id\":\"$pod\""; then
      break
    fi
    # The exited container was restarted and re-registered before the
    # scale-down stopped it: its data is on two other replicas too.
    echo "== $pod is still in the ring; forgetting it"
    curl -s -o /dev/null "${auth[@]}" -X POST --data-urlencode "forget=$pod" "http://127.0.0.1:19010/ring" || true
    sleep 2
  done
  echo "== $pod is out of the ring"
done
echo "$sts has $want replicas. Its PersistentVolumeClaims are kept (data-$sts-N); delete them once you will not scale back up."
