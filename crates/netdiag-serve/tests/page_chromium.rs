//! The status page in a real browser: headless Chromium loads the rendered index and probe page
//! from files and the test checks what a person sees: the screenshot has a red cell in the
//! tcp/udp column of the failing probe (between green and grey cells), the parsed DOM carries
//! the failing layer and the cause as text, and a `<script>` typed into a target stayed text.
//!
//! Chromium is Debian's (`chromium`, installed by `.ci/run`); without it the test skips, except
//! under CI where it fails. Every browser run is killed after 30 s.

use netdiag_core::cause::Cause;
use netdiag_core::layer::Layer;
use netdiag_core::report::{Fix, Report, Row, RowVerdict, TargetInfo, Verdict, SCHEMA};
use netdiag_serve::page::{self, PageEntry};
use netdiag_testnet::{Chromium, Result, Screenshot, TempDir};

/// A target that tries to inject a script (and would retitle the page if it ran).
const EVIL: &str = "127.0.0.1:1<script>document.title='pwned'</script>";

fn report(input: &str, tcp: Option<Cause>) -> Report {
    let pass = |layer, test: &str| Row::new(layer, test, "ok", RowVerdict::Pass, Cause::Ok);
    let mut layers = vec![
        pass(Layer::Resolver, "resolv.conf"),
        pass(Layer::Dns, "literal address"),
        pass(Layer::Route, "route to 127.0.0.1"),
    ];
    let mut verdict = Verdict {
        layer: None,
        cause: Cause::Ok,
        summary: "every layer passed".into(),
        root_cause: String::new(),
        fix: Fix::default(),
        rollback: vec![],
        prestate: vec![],
        runbook: String::new(),
    };
    match tcp {
        None => layers.push(pass(Layer::Tcp, "connect 127.0.0.1:9115")),
        Some(cause) => {
            layers.push(
                Row::new(
                    Layer::Tcp,
                    "connect 127.0.0.1:1",
                    "refused (RST) in 0 ms",
                    RowVerdict::Fail,
                    cause,
                )
                .with_evidence(vec!["Authorization: Bearer sekrit-token-123".into()]),
            );
            for layer in [Layer::Mtu, Layer::Tls, Layer::Http] {
                layers.push(Row::new(
                    layer,
                    "not run",
                    "skipped: the tcp layer failed",
                    RowVerdict::Skip,
                    Cause::Ok,
                ));
            }
            verdict = Verdict {
                layer: Some(Layer::Tcp),
                cause,
                summary: "nothing listens on 127.0.0.1:1".into(),
                root_cause: "the host answered the SYN with a RST".into(),
                fix: Fix {
                    description: "start the service or fix the port".into(),
                    commands: vec!["ss -ltnp 'sport = :1'".into()],
                    manifests: vec![],
                },
                rollback: vec!["systemctl stop the-service".into()],
                prestate: vec!["ss -ltnp".into()],
                runbook: "### refused\nsymptom: RST".into(),
            };
        }
    }
    Report {
        schema: SCHEMA,
        target: TargetInfo {
            input: input.into(),
            scheme: "tcp".into(),
            host: "127.0.0.1".into(),
            port: Some(1),
        },
        started_at: "2026-12-02T05:00:00Z".into(),
        duration_ms: 2,
        layers,
        verdict,
        warnings: vec![],
        redirect: None,
        followed: vec![],
        failed_flow: None,
        cloud: None,
    }
}

fn entry(id: u64, target: &str, tcp: Option<Cause>) -> PageEntry {
    PageEntry {
        id,
        started_at: format!("2026-12-02T05:00:{id:02}Z"),
        target: target.into(),
        module: "tcp_connect".into(),
        success: tcp.is_none(),
        duration_seconds: 0.002,
        report: Some(report(target, tcp)),
        debug_text: "Logs for the probe:\n> Authorization: Bearer sekrit-token-123".into(),
    }
}

/// The browser, or `None` to skip (fails under CI, which installs it).
fn chromium() -> Result<Option<Chromium>> {
    let found = Chromium::find()?;
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run)"
        );
        eprintln!("skipped: /usr/bin/chromium is not installed");
    }
    Ok(found)
}

/// The page's colours as the CSS writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Pass,
    Warn,
    Fail,
    Skip,
    NotRun,
}

fn paint(rgb: [u8; 3]) -> Option<Paint> {
    let near = |c: [u8; 3]| rgb.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 6);
    [
        (Paint::Pass, [0x11, 0x63, 0x29]),
        (Paint::Warn, [0xf2, 0xc7, 0x44]),
        (Paint::Fail, [0xd1, 0x24, 0x2f]),
        (Paint::Skip, [0xd0, 0xd7, 0xde]),
        (Paint::NotRun, [0xee, 0xf1, 0xf4]),
    ]
    .into_iter()
    .find(|(_, c)| near(*c))
    .map(|(p, _)| p)
}

/// Runs of one paint at least `min` pixels long along row `y`, left to right.
fn runs(shot: &Screenshot, y: u32, min: u32) -> Vec<(Paint, u32, u32)> {
    shot.runs(y, min, paint)
}

/// The top row of the first solid red block at least a cell wide (a red *cell*, not red text).
fn red_cell_top(shot: &Screenshot) -> Option<u32> {
    (0..shot.height).find(|&y| runs(shot, y, 60).iter().any(|r| r.0 == Paint::Fail))
}

#[test]
fn index_in_chromium_shows_the_failing_layer_in_red_and_in_text() -> Result<()> {
    let Some(browser) = chromium()? else {
        return Ok(());
    };
    let dir = TempDir::new("page")?;
    let entries = [
        entry(1, "127.0.0.1:9115", None),
        entry(2, EVIL, Some(Cause::TcpRefused)),
    ];
    let file = dir.write("index.html", &page::index(&entries))?;
    let url = format!("file://{}", file.display());

    let dom = browser.dump_dom(&url)?;
    let code = Cause::TcpRefused.code();
    assert!(dom.contains("<title>netdiag serve</title>"), "{dom}");
    assert!(
        !dom.contains("pwned</title>") && !dom.contains("<script"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{dom}"
    );
    assert!(dom.contains(&format!("tcp · {code}")), "{dom}");
    assert!(dom.contains("title=\"tcp/udp: fail\">FAIL</td>"), "{dom}");
    assert!(!dom.contains("sekrit-token-123"));

    let shot = browser.screenshot(&url, &dir.path().join("index.png"))?;
    assert_eq!((shot.width, shot.height), (1280, 900));
    assert!(shot.file_bytes > 10_000, "{} bytes", shot.file_bytes);
    assert!(shot.distinct_colours() > 20, "a blank page?");
    let top = red_cell_top(&shot).expect("a red cell in the screenshot");
    // Just below the cell's top edge, above the text: the strip as colours, left to right.
    let row: Vec<Paint> = runs(&shot, top + 2, 20).into_iter().map(|r| r.0).collect();
    use Paint::*;
    assert_eq!(
        row,
        vec![Pass, Pass, Pass, NotRun, Fail, Skip, Skip, Skip],
        "resolver dns route proxy tcp/udp mtu tls http"
    );
    // The healthy probe's strip, in the row below the red cell: tcp/udp green, nothing red.
    let bottom = (top..shot.height)
        .find(|&y| !runs(&shot, y, 60).iter().any(|r| r.0 == Fail))
        .expect("the red cell ends");
    let healthy = vec![Pass, Pass, Pass, NotRun, Pass, NotRun, NotRun, NotRun];
    assert!(
        (bottom..shot.height).any(|y| runs(&shot, y, 20)
            .into_iter()
            .map(|r| r.0)
            .collect::<Vec<_>>()
            == healthy),
        "the healthy row's strip"
    );
    Ok(())
}

#[test]
fn healthy_index_in_chromium_has_no_red_cell() -> Result<()> {
    let Some(browser) = chromium()? else {
        return Ok(());
    };
    let dir = TempDir::new("page-ok")?;
    let file = dir.write(
        "index.html",
        &page::index(&[entry(1, "127.0.0.1:9115", None)]),
    )?;
    let shot = browser.screenshot(
        &format!("file://{}", file.display()),
        &dir.path().join("ok.png"),
    )?;
    assert!(shot.distinct_colours() > 20);
    assert_eq!(red_cell_top(&shot), None);
    assert!(!shot.find(|p| paint(p) == Some(Paint::Pass)).is_empty());
    Ok(())
}

#[test]
fn probe_page_in_chromium_opens_with_the_red_verdict_and_the_fix() -> Result<()> {
    let Some(browser) = chromium()? else {
        return Ok(());
    };
    let dir = TempDir::new("page-probe")?;
    let file = dir.write(
        "probe.html",
        &page::probe_page(&entry(2, EVIL, Some(Cause::TcpRefused))),
    )?;
    let url = format!("file://{}", file.display());

    let dom = browser.dump_dom(&url)?;
    let code = Cause::TcpRefused.code();
    assert!(
        dom.contains(&format!(
            "FAILED at the tcp layer: <span class=\"cause\">{code}</span>"
        )),
        "{dom}"
    );
    assert!(dom.contains(&format!("FAIL {code}</td>")), "{dom}");
    assert!(dom.contains("<pre>ss -ltnp 'sport = :1'</pre>"), "{dom}");
    assert!(dom.contains("Authorization: ***"), "{dom}");
    assert!(!dom.contains("sekrit-token-123") && !dom.contains("<script"));
    assert!(!dom.contains("<title>pwned"));

    let shot = browser.screenshot(&url, &dir.path().join("probe.png"))?;
    assert!(shot.file_bytes > 10_000 && shot.distinct_colours() > 20);
    // The verdict banner: a wide red block near the top of the page, where it is read first.
    let top = red_cell_top(&shot).expect("the red verdict line");
    assert!(top < 300, "verdict line at y={top}");
    let widest = runs(&shot, top + 2, 60)
        .into_iter()
        .filter(|r| r.0 == Paint::Fail)
        .map(|r| r.2 - r.1)
        .max()
        .unwrap_or(0);
    assert!(widest > 800, "banner {widest} px wide");
    Ok(())
}
