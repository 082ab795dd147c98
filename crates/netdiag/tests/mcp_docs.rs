//! docs/mcp-tools.md is generated from the code (`netdiag mcp --list-tools --format markdown --prober …`),
//! like docs/causes.md: this test fails when a tool, its hints or its arguments change and the
//! page was not regenerated.

use std::process::Command;

#[test]
fn the_tool_page_is_generated_from_the_code() {
    let output = Command::new(env!("CARGO_BIN_EXE_netdiag"))
        .args([
            "mcp",
            "--list-tools",
            "--format",
            "markdown",
            "--prober",
            "http://localhost:9115",
        ])
        .output()
        .expect("run netdiag mcp --list-tools");
    assert!(output.status.success(), "{output:?}");
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/mcp-tools.md"
    ))
    .expect("docs/mcp-tools.md");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        page,
        "docs/mcp-tools.md is stale: run `netdiag mcp --list-tools --format markdown --prober http://localhost:9115 > docs/mcp-tools.md`"
    );
}

#[test]
fn a_bad_flag_is_one_line_and_exit_2() {
    for args in [
        &["mcp", "--allow-targets", "*"][..],
        &["mcp", "--max-calls", "0"],
        &["mcp", "--root", "/nonexistent/netdiag-root"],
        &["mcp", "--listen", "0.0.0.0:0"],
        &["mcp", "--max-timeout", "2h"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_netdiag"))
            .args(args)
            .output()
            .expect("run netdiag mcp");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
