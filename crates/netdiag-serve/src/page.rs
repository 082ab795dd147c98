//! The status page of `netdiag serve`: `/` lists the recent probes with their verdict by layer,
//! `/probe/{id}` shows one probe's whole report.
//!
//! Why server-rendered HTML with inline CSS and no script: the page is opened during an outage,
//! often from a jump host or an air-gapped network, so it must work offline, in any browser,
//! and show everything on the first paint. Nothing is fetched from outside (no fonts, images,
//! style sheets or scripts).
//!
//! Why every string is escaped *and* redacted here: targets, evidence and debug text come from
//! the network and from whoever sent `/probe`, so each is untrusted. [`escape`] makes any text
//! inert HTML, and [`netdiag_core::redact::redact`] runs on report strings and debug text even
//! though the caller may have redacted them already (defence in depth: a page is the easiest
//! thing to screenshot into a ticket).
//!
//! Accessibility: a verdict is never colour alone. Every layer cell carries its verdict as text
//! (`pass`, `warn`, `FAIL`, `skip`, `—`) and a `title`; the failing layer and the cause code are
//! written in their own column, and the probe page opens with a large verdict line.
//!
//! Pure: no I/O, no clock; the server hands in the history it keeps.

use netdiag_core::cause::Cause;
use netdiag_core::layer::Layer;
use netdiag_core::redact::redact;
use netdiag_core::render::verdict_mark;
use netdiag_core::report::{Report, Row, RowVerdict};
use std::fmt::Write as _;

/// One probe of the history, as the server keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEntry {
    /// The probe's id in the history (increasing: a larger id is newer).
    pub id: u64,
    /// RFC 3339 UTC time the probe started.
    pub started_at: String,
    /// The `target` parameter.
    pub target: String,
    /// The module's name.
    pub module: String,
    /// `probe_success`.
    pub success: bool,
    /// `probe_duration_seconds`.
    pub duration_seconds: f64,
    /// The netdiag report, when the prober walked the layers.
    pub report: Option<Report>,
    /// The `debug=true` text of the probe.
    pub debug_text: String,
}

/// The columns of the verdict strip: the walk's layers, with tcp and udp sharing one column
/// (a probe uses one of them).
const COLUMNS: [(&str, &[Layer]); 8] = [
    ("resolver", &[Layer::Resolver]),
    ("dns", &[Layer::Dns]),
    ("route", &[Layer::Route]),
    ("proxy", &[Layer::Proxy]),
    ("tcp/udp", &[Layer::Tcp, Layer::Udp]),
    ("mtu", &[Layer::Mtu]),
    ("tls", &[Layer::Tls]),
    ("http", &[Layer::Http]),
];

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in HTML text;
            // show them as the replacement character rather than let them through.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text as HTML: redacted, then escaped.
fn safe(text: &str) -> String {
    escape(&redact(text).text)
}

/// The verdict of one strip column: the worst of its layers' rows (fail, warn, pass, skip), or
/// `None` when no row of those layers exists (the walk did not get there, or the prober does
/// not walk).
fn column_verdict(rows: &[Row], layers: &[Layer]) -> Option<RowVerdict> {
    fn rank(v: RowVerdict) -> u8 {
        match v {
            RowVerdict::Fail => 3,
            RowVerdict::Warn => 2,
            RowVerdict::Pass => 1,
            RowVerdict::Skip => 0,
        }
    }
    rows.iter()
        .filter(|r| layers.contains(&r.layer))
        .map(|r| r.verdict)
        .max_by_key(|v| rank(*v))
}

/// The CSS class of a verdict (`pass`, `warn`, `fail`, `skip`; `none` when not run).
fn class(v: Option<RowVerdict>) -> &'static str {
    v.map(RowVerdict::name).unwrap_or("none")
}

/// The text a cell shows besides its colour.
fn cell_text(v: Option<RowVerdict>) -> &'static str {
    match v {
        Some(RowVerdict::Pass) => "pass",
        Some(RowVerdict::Warn) => "warn",
        Some(RowVerdict::Fail) => "FAIL",
        Some(RowVerdict::Skip) => "skip",
        None => "—",
    }
}

/// The verdict strip of one probe: one `<td>` per column.
fn strip_cells(report: Option<&Report>, out: &mut String) {
    let rows = report.map(|r| r.layers.as_slice()).unwrap_or(&[]);
    for (name, layers) in COLUMNS {
        let v = column_verdict(rows, layers);
        let title = match v {
            Some(v) => format!("{name}: {}", v.name()),
            None => format!("{name}: not run"),
        };
        let _ = write!(
            out,
            "<td class=\"cell {}\" title=\"{}\">{}</td>",
            class(v),
            escape(&title),
            cell_text(v)
        );
    }
}

/// Why a probe failed, in text: `tcp · tcp_refused`, or what is known without a failing layer.
/// `None` when the probe succeeded.
fn failing_text(entry: &PageEntry) -> Option<String> {
    if entry.success {
        return None;
    }
    Some(
        match entry
            .report
            .as_ref()
            .and_then(|r| r.verdict.layer.map(|l| (l, r)))
        {
            Some((layer, r)) => format!("{} · {}", layer.name(), r.verdict.cause.code()),
            // The walk passed but the prober's own checks (e.g. a status code rule) failed.
            None if entry.report.is_some() => "no failing layer: the module's check".to_string(),
            None => "no report: see the probe page".to_string(),
        },
    )
}

/// An RFC 3339 time that may wrap between date and time (`2026-12-02 05:00:00Z`).
fn time_text(started_at: &str) -> String {
    escape(started_at).replacen('T', " ", 1)
}

/// Seconds as the page shows them: milliseconds below 10 s, seconds above.
fn duration_text(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        "—".to_string()
    } else if seconds < 10.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// The inline style sheet: system fonts, high contrast, large verdict line.
const STYLE: &str = "\
:root{color-scheme:light;--pass:#116329;--warn:#f2c744;--fail:#d1242f;--skip:#d0d7de;--none:#eef1f4}
*{box-sizing:border-box}
body{margin:0;padding:1rem 1.5rem;font:16px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"DejaVu Sans\",sans-serif;color:#111;background:#fff}
h1{font-size:1.6rem;margin:0 0 .25rem}
h2{font-size:1.2rem;margin:1.75rem 0 .5rem;border-bottom:2px solid #111;padding-bottom:.2rem}
a{color:#0645ad}
.sub{color:#333;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #8c959f;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#24292f;color:#fff;font-weight:600}
td.cell{text-align:center;vertical-align:middle;font-weight:700;min-width:3.4rem;white-space:nowrap}
.wide{overflow-x:auto}
td.target{max-width:16rem;overflow-wrap:anywhere}
td.module{max-width:10rem;overflow-wrap:break-word}
td.result{max-width:15rem;overflow-wrap:anywhere}
td.time{min-width:6.5rem}
td.duration{white-space:nowrap}
table.layers td{overflow-wrap:anywhere}
.cell.pass{background:var(--pass);color:#fff}
.cell.warn{background:var(--warn);color:#111}
.cell.fail{background:var(--fail);color:#fff}
.cell.skip{background:var(--skip);color:#111}
.cell.none{background:var(--none);color:#57606a;font-weight:400}
.ok{color:var(--pass);font-weight:700}
.bad{color:var(--fail);font-weight:700}
.cause{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-weight:700}
.verdict{font-size:1.9rem;font-weight:800;padding:.8rem 1rem;margin:1rem 0;border-radius:4px}
.verdict.healthy{background:var(--pass);color:#fff}
.verdict.failed{background:var(--fail);color:#fff}
.verdict.unknown{background:var(--skip);color:#111}
.summary{font-size:1.15rem}
pre{background:#f6f8fa;border:1px solid #8c959f;padding:.6rem .8rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word;font:14px/1.4 ui-monospace,\"DejaVu Sans Mono\",monospace}
tr.row-fail td:not(.cell){background:#ffebe9}
tr.row-warn td:not(.cell){background:#fff8c5}
ul.ev{margin:0;padding-left:1.1rem}
.empty{font-size:1.15rem;padding:1rem;border:2px dashed #8c959f}
";

/// The document around a body.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// The header row of the verdict strip's columns.
fn strip_header(out: &mut String) {
    for (name, _) in COLUMNS {
        let _ = write!(out, "<th scope=\"col\">{name}</th>");
    }
}

/// `/`: the recent probes, newest first (by id, whatever order the history hands them in).
pub fn index(entries: &[PageEntry]) -> String {
    let mut body = String::from(
        "<h1>netdiag serve</h1>\n<p class=\"sub\">Recent probes, newest first. \
         Each row is one probe; the coloured cells are its verdict by layer. \
         Open a probe for its full report, fix and debug output.</p>\n",
    );
    if entries.is_empty() {
        body.push_str(
            "<p class=\"empty\">No probes yet. Run one, for example: \
             <code>curl &#39;http://HOST:9115/probe?target=example.com:443&amp;module=tcp_connect&#39;</code>\
             , or point Prometheus at <code>/probe</code> with the multi-target relabelling.</p>\n",
        );
        return document("netdiag serve", &body);
    }
    let mut sorted: Vec<&PageEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.id));
    body.push_str(
        "<div class=\"wide\"><table class=\"probes\">\n<thead><tr><th scope=\"col\">Time</th>\
         <th scope=\"col\">Module</th><th scope=\"col\">Target</th>\
         <th scope=\"col\">Result · failing layer · cause</th><th scope=\"col\">Duration</th>",
    );
    strip_header(&mut body);
    body.push_str("</tr></thead>\n<tbody>\n");
    for e in sorted {
        index_row(e, &mut body);
    }
    body.push_str("</tbody>\n</table></div>\n");
    document("netdiag serve", &body)
}

/// One row of the index: the result column carries the failing layer and cause in text.
fn index_row(e: &PageEntry, out: &mut String) {
    let href = format!("probe/{}", e.id);
    let result = match failing_text(e) {
        None => "<td class=\"result ok\">success</td>".to_string(),
        Some(why) => format!(
            "<td class=\"result bad\">FAILED<br><span class=\"cause\">{}</span></td>",
            escape(&why)
        ),
    };
    let _ = write!(
        out,
        "<tr id=\"probe-{id}\"><td class=\"time\"><a href=\"{href}\">{time}</a></td>\
         <td class=\"module\">{module}</td><td class=\"target\"><a href=\"{href}\">{target}</a></td>\
         {result}<td class=\"duration\">{duration}</td>",
        id = e.id,
        time = time_text(&e.started_at),
        module = escape(&e.module),
        target = safe(&e.target),
        duration = duration_text(e.duration_seconds),
    );
    strip_cells(e.report.as_ref(), out);
    out.push_str("</tr>\n");
}

/// `/probe/{id}`: one probe's whole report, verdict first.
pub fn probe_page(entry: &PageEntry) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"../\">← all probes</a></p>\n<h1>Probe #{id}: {target}</h1>\n\
         <p class=\"sub\">module <b>{module}</b> · started {time} · took {duration} · \
         probe_success {success}</p>\n",
        id = entry.id,
        target = safe(&entry.target),
        module = escape(&entry.module),
        time = escape(&entry.started_at),
        duration = duration_text(entry.duration_seconds),
        success = u8::from(entry.success),
    );
    match &entry.report {
        Some(report) => report_sections(entry, report, &mut body),
        None => {
            let (cls, line) = if entry.success {
                ("healthy", "PROBE SUCCEEDED")
            } else {
                ("failed", "PROBE FAILED")
            };
            let _ = write!(
                body,
                "<div class=\"verdict {cls}\">{line}</div>\n<p>This probe has no netdiag \
                 report: module <b>{}</b>&#39;s prober does not walk the layers. \
                 The debug output below says what it saw.</p>\n",
                escape(&entry.module)
            );
        }
    }
    body.push_str("<h2>Debug output</h2>\n");
    let _ = writeln!(
        body,
        "<pre class=\"debug\">{}</pre>",
        safe(&entry.debug_text)
    );
    document(
        &format!("netdiag probe #{} {}", entry.id, redact(&entry.target).text),
        &body,
    )
}

/// The verdict line, the strip, the layer table, the verdict details and the warnings.
fn report_sections(entry: &PageEntry, report: &Report, out: &mut String) {
    let v = &report.verdict;
    match v.layer {
        Some(layer) => {
            let _ = writeln!(
                out,
                "<div class=\"verdict failed\">FAILED at the {} layer: <span class=\"cause\">{}</span></div>",
                layer.name(),
                v.cause.code()
            );
        }
        None if entry.success => out.push_str("<div class=\"verdict healthy\">HEALTHY</div>\n"),
        None => out.push_str(
            "<div class=\"verdict failed\">PROBE FAILED: every layer passed, the module's own \
             check did not (see the debug output)</div>\n",
        ),
    }
    let _ = writeln!(out, "<p class=\"summary\">{}</p>", safe(&v.summary));
    out.push_str("<table class=\"strip\"><thead><tr>");
    strip_header(out);
    out.push_str("</tr></thead><tbody><tr>");
    strip_cells(Some(report), out);
    out.push_str("</tr></tbody></table>\n");
    layer_table(report, out);
    verdict_details(report, out);
    flow_details(report, out);
    if !report.warnings.is_empty() {
        out.push_str("<h2>Warnings</h2>\n<ul>\n");
        for w in &report.warnings {
            let _ = writeln!(
                out,
                "<li><span class=\"cause\">{}</span>: {}</li>",
                w.cause.code(),
                safe(&w.message)
            );
        }
        out.push_str("</ul>\n");
    }
}

/// The contract's table: `Layer | Test | Result | Evidence | Verdict`, the verdict cell written
/// as the CLI writes it (`FAIL tcp_refused`).
fn layer_table(report: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "<h2>Layers</h2>\n<p class=\"sub\">netdiag check {} · {} ms</p>",
        safe(&report.target.input),
        report.duration_ms
    );
    out.push_str(
        "<table class=\"layers\">\n<thead><tr><th scope=\"col\">Layer</th>\
         <th scope=\"col\">Test</th><th scope=\"col\">Result</th>\
         <th scope=\"col\">Evidence</th><th scope=\"col\">Verdict</th></tr></thead>\n<tbody>\n",
    );
    for row in &report.layers {
        let verdict = if row.cause == Cause::Ok {
            verdict_mark(row.verdict).to_string()
        } else {
            format!("{} {}", verdict_mark(row.verdict), row.cause.code())
        };
        let mut evidence = String::new();
        if !row.evidence.is_empty() {
            evidence.push_str("<ul class=\"ev\">");
            for line in &row.evidence {
                let _ = write!(evidence, "<li>{}</li>", safe(line));
            }
            evidence.push_str("</ul>");
        }
        let _ = writeln!(
            out,
            "<tr class=\"row-{v}\"><td>{layer}</td><td>{test}</td><td>{result}</td>\
             <td>{evidence}</td><td class=\"cell {v}\">{verdict}</td></tr>",
            v = row.verdict.name(),
            layer = row.layer.name(),
            test = safe(&row.test),
            result = safe(&row.result),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Where the walk was redirected and the flow that failed, when the report has them.
fn flow_details(report: &Report, out: &mut String) {
    if let Some(flow) = &report.failed_flow {
        let source = flow
            .source
            .map(|s| s.to_string())
            .unwrap_or_else(|| "this host".to_string());
        let port = flow.port.map(|p| format!(" port {p}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "<h2>Failed flow</h2>\n<p>{} {} → {}{}</p>",
            flow.protocol, source, flow.destination, port
        );
    }
    if report.redirect.is_some() || !report.followed.is_empty() {
        out.push_str("<h2>Redirects</h2>\n");
        let mut lines: Vec<String> = report
            .followed
            .iter()
            .map(|u| format!("followed {u}"))
            .collect();
        if let Some(location) = &report.redirect {
            lines.push(format!("Location: {location}"));
        }
        out.push_str(&pre_lines(&lines));
    }
    if let Some(cloud) = &report.cloud {
        let text = serde_json::to_string_pretty(cloud).unwrap_or_default();
        let _ = writeln!(out, "<h2>Cloud firewalls</h2>\n<pre>{}</pre>", safe(&text));
    }
}

/// Lines as one `<pre>` block (each line redacted and escaped).
fn pre_lines(lines: &[String]) -> String {
    let text: Vec<String> = lines.iter().map(|l| safe(l)).collect();
    format!("<pre>{}</pre>\n", text.join("\n"))
}

/// Root cause, fix, pre-state, rollback and runbook, when a layer failed.
fn verdict_details(report: &Report, out: &mut String) {
    let v = &report.verdict;
    if v.layer.is_none() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2>Root cause</h2>\n<p><span class=\"cause\">{}</span>: {}</p>\n<p>{}</p>",
        v.cause.code(),
        escape(v.cause.meaning()),
        safe(&v.root_cause)
    );
    let _ = writeln!(out, "<h2>Fix</h2>\n<p>{}</p>", safe(&v.fix.description));
    if !v.fix.commands.is_empty() {
        out.push_str(&pre_lines(&v.fix.commands));
    }
    for manifest in &v.fix.manifests {
        let text = serde_json::to_string_pretty(manifest).unwrap_or_default();
        let _ = writeln!(out, "<pre>{}</pre>", safe(&text));
    }
    if !v.prestate.is_empty() {
        out.push_str("<h2>Before changing anything, capture</h2>\n");
        out.push_str(&pre_lines(&v.prestate));
    }
    if !v.rollback.is_empty() {
        out.push_str("<h2>Rollback</h2>\n");
        out.push_str(&pre_lines(&v.rollback));
    }
    if !v.runbook.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Runbook</h2>\n<pre class=\"runbook\">{}</pre>",
            safe(&v.runbook)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netdiag_core::report::{Fix, TargetInfo, Verdict, Warning, SCHEMA};
    use proptest::prelude::*;

    fn target(input: &str) -> TargetInfo {
        TargetInfo {
            input: input.into(),
            scheme: "tcp".into(),
            host: "127.0.0.1".into(),
            port: Some(5432),
        }
    }

    fn pass(layer: Layer, test: &str) -> Row {
        Row::new(layer, test, "ok", RowVerdict::Pass, Cause::Ok)
    }

    fn healthy_report(input: &str) -> Report {
        Report {
            schema: SCHEMA,
            target: target(input),
            started_at: "2026-12-02T05:00:00Z".into(),
            duration_ms: 3,
            layers: vec![
                pass(Layer::Resolver, "resolv.conf"),
                pass(Layer::Dns, "literal address"),
                pass(Layer::Route, "route to 127.0.0.1"),
                pass(Layer::Tcp, "connect 127.0.0.1:5432"),
            ],
            verdict: Verdict {
                layer: None,
                cause: Cause::Ok,
                summary: "every layer passed".into(),
                root_cause: String::new(),
                fix: Fix::default(),
                rollback: vec![],
                prestate: vec![],
                runbook: String::new(),
            },
            warnings: vec![],
            redirect: None,
            followed: vec![],
            failed_flow: None,
            cloud: None,
        }
    }

    fn failing_report(input: &str, evidence: Vec<String>) -> Report {
        let mut r = healthy_report(input);
        r.layers[3] = Row::new(
            Layer::Tcp,
            "connect 127.0.0.1:5432",
            "refused (RST) in 0 ms",
            RowVerdict::Fail,
            Cause::TcpRefused,
        )
        .with_evidence(evidence);
        for layer in [Layer::Tls, Layer::Http] {
            r.layers.push(Row::new(
                layer,
                "not run",
                "skipped: the tcp layer failed",
                RowVerdict::Skip,
                Cause::Ok,
            ));
        }
        r.verdict = Verdict {
            layer: Some(Layer::Tcp),
            cause: Cause::TcpRefused,
            summary: "nothing listens on 127.0.0.1:5432".into(),
            root_cause: "the host answered the SYN with a RST".into(),
            fix: Fix {
                description: "start the service or fix the port".into(),
                commands: vec!["ss -ltnp 'sport = :5432'".into()],
                manifests: vec![],
            },
            rollback: vec!["systemctl stop the-service".into()],
            prestate: vec!["ss -ltnp".into()],
            runbook: "### tcp refused\nsymptom: RST".into(),
        };
        r.warnings = vec![Warning {
            cause: Cause::DnsSlow,
            message: "the nameserver took 900 ms".into(),
        }];
        r
    }

    fn entry(id: u64, target: &str, report: Option<Report>) -> PageEntry {
        PageEntry {
            id,
            started_at: format!("2026-12-02T05:00:0{id}Z"),
            target: target.into(),
            module: "tcp_connect".into(),
            success: report.as_ref().is_some_and(Report::healthy),
            duration_seconds: 0.004,
            report,
            debug_text: "Logs for the probe:\nts=... msg=\"Beginning probe\"".into(),
        }
    }

    /// The `<td>` of the index's strip column `name` in the row of probe `id`.
    fn strip_cell<'a>(html: &'a str, id: u64, name: &str) -> &'a str {
        let row_start = html.find(&format!("<tr id=\"probe-{id}\">")).expect("row");
        let row = &html[row_start..];
        let row = &row[..row.find("</tr>").expect("row end")];
        let at = row
            .find(&format!("title=\"{name}: "))
            .expect("cell of the column");
        let start = row[..at].rfind("<td").expect("cell start");
        let end = at + row[at..].find("</td>").expect("cell end");
        &row[start..end]
    }

    #[test]
    fn index_colours_each_layer_and_names_the_failing_one_in_text() {
        let html = index(&[
            entry(1, "127.0.0.1:5432", Some(healthy_report("127.0.0.1:5432"))),
            entry(
                2,
                "127.0.0.1:1",
                Some(failing_report("127.0.0.1:1", vec![])),
            ),
        ]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        let tcp = strip_cell(&html, 2, "tcp/udp");
        assert!(
            tcp.contains("class=\"cell fail\"") && tcp.contains(">FAIL"),
            "{tcp}"
        );
        assert!(strip_cell(&html, 2, "route").contains("cell pass"));
        assert!(strip_cell(&html, 2, "tls").contains("cell skip"));
        // The proxy layer did not run at all: grey, and says so.
        let proxy = strip_cell(&html, 2, "proxy");
        assert!(
            proxy.contains("cell none") && proxy.contains("not run"),
            "{proxy}"
        );
        assert!(strip_cell(&html, 1, "tcp/udp").contains("cell pass"));
        // The failing layer and the cause in text, not colour alone.
        assert!(html.contains(&format!("tcp · {}", Cause::TcpRefused.code())));
        assert!(html.contains("<td class=\"result ok\">success</td>"));
        // Newest first, and each row links to its probe page.
        let newer = html.find("probe-2").expect("row 2");
        let older = html.find("probe-1").expect("row 1");
        assert!(newer < older);
        assert!(html.contains("href=\"probe/2\"") && html.contains("href=\"probe/1\""));
    }

    #[test]
    fn index_without_reports_still_shows_the_result() {
        let mut e = entry(3, "example.com", None);
        e.module = "dns_soa".into();
        let html = index(&[e]);
        assert!(html.contains("FAILED") && html.contains("no report"));
        assert!(strip_cell(&html, 3, "dns").contains("cell none"));
    }

    #[test]
    fn empty_history_says_how_to_run_a_probe() {
        let html = index(&[]);
        assert!(html.contains("No probes yet"));
        assert!(html.contains("curl &#39;http://HOST:9115/probe?target="));
        assert!(html.contains("&amp;module="));
        assert!(!html.contains("<table"));
    }

    #[test]
    fn probe_page_has_the_table_the_verdict_and_the_debug_text() {
        let e = entry(
            7,
            "127.0.0.1:1",
            Some(failing_report(
                "127.0.0.1:1",
                vec!["connect() → ECONNREFUSED".into()],
            )),
        );
        let html = probe_page(&e);
        for header in ["Layer", "Test", "Result", "Evidence", "Verdict"] {
            assert!(html.contains(&format!("<th scope=\"col\">{header}</th>")));
        }
        let code = Cause::TcpRefused.code();
        assert!(html.contains(&format!(
            "FAILED at the tcp layer: <span class=\"cause\">{code}</span>"
        )));
        assert!(html.contains(&format!("<td class=\"cell fail\">FAIL {code}</td>")));
        assert!(html.contains("<td class=\"cell pass\">PASS</td>"));
        assert!(html.contains("connect() → ECONNREFUSED"));
        assert!(html.contains("<pre>ss -ltnp &#39;sport = :5432&#39;</pre>"));
        assert!(html.contains("<h2>Rollback</h2>\n<pre>systemctl stop the-service</pre>"));
        assert!(html.contains("<pre class=\"runbook\">### tcp refused\nsymptom: RST</pre>"));
        assert!(html.contains(&escape(Cause::TcpRefused.meaning())));
        assert!(html.contains(&format!(
            "<span class=\"cause\">{}</span>: the nameserver took 900 ms",
            Cause::DnsSlow.code()
        )));
        assert!(html.contains("<pre class=\"debug\">Logs for the probe:\nts=... msg=&quot;Beginning probe&quot;</pre>"));
        assert!(html.contains("href=\"../\""));
    }

    #[test]
    fn healthy_probe_page_says_so_in_large_text() {
        let html = probe_page(&entry(1, "127.0.0.1:5432", Some(healthy_report("x"))));
        assert!(html.contains("<div class=\"verdict healthy\">HEALTHY</div>"));
        assert!(!html.contains("<h2>Fix</h2>"));
    }

    #[test]
    fn probe_page_without_report_explains_why() {
        let html = probe_page(&entry(4, "example.com", None));
        assert!(html.contains("PROBE FAILED") && html.contains("no netdiag"));
        assert!(html.contains("<pre class=\"debug\">"));
    }

    #[test]
    fn an_injected_script_stays_text() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let mut e = entry(5, evil, Some(failing_report(evil, vec![evil.into()])));
        e.module = evil.into();
        e.debug_text = evil.into();
        e.started_at = evil.into();
        for html in [index(std::slice::from_ref(&e)), probe_page(&e)] {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
        }
    }

    #[test]
    fn secrets_in_evidence_and_debug_text_are_redacted() {
        let mut e = entry(
            6,
            "http://user:hunter2@127.0.0.1:8080/",
            Some(failing_report(
                "http://user:hunter2@127.0.0.1:8080/",
                vec!["Authorization: Bearer sekrit-token-123".into()],
            )),
        );
        e.debug_text = "> Authorization: Bearer sekrit-token-123\npassword=swordfish".into();
        for html in [index(std::slice::from_ref(&e)), probe_page(&e)] {
            for secret in ["sekrit-token-123", "swordfish", "hunter2"] {
                assert!(!html.contains(secret), "{secret} leaked");
            }
        }
        let html = probe_page(&e);
        assert!(html.contains("Authorization: ***"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(0.004), "4 ms");
        assert_eq!(duration_text(12.25), "12.2 s");
        assert_eq!(duration_text(f64::NAN), "—");
        assert_eq!(duration_text(-1.0), "—");
    }

    #[test]
    fn no_external_assets() {
        let e = entry(
            2,
            "127.0.0.1:1",
            Some(failing_report("127.0.0.1:1", vec![])),
        );
        for html in [index(std::slice::from_ref(&e)), probe_page(&e), index(&[])] {
            for needle in ["http://", "https://", "<link", "<script", "@import", "url("] {
                let outside = html.replace("http://HOST:9115", "");
                assert!(!outside.contains(needle), "{needle}");
            }
        }
    }

    /// What a browser would read back as text from escaped HTML: the inverse of [`escape`].
    fn unescape(html: &str) -> String {
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup_and_reads_back(s in "\\PC*") {
            let e = escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
            // Every `&` starts one of our entities.
            for (i, _) in e.match_indices('&') {
                let rest = &e[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|x| rest.starts_with(x)));
            }
            prop_assert_eq!(unescape(&e), s);
        }

        #[test]
        fn any_target_or_evidence_cannot_open_a_tag(
            target in "[<>\"'&a-z/= ]{0,40}",
            evidence in "[<>\"'&a-z/= ]{0,40}",
        ) {
            let e = entry(9, &target, Some(failing_report(&target, vec![evidence.clone()])));
            for html in [index(std::slice::from_ref(&e)), probe_page(&e)] {
                // Every `<` opens one of the page's own elements: nothing typed by a user does.
                for (i, _) in html.match_indices('<') {
                    let name: String = html[i + 1..]
                        .trim_start_matches('/')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                        .collect();
                    prop_assert!(ALLOWED_TAGS.contains(&name.to_ascii_lowercase().as_str()), "tag {}", name);
                }
                prop_assert!(!html.contains("<script"));
            }
        }
    }

    /// Every element the page writes.
    const ALLOWED_TAGS: &[&str] = &[
        "!doctype", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "a", "b",
        "code", "table", "thead", "tbody", "tr", "th", "td", "div", "span", "ul", "li", "pre",
        "br",
    ];
}
