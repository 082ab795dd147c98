//! The `http` prober: blackbox's http module, answered by netdiag's walk.
//!
//! Each hop (the target, then every redirect followed, at most 10 as blackbox) is one full
//! walk (`netdiag_engine::live::run_with`) through a [`Recorder`], so a failure carries the
//! walk's layer and cause; the blackbox numbers come from the recorded observations.
//!
//! Address selection, and how it combines with the walk's per-address truth: the name is
//! resolved first with the system resolver and an address chosen exactly as blackbox does
//! (first of `preferred_ip_protocol`, default ip6; with `ip_protocol_fallback`, else the last
//! of the other family). `probe_ip_protocol` and `probe_ip_addr_hash` describe that address.
//! The walk is then restricted to that address's *family* (as `netdiag check -4/-6`), so it
//! still judges every address of the family and names the cause; blackbox's one-address view
//! and netdiag's per-address evidence agree on the family, which is what the series encode.
//! When resolution fails the walk runs unrestricted and its dns/resolver cause is the label.
//!
//! A module's expectations decide `probe_success`: a status the walk calls `http_4xx` passes
//! when the module lists it; a 200 fails when the module's regexes, versions or TLS demands
//! fail, with the matching `http_*` cause.

use super::common::{
    address_series, choose, prefers_v4, read_ca_file, resolve, system_prober, tls_facts,
    tls_series, verdict_series_with, verified_chain_expiry, Recorder, TlsFacts,
};
use super::{ProbeOutcome, ProbeRequest};
use crate::config::http::HttpProbe;
use crate::expo::Registry;
use netdiag_core::cause::Cause;
use netdiag_core::layer::Layer;
use netdiag_core::observe::HttpOutcome;
use netdiag_core::report::Report;
use netdiag_core::target::{parse_target, Scheme, Target};
use netdiag_core::walk::{Family, WalkOptions};
use std::time::{Duration, Instant};

/// blackbox follows at most this many redirects; one more fails the probe.
pub const MAX_REDIRECTS: u32 = 10;
/// The body kept for the regexes when the module sets no `body_size_limit`.
pub const BODY_KEEP: usize = 1024 * 1024;

/// The series blackbox's http prober accumulates over the hops.
#[derive(Debug, Default)]
struct Phases {
    resolve: f64,
    connect: f64,
    tls: f64,
    processing: f64,
    transfer: f64,
    /// No `resolve` phase series (a proxy with `skip_resolve_phase_with_proxy`).
    skip_resolve: bool,
}

/// What one hop found.
struct Hop {
    report: Report,
    response: Option<Response>,
    tls: Option<TlsFacts>,
    /// The HTTP exchange's phase times (from the session's start), when one ran.
    timings: Option<netdiag_core::observe::HttpTimings>,
    /// The walk's DNS questions and their answers, per nameserver.
    dns: Vec<netdiag_core::observe::DnsExchange>,
}

/// A final response of one hop.
#[derive(Debug, Clone, Default)]
struct Response {
    status: u16,
    version: String,
    location: Option<String>,
    body_bytes: u64,
    content_length: i64,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ssl: bool,
}

/// Runs one `http` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let started = Instant::now();
    let deadline = started + request.timeout;
    let module = &request.module.http;
    let mut out = ProbeOutcome::default();
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "Beginning probe probe=http timeout_seconds={}",
        request.timeout.as_secs_f64()
    ));
    let mut reg = Registry::new();
    let mut phases = Phases::default();
    let url = with_scheme(request.target);
    let target = match parse_target(&url) {
        Ok(t) if matches!(t.scheme, Scheme::Http | Scheme::Https) => t,
        Ok(_) | Err(_) => {
            let why = match parse_target(&url) {
                Err(e) => e.to_string(),
                Ok(t) => format!("unsupported scheme {}", t.scheme.name()),
            };
            lines.push(format!("Could not parse target URL err={why:?}"));
            zero_series(&mut reg, &phases);
            lines.push("Probe failed".into());
            out.log = lines;
            out.metrics = reg;
            return out;
        }
    };
    let ca = match read_ca_file(&module.tls_config.ca_file) {
        Ok(ca) => ca,
        Err(e) => {
            lines.push(format!("Error creating TLS configuration err={e:?}"));
            zero_series(&mut reg, &phases);
            lines.push("Probe failed".into());
            out.log = lines;
            out.metrics = reg;
            return out;
        }
    };
    let family = resolve_target(request, &target, &mut phases, &mut reg, &mut lines);
    let hostname = request.hostname.map(str::to_string);
    let mut current = target;
    let mut redirects = 0u32;
    let mut hop;
    let mut jar = Jar::default();
    let mut referer: Option<&Target> = None;
    let mut previous;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        lines.push(format!("Making HTTP request url={}", current.input));
        let mut extra: Vec<(String, String)> = jar.header(&current).into_iter().collect();
        if let Some(from) =
            referer.filter(|f| f.scheme == Scheme::Http || current.scheme == Scheme::Https)
        {
            extra.push(("Referer".into(), from.input.clone()));
        }
        hop = run_hop(
            &current,
            module,
            hostname.as_deref(),
            family,
            ca.clone(),
            left,
            &extra,
        );
        add_phases(&mut phases, &hop);
        if let Some(r) = &hop.response {
            jar.store(&current, &r.headers);
        }
        let next = match &hop.response {
            Some(r) if module.follows() && (300..400).contains(&r.status) => {
                r.location.as_deref().and_then(|l| current.redirect(l))
            }
            _ => None,
        };
        let Some(next) = next else { break };
        redirects += 1;
        lines.push(format!("Received redirect location={}", next.input));
        if redirects > MAX_REDIRECTS {
            break;
        }
        previous = std::mem::replace(&mut current, next);
        referer = Some(&previous);
    }
    let (success, failure, regex_failed) = judge(module, &hop, redirects);
    series(
        &mut reg,
        &phases,
        &hop,
        redirects,
        regex_failed,
        module.body_size_limit,
    );
    if let Some(tls) = &hop.tls {
        if tls.verified || module.tls_config.insecure_skip_verify || request.cert_series_on_failure
        {
            tls_series(&mut reg, tls);
        }
    }
    verdict_series_with(&hop.report, failure, &mut reg);
    super::common::nameserver_series(&mut reg, &hop.dns);
    if let Some((layer, cause)) = failure {
        lines.push(format!(
            "Probe failed layer={} cause={} summary={:?}",
            layer.name(),
            cause.code(),
            hop.report.verdict.summary
        ));
    } else {
        lines.push("Probe succeeded".into());
    }
    out.log = lines;
    out.success = success;
    out.metrics = reg;
    out.report = Some(hop.report);
    out
}

/// Resolves the target as blackbox does and registers the address series; the family the walk
/// is restricted to. With `proxy_url` and `skip_resolve_phase_with_proxy` nothing is resolved
/// (the proxy does it): no address series and no `resolve` phase, as blackbox 0.23.
fn resolve_target(
    request: &ProbeRequest<'_>,
    target: &Target,
    phases: &mut Phases,
    reg: &mut Registry,
    lines: &mut Vec<String>,
) -> Option<Family> {
    let module = &request.module.http;
    if module.skip_resolve_phase_with_proxy && !module.proxy_url.is_empty() {
        phases.skip_resolve = true;
        return None;
    }
    let host = target.host_text();
    lines.push(format!("Resolving target address target={host}"));
    let (lookup, answer) = resolve(&host, request.timeout);
    phases.resolve = lookup.as_secs_f64();
    let chosen = match &answer {
        Ok(addrs) => choose(
            addrs,
            prefers_v4(&module.preferred_ip_protocol),
            module.ip_protocol_fallback,
        ),
        Err(_) => None,
    };
    match (&answer, chosen) {
        (_, Some(ip)) => lines.push(format!("Resolved target address target={host} ip={ip}")),
        (Err(e), None) => lines.push(format!("Error resolving address err={e:?}")),
        (Ok(_), None) => lines.push(format!(
            "Resolution with IP protocol failed target={host} protocol={}",
            module.preferred_ip_protocol
        )),
    }
    address_series(reg, lookup, chosen);
    match (chosen, module.ip_protocol_fallback) {
        (Some(ip), _) if ip.is_ipv4() => Some(Family::V4),
        (Some(_), _) => Some(Family::V6),
        // No address of the preferred family and no fallback: the walk looks for that family
        // only, and says why there is none.
        (None, false) if answer.is_ok() => Some(if prefers_v4(&module.preferred_ip_protocol) {
            Family::V4
        } else {
            Family::V6
        }),
        (None, _) => None,
    }
}

/// blackbox: a target without a scheme is `http://`.
fn with_scheme(target: &str) -> String {
    if target.contains("://") {
        target.to_string()
    } else {
        format!("http://{target}")
    }
}

/// The request's extra headers: the module's, the `hostname` parameter as Host, auth.
fn request_headers(module: &HttpProbe, hostname: Option<&str>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = module
        .headers
        .iter()
        .filter(|(k, _)| !(hostname.is_some() && k.eq_ignore_ascii_case("host")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(h) = hostname {
        headers.push(("Host".into(), h.into()));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        headers.push((
            "User-Agent".into(),
            format!("netdiag/{}", env!("CARGO_PKG_VERSION")),
        ));
    }
    if let Some(auth) = &module.basic_auth {
        headers.push((
            "Authorization".into(),
            format!(
                "Basic {}",
                netdiag_probe::http::basic_credentials(&auth.username, &auth.password)
            ),
        ));
    } else if !module.bearer_token.is_empty() {
        headers.push((
            "Authorization".into(),
            format!("Bearer {}", module.bearer_token),
        ));
    }
    headers
}

/// One walk of one URL.
fn run_hop(
    target: &Target,
    module: &HttpProbe,
    hostname: Option<&str>,
    family: Option<Family>,
    ca: Option<String>,
    left: Duration,
    extra: &[(String, String)],
) -> Hop {
    let mut prober = system_prober(left, left, ca);
    let limit = match module.body_size_limit {
        0 => BODY_KEEP,
        n => usize::try_from(n).unwrap_or(BODY_KEEP).min(BODY_KEEP),
    };
    let body = if module.body_file.is_empty() {
        module.body.clone().into_bytes()
    } else {
        std::fs::read(&module.body_file).unwrap_or_default()
    };
    prober.http_extras = Some(netdiag_probe::http::Extras {
        method: module.method.to_ascii_uppercase(),
        headers: request_headers(module, hostname)
            .into_iter()
            .chain(extra.iter().cloned())
            .collect(),
        body,
        keep_body: limit.saturating_add(1),
    });
    let host_header = hostname.map(str::to_string).or_else(|| {
        module
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
    });
    let sni = if module.tls_config.server_name.is_empty() {
        host_header.map(|h| h.split(':').next().unwrap_or_default().to_string())
    } else {
        Some(module.tls_config.server_name.clone())
    };
    let proxy = if module.proxy_url.is_empty() {
        None
    } else {
        let env = [("no_proxy".to_string(), module.no_proxy.clone())];
        netdiag_core::proxyenv::select(
            target.scheme.name(),
            &target.host_text(),
            target.port.unwrap_or(0),
            &env,
            Some(&module.proxy_url),
            false,
        )
        .ok()
        .flatten()
    };
    prober.proxy_credentials = proxy
        .as_ref()
        .and_then(|p| p.credentials.as_ref())
        .map(|c| (c.user.clone(), c.password.clone()));
    let options = WalkOptions {
        family,
        proxy: proxy.map(|p| p.setting),
        sni: sni.filter(|s| !s.is_empty()),
        // blackbox has no "slow" verdict: only the probe's deadline ends the wait.
        slow: Some(left),
        ..WalkOptions::default()
    };
    let mut recorder = Recorder::new(&mut prober, module.tls_config.insecure_skip_verify);
    let report = netdiag_engine::live::run_with(target, options, &mut recorder);
    let (http, tls) = (recorder.http.clone(), recorder.tls.clone());
    let dns_exchanges = std::mem::take(&mut recorder.dns);
    let capture = prober.last_http_capture.take().unwrap_or_default();
    let mut tls = tls
        .last()
        .and_then(|t| tls_facts(t, &prober.last_tls_chain_der));
    // With a ca_file, blackbox's last chain expiry is the best chain that verifies against it,
    // not the served chain's earliest NotAfter (the same rule as the tcp prober's).
    if let (Some(f), Some(roots)) = (tls.as_mut(), prober.extra_roots_pem.as_deref()) {
        f.last_chain = verified_chain_expiry(&prober.last_tls_chain_der, roots);
    }
    let response = http.last().and_then(|obs| match &obs.outcome {
        HttpOutcome::Response {
            version,
            status,
            location,
            body_bytes,
            ..
        } => Some(Response {
            status: *status,
            version: version.clone(),
            location: location.clone(),
            body_bytes: *body_bytes,
            content_length: content_length(&capture),
            body: body_of(&capture),
            headers: capture.headers.clone(),
            ssl: target.scheme == Scheme::Https,
        }),
        HttpOutcome::ClientCertDemanded { status, .. } => Some(Response {
            status: *status,
            ssl: true,
            ..Response::default()
        }),
        _ => None,
    });
    Hop {
        report,
        response,
        tls,
        timings: http.last().map(|h| h.timings.clone()),
        dns: dns_exchanges,
    }
}

/// One cookie of the probe's jar (Go's `cookiejar` as blackbox's client uses it, host-only).
#[derive(Debug, Clone)]
struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
    secure: bool,
}

/// The cookies a probe collected over its hops: a `Set-Cookie` on a redirect is sent on the
/// next hop to the same host and path, as blackbox's client does (TestCookieJar). Domain
/// cookies are kept host-only (the probe follows one site; a documented simplification).
#[derive(Debug, Default)]
struct Jar(Vec<Cookie>);

impl Jar {
    /// Stores the response's `Set-Cookie` values (a `Max-Age<=0` or past expiry removes).
    fn store(&mut self, from: &Target, headers: &[(String, String)]) {
        let host = from.host_text().to_ascii_lowercase();
        let request_path = from.path.clone().unwrap_or_else(|| "/".into());
        let request_path = request_path.split('?').next().unwrap_or("/").to_string();
        for (_, raw) in headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        {
            let mut parts = raw.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let (mut path, mut secure, mut remove) = (None, false, false);
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "path" if v.trim().starts_with('/') => path = Some(v.trim().to_string()),
                    "secure" => secure = true,
                    "max-age" => remove = v.trim().parse::<i64>().is_ok_and(|n| n <= 0),
                    _ => {}
                }
            }
            let path = path.unwrap_or_else(|| default_path(&request_path));
            self.0
                .retain(|c| !(c.host == host && c.path == path && c.name == name));
            if !remove {
                self.0.push(Cookie {
                    host: host.clone(),
                    path,
                    name: name.to_string(),
                    value: value.trim().to_string(),
                    secure,
                });
            }
        }
    }

    /// The `Cookie` header for a request to `to`, longest path first (RFC 6265 §5.4).
    fn header(&self, to: &Target) -> Option<(String, String)> {
        let host = to.host_text().to_ascii_lowercase();
        let path = to.path.clone().unwrap_or_else(|| "/".into());
        let path = path.split('?').next().unwrap_or("/");
        let mut fit: Vec<&Cookie> = self
            .0
            .iter()
            .filter(|c| c.host == host && path_matches(path, &c.path))
            .filter(|c| !c.secure || to.scheme == Scheme::Https)
            .collect();
        if fit.is_empty() {
            return None;
        }
        fit.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let text: Vec<String> = fit
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(("Cookie".into(), text.join("; ")))
    }
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// Go's `resp.ContentLength`: the header's value, −1 when unknown (chunked, or read to close).
fn content_length(capture: &netdiag_probe::http::Capture) -> i64 {
    match (capture.chunked, capture.content_length) {
        (false, Some(n)) => i64::try_from(n).unwrap_or(i64::MAX),
        _ => -1,
    }
}

/// The body content: the kept bytes, de-chunked when the response was chunked.
fn body_of(capture: &netdiag_probe::http::Capture) -> Vec<u8> {
    if !capture.chunked {
        return capture.body.clone();
    }
    let mut out = Vec::new();
    let mut rest = capture.body.as_slice();
    // Each round consumes one chunk; bounded by the kept bytes.
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..end]);
        let size = line.split(';').next().unwrap_or_default().trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        rest = &rest[end + 2..];
        if n == 0 {
            break;
        }
        let take = n.min(rest.len());
        out.extend_from_slice(&rest[..take]);
        rest = rest.get(take + 2..).unwrap_or_default();
        if take < n {
            break;
        }
    }
    out
}

/// Adds one hop's phase times (blackbox sums them over redirects).
fn add_phases(phases: &mut Phases, hop: &Hop) {
    let rows = |layer: Layer| -> f64 {
        hop.report
            .layers
            .iter()
            .filter(|r| r.layer == layer)
            .map(|r| r.duration_ms as f64 / 1000.0)
            .sum()
    };
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    match &hop.timings {
        Some(t) => {
            let connect = secs(t.connect);
            let tls = secs(t.tls).max(connect);
            let first = secs(t.first_byte).max(tls);
            let total = secs(t.total).max(first);
            phases.connect += connect;
            phases.tls += tls - connect;
            phases.processing += first - tls;
            phases.transfer += total - first;
        }
        None => {
            phases.connect += rows(Layer::Tcp);
            phases.tls += rows(Layer::Tls);
        }
    }
}

/// probe_success, the failure (layer, cause), and whether a regex failed.
fn judge(module: &HttpProbe, hop: &Hop, redirects: u32) -> (bool, Option<(Layer, Cause)>, bool) {
    let walk_failure = hop
        .report
        .verdict
        .layer
        .map(|l| (l, hop.report.verdict.cause));
    let Some(r) = &hop.response else {
        let failure = walk_failure.or(Some((Layer::Http, Cause::HttpNotHttp)));
        return (false, failure, false);
    };
    let http = |cause: Cause| (false, Some((Layer::Http, cause)), false);
    if redirects > MAX_REDIRECTS {
        return http(Cause::HttpRedirectLoop);
    }
    // A walk failure before the http layer stands (it cannot be, with a response; kept safe).
    if let Some((layer, _)) = walk_failure {
        if layer != Layer::Http {
            return (false, walk_failure, false);
        }
    }
    let status_ok = if module.valid_status_codes.is_empty() {
        (200..300).contains(&r.status)
    } else {
        module.valid_status_codes.contains(&r.status)
    };
    if !status_ok {
        let cause = match r.status {
            400..=499 => Cause::Http4xx,
            500..=599 => Cause::Http5xx,
            _ => Cause::HttpStatusUnexpected,
        };
        return http(cause);
    }
    if !module.valid_http_versions.is_empty()
        && !module
            .valid_http_versions
            .iter()
            .any(|v| same_version(v, &r.version))
    {
        return http(Cause::HttpVersionMismatch);
    }
    if module.body_size_limit > 0 && r.body_bytes > module.body_size_limit {
        return http(Cause::HttpBodyTooLarge);
    }
    if regex_fails(module, r) {
        return (false, Some((Layer::Http, Cause::HttpBodyMismatch)), true);
    }
    if module.fail_if_ssl && r.ssl {
        return http(Cause::HttpTlsUnexpected);
    }
    if module.fail_if_not_ssl && !r.ssl {
        return http(Cause::HttpNotTls);
    }
    (true, None, false)
}

/// `HTTP/1.1` equals `HTTP/1.1`; blackbox's `HTTP/2.0` is what a server answering h2 is.
fn same_version(want: &str, got: &str) -> bool {
    want.eq_ignore_ascii_case(got)
        || (want.eq_ignore_ascii_case("HTTP/2.0") && got.eq_ignore_ascii_case("HTTP/2"))
}

/// blackbox's body and header matchers.
fn regex_fails(module: &HttpProbe, r: &Response) -> bool {
    let body = String::from_utf8_lossy(&r.body);
    let compiled = |re: &str| regex::Regex::new(re).ok();
    for re in &module.fail_if_body_matches_regexp {
        if compiled(re).is_some_and(|re| re.is_match(&body)) {
            return true;
        }
    }
    for re in &module.fail_if_body_not_matches_regexp {
        if !compiled(re).is_some_and(|re| re.is_match(&body)) {
            return true;
        }
    }
    let values = |name: &str| -> Vec<&str> {
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for m in &module.fail_if_header_matches {
        let vs = values(&m.header);
        if vs.is_empty() {
            if m.allow_missing {
                continue;
            }
            return true;
        }
        if let Some(re) = compiled(&m.regexp) {
            if vs.iter().any(|v| re.is_match(v)) {
                return true;
            }
        }
    }
    for m in &module.fail_if_header_not_matches {
        let vs = values(&m.header);
        if vs.is_empty() {
            if m.allow_missing {
                continue;
            }
            return true;
        }
        if !compiled(&m.regexp).is_some_and(|re| vs.iter().any(|v| re.is_match(v))) {
            return true;
        }
    }
    false
}

const DURATION_HELP: &str = "Duration of http request by phase, summed over all redirects";

fn phase_series(reg: &mut Registry, phases: &Phases) {
    for (phase, v) in [
        ("resolve", phases.resolve),
        ("connect", phases.connect),
        ("tls", phases.tls),
        ("processing", phases.processing),
        ("transfer", phases.transfer),
    ] {
        if phase == "resolve" && phases.skip_resolve {
            continue;
        }
        reg.gauge_with(
            "probe_http_duration_seconds",
            DURATION_HELP,
            &[("phase", phase)],
            v,
        );
    }
}

/// The always-present series at their failure values.
fn zero_series(reg: &mut Registry, phases: &Phases) {
    phase_series(reg, phases);
    for (name, help) in BASIC {
        reg.gauge(name, help, 0.0);
    }
}

const BASIC: [(&str, &str); 7] = [
    ("probe_http_status_code", "Response HTTP status code"),
    (
        "probe_http_content_length",
        "Length of http content response",
    ),
    (
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
    ),
    ("probe_http_redirects", "The number of redirects"),
    (
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
    ),
    (
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
    ),
    (
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
    ),
];

fn series(
    reg: &mut Registry,
    phases: &Phases,
    hop: &Hop,
    redirects: u32,
    regex_failed: bool,
    body_size_limit: u64,
) {
    zero_series(reg, phases);
    reg.gauge(BASIC[3].0, BASIC[3].1, f64::from(redirects));
    reg.gauge(BASIC[6].0, BASIC[6].1, if regex_failed { 1.0 } else { 0.0 });
    let Some(r) = &hop.response else {
        return;
    };
    reg.gauge(BASIC[0].0, BASIC[0].1, f64::from(r.status));
    reg.gauge(BASIC[1].0, BASIC[1].1, r.content_length as f64);
    // blackbox reads the body through a MaxBytesReader: it counts at most the limit.
    let counted = match body_size_limit {
        0 => r.body_bytes,
        limit => r.body_bytes.min(limit),
    };
    reg.gauge(BASIC[2].0, BASIC[2].1, counted as f64);
    reg.gauge(BASIC[4].0, BASIC[4].1, if r.ssl { 1.0 } else { 0.0 });
    let version = r
        .version
        .strip_prefix("HTTP/")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    reg.gauge(BASIC[5].0, BASIC[5].1, version);
    if let Some(t) = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("last-modified"))
        .and_then(|(_, v)| http_date(v))
    {
        reg.gauge(
            "probe_http_last_modified_timestamp_seconds",
            "Returns the Last-Modified HTTP response header in unixtime",
            t as f64,
        );
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub fn http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? as i64 + 1;
    let d: i64 = day.parse().ok()?;
    let y: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&d) || *h > 23 || *mi > 59 || *s > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_defaults_to_http() {
        assert_eq!(with_scheme("example.com:80"), "http://example.com:80");
        assert_eq!(with_scheme("HtTpS://x/"), "HtTpS://x/");
        assert!(parse_target(&with_scheme("invalid://x")).is_err());
    }

    #[test]
    fn dates_and_chunks() {
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("yesterday"), None);
        let capture = netdiag_probe::http::Capture {
            body: b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".to_vec(),
            chunked: true,
            ..Default::default()
        };
        assert_eq!(body_of(&capture), b"abcde");
        assert_eq!(content_length(&capture), -1);
    }

    #[test]
    fn cookie_jar_matches_host_path_and_secure() {
        let t = |u: &str| parse_target(u).unwrap();
        let mut jar = Jar::default();
        let set = |v: &str| vec![("Set-Cookie".to_string(), v.to_string())];
        jar.store(&t("http://a.example/dir/page"), &set("d=1"));
        jar.store(&t("http://a.example/x"), &set("r=2; Path=/; HttpOnly"));
        jar.store(&t("http://a.example/x"), &set("s=3; Secure; Path=/"));
        let header = |jar: &Jar, u: &str| jar.header(&t(u)).map(|(_, v)| v);
        assert_eq!(
            header(&jar, "http://a.example/dir/next").as_deref(),
            Some("d=1; r=2")
        );
        assert_eq!(
            header(&jar, "http://a.example/other").as_deref(),
            Some("r=2")
        );
        assert_eq!(
            header(&jar, "https://a.example/").as_deref(),
            Some("r=2; s=3")
        );
        assert_eq!(header(&jar, "http://b.example/dir/next"), None);
        jar.store(&t("http://a.example/x"), &set("r=; Path=/; Max-Age=0"));
        assert_eq!(header(&jar, "http://a.example/other"), None);
        assert!(path_matches("/dir/x", "/dir") && !path_matches("/dirx", "/dir"));
        assert_eq!(default_path("/a/b/c"), "/a/b");
        assert_eq!(default_path("/a"), "/");
    }

    fn response(status: u16, body: &str) -> Hop {
        Hop {
            report: super::super::common::healthy_report(),
            response: Some(Response {
                status,
                version: "HTTP/1.1".into(),
                body: body.as_bytes().to_vec(),
                body_bytes: body.len() as u64,
                headers: vec![("Set-Cookie".into(), "a=1".into())],
                ..Response::default()
            }),
            tls: None,
            timings: None,
            dns: Vec::new(),
        }
    }

    #[test]
    fn expectations_decide() {
        let m = HttpProbe::default();
        assert!(judge(&m, &response(200, ""), 0).0);
        assert_eq!(
            judge(&m, &response(404, ""), 0).1,
            Some((Layer::Http, Cause::Http4xx))
        );
        let listed = HttpProbe {
            valid_status_codes: vec![404],
            ..HttpProbe::default()
        };
        assert!(judge(&listed, &response(404, ""), 0).0);
        assert!(!judge(&listed, &response(200, ""), 0).0);
        let v2 = HttpProbe {
            valid_http_versions: vec!["HTTP/2.0".into()],
            ..HttpProbe::default()
        };
        assert_eq!(
            judge(&v2, &response(200, ""), 0).1,
            Some((Layer::Http, Cause::HttpVersionMismatch))
        );
        let re = HttpProbe {
            fail_if_body_not_matches_regexp: vec!["ok".into()],
            ..HttpProbe::default()
        };
        assert!(judge(&re, &response(200, "all ok"), 0).0);
        assert!(judge(&re, &response(200, "bad"), 0).2);
        let hdr = HttpProbe {
            fail_if_header_matches: vec![crate::config::http::HeaderMatch {
                header: "set-cookie".into(),
                regexp: "a=.*".into(),
                allow_missing: false,
            }],
            ..HttpProbe::default()
        };
        assert!(!judge(&hdr, &response(200, ""), 0).0);
        assert_eq!(
            judge(&m, &response(302, ""), 11).1,
            Some((Layer::Http, Cause::HttpRedirectLoop))
        );
        let tls = HttpProbe {
            fail_if_not_ssl: true,
            ..HttpProbe::default()
        };
        assert_eq!(
            judge(&tls, &response(200, ""), 0).1,
            Some((Layer::Http, Cause::HttpNotTls))
        );
    }
}
