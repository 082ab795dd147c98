//! What an agent may make netdiag touch: the targets (`--allow-targets`) and the files
//! (`--root`). An agent chooses its own arguments, so a live tool is a request to send packets
//! somewhere; the operator decides where, and a refusal names the flag to change.
//!
//! Matching rules (documented in the README's "For AI agents"):
//! - an entry is a CIDR (`10.0.0.0/8`, `fd00::/8`), an address (`127.0.0.1`, `::1`), or a host
//!   glob (`localhost`, `*.svc.cluster.local`; `*` matches any run of characters), optionally
//!   with `:PORT` (`[::1]:443` for IPv6);
//! - an address target is matched against the CIDRs, a name target against the globs, by name:
//!   the operator who allows `*.internal` allows whatever those names resolve to;
//! - an entry with a port allows only that port; a target without a port (resolution only)
//!   matches only entries without one;
//! - everything else the check would contact is checked too: the proxy, the nameservers of a
//!   `resolv_conf` the agent names (port 53), and every redirect before it is followed.

use ipnet::IpNet;
use netdiag_core::target::{Host, Target};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

/// One `--allow-targets` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Addresses in a network.
    Net(IpNet, Option<u16>),
    /// Names matching a glob (lower case).
    Glob(String, Option<u16>),
}

/// The targets live tools may probe; `None` inside means everything (no `--allow-targets`).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Option<Vec<Entry>>,
}

fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port =
        |p: &str| format!("--allow-targets '{text}': port '{p}' is not a number 1-65535");
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad_port(p)),
        Ok(n) => Ok(Some(n)),
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("--allow-targets '{text}': missing ']'"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((inside, port(p)?)),
            None if after.is_empty() => Ok((inside, None)),
            None => Err(format!("--allow-targets '{text}': text after ']'")),
        };
    }
    // A bare IPv6 address or CIDR has several colons and no port.
    if text.matches(':').count() > 1 {
        return Ok((text, None));
    }
    match text.rsplit_once(':') {
        Some((host, p)) => Ok((host, port(p)?)),
        None => Ok((text, None)),
    }
}

fn parse_entry(text: &str) -> Result<Entry, String> {
    let (host, port) = split_port(text)?;
    if host.is_empty() {
        return Err(format!("--allow-targets '{text}': no host or network"));
    }
    if let Ok(net) = host.parse::<IpNet>() {
        return Ok(Entry::Net(net.trunc(), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Entry::Net(IpNet::from(ip), port));
    }
    if host.contains('/') {
        return Err(format!(
            "--allow-targets '{text}': not a CIDR (e.g. 10.0.0.0/8)"
        ));
    }
    let glob = host.to_ascii_lowercase();
    if !glob
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*'))
    {
        return Err(format!(
            "--allow-targets '{text}': a host glob is letters, digits, '-', '.', '_' and '*'"
        ));
    }
    if glob.chars().all(|c| c == '*' || c == '.') {
        return Err(format!(
            "--allow-targets '{text}': matches every name; omit --allow-targets to allow everything"
        ));
    }
    Ok(Entry::Glob(glob, port))
}

/// `*` matches any run of characters (dots too); everything else literally.
fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n) = (glob.as_bytes(), name.as_bytes());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && g[gi] == b'*' {
            star = Some((gi, ni));
            gi += 1;
        } else if gi < g.len() && g[gi] == n[ni] {
            gi += 1;
            ni += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

impl AllowList {
    /// Everything is allowed (no `--allow-targets`).
    pub fn everything() -> AllowList {
        AllowList { entries: None }
    }

    /// Parses the flag's values (each may hold several entries separated by commas or spaces).
    pub fn parse(values: &[String]) -> Result<AllowList, String> {
        if values.is_empty() {
            return Ok(AllowList::everything());
        }
        let mut entries = Vec::new();
        for value in values {
            for text in value.split([',', ' ']).filter(|t| !t.is_empty()) {
                entries.push(parse_entry(text)?);
            }
        }
        if entries.is_empty() {
            return Err("--allow-targets: no entry (give CIDRs or host globs)".into());
        }
        Ok(AllowList {
            entries: Some(entries),
        })
    }

    /// Whether an allow list is in force.
    pub fn restricts(&self) -> bool {
        self.entries.is_some()
    }

    /// Whether `host` (a name or an address) on `port` is allowed.
    pub fn permits_host(&self, host: &Host, port: Option<u16>) -> bool {
        let Some(entries) = &self.entries else {
            return true;
        };
        let port_ok = |want: &Option<u16>| want.is_none() || *want == port;
        entries.iter().any(|e| match (e, host) {
            (Entry::Net(net, p), Host::Ip(ip)) => port_ok(p) && net.contains(&canonical(*ip)),
            (Entry::Glob(glob, p), Host::Name(name)) => {
                port_ok(p) && glob_matches(glob, name.trim_end_matches('.'))
            }
            _ => false,
        })
    }

    /// `Ok` when the target may be probed, else the tool error naming the flag.
    pub fn permits(&self, target: &Target) -> Result<(), String> {
        if self.permits_host(&target.host, target.port) {
            Ok(())
        } else {
            Err(format!(
                "{} is not allowed by --allow-targets: the operator who started `netdiag mcp` \
                 decides which targets live tools may probe",
                target.authority()
            ))
        }
    }

    /// `Ok` when `what` (a proxy, a nameserver) at `addr`:`port` may be contacted.
    pub fn permits_peer(&self, what: &str, host: &str, port: u16) -> Result<(), String> {
        let parsed = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host.to_ascii_lowercase()),
        };
        if self.permits_host(&parsed, Some(port)) {
            Ok(())
        } else {
            Err(format!(
                "{what} {host}:{port} is not allowed by --allow-targets: the check would contact it"
            ))
        }
    }
}

/// IPv4-mapped IPv6 addresses are matched as IPv4 (`::ffff:10.0.0.1` is 10.0.0.1).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Where file arguments may point (`--root`), or anywhere.
#[derive(Debug, Clone, Default)]
pub struct FileRoot {
    root: Option<PathBuf>,
}

impl FileRoot {
    /// Files anywhere; relative paths are relative to the working directory.
    pub fn anywhere() -> FileRoot {
        FileRoot { root: None }
    }

    /// Files under `dir` only (which must exist); relative paths are relative to it.
    pub fn under(dir: &Path) -> Result<FileRoot, String> {
        let root = dir
            .canonicalize()
            .map_err(|e| format!("--root {}: {e}", dir.display()))?;
        if !root.is_dir() {
            return Err(format!("--root {}: not a directory", dir.display()));
        }
        Ok(FileRoot { root: Some(root) })
    }

    /// The path a file argument names, or the tool error when it is outside the root. The path
    /// is resolved (symlinks too) before it is compared, so `../` and links cannot escape.
    pub fn resolve(&self, argument: &str, path: &str) -> Result<PathBuf, String> {
        if path.is_empty() || path.contains('\0') {
            return Err(format!("{argument}: empty or invalid path"));
        }
        let Some(root) = &self.root else {
            return Ok(PathBuf::from(path));
        };
        let joined = root.join(path);
        let resolved = joined
            .canonicalize()
            .map_err(|e| format!("{argument} {path}: {e}"))?;
        if resolved.starts_with(root)
            && !resolved
                .components()
                .any(|c| matches!(c, Component::ParentDir))
        {
            Ok(resolved)
        } else {
            Err(format!(
                "{argument} {path} is outside --root {}: file arguments must be under it",
                root.display()
            ))
        }
    }

    /// [`FileRoot::resolve`] as text (the engine's options take paths as text).
    pub fn resolve_text(&self, argument: &str, path: &str) -> Result<String, String> {
        self.resolve(argument, path)
            .map(|p| p.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netdiag_core::target::parse_target;

    fn allow(values: &[&str]) -> AllowList {
        AllowList::parse(&values.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    }

    fn permitted(list: &AllowList, target: &str) -> bool {
        parse_target(target).is_ok_and(|t| list.permits(&t).is_ok())
    }

    #[test]
    fn cidrs_match_addresses_and_globs_match_names() {
        let list = allow(&["127.0.0.0/8,::1", "*.svc.cluster.local:443", "localhost"]);
        assert!(permitted(&list, "tcp://127.0.0.5:22"));
        assert!(permitted(&list, "https://[::1]:8443/"));
        assert!(permitted(&list, "https://api.shop.svc.cluster.local/"));
        assert!(
            !permitted(&list, "http://api.shop.svc.cluster.local/"),
            "port 80"
        );
        assert!(permitted(&list, "localhost:9"));
        assert!(!permitted(&list, "tcp://10.0.0.1:22"));
        assert!(!permitted(&list, "https://example.com/"));
        assert!(!permitted(&list, "https://localhost.example.com/"));
        assert!(
            !permitted(&list, "https://127.0.0.1.nip.io/"),
            "a name is matched by name, not by the address it spells"
        );
    }

    #[test]
    fn mapped_addresses_are_their_ipv4() {
        let list = allow(&["10.0.0.0/8"]);
        assert!(permitted(&list, "tcp://[::ffff:10.1.2.3]:80"));
    }

    #[test]
    fn ported_entries_need_the_port() {
        let list = allow(&["[::1]:443", "127.0.0.1:8080"]);
        assert!(permitted(&list, "https://[::1]/"));
        assert!(!permitted(&list, "tcp://[::1]:22"));
        assert!(permitted(&list, "127.0.0.1:8080"));
        assert!(
            !permitted(&list, "127.0.0.1"),
            "resolution only has no port"
        );
    }

    #[test]
    fn bad_entries_are_one_line_errors_naming_the_flag() {
        for bad in [
            "*",
            "*.*",
            "10.0.0.0/33",
            "[::1",
            "host:0",
            "host:x",
            "a b/c",
            "ex ample!",
        ] {
            let err = AllowList::parse(&[bad.to_string()])
                .err()
                .unwrap_or_default();
            assert!(err.starts_with("--allow-targets"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
        assert!(!AllowList::everything().restricts());
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*.a.b", "x.y.a.b"));
        assert!(!glob_matches("*.a.b", "a.b"));
        assert!(glob_matches("db-*", "db-1"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn files_outside_the_root_are_refused() {
        let base = std::env::temp_dir().join(format!("ndmcp-root-{}", std::process::id()));
        let inside = base.join("in");
        let _ = std::fs::create_dir_all(&inside);
        let _ = std::fs::write(inside.join("a.yaml"), "x");
        let _ = std::fs::write(base.join("secret"), "x");
        let root = FileRoot::under(&inside).expect("root");
        assert!(root.resolve("manifests", "a.yaml").is_ok());
        let escape = root
            .resolve("manifests", "../secret")
            .err()
            .unwrap_or_default();
        assert!(escape.contains("outside --root"), "{escape}");
        let absolute = root
            .resolve("manifests", &base.join("secret").to_string_lossy())
            .err()
            .unwrap_or_default();
        assert!(absolute.contains("outside --root"), "{absolute}");
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink(base.join("secret"), inside.join("link"));
            let link = root.resolve("manifests", "link").err().unwrap_or_default();
            assert!(link.contains("outside --root"), "{link}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    proptest::proptest! {
        #[test]
        fn any_flag_value_parses_or_is_one_line(value in "\\PC{0,40}") {
            match AllowList::parse(&[value]) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(e.starts_with("--allow-targets") && !e.contains('\n')),
            }
        }

        #[test]
        fn a_glob_matches_itself_and_star_matches_all(name in "[a-z0-9.-]{1,30}") {
            proptest::prop_assert!(glob_matches(&name, &name));
            proptest::prop_assert!(glob_matches("*", &name));
            let starred = format!("*{}", &name[name.len() / 2..]);
            proptest::prop_assert!(glob_matches(&starred, &name));
        }
    }
}
