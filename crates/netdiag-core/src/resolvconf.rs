//! A resolv.conf parser that keeps what a diagnosis needs: line numbers, the lines libc ignores,
//! and the options that shape every lookup (ndots, timeout, attempts, rotate, edns0,
//! single-request, trust-ad, ...).
//!
//! It follows glibc's `res_init` reading rules: keyword at the very start of a line (a line
//! with leading blanks is ignored), `#` or `;` comments, `domain` and `search` replace each
//! other (the last non-empty one wins), nameservers in any `inet_aton` form (`127.1`, hex,
//! octal; a `\r` from a CRLF file or an IPv4 `%scope` makes glibc drop the line), at most 3
//! nameservers (MAXNS), numbers read with `atoi`, option names matched by prefix, and with no
//! valid nameserver libc falls back to 127.0.0.1.
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
    /// `no-tld-query`: a name without a dot is never asked as-is.
    pub no_tld_query: bool,
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
            no_tld_query: false,
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
    /// `HOSTALIASES` entries (alias, name), in file order, for single-label names.
    pub host_aliases: Vec<(String, String)>,
    /// Where the search list and options came from besides resolv.conf, for evidence.
    pub env_notes: Vec<String>,
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

/// The keyword of a line as `res_init` matches it: at the very start of the line and followed
/// by a space or a tab (glibc's `MATCH`). Returns the rest after the separator.
fn keyword_rest<'a>(line: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(keyword)?;
    let mut chars = rest.chars();
    match chars.next() {
        Some(' ') | Some('\t') => Some(rest.trim_start_matches([' ', '\t'])),
        _ => None,
    }
}

/// `inet_aton` as glibc's `__inet_aton_exact` reads it: one to four parts, each decimal, octal
/// (leading `0`) or hex (`0x`), the last part filling the remaining bytes (`127.1` is
/// 127.0.0.1), nothing after the address.
pub fn inet_aton_exact(text: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for part in &parts {
        let (digits, radix) =
            if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (h, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        if value > u64::from(u32::MAX) {
            return None;
        }
        values.push(value as u32);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let tail_bits = 8 * (4 - head.len() as u32);
    if tail_bits < 32 && u64::from(*last) >= (1u64 << tail_bits) {
        return None;
    }
    let mut addr: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    addr |= last;
    Some(std::net::Ipv4Addr::from(addr))
}

/// A nameserver address as `res_init` reads it: IPv4 in any `inet_aton` form (no `%scope`),
/// or IPv6 with an optional `%scope`. `None` when libc ignores it.
fn nameserver_address(text: &str) -> Option<IpAddr> {
    if let Some(v4) = inet_aton_exact(text) {
        return Some(IpAddr::V4(v4));
    }
    let addr_only = text.split('%').next().unwrap_or(text);
    match addr_only.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => Some(IpAddr::V6(v6)),
        Err(_) => None,
    }
}

/// Why a nameserver word is not an address, in the words a reader needs.
fn nameserver_problem(addr_text: &str) -> String {
    if addr_text.ends_with('\r') {
        "the line ends in '\\r' (a Windows CRLF line end): glibc reads the '\\r' as part of the address and ignores this nameserver".to_string()
    } else if addr_text.contains('%')
        && inet_aton_exact(addr_text.split('%').next().unwrap_or("")).is_some()
    {
        format!(
            "'{}': an IPv4 nameserver cannot carry a %scope; libc ignores this nameserver",
            shorten(addr_text)
        )
    } else {
        format!("'{}' is not an IP address; libc ignores this nameserver (names and ports are not allowed here)", shorten(addr_text))
    }
}

/// Parses resolv.conf text the way glibc's `res_init` does. Never fails: problems are collected
/// in `issues`.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let shown = raw.trim();
        if shown.is_empty() || raw.starts_with('#') || raw.starts_with(';') {
            continue;
        }
        conf.content_lines += 1;
        let issue = |problem: String, severe: bool| ConfigIssue {
            line: line_no,
            text: shorten(shown),
            problem,
            severe,
        };
        if raw.starts_with([' ', '\t']) {
            let keyword = shown.split_whitespace().next().unwrap_or("");
            let meant = matches!(keyword, "nameserver" | "search" | "domain" | "options");
            conf.issues.push(issue(
                "the line starts with a blank: glibc only reads a keyword at the very start of a line and ignores it".into(),
                meant && keyword == "nameserver",
            ));
            continue;
        }
        if let Some(rest) = keyword_rest(raw, "nameserver") {
            conf.recognised_lines += 1;
            // The address runs to the next blank: `127.0.0.1#53` is not an address to glibc.
            let addr_text = rest.split([' ', '\t']).next().unwrap_or("");
            if addr_text.trim().is_empty() {
                conf.issues.push(issue(
                    "nameserver line without an address; libc ignores it".into(),
                    true,
                ));
                continue;
            }
            match nameserver_address(addr_text) {
                Some(ip) => conf.nameservers.push(Nameserver {
                    address: SocketAddr::new(ip, 53),
                    line: line_no,
                }),
                None => conf.issues.push(issue(nameserver_problem(addr_text), true)),
            }
        } else if let Some(rest) = keyword_rest(raw, "domain") {
            conf.recognised_lines += 1;
            // An empty `domain` line keeps what was there before.
            if let Some(d) = rest
                .split([' ', '\t'])
                .next()
                .filter(|d| !d.trim().is_empty())
            {
                conf.search = vec![search_entry(d)];
            }
        } else if let Some(rest) = keyword_rest(raw, "search") {
            conf.recognised_lines += 1;
            let list: Vec<String> = rest
                .split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .map(search_entry)
                .collect();
            // An empty `search` line keeps the previous list, as in glibc.
            if !list.is_empty() {
                conf.search = list;
            }
        } else if let Some(rest) = keyword_rest(raw, "options") {
            conf.recognised_lines += 1;
            for opt in rest.split([' ', '\t']).filter(|w| !w.is_empty()) {
                parse_option(opt, &mut conf.options, &mut |p| {
                    conf.issues.push(issue(p, false))
                });
            }
        } else if [
            "sortlist",
            "lookup",
            "family",
            "search",
            "domain",
            "options",
            "nameserver",
        ]
        .iter()
        .any(|k| shown.split_whitespace().next() == Some(*k))
        {
            // A keyword alone on its line: glibc ignores it (an empty `search` keeps the list).
            conf.recognised_lines += 1;
            if shown == "nameserver" {
                conf.issues.push(issue(
                    "nameserver line without an address; libc ignores it".into(),
                    true,
                ));
            }
        } else {
            let keyword = shown.split_whitespace().next().unwrap_or("");
            conf.issues.push(issue(
                format!(
                    "unknown keyword '{}'; libc ignores this line",
                    shorten(keyword)
                ),
                false,
            ));
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

/// Applies what `res_init` reads besides resolv.conf: `LOCALDOMAIN` (blank-separated domains, up
/// to a newline) replaces the search list; `RES_OPTIONS` is read like an `options` line after
/// the file's; with no search list at all, the domain of the host name (after its first dot);
/// `HOSTALIASES` entries for single-label names. Each applied input is noted in `env_notes`.
pub fn apply_environment(conf: &mut ResolvConf, env: &crate::observe::ResolverEnv) {
    if let Some(value) = &env.localdomain {
        let line = value.split('\n').next().unwrap_or("");
        conf.search = line
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .map(search_entry)
            .collect();
        conf.env_notes.push(format!(
            "LOCALDOMAIN={value:?} replaces resolv.conf's search list"
        ));
    }
    if let Some(value) = &env.res_options {
        for opt in value.split([' ', '\t', '\n']).filter(|w| !w.is_empty()) {
            let mut problems = Vec::new();
            parse_option(opt, &mut conf.options, &mut |p| problems.push(p));
            for p in problems {
                conf.issues.push(ConfigIssue {
                    line: 0,
                    text: format!("RES_OPTIONS {}", shorten(opt)),
                    problem: p,
                    severe: false,
                });
            }
        }
        conf.env_notes.push(format!(
            "RES_OPTIONS={value:?} applies after resolv.conf's options"
        ));
    }
    if conf.search.is_empty() {
        if let Some((_, domain)) = env.hostname.as_deref().and_then(|h| h.split_once('.')) {
            if !domain.is_empty() {
                conf.search = vec![search_entry(domain)];
                conf.env_notes.push(format!(
                    "no search list: the host name's domain {domain} is searched (res_init's default)"
                ));
            }
        }
    }
    if let Some(crate::observe::ConfigFile {
        path,
        content: Ok(text),
    }) = &env.hostaliases
    {
        conf.host_aliases = parse_host_aliases(text);
        conf.env_notes.push(format!(
            "HOSTALIASES={path}: {} aliases for single-label names",
            conf.host_aliases.len()
        ));
    }
}

/// `HOSTALIASES` lines as glibc's `__res_context_hostalias` reads them: the alias is the first
/// word, the name the second; a line with no blank after its first word ends the file.
pub fn parse_host_aliases(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let Some(split) = line.find(|c: char| c.is_ascii_whitespace()) else {
            break;
        };
        let (alias, rest) = line.split_at(split);
        let Some(name) = rest.split_ascii_whitespace().next() else {
            break;
        };
        out.push((alias.to_string(), name.to_string()));
    }
    out
}

/// The name a single-label `name` is an alias for, from `HOSTALIASES` (glibc compares the
/// names as domain names: case-insensitive, a trailing dot does not matter).
pub fn host_alias<'a>(conf: &'a ResolvConf, name: &str) -> Option<&'a str> {
    if name.contains('.') {
        return None;
    }
    conf.host_aliases
        .iter()
        .find(|(alias, _)| alias.trim_end_matches('.').eq_ignore_ascii_case(name))
        .map(|(_, target)| target.as_str())
}

/// One search list entry: lowercased, one trailing dot dropped; `.` stays `.` (the root: the
/// bare name at that position).
fn search_entry(word: &str) -> String {
    let w = word.trim_end_matches('.');
    if w.is_empty() {
        ".".to_string()
    } else {
        w.to_ascii_lowercase()
    }
}

/// C's `atoi`: leading blanks, an optional sign, digits up to the first non-digit; 0 when
/// there are none. Saturates instead of overflowing.
pub fn atoi(text: &str) -> i64 {
    let t = text.trim_start_matches([' ', '\t']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// One `options` word, as glibc's `res_setoptions` reads it: `ndots:`, `timeout:` and
/// `attempts:` take an `atoi` number; flags match when the word starts with their name.
fn parse_option(opt: &str, o: &mut ResolverOptions, report: &mut dyn FnMut(String)) {
    if let Some(v) = opt.strip_prefix("ndots:") {
        let n = atoi(v);
        // glibc stores it in a 4-bit field: a negative value wraps.
        o.ndots = if n < 0 {
            (n as u32) & 0xf
        } else {
            n.min(15) as u32
        };
        return;
    }
    if let Some(v) = opt.strip_prefix("timeout:") {
        // 0 or less still waits a second per try (glibc's `seconds <= 0` floor).
        o.timeout_secs = atoi(v).clamp(1, 30) as u32;
        return;
    }
    if let Some(v) = opt.strip_prefix("attempts:") {
        o.attempts = atoi(v).clamp(0, 5) as u32;
        if o.attempts == 0 {
            report(format!(
                "option '{}': glibc sends no query at all, every lookup fails",
                shorten(opt)
            ));
        }
        return;
    }
    const FLAGS: [&str; 11] = [
        "rotate",
        "edns0",
        "single-request-reopen",
        "single-request",
        "no_tld_query",
        "no-tld-query",
        "no-reload",
        "use-vc",
        "trust-ad",
        "no-aaaa",
        "inet6",
    ];
    match FLAGS.iter().find(|f| opt.starts_with(**f)) {
        Some(&"rotate") => o.rotate = true,
        Some(&"edns0") => o.edns0 = true,
        Some(&"single-request-reopen") => o.single_request_reopen = true,
        Some(&"single-request") => o.single_request = true,
        Some(&"no_tld_query") | Some(&"no-tld-query") => o.no_tld_query = true,
        Some(&"use-vc") => o.use_vc = true,
        Some(&"trust-ad") => o.trust_ad = true,
        Some(&"no-aaaa") => o.no_aaaa = true,
        Some(_) => {}
        None if matches!(
            opt,
            "debug" | "ip6-bytestring" | "ip6-dotint" | "no-ip6-dotint" | "no-check-names"
        ) => {}
        None => report(format!(
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

    #[test]
    fn res_init_reading_rules() {
        // Leading blanks hide the keyword; CRLF and an IPv4 %scope drop the nameserver.
        let c = parse_resolv_conf(" nameserver 127.0.0.9\nnameserver 127.0.0.2\r\nnameserver 127.0.0.4%lo\nnameserver 127.0.0.5#53\nnameserver 127.3\n");
        assert_eq!(c.nameservers.len(), 1);
        assert_eq!(c.nameservers[0].address, "127.0.0.3:53".parse().unwrap());
        assert!(c.issues.iter().any(|i| i.problem.contains("\\r")));
        assert!(c.issues.iter().any(|i| i.problem.contains("%scope")));
        assert!(c.issues.iter().any(|i| i.problem.contains("blank")));
        // An empty search line keeps the previous list; `.` is kept as the root.
        let c = parse_resolv_conf("search a.test . b.test\nsearch\nsearch \n");
        assert_eq!(c.search, vec!["a.test", ".", "b.test"]);
        let c = parse_resolv_conf("search a.test\n search b.test\ndomain \n");
        assert_eq!(c.search, vec!["a.test"]);
    }

    #[test]
    fn environment_as_res_init_reads_it() {
        use crate::observe::{ConfigFile, ResolverEnv};
        let text = "nameserver 10.0.0.53\nsearch corp.test\noptions ndots:2\n";
        let mut conf = parse_resolv_conf(text);
        let env = ResolverEnv {
            localdomain: Some("a.test  B.test.\tc.test\nd.test".into()),
            res_options: Some("ndots:4 no-aaaa".into()),
            ..ResolverEnv::default()
        };
        apply_environment(&mut conf, &env);
        assert_eq!(conf.search, ["a.test", "b.test", "c.test"]);
        assert_eq!(conf.options.ndots, 4);
        assert!(conf.options.no_aaaa);
        assert_eq!(conf.env_notes.len(), 2, "{:?}", conf.env_notes);
        // The host name's domain is the default search list, only when there is none.
        let host = ResolverEnv {
            hostname: Some("web1.dc.example.".into()),
            ..ResolverEnv::default()
        };
        let mut conf = parse_resolv_conf("nameserver 10.0.0.53\n");
        apply_environment(&mut conf, &host);
        assert_eq!(conf.search, ["dc.example"]);
        let mut conf = parse_resolv_conf("nameserver 10.0.0.53\ndomain x.test\n");
        apply_environment(&mut conf, &host);
        assert_eq!(conf.search, ["x.test"]);
        let mut conf = parse_resolv_conf("nameserver 10.0.0.53\n");
        apply_environment(
            &mut conf,
            &ResolverEnv {
                hostname: Some("vm".into()),
                ..ResolverEnv::default()
            },
        );
        assert!(conf.search.is_empty());
        // HOSTALIASES: single-label names only, case-insensitive; a last line without a blank
        // ends the file.
        let mut conf = parse_resolv_conf("nameserver 10.0.0.53\n");
        apply_environment(
            &mut conf,
            &ResolverEnv {
                hostaliases: Some(ConfigFile {
                    path: "/tmp/aliases".into(),
                    content: Ok("web  www.example.test extra\nDB db.example.test\nlast".into()),
                }),
                ..ResolverEnv::default()
            },
        );
        assert_eq!(host_alias(&conf, "web"), Some("www.example.test"));
        assert_eq!(host_alias(&conf, "db"), Some("db.example.test"));
        assert_eq!(host_alias(&conf, "web.x"), None);
        assert_eq!(host_alias(&conf, "last"), None);
    }

    #[test]
    fn inet_aton_forms() {
        let v = |s: &str| inet_aton_exact(s).map(|a| a.to_string());
        assert_eq!(v("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v("0x7f.0.0.4").as_deref(), Some("127.0.0.4"));
        assert_eq!(v("0177.0.0.2").as_deref(), Some("127.0.0.2"));
        assert_eq!(v("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(v("10.1.256").as_deref(), Some("10.1.1.0"));
        assert_eq!(v("256.1.1.1"), None);
        assert_eq!(v("1.2.3.4.5"), None);
        assert_eq!(v("08.1.1.1"), None);
        assert_eq!(v("1.2.3.4 "), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn options_as_res_setoptions_reads_them() {
        let c = parse_resolv_conf(
            "options ndots:2x timeout:0 attempts:9 rotatex no-tld-query no-aaaa\n",
        );
        assert_eq!(
            (c.options.ndots, c.options.timeout_secs, c.options.attempts),
            (2, 1, 5)
        );
        assert!(c.options.rotate && c.options.no_tld_query && c.options.no_aaaa);
        let c = parse_resolv_conf("options ndots:-1 attempts:0\n");
        assert_eq!((c.options.ndots, c.options.attempts), (15, 0));
        assert_eq!(atoi("  -12ab"), -12);
        assert_eq!(atoi("x"), 0);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let _ = parse_resolv_conf(&s);
            let _ = inet_aton_exact(&s);
            let _ = atoi(&s);
        }

        #[test]
        fn inet_aton_agrees_with_dotted_quads(a in 0u8.., b in 0u8.., c in 0u8.., d in 0u8..) {
            let text = format!("{a}.{b}.{c}.{d}");
            prop_assert_eq!(inet_aton_exact(&text), Some(std::net::Ipv4Addr::new(a, b, c, d)));
        }

        #[test]
        fn never_panics_on_plausible_lines(lines in proptest::collection::vec("(nameserver|search|domain|options|#) [ -~]{0,30}", 0..20)) {
            let _ = parse_resolv_conf(&lines.join("\n"));
        }
    }
}
