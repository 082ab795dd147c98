//! The resolver layer: is the local resolver configuration usable?
//!
//! Reads resolv.conf, the hosts file and the `hosts:` line of nsswitch.conf as libc would, and
//! fails only on what changes lookups: nameservers libc ignores (`resolver_config_invalid`) or
//! none at all (`resolver_no_nameservers`, where libc silently falls back to 127.0.0.1).
//! For an IP-address target nothing is looked up, so problems here are only warnings.

use super::{Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::hosts::{parse_nsswitch_hosts, HostsLookupOrder};
use crate::layer::Layer;
use crate::observe::ResolverFiles;
use crate::report::{Row, RowVerdict, Warning};
use crate::resolvconf::{parse_resolv_conf, ResolvConf};

/// The resolver configuration as libc will use it, plus the layer's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSetup {
    /// resolv.conf, parsed.
    pub resolv_conf: ResolvConf,
    /// The hosts lookup order.
    pub order: HostsLookupOrder,
    /// Hosts file text (empty when unreadable).
    pub hosts_text: String,
    /// Paths, for evidence and fixes.
    pub resolv_conf_path: String,
    /// Path of the hosts file.
    pub hosts_path: String,
    /// The resolver's inputs outside the files (environment, host name, NSS modules present).
    pub env: crate::observe::ResolverEnv,
}

/// Redacts credentials in a proxy URL (`http://user:secret@proxy:3128` → `http://user:***@proxy:3128`).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// Classifies the resolver configuration. `needs_dns` is false for IP-address targets.
pub fn classify(files: &ResolverFiles, needs_dns: bool) -> (ResolverSetup, LayerFindings) {
    let mut findings = LayerFindings::default();
    let path = files.resolv_conf.path.clone();
    let (conf, read_error) = match &files.resolv_conf.content {
        Ok(text) => {
            let mut conf = parse_resolv_conf(text);
            crate::resolvconf::apply_environment(&mut conf, &files.env);
            (conf, None)
        }
        Err(e) => {
            // res_init still reads the environment and the host name without the file.
            let mut conf = ResolvConf::default();
            crate::resolvconf::apply_environment(&mut conf, &files.env);
            (conf, Some(e.clone()))
        }
    };
    let context = FixContext {
        resolv_conf: path.clone(),
        hosts_file: files.hosts.path.clone(),
        ..FixContext::default()
    };

    // resolv.conf row.
    let evidence = resolv_conf_evidence(&path, &conf, read_error.as_deref());
    let effective = conf.effective_nameservers();
    let servers_text: Vec<String> = effective
        .iter()
        .map(|n| n.address.ip().to_string())
        .collect();
    let result = if effective.is_empty() {
        "no usable nameserver (libc falls back to 127.0.0.1)".to_string()
    } else {
        format!("nameservers {}", servers_text.join(", "))
    };

    let (mut failure, row_cause) =
        resolv_conf_failure(&path, &conf, read_error.as_deref(), &context);
    push_minor_issue_warnings(&mut findings, &path, &conf);

    let mut verdict = if failure.is_some() {
        RowVerdict::Fail
    } else if conf.issues.is_empty() {
        RowVerdict::Pass
    } else {
        RowVerdict::Warn
    };
    if !needs_dns && failure.is_some() {
        // Nothing is looked up for an address target: keep the problem visible, but as a warning.
        if let Some(f) = failure.take() {
            findings.warnings.push(Warning {
                cause: f.cause,
                message: f.summary,
            });
        }
        verdict = RowVerdict::Warn;
    }
    findings.rows.push(
        Row::new(
            Layer::Resolver,
            format!("resolv.conf {path}"),
            result,
            verdict,
            row_cause,
        )
        .with_evidence(evidence),
    );

    // nsswitch row.
    let (order, ns_row) = nsswitch_row(files, needs_dns);
    findings.rows.push(ns_row);
    let hosts_text = files.hosts.content.clone().unwrap_or_default();

    // Proxy environment: the walk connects directly; show what curl and friends would do.
    if let Some(row) = proxy_env_row(files) {
        findings.rows.push(row);
    }

    findings.failure = failure;
    let setup = ResolverSetup {
        resolv_conf: conf,
        order,
        hosts_text,
        resolv_conf_path: path,
        hosts_path: files.hosts.path.clone(),
        env: files.env.clone(),
    };
    (setup, findings)
}

/// The evidence of the resolv.conf row: read error, nameservers, search list, options, issues.
fn resolv_conf_evidence(path: &str, conf: &ResolvConf, read_error: Option<&str>) -> Vec<String> {
    let mut evidence = Vec::new();
    if let Some(e) = read_error {
        evidence.push(format!("{path}: cannot read: {e}"));
    }
    for ns in &conf.nameservers {
        evidence.push(format!(
            "{path}:{}: nameserver {}",
            ns.line,
            ns.address.ip()
        ));
    }
    if !conf.search.is_empty() {
        evidence.push(format!("search list: {}", conf.search.join(" ")));
    }
    let o = &conf.options;
    evidence.push(format!(
        "options: ndots:{} timeout:{} attempts:{}{}{}{}{}",
        o.ndots,
        o.timeout_secs,
        o.attempts,
        if o.rotate { " rotate" } else { "" },
        if o.edns0 { " edns0" } else { "" },
        if o.single_request {
            " single-request"
        } else {
            ""
        },
        if o.trust_ad { " trust-ad" } else { "" },
    ));
    // LOCALDOMAIN, RES_OPTIONS, HOSTALIASES and the host name's domain, where they applied.
    evidence.extend(conf.env_notes.iter().cloned());
    for issue in &conf.issues {
        if issue.line == 0 {
            // Not from the file (RES_OPTIONS).
            evidence.push(format!("'{}': {}", issue.text, issue.problem));
            continue;
        }
        evidence.push(format!(
            "{path}:{}: '{}': {}",
            issue.line, issue.text, issue.problem
        ));
    }
    evidence
}

/// The layer's failure from resolv.conf (a line libc ignores, no nameserver, not a resolv.conf
/// at all) and the cause of the resolv.conf row.
fn resolv_conf_failure(
    path: &str,
    conf: &ResolvConf,
    read_error: Option<&str>,
    context: &FixContext,
) -> (Option<Failure>, Cause) {
    let severe: Vec<_> = conf.issues.iter().filter(|i| i.severe).collect();
    let effective = conf.effective_nameservers();
    let mut failure: Option<Failure> = None;
    let mut row_cause = Cause::Ok;
    if !severe.is_empty() && effective.is_empty() {
        let first = severe[0];
        row_cause = Cause::ResolverConfigInvalid;
        failure = Some(Failure {
            cause: Cause::ResolverConfigInvalid,
            summary: format!(
                "{path} line {} is ignored by libc: {}.",
                first.line, first.problem
            ),
            root_cause: format!(
                "{path}:{}: '{}': {}. {} of {} nameserver lines are usable{}.",
                first.line,
                first.text,
                first.problem,
                conf.nameservers.len(),
                conf.nameservers.len() + severe.len(),
                if effective.is_empty() {
                    "; with none, libc asks 127.0.0.1"
                } else {
                    ""
                }
            ),
            context: FixContext {
                line: Some(first.line),
                ..context.clone()
            },
        });
    } else if effective.is_empty() && !(conf.content_lines > 0 && conf.recognised_lines == 0) {
        row_cause = Cause::ResolverNoNameservers;
        let why = match read_error {
            Some(e) => format!("{path} cannot be read ({e})"),
            None => format!("{path} has no nameserver line"),
        };
        failure = Some(Failure {
            cause: Cause::ResolverNoNameservers,
            summary: format!("No nameserver is configured: {why}, so libc asks 127.0.0.1:53."),
            root_cause: format!("{why}. glibc then sends every query to 127.0.0.1:53, which only works if a local resolver listens there."),
            context: context.clone(),
        });
    } else if conf.content_lines > 0 && conf.recognised_lines == 0 {
        row_cause = Cause::ResolverConfigInvalid;
        failure = Some(Failure {
            cause: Cause::ResolverConfigInvalid,
            summary: format!("{path} is not a resolv.conf: libc recognises none of its lines."),
            root_cause: format!("{path} has {} lines and none is a nameserver, search, domain or options directive; libc ignores them all.", conf.content_lines),
            context: context.clone(),
        });
    }
    (failure, row_cause)
}

/// Warnings for the resolv.conf issues that do not stop libc: a nameserver line libc ignores
/// while other nameservers remain is a warning too (libc resolves with the others).
fn push_minor_issue_warnings(findings: &mut LayerFindings, path: &str, conf: &ResolvConf) {
    let usable = !conf.effective_nameservers().is_empty();
    for issue in conf.issues.iter().filter(|i| !i.severe || usable) {
        let cause = if issue.problem.contains("only the first") {
            Cause::ResolverTooManyNameservers
        } else {
            Cause::ResolverConfigInvalid
        };
        findings.warnings.push(Warning {
            cause,
            message: if issue.line == 0 {
                format!("{}: {}", issue.text, issue.problem)
            } else {
                format!("{path}:{}: {}", issue.line, issue.problem)
            },
        });
    }
}

/// The hosts lookup order from nsswitch.conf and its row.
fn nsswitch_row(files: &ResolverFiles, needs_dns: bool) -> (HostsLookupOrder, Row) {
    let (order, ns_evidence) = match &files.nsswitch.content {
        Ok(text) => {
            let order = parse_nsswitch_hosts(text);
            let ev = match order.line {
                Some(l) => format!("{}:{l}: hosts: {}", files.nsswitch.path, order.describe()),
                None => format!(
                    "{}: no hosts: line; glibc default '{}'",
                    files.nsswitch.path,
                    order.describe()
                ),
            };
            (order, ev)
        }
        Err(e) => {
            let order = HostsLookupOrder::glibc_default();
            let ev = format!(
                "{}: cannot read ({e}); glibc default '{}'",
                files.nsswitch.path,
                order.describe()
            );
            (order, ev)
        }
    };
    let mut ns_ev = vec![ns_evidence];
    if order.position("dns").is_none() && needs_dns {
        ns_ev.push("'dns' is not on the hosts: line: libc never asks a nameserver".to_string());
    }
    if order.position("resolve").is_some() {
        ns_ev.push("'resolve' (systemd-resolved) is on the hosts: line: lookups may go through resolved's own upstreams".to_string());
    }
    match &files.hosts.content {
        Ok(_) => ns_ev.push(format!("hosts file {} read", files.hosts.path)),
        Err(e) => ns_ev.push(format!(
            "hosts file {}: cannot read ({e})",
            files.hosts.path
        )),
    }
    let ns_verdict = if order.position("dns").is_none() && needs_dns {
        RowVerdict::Warn
    } else {
        RowVerdict::Pass
    };
    let row = Row::new(
        Layer::Resolver,
        "hosts lookup order (nsswitch.conf)",
        order.describe(),
        ns_verdict,
        Cause::Ok,
    )
    .with_evidence(ns_ev);
    (order, row)
}

/// The proxy environment row, when proxy variables are set.
fn proxy_env_row(files: &ResolverFiles) -> Option<Row> {
    if files.proxy_env.is_empty() {
        return None;
    }
    let ev: Vec<String> = files
        .proxy_env
        .iter()
        .map(|(k, v)| format!("{k}={}", redact_url(v)))
        .collect();
    Some(
        Row::new(
            Layer::Resolver,
            "proxy environment",
            format!("{} proxy variable(s) set", ev.len()),
            RowVerdict::Pass,
            Cause::Ok,
        )
        .with_evidence(ev),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::ConfigFile;

    fn files(resolv: &str) -> ResolverFiles {
        ResolverFiles {
            resolv_conf: ConfigFile {
                path: "/etc/resolv.conf".into(),
                content: Ok(resolv.into()),
            },
            hosts: ConfigFile {
                path: "/etc/hosts".into(),
                content: Ok("127.0.0.1 localhost\n".into()),
            },
            nsswitch: ConfigFile {
                path: "/etc/nsswitch.conf".into(),
                content: Ok("hosts: files dns\n".into()),
            },
            proxy_env: vec![("https_proxy".into(), "http://bob:hunter2@proxy:3128".into())],
            gai_conf: None,
            env: Default::default(),
        }
    }

    #[test]
    fn healthy() {
        let (setup, f) = classify(&files("nameserver 10.0.0.2\n"), true);
        assert!(f.failure.is_none());
        assert_eq!(setup.resolv_conf.nameservers.len(), 1);
        assert!(setup.order.files_before_dns());
        assert_eq!(f.rows[0].verdict, RowVerdict::Pass);
        assert!(f.rows[2].evidence[0].contains("bob:***@proxy"));
        assert!(!f.rows[2].evidence[0].contains("hunter2"));
    }

    #[test]
    fn no_nameservers() {
        let (_, f) = classify(&files("search corp.example\n"), true);
        assert_eq!(
            f.failure.map(|x| x.cause),
            Some(Cause::ResolverNoNameservers)
        );
    }

    #[test]
    fn unreadable_means_no_nameservers() {
        let mut fl = files("");
        fl.resolv_conf.content = Err("No such file or directory".into());
        let (_, f) = classify(&fl, true);
        assert_eq!(
            f.failure.map(|x| x.cause),
            Some(Cause::ResolverNoNameservers)
        );
    }

    #[test]
    fn invalid_nameserver_line() {
        let (_, f) = classify(&files("nameserver dns.corp\nsearch corp\n"), true);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::ResolverConfigInvalid);
        assert_eq!(failure.context.line, Some(1));
        assert!(failure.root_cause.contains("dns.corp"));
    }

    #[test]
    fn ignored_nameserver_line_with_others_left_is_a_warning() {
        // libc resolves with 10.0.0.2; the bad lines are warnings, not the verdict.
        let (setup, f) = classify(
            &files("nameserver dns.corp\nnameserver 10.0.0.2\r\n nameserver 10.0.0.4\nnameserver 10.0.0.3\n"),
            true,
        );
        assert!(f.failure.is_none());
        assert_eq!(setup.resolv_conf.effective_nameservers().len(), 1);
        assert!(
            f.warnings
                .iter()
                .filter(|w| w.cause == Cause::ResolverConfigInvalid)
                .count()
                >= 3
        );
        assert!(f.warnings.iter().any(|w| w.message.contains("\\r")));
        assert_eq!(f.rows[0].verdict, RowVerdict::Warn);
    }

    #[test]
    fn garbage_is_invalid_not_empty() {
        let (_, f) = classify(&files("hello world\nthis is not a resolver config\n"), true);
        assert_eq!(
            f.failure.map(|x| x.cause),
            Some(Cause::ResolverConfigInvalid)
        );
    }

    #[test]
    fn address_target_only_warns() {
        let (_, f) = classify(&files(""), false);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings[0].cause, Cause::ResolverNoNameservers);
        assert_eq!(f.rows[0].verdict, RowVerdict::Warn);
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(
            redact_url("http://u:p@proxy:3128"),
            "http://u:***@proxy:3128"
        );
        assert_eq!(redact_url("u:p@proxy"), "u:***@proxy");
    }
}
