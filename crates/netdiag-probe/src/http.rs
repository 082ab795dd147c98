//! The HTTP layer probe: one HTTP/1.1 `GET` over a stream the walk already opened (plain TCP, a
//! TLS session, or a proxy tunnel), recorded as an [`HttpObservation`] with `curl -w`-style
//! phase timings.
//!
//! Why by hand (a `TcpStream` plus `httparse`) and not with an HTTP client crate: the diagnosis
//! needs the phases apart (first byte vs. whole body), the exact way an exchange ended (reset
//! after N bytes, closed before any byte, timed out before or after the first byte, not HTTP at
//! all), and it needs them over a stream it connected itself. Client crates fold all of those
//! into one error.
//!
//! Bounds: every read waits at most until the deadline (the stream's I/O timeout is re-armed with
//! the remaining time before each read and write, see [`IoTimeout`]); the response head is capped
//! at [`HEAD_LIMIT`] bytes and the body is read up to [`BODY_LIMIT`] bytes and then left unread
//! (its size is evidence, its content is not). Interim `1xx` responses (`100 Continue`,
//! `103 Early Hints`) are skipped, at most [`MAX_INTERIM`] of them.
//!
//! On a live session ([`request_with`]) the request can be padded to fill one TCP segment (the
//! mtu layer's full-size packet, see `mtu::plan_segment`), the wait for the first byte can end
//! at a limit (twice `--slow`: past it the answer is slow either way, so waiting longer only
//! delays the verdict), and a watch is looked at every [`WATCH_STEP`] while the response has not
//! begun, so a request that never got acknowledged ends the exchange at once.
//!
//! This module must never decide a verdict (a `503` is an observation), never follow a redirect
//! (the walk decides, with `-L`), and never record credentials or body content. One exception is
//! read, not recorded: the first bytes of a `400` body are searched for the fixed sentences in
//! which servers say a client certificate was required ([`CLIENT_CERT_NOTICES`]), because that
//! sentence is the only evidence that the 400 is about mutual TLS.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netdiag_core::observe::{HttpObservation, HttpOutcome, HttpTimings};

/// The largest response head read; a longer one is reported as [`HttpOutcome::Garbled`].
pub const HEAD_LIMIT: usize = 64 * 1024;
/// Body bytes read before the probe stops reading (the response still counts as complete).
pub const BODY_LIMIT: u64 = 1024 * 1024;
/// How much of a `400` body is searched for [`CLIENT_CERT_NOTICES`].
const BODY_SAMPLE: usize = 4096;
/// The sentences in which servers answer a request whose TLS session carried no (or no valid)
/// client certificate: nginx's `ssl_verify_client on` pages.
const CLIENT_CERT_NOTICES: [&str; 2] = [
    "No required SSL certificate was sent",
    "The SSL certificate error",
];

/// The client-certificate sentence a `400` body carries, if any.
fn client_cert_notice(sample: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(sample);
    CLIENT_CERT_NOTICES
        .iter()
        .copied()
        .find(|notice| text.contains(notice))
}

/// Interim (`1xx`) responses skipped before the final one.
pub const MAX_INTERIM: usize = 8;
/// How many header lines one response head may have.
const MAX_HEADERS: usize = 128;
/// How many bytes of a non-HTTP answer are kept as evidence.
const EVIDENCE_BYTES: usize = 64;

/// A stream whose reads and writes can be bounded in time.
///
/// The probe re-arms the timeout with the time left before every read and write, so a server that
/// trickles one byte per second cannot stretch the exchange past the deadline. Implemented for
/// [`TcpStream`]; a TLS stream implements it by setting the timeout on its socket.
pub trait IoTimeout {
    /// Sets both the read and the write timeout. `timeout` is never zero.
    fn set_io_timeout(&mut self, timeout: Duration) -> io::Result<()>;
}

impl IoTimeout for TcpStream {
    fn set_io_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

impl<T: IoTimeout + ?Sized> IoTimeout for &mut T {
    fn set_io_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        (**self).set_io_timeout(timeout)
    }
}

/// What to ask for.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The URL as recorded in the observation (without credentials).
    pub url: &'a str,
    /// The address the stream is connected to (the server's, or the proxy's).
    pub address: SocketAddr,
    /// The `Host` header, e.g. `example.com` or `example.com:8080`.
    pub host_header: &'a str,
    /// The request target: origin-form (`/path?query`) to a server or through a `CONNECT`
    /// tunnel, absolute-form (`http://example.com:8080/path`) when sent to an HTTP proxy.
    pub target: &'a str,
    /// Credentials for the proxy, sent as `Proxy-Authorization: Basic` (absolute-form only).
    pub proxy_credentials: Option<(&'a str, &'a str)>,
}

/// How often the response's start is waited for between two looks of the [`Session`] watch.
const WATCH_STEP: Duration = Duration::from_millis(50);
/// The padding header's name and separator: `X-Netdiag-Pad: ` then `x`s, then CR LF.
const PAD_NAME: &str = "X-Netdiag-Pad: ";

/// What one look at the connection says while the response has not begun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// Keep waiting, and look again.
    Waiting,
    /// Keep waiting; no need to look again.
    Settled,
    /// Stop: the request stalled (the text is the evidence).
    Stalled(String),
}

/// What a prober (`netdiag serve`'s http module) asks beyond `netdiag check`'s `GET`: another
/// method, extra headers, a body. `netdiag check` never sets it, so its request is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// The method (`GET` when empty).
    pub method: String,
    /// Extra header lines, in order (a `Host` or `User-Agent` here replaces netdiag's).
    pub headers: Vec<(String, String)>,
    /// The request body (sent with `Content-Length` when not empty).
    pub body: Vec<u8>,
    /// Keep the response's headers and up to this many raw body bytes in a [`Capture`].
    pub keep_body: usize,
}

/// The response's headers and first body bytes, kept when [`Extras::keep_body`] asks (for the
/// prober's header and body matchers; never rendered in a report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// Every header line of the final response, in order.
    pub headers: Vec<(String, String)>,
    /// The raw bytes after the head (chunk framing included when `chunked`), bounded.
    pub body: Vec<u8>,
    /// The response was chunked.
    pub chunked: bool,
    /// The `Content-Length` header, when it parsed.
    pub content_length: Option<u64>,
}

/// Options of one exchange on a live session (see [`request_with`]).
#[derive(Default)]
pub struct Session<'w> {
    /// The prober's request options and where to keep the response (see [`Extras`]).
    pub extras: Option<&'w Extras>,
    /// Filled with the response's headers and body when `extras` asks.
    pub capture: Option<&'w mut Capture>,
    /// Pad the request head with a harmless `X-Netdiag-Pad` header to (at least) this many
    /// bytes, so that it fills a segment.
    pub pad_to: Option<usize>,
    /// Stop waiting for the response to begin at this instant (it is slow either way).
    pub first_byte_by: Option<Instant>,
    /// Looked at every [`WATCH_STEP`] while the response has not begun.
    pub watch: Option<&'w mut dyn FnMut() -> Look>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pad_to", &self.pad_to)
            .field("first_byte_by", &self.first_byte_by)
            .field("watch", &self.watch.is_some())
            .field("extras", &self.extras)
            .finish()
    }
}

/// Sends one `GET` and reads the response, until `deadline` at the latest.
///
/// `started` is the instant the walk started this target (timings are measured from it, like
/// `curl -w`); `timings` carries what earlier layers measured (connect, TLS), and this function
/// adds `first_byte` and `total`. Outcomes:
/// - `Response`: a final response head arrived (the body was read to its end, to the close, or up
///   to [`BODY_LIMIT`]; a body cut short by an orderly close still counts as a response).
/// - `Reset`: `ECONNRESET` (or `EPIPE` while sending) before the response was complete; the bytes
///   received until then are recorded.
/// - `Closed`: the server closed before sending any byte.
/// - `TimedOut`: the deadline passed; `got_first_byte` tells a server that never answered from
///   one that stalled while answering.
/// - `Garbled`: the bytes are not an HTTP/1.x response (or its head exceeds [`HEAD_LIMIT`], or
///   the server closed in the middle of the head).
/// - `Error`: a local failure (the request could not be formed or sent for a local reason).
pub fn request<S: Read + Write + IoTimeout>(
    stream: &mut S,
    req: &HttpRequest<'_>,
    started: Instant,
    timings: HttpTimings,
    deadline: Instant,
) -> HttpObservation {
    request_with(stream, req, started, timings, deadline, Session::default()).0
}

/// [`request`] on a live session: the request padded to fill a segment, the wait for its
/// first byte cut at `first_byte_by` (then the outcome is `TimedOut` and the observation's
/// `first_byte_limit` says when), and `watch` looked at while the response has not begun (a
/// [`Look::Stalled`] ends the exchange as `TimedOut`, its text in `request_stalled`). Also
/// returns how many bytes the request had.
pub fn request_with<S: Read + Write + IoTimeout>(
    stream: &mut S,
    req: &HttpRequest<'_>,
    started: Instant,
    timings: HttpTimings,
    deadline: Instant,
    session: Session<'_>,
) -> (HttpObservation, usize) {
    let mut exchange = Exchange {
        stream,
        deadline,
        started,
        received: 0,
        timings,
        first_byte_by: session.first_byte_by,
        watch: session.watch,
        gave_up: false,
        stalled: None,
        extras: session.extras,
        capture: session.capture,
    };
    let (outcome, sent) = exchange.run(req, session.pad_to);
    let mut timings = exchange.timings;
    timings.total = Some(started.elapsed());
    let first_byte_limit = match (exchange.gave_up, exchange.first_byte_by) {
        (true, Some(by)) => Some(by.saturating_duration_since(started)),
        _ => None,
    };
    let observation = HttpObservation {
        url: req.url.to_owned(),
        address: req.address,
        outcome,
        timings,
        first_byte_limit,
        request_stalled: exchange.stalled,
    };
    (observation, sent)
}

/// The request bytes, or why they cannot be formed. Control characters in the host or target
/// would let input inject header lines, so they are refused.
#[cfg(test)]
fn request_bytes(req: &HttpRequest<'_>, pad_to: Option<usize>) -> Result<Vec<u8>, String> {
    request_bytes_with(req, pad_to, None)
}

/// [`request_bytes`] with the prober's [`Extras`]: its method, header lines (a `Host` or
/// `User-Agent` among them replaces netdiag's) and body.
fn request_bytes_with(
    req: &HttpRequest<'_>,
    pad_to: Option<usize>,
    extras: Option<&Extras>,
) -> Result<Vec<u8>, String> {
    let method = extras
        .map(|e| e.method.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or("GET");
    let header = |name: &str| {
        extras.and_then(|e| {
            e.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
    };
    let host = header("host").unwrap_or(req.host_header);
    let agent = header("user-agent").unwrap_or("netdiag/0.1");
    let extra_lines: Vec<&(String, String)> = extras
        .map(|e| {
            e.headers
                .iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("user-agent")
                })
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &extra_lines {
        if k.is_empty()
            || k.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f)
            || v.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f)
        {
            return Err(format!(
                "the header {k:?} contains blanks or control characters"
            ));
        }
    }
    if method.bytes().any(|b| !b.is_ascii_alphabetic()) {
        return Err(format!("the method {method:?} is not a token"));
    }
    for (what, text) in [("Host header", host), ("request target", req.target)] {
        if text.is_empty() || text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "the {what} {text:?} is empty or contains blanks or control characters"
            ));
        }
    }
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n",
        req.target
    );
    for (k, v) in &extra_lines {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = extras.map(|e| e.body.as_slice()).unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if let Some((user, password)) = req.proxy_credentials {
        head.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            basic_credentials(user, password)
        ));
    }
    if let Some(want) = pad_to {
        // The head so far plus the final CR LF; the pad line is its name, at least one `x`,
        // and CR LF. Shorter than that, it overshoots a little: still a full first segment.
        let need = want.saturating_sub(head.len() + 2);
        if need > 0 {
            let value = need.saturating_sub(PAD_NAME.len() + 2).max(1);
            head.push_str(PAD_NAME);
            head.extend(std::iter::repeat_n('x', value));
            head.push_str("\r\n");
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Ok(bytes)
}

/// How a read ended when it did not deliver bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Orderly close (EOF).
    Eof,
    /// `ECONNRESET` (or `EPIPE` on a write).
    Reset,
    /// The deadline passed.
    TimedOut,
    /// Anything else.
    Error(String),
}

impl ReadEnd {
    pub(crate) fn from_io(err: &io::Error) -> ReadEnd {
        match err.kind() {
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                ReadEnd::Reset
            }
            ErrorKind::WouldBlock | ErrorKind::TimedOut => ReadEnd::TimedOut,
            _ => ReadEnd::Error(err.to_string()),
        }
    }
}

/// The time left until `deadline`, or `None` when it has passed. Never zero, because a zero
/// socket timeout means "wait forever" to some APIs and is an error to std's.
pub(crate) fn time_left(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left.max(Duration::from_millis(1)))
}

struct Exchange<'s, 'w, S> {
    stream: &'s mut S,
    deadline: Instant,
    started: Instant,
    received: u64,
    timings: HttpTimings,
    first_byte_by: Option<Instant>,
    watch: Option<&'w mut dyn FnMut() -> Look>,
    /// The first-byte wait ended at `first_byte_by`.
    gave_up: bool,
    /// The watch said the request stalled.
    stalled: Option<String>,
    extras: Option<&'w Extras>,
    capture: Option<&'w mut Capture>,
}

impl<S: Read + Write + IoTimeout> Exchange<'_, '_, S> {
    fn run(&mut self, req: &HttpRequest<'_>, pad_to: Option<usize>) -> (HttpOutcome, usize) {
        let bytes = match request_bytes_with(req, pad_to, self.extras) {
            Ok(bytes) => bytes,
            Err(detail) => return (HttpOutcome::Error { detail }, 0),
        };
        if let Err(end) = self.send(&bytes) {
            return (self.failed(end, &[]), bytes.len());
        }
        (self.response(), bytes.len())
    }

    fn response(&mut self) -> HttpOutcome {
        let mut buf: Vec<u8> = Vec::new();
        let head = match self.read_final_head(&mut buf) {
            Ok(head) => head,
            Err(outcome) => return outcome,
        };
        let leftover = buf.get(head.length..).unwrap_or_default().to_vec();
        let mut sample = Vec::new();
        let keep = self.extras.map_or(0, |e| e.keep_body);
        if let Some(capture) = self.capture.as_deref_mut() {
            *capture = Capture {
                headers: header_lines(buf.get(..head.length).unwrap_or_default()),
                body: Vec::new(),
                chunked: head.chunked,
                content_length: head.content_length,
            };
        }
        let body = match self.read_body(&head, &leftover, &mut sample, keep) {
            Ok(body_bytes) => body_bytes,
            // A head arrived, then the exchange broke: the break is what the user feels.
            Err(end) => return self.failed(end, &buf),
        };
        if head.status == 400 {
            if let Some(notice) = client_cert_notice(&sample) {
                return HttpOutcome::ClientCertDemanded {
                    status: head.status,
                    reason: head.reason,
                    notice: notice.to_owned(),
                };
            }
        }
        HttpOutcome::Response {
            version: head.version,
            status: head.status,
            reason: head.reason,
            location: head.location,
            server: head.server,
            body_bytes: body,
        }
    }

    /// Writes all of `bytes` before the deadline.
    fn send(&mut self, mut bytes: &[u8]) -> Result<(), ReadEnd> {
        // Each round writes at least one byte or ends.
        while !bytes.is_empty() {
            let left = time_left(self.deadline).ok_or(ReadEnd::TimedOut)?;
            self.stream
                .set_io_timeout(left)
                .map_err(|e| ReadEnd::Error(format!("cannot set the socket timeout: {e}")))?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(ReadEnd::Reset),
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadEnd::from_io(&e)),
            }
        }
        self.stream.flush().map_err(|e| ReadEnd::from_io(&e))
    }

    /// Until when the next read may wait, and whether the watch is to be looked at after it:
    /// before the first byte, the first-byte limit and the watch step shorten the wait.
    fn read_until(&self) -> (Instant, bool) {
        if self.received > 0 {
            return (self.deadline, false);
        }
        let mut until = self.deadline;
        if let Some(by) = self.first_byte_by {
            until = until.min(by);
        }
        match self.watch {
            Some(_) => (until.min(Instant::now() + WATCH_STEP), true),
            None => (until, false),
        }
    }

    /// Reads at least one byte into `chunk`, before the deadline.
    fn read_some(&mut self, chunk: &mut [u8]) -> Result<usize, ReadEnd> {
        let mut interrupted = 0;
        // Bounded: every round waits a watch step (or until the deadline), or returns; at most
        // 16 rounds are interrupted reads.
        let steps = self
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            / WATCH_STEP.as_millis()
            + 2;
        for _ in 0..steps.saturating_add(16) {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(ReadEnd::TimedOut);
            }
            if self.received == 0 && self.first_byte_by.is_some_and(|by| now >= by) {
                self.gave_up = true;
                return Err(ReadEnd::TimedOut);
            }
            let (until, look) = self.read_until();
            let left = time_left(until).unwrap_or(Duration::from_millis(1));
            self.stream
                .set_io_timeout(left)
                .map_err(|e| ReadEnd::Error(format!("cannot set the socket timeout: {e}")))?;
            match self.stream.read(chunk) {
                Ok(0) => return Err(ReadEnd::Eof),
                Ok(n) => {
                    if self.received == 0 {
                        self.timings.first_byte = Some(self.started.elapsed());
                    }
                    self.received = self.received.saturating_add(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {
                    interrupted += 1;
                    if interrupted > 16 {
                        break;
                    }
                }
                Err(e) => match ReadEnd::from_io(&e) {
                    // Before the first byte the wait is cut in steps: look, then go round
                    // (the top of the loop ends it at the deadline or the first-byte limit).
                    ReadEnd::TimedOut if self.received == 0 => {
                        if look && self.look() {
                            return Err(ReadEnd::TimedOut);
                        }
                    }
                    end => return Err(end),
                },
            }
        }
        Err(ReadEnd::Error("reads kept being interrupted".into()))
    }

    /// Looks at the connection once; true when the request stalled.
    fn look(&mut self) -> bool {
        let Some(watch) = self.watch.as_mut() else {
            return false;
        };
        match watch() {
            Look::Waiting => false,
            Look::Settled => {
                self.watch = None;
                false
            }
            Look::Stalled(why) => {
                self.stalled = Some(why);
                self.watch = None;
                true
            }
        }
    }

    /// Reads heads until a final (non-1xx) one; `buf` keeps the bytes from that head on.
    fn read_final_head(&mut self, buf: &mut Vec<u8>) -> Result<Head, HttpOutcome> {
        let mut chunk = [0u8; 8192];
        for _ in 0..=MAX_INTERIM {
            let head = loop {
                match parse_head(buf) {
                    Parsed::Complete(head) => break *head,
                    Parsed::NotHttp => {
                        return Err(HttpOutcome::Garbled {
                            first_bytes: printable(buf),
                        })
                    }
                    Parsed::Partial if buf.len() >= HEAD_LIMIT => {
                        return Err(HttpOutcome::Garbled {
                            first_bytes: format!(
                                "{} (response head longer than {} KiB)",
                                printable(buf),
                                HEAD_LIMIT / 1024
                            ),
                        })
                    }
                    Parsed::Partial => {}
                }
                let want = chunk.len().min(HEAD_LIMIT - buf.len());
                let n = self
                    .read_some(&mut chunk[..want])
                    .map_err(|end| self.failed(end, buf))?;
                buf.extend_from_slice(&chunk[..n]);
            };
            // 101 would switch protocols; we never ask for it, so it counts as final.
            if (100..200).contains(&head.status) && head.status != 101 {
                buf.drain(..head.length.min(buf.len()));
                continue;
            }
            return Ok(head);
        }
        Err(HttpOutcome::Garbled {
            first_bytes: format!("more than {MAX_INTERIM} interim (1xx) responses"),
        })
    }

    /// Reads the body as the head frames it; returns the body bytes read (at most about
    /// [`BODY_LIMIT`]).
    /// `sample` receives the first [`BODY_SAMPLE`] raw bytes after the head (for a `400` only).
    fn read_body(
        &mut self,
        head: &Head,
        leftover: &[u8],
        sample: &mut Vec<u8>,
        kept: usize,
    ) -> Result<u64, ReadEnd> {
        let mut body = Body::for_head(head);
        let mut capture = self.capture.take();
        let mut keep = |sample: &mut Vec<u8>, bytes: &[u8]| {
            if head.status == 400 {
                let room = BODY_SAMPLE.saturating_sub(sample.len());
                sample.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            if let Some(c) = capture.as_deref_mut() {
                let room = kept.saturating_sub(c.body.len());
                c.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        };
        keep(sample, leftover);
        let mut count = body.feed(leftover);
        let mut chunk = [0u8; 16 * 1024];
        // Bounded by BODY_LIMIT (every round reads at least one byte) and the deadline.
        while !body.done() && count < BODY_LIMIT {
            match self.read_some(&mut chunk) {
                Ok(n) => {
                    keep(sample, &chunk[..n]);
                    count = count.saturating_add(body.feed(&chunk[..n]));
                }
                Err(ReadEnd::Eof) => break,
                Err(end) => {
                    self.capture = capture;
                    return Err(end);
                }
            }
        }
        self.capture = capture;
        Ok(count.min(BODY_LIMIT))
    }

    /// The outcome for an exchange that ended with `end`; `buf` is what was read so far.
    fn failed(&self, end: ReadEnd, buf: &[u8]) -> HttpOutcome {
        match end {
            ReadEnd::Eof if self.received == 0 => HttpOutcome::Closed,
            ReadEnd::Eof => HttpOutcome::Garbled {
                first_bytes: format!(
                    "{} (closed after {} bytes, in the middle of the response head)",
                    printable(buf),
                    self.received
                ),
            },
            ReadEnd::Reset => HttpOutcome::Reset {
                after_bytes: self.received,
            },
            ReadEnd::TimedOut => HttpOutcome::TimedOut {
                got_first_byte: self.received > 0,
            },
            ReadEnd::Error(detail) => HttpOutcome::Error { detail },
        }
    }
}

/// A parsed response head, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub(crate) version: String,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) location: Option<String>,
    pub(crate) server: Option<String>,
    /// Every `Proxy-Authenticate` value.
    pub(crate) proxy_authenticate: Vec<String>,
    /// Every `WWW-Authenticate` value.
    pub(crate) www_authenticate: Vec<String>,
    /// The `Via` header.
    pub(crate) via: Option<String>,
    /// The `Proxy-agent` header (what tinyproxy names itself with on a `CONNECT` answer).
    pub(crate) proxy_agent: Option<String>,
    /// `Content-Length`, when present and valid.
    pub(crate) content_length: Option<u64>,
    /// Whether the last transfer coding is `chunked`.
    pub(crate) chunked: bool,
    /// The head's length in bytes, including the empty line.
    pub(crate) length: usize,
}

/// What a buffer holds so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Complete(Box<Head>),
    Partial,
    NotHttp,
}

/// Parses the response head at the start of `buf` (pure; `httparse` does the grammar).
pub(crate) fn parse_head(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::NotHttp,
    };
    let (Some(code), Some(minor)) = (response.code, response.version) else {
        return Parsed::NotHttp;
    };
    let text = |v: &[u8]| String::from_utf8_lossy(v).trim().to_owned();
    let find = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| text(h.value))
    };
    let all = |name: &str| -> Vec<String> {
        response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| text(h.value))
            .collect()
    };
    let chunked = all("transfer-encoding")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .next_back()
        .is_some_and(|last| last.eq_ignore_ascii_case("chunked"));
    // Several Content-Length values must agree (RFC 9110 §8.6); otherwise it is not usable.
    let lengths: Vec<Option<u64>> = all("content-length")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().parse::<u64>().ok())
        .collect();
    let content_length = match lengths.first() {
        Some(Some(first)) if lengths.iter().all(|l| *l == Some(*first)) => Some(*first),
        _ => None,
    };
    Parsed::Complete(Box::new(Head {
        version: format!("HTTP/1.{minor}"),
        status: code,
        reason: response.reason.unwrap_or_default().to_owned(),
        location: find("location"),
        server: find("server"),
        proxy_authenticate: all("proxy-authenticate"),
        www_authenticate: all("www-authenticate"),
        via: find("via"),
        proxy_agent: find("proxy-agent"),
        content_length,
        chunked,
        length,
    }))
}

/// Every header line of a complete response head (pure).
fn header_lines(head: &[u8]) -> Vec<(String, String)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(head).is_err() {
        return Vec::new();
    }
    response
        .headers
        .iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect()
}

/// How the body is framed, and how far reading it has come.
#[derive(Debug)]
enum Body {
    /// No body (1xx, 204, 304).
    Empty,
    /// `Content-Length`: bytes still expected.
    Length(u64),
    /// Read until the server closes.
    UntilClose,
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
}

impl Body {
    fn for_head(head: &Head) -> Body {
        if matches!(head.status, 100..=199 | 204 | 304) {
            Body::Empty
        } else if head.chunked {
            Body::Chunked(Chunked::default())
        } else if let Some(n) = head.content_length {
            Body::Length(n)
        } else {
            Body::UntilClose
        }
    }

    /// Consumes `bytes`; returns how many of them are body content.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        match self {
            Body::Empty => 0,
            Body::UntilClose => bytes.len() as u64,
            Body::Length(left) => {
                let take = (*left).min(bytes.len() as u64);
                *left -= take;
                take
            }
            Body::Chunked(chunked) => chunked.feed(bytes),
        }
    }

    fn done(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Length(left) => *left == 0,
            Body::UntilClose => false,
            Body::Chunked(chunked) => chunked.done(),
        }
    }
}

/// An incremental `chunked` decoder that only counts: sizes, data, CRLFs, trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Reading a chunk-size line (bytes so far, capped).
    Size(Vec<u8>),
    /// Inside chunk data: bytes left.
    Data(u64),
    /// After chunk data: expecting CRLF.
    DataEnd,
    /// Reading trailer lines; the flag says whether the current line is still empty.
    Trailer(bool),
    /// The last chunk and the trailers were read.
    Done,
    /// The framing is broken; nothing more is counted.
    Bad,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked::Size(Vec::new())
    }
}

/// The longest chunk-size line (size plus extensions) accepted.
const CHUNK_LINE_LIMIT: usize = 1024;

impl Chunked {
    /// Consumes `bytes`; returns how many of them are chunk data.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut data = 0u64;
        let mut i = 0;
        // Every arm consumes at least one byte or leaves the loop.
        while i < bytes.len() {
            match self {
                Chunked::Done | Chunked::Bad => break,
                Chunked::Size(line) => {
                    let b = bytes[i];
                    i += 1;
                    if b != b'\n' {
                        line.push(b);
                        if line.len() > CHUNK_LINE_LIMIT {
                            *self = Chunked::Bad;
                        }
                        continue;
                    }
                    *self = match chunk_size(line) {
                        Some(0) => Chunked::Trailer(true),
                        Some(n) => Chunked::Data(n),
                        None => Chunked::Bad,
                    };
                }
                Chunked::Data(left) => {
                    let rest = bytes.get(i..).unwrap_or_default();
                    let take = (*left).min(rest.len() as u64);
                    // `take` fits in usize: it is at most `rest.len()`.
                    i += usize::try_from(take).unwrap_or(rest.len());
                    data = data.saturating_add(take);
                    *left -= take;
                    if *left == 0 {
                        *self = Chunked::DataEnd;
                    }
                }
                Chunked::DataEnd => {
                    let b = bytes[i];
                    i += 1;
                    match b {
                        b'\r' => {}
                        b'\n' => *self = Chunked::Size(Vec::new()),
                        _ => *self = Chunked::Bad,
                    }
                }
                Chunked::Trailer(empty) => {
                    let b = bytes[i];
                    i += 1;
                    match b {
                        b'\r' => {}
                        b'\n' if *empty => *self = Chunked::Done,
                        b'\n' => *empty = true,
                        _ => *empty = false,
                    }
                }
            }
        }
        data
    }

    /// Whether reading should stop (the body ended, or its framing broke).
    pub(crate) fn done(&self) -> bool {
        matches!(self, Chunked::Done | Chunked::Bad)
    }
}

/// The hex size at the start of a chunk-size line (before any `;extension`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let size = text.split(';').next()?.trim();
    if size.is_empty() || size.len() > 16 {
        return None;
    }
    u64::from_str_radix(size, 16).ok()
}

/// `base64(user:password)` for `Basic` authentication (RFC 7617), by hand: 20 lines do not
/// justify a dependency.
pub fn basic_credentials(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.as_bytes().chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if k <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The first bytes of an answer as printable text: ASCII as is, CR/LF/TAB escaped, anything else
/// as `\xNN`.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(EVIDENCE_BYTES) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > EVIDENCE_BYTES {
        out.push('…');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::net::{Ipv4Addr, Shutdown, TcpListener};
    use std::thread::{self, JoinHandle};

    use proptest::prelude::*;

    /// A one-connection loopback server: accepts, reads the request head, then hands the stream
    /// and the request text to `behave`. Returns the address and the thread.
    pub(crate) fn serve<F>(behave: F) -> (SocketAddr, JoinHandle<String>)
    where
        F: FnOnce(&mut TcpStream, &str) + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let request = read_request_head(&mut stream);
            behave(&mut stream, &request);
            request
        });
        (addr, handle)
    }

    /// Reads up to the empty line, byte by byte (so nothing after the head is consumed).
    pub(crate) fn read_request_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    /// Closes with a RST instead of a FIN (SO_LINGER 0).
    pub(crate) fn reset(stream: TcpStream) {
        let sock = socket2::Socket::from(stream);
        sock.set_linger(Some(Duration::ZERO)).unwrap();
        drop(sock);
    }

    fn get(addr: SocketAddr, deadline_ms: u64) -> HttpObservation {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let timings = HttpTimings {
            connect: Some(started.elapsed()),
            ..HttpTimings::default()
        };
        let req = HttpRequest {
            url: "http://test.example/x",
            address: addr,
            host_header: "test.example",
            target: "/x",
            proxy_credentials: None,
        };
        request(
            &mut stream,
            &req,
            started,
            timings,
            started + Duration::from_millis(deadline_ms),
        )
    }

    fn respond(bytes: &'static [u8]) -> impl FnOnce(&mut TcpStream, &str) + Send + 'static {
        move |s, _| {
            s.write_all(bytes).unwrap();
        }
    }

    fn response(obs: &HttpObservation) -> (u16, &str, Option<&str>, Option<&str>, u64) {
        match &obs.outcome {
            HttpOutcome::Response {
                status,
                reason,
                location,
                server,
                body_bytes,
                ..
            } => (
                *status,
                reason.as_str(),
                location.as_deref(),
                server.as_deref(),
                *body_bytes,
            ),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn ok_200_with_content_length_and_timings() {
        let (addr, server) = serve(respond(
            b"HTTP/1.1 200 OK\r\nServer: test/1\r\nContent-Length: 5\r\n\r\nhello",
        ));
        let obs = get(addr, 2000);
        assert_eq!(response(&obs), (200, "OK", None, Some("test/1"), 5));
        let t = &obs.timings;
        assert!(t.connect.is_some() && t.tls.is_none());
        assert!(t.first_byte.unwrap() <= t.total.unwrap());
        assert_eq!(obs.url, "http://test.example/x");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /x HTTP/1.1\r\n"), "{request}");
        for header in [
            "Host: test.example\r\n",
            "User-Agent: netdiag/0.1\r\n",
            "Accept: */*\r\n",
            "Connection: close\r\n",
        ] {
            assert!(request.contains(header), "{header} missing in {request}");
        }
        assert!(!request.contains("Proxy-Authorization"));
    }

    /// nginx's page for `ssl_verify_client on` without a client certificate, as nginx 1.22
    /// sends it.
    #[test]
    fn nginx_no_required_certificate_400_is_told_apart() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 246\r\nConnection: close\r\n\r\n<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n",
        ));
        assert_eq!(
            get(addr, 2000).outcome,
            HttpOutcome::ClientCertDemanded {
                status: 400,
                reason: "Bad Request".into(),
                notice: "No required SSL certificate was sent".into(),
            }
        );
    }

    #[test]
    fn a_plain_400_stays_a_response() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad request",
        ));
        assert_eq!(response(&get(addr, 2000)).0, 400);
        assert_eq!(
            client_cert_notice(b"x The SSL certificate error y"),
            Some("The SSL certificate error")
        );
        assert_eq!(client_cert_notice(&[0xff, 0xfe]), None);
    }

    #[test]
    fn not_found_404() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
        ));
        assert_eq!(
            response(&get(addr, 2000)),
            (404, "Not Found", None, None, 9)
        );
    }

    #[test]
    fn service_unavailable_503_body_until_close() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.0 503 Service Unavailable\r\nServer: nginx\r\n\r\nbusy, try later",
        ));
        let obs = get(addr, 2000);
        assert_eq!(
            response(&obs),
            (503, "Service Unavailable", None, Some("nginx"), 15)
        );
        assert!(
            matches!(&obs.outcome, HttpOutcome::Response { version, .. } if version == "HTTP/1.0")
        );
    }

    #[test]
    fn redirect_records_location() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://test.example/x\r\nContent-Length: 0\r\n\r\n",
        ));
        assert_eq!(
            response(&get(addr, 2000)),
            (
                301,
                "Moved Permanently",
                Some("https://test.example/x"),
                None,
                0
            )
        );
    }

    #[test]
    fn no_content_204_has_no_body_even_if_the_server_keeps_the_connection_open() {
        let (addr, _s) = serve(|s, _| {
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
            thread::sleep(Duration::from_millis(800));
        });
        let started = Instant::now();
        assert_eq!(response(&get(addr, 3000)).4, 0);
        assert!(started.elapsed() < Duration::from_millis(600));
    }

    #[test]
    fn chunked_body_split_across_writes() {
        let (addr, _s) = serve(|s, _| {
            let parts: [&[u8]; 6] = [
                b"HTTP/1.1 200 OK\r\nTransfer-",
                b"Encoding: chunked\r\n\r\n5\r\nhel",
                b"lo\r\n1;ext=1\r\n ",
                b"\r\n10\r\n0123456789abcdef\r\n0\r\n",
                b"X-Trailer: yes\r\n",
                b"\r\n",
            ];
            for part in parts {
                s.write_all(part).unwrap();
                s.flush().unwrap();
                thread::sleep(Duration::from_millis(20));
            }
            // Keep the connection open: the decoder must stop at the last chunk by itself.
            thread::sleep(Duration::from_millis(800));
        });
        let started = Instant::now();
        assert_eq!(response(&get(addr, 3000)), (200, "OK", None, None, 22));
        assert!(started.elapsed() < Duration::from_millis(700));
    }

    #[test]
    fn head_split_byte_by_byte() {
        let (addr, _s) = serve(|s, _| {
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                s.write_all(&[*b]).unwrap();
                s.flush().unwrap();
                thread::sleep(Duration::from_millis(2));
            }
        });
        assert_eq!(response(&get(addr, 3000)), (200, "OK", None, None, 2));
    }

    #[test]
    fn interim_100_continue_and_103_are_skipped() {
        let (addr, _s) = serve(respond(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
        ));
        assert_eq!(response(&get(addr, 2000)), (200, "OK", None, None, 1));
    }

    #[test]
    fn slow_first_byte_times_out_without_a_byte() {
        let (addr, _s) = serve(|s, _| {
            thread::sleep(Duration::from_millis(600));
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        });
        let started = Instant::now();
        let obs = get(addr, 150);
        assert_eq!(
            obs.outcome,
            HttpOutcome::TimedOut {
                got_first_byte: false
            }
        );
        assert!(
            started.elapsed() < Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
        assert!(obs.timings.first_byte.is_none());
    }

    #[test]
    fn stalled_body_times_out_after_the_first_byte() {
        let (addr, _s) = serve(|s, _| {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
                .unwrap();
            thread::sleep(Duration::from_millis(600));
        });
        let obs = get(addr, 200);
        assert_eq!(
            obs.outcome,
            HttpOutcome::TimedOut {
                got_first_byte: true
            }
        );
        assert!(obs.timings.first_byte.is_some());
    }

    #[test]
    fn trickling_server_cannot_stretch_the_deadline() {
        let (addr, _s) = serve(|s, _| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            for _ in 0..40 {
                if s.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        let obs = get(addr, 200);
        assert_eq!(
            obs.outcome,
            HttpOutcome::TimedOut {
                got_first_byte: true
            }
        );
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    #[test]
    fn reset_after_reading_the_request() {
        // `serve` lends the stream; a reset needs to own it, hence a server of its own.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            read_request_head(&mut stream);
            reset(stream);
        });
        let obs = get(addr, 2000);
        server.join().unwrap();
        assert_eq!(obs.outcome, HttpOutcome::Reset { after_bytes: 0 });
    }

    #[test]
    fn reset_in_the_middle_of_the_head_counts_the_bytes() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            read_request_head(&mut stream);
            stream.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
            stream.flush().unwrap();
            thread::sleep(Duration::from_millis(50));
            reset(stream);
        });
        let obs = get(addr, 2000);
        server.join().unwrap();
        assert_eq!(obs.outcome, HttpOutcome::Reset { after_bytes: 17 });
    }

    #[test]
    fn closed_without_a_byte() {
        let (addr, _s) = serve(|s, _| {
            s.shutdown(Shutdown::Both).unwrap();
        });
        assert_eq!(get(addr, 2000).outcome, HttpOutcome::Closed);
    }

    #[test]
    fn garbled_ssh_banner() {
        let (addr, _s) = serve(respond(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
        match get(addr, 2000).outcome {
            HttpOutcome::Garbled { first_bytes } => {
                assert!(
                    first_bytes.starts_with("SSH-2.0-OpenSSH_9.2p1"),
                    "{first_bytes}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbled_binary_is_escaped() {
        let (addr, _s) = serve(respond(b"\x16\x03\x01\x00\x05hello"));
        match get(addr, 2000).outcome {
            HttpOutcome::Garbled { first_bytes } => {
                assert!(first_bytes.starts_with("\\x16\\x03\\x01"), "{first_bytes}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn closed_in_the_middle_of_the_head_is_garbled() {
        let (addr, _s) = serve(respond(b"HTTP/1.1 200 OK\r\nContent-"));
        match get(addr, 2000).outcome {
            HttpOutcome::Garbled { first_bytes } => {
                assert!(
                    first_bytes.contains("closed after 25 bytes"),
                    "{first_bytes}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn head_over_64_kib_is_garbled() {
        let (addr, _s) = serve(|s, _| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Pad: {}\r\n", "a".repeat(1000));
            for _ in 0..80 {
                if s.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        match get(addr, 3000).outcome {
            HttpOutcome::Garbled { first_bytes } => {
                assert!(first_bytes.contains("longer than 64 KiB"), "{first_bytes}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_reading_stops_at_the_limit() {
        let (addr, _s) = serve(|s, _| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let block = [b'z'; 64 * 1024];
            // 4 MiB offered; the probe stops after 1 MiB and closes, so writes start failing.
            for _ in 0..64 {
                if s.write_all(&block).is_err() {
                    break;
                }
            }
        });
        assert_eq!(response(&get(addr, 5000)).4, BODY_LIMIT);
    }

    #[test]
    fn absolute_form_with_proxy_credentials() {
        let (addr, server) = serve(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let req = HttpRequest {
            url: "http://target.example:8080/p?q=1",
            address: addr,
            host_header: "target.example:8080",
            target: "http://target.example:8080/p?q=1",
            proxy_credentials: Some(("Aladdin", "open sesame")),
        };
        let obs = request(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            started + Duration::from_secs(2),
        );
        assert_eq!(response(&obs).0, 200);
        let request = server.join().unwrap();
        assert!(request.starts_with("GET http://target.example:8080/p?q=1 HTTP/1.1\r\n"));
        assert!(request.contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
    }

    #[test]
    fn injected_header_lines_are_refused() {
        let (addr, _s) = serve(|_, _| {});
        let mut stream = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        let req = HttpRequest {
            url: "http://x/",
            address: addr,
            host_header: "x\r\nX-Evil: 1",
            target: "/",
            proxy_credentials: None,
        };
        let obs = request(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            started + Duration::from_secs(1),
        );
        assert!(
            matches!(obs.outcome, HttpOutcome::Error { .. }),
            "{:?}",
            obs.outcome
        );
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        // RFC 4648 §10 vectors, as "user:password" = "f:oobar" etc.
        let cases = [
            ("", "", "Og=="),
            ("f", "", "Zjo="),
            ("f", "o", "Zjpv"),
            ("fo", "obar", "Zm86b2Jhcg=="),
            ("Aladdin", "open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ];
        for (user, pass, want) in cases {
            assert_eq!(basic_credentials(user, pass), want, "{user}:{pass}");
        }
    }

    #[test]
    fn parse_head_cases() {
        // (case name, bytes, expected status or None for partial, Some(0) for not HTTP)
        let cases: &[(&str, &[u8], Option<u16>)] = &[
            ("complete", b"HTTP/1.1 200 OK\r\n\r\n", Some(200)),
            ("partial status line", b"HTTP/1.1 20", None),
            ("empty", b"", None),
            ("no reason phrase", b"HTTP/1.1 204 \r\n\r\n", Some(204)),
            ("ssh banner", b"SSH-2.0-x\r\n", Some(0)),
            ("html without head", b"<html>", Some(0)),
            (
                "http/2 preface is not HTTP/1",
                b"PRI * HTTP/2.0\r\n\r\n",
                Some(0),
            ),
        ];
        for (name, bytes, want) in cases {
            let got = match parse_head(bytes) {
                Parsed::Complete(h) => Some(h.status),
                Parsed::Partial => None,
                Parsed::NotHttp => Some(0),
            };
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn framing_headers() {
        let Parsed::Complete(h) = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3, 3\r\n\r\n",
        ) else {
            panic!()
        };
        assert!(h.chunked);
        assert_eq!(h.content_length, Some(3));
        let Parsed::Complete(h) =
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(
            h.content_length, None,
            "conflicting lengths are not trusted"
        );
    }

    #[test]
    fn chunked_decoder_counts_data_only() {
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"3\r\nabc\r\n0\r\n\r\n"), 3);
        assert!(c.done());
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"zz\r\n"), 0);
        assert_eq!(c, Chunked::Bad);
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"2\r\nabX"), 2);
        assert_eq!(c, Chunked::Bad, "data not followed by CRLF");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_head(&bytes);
            let mut c = Chunked::default();
            let n = c.feed(&bytes);
            prop_assert!(n <= bytes.len() as u64);
            let _ = printable(&bytes);
        }

        #[test]
        fn chunked_split_anywhere_gives_the_same_count(split in 0usize..40) {
            let body = b"4\r\nwiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
            let split = split.min(body.len());
            let mut c = Chunked::default();
            let n = c.feed(&body[..split]) + c.feed(&body[split..]);
            prop_assert_eq!(n, 23);
            prop_assert!(c.done());
        }
    }

    #[test]
    fn extras_set_method_headers_and_body_and_refuse_injection() {
        let extras = Extras {
            method: "POST".into(),
            headers: vec![
                ("Host".into(), "other.example".into()),
                ("X-A".into(), "1".into()),
            ],
            body: b"hi".to_vec(),
            keep_body: 0,
        };
        let bytes = request_bytes_with(&plain_request(), None, Some(&extras)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("POST /x HTTP/1.1\r\nHost: other.example\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-A: 1\r\nContent-Length: 2\r\n\r\nhi"),
            "{text}"
        );
        let bad = Extras {
            headers: vec![("X-B".into(), "a\r\nEvil: 1".into())],
            ..Extras::default()
        };
        assert!(request_bytes_with(&plain_request(), None, Some(&bad)).is_err());
        assert_eq!(
            request_bytes_with(&plain_request(), None, None),
            request_bytes(&plain_request(), None)
        );
    }

    #[test]
    fn capture_keeps_headers_and_a_bounded_body() {
        let (addr, server) = serve(|s, _| {
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Y: z\r\n\r\n0123456789");
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        let extras = Extras {
            keep_body: 4,
            ..Extras::default()
        };
        let mut capture = Capture::default();
        let req = HttpRequest {
            address: addr,
            ..plain_request()
        };
        let started = Instant::now();
        let session = Session {
            extras: Some(&extras),
            capture: Some(&mut capture),
            ..Session::default()
        };
        let deadline = started + Duration::from_secs(5);
        let (obs, _) = request_with(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            deadline,
            session,
        );
        let _ = server.join();
        assert!(
            matches!(obs.outcome, HttpOutcome::Response { body_bytes: 10, .. }),
            "{obs:?}"
        );
        assert_eq!(capture.body, b"0123");
        assert_eq!(capture.content_length, Some(10));
        assert!(capture.headers.iter().any(|(k, v)| k == "X-Y" && v == "z"));
    }

    fn plain_request() -> HttpRequest<'static> {
        HttpRequest {
            url: "http://test.example/x",
            address: "127.0.0.1:80".parse().unwrap(),
            host_header: "test.example",
            target: "/x",
            proxy_credentials: None,
        }
    }

    proptest! {
        /// The padded request is exactly the size asked (or a few bytes over when the gap is
        /// shorter than the pad line), and still one well-formed request head.
        #[test]
        fn padding_fills_exactly_and_stays_a_valid_request(want in 0usize..9000) {
            let unpadded = request_bytes(&plain_request(), None).unwrap();
            let padded = request_bytes(&plain_request(), Some(want)).unwrap();
            let need = want.saturating_sub(unpadded.len());
            if need == 0 {
                prop_assert_eq!(&padded, &unpadded);
            } else if need >= PAD_NAME.len() + 3 {
                prop_assert_eq!(padded.len(), want);
            } else {
                prop_assert!(padded.len() > want && padded.len() <= want + PAD_NAME.len() + 3);
            }
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Request::new(&mut headers);
            prop_assert_eq!(parsed.parse(&padded).unwrap(), httparse::Status::Complete(padded.len()));
            prop_assert_eq!(parsed.path, Some("/x"));
        }
    }

    #[test]
    fn padded_request_reaches_the_server_with_the_pad_header() {
        let (addr, server) = serve(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let req = HttpRequest {
            address: addr,
            ..plain_request()
        };
        let session = Session {
            pad_to: Some(1448),
            ..Session::default()
        };
        let deadline = started + Duration::from_secs(2);
        let (obs, sent) = request_with(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            deadline,
            session,
        );
        assert_eq!(response(&obs).0, 200);
        assert_eq!(sent, 1448);
        let head = server.join().unwrap();
        assert_eq!(head.len(), 1448, "{head}");
        assert!(head.contains("\r\nX-Netdiag-Pad: xxx"), "{head}");
    }

    #[test]
    fn no_first_byte_by_the_limit_stops_waiting_and_says_when() {
        let (addr, _server) = serve(|_, _| thread::sleep(Duration::from_millis(1500)));
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let req = HttpRequest {
            address: addr,
            ..plain_request()
        };
        let session = Session {
            first_byte_by: Some(started + Duration::from_millis(300)),
            ..Session::default()
        };
        let deadline = started + Duration::from_secs(5);
        let (obs, _) = request_with(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            deadline,
            session,
        );
        let took = started.elapsed();
        assert_eq!(
            obs.outcome,
            HttpOutcome::TimedOut {
                got_first_byte: false
            }
        );
        assert_eq!(obs.first_byte_limit, Some(Duration::from_millis(300)));
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }

    #[test]
    fn a_first_byte_before_the_limit_is_read_to_the_end() {
        let (addr, _server) = serve(|s, _| {
            thread::sleep(Duration::from_millis(100));
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
                .unwrap();
            thread::sleep(Duration::from_millis(400));
            s.write_all(b"ok").unwrap();
        });
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let req = HttpRequest {
            address: addr,
            ..plain_request()
        };
        let mut looks = 0;
        let mut watch = || {
            looks += 1;
            Look::Waiting
        };
        let session = Session {
            first_byte_by: Some(started + Duration::from_millis(300)),
            watch: Some(&mut watch),
            ..Session::default()
        };
        let deadline = started + Duration::from_secs(5);
        let (obs, _) = request_with(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            deadline,
            session,
        );
        assert_eq!(response(&obs), (200, "OK", None, None, 2));
        assert_eq!(obs.first_byte_limit, None);
        assert!(looks >= 1, "the watch was looked at while waiting");
    }

    #[test]
    fn a_stalled_watch_ends_the_exchange_with_its_evidence() {
        let (addr, _server) = serve(|_, _| thread::sleep(Duration::from_millis(1500)));
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let req = HttpRequest {
            address: addr,
            ..plain_request()
        };
        let mut looks = 0;
        let mut watch = || {
            looks += 1;
            if looks >= 3 {
                Look::Stalled("retransmitted twice".into())
            } else {
                Look::Waiting
            }
        };
        let session = Session {
            watch: Some(&mut watch),
            ..Session::default()
        };
        let deadline = started + Duration::from_secs(5);
        let (obs, _) = request_with(
            &mut stream,
            &req,
            started,
            HttpTimings::default(),
            deadline,
            session,
        );
        assert_eq!(
            obs.outcome,
            HttpOutcome::TimedOut {
                got_first_byte: false
            }
        );
        assert_eq!(obs.request_stalled.as_deref(), Some("retransmitted twice"));
        assert_eq!(obs.first_byte_limit, None);
        assert!(started.elapsed() < Duration::from_millis(1000));
    }
}
