//! A bounded packet capture of netdiag's own probes, for the evidence bundle.
//!
//! Why tcpdump rather than our own AF_PACKET socket: the pcap it writes is what every responder's
//! tooling opens, and capture filters are its job. The caller starts the capture before
//! re-running its probes and finishes it after; the capture is bounded in packets (`-c`), in bytes
//! per packet (`-s 256`) and in time (killed at the deadline or at `finish`). It must never run
//! unbounded or block the check: when it cannot run (no tcpdump, no CAP_NET_RAW, tcpdump refuses)
//! the outcome says why, in words that go into `capture.txt`.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes kept per packet: headers and the start of a payload (a TLS ClientHello's SNI, an HTTP
/// request line), not bulk data.
pub const SNAP_LENGTH: u32 = 256;

/// How long `start_capture` waits for tcpdump to say it is listening.
const START_WAIT: Duration = Duration::from_secs(2);

/// After `finish` is called, packets still in flight get this long to be written.
const FLUSH_GRACE: Duration = Duration::from_millis(300);

/// The capture filter for one flow: `host A and port P`.
pub fn capture_filter(address: IpAddr, port: u16) -> String {
    format!("host {address} and port {port}")
}

/// A running (or refused) capture. Dropping it kills tcpdump.
#[derive(Debug)]
pub struct Capture {
    state: State,
}

#[derive(Debug)]
enum State {
    Unavailable(String),
    Running {
        child: Child,
        pcap: PathBuf,
        deadline: Instant,
        stderr: Arc<Mutex<String>>,
    },
}

/// What a finished capture left for the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOutcome {
    /// The pcap file's bytes, when the capture ran.
    pub pcap: Option<Vec<u8>>,
    /// What happened, for `capture.txt`: the filter and bounds, or why there is no capture.
    pub note: String,
}

/// Why a capture could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// tcpdump ran but its output file cannot be read.
    #[error("cannot read the capture {path}: {source}")]
    Read {
        /// The pcap path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Whether this process has CAP_NET_RAW in its effective set (bit 13 of `CapEff`).
fn has_cap_net_raw() -> Result<bool, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .ok_or("no CapEff line in /proc/self/status")?;
    let caps = u64::from_str_radix(hex, 16).map_err(|e| format!("CapEff {hex:?}: {e}"))?;
    Ok(caps & (1 << 13) != 0)
}

/// Starts `tcpdump -i any -n -U --immediate-mode -s 256 -c max_packets -w DIR/capture.pcap
/// FILTER`, waiting until it is listening (or up to two seconds) so the probes that follow are
/// captured.
pub fn start_capture(dir: &Path, filter: &str, max_packets: u32, deadline: Instant) -> Capture {
    let unavailable = |why: String| Capture {
        state: State::Unavailable(why),
    };
    match has_cap_net_raw() {
        Ok(true) => {}
        Ok(false) => {
            return unavailable(
                "no packet capture: this process lacks CAP_NET_RAW (run as root or grant \
                 cap_net_raw to capture)"
                    .to_string(),
            )
        }
        Err(e) => return unavailable(format!("no packet capture: {e}")),
    }
    let pcap = dir.join("capture.pcap");
    let spawned = Command::new("tcpdump")
        // --immediate-mode: without it libpcap hands packets over in blocks (up to a second
        // late), and a capture stopped right after the probes would hold none of them.
        .args(["-i", "any", "-n", "-U", "--immediate-mode", "-s"])
        .arg(SNAP_LENGTH.to_string())
        .arg("-c")
        .arg(max_packets.to_string())
        .arg("-w")
        .arg(&pcap)
        .arg(filter)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return unavailable(
                "no packet capture: tcpdump is not installed (apt-get install tcpdump)".to_string(),
            )
        }
        Err(e) => return unavailable(format!("no packet capture: cannot run tcpdump: {e}")),
    };
    let stderr = Arc::new(Mutex::new(String::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    if let Some(pipe) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = ready_tx.send(());
                }
                if let Ok(mut s) = sink.lock() {
                    if s.len() < 16 * 1024 {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            }
        });
    }
    let wait = START_WAIT.min(deadline.saturating_duration_since(Instant::now()));
    let _ = ready_rx.recv_timeout(wait);
    if let Ok(Some(status)) = child.try_wait() {
        let said = stderr
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        return unavailable(format!(
            "no packet capture: tcpdump exited at start ({status}): {said}"
        ));
    }
    Capture {
        state: State::Running {
            child,
            pcap,
            deadline,
            stderr,
        },
    }
}

impl Capture {
    /// A capture that did not run, with the reason (for callers that decide not to capture).
    pub fn unavailable(why: impl Into<String>) -> Capture {
        Capture {
            state: State::Unavailable(why.into()),
        }
    }

    /// Stops the capture (after a short grace for packets in flight, never past its deadline)
    /// and reads the pcap back.
    pub fn finish(mut self) -> Result<CaptureOutcome, CaptureError> {
        let state = std::mem::replace(&mut self.state, State::Unavailable(String::new()));
        let (mut child, pcap, deadline, stderr) = match state {
            State::Unavailable(why) => {
                return Ok(CaptureOutcome {
                    pcap: None,
                    note: why,
                })
            }
            State::Running {
                child,
                pcap,
                deadline,
                stderr,
            } => (child, pcap, deadline, stderr),
        };
        let stop = (Instant::now() + FLUSH_GRACE).min(deadline);
        let mut finished_by_count = false;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => {
                    finished_by_count = true;
                    break;
                }
                Ok(None) if Instant::now() < stop => thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        if !finished_by_count {
            // SIGTERM first (through kill(1): signals need `unsafe` here) so tcpdump writes
            // what it holds; SIGKILL if it lingers. `-U` already flushed each packet written.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let linger = Instant::now() + Duration::from_millis(300);
            while Instant::now() < linger && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
        let bytes = match std::fs::read(&pcap) {
            Ok(bytes) => bytes,
            // tcpdump stopped before it opened its output (it was still starting when the
            // probes finished, or it failed): that is a capture that holds nothing, not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let said = stderr
                    .lock()
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                return Ok(CaptureOutcome {
                    pcap: None,
                    note: format!(
                        "no packet capture: tcpdump stopped before it wrote {}{}",
                        pcap.display(),
                        if said.is_empty() {
                            String::new()
                        } else {
                            format!(" ({said})")
                        }
                    ),
                });
            }
            Err(source) => {
                return Err(CaptureError::Read {
                    path: pcap.clone(),
                    source,
                })
            }
        };
        let _ = std::fs::remove_file(&pcap);
        let said = stderr
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let how = if finished_by_count {
            "stopped at its packet count"
        } else {
            "stopped when the probes finished"
        };
        Ok(CaptureOutcome {
            pcap: Some(bytes),
            note: format!(
                "tcpdump -i any -n -s {SNAP_LENGTH}: {how}.\n{said}\nThe pcap is not redacted: \
                 the first {SNAP_LENGTH} bytes of each packet may hold credentials sent in clear."
            ),
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let State::Running { child, .. } = &mut self.state {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_names_host_and_port() {
        assert_eq!(
            capture_filter("192.0.2.7".parse().unwrap(), 443),
            "host 192.0.2.7 and port 443"
        );
        assert_eq!(
            capture_filter("2001:db8::1".parse().unwrap(), 53),
            "host 2001:db8::1 and port 53"
        );
    }

    #[test]
    fn unavailable_capture_finishes_with_its_reason() {
        let out = Capture::unavailable("no packet capture: test")
            .finish()
            .unwrap();
        assert_eq!(out.pcap, None);
        assert_eq!(out.note, "no packet capture: test");
    }

    #[test]
    fn capture_always_finishes_with_a_note() {
        // Whatever this machine has (tcpdump or not, root or not), finishing is bounded and
        // either yields a pcap of the flow or says why not.
        let dir = std::env::temp_dir().join(format!("netdiag-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        let filter = capture_filter("127.0.0.1".parse().unwrap(), port);
        let cap = start_capture(&dir, &filter, 50, deadline);
        let _conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let out = cap.finish().unwrap();
        assert!(start.elapsed() < Duration::from_secs(8));
        match &out.pcap {
            Some(pcap) => {
                // pcap magic (either byte order), then at least the SYN's record after the
                // 24-byte global header.
                assert!(pcap.len() > 24 + 16, "{out:?}");
                let magic = &pcap[..4];
                assert!(magic == [0xd4, 0xc3, 0xb2, 0xa1] || magic == [0xa1, 0xb2, 0xc3, 0xd4]);
                assert!(out.note.contains("not redacted"), "{}", out.note);
            }
            None => assert!(out.note.starts_with("no packet capture"), "{out:?}"),
        }
        assert!(
            !dir.join("capture.pcap").exists(),
            "the scratch pcap is removed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
