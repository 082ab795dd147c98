//! `nft -j list ruleset` JSON into the model.
//!
//! Read with plain `serde_json::Value` rather than typed structs so that one expression we do not
//! know (new nft versions add them) becomes a [`Test::Unknown`] for that rule instead of failing
//! the whole ruleset. Named sets are resolved into the rule at parse time; sets we cannot read
//! (concatenations, maps) make the rule's match unknown.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::iptables::{parse_cidr, NON_TERMINATING};
use super::{
    Action, Backend, BaseChain, Chain, Cidr, Counters, Hook, IpFamily, Match, ParseError, Policy,
    Rule, Ruleset, Table, Test,
};

/// Parses the output of `nft -j list ruleset`.
pub fn parse_nft_json(text: &str) -> Result<Ruleset, ParseError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ParseError::NftJson(e.to_string()))?;
    let items = root
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::NftJson("no top-level `nftables` array".into()))?;
    let mut ruleset = Ruleset::default();
    let mut sets: HashMap<(String, String, String), Value> = HashMap::new();
    let key = |o: &Value, table_field: &str| -> Option<(String, String)> {
        Some((
            o.get("family")?.as_str()?.to_owned(),
            o.get(table_field)?.as_str()?.to_owned(),
        ))
    };
    // Pass 1: tables, chains and sets, so rules can refer to them in any order.
    for (index, item) in items.iter().enumerate() {
        let bad = |reason: &str| ParseError::NftObject {
            index,
            reason: reason.to_owned(),
        };
        if let Some(t) = item.get("table") {
            let (family, name) = key(t, "name").ok_or_else(|| bad("table without family/name"))?;
            ruleset.tables.push(Table {
                backend: Backend::Nft,
                family,
                name,
                chains: Vec::new(),
            });
        } else if let Some(c) = item.get("chain") {
            let (family, table) = key(c, "table").ok_or_else(|| bad("chain without table"))?;
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("chain without name"))?;
            let t = find_table(&mut ruleset, &family, &table)
                .ok_or_else(|| bad("chain of an unknown table"))?;
            t.chains.push(Chain {
                name: name.to_owned(),
                base: base_chain(c),
                rules: Vec::new(),
                counters: None,
            });
        } else if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            if let (Some((family, table)), Some(name)) =
                (key(s, "table"), s.get("name").and_then(Value::as_str))
            {
                let elems = if item.get("map").is_some() {
                    Value::Null
                } else {
                    s.get("elem").cloned().unwrap_or(Value::Array(Vec::new()))
                };
                sets.insert((family, table, name.to_owned()), elems);
            }
        }
    }
    // Pass 2: rules.
    for (index, item) in items.iter().enumerate() {
        let Some(r) = item.get("rule") else { continue };
        let bad = |reason: &str| ParseError::NftObject {
            index,
            reason: reason.to_owned(),
        };
        let (family, table) = key(r, "table").ok_or_else(|| bad("rule without table"))?;
        let chain_name = r
            .get("chain")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("rule without chain"))?;
        let exprs = r
            .get("expr")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("rule without expr"))?;
        let lookup = |name: &str| sets.get(&(family.clone(), table.clone(), name.to_owned()));
        let mut rule = parse_rule(exprs, &lookup);
        rule.handle = r.get("handle").and_then(Value::as_u64);
        let t = find_table(&mut ruleset, &family, &table)
            .ok_or_else(|| bad("rule of an unknown table"))?;
        let chain = t
            .chains
            .iter_mut()
            .find(|c| c.name == chain_name)
            .ok_or_else(|| bad("rule of an unknown chain"))?;
        rule.position = chain.rules.len() + 1;
        chain.rules.push(rule);
    }
    Ok(ruleset)
}

fn find_table<'a>(rs: &'a mut Ruleset, family: &str, name: &str) -> Option<&'a mut Table> {
    rs.tables
        .iter_mut()
        .find(|t| t.family == family && t.name == name)
}

fn base_chain(c: &Value) -> Option<BaseChain> {
    let hook = match c.get("hook")?.as_str()? {
        "prerouting" => Hook::Prerouting,
        "input" => Hook::Input,
        "forward" => Hook::Forward,
        "output" => Hook::Output,
        "postrouting" => Hook::Postrouting,
        // ingress/egress are not on an IP flow's path through this host's IP stack.
        _ => return None,
    };
    let priority = match c.get("prio") {
        Some(Value::Number(n)) => n.as_i64().and_then(|v| i32::try_from(v).ok()).unwrap_or(0),
        Some(Value::String(s)) => named_priority(s),
        _ => 0,
    };
    let policy = match c.get("policy").and_then(Value::as_str) {
        Some("drop") => Policy::Drop,
        _ => Policy::Accept,
    };
    Some(BaseChain {
        hook,
        priority,
        policy,
        kind: c
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("filter")
            .to_owned(),
    })
}

fn named_priority(s: &str) -> i32 {
    match s {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "security" => 50,
        "srcnat" => 100,
        _ => 0,
    }
}

/// A right-hand value.
#[derive(Debug, Clone)]
enum Val {
    Num(u64),
    Str(String),
    Prefix(Cidr),
    Range(Box<Val>, Box<Val>),
}

type SetLookup<'a> = dyn Fn(&str) -> Option<&'a Value> + 'a;

fn vals(v: &Value, sets: &SetLookup<'_>, depth: usize) -> Result<Vec<Val>, String> {
    if depth > 8 {
        return Err("nested too deep".into());
    }
    Ok(match v {
        Value::Number(n) => vec![Val::Num(n.as_u64().ok_or("negative or fractional number")?)],
        Value::String(s) => match s.strip_prefix('@') {
            Some(name) => match sets(name) {
                Some(Value::Null) => return Err(format!("map @{name}")),
                Some(elems) => vals(elems, sets, depth + 1)?,
                None => return Err(format!("set @{name} not in the dump")),
            },
            None => vec![Val::Str(s.clone())],
        },
        Value::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(vals(i, sets, depth + 1)?);
            }
            out
        }
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let addr = p.get("addr").and_then(Value::as_str).unwrap_or("");
                let len = p.get("len").and_then(Value::as_u64).unwrap_or(0);
                let cidr = parse_cidr(&format!("{addr}/{len}"))
                    .ok_or_else(|| format!("bad prefix {p}"))?;
                vec![Val::Prefix(cidr)]
            } else if let Some(Value::Array(r)) = o.get("range") {
                match (r.first(), r.get(1)) {
                    (Some(a), Some(b)) => {
                        let (a, b) = (vals(a, sets, depth + 1)?, vals(b, sets, depth + 1)?);
                        match (a.into_iter().next(), b.into_iter().next()) {
                            (Some(a), Some(b)) => vec![Val::Range(Box::new(a), Box::new(b))],
                            _ => return Err("empty range".into()),
                        }
                    }
                    _ => return Err("bad range".into()),
                }
            } else if let Some(s) = o.get("set") {
                vals(s, sets, depth + 1)?
            } else if let Some(e) = o.get("elem") {
                vals(e.get("val").unwrap_or(&Value::Null), sets, depth + 1)?
            } else {
                let k = o.keys().next().cloned().unwrap_or_default();
                return Err(format!("{k} values"));
            }
        }
        Value::Null | Value::Bool(_) => return Err("empty value".into()),
    })
}

fn as_port(v: &Val) -> Option<u16> {
    match v {
        Val::Num(n) => u16::try_from(*n).ok(),
        Val::Str(s) => s.parse().ok().or(match s.as_str() {
            "ssh" => Some(22),
            "domain" => Some(53),
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        }),
        _ => None,
    }
}

fn port_ranges(vs: &[Val], op: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for v in vs {
        match v {
            Val::Range(a, b) => out.push((as_port(a)?, as_port(b)?)),
            other => {
                let p = as_port(other)?;
                out.push(match op {
                    "<" => (0, p.checked_sub(1)?),
                    "<=" => (0, p),
                    ">" => (p.checked_add(1)?, u16::MAX),
                    ">=" => (p, u16::MAX),
                    _ => (p, p),
                });
            }
        }
    }
    Some(out)
}

fn cidrs(vs: &[Val]) -> Option<Vec<Cidr>> {
    vs.iter()
        .map(|v| match v {
            Val::Prefix(c) => Some(*c),
            Val::Str(s) => s
                .parse::<IpAddr>()
                .ok()
                .and_then(|a| parse_cidr(&a.to_string())),
            _ => None,
        })
        .collect()
}

fn strings(vs: &[Val]) -> Option<Vec<String>> {
    vs.iter()
        .map(|v| match v {
            Val::Str(s) => Some(s.clone()),
            Val::Num(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

fn protos(vs: &[Val]) -> Option<Vec<u8>> {
    vs.iter()
        .map(|v| match v {
            Val::Num(n) => u8::try_from(*n).ok(),
            Val::Str(s) => match s.as_str() {
                "icmp" => Some(1),
                "tcp" => Some(6),
                "udp" => Some(17),
                "ipv6-icmp" | "icmpv6" => Some(58),
                "sctp" => Some(132),
                "gre" => Some(47),
                "esp" => Some(50),
                "ah" => Some(51),
                "udplite" => Some(136),
                other => other.parse().ok(),
            },
            _ => None,
        })
        .collect()
}

fn families(vs: &[Val]) -> Option<IpFamily> {
    match strings(vs)?.as_slice() {
        [one] => match one.as_str() {
            "ipv4" | "ip" => Some(IpFamily::V4),
            "ipv6" | "ip6" => Some(IpFamily::V6),
            _ => None,
        },
        _ => None,
    }
}

fn plain(test: Test) -> Match {
    Match {
        negated: false,
        test,
    }
}

/// The matches one `match` expression stands for: its implicit protocol dependencies (never
/// negated, as nft inserts them) and the test itself.
fn parse_match(m: &Value, sets: &SetLookup<'_>, text: &str) -> Vec<Match> {
    let unknown = || vec![plain(Test::Unknown(text.to_owned()))];
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let negated = op == "!=";
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
        return unknown();
    };
    let Ok(vs) = vals(right, sets, 0) else {
        return unknown();
    };
    let ordered = matches!(op, "<" | ">" | "<=" | ">=");
    let mut out = Vec::new();
    let test = if let Some(p) = left.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("");
        let field = p.get("field").and_then(Value::as_str).unwrap_or("");
        match proto {
            "ip" | "ip6" => {
                out.push(plain(Test::Family(if proto == "ip" {
                    IpFamily::V4
                } else {
                    IpFamily::V6
                })));
                match field {
                    "saddr" if !ordered => cidrs(&vs).map(Test::Src),
                    "daddr" if !ordered => cidrs(&vs).map(Test::Dst),
                    "protocol" | "nexthdr" if !ordered => protos(&vs).map(Test::Proto),
                    _ => None,
                }
            }
            "tcp" | "udp" | "th" => {
                out.push(plain(Test::Proto(match proto {
                    "tcp" => vec![6],
                    "udp" => vec![17],
                    _ => vec![6, 17, 33, 132, 136],
                })));
                match field {
                    "dport" => port_ranges(&vs, op).map(Test::Dport),
                    "sport" => port_ranges(&vs, op).map(Test::Sport),
                    _ => None,
                }
            }
            "icmp" | "icmpv6" => {
                out.push(plain(Test::Proto(vec![if proto == "icmp" {
                    1
                } else {
                    58
                }])));
                match field {
                    "type" if !ordered => strings(&vs).map(Test::IcmpType),
                    _ => None,
                }
            }
            _ => None,
        }
    } else if let Some(meta) = left.get("meta") {
        match meta.get("key").and_then(Value::as_str).unwrap_or("") {
            _ if ordered => None,
            "l4proto" => protos(&vs).map(Test::Proto),
            "nfproto" | "protocol" => families(&vs).map(Test::Family),
            "iifname" | "iif" => strings(&vs).map(Test::InIface),
            "oifname" | "oif" => strings(&vs).map(Test::OutIface),
            _ => None,
        }
    } else if let Some(ct) = left.get("ct") {
        match ct.get("key").and_then(Value::as_str).unwrap_or("") {
            "state" if !ordered => strings(&vs).map(Test::CtState),
            _ => None,
        }
    } else {
        None
    };
    match test {
        Some(test) => {
            out.push(Match { negated, test });
            out
        }
        None => unknown(),
    }
}

fn parse_rule(exprs: &[Value], sets: &SetLookup<'_>) -> Rule {
    let mut matches = Vec::new();
    let mut action = Action::Continue;
    let mut counters = None;
    let mut words = Vec::new();
    for e in exprs {
        let text = render(e);
        let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else {
            matches.push(plain(Test::Unknown(text.clone())));
            words.push(text);
            continue;
        };
        match k.as_str() {
            "match" => matches.extend(parse_match(v, sets, &text)),
            "counter" => {
                counters = match (
                    v.get("packets").and_then(Value::as_u64),
                    v.get("bytes").and_then(Value::as_u64),
                ) {
                    (Some(packets), Some(bytes)) => Some(Counters { packets, bytes }),
                    _ => counters,
                }
            }
            "accept" => action = Action::Accept,
            "drop" => action = Action::Drop,
            "reject" => {
                action = Action::Reject {
                    with: reject_text(v),
                }
            }
            "jump" | "goto" => {
                let target = v
                    .get("target")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                action = if k == "jump" {
                    Action::Jump(target)
                } else {
                    Action::Goto(target)
                };
            }
            "return" => action = Action::Return,
            "continue" => action = Action::Continue,
            "log" | "notrack" | "mangle" | "snat" | "dnat" | "masquerade" | "redirect" | "dup"
            | "flow" | "set" | "ct helper" | "ct timeout" | "ct expectation" | "secmark"
            | "comment" => {}
            "xt" => {
                let name = v.get("name").and_then(Value::as_str).unwrap_or("?");
                if v.get("type").and_then(Value::as_str) == Some("target") {
                    if !NON_TERMINATING.contains(&name) {
                        action = Action::Unknown(format!("xt target {name}"));
                    }
                } else {
                    matches.push(plain(Test::Unknown(format!("xt match {name}"))));
                }
            }
            "queue" | "vmap" | "synproxy" | "fwd" | "tproxy" => {
                action = Action::Unknown(text.clone())
            }
            _ => matches.push(plain(Test::Unknown(text.clone()))),
        }
        words.push(text);
    }
    Rule {
        position: 0,
        handle: None,
        matches,
        action,
        counters,
        text: words.join(" "),
    }
}

fn reject_text(v: &Value) -> String {
    let kind = v.get("type").and_then(Value::as_str);
    let code = v.get("expr").and_then(Value::as_str);
    match (kind, code) {
        (Some(k), Some(c)) => format!("{k} {c}"),
        (Some(k), None) => k.to_owned(),
        (None, Some(c)) => format!("icmpx {c}"),
        (None, None) => "icmpx port-unreachable".to_owned(),
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(render_value).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                format!(
                    "{}/{}",
                    p.get("addr").map(render_value).unwrap_or_default(),
                    p.get("len").map(render_value).unwrap_or_default()
                )
            } else if let Some(Value::Array(r)) = o.get("range") {
                r.iter().map(render_value).collect::<Vec<_>>().join("-")
            } else if let Some(Value::Array(s)) = o.get("set") {
                format!(
                    "{{ {} }}",
                    s.iter().map(render_value).collect::<Vec<_>>().join(", ")
                )
            } else if let Some(p) = o.get("payload") {
                format!(
                    "{} {}",
                    p.get("protocol").map(render_value).unwrap_or_default(),
                    p.get("field").map(render_value).unwrap_or_default()
                )
            } else if let Some(m) = o.get("meta") {
                let key = m.get("key").map(render_value).unwrap_or_default();
                match key.as_str() {
                    "iifname" | "oifname" | "iif" | "oif" => key,
                    _ => format!("meta {key}"),
                }
            } else if let Some(c) = o.get("ct") {
                format!("ct {}", c.get("key").map(render_value).unwrap_or_default())
            } else if let Some(f) = o.get("fib") {
                // `fib saddr . iif oif`, as nft prints it (the reverse-path check).
                let flags: Vec<String> = match f.get("flags") {
                    Some(Value::Array(a)) => a.iter().map(render_value).collect(),
                    Some(v) => vec![render_value(v)],
                    None => Vec::new(),
                };
                let result = f.get("result").map(render_value).unwrap_or_default();
                format!("fib {} {result}", flags.join(" . "))
            } else {
                Value::Object(o.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

/// The expression roughly as `nft list ruleset` prints it.
fn render(e: &Value) -> String {
    let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else {
        return e.to_string();
    };
    match k.as_str() {
        "match" => {
            let op = v.get("op").and_then(Value::as_str).unwrap_or("==");
            let left = v.get("left").map(render_value).unwrap_or_default();
            let right = v.get("right").map(render_value).unwrap_or_default();
            let right = match v.get("right") {
                Some(Value::String(s)) if !s.starts_with('@') && left.ends_with("name") => {
                    format!("\"{s}\"")
                }
                Some(Value::Bool(found)) if left.starts_with("fib ") => {
                    if *found { "exists" } else { "missing" }.to_owned()
                }
                _ => right,
            };
            match op {
                "==" | "in" => format!("{left} {right}"),
                op => format!("{left} {op} {right}"),
            }
        }
        "counter" => match (v.get("packets"), v.get("bytes")) {
            (Some(p), Some(b)) => format!("counter packets {p} bytes {b}"),
            _ => "counter".into(),
        },
        "reject" => {
            if v.is_null() {
                "reject".into()
            } else {
                format!("reject with {}", reject_text(v))
            }
        }
        "jump" | "goto" => format!(
            "{k} {}",
            v.get("target").map(render_value).unwrap_or_default()
        ),
        "limit" => format!(
            "limit rate {}/{}",
            v.get("rate").map(render_value).unwrap_or_default(),
            v.get("per").map(render_value).unwrap_or_default()
        ),
        _ if v.is_null() => k.clone(),
        _ => format!("{k} {v}"),
    }
}
