//! The proxy layer: when a proxy applies to the target, is it reachable and does CONNECT work?
//!
//! "The proxy is the problem, not the service" is the sentence people need, so when the proxy
//! fails the walk also tries the direct path and this module says which of the two works.

use super::{human, tcp, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{ConnectOutcome, HostFacts, ProxyConnectOutcome, ProxyObservation};
use crate::report::{Row, RowVerdict};

/// Classifies the proxy walk. `target` is `host:port`.
pub fn classify(obs: &ProxyObservation, target: &str, host: &str) -> LayerFindings {
    let mut f = LayerFindings::default();
    let s = &obs.setting;
    let proxy = format!("{}:{}", s.host, s.port);
    let w = Walk {
        obs,
        target,
        ctx: FixContext {
            host: host.to_string(),
            proxy: Some(proxy.clone()),
            proxy_source: Some(s.source.clone()),
            ..FixContext::default()
        },
        proxy,
        direct_text: direct_summary(obs, target),
    };
    f.rows.push(setting_row(obs));
    if !w.resolve(&mut f) || !w.connect(&mut f) {
        return f;
    }
    match &obs.tunnel {
        None => {}
        Some(ProxyConnectOutcome::Status {
            code,
            reason,
            authenticate,
            server,
            latency,
        }) => w.tunnel_status(
            &mut f,
            &TunnelStatus {
                code: *code,
                reason,
                authenticate,
                server: server.as_deref(),
                latency: *latency,
            },
        ),
        Some(other) => w.tunnel_broken(&mut f, other),
    }
    f
}

/// The row saying which proxy applies and where the setting comes from.
fn setting_row(obs: &ProxyObservation) -> Row {
    let s = &obs.setting;
    Row::new(
        Layer::Proxy,
        "proxy for this target",
        format!("{} (from {})", s.url, s.source),
        RowVerdict::Pass,
        Cause::Ok,
    )
    .with_evidence(vec![
        format!("{}={}", s.source, s.url),
        if s.has_credentials {
            "credentials configured (sent as Proxy-Authorization, not shown)".into()
        } else {
            "no proxy credentials configured".into()
        },
    ])
}

/// The proxy's answer to CONNECT.
struct TunnelStatus<'a> {
    code: u16,
    reason: &'a str,
    authenticate: &'a [String],
    server: Option<&'a str>,
    latency: std::time::Duration,
}

/// One proxy walk being classified: the observation, the target and what every failure shares.
struct Walk<'a> {
    obs: &'a ProxyObservation,
    target: &'a str,
    proxy: String,
    ctx: FixContext,
    /// What the direct path did, appended to every root cause.
    direct_text: String,
}

impl Walk<'_> {
    /// Fails the layer with `cause`, marking the last row.
    fn fail(&self, f: &mut LayerFindings, cause: Cause, summary: String, root: String) {
        if let Some(last) = f.rows.last_mut() {
            last.verdict = RowVerdict::Fail;
            last.cause = cause;
        }
        f.failure = Some(Failure {
            cause,
            summary,
            root_cause: format!("{root}{}", self.direct_text),
            context: self.ctx.clone(),
        });
    }

    /// Resolving the proxy's name. Returns whether it resolved.
    fn resolve(&self, f: &mut LayerFindings) -> bool {
        let s = &self.obs.setting;
        let proxy = &self.proxy;
        match &self.obs.resolved {
            Ok(a) => {
                f.rows.push(Row::new(
                    Layer::Proxy,
                    format!("resolve proxy {}", s.host),
                    join(a),
                    RowVerdict::Pass,
                    Cause::Ok,
                ));
                true
            }
            Err(e) => {
                f.rows.push(Row::new(
                    Layer::Proxy,
                    format!("resolve proxy {}", s.host),
                    e.clone(),
                    RowVerdict::Fail,
                    Cause::ProxyUnreachable,
                ));
                self.fail(
                    f,
                    Cause::ProxyUnreachable,
                    format!("The proxy {proxy} cannot be reached: its name does not resolve."),
                    format!("{} (from {}) does not resolve: {e}.", s.host, s.source),
                );
                false
            }
        }
    }

    /// TCP to the proxy, classified like the tcp layer. Returns whether it connected.
    fn connect(&self, f: &mut LayerFindings) -> bool {
        let obs = self.obs;
        let s = &obs.setting;
        let proxy = &self.proxy;
        let tcp_findings = tcp::classify(&obs.connect, &[], &HostFacts::default(), &s.host);
        for mut row in tcp_findings.rows {
            row.layer = Layer::Proxy;
            row.test = format!("{} (proxy)", row.test);
            f.rows.push(row);
        }
        if let Some(tf) = tcp_findings.failure {
            let refused = obs
                .connect
                .iter()
                .all(|c| matches!(c.outcome, ConnectOutcome::Refused));
            let cause = if refused {
                Cause::ProxyRefused
            } else {
                Cause::ProxyUnreachable
            };
            self.fail(
                f,
                cause,
                format!(
                    "The proxy {proxy} (from {}) {}.",
                    s.source,
                    if refused {
                        "refuses connections"
                    } else {
                        "cannot be reached"
                    }
                ),
                format!("TCP to the proxy failed: {}", tf.root_cause),
            );
            return false;
        }
        true
    }

    /// The proxy answered CONNECT with a status line.
    fn tunnel_status(&self, f: &mut LayerFindings, st: &TunnelStatus<'_>) {
        let s = &self.obs.setting;
        let (proxy, target) = (&self.proxy, self.target);
        let TunnelStatus {
            code,
            reason,
            authenticate,
            server,
            latency,
        } = *st;
        let mut ev = vec![format!(
            "CONNECT {target} HTTP/1.1 -> {code} {reason} in {}",
            human(latency)
        )];
        ev.extend(
            authenticate
                .iter()
                .map(|a| format!("Proxy-Authenticate: {a}")),
        );
        if let Some(sv) = server {
            ev.push(format!("proxy software: {sv}"));
        }
        let ok = (200..300).contains(&code);
        f.rows.push(
            Row::new(
                Layer::Proxy,
                format!("CONNECT {target} via {proxy}"),
                format!("{code} {reason}"),
                if ok {
                    RowVerdict::Pass
                } else {
                    RowVerdict::Fail
                },
                Cause::Ok,
            )
            .with_evidence(ev)
            .with_duration_ms(super::ms(latency)),
        );
        if code == 407 {
            let creds = if s.has_credentials {
                "the configured credentials were rejected"
            } else {
                "no credentials are configured"
            };
            self.fail(
                f,
                Cause::ProxyAuthRequired,
                format!("The proxy {proxy} demands authentication (407): {creds}."),
                format!(
                    "{proxy} answered CONNECT {target} with 407 {reason} ({}); {creds}.",
                    authenticate.join("; ")
                ),
            );
        } else if !ok {
            let why = match code {
                403 => "the proxy's policy forbids this destination or port",
                502..=504 => "the proxy could not reach the target itself",
                _ => "the proxy refused the tunnel",
            };
            self.fail(
                f,
                Cause::ProxyConnectFailed,
                format!("The proxy {proxy} refuses CONNECT to {target} ({code}): {why}."),
                format!("{proxy} answered CONNECT {target} with {code} {reason}: {why}."),
            );
        }
    }

    /// The proxy closed, timed out or garbled its answer to CONNECT.
    fn tunnel_broken(&self, f: &mut LayerFindings, other: &ProxyConnectOutcome) {
        let (proxy, target) = (&self.proxy, self.target);
        let text = match other {
            ProxyConnectOutcome::Closed { detail } => {
                format!("closed without an answer ({detail})")
            }
            ProxyConnectOutcome::TimedOut => "no answer to CONNECT before the deadline".to_string(),
            ProxyConnectOutcome::Garbled { first_bytes } => {
                format!("answered with something that is not HTTP: {first_bytes}")
            }
            ProxyConnectOutcome::Status { .. } => String::new(),
        };
        f.rows.push(Row::new(
            Layer::Proxy,
            format!("CONNECT {target} via {proxy}"),
            text.clone(),
            RowVerdict::Fail,
            Cause::ProxyConnectFailed,
        ));
        self.fail(
            f,
            Cause::ProxyConnectFailed,
            format!("The proxy {proxy} does not complete CONNECT to {target}."),
            format!("{proxy} {text}."),
        );
    }
}

fn direct_summary(obs: &ProxyObservation, target: &str) -> String {
    if obs.direct.is_empty() {
        return String::new();
    }
    let ok = obs.direct.iter().find(|c| {
        matches!(
            c.outcome,
            ConnectOutcome::Connected {
                reset_after_connect: false,
                ..
            }
        )
    });
    match ok {
        Some(c) => format!(" The direct path works ({} connects without the proxy): the proxy is the problem, not the service.", c.address),
        None => format!(" The direct path to {target} fails too, so the service may also be unreachable without the proxy."),
    }
}

fn join(a: &[std::net::IpAddr]) -> String {
    a.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ConnectObservation, ProxySetting};
    use std::time::Duration;

    fn obs(tunnel: Option<ProxyConnectOutcome>, connect: ConnectOutcome) -> ProxyObservation {
        ProxyObservation {
            setting: ProxySetting {
                url: "http://proxy:3128".into(),
                host: "proxy".into(),
                port: 3128,
                source: "https_proxy".into(),
                has_credentials: false,
            },
            resolved: Ok(vec!["10.0.0.3".parse().unwrap()]),
            connect: vec![ConnectObservation {
                address: "10.0.0.3:3128".parse().unwrap(),
                outcome: connect,
                elapsed: Duration::from_millis(1),
            }],
            tunnel,
            direct: vec![],
        }
    }

    fn status(code: u16) -> Option<ProxyConnectOutcome> {
        Some(ProxyConnectOutcome::Status {
            code,
            reason: "x".into(),
            authenticate: vec!["Basic realm=\"corp\"".into()],
            server: None,
            latency: Duration::from_millis(2),
        })
    }

    fn cause(o: &ProxyObservation) -> Option<Cause> {
        classify(o, "api.test:443", "api.test")
            .failure
            .map(|f| f.cause)
    }

    #[test]
    fn outcomes() {
        let up = ConnectOutcome::Connected {
            local: None,
            reset_after_connect: false,
        };
        assert_eq!(cause(&obs(status(200), up.clone())), None);
        assert_eq!(
            cause(&obs(status(407), up.clone())),
            Some(Cause::ProxyAuthRequired)
        );
        assert_eq!(
            cause(&obs(status(403), up.clone())),
            Some(Cause::ProxyConnectFailed)
        );
        assert_eq!(
            cause(&obs(status(502), up.clone())),
            Some(Cause::ProxyConnectFailed)
        );
        assert_eq!(
            cause(&obs(None, ConnectOutcome::Refused)),
            Some(Cause::ProxyRefused)
        );
        assert_eq!(
            cause(&obs(None, ConnectOutcome::TimedOut)),
            Some(Cause::ProxyUnreachable)
        );
        let mut o = obs(None, up);
        o.resolved = Err("NXDOMAIN".into());
        assert_eq!(cause(&o), Some(Cause::ProxyUnreachable));
    }

    #[test]
    fn direct_path_is_compared() {
        let mut o = obs(None, ConnectOutcome::Refused);
        o.direct = vec![ConnectObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            outcome: ConnectOutcome::Connected {
                local: None,
                reset_after_connect: false,
            },
            elapsed: Duration::from_millis(1),
        }];
        let f = classify(&o, "api.test:443", "api.test")
            .failure
            .expect("failure");
        assert!(f
            .root_cause
            .contains("the proxy is the problem, not the service"));
    }
}
