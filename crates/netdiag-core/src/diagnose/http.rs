//! The http layer: does the server answer with a healthy status in reasonable time?
//!
//! By the time this layer runs, DNS, routing, TCP and TLS are known good, so a 503 or a slow
//! first byte is the application's problem, and the report says so with curl-style phase
//! timings (connect, TLS, first byte, total) as the evidence.

use super::{human, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{HttpObservation, HttpOutcome};
use crate::report::{Row, RowVerdict, Warning};
use std::time::Duration;

/// Default slow threshold for the first byte (`--slow`).
pub const DEFAULT_SLOW: Duration = Duration::from_secs(2);

/// Classifies one HTTP exchange.
pub fn classify(obs: &HttpObservation, slow: Duration, host: &str) -> LayerFindings {
    let mut f = LayerFindings::default();
    let t = &obs.timings;
    let fmt = |d: Option<Duration>| d.map(human).unwrap_or_else(|| "-".into());
    let timing = format!(
        "connect {} | tls {} | first byte {} | total {}",
        fmt(t.connect),
        fmt(t.tls),
        fmt(t.first_byte),
        fmt(t.total)
    );
    let test = format!("GET {}", obs.url);
    let ctx = FixContext {
        host: host.to_string(),
        port: Some(obs.address.port()),
        address: Some(obs.address.ip()),
        url: Some(obs.url.clone()),
        ..FixContext::default()
    };
    let total_ms = super::ms(t.total.or(t.first_byte).unwrap_or_default());
    let push = |f: &mut LayerFindings,
                result: String,
                ev: Vec<String>,
                cause: Option<(Cause, String, String, FixContext)>| {
        let verdict = if cause.is_some() {
            RowVerdict::Fail
        } else {
            RowVerdict::Pass
        };
        let code = cause.as_ref().map(|c| c.0).unwrap_or(Cause::Ok);
        f.rows.push(
            Row::new(Layer::Http, test.clone(), result, verdict, code)
                .with_evidence(ev)
                .with_duration_ms(total_ms),
        );
        if let Some((cause, summary, root, context)) = cause {
            f.failure = Some(Failure {
                cause,
                summary,
                root_cause: root,
                context,
            });
        }
    };
    match &obs.outcome {
        HttpOutcome::Response { version, status, reason, location, server, body_bytes } => {
            let mut ev = vec![format!("{version} {status} {reason}, {body_bytes} body bytes"), timing.clone()];
            if let Some(s) = server {
                ev.push(format!("Server: {s}"));
            }
            if let Some(l) = location {
                ev.push(format!("Location: {l}"));
            }
            let result = format!("{status} {reason} in {}", fmt(t.first_byte));
            let c = FixContext { http_status: Some(*status), ..ctx.clone() };
            let cause = match status {
                500..=599 => Some((Cause::Http5xx, format!("{} answers {status} {reason}: the service is failing, the network is fine.", obs.url), format!("Every layer below HTTP passed; the server answered {status} {reason} ({timing})."), c)),
                400..=499 => Some((Cause::Http4xx, format!("{} answers {status} {reason}.", obs.url), format!("The server refused the request with {status} {reason} ({timing})."), c)),
                _ if t.first_byte.is_some_and(|fb| fb > slow) => Some((
                    Cause::HttpSlow,
                    format!("{} answers {status}, but the first byte takes {} (threshold {}).", obs.url, fmt(t.first_byte), human(slow)),
                    format!("Connect and TLS were quick ({timing}); the server itself is slow to answer."),
                    c,
                )),
                _ => None,
            };
            if (300..400).contains(status) && cause.is_none() {
                f.warnings.push(Warning { cause: Cause::HttpRedirect, message: format!("{} redirects ({status}) to {}; not followed (use -L)", obs.url, location.clone().unwrap_or_default()) });
            }
            push(&mut f, result, ev, cause);
        }
        HttpOutcome::ClientCertDemanded { status, reason, notice } => push(
            &mut f,
            format!("{status} {reason}: {notice}"),
            vec![format!("the server finished the TLS handshake, then answered {status} {reason} saying \"{notice}\""), timing.clone()],
            Some((Cause::TlsClientCertRequired, format!("{} requires a client certificate (mutual TLS): it answers {status} \"{notice}\" without one.", obs.url), format!("The TLS handshake completed without a client certificate and the server then refused the request with {status} {reason} (\"{notice}\"): it verifies client certificates (e.g. nginx ssl_verify_client on), so this is mutual TLS, not an HTTP fault ({timing})."), FixContext { http_status: Some(*status), ..ctx })),
        ),
        HttpOutcome::Reset { after_bytes } => push(
            &mut f,
            format!("connection reset after {after_bytes} bytes"),
            vec![timing.clone()],
            Some((Cause::ConnectionReset, format!("{} accepts the connection and resets it.", obs.address), format!("The server reset the connection after {after_bytes} response bytes ({timing})."), ctx)),
        ),
        HttpOutcome::Closed => push(
            &mut f,
            "closed without a response".into(),
            vec![timing.clone()],
            Some((Cause::ConnectionReset, format!("{} closes the connection without answering.", obs.address), format!("The server closed the connection without sending a response ('empty reply from server'; {timing})."), ctx)),
        ),
        HttpOutcome::TimedOut { got_first_byte: false } if obs.first_byte_limit.is_some() => {
            let waited = obs.first_byte_limit.map(human).unwrap_or_default();
            let mut ev = vec![
                format!("waited {waited} for the first byte (twice the slow threshold {}): the response had not begun", human(slow)),
                timing.clone(),
            ];
            ev.extend(obs.request_stalled.clone());
            push(
                &mut f,
                format!("no first byte after {waited}: the response had not begun"),
                ev,
                Some((Cause::HttpSlow, format!("{} accepts the request, but no response byte arrived within {waited} (threshold {}).", obs.url, human(slow)), format!("Connect and TLS were quick; netdiag stopped waiting at {waited}, twice the slow threshold, and the response had not begun ({timing}). The server itself is slow to answer (or never answers)."), ctx)),
            );
        }
        HttpOutcome::TimedOut { got_first_byte } => push(
            &mut f,
            if *got_first_byte { "response incomplete at the deadline".into() } else { "no response before the deadline".into() },
            std::iter::once(timing.clone()).chain(obs.request_stalled.clone()).collect(),
            Some((Cause::HttpTimeout, format!("{} accepts the request but does not answer in time.", obs.url), format!("TCP and TLS completed; {} ({timing}).", if *got_first_byte { "the response stalled midway" } else { "no response byte arrived" }), ctx)),
        ),
        HttpOutcome::Garbled { first_bytes } => push(
            &mut f,
            format!("not HTTP: {first_bytes}"),
            vec![timing.clone()],
            Some((Cause::HttpNotHttp, format!("{} does not answer in HTTP.", obs.address), format!("The reply starts with '{first_bytes}', which is not an HTTP status line."), ctx)),
        ),
        HttpOutcome::Error { detail } => push(
            &mut f,
            format!("error: {detail}"),
            vec![timing.clone()],
            Some((Cause::ConnectionReset, format!("The HTTP exchange with {} fails: {detail}.", obs.address), format!("{detail} ({timing})."), ctx)),
        ),
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::HttpTimings;

    fn obs(outcome: HttpOutcome, first_byte_ms: u64) -> HttpObservation {
        HttpObservation {
            url: "https://api.test/".into(),
            address: "192.0.2.1:443".parse().unwrap(),
            outcome,
            timings: HttpTimings {
                first_byte: Some(Duration::from_millis(first_byte_ms)),
                ..HttpTimings::default()
            },
            first_byte_limit: None,
            request_stalled: None,
        }
    }

    fn resp(status: u16) -> HttpOutcome {
        HttpOutcome::Response {
            version: "HTTP/1.1".into(),
            status,
            reason: "x".into(),
            location: None,
            server: None,
            body_bytes: 0,
        }
    }

    fn cause(o: &HttpObservation) -> Option<Cause> {
        classify(o, DEFAULT_SLOW, "api.test")
            .failure
            .map(|f| f.cause)
    }

    #[test]
    fn statuses_and_timing() {
        assert_eq!(cause(&obs(resp(200), 5)), None);
        assert_eq!(cause(&obs(resp(503), 5)), Some(Cause::Http5xx));
        assert_eq!(cause(&obs(resp(404), 5)), Some(Cause::Http4xx));
        let demanded = HttpOutcome::ClientCertDemanded {
            status: 400,
            reason: "Bad Request".into(),
            notice: "No required SSL certificate was sent".into(),
        };
        assert_eq!(cause(&obs(demanded, 5)), Some(Cause::TlsClientCertRequired));
        assert_eq!(cause(&obs(resp(200), 2500)), Some(Cause::HttpSlow));
        assert_eq!(
            cause(&obs(HttpOutcome::Reset { after_bytes: 0 }, 5)),
            Some(Cause::ConnectionReset)
        );
        assert_eq!(
            cause(&obs(
                HttpOutcome::TimedOut {
                    got_first_byte: false
                },
                5
            )),
            Some(Cause::HttpTimeout)
        );
        let mut gave_up = obs(
            HttpOutcome::TimedOut {
                got_first_byte: false,
            },
            0,
        );
        gave_up.timings.first_byte = None;
        gave_up.first_byte_limit = Some(Duration::from_secs(4));
        let slow = classify(&gave_up, DEFAULT_SLOW, "api.test");
        assert_eq!(
            slow.failure.as_ref().map(|f| f.cause),
            Some(Cause::HttpSlow)
        );
        assert!(
            slow.rows[0].result.contains("after 4"),
            "{:?}",
            slow.rows[0]
        );
        assert!(
            slow.rows[0]
                .evidence
                .iter()
                .any(|e| e.contains("had not begun")),
            "{:?}",
            slow.rows[0]
        );
        // A response that began and then stalled is still a timeout.
        gave_up.outcome = HttpOutcome::TimedOut {
            got_first_byte: true,
        };
        assert_eq!(cause(&gave_up), Some(Cause::HttpTimeout));
        let redirect = classify(&obs(resp(301), 5), DEFAULT_SLOW, "api.test");
        assert!(redirect.failure.is_none());
        assert_eq!(redirect.warnings[0].cause, Cause::HttpRedirect);
    }
}
