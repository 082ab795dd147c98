#!/usr/bin/env bash
# The cost of `netdiag fleet report` at 1,000 nodes, against a real Prometheus (Debian's
# /usr/bin/prometheus and promtool, 2.42 when written).
#
# The data: an OpenMetrics file written by python3 for 1,000 nodes x 32 checks (20 scheduled
# targets, 10 mesh peers, 2 cluster DNS endpoints) every 30 s over the last 20 minutes, ending
# at the time of generation, plus `netdiag_fleet_list_success{list}` (2 per node) and
# `probe_failure_info{layer,cause}` (only while failing). It is backfilled with
# `promtool tsdb create-blocks-from openmetrics` into a fresh TSDB; Prometheus (no scrape
# targets, so its head stays empty) serves the block. The fault mix:
#   node-0042 fails target-07 (tcp_connect) with tcp/tcp_timeout for the whole 20 minutes;
#   every node fails target-05 (tcp_connect) with tcp/tcp_refused for the last 8 minutes;
#   node-0777 is unreachable from its 10 mesh probers (node-0767..node-0776), tcp/tcp_timeout;
#   1% of the other (node, check) pairs (320) flap: failing 2 points out of 6, tcp/tcp_reset.
#
# Then: `netdiag fleet report --prometheus http://127.0.0.1:PORT --since 15m --format json`
# 5 times (wall p50/max, the client's peak RSS from /usr/bin/time -v or /proc, exit code, the
# findings and whether they name the three injected patterns), the 4 queries of `read_report`
# (crates/netdiag-serve/src/fleet/mod.rs) fetched again with curl at the same time and step
# with stats=all (bytes of each answer, samples Prometheus loaded), and `--since 1h` likewise.
#
# NETWORK SAFETY: Prometheus listens on 127.0.0.1 only and scrapes nothing; every request goes
# to 127.0.0.1. Cleans up Prometheus and the temporary directory on exit; every wait is bounded.
#
# Needs python3, curl, prometheus, promtool, timeout. NETDIAG=path uses that binary instead of
# building the release one (cargo build --release -p netdiag; CARGO_TARGET_DIR is honoured).
# FLEET_REPORT_KEEP=dir copies the last JSON report there. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in python3 curl prometheus promtool timeout awk sort; do
  command -v "$tool" >/dev/null || { echo "bench/fleet_report.sh: missing $tool" >&2; exit 1; }
done
if [ -n "${NETDIAG:-}" ]; then
  ND=$NETDIAG
else
  timeout 1200 cargo build --release -q -p netdiag
  ND=${CARGO_TARGET_DIR:-$PWD/target}/release/netdiag
fi
[ -x "$ND" ] || { echo "bench/fleet_report.sh: no binary at $ND" >&2; exit 1; }

NODES=1000
RUNS=5
work=$(mktemp -d)
prom_pid=
cleanup() {
  if [ -n "$prom_pid" ]; then
    kill "$prom_pid" 2>/dev/null || true
    # Bounded: Prometheus closes its TSDB within seconds; then it is killed.
    for _ in $(seq 1 100); do kill -0 "$prom_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== fleet report bench: $NODES nodes x 32 checks, 30 s, 20 min; $(prometheus --version 2>&1 | head -1)"

# --- the data ---------------------------------------------------------------------------------
end=$(date +%s)
t0=$(date +%s%N)
timeout 300 python3 - "$work/fleet.om" "$end" "$NODES" <<'PY'
import random, sys

path, end, nodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
interval, span = 30, 20 * 60
times = list(range(end - span, end + 1, interval))           # 41 points, the last at `end`
rnd = random.Random(42)
name = lambda i: f"node-{i:04d}"

def module_of(t):
    return "tcp_connect" if t < 10 else ("http_2xx" if t < 18 else "dns_a")

# Every check: (node index, kind, labels without node/instance/pod/job/namespace).
checks = []
for n in range(nodes):
    for t in range(20):
        checks.append((n, f'target="target-{t:02d}",module="{module_of(t)}"', ("t", t)))
    for k in range(1, 11):
        p = (n + k) % nodes
        checks.append((n, f'target="mesh",peer_node="{name(p)}",module="mesh_http"', ("m", p)))
    for e in ("a", "b"):
        checks.append((n, f'target="kube-system/kube-dns",dns_endpoint="coredns-5d78c9869d-{e}",module="dns_a"', ("d", e)))

NODE42, TIMEOUT_T, REFUSED_T, UNREACH = 42, 7, 5, 777
refused_from = end - 8 * 60

def injected(n, kind):
    return ((kind == ("t", TIMEOUT_T) and n == NODE42) or kind == ("t", REFUSED_T)
            or kind == ("m", UNREACH))

others = [i for i, (n, _, kind) in enumerate(checks) if not injected(n, kind)]
flapping = {i: rnd.randrange(6) for i in rnd.sample(others, len(checks) // 100)}

def fails(i, n, kind, ts, step):
    """(layer, cause) while failing, else None."""
    if kind == ("t", TIMEOUT_T) and n == NODE42:
        return ("tcp", "tcp_timeout")
    if kind == ("t", REFUSED_T):
        return ("tcp", "tcp_refused") if ts >= refused_from else None
    if kind == ("m", UNREACH):
        return ("tcp", "tcp_timeout")
    if i in flapping and (step + flapping[i]) % 6 < 2:
        return ("tcp", "tcp_reset")
    return None

def where(n):
    return (f'node="{name(n)}",instance="10.{n // 250}.{n % 250}.10:9469",job="netdiag",'
            f'pod="netdiag-{n:05x}",namespace="netdiag"')

success, info = [], []
for i, (n, ident, kind) in enumerate(checks):
    labels = where(n) + "," + ident
    ps, fi = [], {}
    for step, ts in enumerate(times):
        f = fails(i, n, kind, ts, step)
        ps.append(f"probe_success{{{labels}}} {0 if f else 1} {ts}\n")
        if f:
            fi.setdefault(f, []).append(ts)
    success.append("".join(ps))
    for (layer, cause), tss in fi.items():
        info.append("".join(f'probe_failure_info{{{labels},layer="{layer}",cause="{cause}"}} 1 {ts}\n' for ts in tss))

with open(path, "w") as out:
    out.write("# HELP probe_success Whether the check succeeded.\n# TYPE probe_success gauge\n")
    out.writelines(success)
    out.write("# HELP probe_failure_info The failing layer and cause, while failing.\n# TYPE probe_failure_info gauge\n")
    out.writelines(info)
    out.write("# HELP netdiag_fleet_list_success Whether the last listing succeeded.\n# TYPE netdiag_fleet_list_success gauge\n")
    for n in range(nodes):
        for lst in ("peers", "dns_endpoints"):
            lab = f'node="{name(n)}",list="{lst}",instance="10.{n // 250}.{n % 250}.10:9469",job="netdiag",pod="netdiag-{n:05x}",namespace="netdiag"'
            out.write("".join(f"netdiag_fleet_list_success{{{lab}}} 1 {ts}\n" for ts in times))
    out.write("# EOF\n")
print(f"   series: probe_success {len(success)}, probe_failure_info {len(info)}, "
      f"netdiag_fleet_list_success {nodes * 2}; flapping checks {len(flapping)}; points per series {len(times)}")
PY
t1=$(date +%s%N)
echo "   OpenMetrics file: $(stat -c %s "$work/fleet.om") bytes, $(wc -l <"$work/fleet.om") lines, written in $(( (t1 - t0) / 1000000 )) ms"
mkdir -p "$work/data"
timeout 600 promtool tsdb create-blocks-from openmetrics "$work/fleet.om" "$work/data" >"$work/promtool.log" 2>&1 \
  || { echo "promtool failed:" >&2; cat "$work/promtool.log" >&2; exit 1; }
t2=$(date +%s%N)
rm -f "$work/fleet.om"
echo "   backfilled in $(( (t2 - t1) / 1000000 )) ms: $(find "$work/data" -name meta.json | wc -l) block(s), $(du -sb "$work/data" | awk '{print $1}') bytes"

# --- Prometheus on loopback -------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 30s\nscrape_configs: []\n' >"$work/prometheus.yml"
timeout 1800 prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$port" \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!
PROM=http://127.0.0.1:$port
ready=
for _ in $(seq 1 120); do
  if curl -fsS -m 2 "$PROM/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$prom_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$ready" ] || { echo "Prometheus did not become ready:" >&2; tail -20 "$work/prometheus.log" >&2; exit 1; }
seen=$(curl -fsS -m 20 "$PROM/api/v1/query" --data-urlencode 'query=count(probe_success)' \
  --data-urlencode "time=$end" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
echo "   data from $(date -u -d "@$((end - 1200))" +%H:%M:%SZ) to $(date -u -d "@$end" +%H:%M:%SZ) (target-05 refused from $(date -u -d "@$((end - 480))" +%H:%M:%SZ))"
echo "   Prometheus ready on $PROM; count(probe_success) at the data's end: $seen"
[ "$seen" = $((NODES * 32)) ] || { echo "the backfilled block is not queried" >&2; exit 1; }

# --- the report ---------------------------------------------------------------------------------
have_time=
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 && have_time=1

# run_report SINCE TAG: runs the client once; sets ms, rss_kb, rc; the JSON in $work/TAG.json.
run_report() {
  local since=$1 tag=$2 a b
  rc=0
  a=$(date +%s%N)
  if [ -n "$have_time" ]; then
    timeout 120 /usr/bin/time -v -o "$work/$tag.time" "$ND" fleet report --prometheus "$PROM" \
      --since "$since" --format json >"$work/$tag.json" 2>"$work/$tag.err" || rc=$?
    b=$(date +%s%N)
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$tag.time")
    # /usr/bin/time passes the child's status on.
  else
    "$ND" fleet report --prometheus "$PROM" --since "$since" --format json \
      >"$work/$tag.json" 2>"$work/$tag.err" &
    local p=$! hwm=0 h
    while kill -0 "$p" 2>/dev/null; do
      h=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${h:-0}" -gt "$hwm" ] && hwm=$h
      sleep 0.01
    done
    wait "$p" || rc=$?
    b=$(date +%s%N)
    rss_kb=$hwm
  fi
  ms=$(( (b - a) / 1000000 ))
}

# summary TAG: findings and the injected patterns.
summary() {
  python3 - "$work/$1.json" "$NODES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
nodes = int(sys.argv[2])
f = r["findings"]
print(f"   nodes {r['nodes']}, checks {r['checks']}, healthy {r['healthy']}, findings {len(f)}, "
      f"failures {len(r['failures'])}, list_failures {len(r['list_failures'])}")
by = {}
for x in f:
    by.setdefault((x["pattern"], x["state"]), 0)
    by[(x["pattern"], x["state"])] += 1
print("   findings by pattern/state: " + ", ".join(f"{p}/{s} {c}" for (p, s), c in sorted(by.items())))
ok42 = [x for x in f if x["cause"] == "tcp_timeout" and x["target"] == "target-07" and x["nodes"] == ["node-0042"]]
every = [x for x in f if x["pattern"] == "every_node" and x["cause"] == "tcp_refused" and x["target"] == "target-05" and len(x["nodes"]) == nodes]
mesh = [x for x in f if x["pattern"] == "mesh_unreachable" and x["nodes"] == ["node-0777"]]
def show(name, hits):
    print(f"   {name}: {'OK' if hits else 'MISSING'}" + (f" ({hits[0]['pattern']}/{hits[0]['state']}, of {hits[0]['of']}, since {hits[0]['since']}: {hits[0]['summary'][:150]})" if hits else ""))
show("node-0042 target-07 tcp_timeout", ok42)
show(f"every node ({nodes}) target-05 tcp_refused", every)
show("mesh unreachable node-0777", mesh)
# Anything naming an injected node/target outside those three, and the flapping count.
flap = sum(1 for x in r["failures"] if x["state"] == "flapping")
print(f"   failures flapping: {flap} (injected 320; any with a failing end point read as failing)")
for x in f:
    if x not in ok42 + every + mesh and x["pattern"] not in ("some_nodes", "one_node", "mesh_pair"):
        print(f"   other finding: {x['pattern']}/{x['state']} {x['target']} {x['cause']} nodes={x['nodes'][:5]}{'...' if len(x['nodes']) > 5 else ''} of {x['of']}")
PY
}

# prom_answers SINCE NOW: the 4 queries of read_report, as the client sends them, with stats=all.
prom_answers() {
  local since_s=$1 now=$2
  python3 - "$PROM" "$since_s" "$now" <<'PY'
import json, sys, time, urllib.parse, urllib.request
prom, since, now = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
since = max(since, 60.0)
start = now - since
step = round(min(max(since / 100.0, 15.0), 300.0))
sel = 'node!=""'
window = f"{round(since)}s"
ident = "node, target, module, peer_node, dns_endpoint"
qs = [
    ("checks (instant)", f"count by ({ident}, instance, pod) (count_over_time(probe_success{{{sel}}}[{window}]))", None),
    ("success (range)", f"min_over_time(probe_success{{{sel}}}[{step}s]) and on ({ident}) (min_over_time(probe_success{{{sel}}}[{window}] @ end()) < 1)", "range"),
    ("failure_info (range)", f"max_over_time(probe_failure_info{{{sel}}}[{step}s])", "range"),
    ("lists (instant)", f"max_over_time(netdiag_fleet_list_success{{{sel}}}[{window}]) == 0", None),
]
print(f"   Prometheus answers at time={now:.3f}, step={step}s, window={window}:")
for name, q, kind in qs:
    p = {"query": q, "stats": "all"}
    if kind:
        path = "/api/v1/query_range"; p.update(start=f"{start:.3f}", end=f"{now:.3f}", step=str(step))
    else:
        path = "/api/v1/query"; p["time"] = f"{now:.3f}"
    body = urllib.parse.urlencode(p).encode()
    t = time.monotonic()
    with urllib.request.urlopen(urllib.request.Request(prom + path, data=body), timeout=60) as resp:
        raw = resp.read()
    ms = (time.monotonic() - t) * 1000
    d = json.loads(raw)
    st = d["data"].get("stats", {})
    samples = st.get("samples", {})
    # The same answer without stats, as the client reads it.
    p.pop("stats")
    with urllib.request.urlopen(urllib.request.Request(prom + path, data=urllib.parse.urlencode(p).encode()), timeout=60) as resp:
        plain = len(resp.read())
    pts = sum(len(s.get("values", [])) or 1 for s in d["data"]["result"])
    print(f"     {name:22} {plain:>9} bytes ({len(raw)} with stats), {len(d['data']['result']):>6} series, {pts:>7} points, "
          f"{ms:7.1f} ms; totalQueryableSamples {samples.get('totalQueryableSamples')}, peakSamples {samples.get('peakSamples')}, "
          f"execTotalTime {st.get('timings', {}).get('execTotalTime')} s")
PY
}

pct() { sort -n | awk '{v[NR]=$1} END {printf "p50 %d ms, max %d ms", v[int((NR+1)/2)], v[NR]}'; }

echo "== netdiag fleet report --since 15m --format json, $RUNS runs ($ND)"
: >"$work/ms"; : >"$work/rss"; rcs=
for i in $(seq 1 "$RUNS"); do
  run_report 15m "r$i"
  echo "$ms" >>"$work/ms"; echo "$rss_kb" >>"$work/rss"; rcs="$rcs $rc"
  echo "   run $i: ${ms} ms, peak RSS ${rss_kb} kB, exit $rc, $(stat -c %s "$work/r$i.json") bytes of JSON"
  [ -s "$work/r$i.err" ] && sed 's/^/   stderr: /' "$work/r$i.err" | head -5
done
now=$(date +%s.%N)
echo "   wall: $(pct <"$work/ms"); peak RSS max $(sort -n "$work/rss" | tail -1) kB; exit codes:$rcs (1 = failing, expected)"
summary "r$RUNS"
prom_answers 900 "$now"
[ -n "${FLEET_REPORT_KEEP:-}" ] && cp "$work/r$RUNS.json" "$FLEET_REPORT_KEEP/"

echo "== netdiag fleet report --since 1h --format json"
run_report 1h h1
if [ "$rc" = 2 ] && grep -q "invalid duration" "$work/h1.err"; then
  echo "   --since 1h refused (exit 2): $(head -1 "$work/h1.err"); the same window as --since 60m:"
  run_report 60m h1
fi
echo "   ${ms} ms, peak RSS ${rss_kb} kB, exit $rc, $(stat -c %s "$work/h1.json") bytes of JSON"
[ -s "$work/h1.err" ] && sed 's/^/   stderr: /' "$work/h1.err" | head -5
summary h1
prom_answers 3600 "$(date +%s.%N)"
echo "== done"
