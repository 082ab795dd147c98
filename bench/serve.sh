#!/usr/bin/env bash
# `netdiag serve` under load, next to blackbox_exporter on the same targets: 200 concurrent
# /probe requests (healthy, refused and silently dropped targets, http and tcp modules), every
# answer's wall time against its deadline, and the exporter's peak memory (VmHWM).
#
# The lab: a prober namespace 10.81.0.1 and a server namespace 10.81.0.2 (one veth pair) that this
# script creates and deletes on exit (trap); no traffic leaves them. The server answers HTTP on
# :8080 (python3 http.server), refuses :8081 (nothing listens) and drops :8082 (iptables DROP, no
# answer at all). Both exporters run in the prober namespace with the same blackbox.yml (module
# timeouts 2 s) and --web.listen-address on loopback; requests come from curl in that namespace,
# 200 at once (xargs -P 200), each bounded by `curl --max-time 10`.
#
# Needs root, iproute2, iptables, python3, curl, prometheus-blackbox-exporter. NETDIAG=path uses
# that binary instead of building the release one. Not part of CI (a benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "bench/serve.sh needs root (network namespaces); skipped"; exit 0; fi
for tool in ip iptables python3 curl xargs prometheus-blackbox-exporter timeout; do
  command -v "$tool" >/dev/null || { echo "bench/serve.sh: missing $tool" >&2; exit 1; }
done
if [ -n "${NETDIAG:-}" ]; then
  ND=$NETDIAG
else
  cargo build --release -q -p netdiag
  ND=${CARGO_TARGET_DIR:-$PWD/target}/release/netdiag
fi
N=${N:-200}
tag=ndb$$
P=${tag}p
S=${tag}s
work=$(mktemp -d)
cleanup() {
  for ns in "$S" "$P"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  done
  for ns in "$S" "$P"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

for ns in "$P" "$S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add p0 netns "$P" type veth peer name s0 netns "$S"
ip -n "$P" addr add 10.81.0.1/24 dev p0
ip -n "$S" addr add 10.81.0.2/24 dev s0
ip -n "$P" link set p0 up
ip -n "$S" link set s0 up
ip netns exec "$S" iptables -A INPUT -p tcp --dport 8082 -j DROP
mkdir -p "$work/www" && echo ok >"$work/www/index.html"
(cd "$work/www" && exec timeout 600 ip netns exec "$S" python3 -m http.server 8080 --bind 10.81.0.2 >/dev/null 2>&1) &

cat >"$work/blackbox.yml" <<'EOF'
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
EOF

# The requests: a third healthy, a third refused, a third silent; http and tcp alternating.
: >"$work/urls"
for i in $(seq 1 "$N"); do
  case $((i % 3)) in
    0) port=8080 ;;
    1) port=8081 ;;
    2) port=8082 ;;
  esac
  if [ $((i % 2)) = 0 ]; then
    echo "module=http_2xx&target=http://10.81.0.2:$port/" >>"$work/urls"
  else
    echo "module=tcp_connect&target=10.81.0.2:$port" >>"$work/urls"
  fi
done

wait_up() { # port
  for _ in $(seq 1 100); do
    ip netns exec "$P" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/-/healthy" && return 0
    sleep 0.1
  done
  echo "exporter on :$1 did not come up" >&2; return 1
}

run() { # name port command...
  local name=$1 port=$2; shift 2
  timeout 300 ip netns exec "$P" "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  wait_up "$port"
  local child
  child=$(pgrep -P "$pid" -n || echo "$pid")
  # The real exporter process (under `timeout` and `ip netns exec`): the newest descendant.
  for _ in 1 2 3; do
    local next
    next=$(pgrep -P "$child" -n || true)
    [ -n "$next" ] && child=$next || break
  done
  local start end
  start=$(date +%s.%N)
  xargs -P "$N" -I{} ip netns exec "$P" curl -s -o /dev/null --max-time 10 \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' \
    -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$port/probe?{}" <"$work/urls" >"$work/$name.times"
  end=$(date +%s.%N)
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$child/status" 2>/dev/null || echo 0)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$name" "$work/$name.times" "$start" "$end" "$hwm" <<'PY'
import sys
name, path, start, end, hwm = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rows = [l.split() for l in open(path) if l.strip()]
codes = {}
for code, _ in rows:
    codes[code] = codes.get(code, 0) + 1
times = sorted(float(t) for _, t in rows)
def pct(p):
    return times[min(len(times) - 1, int(p * len(times)))] if times else 0.0
late = sum(1 for t in times if t > 2.0 + 0.5)
print(f"| {name} | {len(rows)} | {codes} | {end - start:.2f} s | {pct(0.5) * 1000:.0f} ms | "
      f"{pct(0.99) * 1000:.0f} ms | {times[-1] * 1000 if times else 0:.0f} ms | {late} | {hwm / 1024:.1f} MiB |")
PY
}

echo "| exporter | answers | HTTP codes | wall | p50 | p99 | max | over deadline+0.5 s | peak RSS |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
run blackbox_exporter 19215 prometheus-blackbox-exporter --config.file "$work/blackbox.yml" \
  --web.listen-address 127.0.0.1:19215
run "netdiag serve" 19216 "$ND" serve --config.file "$work/blackbox.yml" \
  --web.listen-address 127.0.0.1:19216 --probe.concurrency 256
