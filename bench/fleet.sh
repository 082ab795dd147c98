#!/usr/bin/env bash
# A fleet member's own cost: one `netdiag serve` with 220 scheduled targets at a 30 s interval,
# run for FLEET_BENCH_SECONDS (default 180 s = 6 rounds). Samples the process every 5 s from
# /proc/PID/stat (utime+stime) and /proc/PID/status (VmRSS, VmHWM, Threads), then scrapes
# /metrics 10 times and prints: average CPU (% of one core), the busiest 5 s window, peak RSS,
# the series in one scrape (lines not starting with #), its size and latency (p50/max), and the
# series per scheduled target by module. docs/fleet-scale.md turns these into the fleet's sums.
#
# The load: a member probes its ~20 configured targets, K=10 mesh peers and ~2 CoreDNS endpoints
# every 30 s (32 checks); 220 is that mix about 7 times over, so the member's figure is an upper
# bound. The 220 entries, all distinct targets:
#   50 tcp   (tcp_connect)  127.0.1.1-50:HP           listening
#   40 http  (http_2xx)     http://127.0.1.1-40:HP/healthz
#   10 https (https_2xx)    https://127.0.5.1-10:TP/healthz    (TLS 1.3, a CA made here)
#   60 mesh  (mesh_http)    http://127.0.2.1-60:MP/-/healthy   (peers' listeners)
#   20 dns   (dns_a)        127.0.3.1-20:DP            A kubernetes.default.svc.cluster.local
#   20 walk  (netdiag_walk) http://127.0.1.1-15:HP/walk, https://127.0.5.1-5:TP/walk
#                           (`prober: netdiag`, the full walk)
#   20 failing: 10 tcp and 5 http to a closed port on 127.0.4.1-15 (refused), 3 http 503,
#      2 walks to the closed port.
# One python3 process serves every listener (HTTP, HTTPS, the mesh peers, a minimal DNS
# responder that answers any A question with 127.0.0.1); it is bounded by `timeout` like the
# exporter.
#
# NETWORK SAFETY: every address is in 127.0.0.0/8 (the servers bind 127.0.x.y, never a wildcard;
# the targets are IP literals, so no name is resolved and no nameserver is asked). No root needed.
#
# FLEET_BENCH_METRICS=path keeps the last /metrics scrape there.
# Needs python3, curl, openssl, timeout. NETDIAG=path uses that binary instead of building the release
# one (cargo build --release -p netdiag; CARGO_TARGET_DIR is honoured). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in python3 curl openssl timeout awk; do
  command -v "$tool" >/dev/null || { echo "bench/fleet.sh: missing $tool" >&2; exit 1; }
done
SECONDS_RUN=${FLEET_BENCH_SECONDS:-180}
case $SECONDS_RUN in '' | *[!0-9]*) echo "FLEET_BENCH_SECONDS must be a whole number" >&2; exit 2 ;; esac
[ "$SECONDS_RUN" -ge 10 ] || { echo "FLEET_BENCH_SECONDS must be at least 10" >&2; exit 2; }
INTERVAL=30
if [ -n "${NETDIAG:-}" ]; then
  ND=$NETDIAG
else
  cargo build --release -q -p netdiag
  ND=${CARGO_TARGET_DIR:-$PWD/target}/release/netdiag
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# --- the loopback servers ------------------------------------------------------------------
# A CA and one leaf for the HTTPS listeners 127.0.5.1-10 (P-256, valid for two days).
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
    -out ca.pem -days 2 -subj "/CN=fleet bench root" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf.key \
    -out leaf.csr -subj "/CN=fleet bench" 2>/dev/null
  san=$(for i in $(seq 1 10); do printf 'IP:127.0.5.%d,' "$i"; done)
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "${san%,}" >leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 \
    -extfile leaf.ext 2>/dev/null
)
limit=$((SECONDS_RUN + 120))
timeout "$limit" python3 - "$work/ports" "$work/leaf.pem" "$work/leaf.key" <<'PY' >"$work/servers.log" 2>&1 &
import http.server, json, os, selectors, socket, socketserver, ssl, sys, threading, time

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path.startswith("/status/503") else 200
        body = b"ok\n" if code == 200 else b"unavailable\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

class T(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # a round starts every probe at once

def http_on(addrs, tls=None):
    first = T((addrs[0], 0), H)
    port = first.server_address[1]
    servers = [first] + [T((a, port), H) for a in addrs[1:]]
    for s in servers:
        if tls:  # the handshake runs in the request's thread, not in accept
            s.socket = tls.wrap_socket(s.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    return port

tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[2], sys.argv[3])

def dns_answer(q):
    if len(q) < 12:
        return None
    qid, qd = q[:2], int.from_bytes(q[4:6], "big")
    if qd != 1:
        return None
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    end = i + 5
    if end > len(q):
        return None
    question = q[12:end]
    qtype = int.from_bytes(q[i + 1:i + 3], "big")
    rd = q[2] & 0x01
    header = qid + bytes([0x80 | 0x04 | rd, 0x80]) + (1).to_bytes(2, "big")
    if qtype == 1:
        rr = b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + (30).to_bytes(4, "big") \
            + (4).to_bytes(2, "big") + bytes([127, 0, 0, 1])
        return header + (1).to_bytes(2, "big") + b"\x00\x00\x00\x00" + question + rr
    return header + b"\x00\x00\x00\x00\x00\x00" + question

def dns_on(addrs):
    sel = selectors.DefaultSelector()
    first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    first.bind((addrs[0], 0))
    port = first.getsockname()[1]
    socks = [first]
    for a in addrs[1:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, port))
        socks.append(s)
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    def loop():
        while True:
            for key, _ in sel.select():
                try:
                    q, peer = key.fileobj.recvfrom(4096)
                    a = dns_answer(q)
                    if a:
                        key.fileobj.sendto(a, peer)
                except OSError:
                    pass
    threading.Thread(target=loop, daemon=True).start()
    return port

def free(addr):
    s = socket.socket()
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port

ports = {
    "http": http_on([f"127.0.1.{i}" for i in range(1, 51)]),
    "https": http_on([f"127.0.5.{i}" for i in range(1, 11)], tls),
    "mesh": http_on([f"127.0.2.{i}" for i in range(1, 61)]),
    "dns": dns_on([f"127.0.3.{i}" for i in range(1, 21)]),
    "closed": free("127.0.4.1"),  # nothing binds 127.0.4.x: refused on every address
    "serve": free("127.0.0.1"),
}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(ports, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(3600)
PY
pids+=($!)
for _ in $(seq 300); do
  [ -s "$work/ports" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.1
done
[ -s "$work/ports" ] || { echo "bench/fleet.sh: the loopback servers did not start" >&2; cat "$work/servers.log" >&2; exit 1; }
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/ports" "$1"; }
HP=$(port http); TP=$(port https); MP=$(port mesh); DP=$(port dns); CP=$(port closed); SP=$(port serve)

# --- the config ----------------------------------------------------------------------------
{
  cat <<'EOF'
modules:
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  https_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: CA_FILE
  mesh_http:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  dns_a:
    prober: dns
    timeout: 5s
    dns:
      preferred_ip_protocol: ip4
      query_name: kubernetes.default.svc.cluster.local
      query_type: A
  netdiag_walk:
    prober: netdiag
    timeout: 5s
    netdiag:
      family: ip4
      cacert: CA_FILE
schedule:
EOF
  entry() { printf '  - {target: "%s", module: %s, interval: %ss}\n' "$1" "$2" "$INTERVAL"; }
  for i in $(seq 1 50); do entry "127.0.1.$i:$HP" tcp_connect; done
  for i in $(seq 1 40); do entry "http://127.0.1.$i:$HP/healthz" http_2xx; done
  for i in $(seq 1 10); do entry "https://127.0.5.$i:$TP/healthz" https_2xx; done
  for i in $(seq 1 60); do entry "http://127.0.2.$i:$MP/-/healthy" mesh_http; done
  for i in $(seq 1 20); do entry "127.0.3.$i:$DP" dns_a; done
  for i in $(seq 1 15); do entry "http://127.0.1.$i:$HP/walk" netdiag_walk; done
  for i in $(seq 1 5); do entry "https://127.0.5.$i:$TP/walk" netdiag_walk; done
  for i in $(seq 1 10); do entry "127.0.4.$i:$CP" tcp_connect; done
  for i in $(seq 11 15); do entry "http://127.0.4.$i:$CP/" http_2xx; done
  for i in $(seq 1 3); do entry "http://127.0.1.$i:$HP/status/503" http_2xx; done
  for i in $(seq 16 17); do entry "tcp://127.0.4.$i:$CP" netdiag_walk; done
} | sed "s|CA_FILE|$work/ca.pem|" >"$work/blackbox.yml"
entries=$(grep -c '^  - {target:' "$work/blackbox.yml")
expect_fail=20
[ "$entries" = 220 ] || { echo "bench/fleet.sh: $entries schedule entries, expected 220" >&2; exit 1; }
"$ND" serve --config.file "$work/blackbox.yml" --config.check 2>"$work/check.log" \
  || { cat "$work/check.log" >&2; exit 1; }

# --- the member ----------------------------------------------------------------------------
node_args=()
if "$ND" serve --help 2>/dev/null | grep -q -- '--fleet.node'; then
  node_args=(--fleet.node bench-node-0001) # the DaemonSet's node label on every series
fi
timeout "$limit" "$ND" serve --config.file "$work/blackbox.yml" \
  --web.listen-address "127.0.0.1:$SP" "${node_args[@]}" >"$work/serve.log" 2>&1 &
tpid=$!
pids+=("$tpid")
pid=
for _ in $(seq 100); do
  pid=$(pgrep -P "$tpid" -n || true)
  [ -n "$pid" ] && curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SP/-/healthy" && break
  sleep 0.1
done
if [ -z "$pid" ] || [ ! -r "/proc/$pid/stat" ]; then
  echo "bench/fleet.sh: netdiag serve did not start" >&2; cat "$work/serve.log" >&2; exit 1
fi

hz=$(getconf CLK_TCK)
stat=$(cat "/proc/$pid/stat")
# Fields after the command name (which may hold spaces) start at field 3: utime and stime are
# 14 and 15, starttime (ticks after boot) 22.
born=$(awk -v hz="$hz" '{ printf "%.2f", $20 / hz }' <<<"${stat##*) }")
sample() { # one line: seconds since the exporter started, utime+stime ticks, VmRSS kB, VmHWM kB, threads
  local stat ticks up
  stat=$(cat "/proc/$pid/stat")
  ticks=$(awk '{ print $12 + $13 }' <<<"${stat##*) }")
  up=$(awk -v b="$born" '{ printf "%.3f", $1 - b }' /proc/uptime)
  awk -v t="$up" -v c="$ticks" '
    /^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^Threads:/ { n = $2 }
    END { print t, c, r, h, n }' "/proc/$pid/status"
}
alive() {
  kill -0 "$pid" 2>/dev/null || { echo "bench/fleet.sh: netdiag serve exited" >&2; cat "$work/serve.log" >&2; exit 1; }
}
# The run: from the exporter's start (its CPU since then, startup included) to just before the
# round at FLEET_BENCH_SECONDS would begin, so exactly FLEET_BENCH_SECONDS / 30 rounds ran.
: >"$work/samples"
sample >>"$work/samples"
stop=$(awk -v b="$born" -v s="$SECONDS_RUN" '{ printf "%d", b + s - 1 }' /proc/uptime)
while :; do
  now=$(awk '{ printf "%d", $1 }' /proc/uptime)
  [ "$now" -lt "$stop" ] || break
  left=$((stop - now))
  sleep $((left < 5 ? left : 5))
  alive
  sample >>"$work/samples"
done

# --- the scrapes ---------------------------------------------------------------------------
# Half an interval after a round began (no probe running), so the CPU measured is the scrapes'.
wait_s=$(awk -v b="$born" -v i="$INTERVAL" '{ e = $1 - b; m = e - int(e / i) * i;
  w = i / 2 - m; if (w < 0) w += i; printf "%.2f", w }' /proc/uptime)
sleep "$wait_s"
alive
curl -s --max-time 10 -o "$work/metrics" "http://127.0.0.1:$SP/metrics"
sample >"$work/scrape_samples"
: >"$work/scrapes"
for _ in $(seq 10); do
  curl -s --max-time 10 -o /dev/null -w '%{time_total} %{size_download}\n' \
    "http://127.0.0.1:$SP/metrics" >>"$work/scrapes"
done
sample >>"$work/scrape_samples"
[ -z "${FLEET_BENCH_METRICS:-}" ] || cp "$work/metrics" "$FLEET_BENCH_METRICS"
version=$("$ND" --version 2>/dev/null | head -1 || echo netdiag)

python3 - "$work/samples" "$work/scrapes" "$work/metrics" "$hz" "$SECONDS_RUN" \
  "$INTERVAL" "$entries" "$expect_fail" "$version" "$(nproc)" "$work/scrape_samples" <<'PY'
import math, re, sys
from collections import defaultdict
samples_p, scrapes_p, metrics_p, hz, secs, interval, entries, expect_fail, version, cpus, scrape_samples_p = sys.argv[1:]
hz, secs, interval, entries, expect_fail = int(hz), int(secs), int(interval), int(entries), int(expect_fail)
def load(path):
    return [[float(x) for x in l.split()] for l in open(path) if l.strip()]
rows = load(samples_p)
wall, cpu_s = rows[-1][0], rows[-1][1] / hz   # both since the exporter started
avg = cpu_s / wall * 100 if wall > 0 else 0.0
# 5 s windows from the start (the first round begins at once, before the first sample).
marks = [[0.0, 0.0]] + [r for r in rows if r[0] >= 4]
windows = [((b[1] - a[1]) / hz) / (b[0] - a[0]) * 100 for a, b in zip(marks, marks[1:]) if b[0] - a[0] >= 4]
both = rows + load(scrape_samples_p)
peak_rss = max(r[3] for r in both) / 1024
end_rss = both[-1][2] / 1024
threads = int(max(r[4] for r in both))
rounds = math.ceil(wall / interval)
sa, sb = load(scrape_samples_p)
scrape_cpu_ms = (sb[1] - sa[1]) / hz * 1000

scr = [l.split() for l in open(scrapes_p) if l.strip()]
times = sorted(float(t) * 1000 for t, _ in scr)
sizes = sorted(int(s) for _, s in scr)
p50 = times[len(times) // 2] if times else 0.0

text = open(metrics_p).read()
series = [l for l in text.splitlines() if l and not l.startswith("#")]
label_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
per = defaultdict(int)       # (target, module) -> series
module_of = {}
own = 0
success = defaultdict(int)
causes = defaultdict(int)
for l in series:
    name = l.split("{", 1)[0].split(" ", 1)[0]
    labels = dict(label_re.findall(l.split("}", 1)[0])) if "{" in l else {}
    if "target" in labels and "module" in labels:
        key = (labels["target"], labels["module"])
        per[key] += 1
        module_of[key] = labels["module"]
        if name == "probe_success":
            success[l.rsplit(" ", 1)[1]] += 1
        if name == "probe_failure_info":
            causes[f'{labels.get("layer")}/{labels.get("cause")}'] += 1
    else:
        own += 1
by_module = defaultdict(list)
for key, n in per.items():
    by_module[module_of[key]].append(n)
node = any("node" in dict(label_re.findall(l.split("}", 1)[0])) for l in series if "{" in l)

print(f"fleet bench: {version}, {cpus} CPUs; {entries} scheduled targets every {interval} s, "
      f"{secs} s ({rounds} rounds){', node label set' if node else ''}")
print()
print("| measure | value |")
print("|---|---:|")
print(f"| average CPU (utime+stime, {wall:.0f} s since start) | {avg:.2f} % of one core ({cpu_s:.2f} CPU s) |")
print(f"| CPU per probe | {cpu_s * 1000 / max(1, entries * rounds):.2f} ms ({entries} x {rounds} rounds) |")
print(f"| busiest 5 s window | {max(windows) if windows else 0:.1f} % of one core |")
print(f"| peak RSS (VmHWM) | {peak_rss:.1f} MiB |")
print(f"| RSS at the end | {end_rss:.1f} MiB |")
print(f"| threads (peak sample) | {threads} |")
print(f"| series in one /metrics scrape | {len(series)} ({len(series) - own} scheduled, {own} own) |")
print(f"| scrape size | {sizes[len(sizes) // 2] if sizes else 0} bytes |")
print(f"| scrape latency, {len(times)} scrapes | p50 {p50:.1f} ms, max {times[-1] if times else 0:.1f} ms |")
print(f"| exporter CPU per scrape (mean of {len(times)}) | {scrape_cpu_ms / max(1, len(times)):.1f} ms |")
print(f"| scheduled targets in the scrape | {len(per)} of {entries} |")
print(f"| probe_success | {success.get('1', 0)} x 1, {success.get('0', 0)} x 0 (expected {entries - expect_fail} / {expect_fail}) |")
print(f"| probe_failure_info | {', '.join(f'{k} x {v}' for k, v in sorted(causes.items())) or 'none'} |")
print()
print("| module | targets | series per target (min / mean / max) | series |")
print("|---|---:|---:|---:|")
for m in sorted(by_module):
    ns = by_module[m]
    print(f"| {m} | {len(ns)} | {min(ns)} / {sum(ns) / len(ns):.1f} / {max(ns)} | {sum(ns)} |")
total = sum(per.values())
print(f"| all | {len(per)} | {total / max(1, len(per)):.1f} mean | {total} |")
if len(per) != entries or success.get("0", 0) != expect_fail:
    print()
    print("note: the scrape does not hold the expected results; the figures above are suspect")
PY
