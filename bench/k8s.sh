#!/usr/bin/env bash
# `netdiag k8s matrix` and `k8s check` on a synthetic cluster: 5,000 pods, 200 namespaces,
# 1,000 NetworkPolicies (crates/netdiag-k8s/examples/gen_cluster.rs), written both as one
# `kind: List` JSON (what `kubectl get -o json` prints) and as multi-document YAML.
# Targets: the full matrix under 2 s and 1 GiB; one check under 100 ms.
# Wall time and peak RSS from /usr/bin/time -v; hyperfine when installed, else 10 timed runs.
# Env: PODS NAMESPACES POLICIES (sizes), RUNS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p netdiag --bin netdiag
cargo build --release -q -p netdiag-k8s --example gen_cluster
ND=$PWD/target/release/netdiag
GEN=$PWD/target/release/examples/gen_cluster
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=${RUNS:-10}

"$GEN" "$work/cluster.json" "${PODS:-5000}" "${NAMESPACES:-200}" "${POLICIES:-1000}"
"$GEN" "$work/cluster.yaml" "${PODS:-5000}" "${NAMESPACES:-200}" "${POLICIES:-1000}"
ls -l "$work"/cluster.*

# A flow that exercises the DNS pitfall: team00-prod allows DNS over UDP only.
src=team00-prod/$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(i["metadata"]["name"] for i in d["items"] if i["kind"]=="Pod" and i["metadata"]["namespace"]=="team00-prod" and i["metadata"]["labels"].get("app")=="frontend"))' "$work/cluster.json")
check_args=(--from "$src" --to kube-system/coredns-5d78c9869d-0 --port 53 --protocol TCP --format json)

rss() { # label, command...: wall time and peak RSS of one run
  local label=$1; shift
  /usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || true
  printf '%-28s wall %8s  peak RSS %7.1f MiB  output %s bytes\n' "$label" \
    "$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")" \
    "$(awk -F': ' '/Maximum resident set size/ {print $2/1024}' "$work/time")" \
    "$(wc -c <"$work/out")"
}

echo
echo "## one run each (/usr/bin/time -v)"
for f in json yaml; do
  rss "matrix --format json ($f)" "$ND" k8s matrix --manifests "$work/cluster.$f" --format json
  rss "matrix --format table ($f)" "$ND" k8s matrix --manifests "$work/cluster.$f" --format table
  rss "check ($f)" "$ND" k8s check --manifests "$work/cluster.$f" "${check_args[@]}"
done
"$ND" k8s matrix --manifests "$work/cluster.json" --format json |
  python3 -c 'import json,sys; print("stats:", json.load(sys.stdin)["stats"])'

echo
if command -v hyperfine >/dev/null; then
  hyperfine -N -i --warmup 2 --runs "$runs" --style none --export-markdown "$work/hf.md" \
    -n "matrix json (List JSON)" "$ND k8s matrix --manifests $work/cluster.json --format json" \
    -n "matrix json (YAML)" "$ND k8s matrix --manifests $work/cluster.yaml --format json" \
    -n "check (List JSON)" "$ND k8s check --manifests $work/cluster.json ${check_args[*]}" \
    -n "check (YAML)" "$ND k8s check --manifests $work/cluster.yaml ${check_args[*]}" \
    >/dev/null 2>&1
  cat "$work/hf.md"
else
  for name in matrix check; do
    for f in json yaml; do
      if [ "$name" = matrix ]; then cmd=("$ND" k8s matrix --manifests "$work/cluster.$f" --format json)
      else cmd=("$ND" k8s check --manifests "$work/cluster.$f" "${check_args[@]}"); fi
      start=$(date +%s%N)
      for _ in $(seq "$runs"); do "${cmd[@]}" >/dev/null || true; done
      echo "$name ($f): mean $(( ($(date +%s%N) - start) / runs / 1000000 )) ms over $runs runs"
    done
  done
fi
