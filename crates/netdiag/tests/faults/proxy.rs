//! proxy layer: when a proxy applies, is it reachable, and does CONNECT work?
//!
//! A real tinyproxy runs on the router (10.77.1.1:3128), the service is the harness's HTTPS server
//! on 10.77.2.2:443 with a certificate for that address, and the client is given the proxy the
//! way users are: `https_proxy` in the environment. `curl -x` (or a plain connect) proves each
//! fault first. The target is an address, not a name, because through a proxy the proxy resolves
//! names, and the router has no resolver.

use crate::common::*;
use crate::http::curl;
use netdiag_testnet::{
    require_netns, HttpServer, Pki, Result, Run, Signer, TcpConnect, Tinyproxy, Validity,
};

const PROXY_ADDR: &str = "10.77.1.1:3128";
const PROXY_URL: &str = "http://10.77.1.1:3128";
const URL: &str = "https://10.77.2.2/";
const SERVICE: &str = "10.77.2.2:443";

struct ProxyLab {
    lab: Lab,
    pki: Pki,
}

fn proxy_lab(tag: &str) -> Result<ProxyLab> {
    let lab = lab(tag)?;
    let pki = lab.net.pki()?;
    Ok(ProxyLab { lab, pki })
}

impl ProxyLab {
    fn root(&self) -> String {
        self.pki.root_pem().to_string_lossy().into_owned()
    }

    /// The HTTPS service on `addr` (an address of the server), with a certificate for 10.77.2.2
    /// and svc.test.
    fn service(&self, addr: &str) -> Result<()> {
        let leaf = self.pki.leaf(
            "service",
            &["10.77.2.2", "svc.test"],
            Validity::Current,
            Signer::Intermediate,
        )?;
        self.lab.server.http(
            addr,
            HttpServer::status(200).tls(&leaf.full_chain, &leaf.key),
        )
    }

    /// `curl -x PROXY` to `url`, trusting our root.
    fn curl_via(&self, proxy: &str, url: &str) -> Result<Run> {
        let root = self.root();
        curl(&self.lab, &["-x", proxy, "--cacert", &root], url, 3)
    }

    /// `netdiag check URL` with `https_proxy=PROXY` in its environment, trusting our root.
    fn check_via(&self, proxy: &str, url: &str, extra: &[&str]) -> Result<Run> {
        let root = self.root();
        let mut args = vec!["check", url, "--format", "json", "--cacert", &root];
        args.extend_from_slice(extra);
        let resolv = self.lab.net.resolv_conf(&["nameserver 127.0.0.1"])?;
        let hosts = self.lab.net.hosts_file(&["127.0.0.1 localhost"])?;
        let (resolv, hosts) = (resolv.to_string_lossy(), hosts.to_string_lossy());
        args.extend(["--resolv-conf", &resolv, "--hosts-file", &hosts]);
        self.lab
            .client
            .netdiag_env(&args, &[("https_proxy", proxy)])
    }

    /// What tinyproxy logged so far.
    fn proxy_log(&self) -> String {
        let log = self
            .lab
            .net
            .dir()
            .join(format!("r-tinyproxy-{PROXY_ADDR}.log"));
        std::fs::read_to_string(log).unwrap_or_default()
    }
}

#[track_caller]
fn assert_proxy_rows(run: &Run) {
    assert!(run.rows_of("proxy").count() > 0, "proxy rows{run}");
}

/// Only the proxy may reach the service (the router forwards nothing from the client to port 443),
/// so a healthy verdict proves the whole walk went through the tunnel. `--sni svc.test`: the
/// name the certificate is verified against (see the ignored IP-literal variant below).
#[test]
fn proxy_healthy_https_is_exit_0() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxyok")?;
    healthy_proxy(&p)?;

    let run = p.check_via(PROXY_URL, URL, &["--sni", "svc.test"])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert_proxy_rows(&run);
    assert_mentions(&run, "CONNECT 10.77.2.2:443");
    assert!(
        p.proxy_log().matches("CONNECT 10.77.2.2:443").count() >= 2,
        "tinyproxy saw curl's and netdiag's CONNECT:\n{}",
        p.proxy_log()
    );
    Ok(())
}

/// The same healthy path with the plain `https://10.77.2.2/` target: the certificate lists
/// 10.77.2.2, and curl through the proxy accepts it.
#[test]
fn proxy_healthy_https_ip_target_is_exit_0() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxyokip")?;
    healthy_proxy(&p)?;

    let run = p.check_via(PROXY_URL, URL, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert_proxy_rows(&run);
    Ok(())
}

/// The service behind a healthy tinyproxy on the router, which forwards nothing from the client
/// to port 443 itself; proven with curl both ways.
fn healthy_proxy(p: &ProxyLab) -> Result<()> {
    p.service(SERVICE)?;
    p.lab.router.tinyproxy(Tinyproxy::on("10.77.1.1", 3128))?;
    p.lab
        .router
        .run("iptables -w -A FORWARD -s 10.77.1.2 -p tcp --dport 443 -j REJECT")?;
    let direct = curl(&p.lab, &["--cacert", &p.root()], URL, 2)?;
    assert!(!direct.stdout.starts_with("200 "), "no direct path{direct}");
    let probe = p.curl_via(PROXY_URL, URL)?;
    assert!(probe.stdout.starts_with("200 "), "curl -x{probe}");
    let named = p.curl_via(PROXY_URL, "https://svc.test/")?;
    assert!(
        !named.stdout.starts_with("200 "),
        "the proxy cannot resolve svc.test{named}"
    );
    Ok(())
}

/// Nothing listens on the proxy port, and the service is down too: refused, and the direct path
/// is no way out.
#[test]
fn proxy_refused() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxyrefused")?;
    assert_eq!(
        p.lab.client.tcp_connect(PROXY_ADDR, PROBE)?,
        TcpConnect::Refused
    );
    assert_eq!(
        p.lab.client.tcp_connect(SERVICE, PROBE)?,
        TcpConnect::Refused
    );

    let run = p.check_via(PROXY_URL, URL, &[])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_refused");
    assert_mentions(&run, PROXY_ADDR);
    assert_mentions(&run, "fails too");
    Ok(())
}

/// The proxy's port is silently dropped by a firewall on the proxy host.
#[test]
fn proxy_unreachable_dropped() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxydrop")?;
    p.service(SERVICE)?;
    p.lab.router.tinyproxy(Tinyproxy::on("10.77.1.1", 3128))?;
    p.lab
        .router
        .run("iptables -w -A INPUT -p tcp --dport 3128 -j DROP")?;
    assert_eq!(
        p.lab.client.tcp_connect(PROXY_ADDR, PROBE)?,
        TcpConnect::TimedOut
    );

    let run = p.check_via(PROXY_URL, URL, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_unreachable");
    assert_mentions(&run, PROXY_ADDR);
    Ok(())
}

/// The proxy's name does not resolve (the client's only nameserver is 127.0.0.1, where nothing
/// listens, and the hosts file does not know it).
#[test]
fn proxy_unreachable_name_does_not_resolve() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxynxname")?;
    p.service(SERVICE)?;
    let probe = p.curl_via("http://proxy.invalid:3128", URL)?;
    assert_eq!(
        probe.status,
        Some(5),
        "curl: could not resolve proxy{probe}"
    );

    let run = p.check_via("http://proxy.invalid:3128", URL, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_unreachable");
    assert_mentions(&run, "proxy.invalid");
    Ok(())
}

/// The proxy demands Basic credentials and none are configured: 407.
#[test]
fn proxy_auth_required() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxyauth")?;
    p.service(SERVICE)?;
    p.lab
        .router
        .tinyproxy(Tinyproxy::on("10.77.1.1", 3128).basic_auth("netdiag", "s3cret"))?;
    let probe = p.curl_via(PROXY_URL, URL)?;
    assert!(
        probe.stderr.contains("407"),
        "curl -x: CONNECT answered 407{probe}"
    );
    let with_credentials = p.curl_via("http://netdiag:s3cret@10.77.1.1:3128", URL)?;
    assert!(
        with_credentials.stdout.starts_with("200 "),
        "curl -x with credentials{with_credentials}"
    );

    let run = p.check_via(PROXY_URL, URL, &[])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_auth_required");
    assert_mentions(&run, "407");
    assert_mentions(&run, "Basic");
    Ok(())
}

/// The proxy's policy forbids CONNECT to the service's port (only 443 and 563 are allowed):
/// 403, though the service is up and reachable directly.
#[test]
fn proxy_connect_failed_port_forbidden() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxyport")?;
    p.service("10.77.2.2:8443")?;
    p.lab.router.tinyproxy(Tinyproxy::on("10.77.1.1", 3128))?;
    let url = "https://10.77.2.2:8443/";
    let probe = p.curl_via(PROXY_URL, url)?;
    assert!(
        probe.stderr.contains("403"),
        "curl -x: CONNECT answered 403{probe}"
    );
    let direct = curl(&p.lab, &["--cacert", &p.root()], url, 3)?;
    assert!(direct.stdout.starts_with("200 "), "direct{direct}");

    let run = p.check_via(PROXY_URL, url, &[])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_connect_failed");
    assert_mentions(&run, "403");
    Ok(())
}

/// The proxy is fine but cannot reach the service itself (nothing listens there): tinyproxy
/// answers CONNECT with 500.
#[test]
fn proxy_connect_failed_target_down() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxytgtdown")?;
    p.lab.router.tinyproxy(Tinyproxy::on("10.77.1.1", 3128))?;
    let probe = p.curl_via(PROXY_URL, URL)?;
    assert!(
        probe.stderr.contains("500"),
        "curl -x: CONNECT answered 500{probe}"
    );

    let run = p.check_via(PROXY_URL, URL, &[])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_connect_failed");
    assert_mentions(&run, "500");
    Ok(())
}

/// The proxy is dead but the service is fine: the verdict must say the proxy is the problem.
#[test]
fn proxy_dead_direct_path_works() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxydead")?;
    p.service(SERVICE)?;
    assert_eq!(
        p.lab.client.tcp_connect(PROXY_ADDR, PROBE)?,
        TcpConnect::Refused
    );
    let direct = curl(&p.lab, &["--cacert", &p.root()], URL, 3)?;
    assert!(direct.stdout.starts_with("200 "), "direct{direct}");

    let run = p.check_via(PROXY_URL, URL, &[])?;
    assert_diagnosis(&run, 1, Some("proxy"), "proxy_refused");
    assert_mentions(&run, "direct path works");
    assert_mentions(&run, "the proxy is the problem, not the service");
    Ok(())
}

/// `--no-proxy` ignores the (dead) proxy of the environment and checks the direct path.
#[test]
fn no_proxy_flag_bypasses_the_proxy() -> Result<()> {
    require_netns!();
    let p = proxy_lab("proxybypass")?;
    p.service(SERVICE)?;
    assert_eq!(
        p.lab.client.tcp_connect(PROXY_ADDR, PROBE)?,
        TcpConnect::Refused
    );

    let run = p.check_via(PROXY_URL, URL, &["--no-proxy"])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert_eq!(run.rows_of("proxy").count(), 0, "no proxy rows{run}");
    Ok(())
}
