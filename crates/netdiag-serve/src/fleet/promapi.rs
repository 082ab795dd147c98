//! Reading the fleet's results back from Prometheus's HTTP API (`/api/v1/query_range` and `/api/v1/query`), for
//! `netdiag fleet report`. Prometheus is the engine that collects and stores what every member
//! probed; this is the one place that talks to it.
//!
//! Small on purpose: one `GET` per query (`query_range` or `query`) on its own connection (hyper's HTTP/1 client over a
//! TCP stream, rustls for `https://` with the system's roots), a deadline for each request, the
//! answer bounded in size, credentials from the URL's `user:password@` sent as basic auth and
//! never printed. Parsing the answer ([`parse_matrix`]) is pure and tested on recorded answers.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read (a 1,000-node fleet's 15-minute range is a few MiB).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// One series of a range query: its labels and `(unix seconds, value)` points.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The points, oldest first.
    pub points: Vec<(f64, f64)>,
}

/// A Prometheus server's address, parsed from `--prometheus`.
#[derive(Clone, PartialEq, Eq)]
pub struct PrometheusUrl {
    tls: bool,
    host: String,
    port: u16,
    /// Path prefix without a trailing `/` (`--web.route-prefix`), often empty.
    prefix: String,
    authorization: Option<String>,
}

impl std::fmt::Debug for PrometheusUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl PrometheusUrl {
    /// Parses `http[s]://[user:password@]host[:port][/prefix]`.
    pub fn parse(text: &str) -> Result<PrometheusUrl, String> {
        PrometheusUrl::parse_flag(text, "--prometheus")
    }

    /// [`PrometheusUrl::parse`] for another flag naming an HTTP server of the same shape (e.g.
    /// `netdiag mcp --prober`), whose name starts the messages.
    pub fn parse_flag(text: &str, flag: &str) -> Result<PrometheusUrl, String> {
        let bad = |why: &str| format!("{flag} {:?}: {why}", redact_userinfo(text));
        let (tls, rest) = if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(bad(
                "give an http:// or https:// URL, e.g. http://host:9090",
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("the URL may have a path prefix but no query"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("bad port")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (hostport.to_string(), default_port),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
        if !host_ok || port == 0 {
            return Err(bad("bad host or port"));
        }
        let authorization = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            format!(
                "Basic {}",
                netdiag_probe::http::basic_credentials(user, password)
            )
        });
        Ok(PrometheusUrl {
            tls,
            host,
            port,
            prefix: path.trim_end_matches('/').to_string(),
            authorization,
        })
    }

    /// The URL without credentials, for messages.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{host}:{}{}",
            if self.tls { "https" } else { "http" },
            self.port,
            self.prefix
        )
    }
}

fn redact_userinfo(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}<secret>@{}", &text[..s + 3], &text[at + 1..]),
        _ => text.to_string(),
    }
}

/// A query: over a range (`query_range`, a matrix) or at one instant (`query`, a vector).
#[derive(Debug, Clone, PartialEq)]
pub enum Query<'a> {
    /// `query_range`.
    Range {
        /// PromQL.
        query: &'a str,
        /// Unix seconds.
        start: f64,
        /// Unix seconds.
        end: f64,
        /// Seconds between points.
        step: f64,
    },
    /// `query` at `time` (unix seconds).
    Instant {
        /// PromQL.
        query: &'a str,
        /// Unix seconds.
        time: f64,
    },
}

impl Query<'_> {
    fn path(&self, prefix: &str) -> String {
        match self {
            Query::Range {
                query,
                start,
                end,
                step,
            } => format!(
                "{prefix}/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={}",
                percent_encode(query, b""),
                step.max(1.0).round()
            ),
            Query::Instant { query, time } => format!(
                "{prefix}/api/v1/query?query={}&time={time:.3}",
                percent_encode(query, b"")
            ),
        }
    }

    fn text(&self) -> &str {
        match self {
            Query::Range { query, .. } | Query::Instant { query, .. } => query,
        }
    }
}

/// Runs queries one after another, each within `deadline`.
pub fn run_queries(
    url: &PrometheusUrl,
    queries: &[Query<'_>],
    deadline: Duration,
) -> Result<Vec<Vec<Series>>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    runtime.block_on(async {
        let mut out = Vec::new();
        for q in queries {
            let body = get_within(url, &q.path(&url.prefix), deadline, "Prometheus").await?;
            out.push(parse_result(&body).map_err(|e| {
                format!(
                    "Prometheus at {} answered {:?}: {e}",
                    url.display(),
                    q.text()
                )
            })?);
        }
        Ok(out)
    })
}

/// `GET prefix + path_and_query` on `service` (named in messages) within `deadline`: the body of
/// a 2xx answer, else a one-line error. Blocking (its own runtime on this thread).
pub fn fetch(
    url: &PrometheusUrl,
    path_and_query: &str,
    deadline: Duration,
    service: &str,
) -> Result<Vec<u8>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let path = format!("{}{path_and_query}", url.prefix);
    runtime.block_on(get_within(url, &path, deadline, service))
}

/// [`get_from`] bounded by `deadline`, the overrun named as `service` not answering.
async fn get_within(
    url: &PrometheusUrl,
    path: &str,
    deadline: Duration,
    service: &str,
) -> Result<Vec<u8>, String> {
    tokio::time::timeout(deadline, get_from(url, path, service))
        .await
        .map_err(|_| {
            format!(
                "{service} at {} did not answer within {} s",
                url.display(),
                deadline.as_secs()
            )
        })?
}

async fn get_from(url: &PrometheusUrl, path: &str, service: &str) -> Result<Vec<u8>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!("cannot read {service} at {}: {what}: {e}", url.display())
    };
    let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| fail("connect", &e))?;
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, url.host.as_str())
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "netdiag");
    if let Some(auth) = &url.authorization {
        request = request.header(hyper::header::AUTHORIZATION, auth.as_str());
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| fail("request", &e))?;
    let response = if url.tls {
        let mut roots = rustls::RootCertStore::empty();
        for der in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(der);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("TLS", &e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| fail("TLS name", &e))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| fail("TLS handshake", &e))?;
        send(hyper_util::rt::TokioIo::new(stream), request).await
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), request).await
    }
    .map_err(|e| fail("HTTP", &e))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| fail("reading the answer", &e))?
        .to_bytes()
        .to_vec();
    if status.is_success() || status.as_u16() == 400 || status.as_u16() == 422 {
        // 400/422 carry Prometheus's own error JSON, which parse_matrix names.
        Ok(body)
    } else {
        Err(format!(
            "cannot read {service} at {}: HTTP {status}{}",
            url.display(),
            if status.as_u16() == 401 || status.as_u16() == 403 {
                " (give credentials as https://user:password@host)"
            } else {
                ""
            }
        ))
    }
}

async fn send<I>(
    io: I,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

/// Percent-encodes a query value: everything but RFC 3986's unreserved characters and `keep`.
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a query answer: a `matrix` (range) or a `vector` (instant, one point per series).
/// Prometheus's own error is returned as its message.
pub fn parse_result(body: &[u8]) -> Result<Vec<Series>, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not JSON ({e}); is this the Prometheus API?"))?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        let kind = v
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("{kind}: {msg}"));
    }
    let data = v.get("data").ok_or("the answer has no data")?;
    let result_type = data.get("resultType").and_then(Value::as_str);
    if !matches!(result_type, Some("matrix" | "vector")) {
        return Err("the answer is neither a range (matrix) nor an instant (vector) result".into());
    }
    let Some(Value::Array(result)) = data.get("result") else {
        return Err("the answer has no result list".into());
    };
    let mut out = Vec::with_capacity(result.len());
    for item in result {
        let labels = match item.get("metric") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let point = |p: &Value| {
            let ts = p.get(0)?.as_f64()?;
            let value: f64 = p.get(1)?.as_str()?.parse().ok()?;
            (ts.is_finite() && value.is_finite()).then_some((ts, value))
        };
        let points = match (item.get("values"), item.get("value")) {
            (Some(Value::Array(values)), _) => values.iter().filter_map(point).collect(),
            (None, Some(p)) => point(p).into_iter().collect(),
            _ => Vec::new(),
        };
        out.push(Series { labels, points });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_credentials() {
        let u = PrometheusUrl::parse("https://ops:hunter2@prom.example:9443/prom/").unwrap();
        assert_eq!(u.display(), "https://prom.example:9443/prom");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(
            PrometheusUrl::parse("http://[::1]:9090").unwrap().display(),
            "http://[::1]:9090"
        );
        assert_eq!(
            PrometheusUrl::parse("http://127.0.0.1").unwrap().display(),
            "http://127.0.0.1:80"
        );
        for bad in [
            "prom:9090",
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:x",
            "http://h/?q=1",
            "http://a b",
        ] {
            assert!(PrometheusUrl::parse(bad).is_err(), "{bad}");
        }
        let e = PrometheusUrl::parse("ftp://u:hunter2@h").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_matrix_answer_parses_and_errors_are_named() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"probe_success","node":"node-1","target":"db:5432"},
             "values":[[1764583200,"1"],[1764583230,"0"],[1764583260,"NaN"]]}]}}"#;
        let s = parse_result(body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels["node"], "node-1");
        assert_eq!(s[0].points, [(1764583200.0, 1.0), (1764583230.0, 0.0)]);
        let e = parse_result(
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
        )
        .unwrap_err();
        assert!(e.contains("bad_data") && e.contains("parse error"), "{e}");
        assert!(parse_result(b"<html>").unwrap_err().contains("not JSON"));
        let v = parse_result(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"node":"n"},"value":[1764583200.5,"3"]}]}}"#).unwrap();
        assert_eq!(v[0].points, [(1764583200.5, 3.0)]);
        assert!(parse_result(
            br#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#
        )
        .is_err());
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"a{b="c d"}"#, b""),
            "a%7Bb%3D%22c%20d%22%7D"
        );
        assert_eq!(percent_encode("[::1]:80/x y", b":/[]"), "[::1]:80/x%20y");
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,200}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = PrometheusUrl::parse(&text);
            let _ = PrometheusUrl::parse(&format!("http://{text}"));
            let _ = parse_result(&body);
            let _ = parse_result(format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"a":"{text}"}},"values":[[1,"{text}"]]}}]}}}}"#).as_bytes());
            let _ = crate::fleet::validate_selector(&text);
        }
    }
}
