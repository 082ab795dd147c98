//! `netdiag mcp` driven by a client netdiag did not write: the official Python MCP SDK (PyPI
//! `mcp`), over stdio and Streamable HTTP, in both protocol eras, against real loopback faults
//! (and a silent port in a namespace when NETDIAG_NETNS_TESTS=1). The scenario and its
//! assertions are `tests/mcp_sdk/drive.py`; this test runs it with the interpreter of the venv
//! that `.ci/run` builds (`NETDIAG_MCP_PYTHON`), and fails in CI when there is none.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_official_python_sdk_drives_every_tool() {
    let Some(python) = std::env::var_os("NETDIAG_MCP_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set NETDIAG_MCP_PYTHON (a venv with tests/mcp_sdk/requirements.txt)"
        );
        eprintln!(
            "skipped: set NETDIAG_MCP_PYTHON to a python with tests/mcp_sdk/requirements.txt"
        );
        return;
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.join("../..");
    let child = Command::new(python)
        .arg(crate_dir.join("tests/mcp_sdk/drive.py"))
        .arg(env!("CARGO_BIN_EXE_netdiag"))
        .arg(workspace.join("crates/netdiag-k8s/tests/fixtures"))
        .arg(workspace.join("crates/netdiag-cloud/tests/fixtures/aws"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the SDK scenario");
    // The output is read while the scenario runs (a full pipe would stall it), and the wait
    // is bounded: past the deadline the scenario is killed.
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(Duration::from_secs(600)) {
        Ok(output) => output.expect("the scenario's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the SDK scenario did not finish within 10 minutes");
        }
    };
    let status = output.status;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        status.success(),
        "drive.py failed ({status}):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}
