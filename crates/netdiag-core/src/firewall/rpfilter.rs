//! IPv6 reverse-path filtering as firewall rules: which rules of the ruleset are one.
//!
//! Why: IPv6 has no `rp_filter` sysctl. Its counterpart is a rule in a prerouting chain,
//! `ip6tables -t raw -A PREROUTING -m rpfilter --invert -j DROP` (firewalld's IPv6_rpfilter) or
//! nftables' `fib saddr . iif oif missing drop`, and with an asymmetric route it silently drops
//! the replies just like strict rp_filter does for IPv4. The evaluator cannot walk such a match
//! (it needs the kernel's routing table), so it is recognised here by its text, and its packet
//! counter, read before and after a repeat connect, says whether it dropped our replies.

use super::{
    eval::rule_ref, iptables_uses_nf_tables, parse_iptables_save, parse_nft_json, Action, Backend,
    FirewallSources, Hook, IpFamily, RuleRef, Ruleset, Test,
};

/// Whether one match's text is a reverse-path check that holds when the check *fails*:
/// iptables `-m rpfilter --invert`, nft `fib saddr [. mark] [. iif] oif missing`.
pub fn is_rpfilter_failure_match(text: &str) -> bool {
    let t = text.trim();
    let iptables = t.starts_with("-m rpfilter") && t.split_whitespace().any(|w| w == "--invert");
    let nft = t.starts_with("fib saddr") && t.ends_with("oif missing");
    iptables || nft
}

/// The rules in IPv6-carrying prerouting base chains that drop a packet whose reverse path
/// fails, in ruleset order.
pub fn rpfilter_drop_rules(ruleset: &Ruleset) -> Vec<RuleRef> {
    let mut out = Vec::new();
    for table in ruleset.tables.iter().filter(|t| t.carries(IpFamily::V6)) {
        let prerouting = table
            .chains
            .iter()
            .filter(|c| c.base.as_ref().is_some_and(|b| b.hook == Hook::Prerouting));
        for chain in prerouting {
            for rule in chain.rules.iter().filter(|r| r.action == Action::Drop) {
                let rpf = rule.matches.iter().any(|m| {
                    !m.negated
                        && matches!(&m.test, Test::Unknown(text) if is_rpfilter_failure_match(text))
                });
                if rpf {
                    out.push(rule_ref(table, &chain.name, rule));
                }
            }
        }
    }
    out
}

/// [`rpfilter_drop_rules`] over what the probe read (`ip6tables-save -c` and `nft -j`), the nft
/// copies of iptables-nft tables left out. `Err` names why nothing could be read.
pub fn rpfilter_rules_of(sources: &FirewallSources) -> Result<Vec<RuleRef>, String> {
    let mut ruleset = Ruleset::default();
    let mut on_nf_tables = false;
    let mut errors = Vec::new();
    match &sources.ip6tables {
        Ok(text) => match parse_iptables_save(text, IpFamily::V6) {
            Ok(r) => {
                on_nf_tables = iptables_uses_nf_tables(text);
                ruleset.tables.extend(r.tables);
            }
            Err(e) => errors.push(format!("ip6tables-save: {e}")),
        },
        Err(e) => errors.push(format!("ip6tables-save: {e}")),
    }
    let from_iptables = ruleset.tables.len();
    match &sources.nft {
        Ok(text) => match parse_nft_json(text) {
            Ok(r) => {
                for t in r.tables {
                    let duplicate = on_nf_tables
                        && ruleset.tables[..from_iptables]
                            .iter()
                            .any(|i| i.family == t.family && i.name == t.name);
                    if !duplicate {
                        ruleset.tables.push(t);
                    }
                }
            }
            Err(e) => errors.push(format!("nft: {e}")),
        },
        Err(e) => errors.push(format!("nft: {e}")),
    }
    if errors.len() == 2 {
        return Err(errors.join("; "));
    }
    Ok(rpfilter_drop_rules(&ruleset))
}

/// The same rule in two readings (counters and the nft text's counter words may differ).
pub fn same_rule(a: &RuleRef, b: &RuleRef) -> bool {
    a.backend == b.backend
        && a.family == b.family
        && a.table == b.table
        && a.chain == b.chain
        && a.position == b.position
        && a.handle == b.handle
}

/// A command that lets replies from `peer` (TCP source port `port`) skip `rule`, inserted just
/// before it, and the command that removes it again. No conntrack match: the raw table runs
/// before connection tracking, so a reply has no state there yet.
pub fn exception_for(rule: &RuleRef, peer: std::net::IpAddr, port: u16) -> (String, String) {
    let tag = format!("netdiag-rpfilter-{peer}-{port}");
    match rule.backend {
        Backend::Iptables => {
            let spec =
                format!("-s {peer}/128 -p tcp --sport {port} -m comment --comment {tag} -j ACCEPT");
            let place = match rule.position {
                Some(n) => format!("-I {} {n}", rule.chain),
                None => format!("-A {}", rule.chain),
            };
            (
                format!("ip6tables -t {} {place} {spec}", rule.table),
                format!("ip6tables -t {} -D {} {spec}", rule.table, rule.chain),
            )
        }
        Backend::Nft => {
            let chain = format!("{} {} {}", rule.family, rule.table, rule.chain);
            let body = format!("ip6 saddr {peer} tcp sport {port} accept comment \"{tag}\"");
            let fix = match rule.handle {
                Some(h) => format!("nft 'insert rule {chain} position {h} {body}'"),
                None => format!("nft 'insert rule {chain} {body}'"),
            };
            (
                fix,
                format!(
                    "nft delete rule {chain} handle $(nft -a list chain {chain} | awk '/comment \"{tag}\"/ {{print $NF}}')"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(ip6tables: &str, nft: &str) -> FirewallSources {
        FirewallSources {
            iptables: Err("not read".into()),
            ip6tables: Ok(ip6tables.into()),
            nft: Ok(nft.into()),
            legacy_tables_loaded: false,
            ephemeral: None,
        }
    }

    const FIREWALLD_RAW: &str =
        "# Generated by ip6tables-save v1.8.9 (nf_tables) on Wed Dec  2 06:24:36 2026
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[7:560] -A PREROUTING -m rpfilter --invert -j DROP
COMMIT
";

    #[test]
    fn match_texts_that_are_reverse_path_failures() {
        for (text, yes) in [
            ("-m rpfilter --invert", true),
            ("-m rpfilter --loose --invert", true),
            ("-m rpfilter", false),
            ("-m rpfilter --loose", false),
            ("fib saddr . iif oif missing", true),
            ("fib saddr oif missing", true),
            ("fib saddr . mark . iif oif missing", true),
            ("fib daddr type local", false),
            ("fib saddr . iif oif exists", false),
            ("-m conntrack --ctstate INVALID", false),
        ] {
            assert_eq!(is_rpfilter_failure_match(text), yes, "{text}");
        }
    }

    #[test]
    fn the_firewalld_ip6tables_rule_is_found_with_its_counter() {
        let rules = rpfilter_rules_of(&sources(FIREWALLD_RAW, "{\"nftables\": []}")).unwrap();
        assert_eq!(rules.len(), 1, "{rules:?}");
        let r = &rules[0];
        assert_eq!((r.table.as_str(), r.chain.as_str()), ("raw", "PREROUTING"));
        assert_eq!((r.position, r.packets), (Some(1), Some(7)));
        assert!(r.text.contains("rpfilter --invert"), "{}", r.text);
    }

    #[test]
    fn ip6tables_rpfilter_without_invert_or_in_input_is_not_one() {
        let accept = FIREWALLD_RAW.replace("--invert -j DROP", "-j ACCEPT");
        assert!(rpfilter_rules_of(&sources(&accept, "{}"))
            .unwrap()
            .is_empty());
        let input =
            "*filter\n:INPUT ACCEPT [0:0]\n[0:0] -A INPUT -m rpfilter --invert -j DROP\nCOMMIT\n";
        assert!(rpfilter_rules_of(&sources(input, "{}")).unwrap().is_empty());
    }

    const NFT: &str = r#"{"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}},
 {"chain": {"family": "inet", "table": "t", "name": "pre", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 2, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "iif"]}}, "right": false}}, {"counter": {"packets": 3, "bytes": 240}}, {"drop": null}]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 3, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr"]}}, "right": false}}, {"drop": null}]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 4, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"drop": null}]}}]}"#;

    #[test]
    fn nft_fib_rules_are_found_and_ip4_only_tables_are_not() {
        let rules = rpfilter_rules_of(&sources("", NFT)).unwrap();
        let handles: Vec<_> = rules.iter().map(|r| r.handle).collect();
        assert_eq!(handles, vec![Some(2), Some(3)], "{rules:?}");
        assert_eq!(rules[0].packets, Some(3));
        assert_eq!(rules[1].packets, None);
        assert!(
            rules[0].text.contains("fib saddr . iif oif missing"),
            "{}",
            rules[0].text
        );
        let ip4 = NFT.replace("\"inet\"", "\"ip\"");
        assert!(rpfilter_rules_of(&sources("", &ip4)).unwrap().is_empty());
    }

    #[test]
    fn nothing_readable_is_an_error_naming_both() {
        let none = FirewallSources::unreadable("needs CAP_NET_ADMIN");
        let e = rpfilter_rules_of(&none).unwrap_err();
        assert!(e.contains("ip6tables-save") && e.contains("nft"), "{e}");
    }

    #[test]
    fn exceptions_go_just_before_the_rule() {
        let rules = rpfilter_rules_of(&sources(FIREWALLD_RAW, "{}")).unwrap();
        let peer = "fd77:2::2".parse().unwrap();
        let (fix, rollback) = exception_for(&rules[0], peer, 8080);
        assert_eq!(fix, "ip6tables -t raw -I PREROUTING 1 -s fd77:2::2/128 -p tcp --sport 8080 -m comment --comment netdiag-rpfilter-fd77:2::2-8080 -j ACCEPT");
        assert_eq!(rollback, "ip6tables -t raw -D PREROUTING -s fd77:2::2/128 -p tcp --sport 8080 -m comment --comment netdiag-rpfilter-fd77:2::2-8080 -j ACCEPT");
        let nft = rpfilter_rules_of(&sources("", NFT)).unwrap();
        let (fix, rollback) = exception_for(&nft[0], peer, 8080);
        assert!(
            fix.starts_with(
                "nft 'insert rule inet t pre position 2 ip6 saddr fd77:2::2 tcp sport 8080 accept"
            ),
            "{fix}"
        );
        assert!(
            rollback.starts_with("nft delete rule inet t pre handle"),
            "{rollback}"
        );
    }
}
