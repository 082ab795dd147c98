//! The `netdiag:` module section: the full walk, with `netdiag check`'s options. Durations are
//! Prometheus durations; the defaults are `netdiag check`'s.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// netdiag's walk prober settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetdiagProbe {
    /// `--slow` (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<String>,
    /// `--mtu`: search the path MTU even on a healthy session.
    #[serde(default)]
    pub mtu: bool,
    /// `--connect-timeout` (default 3s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// `ip4` or `ip6` (`-4` / `-6`); absent: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `--cacert`: extra trusted roots (PEM file).
    #[serde(default, alias = "ca_file", skip_serializing_if = "Option::is_none")]
    pub cacert: Option<String>,
    /// `--sni`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// `--proxy` (the environment's proxy is never used by the prober).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// `-L`: follow redirects.
    #[serde(default)]
    pub follow: bool,
}

/// `netdiag check`'s `--slow` default.
pub const DEFAULT_SLOW: std::time::Duration = std::time::Duration::from_secs(2);
/// `netdiag check`'s `--connect-timeout` default.
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl NetdiagProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.slow()?;
        self.connect_timeout()?;
        match self.family.as_deref() {
            None | Some("ip4" | "ip6") => {}
            Some(other) => return Err(ConfigError(format!("family {other:?} is not ip4 or ip6"))),
        }
        if let Some(p) = &self.proxy {
            netdiag_core::proxyenv::select("http", "example.invalid", 80, &[], Some(p), false)
                .map_err(|e| ConfigError(format!("proxy: {e}")))?;
        }
        Ok(())
    }

    /// The `--slow` threshold.
    pub fn slow(&self) -> Result<std::time::Duration, ConfigError> {
        match &self.slow {
            None => Ok(DEFAULT_SLOW),
            Some(s) => super::duration::parse(s),
        }
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Result<std::time::Duration, ConfigError> {
        match &self.connect_timeout {
            None => Ok(DEFAULT_CONNECT_TIMEOUT),
            Some(s) => super::duration::parse(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    #[test]
    fn check_options_parse() {
        let c = parse("modules:\n  n:\n    prober: netdiag\n    netdiag: {slow: 500ms, mtu: true, family: ip4, ca_file: /x.pem, sni: a.example}\n").unwrap();
        let n = &c.modules["n"].netdiag;
        assert_eq!(n.slow().unwrap(), std::time::Duration::from_millis(500));
        assert_eq!(n.cacert.as_deref(), Some("/x.pem"));
        assert!(
            parse("modules:\n  n:\n    prober: netdiag\n    netdiag: {family: ip5}\n").is_err()
        );
        assert!(parse("modules:\n  n:\n    prober: netdiag\n    netdiag: {slow: fast}\n").is_err());
        assert!(parse("modules:\n  n:\n    prober: netdiag\n    netdiag: {other: 1}\n").is_err());
    }
}
