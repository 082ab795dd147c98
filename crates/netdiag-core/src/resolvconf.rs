//! A resolv.conf parser that keeps what a diagnosis needs: line numbers, the lines libc ignores,
//! and the options that shape every lookup (ndots, timeout, attempts, rotate, edns0,
//! single-request, trust-ad, ...).
//!
//! It follows glibc's `res_init` reading rules: keyword at the start of a line, `#` or `;`
//! comments, `domain` and `search` replace each other (the last one wins), at most 3
//! nameservers are used (MAXNS), and with no valid nameserver libc falls back to 127.0.0.1.
//! It never fails on text: every oddity becomes a [`ConfigIssue`] for the resolver layer.

use std::net::{IpAddr, SocketAddr};

/// glibc's MAXNS: nameservers past the third are ignored.
pub const MAX_NAMESERVERS: usize = 3;

/// One problem found while reading the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line number.
    pub line: usize,
    /// The offending line, trimmed and shortened.
    pub text: String,
    /// What libc does with it and why it matters.
    pub problem: String,
    /// True when libc cannot use something the author clearly meant (e.g. a nameserver that is
    /// not an address): a fault, not a style remark.
    pub severe: bool,
}

/// A nameserver line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    /// Address and port (53 unless the configuration came from elsewhere, e.g. the demo).
    pub address: SocketAddr,
    /// 1-based line number (0 when not from a file).
    pub line: usize,
}

/// Resolver options that change lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverOptions {
    /// `ndots:n` (default 1, glibc caps at 15).
    pub ndots: u32,
    /// `timeout:n` seconds per try (default 5, capped at 30).
    pub timeout_secs: u32,
    /// `attempts:n` rounds over the nameservers (default 2, capped at 5).
    pub attempts: u32,
    /// `rotate`: round-robin over nameservers instead of always starting with the first.
    pub rotate: bool,
    /// `edns0`.
    pub edns0: bool,
    /// `single-request`: A and AAAA sequentially instead of in parallel.
    pub single_request: bool,
    /// `single-request-reopen`.
    pub single_request_reopen: bool,
    /// `trust-ad`.
    pub trust_ad: bool,
    /// `use-vc`: always TCP.
    pub use_vc: bool,
    /// `no-aaaa` (glibc 2.36+): AAAA queries suppressed.
    pub no_aaaa: bool,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            ndots: 1,
            timeout_secs: 5,
            attempts: 2,
            rotate: false,
            edns0: false,
            single_request: false,
            single_request_reopen: false,
            trust_ad: false,
            use_vc: false,
            no_aaaa: false,
        }
    }
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    /// Every valid nameserver line, in order (libc uses the first [`MAX_NAMESERVERS`]).
    pub nameservers: Vec<Nameserver>,
    /// The search list (from the last `search` or `domain` line).
    pub search: Vec<String>,
    /// Options.
    pub options: ResolverOptions,
    /// Oddities, in line order.
    pub issues: Vec<ConfigIssue>,
    /// How many lines carried a directive libc recognised.
    pub recognised_lines: usize,
    /// How many non-comment, non-blank lines there were.
    pub content_lines: usize,
}

impl ResolvConf {
    /// The nameservers libc actually uses (the first three).
    pub fn effective_nameservers(&self) -> &[Nameserver] {
        let n = self.nameservers.len().min(MAX_NAMESERVERS);
        &self.nameservers[..n]
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        let mut t: String = s.chars().take(77).collect();
        t.push_str("...");
        t
    } else {
        s.to_string()
    }
}

/// Parses resolv.conf text. Never fails: problems are collected in `issues`.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        conf.content_lines += 1;
        let mut words = line.split_whitespace();
        let keyword = words.next().unwrap_or("");
        let issue = |problem: String, severe: bool| ConfigIssue {
            line: line_no,
            text: shorten(line),
            problem,
            severe,
        };
        match keyword {
            "nameserver" => {
                conf.recognised_lines += 1;
                let Some(addr_text) = words.next() else {
                    conf.issues.push(issue(
                        "nameserver line without an address; libc ignores it".into(),
                        true,
                    ));
                    continue;
                };
                // glibc accepts an IPv6 scope (fe80::1%eth0); keep the address part.
                let addr_only = addr_text.split('%').next().unwrap_or(addr_text);
                match addr_only.parse::<IpAddr>() {
                    Ok(ip) => conf.nameservers.push(Nameserver { address: SocketAddr::new(ip, 53), line: line_no }),
                    Err(_) => conf.issues.push(issue(
                        format!("'{}' is not an IP address; libc ignores this nameserver (names and ports are not allowed here)", shorten(addr_text)),
                        true,
                    )),
                }
            }
            "domain" => {
                conf.recognised_lines += 1;
                match words.next() {
                    Some(d) => conf.search = vec![d.trim_end_matches('.').to_ascii_lowercase()],
                    None => conf.issues.push(issue(
                        "domain line without a name; libc ignores it".into(),
                        false,
                    )),
                }
            }
            "search" => {
                conf.recognised_lines += 1;
                let list: Vec<String> = words
                    .filter(|w| *w != ".")
                    .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
                    .filter(|w| !w.is_empty())
                    .collect();
                conf.search = list;
            }
            "options" => {
                conf.recognised_lines += 1;
                for opt in words {
                    parse_option(opt, &mut conf.options, &mut |p| {
                        conf.issues.push(issue(p, false))
                    });
                }
            }
            "sortlist" | "lookup" | "family" => {
                conf.recognised_lines += 1;
            }
            _ => conf.issues.push(issue(
                format!(
                    "unknown keyword '{}'; libc ignores this line",
                    shorten(keyword)
                ),
                false,
            )),
        }
    }
    if conf.nameservers.len() > MAX_NAMESERVERS {
        let extra: Vec<String> = conf.nameservers[MAX_NAMESERVERS..]
            .iter()
            .map(|n| n.address.ip().to_string())
            .collect();
        let line = conf.nameservers[MAX_NAMESERVERS].line;
        conf.issues.push(ConfigIssue {
            line,
            text: format!("nameserver {}", extra.join(", ")),
            problem: format!(
                "libc uses only the first {MAX_NAMESERVERS} nameservers; {} never asked",
                extra.join(", ")
            ),
            severe: false,
        });
    }
    conf
}

fn parse_option(opt: &str, o: &mut ResolverOptions, report: &mut dyn FnMut(String)) {
    let (name, value) = match opt.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (opt, None),
    };
    let number = |max: u32, report: &mut dyn FnMut(String)| -> Option<u32> {
        match value.and_then(|v| v.parse::<u32>().ok()) {
            Some(n) => Some(n.min(max)),
            None => {
                report(format!(
                    "option '{}' needs a number; libc ignores it",
                    shorten(opt)
                ));
                None
            }
        }
    };
    match name {
        "ndots" => {
            if let Some(n) = number(15, report) {
                o.ndots = n;
            }
        }
        "timeout" => {
            if let Some(n) = number(30, report) {
                o.timeout_secs = n.max(1);
            }
        }
        "attempts" => {
            if let Some(n) = number(5, report) {
                o.attempts = n.max(1);
            }
        }
        "rotate" => o.rotate = true,
        "edns0" => o.edns0 = true,
        "single-request" => o.single_request = true,
        "single-request-reopen" => o.single_request_reopen = true,
        "trust-ad" => o.trust_ad = true,
        "use-vc" => o.use_vc = true,
        "no-aaaa" => o.no_aaaa = true,
        "debug" | "inet6" | "ip6-bytestring" | "ip6-dotint" | "no-ip6-dotint"
        | "no-check-names" | "no-reload" | "no-tld-query" => {}
        _ => report(format!(
            "unknown option '{}'; libc ignores it",
            shorten(opt)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typical_kubernetes_pod() {
        let c = parse_resolv_conf(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        assert_eq!(c.search.len(), 3);
        assert_eq!(c.options.ndots, 5);
        assert_eq!(c.nameservers[0].address, "10.96.0.10:53".parse().unwrap());
        assert!(c.issues.is_empty());
    }

    #[test]
    fn options_and_comments() {
        let c = parse_resolv_conf(
            "# comment\n; other\nnameserver 192.0.2.1 # trailing\nnameserver fe80::1%eth0\noptions timeout:2 attempts:3 rotate edns0 single-request trust-ad ndots:99\n",
        );
        assert_eq!(c.nameservers.len(), 2);
        assert_eq!(c.options.timeout_secs, 2);
        assert_eq!(c.options.attempts, 3);
        assert!(
            c.options.rotate && c.options.edns0 && c.options.single_request && c.options.trust_ad
        );
        assert_eq!(c.options.ndots, 15);
    }

    #[test]
    fn last_of_domain_and_search_wins() {
        let c = parse_resolv_conf("search a.example b.example\ndomain corp.example.\n");
        assert_eq!(c.search, vec!["corp.example".to_string()]);
        let c = parse_resolv_conf("domain corp.example\nsearch A.example.\n");
        assert_eq!(c.search, vec!["a.example".to_string()]);
    }

    #[test]
    fn bad_nameserver_is_severe() {
        let c =
            parse_resolv_conf("nameserver dns.corp.example\nnameserver 10.0.0.2:53\nnameserver\n");
        assert!(c.nameservers.is_empty());
        assert_eq!(c.issues.len(), 3);
        assert!(c.issues.iter().all(|i| i.severe));
        assert_eq!(c.issues[0].line, 1);
    }

    #[test]
    fn more_than_three_nameservers() {
        let c = parse_resolv_conf("nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n");
        assert_eq!(c.effective_nameservers().len(), 3);
        assert_eq!(c.issues.len(), 1);
        assert!(!c.issues[0].severe);
    }

    #[test]
    fn unknown_lines_are_counted() {
        let c = parse_resolv_conf("hello world\nfoo\n");
        assert_eq!((c.recognised_lines, c.content_lines), (0, 2));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let _ = parse_resolv_conf(&s);
        }

        #[test]
        fn never_panics_on_plausible_lines(lines in proptest::collection::vec("(nameserver|search|domain|options|#) [ -~]{0,30}", 0..20)) {
            let _ = parse_resolv_conf(&lines.join("\n"));
        }
    }
}
