#!/usr/bin/env bash
# `netdiag cloud check` on a large AWS estate: 2,000 instances, 500 security groups, 100 network
# ACLs (override with INSTANCES SGS ACLS). Times the whole command (read + parse + index +
# evaluate + render) for one allowed and one blocked query. Offline; needs hyperfine (falls back
# to a date +%s%N loop). Target: under 100 ms per query, release build.
set -euo pipefail
cd "$(dirname "$0")/.."
INSTANCES=${1:-2000} SGS=${2:-500} ACLS=${3:-100}
cargo build --release -q -p netdiag
cargo build --release -q -p netdiag-cloud --example gen_aws_estate
ND=$PWD/target/release/netdiag
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen_aws_estate "$work" "$INSTANCES" "$SGS" "$ACLS"
echo "estate: $INSTANCES instances, $SGS security groups, $ACLS network ACLs; $(du -sh "$work" | cut -f1) of JSON"
last=$(( (INSTANCES - 1) % ACLS ))
allowed=("$ND" cloud check --provider aws --resources "$work" --from 10.0.0.10 --to "10.0.$last.10" --port 443 --format json)
blocked=("$ND" cloud check --provider aws --resources "$work" --from 10.0.0.10 --to "10.0.$last.10" --port 8443 --format json)
"${allowed[@]}" >/dev/null && echo "allowed query: exit 0"
set +e; "${blocked[@]}" >/dev/null; code=$?; set -e
echo "blocked query: exit $code"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 3 --runs 30 -i --export-markdown "$work/bench.md" \
    -n allowed "$(printf '%q ' "${allowed[@]}")" \
    -n blocked "$(printf '%q ' "${blocked[@]}")"
  cat "$work/bench.md"
else
  for name in allowed blocked; do
    declare -n cmd=$name
    best=999999999999
    for _ in $(seq 20); do
      t0=$(date +%s%N); "${cmd[@]}" >/dev/null || true; t1=$(date +%s%N)
      (( t1 - t0 < best )) && best=$(( t1 - t0 ))
    done
    echo "$name: best of 20 $(( best / 1000000 )) ms"
  done
fi
