#!/usr/bin/env bash
# Time-to-verdict benchmark: netdiag against `nc -z` and `curl` on the same loopback targets.
# Sends traffic only to loopback. Needs hyperfine, nc (netcat-openbsd), curl, openssl, python3;
# dnsmasq and root for the name-resolution case (skipped otherwise). Prints markdown tables.
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
wait_port() { for _ in $(seq 50); do nc -z 127.0.0.1 "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# A loopback HTTP server (healthy TCP and HTTP target).
port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
pids+=($!)
wait_port "$port"
closed=$(free_port)

# A loopback HTTPS server with a CA-signed leaf for localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
  -days 2 -subj "/CN=bench root/O=netdiag bench" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/leaf.key" -out "$work/leaf.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -out "$work/leaf.pem" \
  -days 2 -extfile "$work/ext.cnf" 2>/dev/null
tport=$(free_port)
openssl s_server -accept "127.0.0.1:$tport" -cert "$work/leaf.pem" -key "$work/leaf.key" -www -quiet >/dev/null 2>&1 &
pids+=($!)
wait_port "$tport"

runs=${RUNS:-40}
bench() { # title, then commands
  local title=$1; shift
  echo; echo "## $title"
  hyperfine -N -i --warmup 5 --runs "$runs" --style none --export-markdown "$work/out.md" "$@" >/dev/null 2>&1
  cat "$work/out.md"
}
bench "healthy TCP on loopback" "nc -z 127.0.0.1 $port" \
  "$ND check tcp://127.0.0.1:$port --resolv-conf $work/resolv.conf --format json"
bench "refused port on loopback" "nc -z 127.0.0.1 $closed" \
  "$ND check tcp://127.0.0.1:$closed --resolv-conf $work/resolv.conf --format json"
bench "healthy HTTP on loopback (full request)" "curl -s -o /dev/null http://127.0.0.1:$port/" \
  "$ND check http://127.0.0.1:$port/ --resolv-conf $work/resolv.conf --format json"
bench "healthy HTTPS on loopback (full request, CA via --cacert)" \
  "curl -s -o /dev/null --cacert $work/ca.pem https://localhost:$tport/" \
  "$ND check https://localhost:$tport/ --cacert $work/ca.pem --resolv-conf $work/resolv.conf --format json"

# 200 targets: 150 listening loopback ports (one process accepting and closing on all of them)
# and 50 closed ones; one netdiag run against nc -z for each in turn.
targets=$work/targets
python3 - "$targets" <<'PY' &
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
with open(sys.argv[1], "w") as f:
    for _ in range(150):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(128); s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        f.write("tcp://127.0.0.1:%d\n" % s.getsockname()[1])
    for _ in range(50):
        c = socket.socket(); c.bind(("127.0.0.1", 0)); f.write("tcp://127.0.0.1:%d\n" % c.getsockname()[1]); c.close()
end = time.time() + 600
while time.time() < end:
    for key, _ in sel.select(timeout=1):
        try:
            conn, _ = key.fileobj.accept(); conn.close()
        except OSError:
            pass
PY
pids+=($!)
for _ in $(seq 50); do [ "$(wc -l < "$targets" 2>/dev/null || echo 0)" -ge 200 ] && break; sleep 0.1; done
cut -d/ -f3 "$targets" | tr ':' ' ' > "$work/nc-list"
bench "200 loopback targets (150 open, 50 closed)" \
  "sh -c 'while read h p; do nc -z \$h \$p; done < $work/nc-list'" \
  "$ND check --targets $targets --resolv-conf $work/resolv.conf --format json"
echo; echo "## peak memory (max RSS, KiB)"
printf 'one healthy check: '; /usr/bin/time -f '%M' "$ND" check "tcp://127.0.0.1:$port" --resolv-conf "$work/resolv.conf" --format json 2>&1 >/dev/null | tail -1
# The 50 closed targets make this check exit 1 (a layer failed): that is its answer, not an error.
printf '200 targets: '; { /usr/bin/time -f '%M' "$ND" check --targets "$targets" --resolv-conf "$work/resolv.conf" --format json 2>&1 >/dev/null || true; } | tail -1
