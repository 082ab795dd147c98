//! The `tcp:` module section: blackbox's names and defaults. `query_response` steps with
//! `expect`, `send`, `labels` and `starttls` are implemented; `expect_bytes` (and `starttls`
//! with `insecure_skip_verify`) parse and are refused naming them, like `source_ip_address`.

use super::http::{check_ip_protocol, check_regex, refuse, TlsConfig};
use super::ConfigError;
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

fn ip6() -> String {
    "ip6".to_string()
}

/// blackbox's tcp prober settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// `ip6` (default) or `ip4`.
    #[serde(default = "ip6")]
    pub preferred_ip_protocol: String,
    /// Use the other family when the preferred one has no address (default true).
    #[serde(default = "yes")]
    pub ip_protocol_fallback: bool,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip_address: String,
    /// TLS right after connecting.
    #[serde(default)]
    pub tls: bool,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// The dialogue.
    #[serde(default)]
    pub query_response: Vec<QueryResponse>,
}

impl Default for TcpProbe {
    fn default() -> Self {
        TcpProbe {
            preferred_ip_protocol: ip6(),
            ip_protocol_fallback: true,
            source_ip_address: String::new(),
            tls: false,
            tls_config: TlsConfig::default(),
            query_response: Vec::new(),
        }
    }
}

/// One step of the dialogue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryResponse {
    /// Read lines until one matches.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expect: String,
    /// Write this text and a newline (`${1}` from the last match).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub send: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_bytes: Option<String>,
    /// Not implemented.
    #[serde(default)]
    pub starttls: bool,
    /// `probe_expect_info{name="value"} 1` when this step's `expect` matched; values expand
    /// `${1}` from that match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<ExpectLabel>,
}

/// One label of `probe_expect_info` (blackbox's `Label`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectLabel {
    /// The label name (Prometheus label syntax).
    #[serde(default)]
    pub name: String,
    /// The value template (`${1}`, `$name` from the step's match).
    #[serde(default)]
    pub value: String,
}

/// Prometheus's label name syntax, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl TcpProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        refuse(&[
            (!self.source_ip_address.is_empty(), "source_ip_address"),
            (
                self.tls && !self.query_response.is_empty(),
                "query_response (with tls: true)",
            ),
        ])?;
        for q in &self.query_response {
            refuse(&[
                (q.expect_bytes.is_some(), "query_response.expect_bytes"),
                (
                    q.starttls && self.tls_config.insecure_skip_verify,
                    "query_response.starttls with insecure_skip_verify",
                ),
            ])?;
            if !q.labels.is_empty() && q.expect.is_empty() {
                return Err(ConfigError(
                    "query_response.labels needs an expect in the same step".into(),
                ));
            }
            for l in &q.labels {
                if !label_name_ok(&l.name) {
                    return Err(ConfigError(format!(
                        "query_response.labels: {:?} is not a valid label name",
                        l.name
                    )));
                }
            }
            if !q.expect.is_empty() {
                check_regex("query_response.expect", &q.expect)?;
            }
        }
        self.tls_config.validate()?;
        check_ip_protocol(&self.preferred_ip_protocol)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    fn tcp(yaml: &str) -> Result<super::TcpProbe, String> {
        let text = format!("modules:\n  m:\n    prober: tcp\n    tcp:\n{yaml}");
        parse(&text)
            .map(|c| c.modules["m"].tcp.clone())
            .map_err(|e| e.0)
    }

    #[test]
    fn fields_parse_and_unimplemented_are_named() {
        let t = tcp("      query_response: [{expect: '^SSH-2.0-'}, {send: 'QUIT'}]\n").unwrap();
        assert!(!t.tls && t.query_response.len() == 2 && t.ip_protocol_fallback);
        for (yaml, name) in [
            ("      source_ip_address: 127.0.0.1\n", "source_ip_address"),
            (
                "      query_response: [{starttls: true}]\n      tls_config: {insecure_skip_verify: true}\n",
                "starttls",
            ),
            (
                "      query_response: [{expect_bytes: 'x'}]\n",
                "expect_bytes",
            ),
        ] {
            let e = tcp(yaml).unwrap_err();
            assert!(e.contains(name) && e.contains("not implemented"), "{e}");
        }
        assert!(tcp("      query_response: [{expect: '('}]\n").is_err());
        let t =
            tcp("      query_response: [{expect: '^(a)', labels: [{name: v, value: '${1}'}]}]\n")
                .unwrap();
        assert_eq!(t.query_response[0].labels[0].value, "${1}");
        for bad in [
            "      query_response: [{labels: [{name: v, value: x}]}]\n",
            "      query_response: [{expect: a, labels: [{name: '1v', value: x}]}]\n",
            "      query_response: [{expect: a, labels: [{name: __v, value: x}]}]\n",
            "      query_response: [{expect: a, labels: [{name: v, bogus: x}]}]\n",
        ] {
            assert!(tcp(bad).is_err(), "{bad}");
        }
        assert!(tcp("      bogus: 1\n").unwrap_err().contains("bogus"));
        let e = tcp("      tls: true\n      query_response: [{expect: a}]\n").unwrap_err();
        assert!(
            e.contains("query_response") && e.contains("not implemented"),
            "{e}"
        );
    }
}
