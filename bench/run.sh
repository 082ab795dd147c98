#!/usr/bin/env bash
# Time-to-verdict benchmark: netdiag against `nc -z` and `curl` on the same loopback targets.
# Sends traffic only to loopback. Needs hyperfine, nc (netcat-openbsd), curl, python3; dnsmasq and
# root for the name-resolution case (skipped otherwise). Prints hyperfine's markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
ND=$PWD/target/release/netdiag
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A loopback HTTP server (healthy TCP and HTTP target).
port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
closed=$(free_port)

runs=${RUNS:-40}
echo "## healthy TCP on loopback (port $port)"
hyperfine -N --warmup 5 --runs "$runs" --style none --export-markdown "$work/tcp.md" \
  "nc -z 127.0.0.1 $port" \
  "$ND check tcp://127.0.0.1:$port --resolv-conf $work/resolv.conf --format json" >/dev/null
cat "$work/tcp.md"

echo; echo "## refused port on loopback (port $closed)"
hyperfine -N --warmup 5 --runs "$runs" -i --style none --export-markdown "$work/refused.md" \
  "nc -z 127.0.0.1 $closed" \
  "$ND check tcp://127.0.0.1:$closed --resolv-conf $work/resolv.conf --format json" >/dev/null
cat "$work/refused.md"

echo; echo "## healthy HTTP target on loopback (netdiag walks resolver..tcp; curl does the full request)"
hyperfine -N --warmup 5 --runs "$runs" --style none --export-markdown "$work/http.md" \
  "curl -s -o /dev/null http://127.0.0.1:$port/" \
  "$ND check http://127.0.0.1:$port/ --resolv-conf $work/resolv.conf --format json" >/dev/null
cat "$work/http.md"

if [ "$(id -u)" = 0 ] && command -v dnsmasq >/dev/null; then
  # A real DNS server on a loopback address of its own (port 53 needs root).
  dnsmasq --no-daemon --no-resolv --no-hosts --conf-file=/dev/null --bind-interfaces \
    --listen-address=127.0.77.53 --port=53 --host-record=bench.test,127.0.0.1 --pid-file= >/dev/null 2>&1 &
  pids+=($!)
  printf 'nameserver 127.0.77.53\n' > "$work/resolv-dns.conf"
  for _ in $(seq 50); do dig +short +time=1 @127.0.77.53 bench.test >/dev/null 2>&1 && break; sleep 0.1; done
  echo; echo "## name resolution + TCP (dnsmasq on 127.0.77.53): dig + nc -z vs netdiag"
  hyperfine -N --warmup 5 --runs "$runs" --style none --export-markdown "$work/dns.md" \
    "sh -c 'dig +short @127.0.77.53 bench.test A >/dev/null && nc -z 127.0.0.1 $port'" \
    "$ND check tcp://bench.test:$port --resolv-conf $work/resolv-dns.conf --format json" >/dev/null
  cat "$work/dns.md"
fi

echo; echo "## peak memory (max RSS, KiB) of one healthy check"
/usr/bin/time -f '%M' "$ND" check "tcp://127.0.0.1:$port" --resolv-conf "$work/resolv.conf" --format json 2>&1 >/dev/null | tail -1
