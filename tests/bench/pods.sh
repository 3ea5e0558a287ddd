#!/usr/bin/env bash
# tests/bench/pods.sh: `labdeck pods --json` against `kubectl get pods -A -o wide`, both listing the
# same 10,000 pods from labsim. Prints wall time and peak RSS medians of alternating runs.
# A benchmark, not a test: it prints figures and never fails on them.
# usage: tests/bench/pods.sh [LABDECK_BINARY] [PODS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
labdeck=${1:-build/labdeck}
pods=${2:-10000}
runs=${3:-5}
dir=$(mktemp -d)
python3 tests/labsim/labsim.py --dir "$dir" --pods "$pods" >"$dir/labsim.out" 2>"$dir/labsim.err" &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 600); do [ -f "$dir/state.json" ] && break; sleep 0.1; done
[ -f "$dir/state.json" ] || { echo "labsim did not start"; cat "$dir/labsim.err"; exit 1; }

have_kubectl=1
command -v kubectl >/dev/null || { have_kubectl=0; echo "kubectl is not on this machine: only labdeck is measured"; }

measure() { # measure NAME CMD... -> appends "seconds kb" to $dir/NAME
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$dir/time.tmp" "$@" >"$dir/out.$name" 2>/dev/null || true
  cat "$dir/time.tmp" >>"$dir/$name"
}

# One warm-up each (labsim caches its pages), then alternate.
measure warm "$labdeck" --config "$dir/labdeck.ini" pods --json
[ $have_kubectl = 1 ] && measure warm kubectl --kubeconfig "$dir/kubeconfig" get pods -A -o wide
for _ in $(seq "$runs"); do
  measure labdeck "$labdeck" --config "$dir/labdeck.ini" pods --json
  [ $have_kubectl = 1 ] && measure kubectl kubectl --kubeconfig "$dir/kubeconfig" get pods -A -o wide
done

count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pods"]))' "$dir/out.labdeck")
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ld_t=$(awk '{print $1}' "$dir/labdeck" | median)
ld_m=$(awk '{print $2}' "$dir/labdeck" | median)
echo "pods listed by labdeck: $count (labsim serves $pods)"
printf '%-40s %10s %14s\n' "command ($runs runs, median)" "wall s" "peak RSS MB"
printf '%-40s %10.2f %14.1f\n' "labdeck pods --json" "$ld_t" "$(awk "BEGIN{print $ld_m/1024}")"
if [ $have_kubectl = 1 ]; then
  kc_t=$(awk '{print $1}' "$dir/kubectl" | median)
  kc_m=$(awk '{print $2}' "$dir/kubectl" | median)
  kc_rows=$(($(wc -l <"$dir/out.kubectl") - 1))
  printf '%-40s %10.2f %14.1f\n' "kubectl get pods -A -o wide ($kc_rows rows)" "$kc_t" "$(awk "BEGIN{print $kc_m/1024}")"
  printf 'labdeck/kubectl: wall %.2f, peak RSS %.2f (the bar: <= 0.50 and <= 0.25)\n' \
    "$(awk "BEGIN{print $ld_t/$kc_t}")" "$(awk "BEGIN{print $ld_m/$kc_m}")"
fi
