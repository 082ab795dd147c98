#!/usr/bin/env bash
# 200 targets on namespace addresses: one `netdiag check --targets` run against `nc -z` for each
# in turn, and against the slowest single check. The client and server are two network
# namespaces this script creates (10.78.0.1 <-> 10.78.0.2) and deletes on exit; no traffic
# leaves them. Needs root, iproute2, iptables, python3, nc (netcat-openbsd), hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "bench/netns.sh needs root (network namespaces); skipped"; exit 0; fi
cargo build --release -q
ND=$PWD/target/release/netdiag
tag=ndb$$
C=${tag}c
S=${tag}s
work=$(mktemp -d)
cleanup() {
  ip netns pids "$S" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$C"
ip netns add "$S"
ip link add c0 netns "$C" type veth peer name s0 netns "$S"
ip -n "$C" addr add 10.78.0.1/24 dev c0
ip -n "$S" addr add 10.78.0.2/24 dev s0
for ns in "$C" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set c0 up
ip -n "$S" link set s0 up

# Server: 150 listening ports (20000-20149), 40 closed (20150-20189), 10 silently dropped
# (20190-20199), so the run holds refusals and timeouts as well as healthy targets.
ip netns exec "$S" iptables -w -A INPUT -p tcp --dport 20190:20199 -j DROP
ip netns exec "$S" python3 - <<'PY' &
import selectors, socket, time
sel = selectors.DefaultSelector()
for port in range(20000, 20150):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.78.0.2", port)); s.listen(128); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
end = time.time() + 600
while time.time() < end:
    for key, _ in sel.select(timeout=1):
        try:
            conn, _ = key.fileobj.accept(); conn.close()
        except OSError:
            pass
PY
for _ in $(seq 50); do ip netns exec "$C" nc -z -w 1 10.78.0.2 20149 2>/dev/null && break; sleep 0.1; done
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
for p in $(seq 20000 20199); do echo "tcp://10.78.0.2:$p"; done > "$work/targets"
for p in $(seq 20000 20199); do echo "10.78.0.2 $p"; done > "$work/nc-list"

runs=${RUNS:-10}
in_c() { echo "ip netns exec $C $*"; }
echo "## 200 namespace targets (150 open, 40 closed, 10 dropped), deadline 2 s"
hyperfine -N -i --warmup 1 --runs "$runs" --style none --export-markdown "$work/out.md" \
  "$(in_c "$ND" check --targets "$work/targets" --timeout 2s --resolv-conf "$work/resolv.conf" --format json)" \
  "$(in_c "$ND" check tcp://10.78.0.2:20190 --timeout 2s --resolv-conf "$work/resolv.conf" --format json)" \
  "$(in_c sh -c "'while read h p; do nc -z -w 2 \$h \$p; done < $work/nc-list'")" >/dev/null 2>&1
cat "$work/out.md"
echo
echo "## peak memory, 200 namespace targets"
ip netns exec "$C" /usr/bin/time -f "max RSS %M KiB, %e s" "$ND" check --targets "$work/targets" --timeout 2s \
  --resolv-conf "$work/resolv.conf" --format json >/dev/null 2>"$work/time" || true
tail -1 "$work/time"
