//! Evidence bundles written for real into a temporary directory: the listed files exist, a failing
//! root-only command degrades to an error file, and no planted secret survives in any byte.

#![allow(clippy::unwrap_used)] // test helpers fail loudly on a broken fixture

use netdiag_probe::bundle::{write_bundle, BundleOptions, CaptureOutcome};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

const EXPECTED: [&str; 17] = [
    "report.json",
    "report.md",
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "addresses.txt",
    "routes.txt",
    "rules.txt",
    "neighbours.txt",
    "listeners.txt",
    "firewall-iptables.txt",
    "firewall-nft.txt",
    "conntrack.txt",
    "sysctl.txt",
    "environment.txt",
    "capture.txt",
    "MANIFEST.txt",
];

/// Values that must never appear in a bundle.
const SECRETS: [&str; 6] = [
    "hunter2",
    "abc.def",
    "s3cr3t-resolver",
    "AKIAIOSFODNN7EXAMPLE",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "pcap-secret",
];

static FAKE_PATH: Once = Once::new();

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("netdiag-bundle-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Puts a fake `iptables-save` first on PATH that fails as it does for a normal user, so the
/// test proves the degradation even when run as root.
fn fake_unprivileged_iptables() {
    FAKE_PATH.call_once(|| {
        let dir = std::env::temp_dir().join(format!("netdiag-fakebin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("iptables-save");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set \
             generation id: Permission denied (you must be root)' >&2\nexit 4\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::set_var("PATH", format!("{}:{path}", dir.display()));
    });
}

fn options(scratch: &Path) -> BundleOptions {
    fake_unprivileged_iptables();
    let resolv = scratch.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 10.0.0.2\n# api_key=s3cr3t-resolver\nsearch corp.example\n",
    )
    .unwrap();
    let hosts = scratch.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost # AKIAIOSFODNN7EXAMPLE\n").unwrap();
    BundleOptions {
        resolv_conf: resolv,
        hosts,
        nsswitch: scratch.join("missing-nsswitch.conf"),
        environment: vec![
            (
                "https_proxy".to_string(),
                "http://bob:hunter2@proxy:3128".to_string(),
            ),
            ("GITHUB_TOKEN".to_string(), "hunter2".to_string()),
        ],
        command_timeout: Duration::from_secs(5),
        capture: Some(CaptureOutcome {
            pcap: None,
            note: "no packet capture: test (token=pcap-secret)".to_string(),
        }),
        ..BundleOptions::default()
    }
}

const REPORT_JSON: &str = r#"{"schema": "netdiag.report/v1", "layers": [{"evidence": ["Authorization: Bearer abc.def", "proxy http://bob:hunter2@proxy:3128"]}]}"#;
const REPORT_MD: &str = "# report\n\n- `Authorization: Bearer abc.def`\n\n```\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n```\n";

fn assert_no_secret(what: &str, bytes: &[u8]) {
    for secret in SECRETS {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} contains the secret {secret:?}"
        );
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[test]
fn directory_bundle_has_every_file_and_no_secret() {
    let scratch = Scratch::new("dir");
    let dest = scratch.0.join("evidence");
    let summary = write_bundle(
        &dest,
        REPORT_JSON,
        REPORT_MD,
        &options(&scratch.0),
        deadline(),
    )
    .unwrap();

    let names: Vec<&str> = summary.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, EXPECTED);
    for name in EXPECTED {
        let bytes = std::fs::read(dest.join(name)).unwrap();
        assert_no_secret(name, &bytes);
        let listed = summary.files.iter().find(|f| f.name == name).unwrap();
        assert_eq!(listed.size, bytes.len(), "{name}");
    }
    assert!(summary.redactions >= 6, "{summary:?}");

    let read = |name: &str| std::fs::read_to_string(dest.join(name)).unwrap();
    // A missing source and a root-only command are files with the reason, not aborts.
    assert!(read("nsswitch.conf").starts_with("error: cannot read"));
    let iptables = read("firewall-iptables.txt");
    assert!(iptables.contains("Permission denied"), "{iptables}");
    assert!(iptables.contains("exited with"), "{iptables}");
    assert!(iptables.contains("$ ip6tables-save"), "{iptables}");
    // The user of a proxy URL is kept, the password masked; non-proxy variables never written.
    let env = read("environment.txt");
    assert!(
        env.contains("https_proxy=http://bob:***@proxy:3128"),
        "{env}"
    );
    assert!(!env.contains("GITHUB_TOKEN"), "{env}");
    assert!(read("report.json").contains("Authorization: ***"));
    assert!(read("routes.txt").contains("$ ip -6 route show table all"));
    let manifest = read("MANIFEST.txt");
    for name in EXPECTED.iter().filter(|n| **n != "MANIFEST.txt") {
        assert!(manifest.contains(name), "{name} missing from\n{manifest}");
    }
    assert!(manifest.contains("environment.txt"));
    assert!(manifest.contains("url-password 1"), "{manifest}");
}

#[test]
fn tar_gz_bundle_lists_every_file_and_no_secret() {
    let scratch = Scratch::new("tgz");
    let dest = scratch.0.join("case-42.tar.gz");
    write_bundle(
        &dest,
        REPORT_JSON,
        REPORT_MD,
        &options(&scratch.0),
        deadline(),
    )
    .unwrap();

    // Every byte of the uncompressed archive, headers included.
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&dest).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    assert_no_secret("the archive", &raw);

    let mut listed = Vec::new();
    let mut archive = tar::Archive::new(raw.as_slice());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        listed.push(entry.path().unwrap().display().to_string());
    }
    let mut expected = vec!["case-42/".to_string()];
    expected.extend(EXPECTED.iter().map(|n| format!("case-42/{n}")));
    assert_eq!(listed, expected);

    // The system tar reads it too, when present.
    if let Ok(out) = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&dest)
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("case-42/MANIFEST.txt"), "{text}");
    }
}

#[test]
fn existing_destinations_and_unknown_formats_are_refused() {
    let scratch = Scratch::new("refuse");
    let opts = options(&scratch.0);
    let busy = scratch.0.join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("x"), "x").unwrap();
    let err = write_bundle(&busy, "{}", "", &opts, deadline()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");

    let tgz = scratch.0.join("old.tgz");
    std::fs::write(&tgz, "old").unwrap();
    let err = write_bundle(&tgz, "{}", "", &opts, deadline()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&tgz).unwrap(), "old");

    let err = write_bundle(&scratch.0.join("e.zip"), "{}", "", &opts, deadline()).unwrap_err();
    assert!(
        err.to_string().contains("unsupported archive type"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));

    // An existing empty directory is fine.
    let empty = scratch.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    write_bundle(&empty, "{}", "", &opts, deadline()).unwrap();
}

#[test]
fn a_past_deadline_still_writes_the_report() {
    let scratch = Scratch::new("late");
    let dest = scratch.0.join("late");
    write_bundle(
        &dest,
        REPORT_JSON,
        REPORT_MD,
        &options(&scratch.0),
        Instant::now(),
    )
    .unwrap();
    let routes = std::fs::read_to_string(dest.join("routes.txt")).unwrap();
    assert!(
        routes.contains("skipped: the bundle's deadline"),
        "{routes}"
    );
    assert!(dest.join("report.json").exists());
}
