//! Reading the resolver's configuration files and the proxy environment, read-only.
//!
//! A missing or unreadable system file is an observation for the resolver layer. Files the user
//! named on the command line are checked by the binary first, so a typo there is an input error
//! (exit 2), not a diagnosis.

use netdiag_core::observe::{ConfigFile, ResolverEnv, ResolverFiles};
use std::io::Read;

/// Files larger than this are not configuration files; reading stops there.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a named configuration file cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// It cannot be opened or read.
    #[error("{path}: {source}")]
    Unreadable {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is larger than [`MAX_CONFIG_BYTES`].
    #[error("{path}: larger than 1 MiB; not a configuration file")]
    TooLarge {
        /// The path.
        path: String,
    },
    /// It is not text.
    #[error("{path}: not a text file (NUL bytes or invalid UTF-8)")]
    NotText {
        /// The path.
        path: String,
    },
}

/// Reads a configuration file as text, bounded in size.
pub fn read_config(path: &str) -> Result<String, ConfigFileError> {
    let file = std::fs::File::open(path).map_err(|source| ConfigFileError::Unreadable {
        path: path.to_string(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ConfigFileError::Unreadable {
            path: path.to_string(),
            source,
        })?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigFileError::TooLarge {
            path: path.to_string(),
        });
    }
    if bytes.contains(&0) {
        return Err(ConfigFileError::NotText {
            path: path.to_string(),
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfigFileError::NotText {
        path: path.to_string(),
    })
}

/// Reads one resolver file (its text, or why it could not be read).
pub fn config_file(path: &str) -> ConfigFile {
    ConfigFile {
        path: path.to_string(),
        content: read_config(path).map_err(|e| e.to_string()),
    }
}

/// The proxy variables curl honours, in both cases.
pub const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// What `res_init` reads besides resolv.conf: `LOCALDOMAIN`, `RES_OPTIONS`, the file
/// `HOSTALIASES` names, and the host name (the kernel's, as gethostname returns it).
pub fn resolver_env() -> ResolverEnv {
    ResolverEnv {
        localdomain: std::env::var("LOCALDOMAIN").ok(),
        res_options: std::env::var("RES_OPTIONS").ok(),
        hostaliases: std::env::var("HOSTALIASES")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| config_file(&p)),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim_end_matches('\n').to_string())
            .filter(|h| !h.is_empty()),
        myhostname_installed: [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/lib64",
            "/usr/lib64",
            "/lib",
            "/usr/lib",
        ]
        .iter()
        .any(|d| {
            std::path::Path::new(d)
                .join("libnss_myhostname.so.2")
                .exists()
        }),
    }
}

/// Reads the three files and the proxy environment.
pub fn resolver_files(resolv_conf: &str, hosts: &str, nsswitch: &str) -> ResolverFiles {
    let proxy_env = PROXY_VARIABLES
        .iter()
        .filter_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v))
        })
        .collect();
    ResolverFiles {
        resolv_conf: config_file(resolv_conf),
        hosts: config_file(hosts),
        nsswitch: config_file(nsswitch),
        proxy_env,
        gai_conf: None,
        env: resolver_env(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_binary_and_missing() {
        let dir = std::env::temp_dir().join(format!("netdiag-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bin = dir.join("bin");
        std::fs::write(&bin, [0u8, 159, 146, 150]).expect("write");
        assert!(matches!(
            read_config(&bin.to_string_lossy()),
            Err(ConfigFileError::NotText { .. })
        ));
        assert!(matches!(
            read_config("/nonexistent/netdiag"),
            Err(ConfigFileError::Unreadable { .. })
        ));
        let ok = dir.join("ok");
        std::fs::write(&ok, "nameserver 127.0.0.1\n").expect("write");
        assert_eq!(
            read_config(&ok.to_string_lossy()).expect("text"),
            "nameserver 127.0.0.1\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
