//! Real DNS servers for scenarios (dnsmasq, unbound) and `dig` results to verify them.
//!
//! What the servers really return was checked with `dig` on Debian 12 (dnsmasq 2.90,
//! unbound 1.17) and is recorded here because it is not what one might guess:
//! - dnsmasq with `--no-resolv` and no upstream answers **REFUSED** for any name it has no local
//!   data for, *including other types of a name it knows* (AAAA of a name with only an A record).
//!   [`Dnsmasq::authoritative_for`] (`--local=/zone/`) turns that into NXDOMAIN / NODATA.
//! - dnsmasq relays an upstream's REFUSED as REFUSED and its SERVFAIL as SERVFAIL, but sends
//!   **nothing** when its upstream is dead (the client times out after 30 s of dig; no SERVFAIL).
//! - unbound answers SERVFAIL (also with CD=1) when its stub zone's server refuses.
//! - unbound with a trust anchor for a zone that is served unsigned answers SERVFAIL with CD=0 and
//!   the data with CD=1: a DNSSEC validation failure.
//! - unbound refuses `test.` (and `invalid.`) by default as RFC 6761 names; the config below
//!   re-enables `test.` so scenarios can use it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// A dnsmasq instance bound to one address, answering only from the records given here.
///
/// ```
/// use netdiag_testnet::Dnsmasq;
/// let dns = Dnsmasq::on("10.77.2.2")
///     .authoritative_for("test")
///     .host("ok.test", "10.77.2.2")
///     .txt("txt.test", "only a TXT record");
/// ```
#[derive(Debug, Clone)]
pub struct Dnsmasq {
    listen: String,
    args: Vec<String>,
}

impl Dnsmasq {
    /// A dnsmasq listening on `addr` port 53 only, with no upstream and no /etc files.
    pub fn on(addr: &str) -> Self {
        Dnsmasq {
            listen: addr.to_owned(),
            args: Vec::new(),
        }
    }

    /// The address it listens on.
    pub fn listen(&self) -> &str {
        &self.listen
    }

    /// An A or AAAA record (`--host-record`).
    pub fn host(mut self, name: &str, addr: &str) -> Self {
        self.args.push(format!("--host-record={name},{addr}"));
        self
    }

    /// A TXT record (`--txt-record`): with no address records, A and AAAA get NODATA (inside a
    /// zone made authoritative with [`Dnsmasq::authoritative_for`]).
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.args.push(format!("--txt-record={name},{text}"));
        self
    }

    /// Answers names in `zone` from local data only: NXDOMAIN for unknown names, NODATA for
    /// missing types (`--local=/zone/`). Without it dnsmasq says REFUSED.
    pub fn authoritative_for(mut self, zone: &str) -> Self {
        self.args.push(format!("--local=/{zone}/"));
        self
    }

    /// NXDOMAIN for `domain` and everything below it (`--address=/domain/`).
    pub fn nxdomain(mut self, domain: &str) -> Self {
        self.args.push(format!("--address=/{domain}/"));
        self
    }

    /// Forwards `domain` to `server` (`--server=/domain/server`).
    pub fn forward(mut self, domain: &str, server: &str) -> Self {
        self.args.push(format!("--server=/{domain}/{server}"));
        self
    }

    /// Any other dnsmasq option.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub(crate) fn args(&self, query_log: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--bind-interfaces",
            "--pid-file=",
            // dnsmasq-base alone does not create the dnsmasq user.
            "--user=root",
            "--group=root",
            "--log-queries",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--listen-address={}", self.listen));
        args.push(format!("--log-facility={}", query_log.display()));
        args.extend(self.args.iter().cloned());
        args
    }
}

/// An unbound instance bound to one address: a recursive resolver whose "internet" is the stub
/// zones given here.
///
/// ```
/// use netdiag_testnet::Unbound;
/// // SERVFAIL with CD=0, the data with CD=1: a DNSSEC validation failure.
/// let dns = Unbound::on("10.77.2.3")
///     .stub_zone("sec.test", "10.77.2.2")
///     .trust_anchor("sec.test");
/// ```
#[derive(Debug, Clone)]
pub struct Unbound {
    listen: String,
    refuse: bool,
    stubs: Vec<(String, String)>,
    anchors: Vec<String>,
    lines: Vec<String>,
}

impl Unbound {
    /// An unbound listening on `addr` port 53, allowing every client.
    pub fn on(addr: &str) -> Self {
        Unbound {
            listen: addr.to_owned(),
            refuse: false,
            stubs: Vec::new(),
            anchors: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The address it listens on.
    pub fn listen(&self) -> &str {
        &self.listen
    }

    /// Resolves `zone` by asking `server` (a stub zone).
    pub fn stub_zone(mut self, zone: &str, server: &str) -> Self {
        self.stubs.push((zone.to_owned(), server.to_owned()));
        self
    }

    /// Adds a trust anchor for `zone` that no key can match (a made-up DS), so every answer in
    /// the zone validates as bogus: SERVFAIL with CD=0, the data with CD=1.
    pub fn trust_anchor(mut self, zone: &str) -> Self {
        self.anchors.push(zone.to_owned());
        self
    }

    /// Answers REFUSED to everyone (`access-control: 0.0.0.0/0 refuse`).
    pub fn refuse_all(mut self) -> Self {
        self.refuse = true;
        self
    }

    /// Any other line for the `server:` section.
    pub fn line(mut self, line: &str) -> Self {
        self.lines.push(line.to_owned());
        self
    }

    pub(crate) fn render(&self, dir: &Path) -> String {
        let action = if self.refuse { "refuse" } else { "allow" };
        let v6 = if self.listen.contains(':') {
            "yes"
        } else {
            "no"
        };
        let mut conf = format!(
            "server:\n  interface: {listen}\n  port: 53\n  do-daemonize: no\n  username: \"\"\n  \
             chroot: \"\"\n  pidfile: \"\"\n  directory: \"{dir}\"\n  use-syslog: no\n  \
             logfile: \"\"\n  verbosity: 1\n  num-threads: 1\n  so-reuseport: no\n  \
             do-ip6: {v6}\n  access-control: 0.0.0.0/0 {action}\n  access-control: ::/0 {action}\n  \
             module-config: \"validator iterator\"\n  qname-minimisation: no\n  \
             val-log-level: 2\n  local-zone: \"test.\" nodefault\n",
            listen = self.listen,
            dir = dir.display(),
        );
        for zone in &self.anchors {
            let _ = writeln!(
                conf,
                "  trust-anchor: \"{zone}. DS 12345 13 2 \
                 3b2c1a0f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b\""
            );
        }
        for line in &self.lines {
            let _ = writeln!(conf, "  {line}");
        }
        for (zone, server) in &self.stubs {
            let _ = write!(
                conf,
                "stub-zone:\n  name: \"{zone}\"\n  stub-addr: {server}\n"
            );
        }
        conf
    }
}

/// What `dig` saw: the rcode (`None` when nothing answered), header flags and answer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dig {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, …; `None` on timeout.
    pub status: Option<String>,
    /// Header flags, e.g. `["qr", "rd", "ra", "cd"]`.
    pub flags: Vec<String>,
    /// Answer records as dig prints them (`ok.test. 0 IN A 10.77.2.2`).
    pub answers: Vec<String>,
    /// How long dig ran.
    pub elapsed: Duration,
}

impl Dig {
    pub(crate) fn parse(stdout: &str, elapsed: Duration) -> Dig {
        let mut status = None;
        let mut flags = Vec::new();
        let mut answers = Vec::new();
        let mut in_answer = false;
        for line in stdout.lines() {
            if let Some(rest) = line.split_once("status: ").map(|(_, r)| r) {
                status = rest.split(',').next().map(|s| s.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix(";; flags: ") {
                flags = rest
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
            } else if line.starts_with(";; ANSWER SECTION") {
                in_answer = true;
            } else if line.starts_with(";;") || line.trim().is_empty() {
                in_answer = false;
            } else if in_answer && !line.starts_with(';') {
                answers.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        Dig {
            status,
            flags,
            answers,
            elapsed,
        }
    }

    /// Whether the status is `rcode`.
    pub fn is(&self, rcode: &str) -> bool {
        self.status.as_deref() == Some(rcode)
    }

    /// NOERROR with no answer records: NODATA.
    pub fn is_nodata(&self) -> bool {
        self.is("NOERROR") && self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIG_ANSWER: &str = "\n; <<>> DiG 9.18 <<>> @10.77.9.4 www.sec.test A +cd\n;; global options: +cmd\n;; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 31706\n;; flags: qr rd ra cd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n;; QUESTION SECTION:\n;www.sec.test.\t\t\tIN\tA\n\n;; ANSWER SECTION:\nwww.sec.test.\t\t0\tIN\tA\t10.77.9.2\n\n";

    #[test]
    fn dig_output_gives_status_flags_and_answers() {
        let dig = Dig::parse(DIG_ANSWER, Duration::ZERO);
        assert!(dig.is("NOERROR"));
        assert_eq!(dig.flags, ["qr", "rd", "ra", "cd"]);
        assert_eq!(dig.answers, ["www.sec.test. 0 IN A 10.77.9.2"]);
        assert!(!dig.is_nodata());
    }

    #[test]
    fn dig_timeout_has_no_status() {
        let dig = Dig::parse(
            ";; communications error to 10.77.2.3#53: timed out\n",
            Duration::ZERO,
        );
        assert_eq!(dig.status, None);
    }

    #[test]
    fn unbound_config_has_anchor_stub_and_refuse() {
        let conf = Unbound::on("10.77.2.3")
            .stub_zone("sec.test", "10.77.2.2")
            .trust_anchor("sec.test")
            .refuse_all()
            .render(Path::new("/tmp/x"));
        assert!(conf.contains("trust-anchor: \"sec.test. DS 12345"));
        assert!(conf.contains("stub-zone:\n  name: \"sec.test\"\n  stub-addr: 10.77.2.2\n"));
        assert!(conf.contains("access-control: 0.0.0.0/0 refuse"));
    }
}
