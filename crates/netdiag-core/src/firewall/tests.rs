//! Table tests on rulesets captured from real `iptables-save -c`, `ip6tables-save -c` and
//! `nft -j list ruleset` in a throwaway network namespace (see `testdata/`; the nft ruleset was
//! loaded from `testdata/nft-ruleset.nft`).

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

const IPT: &str = include_str!("testdata/iptables-nft-save-c.txt");
const IP6T: &str = include_str!("testdata/ip6tables-nft-save-c.txt");
const NFT: &str = include_str!("testdata/nft-ruleset.json");
const NFT_XT: &str = include_str!("testdata/nft-iptables-nft-table.json");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn flow(hook: FlowHook, proto: Proto, src: &str, dst: &str, dport: Option<u16>) -> Flow {
    let src = ip(src);
    Flow {
        family: if src.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        },
        hook,
        proto,
        src,
        dst: ip(dst),
        sport: None,
        dport,
        iif: None,
        oif: None,
        reply: false,
        ephemeral: None,
    }
}

fn ipt() -> Ruleset {
    parse_iptables_save(IPT, IpFamily::V4).unwrap()
}

fn nft() -> Ruleset {
    parse_nft_json(NFT).unwrap()
}

/// Short form of a verdict for table tests: outcome and where it was decided.
fn short(v: &FirewallVerdict) -> String {
    fn outcome(o: &Outcome) -> String {
        match o {
            Outcome::Accepted => "accepted".into(),
            Outcome::Dropped => "dropped".into(),
            Outcome::Rejected { with } => format!("rejected({with})"),
            Outcome::Possible {
                uncertain,
                otherwise,
            } => format!(
                "possible[{}] else {}",
                uncertain
                    .iter()
                    .map(|u| format!("{}#{}", u.rule.chain, u.rule.position.unwrap_or(0)))
                    .collect::<Vec<_>>()
                    .join(","),
                outcome(otherwise)
            ),
        }
    }
    let at = match &v.deciding_rule {
        None => String::new(),
        Some(r) => match r.position {
            None => format!(" @{}/{}:policy", r.table, r.chain),
            Some(p) => format!(" @{}/{}#{p}", r.table, r.chain),
        },
    };
    format!("{}{at}", outcome(&v.outcome))
}

#[test]
fn iptables_table() {
    use FlowHook::*;
    use Proto::*;
    let rs = ipt();
    let with_iif = |mut f: Flow, i: &str| {
        f.iif = Some(i.into());
        f
    };
    let with_sport = |mut f: Flow, p: u16| {
        f.sport = Some(p);
        f
    };
    let cases: Vec<(&str, Flow, &str)> = vec![
        (
            "-d/-p/--dport REJECT --reject-with",
            flow(Output, Tcp, "10.66.0.1", "10.66.0.2", Some(8080)),
            "rejected(icmp-admin-prohibited) @filter/OUTPUT#1",
        ),
        (
            "-m mark is possible",
            flow(Output, Tcp, "10.66.0.1", "10.66.0.3", Some(8080)),
            "possible[OUTPUT#3] else accepted",
        ),
        (
            "-o + --icmp-type DROP",
            Flow {
                oif: Some("eth9".into()),
                reply: false,
                ephemeral: None,
                ..flow(Output, Icmp, "10.66.0.1", "10.66.0.3", None)
            },
            "dropped @filter/OUTPUT#2",
        ),
        (
            "unknown oif makes an icmp drop possible",
            flow(Output, Icmp, "10.66.0.1", "10.66.0.3", None),
            "possible[OUTPUT#2,OUTPUT#3] else accepted",
        ),
        (
            "multiport ACCEPT",
            with_iif(
                flow(Input, Tcp, "192.0.2.5", "10.66.0.1", Some(443)),
                "eth0",
            ),
            "accepted",
        ),
        (
            "policy DROP",
            with_iif(
                flow(Input, Tcp, "192.0.2.5", "10.66.0.1", Some(3306)),
                "eth0",
            ),
            "dropped @filter/INPUT:policy",
        ),
        (
            "-i lo ACCEPT",
            with_iif(flow(Input, Tcp, "127.0.0.1", "127.0.0.1", Some(3306)), "lo"),
            "accepted",
        ),
        (
            "unknown iif: -i lo accept is possible",
            flow(Input, Tcp, "192.0.2.5", "10.66.0.1", Some(3306)),
            "possible[INPUT#2] else dropped @filter/INPUT:policy",
        ),
        (
            "-s CIDR jump, --sport range ACCEPT",
            with_sport(
                with_iif(
                    flow(Input, Tcp, "10.1.1.1", "10.66.0.1", Some(5432)),
                    "eth0",
                ),
                40000,
            ),
            "accepted",
        ),
        (
            "--sport unknown",
            with_iif(
                flow(Input, Tcp, "10.1.1.1", "10.66.0.1", Some(5432)),
                "eth0",
            ),
            "possible[APP#3] else dropped @filter/INPUT:policy",
        ),
        (
            "udp --dport in user chain",
            with_iif(flow(Input, Udp, "10.1.1.1", "10.66.0.1", Some(53)), "eth0"),
            "accepted",
        ),
        (
            "! -p tcp RETURN then policy",
            with_iif(
                flow(Input, Udp, "10.1.1.1", "10.66.0.1", Some(1234)),
                "eth0",
            ),
            "dropped @filter/INPUT:policy",
        ),
        (
            "raw PREROUTING DROP",
            with_iif(
                flow(Input, Udp, "10.1.1.1", "10.66.0.1", Some(9999)),
                "eth0",
            ),
            "dropped @raw/PREROUTING#1",
        ),
    ];
    for (name, f, want) in cases {
        let v = evaluate(&rs, &f);
        assert_eq!(short(&v), want, "{name}: trail {:#?}", v.trail);
    }
}

#[test]
fn iptables_reject_counters_and_fix() {
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "10.66.0.1",
        "10.66.0.2",
        Some(8080),
    );
    let v = evaluate(&ipt(), &f);
    let r = v.deciding_rule.clone().unwrap();
    assert_eq!(r.backend, Backend::Iptables);
    assert_eq!(
        r.text,
        "-A OUTPUT -d 10.66.0.2/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited"
    );
    assert_eq!((r.packets, r.bytes), (Some(0), Some(0)));
    assert!(
        v.trail
            .iter()
            .any(|t| t.contains("nat POSTROUTING") && t.contains("skipped"))
            || v.trail.iter().any(|t| t.contains("mangle OUTPUT"))
    );
    let fix = scoped_fix(&v, &f);
    let spec = "-s 10.66.0.1/32 -d 10.66.0.2/32 -p tcp --dport 8080 -m comment --comment netdiag-allow-tcp-10.66.0.1-10.66.0.2-8080 -j ACCEPT";
    assert_eq!(
        fix.fix,
        vec![format!("iptables -t filter -I OUTPUT 1 {spec}")]
    );
    assert_eq!(
        fix.rollback,
        vec![format!("iptables -t filter -D OUTPUT {spec}")]
    );
    assert_eq!(
        fix.prestate,
        vec!["iptables-save -c > /var/tmp/netdiag-iptables.before"]
    );
}

#[test]
fn policy_drop_fix_appends_and_nat_is_skipped() {
    let mut f = flow(
        FlowHook::Input,
        Proto::Tcp,
        "192.0.2.5",
        "10.66.0.1",
        Some(3306),
    );
    f.iif = Some("eth0".into());
    let v = evaluate(&ipt(), &f);
    assert_eq!(v.deciding_rule.as_ref().unwrap().text, "-P INPUT DROP");
    let fix = scoped_fix(&v, &f);
    assert!(
        fix.fix[0].starts_with(
            "iptables -t filter -A INPUT -s 192.0.2.5/32 -d 10.66.0.1/32 -p tcp --dport 3306"
        ),
        "{fix:?}"
    );
    let out = evaluate(
        &ipt(),
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.66.0.1",
            "192.0.2.1",
            Some(25),
        ),
    );
    assert!(
        out.trail
            .iter()
            .any(|t| t.contains("nat POSTROUTING") && t.contains("skipped")),
        "{:#?}",
        out.trail
    );
}

#[test]
fn ip6tables_table_and_fix() {
    let rs = parse_iptables_save(IP6T, IpFamily::V6).unwrap();
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "2001:db8:1::1",
        "2001:db8::5",
        Some(443),
    );
    let v = evaluate(&rs, &f);
    assert_eq!(short(&v), "rejected(tcp-reset) @filter/OUTPUT#1");
    let v2 = evaluate(
        &rs,
        &flow(FlowHook::Output, Proto::Udp, "fd00::2", "fd00::1", Some(53)),
    );
    assert_eq!(short(&v2), "dropped @filter/OUTPUT#2");
    assert!(v2
        .deciding_rule
        .unwrap()
        .text
        .contains("--comment \"block \\\"quoted\\\" thing\""));
    let fix = scoped_fix(&v, &f);
    assert!(fix.fix[0].starts_with("ip6tables -t filter -I OUTPUT 1 -s 2001:db8:1::1/128 -d 2001:db8::5/128 -p tcp --dport 443"), "{fix:?}");
    assert_eq!(
        fix.prestate,
        vec!["ip6tables-save -c > /var/tmp/netdiag-ip6tables.before"]
    );
    // An IPv4 flow never sees ip6tables.
    let v4 = evaluate(
        &rs,
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.0.0.1",
            "10.0.0.2",
            Some(443),
        ),
    );
    assert_eq!(short(&v4), "accepted");
}

#[test]
fn nft_table() {
    use FlowHook::*;
    use Proto::*;
    let rs = nft();
    let eth0 = |mut f: Flow| {
        f.iif = Some("eth0".into());
        f
    };
    let sport = |mut f: Flow, p: u16| {
        f.sport = Some(p);
        f
    };
    let cases: Vec<(&str, Flow, &str)> = vec![
        (
            "ip daddr + tcp dport drop",
            flow(Output, Tcp, "10.66.0.1", "10.66.0.2", Some(8080)),
            "dropped @filter/output#1",
        ),
        (
            "ip6 prefix + anonymous set reject tcp reset",
            flow(Output, Tcp, "2001:db8:1::1", "2001:db8::1", Some(8443)),
            "rejected(tcp reset) @filter/output#2",
        ),
        (
            "udp dport reject icmp",
            flow(Output, Udp, "10.66.0.1", "192.0.2.1", Some(9000)),
            "rejected(icmp port-unreachable) @filter/output#4",
        ),
        (
            "notrack is no verdict",
            flow(Output, Tcp, "10.66.0.1", "203.0.113.9", Some(80)),
            "accepted",
        ),
        (
            "named interval set drop",
            eth0(flow(Input, Tcp, "192.0.2.9", "10.66.0.1", Some(22))),
            "dropped @filter/input#3",
        ),
        (
            "named set single element",
            eth0(flow(Input, Tcp, "198.51.100.7", "10.66.0.1", Some(22))),
            "dropped @filter/input#3",
        ),
        (
            "named port set accept",
            eth0(flow(Input, Tcp, "203.0.113.1", "10.66.0.1", Some(443))),
            "accepted",
        ),
        (
            "meta l4proto set + th dport",
            eth0(flow(Input, Udp, "203.0.113.1", "10.66.0.1", Some(53))),
            "accepted",
        ),
        (
            "jump, != return not taken, sport range accept",
            sport(
                eth0(flow(Input, Tcp, "10.1.2.3", "10.66.0.1", Some(5432))),
                40000,
            ),
            "accepted",
        ),
        (
            "goto chain reject icmpx",
            sport(
                eth0(flow(Input, Tcp, "10.9.9.9", "10.66.0.1", Some(5432))),
                40000,
            ),
            "rejected(icmpx admin-prohibited) @filter/app2#1",
        ),
        (
            "return, meta mark unknown, policy drop",
            eth0(flow(Input, Tcp, "10.9.9.9", "10.66.0.1", Some(6000))),
            "dropped @filter/input:policy",
        ),
        (
            "ip6 nexthdr icmpv6 accept",
            eth0(flow(Input, Icmp, "2001:db8::9", "2001:db8::1", None)),
            "accepted",
        ),
        (
            "ip saddr never matches IPv6",
            eth0(flow(Input, Tcp, "2001:db8::9", "2001:db8::1", Some(6000))),
            "dropped @filter/input:policy",
        ),
        (
            "raw prerouting drop",
            eth0(flow(Input, Udp, "203.0.113.1", "10.66.0.1", Some(9999))),
            "dropped @raw/pre#1",
        ),
        (
            "ct state new is not established",
            eth0(flow(Input, Tcp, "203.0.113.1", "10.66.0.1", Some(7))),
            "dropped @filter/input:policy",
        ),
    ];
    for (name, f, want) in cases {
        let v = evaluate(&rs, &f);
        assert_eq!(short(&v), want, "{name}: trail {:#?}", v.trail);
    }
}

#[test]
fn nft_rule_text_handle_counters_and_fix() {
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "10.66.0.1",
        "10.66.0.2",
        Some(8080),
    );
    let v = evaluate(&nft(), &f);
    let r = v.deciding_rule.clone().unwrap();
    assert_eq!(
        (r.backend, r.family.as_str(), r.handle, r.packets),
        (Backend::Nft, "inet", Some(22), Some(0))
    );
    assert_eq!(
        r.text,
        "ip daddr 10.66.0.2 tcp dport 8080 counter packets 0 bytes 0 drop"
    );
    let fix = scoped_fix(&v, &f);
    assert_eq!(
        fix.fix,
        vec!["nft 'insert rule inet filter output position 22 ip saddr 10.66.0.1 ip daddr 10.66.0.2 tcp dport 8080 counter accept comment \"netdiag-allow-tcp-10.66.0.1-10.66.0.2-8080\"'"]
    );
    assert_eq!(
        fix.rollback,
        vec!["nft delete rule inet filter output handle $(nft -a list chain inet filter output | awk '/comment \"netdiag-allow-tcp-10.66.0.1-10.66.0.2-8080\"/ {print $NF}')"]
    );
    assert_eq!(
        fix.prestate,
        vec!["nft -a list ruleset > /var/tmp/netdiag-nft.before"]
    );
    for cmd in fix.fix.iter().chain(&fix.rollback) {
        assert!(!cmd.contains("0.0.0.0/0") && !cmd.contains("::/0"));
    }
}

#[test]
fn fix_goes_before_an_uncertain_blocker_in_the_same_base_chain() {
    let mut f = flow(
        FlowHook::Input,
        Proto::Tcp,
        "10.9.9.9",
        "10.66.0.1",
        Some(6000),
    );
    f.iif = Some("eth0".into());
    let v = evaluate(&nft(), &f);
    assert_eq!(v.uncertain_blockers.len(), 1);
    assert_eq!(v.uncertain_blockers[0].rule.handle, Some(15));
    let fix = scoped_fix(&v, &f);
    assert_eq!(fix.fix.len(), 1, "{fix:?}");
    assert!(
        fix.fix[0].contains("insert rule inet filter input position 15 "),
        "{fix:?}"
    );
}

#[test]
fn accepted_flow_needs_no_fix() {
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "10.66.0.1",
        "203.0.113.9",
        Some(80),
    );
    assert_eq!(scoped_fix(&evaluate(&nft(), &f), &f), ScopedFix::default());
}

#[test]
fn iptables_nft_tables_are_not_counted_twice() {
    assert!(iptables_uses_nf_tables(IPT));
    assert!(!iptables_uses_nf_tables(
        "# Generated by iptables-save v1.8.9 (legacy) on x\n*filter\nCOMMIT\n"
    ));
    let xt = parse_nft_json(NFT_XT).unwrap();
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "10.66.0.1",
        "10.66.0.2",
        Some(8080),
    );
    // Alone, the nft view of an iptables-nft rule is an xt target we cannot follow.
    assert!(matches!(
        evaluate(&xt, &f).outcome,
        Outcome::Possible { .. }
    ));
    let both = combine(&[ipt()], Some(&xt), true);
    assert_eq!(both.tables.iter().filter(|t| t.name == "filter").count(), 1);
    assert_eq!(
        short(&evaluate(&both, &f)),
        "rejected(icmp-admin-prohibited) @filter/OUTPUT#1"
    );
    // With legacy iptables, nft tables of the same name are separate tables.
    assert_eq!(
        combine(&[ipt()], Some(&xt), false)
            .tables
            .iter()
            .filter(|t| t.name == "filter")
            .count(),
        2
    );
}

#[test]
fn merged_backends_run_in_priority_order() {
    // raw (-300) runs before filter (0), whichever backend holds it.
    let both = combine(&[ipt()], Some(&nft()), false);
    let mut f = flow(
        FlowHook::Input,
        Proto::Udp,
        "10.1.1.1",
        "10.66.0.1",
        Some(9999),
    );
    f.iif = Some("eth0".into());
    let v = evaluate(&both, &f);
    assert_eq!(short(&v), "dropped @raw/PREROUTING#1");
    let f = flow(
        FlowHook::Output,
        Proto::Tcp,
        "10.66.0.1",
        "10.66.0.2",
        Some(8080),
    );
    // iptables filter OUTPUT and nft inet filter output both have priority 0: first read wins.
    assert_eq!(
        short(&evaluate(&both, &f)),
        "rejected(icmp-admin-prohibited) @filter/OUTPUT#1"
    );
}

#[test]
fn jump_loops_become_possible_not_a_hang() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A OUTPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n";
    let rs = parse_iptables_save(text, IpFamily::V4).unwrap();
    let v = evaluate(
        &rs,
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.0.0.1",
            "10.0.0.2",
            Some(1),
        ),
    );
    assert!(matches!(v.outcome, Outcome::Possible { .. }), "{v:?}");
}

#[test]
fn unevaluable_iptables_matches_are_kept_as_text() {
    let text = "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m set --match-set blocked dst -j DROP\n-A OUTPUT -m string --string \"x y\" --algo bm -j REJECT\n-A OUTPUT -m recent --rcheck -j DROP\n-A OUTPUT -j NFQUEUE --queue-num 1\nCOMMIT\n";
    let rs = parse_iptables_save(text, IpFamily::V4).unwrap();
    let v = evaluate(
        &rs,
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.0.0.1",
            "10.0.0.2",
            Some(1),
        ),
    );
    let Outcome::Possible {
        uncertain,
        otherwise,
    } = &v.outcome
    else {
        panic!("{v:?}")
    };
    assert_eq!(**otherwise, Outcome::Accepted);
    let reasons: Vec<String> = uncertain
        .iter()
        .flat_map(|u| u.cannot_evaluate.clone())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "-m set --match-set blocked dst",
            "-m string --string x y --algo bm",
            "-m recent --rcheck",
            "verdict -j NFQUEUE",
        ]
    );
    assert_eq!(uncertain[1].would, "reject with icmp-port-unreachable");
}

#[test]
fn negation_after_an_unknown_module_stays_with_its_option() {
    let text = "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m set --match-set x dst ! -d 10.0.0.0/8 -j DROP\nCOMMIT\n";
    let rs = parse_iptables_save(text, IpFamily::V4).unwrap();
    let v = evaluate(
        &rs,
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.0.0.1",
            "10.0.0.2",
            Some(1),
        ),
    );
    assert_eq!(short(&v), "accepted", "{v:?}");
    let v = evaluate(
        &rs,
        &flow(
            FlowHook::Output,
            Proto::Tcp,
            "10.0.0.1",
            "192.0.2.1",
            Some(1),
        ),
    );
    assert_eq!(short(&v), "possible[OUTPUT#1] else accepted");
}

#[test]
fn parse_errors_name_the_line() {
    let e = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n-A NOPE -j DROP\n",
        IpFamily::V4,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "iptables-save line 3: rule for undeclared chain NOPE"
    );
    let e = parse_iptables_save("-A INPUT -j DROP\n", IpFamily::V4).unwrap_err();
    assert!(matches!(e, ParseError::IptablesLine { line: 1, .. }));
    let e = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"x -j DROP\n",
        IpFamily::V4,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "iptables-save line 3: unterminated quote");
    assert!(matches!(parse_nft_json("{"), Err(ParseError::NftJson(_))));
    assert!(matches!(
        parse_nft_json(
            "{\"nftables\":[{\"chain\":{\"family\":\"ip\",\"table\":\"x\",\"name\":\"y\"}}]}"
        ),
        Err(ParseError::NftObject { index: 0, .. })
    ));
}

#[test]
fn cidr_contains() {
    let c = |s: &str| iptables::parse_cidr(s).unwrap();
    assert!(c("10.0.0.0/8").contains(ip("10.255.0.1")));
    assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(c("0.0.0.0/0").contains(ip("192.0.2.1")));
    assert!(!c("0.0.0.0/0").contains(ip("::1")));
    assert!(c("10.0.0.0/255.255.0.0").contains(ip("10.0.9.9")));
    assert!(c("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
    assert!(!c("2001:db8::/32").contains(ip("2001:db9::1")));
    assert!(iptables::parse_cidr("10.0.0.0/33").is_none());
}

proptest! {
    #[test]
    fn iptables_parser_never_panics(s in "\\PC*") {
        let _ = parse_iptables_save(&s, IpFamily::V4);
    }

    #[test]
    fn iptables_parser_never_panics_on_rule_like_lines(
        lines in proptest::collection::vec(
            "(\\*filter|:[A-Z]{1,6} (ACCEPT|DROP|-) \\[[0-9]{1,3}:[0-9]{1,3}\\]|(\\[1:2\\] )?-A [A-Z]{1,6}( (!|-[psdijgmf]|--[a-z-]{1,12}|[a-z0-9.:/,\"]{0,10}))*|COMMIT)",
            0..12,
        ),
        port in proptest::option::of(any::<u16>()),
    ) {
        let text = lines.join("\n");
        if let Ok(rs) = parse_iptables_save(&text, IpFamily::V4) {
            let mut f = flow(FlowHook::Output, Proto::Tcp, "10.0.0.1", "10.0.0.2", port);
            let v = evaluate(&rs, &f);
            let _ = scoped_fix(&v, &f);
            f.hook = FlowHook::Forward;
            let _ = evaluate(&rs, &f);
        }
    }

    #[test]
    fn nft_parser_never_panics(s in "\\PC*") {
        let _ = parse_nft_json(&s);
    }

    #[test]
    fn nft_parser_never_panics_on_mangled_fixture(cut in 0usize..6439, junk in "[\\[\\]{}\",:0-9a-z@-]{0,8}") {
        let mut text: String = NFT.chars().take(cut).collect();
        text.push_str(&junk);
        text.extend(NFT.chars().skip(cut + junk.len()));
        if let Ok(rs) = parse_nft_json(&text) {
            let f = flow(FlowHook::Input, Proto::Tcp, "10.0.0.1", "10.0.0.2", Some(22));
            let _ = scoped_fix(&evaluate(&rs, &f), &f);
        }
    }
}

#[test]
fn an_ephemeral_port_is_decided_against_the_local_port_range() {
    let rules = parse_iptables_save(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 1024:65535 -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n",
        IpFamily::V4,
    )
    .unwrap();
    let mut reply = Flow {
        family: IpFamily::V4,
        hook: FlowHook::Input,
        proto: Proto::Tcp,
        src: "10.0.0.2".parse().unwrap(),
        dst: "10.0.0.1".parse().unwrap(),
        sport: Some(443),
        dport: None,
        iif: None,
        oif: None,
        reply: true,
        ephemeral: Some((32768, 60999)),
    };
    // 22 is outside the range, 1024:65535 covers it and the reply is ESTABLISHED: accepted.
    let v = evaluate(&rules, &reply);
    assert_eq!(v.outcome, Outcome::Accepted, "{:?}", v.trail);
    // As a new flow the conntrack rule does not match: the policy drops it.
    reply.reply = false;
    let v = evaluate(&rules, &reply);
    assert_eq!(v.outcome, Outcome::Dropped, "{:?}", v.trail);
    // Without the range the port is unknown: possible, not decided.
    reply.reply = true;
    reply.ephemeral = None;
    let v = evaluate(&rules, &reply);
    assert!(
        matches!(v.outcome, Outcome::Possible { .. }),
        "{:?}",
        v.outcome
    );
}

fn sources_flow() -> Flow {
    Flow {
        family: IpFamily::V4,
        hook: FlowHook::Output,
        proto: Proto::Tcp,
        src: "10.66.0.1".parse().unwrap(),
        dst: "10.66.0.2".parse().unwrap(),
        sport: None,
        dport: Some(8080),
        iif: None,
        oif: None,
        reply: false,
        ephemeral: None,
    }
}

#[test]
fn no_source_readable_means_no_verdict_and_says_why() {
    let no = || Err("needs CAP_NET_ADMIN (run as root to read the firewall)".to_owned());
    let r = explain_sources(
        &sources_flow(),
        &FirewallSources {
            iptables: no(),
            ip6tables: no(),
            nft: no(),
            legacy_tables_loaded: false,
            ephemeral: None,
        },
    );
    assert_eq!(r.verdict, None);
    assert_eq!(r.notes.len(), 3);
    assert!(r.notes[0].contains("needs CAP_NET_ADMIN"));
}

#[test]
fn a_broken_source_is_a_note_and_the_others_still_count() {
    let r = explain_sources(
        &sources_flow(),
        &FirewallSources {
            iptables: Ok(
                "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.66.0.2/32 -j DROP\nCOMMIT\n".into(),
            ),
            ip6tables: Err("ip6tables-save not found on PATH".into()),
            nft: Ok("not json".into()),
            legacy_tables_loaded: false,
            ephemeral: None,
        },
    );
    let v = r.verdict.unwrap();
    assert_eq!(v.outcome, Outcome::Dropped);
    assert!(r.notes.iter().any(|n| n.starts_with("nft: nft -j output")));
    assert_eq!(r.fix.fix.len(), 1);
}
