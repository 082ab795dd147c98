#!/usr/bin/env bash
# Time to verdict on real namespace faults: `netdiag check` against what a person runs,
# `curl --connect-timeout 5 --max-time 10 URL` and then `nc -zw 5 HOST PORT` (nc alone for a
# tcp target), on the same fault in the same run. Prints one row per fault (netdiag's time and
# cause, the expected cause, curl+nc's time and what they said) and the totals.
#
# The lab: client 10.79.1.2 - 10.79.1.1 router 10.79.2.1 - 10.79.2.2 server (also .3: no DNS
# server, .4: DNS dropped), three namespaces this script creates and deletes on exit (trap); no
# traffic leaves them. Every command is bounded (`timeout`). The faults: silent drops at the
# server and mid-path, refusals (RST, ICMP port unreachable), admin-prohibited at the router and
# at the server, host unreachable (a REJECT, and no host behind the router's ARP), net
# unreachable, dead and silent nameservers, NXDOMAIN and NODATA, HTTP 4xx/5xx, a garbled and a
# silent HTTP server, a slow first byte, TLS faults (expired, self-signed, wrong host, not TLS)
# via openssl s_server, and a healthy set.
#
# Needs root, iproute2, iptables, python3, curl, nc (netcat-openbsd), openssl, dnsmasq.
# NETDIAG=path uses that binary instead of building the release one. Not part of CI (a benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "bench/ttv.sh needs root (network namespaces); skipped"; exit 0; fi
for tool in ip iptables python3 curl nc openssl dnsmasq timeout; do
  command -v "$tool" >/dev/null || { echo "bench/ttv.sh: missing $tool" >&2; exit 1; }
done
if [ -n "${NETDIAG:-}" ]; then
  ND=$NETDIAG
else
  cargo build --release -q -p netdiag
  ND=${CARGO_TARGET_DIR:-$PWD/target}/release/netdiag
fi
tag=ndt$$
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

# --- the lab -------------------------------------------------------------------------------
for ns in "$C" "$R" "$S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add c0 netns "$C" type veth peer name r0 netns "$R"
ip link add r1 netns "$R" type veth peer name s0 netns "$S"
ip -n "$C" addr add 10.79.1.2/24 dev c0
ip -n "$R" addr add 10.79.1.1/24 dev r0
ip -n "$R" addr add 10.79.2.1/24 dev r1
ip -n "$S" addr add 10.79.2.2/24 dev s0
ip -n "$S" addr add 10.79.2.3/24 dev s0
ip -n "$S" addr add 10.79.2.4/24 dev s0
ip -n "$C" link set c0 up; ip -n "$R" link set r0 up; ip -n "$R" link set r1 up; ip -n "$S" link set s0 up
ip -n "$C" route add default via 10.79.1.1
ip -n "$S" route add default via 10.79.2.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
in_c() { ip netns exec "$C" "$@"; }
in_r() { ip netns exec "$R" "$@"; }
in_s() { ip netns exec "$S" "$@"; }

# Firewall faults, one port each.
in_s iptables -w -A INPUT -p tcp --dport 8082 -j DROP
in_r iptables -w -A FORWARD -p tcp --dport 8083 -j DROP
in_r iptables -w -A FORWARD -p tcp --dport 8084 -j REJECT --reject-with icmp-admin-prohibited
in_s iptables -w -A INPUT -p tcp --dport 8085 -j REJECT --reject-with icmp-admin-prohibited
in_r iptables -w -A FORWARD -p tcp --dport 8086 -j REJECT --reject-with icmp-host-unreachable
in_s iptables -w -A INPUT -p tcp --dport 8087 -j REJECT --reject-with tcp-reset
in_s iptables -w -A INPUT -p tcp --dport 8088 -j REJECT
# A nameserver that stays silent (.4) and one with nothing on port 53 (.3).
in_s iptables -w -A INPUT -d 10.79.2.4 -p udp --dport 53 -j DROP
in_s iptables -w -A INPUT -d 10.79.2.4 -p tcp --dport 53 -j DROP

# HTTP: 200, 404, 500, 503, a slow first byte (5 s); a garbled server; one that never answers.
in_s python3 - <<'PY' >/dev/null 2>&1 &
import http.server, socket, socketserver, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/missing": 404, "/500": 500, "/503": 503}.get(self.path, 200)
        if self.path == "/slow":
            time.sleep(5)
        body = b"ok\n" if code == 200 else b"no\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class T(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
def raw(port, answer):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.79.2.2", port)); s.listen(64)
    def serve():
        while True:
            c, _ = s.accept()
            def one(c=c):
                try:
                    c.settimeout(15); c.recv(4096)
                    if answer: c.sendall(answer); c.close()
                    else: time.sleep(15); c.close()
                except OSError:
                    pass
            threading.Thread(target=one, daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
for port in (8080, 8082, 8083, 8084, 8085, 8086, 8087, 8088):
    threading.Thread(target=T(("10.79.2.2", port), H).serve_forever, daemon=True).start()
raw(8090, b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
raw(8091, None)
time.sleep(900)
PY

# DNS: dnsmasq on 10.79.2.2 for .test (good.test, other.test; txtonly.test has no address).
in_s dnsmasq -k -C /dev/null --no-resolv --no-hosts --user=root --bind-interfaces \
  --listen-address=10.79.2.2 --host-record=good.test,10.79.2.2 --host-record=other.test,10.79.2.2 \
  --txt-record=txtonly.test,hello --local=/test/ --pid-file="$work/dnsmasq.pid" >/dev/null 2>&1 &

# TLS: a CA, leaves for good.test (valid, expired), other.test (valid), and a self-signed one.
cd "$work"
mkdir -p ca/new && : > ca/index.txt && echo 01 > ca/serial
cat > ca.cnf <<'CNF'
[ca]
default_ca = bench
[bench]
dir = ./ca
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/new
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
CNF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj "/CN=ttv bench root" 2>/dev/null
leaf() { # name, file, start, end
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$2.key" -out "$2.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$1" > "$2.ext"
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$2.csr" -out "$2.pem" -notext \
    -startdate "$3" -enddate "$4" -extfile "$2.ext" 2>/dev/null
}
now=$(date -u +%s)
stamp() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
leaf good.test good "$(stamp $((now - 86400)))" "$(stamp $((now + 86400 * 90)))"
leaf good.test expired "$(stamp $((now - 86400 * 60)))" "$(stamp $((now - 86400 * 30)))"
leaf other.test other "$(stamp $((now - 86400)))" "$(stamp $((now + 86400 * 90)))"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout self.key -out self.pem \
  -days 30 -subj "/CN=good.test" -addext "subjectAltName=DNS:good.test" 2>/dev/null
cd - >/dev/null
tls() { # port, cert
  in_s openssl s_server -quiet -www -accept "10.79.2.2:$1" -cert "$work/$2.pem" -key "$work/$2.key" \
    </dev/null >/dev/null 2>&1 &
}
tls 8443 good
tls 8444 expired
tls 8445 self
tls 8446 other

# The client's resolver: `ip netns exec` bind-mounts /etc/netns/$C/resolv.conf over
# /etc/resolv.conf, so curl and nc read the same file netdiag is given.
mkdir -p "/etc/netns/$C"
resolv() { printf '%s\n' "$@" > "/etc/netns/$C/resolv.conf"; }
resolv "nameserver 10.79.2.2"
for _ in $(seq 50); do
  in_c nc -z -w 1 10.79.2.2 8080 2>/dev/null && in_c nc -z -w 1 10.79.2.2 8446 2>/dev/null \
    && in_c python3 -c 'import socket; socket.getaddrinfo("good.test", 80)' 2>/dev/null && break
  sleep 0.1
done

# --- the faults ------------------------------------------------------------------------------
# Order matters for one of them: a router answers "net unreachable" out of the same per-source
# token bucket as its other ICMP errors (a burst of 6, then 1/s), and the faults after it drain
# that bucket (a failed ARP alone answers every queued SYN), so it runs before them.
# A dead first nameserver (ICMP port unreachable) costs glibc nothing: it asks the next at once.
# name | resolv.conf nameservers (comma-separated) | target | expected cause
faults=(
  "healthy tcp|10.79.2.2|tcp://10.79.2.2:8080|ok"
  "healthy tcp by name|10.79.2.2|tcp://good.test:8080|ok"
  "healthy http|10.79.2.2|http://10.79.2.2:8080/|ok"
  "healthy http by name|10.79.2.2|http://good.test:8080/|ok"
  "healthy https|10.79.2.2|https://good.test:8443/|ok"
  "tcp net unreachable at router|10.79.2.2|tcp://10.79.9.9:8080|net_unreachable"
  "tcp refused (no listener)|10.79.2.2|tcp://10.79.2.2:8081|tcp_refused"
  "tcp REJECT tcp-reset at server|10.79.2.2|tcp://10.79.2.2:8087|tcp_refused"
  "tcp REJECT port-unreach at server|10.79.2.2|tcp://10.79.2.2:8088|tcp_refused"
  "tcp silent drop at server|10.79.2.2|tcp://10.79.2.2:8082|tcp_timeout"
  "tcp silent drop mid-path|10.79.2.2|tcp://10.79.2.2:8083|tcp_timeout"
  "tcp admin-prohibited at router|10.79.2.2|tcp://10.79.2.2:8084|tcp_admin_prohibited"
  "tcp admin-prohibited at server|10.79.2.2|tcp://10.79.2.2:8085|tcp_admin_prohibited"
  "tcp host-unreach REJECT at router|10.79.2.2|tcp://10.79.2.2:8086|host_unreachable"
  "tcp no host behind router (ARP)|10.79.2.2|tcp://10.79.2.99:8080|host_unreachable"
  "http refused|10.79.2.2|http://10.79.2.2:8081/|tcp_refused"
  "http silent drop at server|10.79.2.2|http://10.79.2.2:8082/|tcp_timeout"
  "http silent drop mid-path|10.79.2.2|http://good.test:8083/|tcp_timeout"
  "http admin-prohibited at router|10.79.2.2|http://10.79.2.2:8084/|tcp_admin_prohibited"
  "http host-unreach at router|10.79.2.2|http://10.79.2.2:8086/|host_unreachable"
  "http 404|10.79.2.2|http://good.test:8080/missing|http_4xx"
  "http 500|10.79.2.2|http://good.test:8080/500|http_5xx"
  "http 503|10.79.2.2|http://good.test:8080/503|http_5xx"
  "http garbled answer|10.79.2.2|http://10.79.2.2:8090/|http_not_http"
  "http no answer at all (no first byte by twice --slow)|10.79.2.2|http://10.79.2.2:8091/|http_slow"
  "http slow first byte (5 s)|10.79.2.2|http://good.test:8080/slow|http_slow"
  "https expired certificate|10.79.2.2|https://good.test:8444/|tls_cert_expired"
  "https self-signed certificate|10.79.2.2|https://good.test:8445/|tls_self_signed"
  "https wrong host certificate|10.79.2.2|https://good.test:8446/|tls_name_mismatch"
  "https to a plain-http port|10.79.2.2|https://good.test:8080/|tls_not_tls"
  "dns NXDOMAIN|10.79.2.2|http://nosuch.test:8080/|dns_nxdomain"
  "dns NODATA (no address)|10.79.2.2|http://txtonly.test:8080/|dns_nodata"
  "dns first nameserver dead|10.79.2.3,10.79.2.2|http://good.test:8080/|ok"
  "dns first nameserver silent|10.79.2.4,10.79.2.2|http://good.test:8080/|dns_nameserver_unreachable"
  "dns all nameservers silent|10.79.2.4|http://good.test:8080/|dns_timeout"
  "dns all nameservers dead|10.79.2.3|http://good.test:8080/|dns_timeout"
)

ms_now() { date +%s%3N; }
one_line() { tr '\n\r|' '   ' | sed 's/  */ /g; s/^ //; s/ $//' | cut -c1-"$1"; }
nd_total=0; person_total=0; exact=0; n=0
printf '| # | fault | netdiag ms | netdiag cause | expected | curl+nc ms | curl (exit: says) | nc exit |\n'
printf '|---|---|---:|---|---|---:|---|---|\n'
for f in "${faults[@]}"; do
  IFS='|' read -r name servers target want <<<"$f"
  n=$((n + 1))
  lines=()
  IFS=',' read -ra ns <<<"$servers"
  for s in "${ns[@]}"; do lines+=("nameserver $s"); done
  resolv "${lines[@]}"
  extra=()
  case "$target" in https://*) extra=(--cacert "$work/ca.pem") ;; esac
  t0=$(ms_now)
  out=$(in_c timeout 30 "$ND" check "$target" --format json --resolv-conf "/etc/netns/$C/resolv.conf" \
    "${extra[@]}" 2>/dev/null || true)
  t1=$(ms_now)
  cause=$(printf '%s' "$out" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["verdict"]["cause"])
except Exception: print("(no report)")')
  nd=$((t1 - t0))
  # The person: curl for a URL, then nc on its host and port.
  hostport=${target#*://}; hostport=${hostport%%/*}
  host=${hostport%:*}; port=${hostport##*:}
  curl_said="-"
  t0=$(ms_now)
  case "$target" in
    http://*|https://*)
      set +e
      said=$(in_c timeout 15 curl -sS -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" \
        --connect-timeout 5 --max-time 10 "$target" 2>&1)
      rc=$?
      set -e
      curl_said="$rc: $(printf '%s' "$said" | one_line 60)"
      ;;
  esac
  set +e
  in_c timeout 15 nc -zw 5 "$host" "$port" >/dev/null 2>&1
  nc_rc=$?
  set -e
  t1=$(ms_now)
  person=$((t1 - t0))
  mark=""
  if [ "$cause" = "$want" ]; then exact=$((exact + 1)); else mark=" (differs)"; fi
  nd_total=$((nd_total + nd)); person_total=$((person_total + person))
  printf '| %d | %s | %d | %s%s | %s | %d | %s | %d |\n' "$n" "$name" "$nd" "$cause" "$mark" "$want" \
    "$person" "$curl_said" "$nc_rc"
done
echo
printf 'faults: %d; netdiag total %d ms, curl+nc total %d ms, ratio %s; netdiag named the expected cause on %d of %d\n' \
  "$n" "$nd_total" "$person_total" \
  "$(python3 -c "print(f'{$nd_total / max($person_total, 1):.2f}')")" "$exact" "$n"
