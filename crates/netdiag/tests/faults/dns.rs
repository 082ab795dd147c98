//! dns layer: real dnsmasq and unbound in the server namespace, the client's resolv.conf
//! pointing at them. Every rcode below was checked with `dig` first (see netdiag-testnet's
//! `dns` module for what the servers really return).

use crate::common::*;
use netdiag_testnet::{require_netns, Dnsmasq, Result, Unbound};
use std::time::Duration;

/// A lab whose server also owns 10.77.2.3–.5 (for second nameservers and upstreams).
fn dns_lab(tag: &str) -> Result<Lab> {
    let lab = lab(tag)?;
    for addr in ["10.77.2.3/24", "10.77.2.4/24", "10.77.2.5/24"] {
        lab.server.add_address("eth0", addr)?;
    }
    Ok(lab)
}

/// dnsmasq on `addr`, authoritative for `test.`: ok.test has an A record, txt.test only TXT.
fn test_zone(addr: &str) -> Dnsmasq {
    Dnsmasq::on(addr)
        .authoritative_for("test")
        .host("ok.test", SERVER)
        .txt("txt.test", "no-address-here")
}

impl Lab {
    /// `netdiag check TARGET` from the client with a resolv.conf naming `nameservers`.
    fn check_via(
        &self,
        nameservers: &[&str],
        target: &str,
        extra: &[&str],
    ) -> Result<netdiag_testnet::Run> {
        let lines: Vec<String> = nameservers
            .iter()
            .map(|ns| format!("nameserver {ns}"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let resolv = self.net.resolv_conf(&lines)?;
        let resolv = resolv.to_string_lossy().into_owned();
        let mut args = vec!["--resolv-conf", resolv.as_str()];
        args.extend_from_slice(extra);
        self.check(&self.client, target, &args)
    }
}

#[test]
fn dns_nxdomain() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsnx")?;
    lab.server.dnsmasq(test_zone(SERVER))?;
    assert!(lab
        .client
        .dig(SERVER, "missing.test", "A", &[])?
        .is("NXDOMAIN"));

    let run = lab.check_via(&[SERVER], "missing.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_nxdomain");
    assert_mentions(&run, SERVER);
    Ok(())
}

#[test]
fn dns_nodata_only_txt_record() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsnodata")?;
    lab.server.dnsmasq(test_zone(SERVER))?;
    assert!(lab.client.dig(SERVER, "txt.test", "A", &[])?.is_nodata());
    assert!(lab.client.dig(SERVER, "txt.test", "AAAA", &[])?.is_nodata());
    assert_eq!(
        lab.client
            .dig(SERVER, "txt.test", "TXT", &[])?
            .answers
            .len(),
        1
    );

    let run = lab.check_via(&[SERVER], "txt.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_nodata");
    Ok(())
}

/// unbound resolves fail.test through a stub server that refuses: unbound answers SERVFAIL,
/// with and without CD (so it is not a DNSSEC failure).
#[test]
fn dns_servfail_upstream_refuses() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsservfail")?;
    lab.server.dnsmasq(Dnsmasq::on("10.77.2.4"))?;
    lab.server
        .unbound(Unbound::on("10.77.2.3").stub_zone("fail.test", "10.77.2.4"))?;
    assert!(lab
        .client
        .dig("10.77.2.4", "a.fail.test", "A", &[])?
        .is("REFUSED"));
    assert!(lab
        .client
        .dig("10.77.2.3", "a.fail.test", "A", &[])?
        .is("SERVFAIL"));
    assert!(lab
        .client
        .dig("10.77.2.3", "a.fail.test", "A", &["+cd"])?
        .is("SERVFAIL"));

    let run = lab.check_via(&["10.77.2.3"], "a.fail.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_servfail");
    Ok(())
}

#[test]
fn dns_refused_by_unbound_access_control() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsrefused")?;
    lab.server.unbound(Unbound::on(SERVER).refuse_all())?;
    assert!(lab.client.dig(SERVER, "ok.test", "A", &[])?.is("REFUSED"));

    let run = lab.check_via(&[SERVER], "ok.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_refused");
    Ok(())
}

/// dnsmasq with no upstream and no data for the name refuses it.
#[test]
fn dns_refused_by_dnsmasq_without_upstream() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsrefdm")?;
    lab.server.dnsmasq(Dnsmasq::on(SERVER))?;
    assert!(lab
        .client
        .dig(SERVER, "ok.example", "A", &[])?
        .is("REFUSED"));

    let run = lab.check_via(&[SERVER], "ok.example", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_refused");
    Ok(())
}

#[test]
fn dns_timeout_only_nameserver_dropped() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnstimeout")?;
    lab.server.dnsmasq(test_zone(SERVER))?;
    lab.server.run(
        "iptables -w -A INPUT -p udp --dport 53 -j DROP; \
         iptables -w -A INPUT -p tcp --dport 53 -j DROP",
    )?;
    assert_eq!(
        lab.client.dig(SERVER, "ok.test", "A", &["+time=1"])?.status,
        None
    );

    // The default --timeout: all nameservers silent is a verdict within about 2 s (the bound
    // asserted is generous; speed targets belong in the benchmark).
    let run = lab.check_via(&[SERVER], "ok.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_timeout");
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// The first nameserver is dead (DROPped), the second answers: names resolve, but libc waits
/// out its timeout on the first one for every lookup.
#[test]
fn dns_nameserver_unreachable_first_of_two_dead() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsdeadns")?;
    lab.server.dnsmasq(test_zone(SERVER))?;
    lab.server.dnsmasq(test_zone("10.77.2.3"))?;
    lab.server.run(
        "iptables -w -A INPUT -d 10.77.2.3 -p udp --dport 53 -j DROP; \
         iptables -w -A INPUT -d 10.77.2.3 -p tcp --dport 53 -j DROP",
    )?;
    assert_eq!(
        lab.client
            .dig("10.77.2.3", "ok.test", "A", &["+time=1"])?
            .status,
        None
    );
    assert!(lab.client.dig(SERVER, "ok.test", "A", &[])?.is("NOERROR"));

    // The default --timeout: silent ~1 s while the other answered is enough for the verdict,
    // which names what libc would wait with the resolv.conf values.
    let run = lab.check_via(&["10.77.2.3", SERVER], "ok.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_nameserver_unreachable");
    assert_mentions(&run, "10.77.2.3");
    assert_mentions(&run, "timeout:5 attempts:2");
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// unbound validates sec.test against a trust anchor no key matches, while dnsmasq serves the
/// zone unsigned: bogus, so SERVFAIL with CD=0 and the address with CD=1.
#[test]
fn dns_dnssec_failure_bogus_zone() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnssec")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("www.sec.test", SERVER),
    )?;
    lab.server.unbound(
        Unbound::on("10.77.2.3")
            .stub_zone("sec.test", SERVER)
            .trust_anchor("sec.test"),
    )?;
    assert!(lab
        .client
        .dig("10.77.2.3", "www.sec.test", "A", &[])?
        .is("SERVFAIL"));
    let cd = lab.client.dig("10.77.2.3", "www.sec.test", "A", &["+cd"])?;
    assert!(cd.is("NOERROR") && cd.answers.len() == 1, "{cd:?}");

    let run = lab.check_via(&["10.77.2.3"], "www.sec.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_dnssec_failure");
    Ok(())
}

/// The only nameserver answers correctly but 1.5 s late (a relay in front of dnsmasq; this
/// kernel has no sch_netem for `tc … netem delay`).
#[test]
fn dns_slow_nameserver() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnsslow")?;
    lab.server.dnsmasq(test_zone("10.77.2.3"))?;
    lab.server
        .slow_dns("10.77.2.2:53", "10.77.2.3:53", Duration::from_millis(1500))?;
    let dig = lab.client.dig(SERVER, "ok.test", "A", &["+time=5"])?;
    assert!(
        dig.is("NOERROR") && dig.elapsed >= Duration::from_millis(1500),
        "{dig:?}"
    );

    let run = lab.check_via(&[SERVER], "ok.test", &[])?;
    assert_diagnosis(&run, 1, Some("dns"), "dns_slow");
    Ok(())
}

/// The hosts file pins pinned.test to the server; DNS says 10.77.2.3 where nothing listens.
/// The check is healthy only if netdiag resolves like libc (`hosts: files dns`), and the
/// evidence must show that the hosts file decided.
#[test]
fn dns_hosts_file_override() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnshosts")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("pinned.test", "10.77.2.3"),
    )?;
    lab.server.listen_tcp("10.77.2.2:8080")?;
    let dig = lab.client.dig(SERVER, "pinned.test", "A", &[])?;
    assert!(
        dig.answers.iter().any(|a| a.ends_with("10.77.2.3")),
        "{dig:?}"
    );
    let hosts = lab
        .net
        .hosts_file(&["127.0.0.1 localhost", "10.77.2.2 pinned.test"])?;
    let hosts = hosts.to_string_lossy().into_owned();

    let run = lab.check_via(
        &[SERVER],
        "tcp://pinned.test:8080",
        &["--hosts-file", &hosts],
    )?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.mentions(&hosts) || run.evidence().to_lowercase().contains("hosts file"),
        "evidence should name the hosts file{run}"
    );
    Ok(())
}

/// resolv.conf as the kubelet writes it for a `ClusterFirst` pod in namespace `shop`.
fn pod_resolv_conf(lab: &Lab, nameserver: &str) -> Result<String> {
    let path = lab.net.resolv_conf(&[
        "search shop.svc.cluster.local svc.cluster.local cluster.local",
        &format!("nameserver {nameserver}"),
        "options ndots:5",
    ])?;
    Ok(path.to_string_lossy().into_owned())
}

#[test]
fn in_a_pod_a_dead_cluster_dns_points_at_coredns_and_port_53_policy() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnspoddead")?;
    // Nothing serves DNS on the "kube-dns Service IP" (CoreDNS has no ready endpoints).
    let resolv = pod_resolv_conf(&lab, "10.77.2.3")?;
    let run = lab.check(
        &lab.client,
        "api.shop.test",
        &["--resolv-conf", &resolv, "--timeout", "4s"],
    )?;
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("dns"), "{run}");
    assert!(
        matches!(
            run.cause(),
            Some("dns_timeout" | "dns_nameserver_unreachable")
        ),
        "{run}"
    );
    let verdict = &run.json.as_ref().expect("json")["verdict"];
    let fix = verdict["fix"].to_string();
    assert!(fix.contains("k8s-app=kube-dns"), "{run}");
    assert!(fix.contains("--from shop/$(hostname)"), "{run}");
    assert!(
        verdict["root_cause"]
            .as_str()
            .unwrap_or_default()
            .contains("10.77.2.3 is the cluster DNS Service"),
        "{run}"
    );
    Ok(())
}

#[test]
fn in_a_pod_an_external_name_below_ndots_is_amplified_with_the_pod_fix() -> Result<()> {
    require_netns!();
    let lab = dns_lab("dnspodamp")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .authoritative_for("cluster.local")
            .host("api.shop.test", SERVER),
    )?;
    let resolv = pod_resolv_conf(&lab, SERVER)?;
    let run = lab.check(&lab.client, "api.shop.test", &["--resolv-conf", &resolv])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.mentions("Kubernetes pod DNS: cluster domain cluster.local, namespace shop, ndots:5"),
        "{run}"
    );
    assert!(
        run.mentions("api.shop.test.shop.svc.cluster.local"),
        "{run}"
    );
    let warnings = run.json.as_ref().expect("json")["warnings"].to_string();
    assert!(warnings.contains("dns_search_expansion"), "{run}");
    assert!(warnings.contains("dnsConfig"), "{run}");
    Ok(())
}
