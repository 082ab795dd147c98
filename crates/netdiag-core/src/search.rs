//! The candidate names libc tries for a name, from the search list and `ndots`.
//!
//! This mirrors glibc's `res_nsearch`: a name with a trailing dot is tried as-is only; a name
//! with at least `ndots` dots is tried as-is first and then with each search domain; a name with
//! fewer dots is tried with each search domain first and as-is last. With Kubernetes' `ndots:5`
//! that turns one lookup of `api.example.com` into four or more, which is why it is reported.
//!
//! The walk stops where glibc stops: at the first candidate with records (even a CNAME
//! without address), and the search list ends early on REFUSED/NOTIMP from the last server
//! asked, on silence, or on a name too long to send; `.` in the list is the bare name there.

/// The names libc would try when every one of them is NXDOMAIN, in order, each fully
/// qualified with a trailing dot (a static preview; the walk itself is [`search_walk`],
/// which also stops where glibc stops).
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

/// How one candidate ended, as glibc's search loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// A server answered with records (addresses, or a CNAME chain): the search stops here,
    /// whether or not an address came out of it.
    Answered,
    /// NXDOMAIN, NODATA, or SERVFAIL from the last server asked: the next candidate is tried.
    Continue,
    /// Anything else (REFUSED or NOTIMP from the last server asked, no answer at all, a name
    /// too long to send): the search list ends here; only the as-is name may still be tried.
    Stop,
}

/// How many search domains the walk follows at most (glibc has no limit since 2.26; this
/// bounds the work on a hostile file).
pub const MAX_SEARCH_DOMAINS: usize = 64;

/// Whether a fully qualified name (trailing dot) can be sent: at most 255 octets on the wire,
/// labels of 1 to 63 octets.
pub fn sendable(fqdn: &str) -> bool {
    let bare = fqdn.strip_suffix('.').unwrap_or(fqdn);
    bare.is_empty()
        || (bare.len() <= 253 && bare.split('.').all(|l| !l.is_empty() && l.len() <= 63))
}

/// glibc's `res_nsearch` loop (`__res_context_search`): asks `ask` for each candidate in
/// glibc's order and stops where glibc stops. Returns the candidates asked, each with its
/// outcome. `ask` is only called for names that can be sent; a name that cannot be sent is
/// a [`StepOutcome::Stop`] (glibc's NO_RECOVERY).
///
/// The order: a name with a trailing dot is asked as-is only; a name with at least `ndots`
/// dots is asked as-is first; then each search domain (`.` in the list is the bare name at
/// that position) unless the name ends in a dot; then the name as-is, unless it was already
/// asked (first, or as `.`), or it has no dot and `no-tld-query` is set.
pub fn search_walk(
    name: &str,
    search: &[String],
    ndots: u32,
    no_tld_query: bool,
    ask: &mut dyn FnMut(&str) -> StepOutcome,
) -> Vec<(String, StepOutcome)> {
    let fqdn = |n: &str| format!("{}.", n.trim_end_matches('.'));
    let trailing_dot = name.ends_with('.');
    let dots = name.trim_end_matches('.').matches('.').count() as u32;
    let mut done: Vec<(String, StepOutcome)> = Vec::new();
    let mut step = |cand: String, done: &mut Vec<(String, StepOutcome)>| -> StepOutcome {
        let outcome = if let Some((_, o)) = done.iter().find(|(n, _)| n.eq_ignore_ascii_case(&cand))
        {
            // The same name again (a repeated search domain): the same answer.
            *o
        } else if sendable(&cand) {
            ask(&cand)
        } else {
            StepOutcome::Stop
        };
        done.push((cand, outcome));
        outcome
    };
    let mut tried_as_is = false;
    if dots >= ndots || trailing_dot {
        let o = step(fqdn(name), &mut done);
        if o == StepOutcome::Answered || trailing_dot {
            return done;
        }
        tried_as_is = true;
    }
    let mut root_on_list = false;
    let mut searched = false;
    if !trailing_dot {
        for domain in search.iter().take(MAX_SEARCH_DOMAINS) {
            searched = true;
            let cand = if domain == "." || domain.is_empty() {
                root_on_list = true;
                fqdn(name)
            } else {
                fqdn(&format!("{name}.{domain}"))
            };
            match step(cand, &mut done) {
                StepOutcome::Answered => return done,
                StepOutcome::Continue => {}
                StepOutcome::Stop => break,
            }
        }
    }
    let tld_suppressed = dots == 0 && searched && no_tld_query;
    if !(tried_as_is || root_on_list || tld_suppressed) {
        step(fqdn(name), &mut done);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_walk_is_bounded(name in "[a-z.]{0,40}", search in proptest::collection::vec("[a-z.]{0,70}", 0..80), ndots in 0u32..16, tld: bool) {
            let mut asked = 0usize;
            let steps = search_walk(&name, &search, ndots, tld, &mut |_| { asked += 1; StepOutcome::Continue });
            prop_assert!(steps.len() <= MAX_SEARCH_DOMAINS + 2);
            prop_assert!(asked <= steps.len());
        }
    }

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

    fn walk(
        name: &str,
        search: &[&str],
        ndots: u32,
        tld: bool,
        f: &dyn Fn(&str) -> StepOutcome,
    ) -> Vec<String> {
        search_walk(name, &s(search), ndots, tld, &mut |n| f(n))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn glibc_search_loop() {
        let nx = |_: &str| StepOutcome::Continue;
        assert_eq!(
            walk("w", &["a.test", "b.test"], 1, false, &nx),
            s(&["w.a.test.", "w.b.test.", "w."])
        );
        // `.` is the bare name at its position, and it is not asked again at the end.
        assert_eq!(
            walk("w", &["a.test", ".", "b.test"], 1, false, &nx),
            s(&["w.a.test.", "w.", "w.b.test."])
        );
        // no-tld-query: a dotless name is never asked as-is after searching.
        assert_eq!(walk("w", &["a.test"], 1, true, &nx), s(&["w.a.test."]));
        assert_eq!(
            walk("w.x", &["a.test"], 2, true, &nx),
            s(&["w.x.a.test.", "w.x."])
        );
        // REFUSED/NOTIMP (Stop) ends the list, the as-is name is still asked.
        let stop_a = |n: &str| {
            if n.starts_with("w.a.") {
                StepOutcome::Stop
            } else {
                StepOutcome::Continue
            }
        };
        assert_eq!(
            walk("w", &["a.test", "b.test"], 1, false, &stop_a),
            s(&["w.a.test.", "w."])
        );
        // An answer (even a CNAME without address) ends the walk.
        let ans = |n: &str| {
            if n == "w.a.test." {
                StepOutcome::Answered
            } else {
                StepOutcome::Continue
            }
        };
        assert_eq!(
            walk("w", &["a.test", "b.test"], 1, false, &ans),
            s(&["w.a.test."])
        );
        // No cap of 8 candidates.
        let many: Vec<String> = (0..12).map(|i| format!("d{i}.test")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(walk("w", &many, 1, false, &nx).len(), 13);
        // A domain that makes the name too long stops the list there.
        let long = format!(
            "{}.{}.{}.{}",
            "x".repeat(62),
            "y".repeat(62),
            "z".repeat(62),
            "w".repeat(63)
        );
        assert_eq!(
            walk("w", &["a.test", &long, "b.test"], 1, false, &nx),
            s(&["w.a.test.", &format!("w.{long}."), "w."])
        );
        let mut asked = Vec::new();
        search_walk("w", &s(&[&long]), 1, false, &mut |n| {
            asked.push(n.to_string());
            StepOutcome::Continue
        });
        assert_eq!(asked, s(&["w."]));
        // Trailing dot: as-is only, whatever happens.
        assert_eq!(walk("w.", &["a.test"], 1, false, &nx), s(&["w."]));
        assert_eq!(
            walk("a.b", &["a.test"], 1, false, &nx),
            s(&["a.b.", "a.b.a.test."])
        );
    }
}
