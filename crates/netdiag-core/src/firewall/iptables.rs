//! `iptables-save` / `ip6tables-save` text into the model.
//!
//! Both backends (legacy and nf_tables) print this format, which is why we read it rather than
//! netlink: one parser covers both. Options we do not evaluate are kept as [`Test::Unknown`] with
//! their text, so the walk can say "possible" instead of guessing. Only structural problems (a
//! rule outside a table, an unterminated quote, an undeclared chain) are errors.

use std::net::IpAddr;

use super::{
    Action, Backend, BaseChain, Chain, Cidr, Counters, Hook, IpFamily, Match, ParseError, Policy,
    Rule, Ruleset, Table, Test,
};

/// Parses `iptables-save` (`family` V4) or `ip6tables-save` (V6) output, with or without `-c`
/// counters.
pub fn parse_iptables_save(text: &str, family: IpFamily) -> Result<Ruleset, ParseError> {
    let fam = match family {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ip6",
    };
    let mut ruleset = Ruleset::default();
    let mut current: Option<Table> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let err = |reason: String| ParseError::IptablesLine {
            line: line_no,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some(t) = current.take() {
                ruleset.tables.push(t);
            }
            current = Some(Table {
                backend: Backend::Iptables,
                family: fam.to_owned(),
                name: name.trim().to_owned(),
                chains: Vec::new(),
            });
            continue;
        }
        if line == "COMMIT" {
            match current.take() {
                Some(t) => ruleset.tables.push(t),
                None => return Err(err("COMMIT outside a table".into())),
            }
            continue;
        }
        let Some(table) = current.as_mut() else {
            return Err(err(format!("`{}` outside a table", clip(line))));
        };
        if let Some(decl) = line.strip_prefix(':') {
            table
                .chains
                .push(parse_chain_decl(decl, &table.name).map_err(err)?);
            continue;
        }
        let (counters, rest) = split_counters(line).map_err(err)?;
        let tokens = tokenize(rest).map_err(err)?;
        let mut it = tokens.iter();
        match it.next().map(String::as_str) {
            Some("-A") | Some("--append") => {}
            _ => return Err(err(format!("not a rule: `{}`", clip(line)))),
        }
        let Some(chain_name) = it.next() else {
            return Err(err("-A without a chain".into()));
        };
        let args: Vec<String> = it.cloned().collect();
        let chain_names: Vec<String> = table.chains.iter().map(|c| c.name.clone()).collect();
        let (matches, action, inline_counters) = parse_rule_args(&args, family, &chain_names);
        let Some(chain) = table.chains.iter_mut().find(|c| &c.name == chain_name) else {
            return Err(err(format!("rule for undeclared chain {chain_name}")));
        };
        chain.rules.push(Rule {
            position: chain.rules.len() + 1,
            handle: None,
            matches,
            action,
            counters: counters.or(inline_counters),
            text: rest.to_owned(),
        });
    }
    if let Some(t) = current.take() {
        // A dump cut short (no COMMIT) still says what it says.
        ruleset.tables.push(t);
    }
    Ok(ruleset)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn hook_of(chain: &str) -> Option<Hook> {
    Some(match chain {
        "PREROUTING" => Hook::Prerouting,
        "INPUT" => Hook::Input,
        "FORWARD" => Hook::Forward,
        "OUTPUT" => Hook::Output,
        "POSTROUTING" => Hook::Postrouting,
        _ => return None,
    })
}

/// The priorities iptables registers its tables with (`NF_IP_PRI_*`).
fn priority(table: &str, hook: Hook) -> i32 {
    match table {
        "raw" => -300,
        "mangle" => -150,
        "nat" => match hook {
            Hook::Prerouting | Hook::Output => -100,
            _ => 100,
        },
        "security" => 50,
        _ => 0,
    }
}

fn parse_counters(s: &str) -> Option<Counters> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = inner.split_once(':')?;
    Some(Counters {
        packets: p.parse().ok()?,
        bytes: b.parse().ok()?,
    })
}

fn parse_chain_decl(decl: &str, table: &str) -> Result<Chain, String> {
    let mut parts = decl.split_whitespace();
    let name = parts.next().ok_or("chain declaration without a name")?;
    let policy = parts.next().unwrap_or("-");
    let counters = parts.next().and_then(parse_counters);
    let base = match (policy, hook_of(name)) {
        ("-", _) => None,
        (p, Some(hook)) => Some(BaseChain {
            hook,
            priority: priority(table, hook),
            policy: match p {
                "ACCEPT" => Policy::Accept,
                "DROP" => Policy::Drop,
                other => return Err(format!("unknown policy {other} for chain {name}")),
            },
            kind: if table == "nat" { "nat" } else { "filter" }.to_owned(),
        }),
        (_, None) => return Err(format!("policy for non-built-in chain {name}")),
    };
    Ok(Chain {
        name: name.to_owned(),
        base,
        rules: Vec::new(),
        counters,
    })
}

fn split_counters(line: &str) -> Result<(Option<Counters>, &str), String> {
    if !line.starts_with('[') {
        return Ok((None, line));
    }
    let end = line.find(']').ok_or("unterminated counters")?;
    let (head, rest) = line.split_at(end + 1);
    let counters = parse_counters(head).ok_or_else(|| format!("bad counters {head}"))?;
    Ok((Some(counters), rest.trim_start()))
}

/// Splits like iptables-save quotes: double quotes group, backslash escapes inside them.
fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("unterminated quote".into()),
                        },
                        Some(o) => cur.push(o),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        out.push(cur);
    }
    Ok(out)
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "all" | "0" => 0,
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        n => return n.parse().ok(),
    })
}

pub(super) fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            // A dotted mask (`255.255.0.0`), as old tools print.
            Err(_) => match l.parse::<IpAddr>().ok()? {
                IpAddr::V4(m) => u32::from(m).count_ones() as u8,
                IpAddr::V6(m) => u128::from(m).count_ones() as u8,
            },
        },
    };
    Some(Cidr { addr, len })
}

fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { a.parse().ok()? };
            let hi = if b.is_empty() {
                u16::MAX
            } else {
                b.parse().ok()?
            };
            Some((lo, hi))
        }
        None => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
    }
}

fn port_list(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',').map(port_range).collect()
}

/// Targets that do not end the traversal.
pub(super) const NON_TERMINATING: &[&str] = &[
    "LOG",
    "NFLOG",
    "ULOG",
    "MARK",
    "CONNMARK",
    "CT",
    "NOTRACK",
    "TCPMSS",
    "CLASSIFY",
    "DSCP",
    "TOS",
    "TTL",
    "HL",
    "TRACE",
    "AUDIT",
    "SET",
    "CHECKSUM",
    "SECMARK",
    "CONNSECMARK",
    "TEE",
    "IDLETIMER",
    "LED",
    "HMARK",
    "RATEEST",
    "TCPOPTSTRIP",
];

fn is_short_option(t: &str) -> bool {
    t.starts_with('-') && !t.starts_with("--") && t.len() > 1
}

fn is_option(t: &str) -> bool {
    t == "!" || (t.starts_with('-') && t.len() > 1 && t.parse::<i64>().is_err())
}

type Parsed = (Vec<Match>, Action, Option<Counters>);

fn parse_rule_args(args: &[String], family: IpFamily, chains: &[String]) -> Parsed {
    let mut p = RuleArgs {
        args,
        matches: Vec::new(),
        action: Action::Continue,
        counters: None,
        negated: false,
    };
    let mut i = 0;
    while let Some(opt) = args.get(i).map(String::as_str) {
        i = match opt {
            "!" => {
                p.negated = true;
                i + 1
            }
            "-p" | "--protocol" | "-s" | "--source" | "-d" | "--destination" | "-i"
            | "--in-interface" | "-o" | "--out-interface" | "-f" | "--fragment" => {
                p.basic_match(opt, i)
            }
            "-c" | "--set-counters" => p.set_counters(i),
            "-m" | "--match" => p.match_module(i),
            "-j" | "--jump" | "-g" | "--goto" => p.target(opt, i, family, chains),
            _ => p.module_option(opt, i),
        };
    }
    (p.matches, p.action, p.counters)
}

/// The state of parsing one rule's arguments: what was parsed so far and whether a `!` is
/// pending for the next match. Each option group's method takes the index of its option and
/// returns the index of the next one.
struct RuleArgs<'a> {
    args: &'a [String],
    matches: Vec<Match>,
    action: Action,
    counters: Option<Counters>,
    negated: bool,
}

impl<'a> RuleArgs<'a> {
    /// The token after the option at `i` ("" when missing).
    fn value(&self, i: usize) -> &'a str {
        self.args.get(i + 1).map(String::as_str).unwrap_or("")
    }

    /// The values of an option: tokens up to the next option.
    fn values(&self, i: usize) -> Vec<&'a str> {
        self.args
            .iter()
            .skip(i + 1)
            .take_while(|t| !is_option(t))
            .map(String::as_str)
            .collect()
    }

    /// Adds a match, negated if a `!` is pending, and clears the pending `!`.
    fn push(&mut self, test: Test) {
        self.matches.push(Match {
            negated: self.negated,
            test,
        });
        self.negated = false;
    }

    /// `-p`, `-s`, `-d`, `-i`, `-o`, `-f`: the basic matches.
    fn basic_match(&mut self, opt: &str, i: usize) -> usize {
        let v = self.value(i);
        match opt {
            "-p" | "--protocol" => {
                self.push(match proto_number(v) {
                    Some(n) => Test::Proto(vec![n]),
                    None => Test::Unknown(format!("-p {v}")),
                });
                i + 2
            }
            "-s" | "--source" | "-d" | "--destination" => {
                let cidrs: Option<Vec<Cidr>> = v.split(',').map(parse_cidr).collect();
                let test = match cidrs {
                    Some(c) if opt.starts_with("-s") || opt == "--source" => Test::Src(c),
                    Some(c) => Test::Dst(c),
                    None => Test::Unknown(format!("{opt} {v}")),
                };
                self.push(test);
                i + 2
            }
            "-i" | "--in-interface" => {
                self.push(Test::InIface(vec![v.to_owned()]));
                i + 2
            }
            "-o" | "--out-interface" => {
                self.push(Test::OutIface(vec![v.to_owned()]));
                i + 2
            }
            _ => {
                // -f / --fragment
                self.push(Test::Unknown("-f".into()));
                i + 1
            }
        }
    }

    /// `-c PACKETS BYTES`.
    fn set_counters(&mut self, i: usize) -> usize {
        self.counters = match (
            self.value(i).parse(),
            self.args.get(i + 2).map(|b| b.parse()),
        ) {
            (Ok(packets), Some(Ok(bytes))) => Some(Counters { packets, bytes }),
            _ => self.counters,
        };
        i + 3
    }

    /// `-m MODULE`: known modules' options follow as their own tokens; an unknown module and
    /// its options become one unknown match.
    fn match_module(&mut self, i: usize) -> usize {
        let args = self.args;
        let module = self.value(i);
        let module_known = matches!(
            module,
            "tcp"
                | "udp"
                | "icmp"
                | "icmp6"
                | "icmpv6"
                | "multiport"
                | "conntrack"
                | "state"
                | "comment"
        );
        if module_known {
            return i + 2;
        }
        // Everything up to the next short option belongs to this module.
        // (A `!` belongs to it unless a short option follows.)
        let mut rest: Vec<&str> = Vec::new();
        for (j, t) in args.iter().enumerate().skip(i + 2) {
            let next_short = args.get(j + 1).is_some_and(|n| is_short_option(n));
            if is_short_option(t) || (t == "!" && next_short) {
                break;
            }
            rest.push(t);
        }
        let text = format!(
            "{}-m {module} {}",
            if self.negated { "! " } else { "" },
            rest.join(" ")
        );
        self.negated = false;
        self.push(Test::Unknown(text.trim_end().to_owned()));
        i + 2 + rest.len()
    }

    /// `-j TARGET` / `-g CHAIN` and the target's own options (`--reject-with`).
    fn target(&mut self, opt: &str, i: usize, family: IpFamily, chains: &[String]) -> usize {
        let args = self.args;
        let target = self.value(i);
        let goto = opt == "-g" || opt == "--goto";
        let mut i = i + 2;
        // Target options such as --reject-with follow as their own tokens.
        let mut reject_with = None;
        while let Some(t) = args.get(i).filter(|t| t.starts_with("--")) {
            let vals = self.values(i);
            if t == "--reject-with" {
                reject_with = Some(vals.join(" "));
            }
            i += 1 + vals.len();
        }
        self.action = if chains.iter().any(|c| c == target) {
            if goto {
                Action::Goto(target.to_owned())
            } else {
                Action::Jump(target.to_owned())
            }
        } else {
            match target {
                "ACCEPT" => Action::Accept,
                "DROP" => Action::Drop,
                "RETURN" => Action::Return,
                "REJECT" => Action::Reject {
                    with: reject_with.unwrap_or_else(|| match family {
                        IpFamily::V4 => "icmp-port-unreachable".into(),
                        IpFamily::V6 => "icmp6-port-unreachable".into(),
                    }),
                },
                t if NON_TERMINATING.contains(&t) => Action::Continue,
                t => Action::Unknown(format!("-j {t}")),
            }
        };
        i
    }

    /// A match module's option (`--dport`, `--ctstate`, ...); an unknown one becomes an unknown
    /// match, a comment is skipped.
    fn module_option(&mut self, opt: &str, i: usize) -> usize {
        let vals = self.values(i);
        let next = i + 1 + vals.len();
        let joined = vals.join(" ");
        let test = match opt {
            "--dport" | "--destination-port" => port_range(&joined).map(|r| Test::Dport(vec![r])),
            "--sport" | "--source-port" => port_range(&joined).map(|r| Test::Sport(vec![r])),
            "--dports" | "--destination-ports" => port_list(&joined).map(Test::Dport),
            "--sports" | "--source-ports" => port_list(&joined).map(Test::Sport),
            "--ctstate" | "--state" => Some(Test::CtState(
                joined.split(',').map(|s| s.to_ascii_lowercase()).collect(),
            )),
            "--icmp-type" | "--icmpv6-type" => Some(Test::IcmpType(vec![joined.clone()])),
            "--syn" => Some(Test::TcpSyn),
            "--comment" => return next,
            _ => None,
        };
        let test =
            test.unwrap_or_else(|| Test::Unknown(format!("{opt} {joined}").trim_end().to_owned()));
        self.push(test);
        next
    }
}
