//! Which proxy applies to a target, decided from the environment and flags by **curl's rules**.
//!
//! Why curl's: when a user says "curl works but my app does not" (or the reverse), the first
//! question is whether both went through the same proxy. Following curl exactly (rather than
//! Go's, Python's or wget's slightly different readings of the same variables) makes netdiag's
//! answer match the tool people test with. The rules, as read in curl's `lib/url.c`
//! (`detect_proxy`, `parse_proxy`), `lib/noproxy.c` (`Curl_check_noproxy`) and `lib/getenv.c`:
//!
//! - `--no-proxy` (here `no_proxy_flag`) disables every proxy. `--proxy URL` wins over the
//!   environment; `--proxy ""` means "no proxy" (it overrides the environment too).
//! - The environment: `<scheme>_proxy` in lowercase, then in uppercase, except that **`HTTP_PROXY`
//!   is never read** (a CGI program gets the client's `Proxy:` header as `HTTP_PROXY`, httpoxy),
//!   then `all_proxy`, then `ALL_PROXY`. Lowercase wins. An empty variable counts as unset.
//! - `no_proxy` (then `NO_PROXY`) applies to the chosen proxy, also one given with `--proxy`.
//!   The list is split on commas and blanks; `*` alone matches every host; a name matches itself
//!   and its subdomains, with or without a leading dot (`example.com` and `.example.com` both
//!   match `www.example.com`, neither matches `notexample.com`); case-insensitive; trailing dots
//!   ignored. An IP-address target is compared only with IP entries, exactly or by CIDR
//!   (`10.0.0.0/8`, `fd00::/8`, curl ≥ 7.86); host names in the list never match an IP target
//!   (no resolution happens). **Ports are not understood:** an entry such as `example.com:8080`
//!   never matches anything, as in curl.
//!   One version difference: curl ≤ 7.88 also split the list on blanks (`a.example b.example`
//!   exempts both); current curl stops at a blank that is not followed by a comma. netdiag follows
//!   current curl. Checked by hand against curl 7.88.1: `HTTP_PROXY` ignored, empty `https_proxy`
//!   falls through to `HTTPS_PROXY`, `*,foo` and `example.com:443` and `0.0.0.0/0` exempt nothing,
//!   `localhost` does not exempt `127.0.0.5`, `127.0.0.0/8` does, a port-less proxy uses 1080.
//! - Only `http` and `https` targets use a proxy. curl does not proxy raw TCP or UDP, so `tcp`
//!   and `udp` targets get `None` whatever the environment says.
//! - Proxy URLs: no scheme means `http://`; no port means 1080 (curl's default proxy port);
//!   `user:password@` is percent-decoded, kept out of [`ProxySetting::url`] (shown as `user:***@`)
//!   and handed out separately in [`ProxyCredentials`]. A path is ignored.
//!   `socks4://`, `socks4a://`, `socks5://`, `socks5h://` and `https://` (TLS to the proxy) are
//!   valid for curl but not spoken by netdiag's proxy probe yet: they give
//!   [`ProxyEnvError::Unsupported`], so the report says so instead of probing the wrong thing.
//!
//! This module is pure: the environment is passed in, nothing is read or resolved here, and it
//! must never print or store a password anywhere but in [`ProxyCredentials`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::observe::ProxySetting;

/// The port curl uses for a proxy URL without one.
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// A proxy URL netdiag cannot use. This is netdiag's failure (bad or unsupported input), not an
/// observation about the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyEnvError {
    /// The URL cannot be parsed.
    #[error("the proxy URL in {source_name} ({value}) is not valid: {reason}; fix it or bypass it with --no-proxy")]
    Invalid {
        /// Where it came from, e.g. `https_proxy` or `--proxy`.
        source_name: String,
        /// The value with any credentials redacted.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A proxy scheme curl knows but netdiag's probe does not speak yet.
    #[error("the proxy in {source_name} ({value}) uses {scheme}://, which netdiag cannot probe yet (only http:// proxies); check it with curl -v, or bypass it with --no-proxy")]
    Unsupported {
        /// Where it came from.
        source_name: String,
        /// The value with any credentials redacted.
        value: String,
        /// The scheme, lowercase, e.g. `socks5h` or `https`.
        scheme: String,
    },
}

/// Credentials from a proxy URL, percent-decoded. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    /// The user name.
    pub user: String,
    /// The password (empty when the URL had `user@` only).
    pub password: String,
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// The proxy chosen for a target: the shareable setting plus the secret part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// What may be shown and recorded.
    pub setting: ProxySetting,
    /// What is sent as `Proxy-Authorization`, never shown.
    pub credentials: Option<ProxyCredentials>,
}

/// The proxy for a target, as curl would choose it; the setting only (see [`select`] for the
/// credentials).
///
/// `scheme` is the target's scheme (`http`, `https`, `tcp`, `udp`), `host` its host name or IP
/// address (IPv6 with or without brackets), `env` the environment as (name, value) pairs.
/// `port` is accepted for symmetry with the target but, as in curl, plays no part in the choice.
pub fn proxy_for(
    scheme: &str,
    host: &str,
    port: u16,
    env: &[(String, String)],
    flag_proxy: Option<&str>,
    no_proxy_flag: bool,
) -> Result<Option<ProxySetting>, ProxyEnvError> {
    Ok(select(scheme, host, port, env, flag_proxy, no_proxy_flag)?.map(|p| p.setting))
}

/// Like [`proxy_for`], with the credentials the proxy URL carried.
pub fn select(
    scheme: &str,
    host: &str,
    _port: u16,
    env: &[(String, String)],
    flag_proxy: Option<&str>,
    no_proxy_flag: bool,
) -> Result<Option<Proxy>, ProxyEnvError> {
    let scheme = scheme.to_ascii_lowercase();
    if no_proxy_flag || !(scheme == "http" || scheme == "https") {
        return Ok(None);
    }
    let (source, value) = match flag_proxy {
        // `--proxy ""` is curl's way of saying "no proxy, whatever the environment says".
        Some("") => return Ok(None),
        Some(url) => ("--proxy".to_owned(), url.to_owned()),
        None => match env_proxy(&scheme, env) {
            Some(found) => found,
            None => return Ok(None),
        },
    };
    if let Some(list) = lookup(env, "no_proxy").or_else(|| lookup(env, "NO_PROXY")) {
        if no_proxy_matches(host, list) {
            return Ok(None);
        }
    }
    parse_proxy_url(&source, &value).map(Some)
}

/// The first non-empty variable in curl's order, with its name.
fn env_proxy(scheme: &str, env: &[(String, String)]) -> Option<(String, String)> {
    let lower = format!("{scheme}_proxy");
    let upper = lower.to_ascii_uppercase();
    let mut names = vec![lower.as_str()];
    // httpoxy: HTTP_PROXY can be set by a remote client through a CGI environment.
    if scheme != "http" {
        names.push(upper.as_str());
    }
    names.extend(["all_proxy", "ALL_PROXY"]);
    names
        .into_iter()
        .find_map(|name| lookup(env, name).map(|v| (name.to_owned(), v.to_owned())))
}

/// A variable's value, with an empty value counting as unset (curl's `curl_getenv`). Names are
/// case-sensitive, as on Unix. The last occurrence wins, as `std::env` would see it.
fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether `host` is exempted by a `no_proxy` list, by curl's `Curl_check_noproxy` rules (see
/// the module docs). `host` may be an IPv6 address in brackets.
pub fn no_proxy_matches(host: &str, list: &str) -> bool {
    if host.is_empty() || list.is_empty() {
        return false;
    }
    if list == "*" {
        return true;
    }
    let target = Target::of(host);
    no_proxy_entries(list).any(|entry| target.matched_by(entry))
}

/// The entries of a `no_proxy` list as curl's tokenizer sees them: blanks separate and are
/// skipped, commas separate; a blank-separated word not followed by a comma ends the list.
fn no_proxy_entries(list: &str) -> impl Iterator<Item = &str> {
    let bytes = list.as_bytes();
    let is_blank = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        // Each call consumes at least one byte or stops.
        while !done && i < bytes.len() {
            while i < bytes.len() && is_blank(bytes[i]) {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && !is_blank(bytes[i]) && bytes[i] != b',' {
                i += 1;
            }
            let token = list.get(start..i).unwrap_or("");
            while i < bytes.len() && is_blank(bytes[i]) {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] != b',' {
                done = true;
            }
            while i < bytes.len() && bytes[i] == b',' {
                i += 1;
            }
            if !token.is_empty() {
                return Some(token);
            }
        }
        None
    })
}

/// The target host as `no_proxy` matching classifies it.
enum Target<'a> {
    Name(&'a str),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl<'a> Target<'a> {
    fn of(host: &'a str) -> Target<'a> {
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.split_once(']'))
            .map(|(inner, _)| inner);
        if let Some(inner) = unbracketed {
            return match inner.parse::<Ipv6Addr>() {
                Ok(v6) => Target::V6(v6),
                // curl gives up on a malformed bracketed name; a name that cannot match does too.
                Err(_) => Target::Name(""),
            };
        }
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Target::V4(v4),
            Ok(IpAddr::V6(v6)) => Target::V6(v6),
            Err(_) => Target::Name(host.strip_suffix('.').unwrap_or(host)),
        }
    }

    fn matched_by(&self, entry: &str) -> bool {
        match self {
            Target::Name(name) => {
                let entry = entry.strip_suffix('.').unwrap_or(entry);
                let entry = entry.strip_prefix('.').unwrap_or(entry);
                domain_match(name, entry)
            }
            Target::V4(addr) => match parse_cidr(entry) {
                Some((IpAddr::V4(net), bits)) => v4_in(*addr, net, bits),
                _ => false,
            },
            Target::V6(addr) => match parse_cidr(entry) {
                Some((IpAddr::V6(net), bits)) => v6_in(*addr, net, bits),
                _ => false,
            },
        }
    }
}

/// `name` equals `domain` or ends with `.domain`, ASCII case-insensitively.
fn domain_match(name: &str, domain: &str) -> bool {
    if name.is_empty() || domain.is_empty() || domain.len() > name.len() {
        return false;
    }
    let split = name.len() - domain.len();
    let (Some(head), Some(tail)) = (name.get(..split), name.get(split..)) else {
        return false; // the split falls inside a multi-byte character: not a label boundary.
    };
    tail.eq_ignore_ascii_case(domain) && (head.is_empty() || head.ends_with('.'))
}

/// `addr` or `addr/bits`. A missing prefix length means the whole address. A prefix length that
/// is not a number reads as 0, as curl's `atoi` does (which then means "whole address").
fn parse_cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((addr, bits)) => (addr, leading_number(bits)),
        None => (entry, 0),
    };
    Some((addr.parse().ok()?, bits))
}

/// The decimal number at the start of `text` (0 when none), saturating, like `atoi` would read
/// it for sane input.
fn leading_number(text: &str) -> u32 {
    text.bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
}

/// IPv4 CIDR match; 0 or 32 bits mean an exact comparison, more than 32 never matches.
fn v4_in(addr: Ipv4Addr, net: Ipv4Addr, bits: u32) -> bool {
    match bits {
        0 | 32 => addr == net,
        1..=31 => {
            let mask = u32::MAX << (32 - bits);
            (u32::from(addr) ^ u32::from(net)) & mask == 0
        }
        _ => false,
    }
}

/// IPv6 CIDR match; 0 bits mean the whole address, more than 128 never matches.
fn v6_in(addr: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    match bits {
        0 | 128 => addr == net,
        1..=127 => {
            let mask = u128::MAX << (128 - bits);
            (u128::from(addr) ^ u128::from(net)) & mask == 0
        }
        _ => false,
    }
}

/// Parses a proxy URL the way curl reads `--proxy` / `*_proxy`.
fn parse_proxy_url(source: &str, raw: &str) -> Result<Proxy, ProxyEnvError> {
    let raw = raw.trim();
    let invalid = |reason: &str| ProxyEnvError::Invalid {
        source_name: source.to_owned(),
        value: redact_raw(raw),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), raw),
    };
    match scheme.as_str() {
        "http" => {}
        "https" | "socks4" | "socks4a" | "socks5" | "socks5h" => {
            return Err(ProxyEnvError::Unsupported {
                source_name: source.to_owned(),
                value: redact_raw(raw),
                scheme,
            })
        }
        _ => return Err(invalid(&format!("unknown proxy scheme {scheme}://"))),
    }
    // The authority ends at the first '/', '?' or '#'; what follows is ignored, as in curl.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user =
                percent_decode(user).ok_or_else(|| invalid("bad %-escape in the user name"))?;
            let password =
                percent_decode(password).ok_or_else(|| invalid("bad %-escape in the password"))?;
            Some(ProxyCredentials { user, password })
        }
    };
    let (host, port) = split_host_port(hostport).map_err(&invalid)?;
    if host.is_empty() {
        return Err(invalid("no proxy host name"));
    }
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let shown_credentials = match &credentials {
        None => String::new(),
        Some(c) if c.password.is_empty() => format!("{}@", c.user),
        Some(c) => format!("{}:***@", c.user),
    };
    let setting = ProxySetting {
        url: format!("{scheme}://{shown_credentials}{shown_host}:{port}"),
        host,
        port,
        source: source.to_owned(),
        has_credentials: credentials.is_some(),
    };
    Ok(Proxy {
        setting,
        credentials,
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`. No port means [`DEFAULT_PROXY_PORT`].
fn split_host_port(hostport: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address misses its closing ']'")?;
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err("the bracketed host is not an IPv6 address");
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("unexpected text after ']'")?),
        };
        (inner, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.contains(':') && !hostport.starts_with('[') {
        return Err("an IPv6 proxy address must be in brackets, e.g. http://[fd00::1]:3128");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the host name contains blanks or control characters");
    }
    let port = match port {
        None | Some("") => DEFAULT_PROXY_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("the port is not a number from 1 to 65535"),
            Ok(n) => n,
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A raw proxy value with anything between `scheme://` and the last `@` of the authority
/// replaced, for error messages about URLs that did not parse.
fn redact_raw(raw: &str) -> String {
    let (prefix, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, hostport)) => format!("{prefix}***@{hostport}{tail}"),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// (case name, target scheme, host, env, --proxy, --no-proxy, expected (source, url) or None)
    #[allow(clippy::type_complexity)]
    const SELECTION: &[(
        &str,
        &str,
        &str,
        &[(&str, &str)],
        Option<&str>,
        bool,
        Option<(&str, &str)>,
    )] = &[
        (
            "no environment, no proxy",
            "https",
            "example.com",
            &[],
            None,
            false,
            None,
        ),
        (
            "https_proxy applies to https",
            "https",
            "example.com",
            &[("https_proxy", "http://p:3128")],
            None,
            false,
            Some(("https_proxy", "http://p:3128")),
        ),
        (
            "HTTPS_PROXY is read for https",
            "https",
            "example.com",
            &[("HTTPS_PROXY", "p:3128")],
            None,
            false,
            Some(("HTTPS_PROXY", "http://p:3128")),
        ),
        (
            "lowercase wins over uppercase",
            "https",
            "example.com",
            &[("HTTPS_PROXY", "upper:1"), ("https_proxy", "lower:2")],
            None,
            false,
            Some(("https_proxy", "http://lower:2")),
        ),
        (
            "http_proxy applies to http",
            "http",
            "example.com",
            &[("http_proxy", "p:8080")],
            None,
            false,
            Some(("http_proxy", "http://p:8080")),
        ),
        (
            "HTTP_PROXY is ignored (httpoxy)",
            "http",
            "example.com",
            &[("HTTP_PROXY", "p:8080")],
            None,
            false,
            None,
        ),
        (
            "HTTP_PROXY ignored, falls through to ALL_PROXY",
            "http",
            "example.com",
            &[("HTTP_PROXY", "bad:1"), ("ALL_PROXY", "all:2")],
            None,
            false,
            Some(("ALL_PROXY", "http://all:2")),
        ),
        (
            "http_proxy does not apply to https",
            "https",
            "example.com",
            &[("http_proxy", "p:8080")],
            None,
            false,
            None,
        ),
        (
            "all_proxy is the fallback",
            "https",
            "example.com",
            &[("all_proxy", "a:1")],
            None,
            false,
            Some(("all_proxy", "http://a:1")),
        ),
        (
            "scheme variable beats all_proxy",
            "https",
            "example.com",
            &[("all_proxy", "a:1"), ("HTTPS_PROXY", "s:2")],
            None,
            false,
            Some(("HTTPS_PROXY", "http://s:2")),
        ),
        (
            "all_proxy beats ALL_PROXY",
            "http",
            "example.com",
            &[("ALL_PROXY", "A:1"), ("all_proxy", "a:2")],
            None,
            false,
            Some(("all_proxy", "http://a:2")),
        ),
        (
            "an empty variable counts as unset",
            "https",
            "example.com",
            &[("https_proxy", ""), ("HTTPS_PROXY", "u:3")],
            None,
            false,
            Some(("HTTPS_PROXY", "http://u:3")),
        ),
        (
            "--proxy wins over the environment",
            "https",
            "example.com",
            &[("https_proxy", "env:1")],
            Some("http://flag:2"),
            false,
            Some(("--proxy", "http://flag:2")),
        ),
        (
            "--proxy \"\" disables the environment proxy",
            "https",
            "example.com",
            &[("https_proxy", "env:1")],
            Some(""),
            false,
            None,
        ),
        (
            "--no-proxy disables everything",
            "https",
            "example.com",
            &[("https_proxy", "env:1")],
            Some("flag:2"),
            true,
            None,
        ),
        (
            "no_proxy applies to --proxy too",
            "https",
            "example.com",
            &[("no_proxy", "example.com")],
            Some("flag:2"),
            false,
            None,
        ),
        (
            "tcp targets are never proxied",
            "tcp",
            "example.com",
            &[("all_proxy", "a:1")],
            Some("flag:2"),
            false,
            None,
        ),
        (
            "udp targets are never proxied",
            "udp",
            "example.com",
            &[("all_proxy", "a:1")],
            None,
            false,
            None,
        ),
        (
            "the target scheme is case-insensitive",
            "HTTPS",
            "example.com",
            &[("https_proxy", "p:1")],
            None,
            false,
            Some(("https_proxy", "http://p:1")),
        ),
        (
            "no_proxy exempts the host",
            "https",
            "api.example.com",
            &[("https_proxy", "p:1"), ("no_proxy", "example.com")],
            None,
            false,
            None,
        ),
        (
            "NO_PROXY exempts the host",
            "https",
            "api.example.com",
            &[("https_proxy", "p:1"), ("NO_PROXY", ".example.com")],
            None,
            false,
            None,
        ),
        (
            "no_proxy wins over NO_PROXY",
            "https",
            "api.example.com",
            &[
                ("https_proxy", "p:1"),
                ("NO_PROXY", "example.com"),
                ("no_proxy", "other.org"),
            ],
            None,
            false,
            Some(("https_proxy", "http://p:1")),
        ),
        (
            "empty no_proxy falls back to NO_PROXY",
            "https",
            "api.example.com",
            &[
                ("https_proxy", "p:1"),
                ("no_proxy", ""),
                ("NO_PROXY", "example.com"),
            ],
            None,
            false,
            None,
        ),
        (
            "no_proxy that does not match keeps the proxy",
            "https",
            "example.org",
            &[
                ("https_proxy", "p:1"),
                ("no_proxy", "example.com,localhost"),
            ],
            None,
            false,
            Some(("https_proxy", "http://p:1")),
        ),
    ];

    #[test]
    fn selection_follows_curl() {
        for (name, scheme, host, vars, flag, no_flag, want) in SELECTION {
            let got = proxy_for(scheme, host, 443, &env(vars), *flag, *no_flag)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = got.as_ref().map(|s| (s.source.as_str(), s.url.as_str()));
            assert_eq!(got, *want, "{name}");
        }
    }

    /// (case name, host, no_proxy list, matches)
    const NO_PROXY: &[(&str, &str, &str, bool)] = &[
        ("star alone matches all", "anything.example", "*", true),
        (
            "star inside a list is just a name",
            "anything.example",
            "*,foo",
            false,
        ),
        ("exact name", "example.com", "example.com", true),
        (
            "subdomain without leading dot",
            "www.example.com",
            "example.com",
            true,
        ),
        (
            "subdomain with leading dot",
            "www.example.com",
            ".example.com",
            true,
        ),
        (
            "leading dot matches the domain itself",
            "example.com",
            ".example.com",
            true,
        ),
        (
            "suffix that is not a label does not match",
            "notexample.com",
            "example.com",
            false,
        ),
        (
            "longer pattern does not match",
            "example.com",
            "www.example.com",
            false,
        ),
        ("case-insensitive", "WWW.Example.COM", "example.com", true),
        (
            "case-insensitive pattern",
            "www.example.com",
            "EXAMPLE.com",
            true,
        ),
        (
            "trailing dot on the host",
            "www.example.com.",
            "example.com",
            true,
        ),
        (
            "trailing dot on the pattern",
            "www.example.com",
            "example.com.",
            true,
        ),
        (
            "blanks around entries",
            "b.example",
            " a.example ,  b.example ",
            true,
        ),
        (
            "tabs around entries",
            "b.example",
            "\ta.example,\tb.example\t",
            true,
        ),
        (
            "empty entries are skipped",
            "b.example",
            ",,a.example,,,b.example,",
            true,
        ),
        (
            "blank-separated words end the list (curl)",
            "b.example",
            "a.example b.example",
            false,
        ),
        (
            "entry with a port never matches (curl ignores ports)",
            "example.com",
            "example.com:443",
            false,
        ),
        ("ipv4 exact", "10.1.2.3", "10.1.2.3", true),
        ("ipv4 other", "10.1.2.4", "10.1.2.3", false),
        ("ipv4 cidr", "10.1.2.3", "10.0.0.0/8", true),
        ("ipv4 cidr miss", "11.1.2.3", "10.0.0.0/8", false),
        ("ipv4 /32", "192.168.1.1", "192.168.1.1/32", true),
        (
            "ipv4 /0 means exact (curl)",
            "192.168.1.1",
            "0.0.0.0/0",
            false,
        ),
        (
            "ipv4 prefix over 32 never matches",
            "192.168.1.1",
            "192.168.1.1/33",
            false,
        ),
        (
            "ipv4 with a port never matches",
            "10.1.2.3",
            "10.1.2.3:80",
            false,
        ),
        (
            "host names never match an ip target",
            "127.0.0.1",
            "localhost",
            false,
        ),
        (
            "ip entries never match a name",
            "localhost",
            "127.0.0.1",
            false,
        ),
        (
            "ipv4 entry does not match a partial address",
            "10.1.2.3",
            "10.1",
            false,
        ),
        ("ipv6 exact", "::1", "::1", true),
        ("ipv6 in brackets", "[::1]", "::1", true),
        ("ipv6 cidr", "fd00::1:2", "fd00::/8", true),
        ("ipv6 cidr miss", "fe80::1", "fd00::/8", false),
        ("ipv6 odd prefix", "2001:db8::1", "2001:db8::/33", true),
        (
            "ipv6 entry in brackets never matches (curl)",
            "::1",
            "[::1]",
            false,
        ),
        (
            "ipv6 prefix over 128 never matches",
            "::1",
            "::1/129",
            false,
        ),
        ("empty list", "example.com", "", false),
        (
            "localhost and loopback list",
            "127.0.0.1",
            "localhost,127.0.0.1,::1",
            true,
        ),
    ];

    #[test]
    fn no_proxy_follows_curl() {
        for (name, host, list, want) in NO_PROXY {
            assert_eq!(no_proxy_matches(host, list), *want, "{name}");
        }
    }

    /// (case name, proxy URL, url shown, host, port, credentials)
    #[allow(clippy::type_complexity)]
    const URLS: &[(&str, &str, &str, &str, u16, Option<(&str, &str)>)] = &[
        (
            "bare host:port",
            "proxy.corp:3128",
            "http://proxy.corp:3128",
            "proxy.corp",
            3128,
            None,
        ),
        (
            "no port is 1080",
            "http://proxy.corp",
            "http://proxy.corp:1080",
            "proxy.corp",
            1080,
            None,
        ),
        (
            "trailing slash and path ignored",
            "http://proxy.corp:3128/some/path",
            "http://proxy.corp:3128",
            "proxy.corp",
            3128,
            None,
        ),
        (
            "scheme is case-insensitive",
            "HTTP://Proxy.Corp:8080",
            "http://proxy.corp:8080",
            "proxy.corp",
            8080,
            None,
        ),
        (
            "credentials are redacted",
            "http://bob:hunter2@proxy:3128",
            "http://bob:***@proxy:3128",
            "proxy",
            3128,
            Some(("bob", "hunter2")),
        ),
        (
            "user only",
            "http://bob@proxy:3128",
            "http://bob@proxy:3128",
            "proxy",
            3128,
            Some(("bob", "")),
        ),
        (
            "credentials are percent-decoded",
            "http://d%40m:p%3Ass@proxy:3128",
            "http://d@m:***@proxy:3128",
            "proxy",
            3128,
            Some(("d@m", "p:ss")),
        ),
        (
            "@ in the password, last @ splits",
            "http://bob:a@b@proxy:3128",
            "http://bob:***@proxy:3128",
            "proxy",
            3128,
            Some(("bob", "a@b")),
        ),
        (
            "ipv6 proxy",
            "http://[fd00::1]:3128",
            "http://[fd00::1]:3128",
            "fd00::1",
            3128,
            None,
        ),
        (
            "ipv6 proxy without port",
            "[::1]",
            "http://[::1]:1080",
            "::1",
            1080,
            None,
        ),
        (
            "surrounding blanks trimmed",
            "  http://p:1  ",
            "http://p:1",
            "p",
            1,
            None,
        ),
    ];

    #[test]
    fn proxy_urls_parse_like_curl() {
        for (name, raw, url, host, port, creds) in URLS {
            let proxy = select("https", "t", 443, &[], Some(raw), false)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap_or_else(|| panic!("{name}: no proxy"));
            assert_eq!(proxy.setting.url, *url, "{name}");
            assert_eq!(proxy.setting.host, *host, "{name}");
            assert_eq!(proxy.setting.port, *port, "{name}");
            assert_eq!(proxy.setting.has_credentials, creds.is_some(), "{name}");
            let got = proxy
                .credentials
                .as_ref()
                .map(|c| (c.user.as_str(), c.password.as_str()));
            assert_eq!(got, *creds, "{name}");
        }
    }

    /// (case name, proxy URL, unsupported scheme or None for invalid)
    const BAD_URLS: &[(&str, &str, Option<&str>)] = &[
        ("socks5", "socks5://p:1080", Some("socks5")),
        ("socks5h", "socks5h://p:1080", Some("socks5h")),
        ("socks4", "socks4://p:1080", Some("socks4")),
        ("socks4a", "SOCKS4A://p:1080", Some("socks4a")),
        ("https proxy", "https://p:443", Some("https")),
        ("unknown scheme", "ftp://p:21", None),
        ("port not a number", "http://p:abc", None),
        ("port zero", "http://p:0", None),
        ("port too big", "http://p:65536", None),
        ("no host", "http://:3128", None),
        ("unbracketed ipv6", "http://fd00::1", None),
        ("unclosed bracket", "http://[fd00::1:3128", None),
        ("bad escape", "http://bob:%zz@p:1", None),
        ("blank in host", "http://pro xy:1", None),
    ];

    #[test]
    fn bad_proxy_urls_are_errors() {
        for (name, raw, unsupported) in BAD_URLS {
            let err = select("https", "t", 443, &[], Some(raw), false).expect_err(name);
            match (err, unsupported) {
                (ProxyEnvError::Unsupported { scheme, .. }, Some(want)) => {
                    assert_eq!(scheme, *want, "{name}")
                }
                (ProxyEnvError::Invalid { .. }, None) => {}
                (other, _) => panic!("{name}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        for raw in ["socks5://bob:hunter2@p:1", "http://bob:hunter2@p:notaport"] {
            let err = select("https", "t", 443, &[], Some(raw), false).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("***@p"), "{text}");
        }
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let proxy = select(
            "https",
            "t",
            443,
            &[],
            Some("http://bob:hunter2@p:1"),
            false,
        )
        .unwrap()
        .unwrap();
        let text = format!("{proxy:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn error_names_the_source() {
        let err = proxy_for(
            "https",
            "t",
            443,
            &env(&[("HTTPS_PROXY", "http://p:99999")]),
            None,
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
    }

    proptest! {
        #[test]
        fn never_panics(
            scheme in "(http|https|tcp|udp|[a-z]{0,5})",
            host in "\\PC{0,40}",
            proxy in proptest::option::of("\\PC{0,60}"),
            no_proxy in "\\PC{0,60}",
            all in "\\PC{0,40}",
            flag in any::<bool>(),
        ) {
            let vars = env(&[("no_proxy", &no_proxy), ("all_proxy", &all)]);
            let _ = select(&scheme, &host, 443, &vars, proxy.as_deref(), flag);
            let _ = no_proxy_matches(&host, &no_proxy);
        }

        #[test]
        fn structured_urls_never_panic(
            user in "[a-z%:@]{0,8}",
            host in "[a-z0-9.:\\[\\]]{0,20}",
            port in "[0-9a-z]{0,6}",
        ) {
            let raw = format!("http://{user}@{host}:{port}/x");
            let _ = select("https", "t", 443, &[], Some(&raw), false);
        }
    }
}
