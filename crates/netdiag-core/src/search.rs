//! The candidate names libc tries for a name, from the search list and `ndots`.
//!
//! This mirrors glibc's `res_nsearch`: a name with a trailing dot is tried as-is only; a name
//! with at least `ndots` dots is tried as-is first and then with each search domain; a name with
//! fewer dots is tried with each search domain first and as-is last. With Kubernetes' `ndots:5`
//! that turns one lookup of `api.example.com` into four or more, which is why it is reported.

/// The names libc would try, in order, each fully qualified with a trailing dot.
pub fn candidate_names(name: &str, search: &[String], ndots: u32) -> Vec<String> {
    let fqdn = |n: &str| format!("{}.", n.trim_end_matches('.'));
    if name.ends_with('.') {
        return vec![fqdn(name)];
    }
    let dots = name.matches('.').count() as u32;
    let mut out = Vec::new();
    let as_is_first = dots >= ndots;
    if as_is_first {
        out.push(fqdn(name));
    }
    for domain in search.iter().take(32) {
        let candidate = fqdn(&format!("{name}.{domain}"));
        // A combined name longer than DNS allows is skipped by libc too.
        if candidate.len() <= 254 && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    if !as_is_first && !out.contains(&fqdn(name)) {
        out.push(fqdn(name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn kubernetes_ndots5_amplifies() {
        let search = s(&[
            "default.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
        ]);
        assert_eq!(
            candidate_names("api.example.com", &search, 5),
            s(&[
                "api.example.com.default.svc.cluster.local.",
                "api.example.com.svc.cluster.local.",
                "api.example.com.cluster.local.",
                "api.example.com."
            ])
        );
    }

    #[test]
    fn enough_dots_goes_first() {
        let search = s(&["corp.example"]);
        assert_eq!(
            candidate_names("a.b", &search, 1),
            s(&["a.b.", "a.b.corp.example."])
        );
        assert_eq!(
            candidate_names("db", &search, 1),
            s(&["db.corp.example.", "db."])
        );
        assert_eq!(candidate_names("a.b.", &search, 1), s(&["a.b."]));
        assert_eq!(candidate_names("db", &[], 1), s(&["db."]));
    }
}
