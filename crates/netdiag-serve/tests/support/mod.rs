//! The harness for the tests against netdiag serve's real counterparts: Debian's
//! `prometheus-blackbox-exporter` (the reference `/probe`), a real `prometheus` (the scraper and
//! rule evaluator) and, once merged, `netdiag serve` itself.
//!
//! Why this exists: compatibility with blackbox_exporter means "the same series in the same
//! situations", and only the real binaries say what that is. Everything here runs on 127.0.0.1
//! with ports the kernel picked, every wait is bounded (≤ 30 s), and every child is killed on drop.
//! The HTTP client is a few lines over `TcpStream` (HTTP/1.1, `Connection: close`, chunked
//! bodies): a test harness needs no HTTP crate.
//!
//! The exposition parser and the differential comparator are pure functions; the list of
//! deliberate differences between blackbox and netdiag is [`DELIBERATE`], the one place it is
//! written (docs/monitoring.md repeats it for readers).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod fixtures;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any harness wait lasts.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);

/// The Debian binaries (package prometheus-blackbox-exporter, prometheus).
pub(crate) const BLACKBOX: &str = "prometheus-blackbox-exporter";
pub(crate) const PROMETHEUS: &str = "prometheus";
pub(crate) const PROMTOOL: &str = "promtool";

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True when `program` can be run (found on PATH).
pub(crate) fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Skips the calling test (returns) when a binary is missing, saying so; CI installs them all.
#[macro_export]
macro_rules! require_bin {
    ($($bin:expr),+) => {
        $(
            if !support::have($bin) {
                assert!(std::env::var_os("CI").is_none(), "{} is missing in CI", $bin);
                eprintln!("skipped: {} is not installed", $bin);
                return;
            }
        )+
    };
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("netdiag-serve-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago (bound to port 0, then released). The small race
/// with another process is acceptable in tests; the start functions retry on a bind failure.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A child process killed (and reaped) on drop, its stderr in a log file for failure messages.
pub(crate) struct ChildGuard {
    child: std::process::Child,
    name: String,
    log: PathBuf,
}

impl ChildGuard {
    /// The last lines of the child's stderr, for a failure message.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        format!("{} stderr:\n{}", self.name, lines[from..].join("\n"))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args` with stderr into `dir/<name>.log`.
fn spawn_logged(program: &str, args: &[String], dir: &Path, name: &str) -> ChildGuard {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    ChildGuard {
        child,
        name: name.to_string(),
        log,
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`.
pub(crate) fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit.min(MAX_WAIT);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP/1.1 answer: status and body (de-chunked).
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// `METHOD path` to `addr` with `Connection: close`; the whole exchange within `timeout`.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: netdiag-serve-tests\r\nAccept: */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "response too slow",
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
        if raw.len() > 64 * 1024 * 1024 {
            return Err(std::io::Error::other("response over 64 MiB"));
        }
    }
    parse_response(&raw).map_err(std::io::Error::other)
}

/// GET shorthand with a 10 s limit.
pub(crate) fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    http(addr, "GET", path, Duration::from_secs(10))
}

/// Parses a complete HTTP/1.1 response (status line, headers, identity or chunked body).
pub(crate) fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| format!("chunk size {size_hex:?}: {e}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which `/probe` implementation a test talks to.
#[derive(Debug, Clone)]
pub(crate) enum Exporter {
    /// Debian's prometheus-blackbox-exporter (0.23 on Debian 12), the reference.
    Blackbox,
    /// `netdiag serve`, from this binary.
    Netdiag(PathBuf),
}

impl Exporter {
    /// netdiag's binary: `NETDIAG_BIN` if set, else the workspace's `target/debug/netdiag`
    /// (under `CARGO_TARGET_DIR` when that is set). `cargo build -p netdiag` first.
    pub(crate) fn netdiag() -> Exporter {
        if let Some(bin) = std::env::var_os("NETDIAG_BIN") {
            return Exporter::Netdiag(PathBuf::from(bin));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        Exporter::Netdiag(target.join("debug/netdiag"))
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Exporter::Blackbox => "blackbox_exporter",
            Exporter::Netdiag(_) => "netdiag serve",
        }
    }

    /// Starts it with `config` (blackbox.yml text) on a loopback port and waits for `/-/healthy`.
    pub(crate) fn start(&self, config: &str, dir: &TempDir) -> RunningExporter {
        let config_file = dir.write(&format!("{}-config.yml", self.file_tag()), config);
        let config_arg = config_file.display().to_string();
        match self {
            Exporter::Blackbox => {
                for _attempt in 0..3 {
                    let port = free_port();
                    let args = vec![
                        format!("--config.file={config_arg}"),
                        format!("--web.listen-address=127.0.0.1:{port}"),
                    ];
                    let child = spawn_logged(BLACKBOX, &args, dir.path(), "blackbox");
                    let addr = SocketAddr::from(([127, 0, 0, 1], port));
                    if let Some(running) = wait_healthy(child, addr) {
                        return RunningExporter {
                            child: running,
                            addr,
                        };
                    }
                }
                panic!("blackbox_exporter did not become healthy in 3 attempts");
            }
            Exporter::Netdiag(bin) => start_netdiag(bin, &config_arg, dir, &[]),
        }
    }

    /// `netdiag serve` with `config` and extra flags (e.g. `--fleet.node`); panics for blackbox.
    #[allow(dead_code)] // not every test binary uses it
    pub(crate) fn start_with(
        &self,
        config: &str,
        dir: &TempDir,
        extra: &[&str],
    ) -> RunningExporter {
        let Exporter::Netdiag(bin) = self else {
            panic!("start_with is for netdiag serve");
        };
        let config_file = dir.write("netdiag-config.yml", config);
        start_netdiag(bin, &config_file.display().to_string(), dir, extra)
    }

    fn file_tag(&self) -> &'static str {
        match self {
            Exporter::Blackbox => "blackbox",
            Exporter::Netdiag(_) => "netdiag",
        }
    }
}

/// Waits (bounded) for `/-/healthy` to answer 200; `None` if the child died first (a port race).
fn wait_healthy(mut child: ChildGuard, addr: SocketAddr) -> Option<ChildGuard> {
    let deadline = Instant::now() + MAX_WAIT;
    while Instant::now() < deadline {
        if child.exited().is_some() {
            eprintln!("{}", child.log_tail());
            return None;
        }
        if http(addr, "GET", "/-/healthy", Duration::from_secs(2)).is_ok_and(|r| r.status == 200) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} not healthy on {addr} within {MAX_WAIT:?}\n{}",
        child.name,
        child.log_tail()
    );
}

/// `netdiag serve --config.file F --web.listen-address 127.0.0.1:0`, reading the chosen port
/// from its `listening on 127.0.0.1:PORT` stderr line.
fn start_netdiag(bin: &Path, config: &str, dir: &TempDir, extra: &[&str]) -> RunningExporter {
    assert!(
        bin.exists(),
        "{} does not exist: `cargo build -p netdiag` or set NETDIAG_BIN",
        bin.display()
    );
    let log = dir.path().join("netdiag.log");
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--config.file",
            config,
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let log_path = log.clone();
    // Drains stderr into the log for the child's whole life (so it never blocks on a full pipe)
    // and reports the listening line once; it ends when the child's stderr closes.
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(&log_path).ok();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if let Some(addr) = line
                .split("listening on ")
                .nth(1)
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok())
            {
                let _ = tx.send(addr);
            }
        }
    });
    let guard = ChildGuard {
        child,
        name: "netdiag serve".into(),
        log,
    };
    let Ok(addr) = rx.recv_timeout(MAX_WAIT) else {
        panic!(
            "netdiag serve printed no `listening on` line in {MAX_WAIT:?}\n{}",
            guard.log_tail()
        );
    };
    let child = wait_healthy(guard, addr)
        .unwrap_or_else(|| panic!("netdiag serve exited before /-/healthy"));
    RunningExporter { child, addr }
}

/// A running `/probe` server.
pub(crate) struct RunningExporter {
    child: ChildGuard,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl RunningExporter {
    /// `GET /probe?target=&module=` (the answer's status and body).
    pub(crate) fn probe(&self, target: &str, module: &str) -> Response {
        let path = format!("/probe?target={}&module={}", encode(target), encode(module));
        get(self.addr, &path).unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.child.log_tail()))
    }

    /// `/probe`, parsed; panics unless the status is 200.
    pub(crate) fn probe_samples(&self, target: &str, module: &str) -> Vec<Sample> {
        let r = self.probe(target, module);
        assert_eq!(r.status, 200, "probe {target} {module}: {}", r.body);
        parse_exposition(&r.body)
            .unwrap_or_else(|e| panic!("exposition of {target} {module}: {e}\n{}", r.body))
    }

    pub(crate) fn log_tail(&self) -> String {
        self.child.log_tail()
    }
}

/// A real Prometheus on a loopback port with its own TSDB directory.
pub(crate) struct Prometheus {
    child: ChildGuard,
    /// Where its web API listens.
    pub(crate) addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml text; rule files are looked up relative to
    /// `dir`) and waits for `/-/ready`.
    pub(crate) fn start(config: &str, dir: &TempDir) -> Prometheus {
        let config_file = dir.write("prometheus.yml", config);
        for _attempt in 0..3 {
            let port = free_port();
            let args = vec![
                format!("--config.file={}", config_file.display()),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--log.level=warn".to_string(),
            ];
            let mut child = spawn_logged(PROMETHEUS, &args, dir.path(), "prometheus");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let ready = wait_for(MAX_WAIT, || {
                if child.exited().is_some() {
                    return Some(false);
                }
                http(addr, "GET", "/-/ready", Duration::from_secs(2))
                    .ok()
                    .filter(|r| r.status == 200)
                    .map(|_| true)
            });
            match ready {
                Some(true) => return Prometheus { child, addr },
                Some(false) => eprintln!("{}", child.log_tail()),
                None => panic!(
                    "prometheus not ready within {MAX_WAIT:?}\n{}",
                    child.log_tail()
                ),
            }
        }
        panic!("prometheus did not start in 3 attempts");
    }

    /// GET an API path; the `data` member of a `status: success` answer.
    pub(crate) fn api(&self, path: &str) -> serde_json::Value {
        let r = get(self.addr, path)
            .unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.child.log_tail()));
        let doc: serde_json::Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.body));
        assert_eq!(doc["status"], "success", "{path}: {}", r.body);
        doc["data"].clone()
    }

    /// An instant query: the result vector, as (labels, value) pairs.
    pub(crate) fn query(
        &self,
        expr: &str,
    ) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)));
        data["result"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        let labels = item["metric"].as_object().cloned().unwrap_or_default();
                        let value = item["value"][1]
                            .as_str()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(f64::NAN);
                        (labels, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The alerts (`/api/v1/alerts`), each a JSON object with labels, annotations and state.
    pub(crate) fn alerts(&self) -> Vec<serde_json::Value> {
        self.api("/api/v1/alerts")["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The active targets (`/api/v1/targets`).
    pub(crate) fn targets(&self) -> Vec<serde_json::Value> {
        self.api("/api/v1/targets")["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn log_tail(&self) -> String {
        self.child.log_tail()
    }
}

/// One sample of a text exposition: name, labels sorted by name, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Sample {
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name{a="x",b="y"}`, for messages and as the comparison key.
    pub(crate) fn key(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// The value of the sample named `name` with no labels (or the first one), if present.
pub(crate) fn value(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

/// Parses a Prometheus text exposition (format 0.0.4) into samples. Comments and blank lines are
/// skipped; label values are unescaped (`\\`, `\"`, `\n`); a trailing timestamp is ignored.
pub(crate) fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_sample(line).map_err(|e| format!("line {}: {e}: {line:?}", n + 1))?);
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("no value")?;
    let value = parse_value(value_text)?;
    labels.sort();
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `a="x",b="y"}` and returns the labels and what follows the `}`.
/// Label pairs, sorted by name once parsed.
type Labels = Vec<(String, String)>;

fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(tail) = s.strip_prefix('}') {
            return Ok((labels, tail));
        }
        let eq = s.find('=').ok_or("label without =")?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("dangling escape".into()),
                },
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|e| format!("value {text:?}: {e}")),
    }
}

/// How a deliberate difference lets the candidate (netdiag) differ from the reference (blackbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowance {
    /// The series may exist only in netdiag's answer.
    OnlyInNetdiag,
    /// This label is ignored when matching series (blackbox 0.23 lacks it, newer ones have it).
    IgnoreLabel(&'static str),
    /// Not visible in the exposition (listed so the documentation has one source).
    OutsideExposition,
}

/// One deliberate difference: which series (a name, or a name prefix ending in `*`), how, why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deliberate {
    pub(crate) series: &'static str,
    pub(crate) allowance: Allowance,
    pub(crate) why: &'static str,
}

impl Deliberate {
    fn covers(&self, name: &str) -> bool {
        match self.series.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.series == name,
        }
    }
}

/// Every deliberate difference between netdiag serve and blackbox_exporter 0.23 in `/probe`
/// answers. docs/monitoring.md ("Deliberate differences") repeats this list for readers.
pub(crate) const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        series: "probe_failure_info",
        allowance: Allowance::OnlyInNetdiag,
        why: "netdiag's cause: {layer, cause} from the contract's catalogue, present only on failure",
    },
    Deliberate {
        series: "netdiag_*",
        allowance: Allowance::OnlyInNetdiag,
        why: "netdiag_layer_success{layer} and netdiag_layer_duration_seconds{layer} for each layer the walk ran",
    },
    Deliberate {
        series: "probe_ssl_*",
        allowance: Allowance::OnlyInNetdiag,
        why: "present when certificate verification fails, so an expired or self-signed cert can still alert (blackbox #1119)",
    },
    Deliberate {
        series: "probe_tls_version_info",
        allowance: Allowance::OnlyInNetdiag,
        why: "present when verification fails, like probe_ssl_*: the handshake did reach a version",
    },
    Deliberate {
        series: "probe_timeout_seconds",
        allowance: Allowance::OnlyInNetdiag,
        why: "newer blackbox releases emit it on every probe; Debian 12's 0.23 does not",
    },
    Deliberate {
        series: "probe_tls_cipher_info",
        allowance: Allowance::OnlyInNetdiag,
        why: "a blackbox 0.26+ series that Debian 12's 0.23 does not have",
    },
    Deliberate {
        series: "probe_ssl_last_chain_info",
        allowance: Allowance::IgnoreLabel("serialnumber"),
        why: "the serialnumber label is blackbox 0.26+; 0.23 lacks it",
    },
    Deliberate {
        series: "User-Agent",
        allowance: Allowance::OutsideExposition,
        why: "the default User-Agent header is netdiag/<version>, not Blackbox-Exporter/<version>",
    },
];

/// True for series whose value is a measured time, which two runs never share: every
/// `*_duration_seconds` (probe_duration_seconds, probe_http_duration_seconds{phase}, …) and
/// probe_dns_lookup_time_seconds. probe_timeout_seconds and certificate timestamps are not timing.
pub(crate) fn is_timing(name: &str) -> bool {
    name.ends_with("_duration_seconds") || name == "probe_dns_lookup_time_seconds"
}

fn ignored_labels(name: &str, deliberate: &[Deliberate]) -> Vec<&'static str> {
    deliberate
        .iter()
        .filter(|d| d.covers(name))
        .filter_map(|d| match d.allowance {
            Allowance::IgnoreLabel(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn comparison_key(s: &Sample, deliberate: &[Deliberate]) -> String {
    let ignored = ignored_labels(&s.name, deliberate);
    let kept = Sample {
        name: s.name.clone(),
        labels: s
            .labels
            .iter()
            .filter(|(k, _)| !ignored.contains(&k.as_str()))
            .cloned()
            .collect(),
        value: s.value,
    };
    kept.key()
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Compares a candidate's samples with the reference's: the same series (names and label sets),
/// the same values except timing series, allowing `deliberate`. Returns one line per difference.
pub(crate) fn compare(
    reference: &[Sample],
    candidate: &[Sample],
    deliberate: &[Deliberate],
) -> Vec<String> {
    use std::collections::BTreeMap;
    let index = |samples: &[Sample]| -> BTreeMap<String, Sample> {
        samples
            .iter()
            .map(|s| (comparison_key(s, deliberate), s.clone()))
            .collect()
    };
    let reference = index(reference);
    let candidate = index(candidate);
    let mut diffs = Vec::new();
    for (key, r) in &reference {
        match candidate.get(key) {
            None => {
                let same_name: Vec<&String> = candidate
                    .iter()
                    .filter(|(_, c)| c.name == r.name)
                    .map(|(k, _)| k)
                    .collect();
                diffs.push(format!(
                    "missing: {key} (reference {}; the candidate has {same_name:?})",
                    r.value
                ));
            }
            Some(c) if !is_timing(&r.name) && !same_value(r.value, c.value) => {
                diffs.push(format!(
                    "value: {key}: reference {} candidate {}",
                    r.value, c.value
                ));
            }
            Some(_) => {}
        }
    }
    for (key, c) in &candidate {
        let allowed = deliberate
            .iter()
            .any(|d| d.allowance == Allowance::OnlyInNetdiag && d.covers(&c.name));
        if !reference.contains_key(key) && !allowed {
            diffs.push(format!("extra: {key} = {}", c.value));
        }
    }
    diffs
}

/// deploy/grafana/netdiag.json, parsed.
pub(crate) fn dashboard() -> serde_json::Value {
    let path = repo_root().join("deploy/grafana/netdiag.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana/netdiag.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Every PromQL expression of the dashboard's panels, with the `$instance` variable as `.*`
/// (what "All" selects), so Prometheus can run them.
pub(crate) fn dashboard_queries() -> Vec<String> {
    let doc = dashboard();
    let mut out = Vec::new();
    for panel in doc["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(expr.replace("$instance", ".*"));
            }
        }
    }
    out
}
