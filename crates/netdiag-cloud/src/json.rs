//! Reading provider JSON while keeping the object path, so that every shape error names where the
//! bad value is (`[3].allowed[0].ports[1]: "80-x" is not a port or range`).
//!
//! Lenient about fields the model does not use (exports grow new fields every release); strict
//! about the ones it does: a wrong type there is an error, never a silent default. Shared by the
//! GCP and Azure loaders.

use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// The objects of an export: the elements of a top-level array (`list` commands) or the single
/// object (`show`/`describe` commands), each with its path prefix.
pub(crate) fn items(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("[{i}]"), e))
            .collect(),
        other => vec![(String::new(), other)],
    }
}

/// `at.key`, or `key` at the top.
pub(crate) fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else if key.starts_with('[') {
        format!("{at}{key}")
    } else {
        format!("{at}.{key}")
    }
}

/// The field, treating JSON `null` as absent.
pub(crate) fn get<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional string field.
pub(crate) fn opt_str(obj: &Value, key: &str, at: &str) -> Result<Option<String>, String> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "{}: expected a string, found {}",
            join(at, key),
            kind(other)
        )),
    }
}

/// A required string field.
pub(crate) fn req_str(obj: &Value, key: &str, at: &str) -> Result<String, String> {
    opt_str(obj, key, at)?.ok_or_else(|| format!("{}: missing", join(at, key)))
}

/// An optional array field (absent = empty).
pub(crate) fn arr<'a>(obj: &'a Value, key: &str, at: &str) -> Result<&'a [Value], String> {
    match get(obj, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(other) => Err(format!(
            "{}: expected a list, found {}",
            join(at, key),
            kind(other)
        )),
    }
}

/// A list of strings (absent = empty).
pub(crate) fn str_list(obj: &Value, key: &str, at: &str) -> Result<Vec<String>, String> {
    let path = join(at, key);
    arr(obj, key, at)?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!(
                "{path}[{i}]: expected a string, found {}",
                kind(other)
            )),
        })
        .collect()
}

/// An optional unsigned number (a JSON number or a numeric string, as some CLIs print).
pub(crate) fn opt_u64(obj: &Value, key: &str, at: &str) -> Result<Option<u64>, String> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{}: {n} is not a non-negative integer", join(at, key))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{}: {s:?} is not a non-negative integer", join(at, key))),
        Some(other) => Err(format!(
            "{}: expected a number, found {}",
            join(at, key),
            kind(other)
        )),
    }
}

/// An optional boolean.
pub(crate) fn opt_bool(obj: &Value, key: &str, at: &str) -> Result<Option<bool>, String> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!(
            "{}: expected true or false, found {}",
            join(at, key),
            kind(other)
        )),
    }
}

/// An IP address or CIDR (host bits cleared); a bare address is a /32 or /128.
pub(crate) fn parse_net(text: &str) -> Option<IpNet> {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    t.parse::<IpNet>().ok().map(|n| n.trunc())
}

/// A list of ranges, each error naming its element.
pub(crate) fn net_list(obj: &Value, key: &str, at: &str) -> Result<Vec<IpNet>, String> {
    let path = join(at, key);
    str_list(obj, key, at)?
        .iter()
        .enumerate()
        .map(|(i, s)| parse_net(s).ok_or_else(|| format!("{path}[{i}]: {s:?} is not an IP range")))
        .collect()
}

/// The last path segment of a URL or resource id (`…/networks/default` → `default`).
pub(crate) fn last_segment(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// A port (`"443"`) or range (`"8000-8100"`).
pub(crate) fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let t = text.trim();
    match t.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => t.parse().ok().map(|p| (p, p)),
    }
}

/// The JSON type's name, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Is this an address on the public internet (not private, shared, loopback or link-local)?
/// Used for "external address" in platform rules and the `Internet` service tag.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_paths() {
        assert_eq!(parse_port_range("22"), Some((22, 22)));
        assert_eq!(parse_port_range("8000-8100"), Some((8000, 8100)));
        assert_eq!(parse_port_range("80-x"), None);
        assert_eq!(parse_port_range("90-80"), None);
        assert_eq!(join("[3].allowed[0]", "ports"), "[3].allowed[0].ports");
        assert_eq!(join("", "name"), "name");
        assert_eq!(
            last_segment("https://x/projects/p/global/networks/prod"),
            "prod"
        );
        assert!(is_public("203.0.113.9".parse().unwrap()));
        assert!(!is_public("10.1.2.3".parse().unwrap()));
        assert!(!is_public("100.64.0.1".parse().unwrap()));
    }
}
