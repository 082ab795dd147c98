#!/usr/bin/env bash
# The stall a dual-stack name with a silently dropped family costs a client, measured: IPv6 to
# the server is dropped on the router (ip6tables DROP, no ICMP), IPv4 works, and the name has
# an AAAA and an A (the client's hosts file). Measures, on the same fault in the same run:
#   (a) clients that try getaddrinfo's order one address at a time, no Happy Eyeballs:
#       python3 socket.create_connection with no timeout (the kernel's SYN retries) and with
#       timeout=5, and nc (netcat-openbsd) -w 5;
#   (b) curl, which does Happy Eyeballs (RFC 8305, 200 ms head start for IPv6);
#   (c) netdiag check's time to verdict (address_family_broken expected).
# Prints one row per client: seconds until connected (or the verdict) and what it said.
#
# The lab: client 2001:db8:79:1::2 / 10.79.1.2 - router - server 2001:db8:79:2::2 / 10.79.2.2,
# three namespaces this script creates and deletes on exit (trap); no traffic leaves them.
# Every command is bounded (`timeout`). The no-timeout python run waits the kernel's full SYN
# retry budget (tcp_syn_retries 6: about 130 s); SKIP_SLOW=1 leaves it out.
#
# Needs root, iproute2, ip6tables, python3, curl, nc (netcat-openbsd). NETDIAG=path uses that
# binary instead of building the release one. Not part of CI (a benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "bench/dualstack.sh needs root (network namespaces); skipped"; exit 0; fi
for tool in ip ip6tables python3 curl nc timeout; do
  command -v "$tool" >/dev/null || { echo "bench/dualstack.sh: missing $tool" >&2; exit 1; }
done
if [ -n "${NETDIAG:-}" ]; then
  ND=$NETDIAG
else
  cargo build --release -q -p netdiag
  ND=${CARGO_TARGET_DIR:-$PWD/target}/release/netdiag
fi
tag=nds$$
C=${tag}c
R=${tag}r
S=${tag}s
work=$(mktemp -d)
cleanup() {
  for ns in "$S" "$R" "$C"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  done
  for ns in "$S" "$R" "$C"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "/etc/netns/$C" "$work"
}
trap cleanup EXIT INT TERM

for ns in "$C" "$R" "$S"; do
  ip netns add "$ns"; ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add c0 netns "$C" type veth peer name r0 netns "$R"
ip link add r1 netns "$R" type veth peer name s0 netns "$S"
ip -n "$C" addr add 10.79.1.2/24 dev c0
ip -n "$C" addr add 2001:db8:79:1::2/64 dev c0 nodad
ip -n "$R" addr add 10.79.1.1/24 dev r0
ip -n "$R" addr add 2001:db8:79:1::1/64 dev r0 nodad
ip -n "$R" addr add 10.79.2.1/24 dev r1
ip -n "$R" addr add 2001:db8:79:2::1/64 dev r1 nodad
ip -n "$S" addr add 10.79.2.2/24 dev s0
ip -n "$S" addr add 2001:db8:79:2::2/64 dev s0 nodad
ip -n "$C" link set c0 up; ip -n "$R" link set r0 up; ip -n "$R" link set r1 up; ip -n "$S" link set s0 up
ip -n "$C" route add default via 10.79.1.1
ip -n "$C" -6 route add default via 2001:db8:79:1::1
ip -n "$S" route add default via 10.79.2.1
ip -n "$S" -6 route add default via 2001:db8:79:2::1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
mkdir -p "/etc/netns/$C"
printf '127.0.0.1 localhost\n2001:db8:79:2::2 dual.test\n10.79.2.2 dual.test\n' > "/etc/netns/$C/hosts"
printf 'nameserver 127.0.0.1\n' > "/etc/netns/$C/resolv.conf"
# A dual-stack HTTP server (http.server binds :: with IPV6_V6ONLY off).
ip netns exec "$S" timeout 600 python3 -m http.server --bind :: 8080 --directory "$work" >/dev/null 2>&1 &
for _ in $(seq 50); do
  ip netns exec "$C" timeout 1 nc -zw 1 10.79.2.2 8080 2>/dev/null && break
  sleep 0.1
done
v6up=
for _ in $(seq 20); do
  ip netns exec "$C" timeout 2 nc -zw 1 2001:db8:79:2::2 8080 2>/dev/null && { v6up=1; break; }
  sleep 0.2
done
[ -n "$v6up" ] || { echo "bench/dualstack.sh: IPv6 path not up" >&2; exit 1; }
# The fault: IPv6 to the server's port silently dropped.
ip netns exec "$R" ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP

in_c() { ip netns exec "$C" "$@"; }
now() { date +%s.%N; }
row() { printf '%-52s %9s  %s\n' "$1" "$2" "$3"; }
measure() { # label, bound, command...: seconds and the last line it printed
  local label=$1 bound=$2; shift 2
  local t0 t1 out
  t0=$(now)
  out=$(in_c timeout "$bound" "$@" 2>&1 | tail -1) || true
  t1=$(now)
  row "$label" "$(python3 -c "print(f'{$t1-$t0:.2f} s')")" "${out:0:60}"
}
echo "getaddrinfo order on the client: $(in_c getent ahostsv6 dual.test >/dev/null; in_c python3 -c 'import socket; print(", ".join(a[4][0] for a in socket.getaddrinfo("dual.test", 8080, type=socket.SOCK_STREAM)))')"
row "client" "time" "said"
PY='import socket,sys; t=float(sys.argv[1]) if sys.argv[1] != "none" else None; s=socket.create_connection(("dual.test", 8080), timeout=t); print("connected to", s.getpeername()[0])'
if [ -z "${SKIP_SLOW:-}" ]; then
  measure "python3 create_connection (no timeout)" 300 python3 -c "$PY" none
fi
measure "python3 create_connection(timeout=5)" 60 python3 -c "$PY" 5
measure "nc -zvw 5 (netcat-openbsd, address by address)" 60 nc -zvw 5 dual.test 8080
measure "curl (Happy Eyeballs)" 60 curl -sS -o /dev/null -w 'HTTP %{http_code} via %{remote_ip}' http://dual.test:8080/
measure "netdiag check http://dual.test:8080/" 60 sh -c "'$ND' check http://dual.test:8080/ --format json | python3 -c 'import json,sys; v=json.load(sys.stdin)[\"verdict\"]; print(v[\"layer\"], v[\"cause\"])'"
