//! Snapshots of the exact rendered output of the CLI, in every format each subcommand offers:
//! `k8s check`, `k8s matrix`, `cloud check` (aws, gcp, azure), the live `check` report and
//! `causes`. They pin the text field for field, so a change of the renderers (or of the models
//! behind them) shows up as a snapshot diff.
//!
//! Offline subcommands are snapshotted byte for byte (an `[end of stdout]` line pins whether the
//! output ends with a newline). The live `check` runs only against loopback, with its own
//! resolv.conf, hosts and nsswitch.conf, and redacts just what differs between runs: the
//! ephemeral port, measured durations and the start time.
//!
//! Paths are given relative to the working directory (the workspace root, or the temporary
//! directory holding the resolver files), so no absolute path ends up in a snapshot.
//!
//! Update after an intended change: `INSTA_UPDATE=always cargo test -p netdiag --test snapshots`,
//! then review the diff of `tests/snapshots/`.
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The workspace root: every fixture path below is relative to it.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const K8S: &str = "crates/netdiag-k8s/tests/fixtures";
const CLOUD: &str = "crates/netdiag-cloud/tests/fixtures";
const FORMATS: [&str; 3] = ["table", "json", "markdown"];
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Runs netdiag in `dir` with `args`, asserts the exit code and returns stdout.
fn run(dir: &Path, args: &[String], code: i32) -> String {
    let mut cmd = Command::cargo_bin("netdiag").unwrap();
    cmd.current_dir(dir).args(args);
    for k in PROXY_VARIABLES {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "netdiag {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// insta trims trailing newlines; this line keeps whether stdout ended with one in the snapshot.
fn exact(stdout: &str) -> String {
    format!("{stdout}[end of stdout]")
}

/// Snapshots the output of an offline command byte for byte, in `format`.
fn offline(name: &str, args: &[&str], format: &str, code: i32) {
    let mut args = strings(args);
    args.extend(["--format".to_string(), format.to_string()]);
    let stdout = run(Path::new(ROOT), &args, code);
    if format == "json" {
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap();
    }
    insta::with_settings!({ description => format!("netdiag {}", args.join(" ")), omit_expression => true }, {
        insta::assert_snapshot!(format!("{name}_{format}"), exact(&stdout));
    });
}

fn all_formats(name: &str, args: &[&str], code: i32) {
    for format in FORMATS {
        offline(name, args, format, code);
    }
}

// ---------------------------------------------------------------------------------------------
// netdiag k8s

fn k8s_check(name: &str, flow: &[&str], code: i32) {
    let args = [&["k8s", "check", "--manifests", K8S][..], flow].concat();
    all_formats(name, &args, code);
}

#[test]
fn k8s_check_allowed() {
    k8s_check(
        "k8s_check_allowed",
        &[
            "--from",
            "web/frontend",
            "--to",
            "shop/api",
            "--port",
            "http",
        ],
        0,
    );
}

#[test]
fn k8s_check_networkpolicy_denied_with_fix_manifests() {
    k8s_check(
        "k8s_check_netpol_denied",
        &[
            "--from",
            "web/frontend",
            "--to",
            "shop/db",
            "--port",
            "5432",
        ],
        1,
    );
}

#[test]
fn k8s_check_service_selector_mismatch() {
    k8s_check(
        "k8s_check_service_selector_mismatch",
        &[
            "--from",
            "web/frontend",
            "--to",
            "service:shop/db",
            "--port",
            "5432",
        ],
        1,
    );
}

#[test]
fn k8s_check_service_pods_not_ready() {
    k8s_check(
        "k8s_check_service_pods_not_ready",
        &[
            "--from",
            "web/frontend",
            "--to",
            "service:shop/worker",
            "--port",
            "80",
        ],
        1,
    );
}

#[test]
fn k8s_matrix() {
    all_formats("k8s_matrix", &["k8s", "matrix", "--manifests", K8S], 0);
}

// ---------------------------------------------------------------------------------------------
// netdiag cloud

fn cloud_check(name: &str, provider: &str, files: &[&str], flow: &[&str], code: i32) {
    let resources: Vec<String> = if files.is_empty() {
        vec![format!("{CLOUD}/{provider}")]
    } else {
        files
            .iter()
            .map(|f| format!("{CLOUD}/{provider}/{f}"))
            .collect()
    };
    let mut args = vec!["cloud", "check", "--resources"];
    args.extend(resources.iter().map(String::as_str));
    args.extend(flow);
    all_formats(name, &args, code);
}

#[test]
fn cloud_aws_allowed() {
    cloud_check(
        "cloud_aws_allowed",
        "aws",
        &[],
        &["--from", "i-0web1", "--to", "10.0.2.20", "--port", "8080"],
        0,
    );
}

#[test]
fn cloud_aws_blocked_with_fix() {
    cloud_check(
        "cloud_aws_blocked",
        "aws",
        &[],
        &[
            "--provider",
            "aws",
            "--from",
            "10.0.1.10",
            "--to",
            "10.0.2.20",
            "--port",
            "22",
        ],
        1,
    );
}

#[test]
fn cloud_gcp_blocked() {
    cloud_check(
        "cloud_gcp_blocked",
        "gcp",
        &[
            "instances.json",
            "firewall-rules.json",
            "networks.json",
            "routes.json",
        ],
        &["--from", "203.0.113.9", "--to", "db-1", "--port", "5432"],
        1,
    );
}

#[test]
fn cloud_azure_blocked() {
    cloud_check(
        "cloud_azure_blocked",
        "azure",
        &["nsgs.json", "nics.json", "vnets.json", "asgs.json"],
        &[
            "--from",
            "203.0.113.9",
            "--to",
            "nic-web-1",
            "--port",
            "3389",
        ],
        1,
    );
}

// ---------------------------------------------------------------------------------------------
// netdiag causes

#[test]
fn causes() {
    all_formats("causes", &["causes"], 0);
}

// ---------------------------------------------------------------------------------------------
// netdiag check (live, loopback only)

/// A temporary directory with the resolver files every live check reads instead of the host's:
/// resolv.conf naming only 127.0.0.1, a hosts file pinning `app.internal.test` to 127.0.0.1,
/// and an nsswitch.conf per case.
struct Resolver {
    dir: PathBuf,
}

impl Resolver {
    fn new(name: &str, nsswitch_hosts: &str) -> Resolver {
        let dir =
            std::env::temp_dir().join(format!("netdiag-snapshots-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        std::fs::write(
            dir.join("hosts"),
            "127.0.0.1 localhost\n127.0.0.1 app.internal.test\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("nsswitch.conf"),
            format!("hosts: {nsswitch_hosts}\n"),
        )
        .unwrap();
        Resolver { dir }
    }

    /// `netdiag check TARGET --format FORMAT` with the three files, run in their directory so
    /// they appear under their relative names.
    fn check(&self, target: &str, format: &str, code: i32) -> String {
        let args = strings(&[
            "check",
            target,
            "--format",
            format,
            "--resolv-conf",
            "resolv.conf",
            "--hosts-file",
            "hosts",
            "--nsswitch-conf",
            "nsswitch.conf",
        ]);
        run(&self.dir, &args, code)
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that was bound and closed again: nothing listens on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces in `text` the number `port` by `[port]`, and each measured duration (`in 3 ms`,
/// `after 3 ms`, `(3 ms)`, also `1.2 s`) by `[duration]`, keeping the words around it. Only
/// whole numbers are touched: an address such as 127.0.0.1 or a port inside 32768-60999 stays.
fn redact(text: &str, port: Option<u16>) -> String {
    let port = port.map(|p| p.to_string());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let len = from
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(from.len());
        // A sentence-ending dot is not part of the number.
        let number = from[..len].trim_end_matches('.');
        let after = &from[number.len()..];
        let glued = out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || after.starts_with('-');
        let unit = [" ms", " s"].into_iter().find(|u| {
            after
                .strip_prefix(u)
                .is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_alphanumeric()))
        });
        let timed = ["in ", "after ", "("].iter().any(|p| out.ends_with(p));
        let simple = number.split('.').count() <= 2;
        if !glued && simple && timed && unit.is_some() {
            out.push_str("[duration]");
            rest = &after[unit.map_or(0, str::len)..];
        } else if !glued && port.as_deref() == Some(number) {
            out.push_str("[port]");
            rest = after;
        } else {
            out.push_str(number);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// [`redact`] for the table. A placeholder is not as wide as the number it replaces, so a table
/// row whose text changed has each cell padded again to the width the cell had (the column
/// widths come from the border lines, which hold no number); a cell whose redacted text is
/// wider keeps one space either side. Rows without anything to redact are left as they are.
fn redact_table(text: &str, port: Option<u16>) -> String {
    fn cells(row: &str) -> Option<Vec<&str>> {
        let inner = row.strip_prefix('│')?.strip_suffix('│')?;
        Some(inner.split('┆').collect())
    }
    text.split_inclusive('\n')
        .map(|line| {
            let redacted = redact(line, port);
            let (row, newline) = (
                line.trim_end_matches('\n'),
                &line[line.trim_end_matches('\n').len()..],
            );
            let (Some(before), Some(after)) = (cells(row), cells(redacted.trim_end_matches('\n')))
            else {
                return redacted;
            };
            if redacted == line || before.len() != after.len() {
                return redacted;
            }
            let padded: Vec<String> = before
                .iter()
                .zip(&after)
                .map(|(old, new)| {
                    let width = old.chars().count().saturating_sub(2);
                    format!(" {:<width$} ", new.trim())
                })
                .collect();
            format!("│{}│{newline}", padded.join("┆"))
        })
        .collect()
}

/// An insta redaction applying [`redact`] to a string value.
fn text_redaction(port: Option<u16>) -> insta::internals::Redaction {
    insta::dynamic_redaction(move |value, _path| match value.as_str() {
        Some(s) => insta::internals::Content::from(redact(s, port)),
        None => value,
    })
}

/// An insta redaction of a port field: `[port]` when it is the ephemeral `port` (asserted),
/// the value itself when the case uses a fixed port.
fn port_redaction(port: Option<u16>) -> insta::internals::Redaction {
    insta::dynamic_redaction(move |value, _path| match port {
        Some(p) => {
            assert_eq!(value.as_u64(), Some(u64::from(p)));
            insta::internals::Content::from("[port]")
        }
        None => value,
    })
}

/// Snapshots one live check in all three formats. JSON goes through insta redactions (the start
/// time, every `duration_ms`, the port fields, and the port and durations inside strings);
/// table and Markdown through [`redact_table`] / [`redact`].
fn live(name: &str, resolver: &Resolver, target: &str, port: Option<u16>, code: i32) {
    let shown = redact(target, port);
    for format in FORMATS {
        let stdout = resolver.check(target, format, code);
        let description = format!(
            "netdiag check {shown} --format {format} --resolv-conf resolv.conf --hosts-file hosts --nsswitch-conf nsswitch.conf (nsswitch.conf: {})",
            std::fs::read_to_string(resolver.dir.join("nsswitch.conf"))
                .unwrap()
                .trim_end()
        );
        let snapshot = format!("{name}_{format}");
        insta::with_settings!({ description => description, omit_expression => true }, {
            match format {
                "json" => {
                    let doc: Ordered = serde_json::from_str(&stdout).unwrap();
                    // The document is exactly the pretty printing of what is snapshotted, in
                    // the same key order: the redacted snapshot pins everything else.
                    assert_eq!(stdout, serde_json::to_string_pretty(&doc).unwrap());
                    let text = || text_redaction(port);
                    insta::assert_json_snapshot!(snapshot, doc, {
                        ".started_at" => "[started_at]",
                        ".duration_ms" => "[duration_ms]",
                        ".layers[].duration_ms" => "[duration_ms]",
                        ".target.port" => port_redaction(port),
                        ".failed_flow.port" => port_redaction(port),
                        ".target.input" => text(),
                        ".layers[].test" => text(),
                        ".layers[].result" => text(),
                        ".layers[].evidence[]" => text(),
                        ".verdict.summary" => text(),
                        ".verdict.root_cause" => text(),
                        ".verdict.fix.description" => text(),
                        ".verdict.fix.commands[]" => text(),
                        ".verdict.rollback[]" => text(),
                        ".verdict.prestate[]" => text(),
                        ".verdict.runbook" => text(),
                        ".warnings[].message" => text(),
                    });
                }
                "table" => insta::assert_snapshot!(snapshot, exact(&redact_table(&stdout, port))),
                _ => insta::assert_snapshot!(snapshot, exact(&redact(&stdout, port))),
            }
        });
    }
}

#[test]
fn check_tcp_refused_on_loopback() {
    let resolver = Resolver::new("refused", "files dns");
    let port = closed_port();
    live(
        "check_tcp_refused",
        &resolver,
        &format!("127.0.0.1:{port}"),
        Some(port),
        1,
    );
}

#[test]
fn check_name_from_the_hosts_file_then_refused() {
    let resolver = Resolver::new("hosts", "files");
    let port = closed_port();
    live(
        "check_hosts_file_refused",
        &resolver,
        &format!("tcp://app.internal.test:{port}"),
        Some(port),
        1,
    );
}

#[test]
fn check_name_missing_with_files_only_lookup() {
    // nsswitch says `hosts: files` and the hosts file lacks the name: no query is ever sent.
    let resolver = Resolver::new("missing", "files");
    live(
        "check_dns_files_only_missing",
        &resolver,
        "tcp://missing.internal.test:8080",
        None,
        1,
    );
}

#[test]
fn redaction_is_narrow() {
    assert_eq!(
        redact(
            "127.0.0.1:40000 refused (RST) in 12 ms after 1.5 s (3 ms); port 40000. 32768-60999 x40000 5 ms",
            Some(40000)
        ),
        "127.0.0.1:[port] refused (RST) in [duration] after [duration] ([duration]); port [port]. 32768-60999 x40000 5 ms"
    );
    assert_eq!(
        redact_table(
            "│ tcp  ┆ connect 127.0.0.1:40000  ┆ refused in 1 ms       │\n│ dns  ┆ 127.0.0.1  ┆ ok │\n",
            Some(40000)
        ),
        "│ tcp  ┆ connect 127.0.0.1:[port] ┆ refused in [duration] │\n│ dns  ┆ 127.0.0.1  ┆ ok │\n"
    );
}

// ---------------------------------------------------------------------------------------------
// JSON that keeps the key order of the document (serde_json::Value sorts keys).

/// A JSON value whose objects keep their keys in document order.
enum Ordered {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Null => s.serialize_unit(),
            Ordered::Bool(b) => s.serialize_bool(*b),
            Ordered::Number(n) => n.serialize(s),
            Ordered::String(t) => s.serialize_str(t),
            Ordered::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Ordered, E> {
                Ok(Ordered::Number(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Ordered, E> {
                Ok(Ordered::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Ordered, E> {
                serde_json::Number::from_f64(n)
                    .map(Ordered::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, t: &str) -> Result<Ordered, E> {
                Ok(Ordered::String(t.to_string()))
            }
            fn visit_string<E>(self, t: String) -> Result<Ordered, E> {
                Ok(Ordered::String(t))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}
