//! The hosts file (`/etc/hosts`) and the `hosts:` line of nsswitch.conf.
//!
//! These decide whether DNS is asked at all: with `hosts: files dns`, a hosts entry for the name
//! answers first and DNS records are never used, a classic source of "it resolves to the old
//! address". Parsing never fails; malformed lines are skipped as libc skips them.

use std::net::IpAddr;

/// One address for a name, from the hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// The address.
    pub address: IpAddr,
    /// 1-based line number.
    pub line: usize,
}

/// Finds every address the hosts file gives `name` (glibc with `multi on`, Debian's default).
/// Matching is case-insensitive and ignores one trailing dot.
pub fn lookup_hosts(text: &str, name: &str) -> Vec<HostsEntry> {
    let wanted = name.trim_end_matches('.');
    let mut found = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(addr_text) = fields.next() else {
            continue;
        };
        // glibc accepts a scoped IPv6 address; the scope does not change the lookup.
        let Ok(address) = addr_text
            .split('%')
            .next()
            .unwrap_or(addr_text)
            .parse::<IpAddr>()
        else {
            continue;
        };
        if fields.any(|alias| alias.trim_end_matches('.').eq_ignore_ascii_case(wanted)) {
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

/// A source on the `hosts:` line, with what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssSource {
    /// e.g. `files`, `dns`, `myhostname`, `resolve`, `mdns4_minimal`.
    pub name: String,
    /// The action brackets that follow it, verbatim, e.g. `[NOTFOUND=return]`.
    pub actions: Vec<String>,
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
    /// glibc's built-in order when nsswitch.conf has no `hosts:` line.
    pub fn glibc_default() -> Self {
        HostsLookupOrder {
            sources: vec![
                NssSource {
                    name: "dns".into(),
                    actions: vec!["[!UNAVAIL=return]".into()],
                },
                NssSource {
                    name: "files".into(),
                    actions: vec![],
                },
            ],
            line: None,
        }
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

/// Reads the `hosts:` line from nsswitch.conf text.
pub fn parse_nsswitch_hosts(text: &str) -> HostsLookupOrder {
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("hosts") else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let mut sources: Vec<NssSource> = Vec::new();
        let mut in_action: Option<String> = None;
        for word in rest.split_whitespace() {
            if let Some(acc) = in_action.as_mut() {
                acc.push(' ');
                acc.push_str(word);
                if word.ends_with(']') {
                    if let (Some(last), Some(done)) = (sources.last_mut(), in_action.take()) {
                        last.actions.push(done);
                    }
                }
                continue;
            }
            if word.starts_with('[') {
                if word.ends_with(']') {
                    if let Some(last) = sources.last_mut() {
                        last.actions.push(word.to_string());
                    }
                } else {
                    in_action = Some(word.to_string());
                }
            } else if sources.len() < 32 {
                sources.push(NssSource {
                    name: word.to_string(),
                    actions: vec![],
                });
            }
        }
        return HostsLookupOrder {
            sources,
            line: Some(idx + 1),
        };
    }
    HostsLookupOrder::glibc_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hosts_lookup() {
        let text = "127.0.0.1 localhost\n10.0.0.5 API.corp.example api # old\n# 10.0.0.9 api\nbad line\n::1 localhost ip6-localhost\n";
        let found = lookup_hosts(text, "api.corp.example.");
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

    proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,400}", n in "[a-z.]{0,20}") {
            let _ = lookup_hosts(&s, &n);
            let _ = parse_nsswitch_hosts(&s);
            let _ = parse_nsswitch_hosts(&format!("hosts: {s}"));
        }
    }
}
