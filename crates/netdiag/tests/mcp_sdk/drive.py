#!/usr/bin/env python3
"""Drives `netdiag mcp` with the official Python MCP SDK (PyPI `mcp`), a client netdiag did not
write, over stdio and over Streamable HTTP, in both protocol eras: the 2025-11-25 initialize
handshake ("legacy") and the stateless 2026-07-28 revision.

It starts real faults on loopback (a refused port, a healthy HTTP server, an HTTPS server with a
self-signed certificate for the wrong name) and, as root with NETDIAG_NETNS_TESTS=1, a silent
port in a network namespace of its own (an iptables DROP on the namespace's loopback). Each tool
answer is checked three ways: the layer and cause it names, its schema validity against the
tool's own outputSchema (jsonschema, draft 2020-12), and equality with what `netdiag` prints for
the same question on the command line.

Usage: drive.py NETDIAG_BINARY K8S_FIXTURES_DIR AWS_FIXTURES_DIR
Every wait is bounded; servers, processes and the namespace are removed on the way out.
"""

import asyncio
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import httpx2
import jsonschema
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

NETDIAG, K8S, AWS = (os.path.abspath(p) for p in sys.argv[1:4])
ERAS = ["legacy", "2026-07-28"]
TOOLS = ["target_check", "targets_check", "k8s_flow_check", "k8s_matrix_compute",
         "cloud_flow_check", "causes_list", "cause_explain"]
OFFLINE = TOOLS[2:]
CALL_TIMEOUT = 30.0
checked = []


def note(what):
    checked.append(what)
    print(f"ok  {what}", flush=True)


def cli_json(*args):
    run = subprocess.run([NETDIAG, *args, "--format", "json"], capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 1), f"netdiag {' '.join(args)}: exit {run.returncode}: {run.stderr}"
    return json.loads(run.stdout)


# ---------------------------------------------------------------- faults on loopback

class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(server):
    server.timeout = 0.5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return server


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_faults(workdir):
    healthy = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet))
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=wrong.example", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    serve(tls)
    return {
        "refused": f"tcp://127.0.0.1:{closed_port()}",
        "healthy": f"http://127.0.0.1:{healthy.server_address[1]}/",
        "bad_cert": f"https://127.0.0.1:{tls.server_address[1]}/",
    }, [healthy, tls]


# ---------------------------------------------------------------- assertions

def schemas_of(tools):
    return {t.name: t.output_schema for t in tools}


def valid(schemas, tool, document):
    jsonschema.Draft202012Validator.check_schema(schemas[tool])
    jsonschema.Draft202012Validator(schemas[tool]).validate(document)


async def call(client, schemas, tool, arguments):
    result = await client.call_tool(tool, arguments, read_timeout_seconds=CALL_TIMEOUT)
    if not result.is_error:
        assert result.structured_content is not None, f"{tool}: no structuredContent"
        valid(schemas, tool, result.structured_content)
        assert result.content and result.content[0].type == "text", f"{tool}: no text block"
    return result


def check_listing(tools, offline_only=False):
    names = [t.name for t in tools]
    want = OFFLINE if offline_only else TOOLS
    assert names == want, names
    for t in tools:
        a = t.annotations
        assert a is not None and a.read_only_hint is True and a.destructive_hint is False, t.name
        if t.name in OFFLINE:
            assert a.idempotent_hint is True, t.name
        assert t.output_schema and t.output_schema.get("type") == "object", t.name
        assert t.input_schema.get("type") == "object", t.name
        assert t.description and len(t.description) > 40, t.name


def verdict(result):
    return result.structured_content["verdict"]


async def live_faults(client, schemas, faults, label):
    refused = await call(client, schemas, "target_check", {"target": faults["refused"], "timeout": "5s"})
    assert not refused.is_error, refused.content
    v = verdict(refused)
    assert (v["layer"], v["cause"]) == ("tcp", "tcp_refused"), v
    assert v["fix"]["commands"], v
    assert "tcp_refused" in refused.content[0].text
    note(f"{label}: target_check refused -> tcp/tcp_refused with a fix")

    healthy = await call(client, schemas, "target_check", {"target": faults["healthy"], "timeout": "5s"})
    v = verdict(healthy)
    assert (v["layer"], v["cause"]) == (None, "ok"), v
    assert [row["layer"] for row in healthy.structured_content["layers"]][-1] == "http"
    note(f"{label}: target_check healthy -> layer null, cause ok")

    bad = await call(client, schemas, "target_check", {"target": faults["bad_cert"], "timeout": "5s"})
    v = verdict(bad)
    assert v["layer"] == "tls" and v["cause"].startswith("tls_"), v
    cli = cli_json("check", faults["bad_cert"], "--timeout", "5s")
    assert (v["layer"], v["cause"]) == (cli["verdict"]["layer"], cli["verdict"]["cause"]), (v, cli["verdict"])
    note(f"{label}: target_check bad certificate -> tls/{v['cause']} (the CLI says the same)")

    many = await call(client, schemas, "targets_check",
                      {"targets": [faults["refused"], faults["healthy"]], "timeout": "5s"})
    doc = many.structured_content
    assert doc["schema"] == "netdiag.reports/v1" and doc["summary"] == {"total": 2, "healthy": 1, "failed": 1}, doc["summary"]
    note(f"{label}: targets_check -> netdiag.reports/v1, 1 of 2 healthy")


async def offline_checks(client, schemas, label):
    args = {"manifests": [K8S], "from": "web/frontend", "to": "shop/db", "port": 5432}
    denied = await call(client, schemas, "k8s_flow_check", args)
    v = verdict(denied)
    assert (v["layer"], v["cause"], v["allowed"]) == ("networkpolicy", "netpol_both_denied", False), v
    assert v["fix"]["manifests"] and v["rollback"], v
    cli = cli_json("k8s", "check", "--manifests", K8S, "--from", "web/frontend", "--to", "shop/db", "--port", "5432")
    assert denied.structured_content == cli, "k8s_flow_check differs from netdiag k8s check"
    note(f"{label}: k8s_flow_check denied -> networkpolicy/netpol_both_denied, equal to the CLI's JSON")

    inline = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml", ".json")):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                inline.append({"name": name, "text": f.read()})
    same = await call(client, schemas, "k8s_flow_check",
                      {"manifests_inline": inline, "from": "web/frontend", "to": "shop/db", "port": 5432})
    assert verdict(same)["cause"] == "netpol_both_denied" and verdict(same)["fix"] == v["fix"], verdict(same)
    note(f"{label}: k8s_flow_check from inline YAML gives the same verdict and fix")

    matrix = await call(client, schemas, "k8s_matrix_compute", {"manifests": [K8S]})
    assert matrix.structured_content["schema"] == "netdiag.k8s.matrix/v1"
    note(f"{label}: k8s_matrix_compute -> netdiag.k8s.matrix/v1")

    cloud = await call(client, schemas, "cloud_flow_check",
                       {"provider": "aws", "resources": [AWS], "from": "10.0.1.10", "to": "10.0.2.20", "port": 22})
    v = verdict(cloud)
    assert (v["allowed"], v["cause"], v["layer"]) == (False, "cloud_deny_rule", "nacl"), v
    assert all("0.0.0.0/0" not in c for c in v["fix"]["commands"]), v["fix"]
    cli = cli_json("cloud", "check", "--provider", "aws", "--resources", AWS,
                   "--from", "10.0.1.10", "--to", "10.0.2.20", "--port", "22")
    assert cloud.structured_content == cli, "cloud_flow_check differs from netdiag cloud check"
    note(f"{label}: cloud_flow_check -> nacl/cloud_deny_rule, equal to the CLI's JSON")

    causes = await call(client, schemas, "causes_list", {})
    codes = [c["cause"] for c in causes.structured_content["causes"]]
    assert "tcp_admin_prohibited" in codes and "netpol_ingress_denied" in codes
    one = await call(client, schemas, "cause_explain", {"cause": "tcp_admin_prohibited"})
    assert one.structured_content["layer"] == "tcp" and one.structured_content["fix"]["description"]
    note(f"{label}: causes_list ({len(codes)} codes) and cause_explain")

    for tool, arguments, needle in [
        ("target_check", {"target": 5}, "invalid arguments"),
        ("target_check", {"target": "127.0.0.1:1", "timout": "1s"}, "unknown field"),
        ("target_check", {"target": "http://[::1"}, "invalid target"),
        ("k8s_flow_check", {"manifests": [K8S], "from": "web/nope", "to": "shop/db", "port": 5432}, "web/nope"),
        ("cloud_flow_check", {"resources_inline": ["{not json"], "from": "10.0.1.10", "to": "10.0.2.20", "port": 22}, "JSON"),
        ("cause_explain", {"cause": "no_such_cause"}, "netdiag causes"),
    ]:
        bad = await client.call_tool(tool, arguments, read_timeout_seconds=CALL_TIMEOUT)
        text = bad.content[0].text if bad.content else ""
        assert bad.is_error and needle in text, (tool, arguments, text)
    note(f"{label}: bad arguments are tool errors that say what is wrong")


async def unknown_tool(client, label):
    try:
        result = await client.call_tool("no_such_tool", {}, read_timeout_seconds=CALL_TIMEOUT)
    except Exception as e:  # the SDK raises the JSON-RPC error
        assert "no_such_tool" in str(e) or "unknown tool" in str(e).lower() or "-32602" in str(e), e
    else:
        assert result.is_error, result
    note(f"{label}: an unknown tool is an error, the session goes on")


def stdio(*flags, prefix=()):
    command, args = (prefix[0], [*prefix[1:], NETDIAG, "mcp", *flags]) if prefix else (NETDIAG, ["mcp", *flags])
    return StdioServerParameters(command=command, args=args)


async def over_stdio(faults):
    for era in ERAS:
        label = f"stdio {era}"
        async with Client(stdio(), mode=era, read_timeout_seconds=CALL_TIMEOUT) as client:
            if era != "legacy":
                assert client.protocol_version == era, client.protocol_version
            tools = (await client.list_tools()).tools
            check_listing(tools)
            note(f"{label}: 7 tools, all read-only and non-destructive, each with an outputSchema")
            schemas = schemas_of(tools)
            await live_faults(client, schemas, faults, label)
            await offline_checks(client, schemas, label)
            await unknown_tool(client, label)
            # The session still answers after the errors.
            assert (await call(client, schemas, "causes_list", {})).structured_content["schema"] == "netdiag.causes/v1"

    async with Client(stdio("--allow-targets", "10.0.0.0/8"), mode="legacy") as client:
        result = await client.call_tool("target_check", {"target": faults["refused"]}, read_timeout_seconds=CALL_TIMEOUT)
        assert result.is_error and "--allow-targets" in result.content[0].text, result.content
        note("stdio: a target outside --allow-targets is a tool error naming the flag")

    async with Client(stdio("--offline-only"), mode="2026-07-28") as client:
        tools = (await client.list_tools()).tools
        check_listing(tools, offline_only=True)
        note("stdio: --offline-only lists only the offline tools")

    with tempfile.TemporaryDirectory() as root:
        async with Client(stdio("--root", root), mode="legacy") as client:
            result = await client.call_tool("k8s_matrix_compute", {"manifests": [K8S]}, read_timeout_seconds=CALL_TIMEOUT)
            assert result.is_error and "outside --root" in result.content[0].text, result.content
            note("stdio: a file outside --root is a tool error")

    async with Client(stdio("--max-inline-bytes", "1000"), mode="legacy") as client:
        result = await client.call_tool("k8s_matrix_compute", {"manifests_inline": ["x" * 5000]}, read_timeout_seconds=CALL_TIMEOUT)
        assert result.is_error and "--max-inline-bytes" in result.content[0].text, result.content
        note("stdio: an oversized inline manifest is a tool error")


class Listener:
    """`netdiag mcp --listen ADDR` (127.0.0.1:0 by default), its address read from stderr."""

    def __init__(self, *flags, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen([NETDIAG, "mcp", "--listen", listen, *flags],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        line = ""
        for _ in range(50):
            line = self.proc.stderr.readline()
            m = re.search(r"listening on (\S+) \((https?)\)", line)
            if m:
                self.url = f"{m.group(2)}://{m.group(1)}/mcp"
                return
            if not line and self.proc.poll() is not None:
                break
        self.close()
        raise AssertionError(f"netdiag mcp --listen did not start: {line}")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def over_http(faults, workdir):
    server = Listener()
    try:
        for era in ERAS:
            label = f"http {era}"
            async with Client(server.url, mode=era, read_timeout_seconds=CALL_TIMEOUT) as client:
                tools = (await client.list_tools()).tools
                check_listing(tools)
                schemas = schemas_of(tools)
                await live_faults(client, schemas, faults, label)
                await offline_checks(client, schemas, label)
                await unknown_tool(client, label)
        async with httpx2.AsyncClient(timeout=10) as raw:
            bad = await raw.post(server.url, content=b"{not json",
                                 headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700, (bad.status_code, bad.text)
            note("http: a body that is not JSON is 400 with JSON-RPC's parse error (-32700)")
            odd = await raw.post(server.url, json={"id": 7},
                                 headers={"accept": "application/json, text/event-stream"})
            assert odd.status_code == 400 and odd.json()["error"]["code"] == -32600 and odd.json()["id"] == 7, odd.text
            note("http: JSON that is no JSON-RPC message is 400 with invalid request (-32600)")
            huge = await raw.post(server.url, content=b"[" + b"1," * (9 * 1024 * 1024) + b"1]",
                                  headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
            assert huge.status_code == 413, huge.status_code
            note("http: a body over the limit is 413")
            other = await raw.get(server.url.replace("/mcp", "/other"))
            assert other.status_code == 404, other.status_code
        async with Client(server.url, mode="legacy") as client:
            assert [t.name for t in (await client.list_tools()).tools] == TOOLS
            note("http: still serving after the malformed requests")
    finally:
        server.close()

    token_file = os.path.join(workdir, "token")
    token = "t0ken-for-the-sdk-test-" + os.urandom(8).hex()
    with open(token_file, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    guarded = Listener("--bearer-token-file", token_file)
    try:
        async with httpx2.AsyncClient(timeout=10) as raw:
            denied = await raw.post(guarded.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                    headers={"accept": "application/json, text/event-stream"})
            assert denied.status_code == 401 and denied.headers.get("www-authenticate") == "Bearer", denied.status_code
        http_client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=CALL_TIMEOUT)
        async with http_client:
            transport = streamable_http_client(guarded.url, http_client=http_client)
            async with Client(transport, mode="2026-07-28") as client:
                assert [t.name for t in (await client.list_tools()).tools] == TOOLS
        note("http: --bearer-token-file refuses a request without the token (401) and serves one with it")
    finally:
        guarded.close()

    # Off loopback: TLS and basic auth from the web config file `netdiag serve` reads too.
    cert, key = os.path.join(workdir, "mcp-cert.pem"), os.path.join(workdir, "mcp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=netdiag-mcp-test", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    web = os.path.join(workdir, "web.yml")
    with open(web, "w", encoding="utf-8") as f:
        # alice:secret (bcrypt, cost 4)
        f.write(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                "basic_auth_users:\n  alice: '$2b$04$0zQhjo8y32uGmQb52DkkcOp0EC.sQV.1wi7BYfmS8BFFHSjyqrbW2'\n")
    bare = subprocess.run([NETDIAG, "mcp", "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=10)
    assert bare.returncode == 2 and "tls_server_config" in bare.stderr, bare
    wide = Listener("--web.config.file", web, listen="0.0.0.0:0")
    try:
        assert wide.url.startswith("https://"), wide.url
        url = wide.url.replace("0.0.0.0", "127.0.0.1")
        trust = ssl.create_default_context(cafile=cert)
        async with httpx2.AsyncClient(verify=trust, timeout=10) as raw:
            denied = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                    headers={"accept": "application/json, text/event-stream"})
            assert denied.status_code == 401 and denied.headers.get("www-authenticate") == "Basic", denied.status_code
        http_client = httpx2.AsyncClient(verify=trust, auth=("alice", "secret"), timeout=CALL_TIMEOUT)
        async with http_client:
            async with Client(streamable_http_client(url, http_client=http_client), mode="legacy") as client:
                tools = (await client.list_tools()).tools
                refused = await call(client, schemas_of(tools), "target_check", {"target": faults["refused"], "timeout": "5s"})
                assert verdict(refused)["cause"] == "tcp_refused"
        note("https off loopback: refuses to start without TLS and a credential; with them, 401 without basic auth, tools with it")
    finally:
        wide.close()


# ---------------------------------------------------------------- a prober's recent results

async def prober(faults, workdir):
    config = os.path.join(workdir, "blackbox.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write("modules:\n  walk:\n    prober: netdiag\n    timeout: 5s\n")
    serve = subprocess.Popen([NETDIAG, "serve", "--config.file", config, "--web.listen-address", "127.0.0.1:0"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for _ in range(50):
            m = re.search(r"listening on (\S+) \(http\)", serve.stderr.readline())
            if m:
                url = f"http://{m.group(1)}"
                break
        assert url, "netdiag serve did not start"
        async with httpx2.AsyncClient(timeout=20) as raw:
            for target in (faults["refused"], faults["healthy"]):
                probe = await raw.get(f"{url}/probe", params={"module": "walk", "target": target})
                assert probe.status_code == 200, probe.status_code
        async with Client(stdio(), mode="legacy") as client:
            assert "prober_results_list" not in [t.name for t in (await client.list_tools()).tools]
        for era in ERAS:
            async with Client(stdio("--prober", url), mode=era) as client:
                tools = (await client.list_tools()).tools
                assert [t.name for t in tools] == TOOLS + ["prober_results_list"], [t.name for t in tools]
                schemas = schemas_of(tools)
                every = await call(client, schemas, "prober_results_list", {})
                assert [p["target"] for p in every.structured_content["probes"]] == [faults["healthy"], faults["refused"]]
                failed = await call(client, schemas, "prober_results_list", {"failed_only": True})
                probes = failed.structured_content["probes"]
                assert len(probes) == 1 and probes[0]["verdict"]["cause"] == "tcp_refused", probes
                assert probes[0]["report"]["schema"] == "netdiag.report/v1"
                note(f"prober {era}: prober_results_list reads netdiag serve's recent probes and their verdicts")
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()


# ---------------------------------------------------------------- a silent port, in a namespace

async def silent(workdir):
    if os.geteuid() != 0 or os.environ.get("NETDIAG_NETNS_TESTS") != "1" or not shutil.which("ip"):
        print("skip silent port: needs root and NETDIAG_NETNS_TESTS=1", flush=True)
        return
    ns = f"ndtmcp{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "-A", "INPUT", "-p", "tcp",
                        "--dport", "9", "-j", "DROP"], check=True, timeout=10)
        for era in ERAS:
            async with Client(stdio(prefix=("ip", "netns", "exec", ns)), mode=era, read_timeout_seconds=CALL_TIMEOUT) as client:
                schemas = schemas_of((await client.list_tools()).tools)
                quiet = await call(client, schemas, "target_check",
                                   {"target": "tcp://127.0.0.1:9", "timeout": "6s", "connect_timeout": "2s"})
                v = verdict(quiet)
                assert (v["layer"], v["cause"]) == ("tcp", "tcp_timeout"), v
                note(f"netns {era}: target_check silent (iptables DROP) -> tcp/tcp_timeout, not a refusal")

        # --max-calls 1: three silent checks of 4 s each run one after another; each call's
        # deadline is its timeout plus 5 s, so the third (which would end at about 12 s) is cut
        # off at its deadline as a tool error, and the server goes on answering.
        async with Client(stdio("--max-calls", "1", prefix=("ip", "netns", "exec", ns)), mode="legacy",
                          read_timeout_seconds=CALL_TIMEOUT) as client:
            arguments = {"target": "tcp://127.0.0.1:9", "timeout": "4s", "connect_timeout": "4s"}
            results = await asyncio.gather(*[
                client.call_tool("target_check", arguments, read_timeout_seconds=CALL_TIMEOUT) for _ in range(3)])
            late = [r for r in results if r.is_error]
            done = [r for r in results if not r.is_error]
            assert len(done) == 2 and len(late) == 1, [r.content[0].text[:120] for r in results]
            assert "did not finish within" in late[0].content[0].text, late[0].content
            assert (await client.call_tool("causes_list", {})).is_error is False
            note("netns: --max-calls 1 runs calls one at a time and a call past its deadline is a tool error")
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=10)


async def main():
    workdir = tempfile.mkdtemp(prefix="ndmcp-sdk-")
    faults, servers = start_faults(workdir)
    try:
        await asyncio.wait_for(over_stdio(faults), 300)
        await asyncio.wait_for(over_http(faults, workdir), 300)
        await asyncio.wait_for(prober(faults, workdir), 120)
        await asyncio.wait_for(silent(workdir), 120)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{len(checked)} checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
