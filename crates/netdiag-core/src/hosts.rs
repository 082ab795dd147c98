//! The hosts file (`/etc/hosts`) and the `hosts:` line of nsswitch.conf.
//!
//! These decide whether DNS is asked at all: with `hosts: files dns`, a hosts entry for the name
//! answers first and DNS records are never used, a classic source of "it resolves to the old
//! address". Parsing never fails; malformed lines are skipped as libc skips them.
//!
//! The `hosts` line is read as glibc 2.36's nsswitch parser reads it (last line wins, no colon
//! needed, an unusable line means the built-in `files dns`), and its action items
//! (`[NOTFOUND=return]`, `[!UNAVAIL=return]`, `[SUCCESS=continue]`, any case and spacing) decide
//! which source's answer getaddrinfo returns: [`HostsLookupOrder::answering`].

use std::net::IpAddr;

/// What systemd's `myhostname` NSS module answers for `name` (its gethostbyname4): `localhost`,
/// `localhost.localdomain` and names under them (any case, a trailing dot allowed) are
/// 127.0.0.1 and ::1; the host name itself (compared exactly, a trailing dot allowed) is every
/// address of this host other than loopback (IPv4 then IPv6, each by scope, interface and
/// address: the order glibc's sort keeps when its rules tie), or 127.0.0.2 and ::1 when there
/// is none; `_gateway` is the default gateways (`gateways`: the
/// kernel's route for 0.0.0.0 and ::). Empty: NOTFOUND. `None`: `_outbound`, not modelled
/// (counted as UNAVAIL).
pub fn myhostname_lookup(
    name: &str,
    hostname: Option<&str>,
    interfaces: &[crate::observe::InterfaceAddress],
    gateways: &[IpAddr],
) -> Option<Vec<IpAddr>> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_suffix('.').unwrap_or(&lower);
    let loopback6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if ["localhost", "localhost.localdomain"].contains(&bare)
        || bare.ends_with(".localhost")
        || bare.ends_with(".localhost.localdomain")
    {
        return Some(vec![IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), loopback6]);
    }
    if bare == "_gateway" {
        return Some(gateways.to_vec());
    }
    if bare == "_outbound" {
        return None;
    }
    let Some(hn) = hostname.filter(|h| !h.is_empty()) else {
        return Some(Vec::new());
    };
    if name != hn && name.strip_suffix('.') != Some(hn) {
        return Some(Vec::new());
    }
    let mut own: Vec<&crate::observe::InterfaceAddress> = interfaces
        .iter()
        .filter(|a| !a.address.is_loopback())
        .collect();
    if own.is_empty() {
        return Some(vec![
            IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)),
            loopback6,
        ]);
    }
    let link_local = |a: &IpAddr| match a {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    };
    own.sort_by_key(|a| {
        (
            a.address.is_ipv6(),
            link_local(&a.address),
            a.ifindex,
            a.address,
        )
    });
    Some(own.iter().map(|a| a.address).collect())
}

/// One address for a name, from the hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// The address.
    pub address: IpAddr,
    /// 1-based line number.
    pub line: usize,
}

/// Finds every address the hosts file gives `name` (glibc with `multi on`, Debian's default).
/// Names are compared as glibc's files module compares them: case-insensitively and otherwise
/// exactly (`h.test.` does not match a `h.test` line). A line whose address does not parse
/// (a scoped IPv6 address such as `fe80::1%eth0` included) is skipped, as glibc skips it.
pub fn lookup_hosts(text: &str, name: &str) -> Vec<HostsEntry> {
    let mut found = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(addr_text) = fields.next() else {
            continue;
        };
        let Ok(address) = addr_text.parse::<IpAddr>() else {
            continue;
        };
        if fields.any(|alias| alias.eq_ignore_ascii_case(name)) {
            found.push(HostsEntry {
                address,
                line: idx + 1,
            });
        }
        if found.len() >= 64 {
            break;
        }
    }
    found
}

/// The hosts-file answer for one address family, as glibc's files module gives it: an IPv4
/// lookup skips IPv6 lines except `::1`, which answers as 127.0.0.1, and v4-mapped ones
/// (`::ffff:10.0.0.1` answers as 10.0.0.1); an IPv6 lookup skips IPv4
/// lines; an any-family lookup keeps every line in file order.
pub fn hosts_for_family(entries: &[HostsEntry], v4: bool, v6: bool) -> Vec<HostsEntry> {
    entries
        .iter()
        .filter_map(|e| match e.address {
            IpAddr::V4(_) if v4 => Some(e.clone()),
            IpAddr::V6(a) if v4 && !v6 && a.is_loopback() => Some(HostsEntry {
                address: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                line: e.line,
            }),
            IpAddr::V6(a) if v4 && !v6 && a.to_ipv4_mapped().is_some() => Some(HostsEntry {
                address: IpAddr::V4(a.to_ipv4_mapped()?),
                line: e.line,
            }),
            IpAddr::V6(_) if v6 => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The result of one NSS source, as glibc names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NssStatus {
    /// An answer.
    Success,
    /// The source has no entry.
    NotFound,
    /// The source cannot answer (file missing, no nameserver reachable, module missing).
    Unavail,
    /// Temporary failure.
    TryAgain,
}

/// What the walk over the sources does after a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NssAction {
    /// Stop here.
    Return,
    /// Go on to the next source.
    Continue,
}

/// A source on the `hosts:` line, with what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssSource {
    /// e.g. `files`, `dns`, `myhostname`, `resolve`, `mdns4_minimal`.
    pub name: String,
    /// The action brackets that follow it, verbatim, e.g. `[NOTFOUND=return]`.
    pub actions: Vec<String>,
}

impl NssSource {
    /// The action after `status`: glibc's default (return on SUCCESS, continue otherwise)
    /// changed by the action items, read case-insensitively; `!STATUS=action` sets every other
    /// status. `merge` counts as continue (the hosts database does not merge).
    pub fn action(&self, status: NssStatus) -> NssAction {
        let mut act = if status == NssStatus::Success {
            NssAction::Return
        } else {
            NssAction::Continue
        };
        for item in &self.actions {
            for (negated, st, a) in parse_action_items(item).unwrap_or_default() {
                if (st == status) != negated {
                    act = a;
                }
            }
        }
        act
    }
}

/// The items of one `[...]` bracket: `(negated, status, action)`, or `None` when glibc would
/// reject it.
fn parse_action_items(bracket: &str) -> Option<Vec<(bool, NssStatus, NssAction)>> {
    let inner = bracket.strip_prefix('[')?.strip_suffix(']')?;
    // `STATUS = action` may carry blanks around the `=`.
    let joined = inner.split_whitespace().collect::<Vec<_>>().join(" ");
    let joined = joined.replace(" =", "=").replace("= ", "=");
    let mut items = Vec::new();
    for word in joined.split_whitespace() {
        let (negated, word) = match word.strip_prefix('!') {
            Some(w) => (true, w),
            None => (false, word),
        };
        let (st, act) = word.split_once('=')?;
        let st = match st.to_ascii_uppercase().as_str() {
            "SUCCESS" => NssStatus::Success,
            "NOTFOUND" => NssStatus::NotFound,
            "UNAVAIL" => NssStatus::Unavail,
            "TRYAGAIN" => NssStatus::TryAgain,
            _ => return None,
        };
        let act = match act.to_ascii_uppercase().as_str() {
            "RETURN" => NssAction::Return,
            "CONTINUE" | "MERGE" => NssAction::Continue,
            _ => return None,
        };
        items.push((negated, st, act));
    }
    Some(items)
}

/// The `hosts:` line of nsswitch.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsLookupOrder {
    /// Sources in order.
    pub sources: Vec<NssSource>,
    /// 1-based line number, or `None` when the file has no `hosts:` line (glibc's default applies).
    pub line: Option<usize>,
}

impl HostsLookupOrder {
    /// glibc's built-in order when nsswitch.conf is missing, has no `hosts` line or only an
    /// unusable one: `files dns`.
    pub fn glibc_default() -> Self {
        HostsLookupOrder {
            sources: vec![
                NssSource {
                    name: "files".into(),
                    actions: vec![],
                },
                NssSource {
                    name: "dns".into(),
                    actions: vec![],
                },
            ],
            line: None,
        }
    }

    /// Walks the sources as glibc's getaddrinfo does, given each source's status, and returns
    /// the source whose answer libc returns: the last source asked, when it said SUCCESS.
    /// (`[SUCCESS=continue]` does not merge: the next source's result replaces the earlier one,
    /// and when the next source finds nothing, nothing is returned.)
    pub fn answering(&self, status_of: &dyn Fn(&str) -> NssStatus) -> Option<String> {
        let mut last = None;
        for source in &self.sources {
            let status = status_of(&source.name);
            last = (status == NssStatus::Success).then(|| source.name.clone());
            if source.action(status) == NssAction::Return {
                break;
            }
        }
        last
    }

    /// Whether the walk reaches `source` when the sources before it say `status_of`.
    pub fn reaches(&self, source: &str, status_of: &dyn Fn(&str) -> NssStatus) -> bool {
        for s in &self.sources {
            if s.name == source {
                return true;
            }
            if s.action(status_of(&s.name)) == NssAction::Return {
                return false;
            }
        }
        false
    }

    /// Position of a source, if present.
    pub fn position(&self, source: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.name == source)
    }

    /// Whether the hosts file is consulted before DNS.
    pub fn files_before_dns(&self) -> bool {
        match (self.position("files"), self.position("dns")) {
            (Some(f), Some(d)) => f < d,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The line as written, e.g. `files dns`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for s in &self.sources {
            parts.push(s.name.clone());
            parts.extend(s.actions.iter().cloned());
        }
        parts.join(" ")
    }
}

/// Reads the `hosts` line from nsswitch.conf text as glibc does: the database name runs to
/// the first blank or `:` (so `hosts files` and `hosts:files` both count), the last `hosts`
/// line wins, and a line glibc cannot parse (an action item it does not know) counts as no
/// line, so the built-in `files dns` applies.
pub fn parse_nsswitch_hosts(text: &str) -> HostsLookupOrder {
    let mut found = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let line = line.trim_start();
        let end = line
            .find(|c: char| c.is_whitespace() || c == ':')
            .unwrap_or(line.len());
        if &line[..end] != "hosts" || end == line.len() {
            continue;
        }
        if let Some(sources) = parse_sources(&line[end + 1..]) {
            found = Some(HostsLookupOrder {
                sources,
                line: Some(idx + 1),
            });
        }
    }
    found.unwrap_or_else(HostsLookupOrder::glibc_default)
}

/// The sources and action items of one line, or `None` when glibc rejects it.
fn parse_sources(rest: &str) -> Option<Vec<NssSource>> {
    let mut sources: Vec<NssSource> = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '[' {
            let close = rest[i..].find(']').map(|j| i + j)?;
            let bracket = &rest[i..=close];
            parse_action_items(bracket)?;
            sources.last_mut()?.actions.push(bracket.to_string());
            while chars.peek().is_some_and(|&(k, _)| k <= close) {
                chars.next();
            }
            continue;
        }
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || c == '[')
            .map(|j| i + j)
            .unwrap_or(rest.len());
        if sources.len() < 32 {
            sources.push(NssSource {
                name: rest[i..end].to_string(),
                actions: vec![],
            });
        }
        while chars.peek().is_some_and(|&(k, _)| k < end) {
            chars.next();
        }
    }
    if sources.is_empty() {
        return None;
    }
    Some(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn myhostname_answers_localhost_the_host_name_and_the_gateway() {
        use crate::observe::InterfaceAddress;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let lo = ["127.0.0.1", "::1"].map(ip).to_vec();
        for name in [
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "localhost.localdomain",
        ] {
            assert_eq!(
                myhostname_lookup(name, Some("vm"), &[], &[]),
                Some(lo.clone()),
                "{name}"
            );
        }
        // The host name, exactly (case matters) with or without a trailing dot.
        let fallback = ["127.0.0.2", "::1"].map(ip).to_vec();
        assert_eq!(
            myhostname_lookup("vm.x", Some("vm.x"), &[], &[]),
            Some(fallback.clone())
        );
        assert_eq!(
            myhostname_lookup("vm.x.", Some("vm.x"), &[], &[]),
            Some(fallback)
        );
        assert_eq!(
            myhostname_lookup("VM.X", Some("vm.x"), &[], &[]),
            Some(vec![])
        );
        assert_eq!(
            myhostname_lookup("vm", Some("vm.x"), &[], &[]),
            Some(vec![])
        );
        let a = |s: &str, ifindex| InterfaceAddress {
            address: ip(s),
            prefix_len: 24,
            ifindex,
        };
        let own = [
            a("127.0.0.1", 1),
            a("10.9.0.1", 3),
            a("192.168.99.1", 1),
            a("fd99::1", 1),
            a("::1", 1),
        ];
        assert_eq!(
            myhostname_lookup("vm.x", Some("vm.x"), &own, &[]),
            Some(["192.168.99.1", "10.9.0.1", "fd99::1"].map(ip).to_vec())
        );
        assert_eq!(
            myhostname_lookup("_gateway", Some("vm"), &own, &[]),
            Some(vec![])
        );
        assert_eq!(
            myhostname_lookup("_gateway", Some("vm"), &own, &[ip("10.0.0.1")]),
            Some(vec![ip("10.0.0.1")])
        );
        assert_eq!(myhostname_lookup("_outbound", Some("vm"), &own, &[]), None);
    }

    #[test]
    fn hosts_lookup() {
        let text = "127.0.0.1 localhost\n10.0.0.5 API.corp.example api # old\n# 10.0.0.9 api\nbad line\n::1 localhost ip6-localhost\n";
        // Exact (case-insensitive) names: the trailing dot is part of the name.
        assert!(lookup_hosts(text, "api.corp.example.").is_empty());
        let found = lookup_hosts(text, "api.corp.example");
        assert_eq!(
            found,
            vec![HostsEntry {
                address: "10.0.0.5".parse().unwrap(),
                line: 2
            }]
        );
        assert_eq!(lookup_hosts(text, "api").len(), 1);
        assert_eq!(lookup_hosts(text, "localhost").len(), 2);
        assert!(lookup_hosts(text, "old").is_empty());
    }

    #[test]
    fn nsswitch_orders() {
        let o = parse_nsswitch_hosts(
            "passwd: files\nhosts:          files mdns4_minimal [NOTFOUND=return] dns myhostname\n",
        );
        assert_eq!(o.line, Some(2));
        assert!(o.files_before_dns());
        assert_eq!(o.sources[1].actions, vec!["[NOTFOUND=return]".to_string()]);
        let o = parse_nsswitch_hosts("hosts: dns [!UNAVAIL=return] files\n");
        assert!(!o.files_before_dns());
        let o = parse_nsswitch_hosts("hosts: resolve [!UNAVAIL=return] files myhostname dns\n");
        assert_eq!(o.sources[0].actions, vec!["[!UNAVAIL=return]".to_string()]);
        let o = parse_nsswitch_hosts("hosts: files [ NOTFOUND=return ] dns");
        assert_eq!(o.sources.len(), 2);
        let o = parse_nsswitch_hosts("");
        assert_eq!(o, HostsLookupOrder::glibc_default());
    }

    #[test]
    fn hosts_lines_as_glibc_reads_them() {
        let text = "fe80::1%lo scoped.test\n::1 h3.test\n10.0.0.1 h3.test\nfd00::7 h3.test\n10.0.0.2 dot.test.\n::ffff:10.0.0.3 m.test\n";
        let m = lookup_hosts(text, "m.test");
        assert_eq!(
            hosts_for_family(&m, true, false)[0].address.to_string(),
            "10.0.0.3"
        );
        assert_eq!(
            hosts_for_family(&m, true, true)[0].address.to_string(),
            "::ffff:10.0.0.3"
        );
        assert!(lookup_hosts(text, "scoped.test").is_empty());
        assert!(lookup_hosts(text, "dot.test").is_empty());
        assert_eq!(lookup_hosts(text, "dot.test.").len(), 1);
        let all = lookup_hosts(text, "h3.test");
        let v4: Vec<String> = hosts_for_family(&all, true, false)
            .iter()
            .map(|e| e.address.to_string())
            .collect();
        assert_eq!(v4, vec!["127.0.0.1", "10.0.0.1"]);
        let v6: Vec<String> = hosts_for_family(&all, false, true)
            .iter()
            .map(|e| e.address.to_string())
            .collect();
        assert_eq!(v6, vec!["::1", "fd00::7"]);
        assert_eq!(hosts_for_family(&all, true, true).len(), 3);
    }

    #[test]
    fn nsswitch_as_glibc_reads_it() {
        let names =
            |o: &HostsLookupOrder| o.sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        // Last line wins; no colon is fine; no line or an unusable one is `files dns`.
        assert_eq!(
            names(&parse_nsswitch_hosts("hosts: dns\nhosts: files\n")),
            vec!["files"]
        );
        assert_eq!(
            names(&parse_nsswitch_hosts("hosts files dns\n")),
            vec!["files", "dns"]
        );
        assert_eq!(
            names(&parse_nsswitch_hosts("hosts:dns files\n")),
            vec!["dns", "files"]
        );
        assert_eq!(
            parse_nsswitch_hosts("passwd: files\n"),
            HostsLookupOrder::glibc_default()
        );
        assert_eq!(
            parse_nsswitch_hosts("hosts: dns [FOO=return] files\n"),
            HostsLookupOrder::glibc_default()
        );
        assert_eq!(
            names(&HostsLookupOrder::glibc_default()),
            vec!["files", "dns"]
        );
        // Action items, any case and spacing.
        let o = parse_nsswitch_hosts("hosts: dns [ notfound = RETURN ] files\n");
        assert_eq!(o.sources[0].action(NssStatus::NotFound), NssAction::Return);
        assert_eq!(o.sources[0].action(NssStatus::Unavail), NssAction::Continue);
        let nf = |_: &str| NssStatus::NotFound;
        assert_eq!(o.answering(&nf), None);
        assert!(!o.reaches("files", &nf));
        let o = parse_nsswitch_hosts("hosts: dns [!UNAVAIL=return] files\n");
        assert!(!o.reaches("files", &nf));
        assert!(o.reaches("files", &|_: &str| NssStatus::Unavail));
        let o = parse_nsswitch_hosts("hosts: files [SUCCESS=continue] dns\n");
        // SUCCESS=continue does not merge: the next source's result replaces it.
        assert_eq!(
            o.answering(&|_: &str| NssStatus::Success).as_deref(),
            Some("dns")
        );
        assert_eq!(
            o.answering(&|s: &str| if s == "files" {
                NssStatus::Success
            } else {
                NssStatus::NotFound
            }),
            None
        );
        let o = parse_nsswitch_hosts("passwd: files\nhosts: files [notfound=RETURN] dns\n");
        assert_eq!(
            o.sources[0].action(NssStatus::NotFound),
            NssAction::Return,
            "{o:?}"
        );
        assert!(!o.reaches("dns", &nf));
        let o = parse_nsswitch_hosts("hosts: files[NOTFOUND=return] dns\n");
        assert_eq!(o.sources.len(), 2);
        assert_eq!(
            o.answering(&|s: &str| if s == "dns" {
                NssStatus::Success
            } else {
                NssStatus::NotFound
            }),
            None
        );
    }

    proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,400}", n in "[a-z.]{0,20}") {
            let _ = lookup_hosts(&s, &n);
            let _ = parse_nsswitch_hosts(&s);
            let _ = parse_nsswitch_hosts(&format!("hosts: {s}"));
        }
    }
}
