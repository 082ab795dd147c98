//! Namespaces, links and routes: the topology of a scenario, and its cleanup.
//!
//! A [`Testnet`] owns everything a scenario creates. [`Node`]s are cheap handles (one per
//! namespace) that run commands, servers and probes inside it. Cleanup lives in `Testnet`'s
//! `Drop`, so it also runs while a failing test unwinds.

use crate::dns::{Dig, Dnsmasq, Unbound};
use crate::http::{self, HttpServer};
use crate::pki::Pki;
use crate::probe::{self, TcpConnect, UdpExchange};
use crate::process::{self, run_ok};
use crate::proxy::Tinyproxy;
use crate::run::Run;
use crate::servers::{self, ServerHandle, TcpMode, UdpHandler};
use crate::tempdir::TempDir;
use crate::{Error, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Every namespace this harness creates starts with this, then the test process id.
const NS_PREFIX: &str = "ndt";

/// Deadline for configuration commands (`ip`, `iptables`, `sysctl`): they take milliseconds.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Deadline for one netdiag run. netdiag's own default `--timeout` is 10 s; anything beyond this
/// is a hang, and the test must say so rather than wait.
const NETDIAG_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a DNS server may take to answer its first query after start.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Proxy variables that would change netdiag's walk; scenarios start from a clean environment.
const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; cleanup must go on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a scenario owns; shared by the [`Testnet`] and its [`Node`] handles.
#[derive(Debug)]
pub(crate) struct Shared {
    prefix: String,
    dir: Mutex<TempDir>,
    namespaces: Mutex<Vec<String>>,
    children: Mutex<Vec<(String, Child)>>,
    servers: Mutex<Vec<ServerHandle>>,
    netdiag: Mutex<Option<PathBuf>>,
    files: AtomicUsize,
}

impl Shared {
    fn dir(&self) -> PathBuf {
        lock(&self.dir).path().to_path_buf()
    }
}

/// One scenario: a set of namespaces, links, servers and files, all removed on drop.
#[derive(Debug)]
pub struct Testnet {
    shared: Arc<Shared>,
}

/// The two interface names of a veth link, for commands that need a device (`tc`, `sysctl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interface in the first node.
    pub a: String,
    /// The interface in the second node.
    pub b: String,
}

/// A network namespace in a scenario: a host or a router.
#[derive(Debug, Clone)]
pub struct Node {
    shared: Arc<Shared>,
    name: String,
    ns: String,
    interfaces: Arc<AtomicUsize>,
}

impl Testnet {
    /// Starts an empty scenario. `tag` names it in namespace and file names (keep it short and
    /// unique per test: `tcpadm`, `dnsnx`); the process id and a sequence number are added, so
    /// tests may run in parallel.
    pub fn new(tag: &str) -> Result<Self> {
        if !nix::unistd::geteuid().is_root() {
            return Err(Error::Setup(
                "network namespaces need root; gate the test with require_netns!()".into(),
            ));
        }
        sweep_stale_namespaces();
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{NS_PREFIX}{}-{seq}-{tag}", std::process::id());
        let dir = TempDir::new(&tag)?;
        Ok(Testnet {
            shared: Arc::new(Shared {
                prefix,
                dir: Mutex::new(dir),
                namespaces: Mutex::new(Vec::new()),
                children: Mutex::new(Vec::new()),
                servers: Mutex::new(Vec::new()),
                netdiag: Mutex::new(None),
                files: AtomicUsize::new(0),
            }),
        })
    }

    /// Sets the netdiag binary that [`Node::netdiag`] runs. Integration tests pass
    /// `env!("CARGO_BIN_EXE_netdiag")`; the environment variable `NETDIAG_BIN`, when set,
    /// takes precedence (to test another build of the binary with the same tests).
    pub fn set_netdiag(&self, binary: impl Into<PathBuf>) {
        *lock(&self.shared.netdiag) = Some(binary.into());
    }

    /// The scenario's temp directory.
    pub fn dir(&self) -> PathBuf {
        self.shared.dir()
    }

    /// Adds a host: a namespace with loopback up and ICMP rate limiting off (so every probe of a
    /// fault gets its ICMP error, however many run in a row).
    pub fn host(&self, name: &str) -> Result<Node> {
        self.node(name)
    }

    /// Adds a router: a host that forwards IPv4 and IPv6.
    pub fn router(&self, name: &str) -> Result<Node> {
        let node = self.node(name)?;
        node.sysctl("net.ipv4.ip_forward", "1")?;
        node.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        Ok(node)
    }

    fn node(&self, name: &str) -> Result<Node> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Setup(format!(
                "node name {name:?}: use letters and digits only"
            )));
        }
        let ns = format!("{}-{name}", self.shared.prefix);
        run_ok(ip(&["netns", "add", &ns]), COMMAND_TIMEOUT)?;
        // Registered before anything else can fail, so Drop removes it.
        lock(&self.shared.namespaces).push(ns.clone());
        let node = Node {
            shared: Arc::clone(&self.shared),
            name: name.to_owned(),
            ns,
            interfaces: Arc::new(AtomicUsize::new(0)),
        };
        run_ok(
            ip(&["-n", &node.ns, "link", "set", "lo", "up"]),
            COMMAND_TIMEOUT,
        )?;
        node.sysctl("net.ipv4.icmp_ratelimit", "0")?;
        node.sysctl("net.ipv6.icmp.ratelimit", "0")?;
        // No duplicate address detection on interfaces created later: with it, link-local
        // addresses stay tentative for a second or two and the first IPv6 packets of a test
        // (neighbour discovery, forwarding) fail.
        node.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        node.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        Ok(node)
    }

    /// Joins two nodes with a veth pair, assigns one address (CIDR) to each end and brings both
    /// up. Interfaces are named `eth0`, `eth1`, … per node, like a real host. IPv6 addresses skip
    /// duplicate address detection so they are usable at once.
    pub fn link(&self, a: &Node, a_addr: &str, b: &Node, b_addr: &str) -> Result<Link> {
        let a_if = a.next_interface();
        let b_if = b.next_interface();
        // Created directly inside both namespaces: the names never exist in the host namespace,
        // so parallel tests cannot collide on them.
        run_ok(
            ip(&[
                "link", "add", &a_if, "netns", &a.ns, "type", "veth", "peer", "name", &b_if,
                "netns", &b.ns,
            ]),
            COMMAND_TIMEOUT,
        )?;
        for (node, dev, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
            node.add_address(dev, addr)?;
            run_ok(
                ip(&["-n", &node.ns, "link", "set", dev, "up"]),
                COMMAND_TIMEOUT,
            )?;
        }
        Ok(Link { a: a_if, b: b_if })
    }

    /// Writes a file into the scenario's temp dir and returns its path. The name is made unique.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let n = self.shared.files.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.dir).write(&format!("{n}-{name}"), contents)
    }

    /// Generates a throwaway root and intermediate CA in the scenario's temp dir (see [`Pki`]).
    pub fn pki(&self) -> Result<Pki> {
        Pki::new(&self.dir())
    }

    /// Writes a resolv.conf with these lines (e.g. `["nameserver 10.77.2.2"]`).
    pub fn resolv_conf(&self, lines: &[&str]) -> Result<PathBuf> {
        self.write_file("resolv.conf", &lines_to_file(lines))
    }

    /// Writes a hosts file with these lines (e.g. `["10.77.2.2 pinned.test"]`).
    pub fn hosts_file(&self, lines: &[&str]) -> Result<PathBuf> {
        self.write_file("hosts", &lines_to_file(lines))
    }
}

fn lines_to_file(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let shared = &self.shared;
        if std::env::var("NETDIAG_TESTNET_KEEP").is_ok_and(|v| v == "1") {
            lock(&shared.dir).keep();
            eprintln!(
                "NETDIAG_TESTNET_KEEP=1: leaving namespaces {}-* and {} in place",
                shared.prefix,
                shared.dir().display()
            );
            return;
        }
        for server in lock(&shared.servers).drain(..) {
            server.stop();
        }
        for (_, mut child) in lock(&shared.children).drain(..) {
            process::kill(&mut child);
        }
        let namespaces: Vec<String> = lock(&shared.namespaces).drain(..).collect();
        for ns in namespaces.iter().rev() {
            remove_namespace(ns);
        }
    }
}

/// Kills whatever still runs inside `ns` (all of it was started by this harness), then deletes
/// the namespace; its veth ends go with it.
fn remove_namespace(ns: &str) {
    if let Ok(pids) = run_ok(ip(&["netns", "pids", ns]), COMMAND_TIMEOUT) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    if let Err(e) = run_ok(ip(&["netns", "delete", ns]), COMMAND_TIMEOUT) {
        eprintln!("netdiag-testnet: cleanup: {e}");
    }
}

/// Removes namespaces left by test processes that died without running Drop (SIGKILL, abort).
/// Only names of the form `ndt<pid>-…` whose pid no longer exists are touched.
fn sweep_stale_namespaces() {
    let Ok(list) = run_ok(ip(&["netns", "list"]), COMMAND_TIMEOUT) else {
        return;
    };
    let me = std::process::id();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(name);
        }
    }
}

fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    cmd
}

impl Node {
    /// The node's short name, as given to [`Testnet::host`] or [`Testnet::router`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's full name (for `ip netns exec` by hand when debugging).
    pub fn netns(&self) -> &str {
        &self.ns
    }

    fn next_interface(&self) -> String {
        format!("eth{}", self.interfaces.fetch_add(1, Ordering::Relaxed))
    }

    fn exec_command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, program]);
        cmd
    }

    /// Runs a shell command line inside the namespace and requires success; returns stdout.
    /// Shell syntax is allowed (`;`, quotes), so a fault reads like the command an operator types.
    pub fn run(&self, command_line: &str) -> Result<String> {
        let mut cmd = self.exec_command("sh");
        cmd.args(["-c", command_line]);
        run_ok(cmd, COMMAND_TIMEOUT)
    }

    /// Runs a program inside the namespace and returns what happened, whatever the exit status.
    /// Proxy variables of the test's own environment are removed.
    pub fn command(&self, program: &str, args: &[&str], timeout: Duration) -> Result<Run> {
        self.command_env(program, args, &[], timeout)
    }

    /// [`Node::command`] with extra environment variables, e.g.
    /// `[("https_proxy", "http://10.77.1.1:3128")]`: only these proxy variables are set.
    pub fn command_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Run> {
        let mut cmd = self.exec_command(program);
        cmd.args(args);
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        Run::from_command(cmd, timeout)
    }

    /// Runs the netdiag binary inside the namespace (see [`Testnet::set_netdiag`]).
    pub fn netdiag(&self, args: &[&str]) -> Result<Run> {
        self.netdiag_env(args, &[])
    }

    /// [`Node::netdiag`] with extra environment variables (a proxy setting, say).
    pub fn netdiag_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
        let binary = std::env::var_os("NETDIAG_BIN")
            .map(PathBuf::from)
            .or_else(|| lock(&self.shared.netdiag).clone())
            .ok_or_else(|| {
                Error::Setup(
                    "no netdiag binary: call Testnet::set_netdiag or set NETDIAG_BIN".into(),
                )
            })?;
        let program = binary.to_string_lossy().into_owned();
        self.command_env(&program, args, env, NETDIAG_TIMEOUT)
    }

    /// Sets a sysctl inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let mut cmd = self.exec_command("sysctl");
        cmd.args(["-qw", &format!("{key}={value}")]);
        run_ok(cmd, COMMAND_TIMEOUT).map(drop)
    }

    /// Adds an address (CIDR) to an interface of this node, e.g. a second address for a dead
    /// nameserver. IPv6 addresses skip duplicate address detection.
    pub fn add_address(&self, dev: &str, cidr: &str) -> Result<()> {
        let mut args = vec!["-n", &self.ns, "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        run_ok(ip(&args), COMMAND_TIMEOUT).map(drop)
    }

    /// Adds a default route via `gateway`.
    pub fn default_route(&self, gateway: &str) -> Result<()> {
        self.route("default", gateway)
    }

    /// Adds a route to `destination` (CIDR or `default`) via `gateway`.
    pub fn route(&self, destination: &str, gateway: &str) -> Result<()> {
        run_ok(
            ip(&["-n", &self.ns, "route", "add", destination, "via", gateway]),
            COMMAND_TIMEOUT,
        )
        .map(drop)
    }

    /// How many ICMP destination-unreachable messages this node has sent (its `/proc/net/snmp`
    /// `Icmp: OutDestUnreachs`). Comparing it before and after a probe proves which node
    /// generated an ICMP error, without tcpdump.
    pub fn icmp_unreachables_sent(&self) -> Result<u64> {
        let snmp = self.run("cat /proc/net/snmp")?;
        parse_snmp(&snmp, "Icmp:", "OutDestUnreachs").ok_or_else(|| {
            Error::Setup(format!(
                "no Icmp OutDestUnreachs in {}'s /proc/net/snmp",
                self.name
            ))
        })
    }

    /// Starts a long-running program inside the namespace, owned by the scenario: killed on drop
    /// (and, through `setpriv --pdeathsig`, if the test process dies first). Its output goes to
    /// `<label>.log` in the scenario's temp dir.
    pub fn spawn(&self, label: &str, program: &str, args: &[&str]) -> Result<()> {
        self.spawn_child(label, program, args).map(drop)
    }

    fn spawn_child(&self, label: &str, program: &str, args: &[&str]) -> Result<PathBuf> {
        let log = self.shared.dir().join(format!("{}-{label}.log", self.name));
        let out = std::fs::File::create(&log)
            .map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("open {}", log.display()), e))?;
        let mut cmd = self.exec_command("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let line = process::display(&cmd);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("spawn `{line}`"), e))?;
        lock(&self.shared.children).push((format!("{}/{label}", self.name), child));
        Ok(log)
    }

    /// [`Node::spawn`] for a server program: returns once it accepts TCP connections on `addr`
    /// (polled with a connect, bounded by a 10 s deadline), or with its log if it exited.
    /// Whatever the program prints goes to `<label>.log` in the scenario's temp dir.
    pub fn spawn_server(
        &self,
        label: &str,
        program: &str,
        args: &[&str],
        addr: &str,
    ) -> Result<()> {
        let target = parse_addr(addr)?;
        let log = self.spawn_child(label, program, args)?;
        let started = Instant::now();
        loop {
            self.check_alive(label, &log)?;
            let probe = probe::tcp_connect(&self.ns, target, Duration::from_millis(200), None)?;
            if probe == TcpConnect::Established {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(Error::Setup(format!(
                    "{label} in {} does not accept connections on {addr} after {READY_TIMEOUT:?} \
                     (last connect: {probe:?}): {}",
                    self.name,
                    output.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts tinyproxy (foreground, `-d`) with this configuration and waits until it accepts
    /// connections. Its log is `tinyproxy-<addr>.log` in the scenario's temp dir.
    pub fn tinyproxy(&self, config: Tinyproxy) -> Result<()> {
        let label = format!("tinyproxy-{}", config.address());
        let conf = self
            .shared
            .dir()
            .join(format!("{}-{label}.conf", self.name));
        std::fs::write(&conf, config.render())
            .map_err(|e| Error::io(format!("write {}", conf.display()), e))?;
        let conf = conf.to_string_lossy().into_owned();
        self.spawn_server(&label, "tinyproxy", &["-d", "-c", &conf], &config.address())
    }

    /// Errors out if the child labelled `label` has already exited, with its log attached.
    fn check_alive(&self, label: &str, log: &Path) -> Result<()> {
        let key = format!("{}/{label}", self.name);
        let mut children = lock(&self.shared.children);
        if let Some((_, child)) = children.iter_mut().rev().find(|(k, _)| *k == key) {
            if let Ok(Some(status)) = child.try_wait() {
                let output = std::fs::read_to_string(log).unwrap_or_default();
                return Err(Error::Setup(format!(
                    "{key} exited at start ({status}): {}",
                    output.trim()
                )));
            }
        }
        Ok(())
    }

    /// Starts dnsmasq inside the namespace and waits until it answers on its address.
    pub fn dnsmasq(&self, config: Dnsmasq) -> Result<()> {
        let label = format!("dnsmasq-{}", config.listen());
        let log = self
            .shared
            .dir()
            .join(format!("{}-{label}.queries", self.name));
        let args = config.args(&log);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.spawn_child(&label, "dnsmasq", &args)?;
        self.wait_dns_ready(config.listen(), &label, &out)
    }

    /// Starts unbound inside the namespace and waits until it answers on its address.
    pub fn unbound(&self, config: Unbound) -> Result<()> {
        let label = format!("unbound-{}", config.listen());
        let dir = self.shared.dir();
        let conf = self
            .shared
            .dir()
            .join(format!("{}-{label}.conf", self.name));
        std::fs::write(&conf, config.render(&dir))
            .map_err(|e| Error::io(format!("write {}", conf.display()), e))?;
        let conf = conf.to_string_lossy().into_owned();
        let out = self.spawn_child(&label, "unbound", &["-d", "-c", &conf])?;
        self.wait_dns_ready(config.listen(), &label, &out)
    }

    /// Polls with `dig` until the server at `addr` gives any answer (even REFUSED): that proves
    /// it is bound and serving. Bounded by [`READY_TIMEOUT`].
    fn wait_dns_ready(&self, addr: &str, label: &str, log: &Path) -> Result<()> {
        let started = Instant::now();
        loop {
            self.check_alive(label, log)?;
            // `.invalid` is never forwarded anywhere: both servers answer it locally.
            if self
                .dig(addr, "ready.invalid", "A", &["+time=1"])?
                .status
                .is_some()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Timeout {
                    what: format!("{label} in {} to answer", self.name),
                    timeout: READY_TIMEOUT,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Queries `server` with `dig` from inside this namespace: one try, 2 s unless `flags`
    /// say otherwise (`+cd`, `+tcp`, `+time=5`…). The status is `None` when nothing answered.
    pub fn dig(&self, server: &str, name: &str, qtype: &str, flags: &[&str]) -> Result<Dig> {
        let at = format!("@{server}");
        let mut args = vec![
            "+tries=1",
            "+time=2",
            "+nocmd",
            "+nostats",
            at.as_str(),
            name,
            qtype,
        ];
        args.extend_from_slice(flags);
        let run = self.command("dig", &args, Duration::from_secs(30))?;
        Ok(Dig::parse(&run.stdout, run.elapsed))
    }

    fn add_server(&self, server: ServerHandle) {
        lock(&self.shared.servers).push(server);
    }

    /// A TCP listener on `addr` that accepts and holds connections until the peer closes
    /// (a healthy service). Ready when this returns. Use `127.0.0.1:PORT` for a listener that
    /// is bound to loopback only.
    pub fn listen_tcp(&self, addr: &str) -> Result<()> {
        let addr = parse_addr(addr)?;
        let server = servers::tcp(&self.ns, addr, TcpMode::Hold)?;
        self.add_server(server);
        Ok(())
    }

    /// A TCP listener on `addr` that accepts each connection and resets it at once
    /// (close with SO_LINGER 0 sends RST): a service that crashes per connection.
    pub fn listen_tcp_reset(&self, addr: &str) -> Result<()> {
        let addr = parse_addr(addr)?;
        let server = servers::tcp(&self.ns, addr, TcpMode::Reset)?;
        self.add_server(server);
        Ok(())
    }

    /// An HTTP server on `addr` (plain, or TLS with [`HttpServer::tls`]) that answers as `spec`
    /// says. Ready when this returns.
    pub fn http(&self, addr: &str, spec: HttpServer) -> Result<()> {
        let server = http::serve(&self.ns, parse_addr(addr)?, spec)?;
        self.add_server(server);
        Ok(())
    }

    /// A UDP service on `addr` that echoes every datagram.
    pub fn listen_udp_echo(&self, addr: &str) -> Result<()> {
        let addr = parse_addr(addr)?;
        let server = servers::udp_echo(&self.ns, addr)?;
        self.add_server(server);
        Ok(())
    }

    /// A DNS server on `listen` (UDP) that relays to `upstream` and holds each reply for
    /// `delay`: a slow nameserver, built without `sch_netem` (not every kernel has it).
    pub fn slow_dns(&self, listen: &str, upstream: &str, delay: Duration) -> Result<()> {
        let server =
            servers::slow_dns(&self.ns, parse_addr(listen)?, parse_addr(upstream)?, delay)?;
        self.add_server(server);
        Ok(())
    }

    /// A scripted UDP server on `listen` (see [`UdpHandler`]): every datagram goes to the
    /// handler, whose reply is sent after the delay it names, or nothing when it returns `None`.
    pub fn udp_responder(&self, listen: &str, handler: UdpHandler) -> Result<()> {
        let server = servers::udp_responder(&self.ns, parse_addr(listen)?, handler)?;
        self.add_server(server);
        Ok(())
    }

    /// Runs `f` on a thread inside this namespace and returns what it returns (waiting at most
    /// `timeout`): library code that opens sockets, run where the test's servers are.
    pub fn within<T, F>(&self, what: &str, timeout: Duration, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        servers::in_netns(&self.ns, what, timeout, move || Ok(f()))
    }

    /// Connects to `addr` from inside this namespace (a precondition check: is the fault real?).
    pub fn tcp_connect(&self, addr: &str, timeout: Duration) -> Result<TcpConnect> {
        probe::tcp_connect(&self.ns, parse_addr(addr)?, timeout, None)
    }

    /// Opens `count` TCP connections to `addr` from inside this namespace and hands them back
    /// open (they close when dropped): many established, assured conntrack entries at once.
    pub fn open_tcp_connections(
        &self,
        addr: &str,
        count: usize,
    ) -> Result<Vec<std::net::TcpStream>> {
        probe::open_tcp(&self.ns, parse_addr(addr)?, count, Duration::from_secs(10))
    }

    /// Connects, then waits up to `read_for` for the first byte: tells a listener that resets
    /// after accepting ([`TcpConnect::Reset`]) from one that holds the connection.
    pub fn tcp_connect_then_read(
        &self,
        addr: &str,
        timeout: Duration,
        read_for: Duration,
    ) -> Result<TcpConnect> {
        probe::tcp_connect(&self.ns, parse_addr(addr)?, timeout, Some(read_for))
    }

    /// Sends one UDP datagram to `addr` from inside this namespace and waits for a reply or an
    /// ICMP error (port unreachable is reported on a connected UDP socket).
    pub fn udp_exchange(
        &self,
        addr: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<UdpExchange> {
        probe::udp_exchange(&self.ns, parse_addr(addr)?, payload.to_vec(), timeout)
    }
}

fn parse_addr(addr: &str) -> Result<SocketAddr> {
    addr.parse()
        .map_err(|_| Error::Setup(format!("{addr:?} is not an IP:port socket address")))
}

/// Reads one counter from the two-line-per-protocol layout of `/proc/net/snmp`.
fn parse_snmp(snmp: &str, proto: &str, field: &str) -> Option<u64> {
    let mut rows = snmp.lines().filter(|l| l.starts_with(proto));
    let names = rows.next()?;
    let values = rows.next()?;
    let index = names.split_whitespace().position(|n| n == field)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_counter_is_read_by_column_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmp: InMsgs OutDestUnreachs\nIcmp: 3 7\n";
        assert_eq!(parse_snmp(snmp, "Icmp:", "OutDestUnreachs"), Some(7));
        assert_eq!(parse_snmp(snmp, "Icmp:", "Nope"), None);
        assert_eq!(parse_snmp("", "Icmp:", "OutDestUnreachs"), None);
    }

    #[test]
    fn resolv_conf_lines_end_with_newline() {
        assert_eq!(
            lines_to_file(&["nameserver 10.77.2.2"]),
            "nameserver 10.77.2.2\n"
        );
    }
}
