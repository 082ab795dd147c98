//! In-pod DNS: recognise a Kubernetes pod's resolver configuration and say what it means.
//!
//! Why: inside a pod with `dnsPolicy: ClusterFirst`, resolv.conf names the cluster DNS Service
//! (kube-dns, served by CoreDNS) and a search list `NS.svc.DOMAIN svc.DOMAIN DOMAIN` with
//! `ndots:5`. Every external name with fewer than five dots is first tried with each search
//! domain: `api.example.com` costs three or four NXDOMAIN round trips per record type before the
//! real question, and a slow or overloaded CoreDNS multiplies that. When DNS fails in a pod the
//! server that failed is CoreDNS behind a Service, so the fix is in the cluster (CoreDNS pods,
//! their endpoints, a NetworkPolicy that blocks port 53), not in resolv.conf.
//!
//! Pure: it reads a parsed [`ResolvConf`] and produces facts and sentences.

use std::net::IpAddr;

use crate::resolvconf::ResolvConf;

/// The cluster DNS setup seen in a pod's resolv.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    /// The cluster domain, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// The pod's namespace, from the `NS.svc.DOMAIN` search entry.
    pub namespace: Option<String>,
    /// `options ndots`.
    pub ndots: u32,
    /// The whole search list, in order.
    pub search: Vec<String>,
    /// The nameservers (normally one: the kube-dns Service IP).
    pub nameservers: Vec<IpAddr>,
}

/// Recognises a pod's resolv.conf: a search entry `svc.DOMAIN` (with DOMAIN non-empty). The
/// namespace comes from an entry `NS.svc.DOMAIN` when present.
pub fn detect(conf: &ResolvConf) -> Option<ClusterDns> {
    let domain = conf.search.iter().find_map(|s| {
        let s = s.trim_end_matches('.');
        s.strip_prefix("svc.")
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    })?;
    let suffix = format!(".svc.{domain}");
    let namespace = conf.search.iter().find_map(|s| {
        s.trim_end_matches('.')
            .strip_suffix(&suffix)
            .filter(|ns| !ns.is_empty() && !ns.contains('.'))
            .map(str::to_string)
    });
    Some(ClusterDns {
        cluster_domain: domain,
        namespace,
        ndots: conf.options.ndots,
        search: conf.search.clone(),
        nameservers: conf
            .effective_nameservers()
            .iter()
            .map(|n| n.address.ip())
            .collect(),
    })
}

impl ClusterDns {
    /// How many names libc tries before `host` itself (per record type): the whole search list
    /// when `host` has fewer dots than ndots and no trailing dot, else none.
    pub fn expansions_before(&self, host: &str) -> usize {
        if host.ends_with('.') || host.parse::<IpAddr>().is_ok() {
            return 0;
        }
        let dots = host.matches('.').count();
        if dots >= self.ndots as usize {
            0
        } else {
            self.search.len()
        }
    }

    /// Is `host` plainly a cluster-internal name (a short Service name, `….svc`, or a name under
    /// the cluster domain)? Such names are meant to use the search list. `service.namespace`
    /// cannot be told from `example.com`, so two-label names count as external.
    pub fn is_cluster_name(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.');
        !h.contains('.') || h.ends_with(&format!(".{}", self.cluster_domain)) || h.ends_with(".svc")
    }

    /// Evidence lines for the resolver layer.
    pub fn evidence(&self, host: &str, record_types: usize) -> Vec<String> {
        let mut ev = vec![format!(
            "Kubernetes pod DNS: cluster domain {}, namespace {}, ndots:{}, nameserver {} (the kube-dns Service, served by CoreDNS)",
            self.cluster_domain,
            self.namespace.as_deref().unwrap_or("?"),
            self.ndots,
            self.nameservers
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        let n = self.expansions_before(host);
        if n > 0 && !self.is_cluster_name(host) {
            ev.push(format!(
                "{host} has {} dot(s) < ndots:{}: every lookup first asks {} ({} extra queries with {} record type(s)) before {host}.",
                host.matches('.').count(),
                self.ndots,
                self.search
                    .iter()
                    .map(|s| format!("{host}.{s}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                n * record_types,
                record_types
            ));
        }
        ev
    }

    /// The pod-level fix for search amplification: a trailing dot, or `dnsConfig` with a lower
    /// ndots in the pod spec.
    pub fn amplification_fix(&self, host: &str) -> String {
        format!(
            "In this pod, use the fully qualified name with a trailing dot ({}.), or lower ndots for the pod: spec.dnsConfig.options: [{{name: ndots, value: \"2\"}}] (kubectl patch deployment NAME -p '{{\"spec\":{{\"template\":{{\"spec\":{{\"dnsConfig\":{{\"options\":[{{\"name\":\"ndots\",\"value\":\"2\"}}]}}}}}}}}}}')",
            host.trim_end_matches('.')
        )
    }

    /// Is `server` this pod's cluster DNS?
    pub fn is_cluster_nameserver(&self, server: Option<IpAddr>) -> bool {
        match server {
            Some(s) => self.nameservers.contains(&s),
            None => true,
        }
    }

    /// What to check when the cluster DNS is the failing server: CoreDNS pods, the Service's
    /// endpoints, logs, and NetworkPolicy egress to port 53 over UDP and TCP.
    pub fn failure_hint(&self, server: Option<IpAddr>) -> (String, Vec<String>) {
        let ns = self.namespace.as_deref().unwrap_or("NAMESPACE");
        let server = server
            .or_else(|| self.nameservers.first().copied())
            .map(|s| s.to_string())
            .unwrap_or_else(|| "the kube-dns Service".to_string());
        let description = format!(
            "This runs in a Kubernetes pod: {server} is the cluster DNS Service (kube-dns), answered by CoreDNS pods. Check that CoreDNS runs and has endpoints, read its logs (upstream forwarders, loops, SERVFAIL), and check that no NetworkPolicy in namespace {ns} blocks egress to kube-system on port 53 over UDP and TCP."
        );
        let commands = vec![
            "kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide".to_string(),
            "kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns".to_string(),
            "kubectl -n kube-system logs -l k8s-app=kube-dns --tail=50".to_string(),
            format!("kubectl get networkpolicy -n {ns}"),
            format!("kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml > cluster.yaml && netdiag k8s check --manifests cluster.yaml --from {ns}/$(hostname) --to service:kube-system/kube-dns --port 53 --protocol UDP"),
        ];
        (description, commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolvconf::parse_resolv_conf;

    const POD: &str = "search shop.svc.cluster.local svc.cluster.local cluster.local ec2.internal\nnameserver 10.96.0.10\noptions ndots:5\n";

    #[test]
    fn a_pods_resolv_conf_is_recognised() {
        let cd = detect(&parse_resolv_conf(POD)).unwrap();
        assert_eq!(cd.cluster_domain, "cluster.local");
        assert_eq!(cd.namespace.as_deref(), Some("shop"));
        assert_eq!(cd.ndots, 5);
        assert_eq!(
            cd.nameservers,
            vec!["10.96.0.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(cd.search.len(), 4);
    }

    #[test]
    fn a_custom_cluster_domain_is_recognised() {
        let cd = detect(&parse_resolv_conf(
            "search a.svc.k8s.corp svc.k8s.corp k8s.corp\nnameserver 10.0.0.10\noptions ndots:5\n",
        ))
        .unwrap();
        assert_eq!(cd.cluster_domain, "k8s.corp");
        assert_eq!(cd.namespace.as_deref(), Some("a"));
    }

    #[test]
    fn an_ordinary_host_is_not_a_pod() {
        for text in [
            "nameserver 127.0.0.53\nsearch corp.example\n",
            "nameserver 10.0.0.2\nsearch svc\n",
            "",
        ] {
            assert_eq!(detect(&parse_resolv_conf(text)), None, "{text}");
        }
    }

    #[test]
    fn external_names_below_ndots_are_amplified() {
        let cd = detect(&parse_resolv_conf(POD)).unwrap();
        assert_eq!(cd.expansions_before("api.example.com"), 4);
        assert_eq!(cd.expansions_before("api.example.com."), 0);
        assert_eq!(cd.expansions_before("a.b.c.d.e.f"), 0);
        assert_eq!(cd.expansions_before("10.0.0.1"), 0);
        let ev = cd.evidence("api.example.com", 2);
        assert!(ev[1].contains("8 extra queries"), "{ev:?}");
        assert!(
            ev[1].contains("api.example.com.shop.svc.cluster.local"),
            "{ev:?}"
        );
        // Cluster names are meant to use the search list: no amplification line.
        assert_eq!(cd.evidence("redis", 2).len(), 1);
        assert_eq!(cd.evidence("redis.cache.svc", 2).len(), 1);
        assert_eq!(cd.evidence("redis.cache.svc.cluster.local", 2).len(), 1);
    }

    #[test]
    fn failure_hint_points_at_coredns_and_port_53_policy() {
        let cd = detect(&parse_resolv_conf(POD)).unwrap();
        let (text, commands) = cd.failure_hint(None);
        assert!(text.contains("10.96.0.10 is the cluster DNS Service"));
        assert!(commands.iter().any(|c| c.contains("k8s-app=kube-dns")));
        assert!(commands
            .iter()
            .any(|c| c.contains("--from shop/$(hostname)")));
        assert!(cd.is_cluster_nameserver(Some("10.96.0.10".parse().unwrap())));
        assert!(!cd.is_cluster_nameserver(Some("192.0.2.53".parse().unwrap())));
    }
}
