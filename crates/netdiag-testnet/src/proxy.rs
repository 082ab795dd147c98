//! A real forward proxy for scenarios: tinyproxy, run in the foreground with a config written
//! for the test.
//!
//! What tinyproxy 1.11 (Debian 12, package `tinyproxy-bin`) really does, checked with curl and
//! recorded here because the proxy tests rely on it:
//! - `CONNECT` is allowed only to the ports named by `ConnectPort` lines, and to every port when
//!   there is none; a port not listed gets **403 Access violation**. The config written here
//!   always names ports: 443 and 563 unless the test says otherwise, like Debian's packaged
//!   `/etc/tinyproxy/tinyproxy.conf`;
//! - with `BasicAuth`, a request without `Proxy-Authorization` gets **407 Proxy Authentication
//!   Required** with `Proxy-Authenticate: Basic realm="Tinyproxy"` (checked before the port);
//! - a `CONNECT` to a target it cannot reach (refused, say) gets **500 Unable to connect**;
//! - running as root without a `User` line it warns and keeps the current user.

use std::fmt::Write as _;

/// A tinyproxy configuration: where it listens, which CONNECT ports it allows, whether it
/// demands credentials.
///
/// ```
/// use netdiag_testnet::Tinyproxy;
/// let proxy = Tinyproxy::on("10.77.1.1", 3128).connect_port(443).basic_auth("user", "secret");
/// ```
#[derive(Debug, Clone)]
pub struct Tinyproxy {
    listen: String,
    port: u16,
    connect_ports: Vec<u16>,
    basic_auth: Option<(String, String)>,
}

impl Tinyproxy {
    /// A proxy on `addr:port` that allows CONNECT to port 443 only.
    pub fn on(addr: &str, port: u16) -> Self {
        Tinyproxy {
            listen: addr.to_owned(),
            port,
            connect_ports: Vec::new(),
            basic_auth: None,
        }
    }

    /// `addr:port`, as a client's proxy URL needs it.
    pub fn address(&self) -> String {
        if self.listen.contains(':') {
            format!("[{}]:{}", self.listen, self.port)
        } else {
            format!("{}:{}", self.listen, self.port)
        }
    }

    /// Also allows CONNECT to `port` (the first call replaces tinyproxy's default of 443 and 563,
    /// so name 443 too if it should stay allowed).
    pub fn connect_port(mut self, port: u16) -> Self {
        self.connect_ports.push(port);
        self
    }

    /// Demands HTTP Basic credentials (`BasicAuth user password`).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The configuration file's text.
    pub(crate) fn render(&self) -> String {
        let mut conf = String::new();
        let _ = writeln!(conf, "Port {}", self.port);
        let _ = writeln!(conf, "Listen {}", self.listen);
        let _ = writeln!(conf, "Timeout 10");
        let _ = writeln!(conf, "MaxClients 20");
        let _ = writeln!(conf, "LogLevel Info");
        let ports = if self.connect_ports.is_empty() {
            &[443, 563][..]
        } else {
            &self.connect_ports[..]
        };
        for port in ports {
            let _ = writeln!(conf, "ConnectPort {port}");
        }
        if let Some((user, password)) = &self.basic_auth {
            let _ = writeln!(conf, "BasicAuth {user} {password}");
        }
        conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_listen_address_ports_and_credentials() {
        let conf = Tinyproxy::on("10.77.1.1", 3128)
            .connect_port(8443)
            .basic_auth("u", "p")
            .render();
        assert!(conf.contains("Port 3128\nListen 10.77.1.1\n"), "{conf}");
        assert!(conf.contains("ConnectPort 8443\n"), "{conf}");
        assert!(!conf.contains("ConnectPort 443\n"), "{conf}");
        assert!(conf.contains("BasicAuth u p\n"), "{conf}");
        let default = Tinyproxy::on("10.77.1.1", 3128).render();
        assert!(
            default.contains("ConnectPort 443\nConnectPort 563\n"),
            "{default}"
        );
    }
}
