//! A `vpc daemon` process per test: unique namespace, socket, state
//! directory and port; killed and purged on drop (also when the test panics).
use std::{
    collections::BTreeSet,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use vpc_control::{
    apply,
    client::{Client, ClientError},
    datapath, netns, topology,
};

use crate::unique;

/// The access key every test daemon accepts on HTTP.
pub const ACCESS_KEY_ID: &str = "LTAItestkey";
/// Its secret.
pub const ACCESS_KEY_SECRET: &str = "test-secret-0123456789";
/// Its account.
pub const ACCOUNT_ID: &str = "1234567890123456";
/// A second account's key, also accepted (tenants apart).
pub const OTHER_KEY_ID: &str = "LTAIotherkey";
/// Its secret.
pub const OTHER_KEY_SECRET: &str = "other-secret-9876543210";
/// Its account.
pub const OTHER_ACCOUNT_ID: &str = "6543210987654321";

/// The `vpc` binary built beside the test executables.
pub fn vpc_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|d| d.join("vpc"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// A running (or killed) daemon.
pub struct Daemon {
    /// Router namespace.
    pub namespace: String,
    /// Working directory (socket, state, log).
    pub dir: PathBuf,
    /// HTTP port on 127.0.0.1.
    pub port: u16,
    /// The metrics port on 127.0.0.1 (`--metrics-listen`).
    pub metrics_port: u16,
    /// More `vpc daemon` arguments, given at every start.
    pub args: Vec<String>,
    /// The open-file limit (soft and hard) the daemon starts with, if set.
    pub nofile: Option<u64>,
    child: Option<Child>,
    starts: u32,
    /// Started with `--strict-parameters` (the default for tests).
    strict: bool,
    /// Environment given to every start (e.g. `VPC_QUOTAS`).
    env: Vec<(String, String)>,
}

/// A free port below the kernel's ephemeral range (32768 and up): a
/// daemon keeps its port across restarts, and a port the kernel handed out
/// (bind to port 0) could be handed to another test's daemon while this one
/// is down.
fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = fastrand::u16(20000..32000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Two different free ports (HTTP, metrics): the same number twice would
/// make the daemon's second bind fail ("Address already in use").
fn free_ports() -> (u16, u16) {
    let port = free_port();
    loop {
        let p = free_port();
        if p != port {
            return (port, p);
        }
    }
}

impl Daemon {
    /// Starts a daemon in strict mode (a parameter no SDK model has is
    /// refused, so a test catches a misspelt name) and waits until it serves.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// Starts a daemon that ignores and logs parameters no SDK model has, as
    /// it does by default outside the tests (footmark, under Ansible's
    /// alicloud modules, signs a stray `on=<Action>` into every call).
    pub fn start_lenient() -> Self {
        Self::start_with(false)
    }

    /// Starts a daemon, strict about parameters or not, and waits until it
    /// serves.
    pub fn start_with(strict: bool) -> Self {
        Self::start_with_env(strict, &[])
    }

    /// Starts a daemon with `env` in its environment at every start (the
    /// benches raise account quotas with `VPC_QUOTAS`).
    pub fn start_with_env(strict: bool, env: &[(&str, &str)]) -> Self {
        let mut d = Self::new(strict);
        d.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        d.spawn(&[]);
        d
    }

    /// A daemon not started yet (strict about parameters or not): set
    /// [`Daemon::args`] or [`Daemon::nofile`], then [`Daemon::spawn`].
    pub fn new(strict: bool) -> Self {
        let name = unique("vd");
        let dir = std::env::temp_dir().join(format!("vpc-test-{name}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        // (Ports from 20000 up, not the kernel's ephemeral ones: a restarted
        // daemon's port must not be handed to another test meanwhile.)
        let (port, metrics_port) = free_ports();
        Daemon {
            namespace: format!("{name}-rt"),
            dir,
            port,
            metrics_port,
            args: Vec::new(),
            nofile: None,
            child: None,
            starts: 0,
            strict,
            env: Vec::new(),
        }
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("vpc.sock")
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// How many times the daemon was started (the number of its latest log).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The log of the n-th start.
    pub fn log(&self, n: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("daemon-{n}.log"))).unwrap_or_default()
    }

    /// Starts the process (with extra environment) and waits for the API.
    /// Its log level is `VPC_DAEMON_LOG` when set (default `info`; e.g.
    /// `info,vpc_control::service=debug` logs each change's validate,
    /// compile and commit times).
    ///
    /// A port another test's daemon took between [`free_port`]'s check and
    /// this daemon's bind ("Address already in use") is replaced by another
    /// free one, and the daemon started again (a few times at most).
    pub fn spawn(&mut self, env: &[(&str, &str)]) {
        for _ in 0..4 {
            match self.spawn_once(env) {
                Ok(()) => return,
                Err(log) if log.contains("Address already in use") => {
                    (self.port, self.metrics_port) = free_ports();
                }
                Err(log) => panic!("the daemon exited:\n{log}"),
            }
        }
        panic!("the daemon found no free port:\n{}", self.log(self.starts));
    }

    /// One start of [`Self::spawn`]: `Err` with its log if the process
    /// exited before it served.
    fn spawn_once(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("daemon-{}.log", self.starts)))
            .expect("log file");
        let key = format!("{ACCESS_KEY_ID}:{ACCESS_KEY_SECRET}:{ACCOUNT_ID}");
        let other = format!("{OTHER_KEY_ID}:{OTHER_KEY_SECRET}:{OTHER_ACCOUNT_ID}");
        let port = self.port.to_string();
        let mut cmd = Command::new(vpc_binary());
        cmd.args(["--socket"])
            .arg(self.socket())
            .args([
                "daemon",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--namespace",
                &self.namespace,
                "--access-key",
                &key,
            ])
            .args([
                "--access-key",
                &other,
                "--metrics-listen",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .args(&self.args)
            .arg("--state-dir")
            .arg(self.state_dir())
            .env(
                "RUST_LOG",
                std::env::var("VPC_DAEMON_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if self.strict {
            // Tests catch a misspelt parameter name.
            cmd.arg("--strict-parameters");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(n) = self.nofile {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            // SAFETY: between fork and exec only setrlimit runs, on a struct
            // copied into the closure; it allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("starting the daemon: {e}")),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self
                .client()
                .call("DescribeVpcs", &[("RegionId", "cn-hangzhou")])
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("({status}) {}", self.log(self.starts)));
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not come up in 60 s:\n{}",
                self.log(self.starts)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The daemon's process, if running.
    pub fn child(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// A client of the Unix socket.
    pub fn client(&self) -> Client {
        Client::new(self.socket())
    }

    /// Calls an action over the Unix socket, panicking on error.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Value {
        self.client()
            .call(action, params)
            .unwrap_or_else(|e| panic!("{action} {params:?}: {e}"))
    }

    /// Calls an action that must fail; its error.
    pub fn call_err(&self, action: &str, params: &[(&str, &str)]) -> ClientError {
        match self.client().call(action, params) {
            Ok(v) => panic!("{action} {params:?} should fail, returned {v}"),
            Err(e) => e,
        }
    }

    /// Runs the `vpc` command line against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(vpc_binary())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running vpc {args:?}: {e}"))
    }

    /// Runs the `vpc` command line, panicking unless it succeeds; its JSON.
    pub fn cli_ok(&self, args: &[&str]) -> Value {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "vpc {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "vpc {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&o.stdout)
            )
        })
    }

    /// InstanceId of each instance by name.
    pub fn instance_id(&self, name: &str) -> String {
        let v = self.call(
            "DescribeInstances",
            &[("RegionId", "cn-hangzhou"), ("InstanceName", name)],
        );
        v["Instances"]["Instance"][0]["InstanceId"]
            .as_str()
            .unwrap_or_else(|| panic!("no instance {name}: {v}"))
            .to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        let o = Command::new(vpc_binary())
            .arg("--socket")
            .arg(self.socket())
            .args(["purge", "--namespace", &self.namespace, "--state-dir"])
            .arg(self.state_dir())
            .output();
        match o {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("purge failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("purge failed: {e}"),
        }
        // VPC_KEEP_DAEMON_LOGS=<dir>: the daemon's logs are kept there.
        if let Some(keep) = std::env::var_os("VPC_KEEP_DAEMON_LOGS") {
            for n in 1..=self.starts {
                let name = format!("{}-daemon-{n}.log", self.namespace);
                let _ = std::fs::copy(self.dir.join(format!("daemon-{n}.log")), PathBuf::from(&keep).join(name));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every instance the daemon lists (the administrator sees every
/// account's): id -> private address.
pub fn instances(d: &Daemon) -> Vec<(String, String)> {
    let v = d.call(
        "DescribeInstances",
        &[("RegionId", "cn-hangzhou"), ("PageSize", "100")],
    );
    v["Instances"]["Instance"]
        .as_array()
        .unwrap_or_else(|| panic!("no instances in {v}"))
        .iter()
        .map(|i| {
            let id = i["InstanceId"].as_str().unwrap().to_string();
            let ip = i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (id, ip)
        })
        .collect()
}

/// What the kernel holds for the router of `d` that differs from its
/// model (the instances it lists, and the health-check namespaces of VPCs
/// with load balancers, which have a port like an instance): empty when
/// they agree.
pub fn kernel_vs_model(d: &Daemon) -> Vec<String> {
    let mut model: BTreeSet<String> = instances(d).into_iter().map(|(id, _)| id).collect();
    let mut diff = Vec::new();
    let links = netns::links(&d.namespace).unwrap_or_else(|e| panic!("{e}"));
    let ports = apply::router_ports(&d.namespace).unwrap_or_else(|e| panic!("{e}"));
    let port_owners: BTreeSet<String> = ports.iter().map(|p| p.instance_id.clone()).collect();
    let health_check = format!("{}-hc-", d.namespace);
    model.extend(
        port_owners
            .iter()
            .filter(|o| o.starts_with(&health_check))
            .cloned(),
    );
    if port_owners != model || ports.len() != model.len() {
        diff.push(format!(
            "router ports {port_owners:?} (of {} ports), model {model:?}",
            ports.len()
        ));
    }
    let eni_links: Vec<&str> = links
        .iter()
        .map(|l| l.ifname.as_str())
        .filter(|n| n.starts_with(topology::PORT_PREFIX))
        .collect();
    if eni_links.len() != model.len() {
        diff.push(format!(
            "router namespace links {eni_links:?}, model {} instances",
            model.len()
        ));
    }
    let claimed: BTreeSet<String> = apply::claimed_namespaces(&d.namespace)
        .unwrap()
        .into_iter()
        .collect();
    if claimed != model {
        diff.push(format!(
            "recorded instance namespaces {claimed:?}, model {model:?}"
        ));
    }
    for c in claimed.union(&model) {
        let want = model.contains(c);
        if netns::exists(c) != want {
            diff.push(format!(
                "namespace {c} exists: {}, in the model: {want}",
                !want
            ));
        }
    }
    // Link pins: one per port (tc mode), the uplink's and the services port's.
    let pins: BTreeSet<String> = std::fs::read_dir(datapath::pin_dir(&d.namespace).join("links"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut want_pins: BTreeSet<String> = ports
        .iter()
        .map(|p| format!("{}-{}-router-tc", p.name, p.ifindex))
        .collect();
    for port in [topology::UPLINK_IFNAME, topology::SERVICES_IFNAME] {
        if let Some(up) = links.iter().find(|l| l.ifname == port) {
            want_pins.insert(format!("{}-{}-router-tc", up.ifname, up.ifindex));
        }
    }
    if pins != want_pins {
        diff.push(format!("link pins {pins:?}, want {want_pins:?}"));
    }
    // The port map: one ENI per instance (and the uplink and services port).
    let dp = datapath::Datapath::load(Some(&d.namespace)).expect("loading the pinned maps");
    let maps = dp.read().expect("reading the maps");
    let enis = maps
        .eni_by_port
        .values()
        .filter(|e| e.flags & (vpc_common::ENI_FLAG_UPLINK | vpc_common::ENI_FLAG_SERVICES) == 0)
        .count();
    if enis != model.len() {
        diff.push(format!(
            "{enis} ENIs in the port map, model {} instances",
            model.len()
        ));
    }
    diff
}

/// Waits (the kernel tears a deleted namespace's veths down a little
/// later) until the kernel matches the model, else panics with the diff.
pub fn assert_kernel_is_model(d: &Daemon, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let diff = kernel_vs_model(d);
        if diff.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the kernel is not the model:\n{}\nlog:\n{}",
            diff.join("\n"),
            d.log(d.starts())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends raw bytes to a stream and reads the HTTP answer: (status, JSON body
/// or Null).
pub fn exchange<S: std::io::Read + std::io::Write>(mut s: S, request: &[u8]) -> (u16, Value) {
    s.write_all(request).expect("sending the request");
    read_answer(s)
}

/// Reads an HTTP answer until the peer closes: (status, JSON body or Null).
pub fn read_answer<S: std::io::Read>(mut s: S) -> (u16, Value) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Raw bytes to the daemon's Unix socket.
pub fn raw_unix(d: &Daemon, request: &[u8]) -> (u16, Value) {
    let s = std::os::unix::net::UnixStream::connect(d.socket()).expect("connecting to the socket");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    exchange(s, request)
}

/// How to sign an HTTP call.
pub struct Signing<'a> {
    /// Key id.
    pub id: &'a str,
    /// Secret.
    pub secret: &'a str,
    /// Signing time.
    pub at: std::time::SystemTime,
    /// A fixed nonce (to test replays), or a random one.
    pub nonce: Option<&'a str>,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Signing {
            id: ACCESS_KEY_ID,
            secret: ACCESS_KEY_SECRET,
            at: std::time::SystemTime::now(),
            nonce: None,
        }
    }
}

/// A call over HTTP as the SDKs make it: POST /, parameters in the query,
/// empty body, ACS3-HMAC-SHA256 signature (none if `signing` is None).
pub fn http_call(
    d: &Daemon,
    action: &str,
    params: &[(&str, &str)],
    signing: Option<Signing>,
) -> (u16, Value) {
    http_call_from(d, std::net::Ipv4Addr::LOCALHOST, action, params, signing)
}

/// A TCP connection to `port` on 127.0.0.1 from the address `source`
/// (any of 127.0.0.0/8).
pub fn connect_from(source: std::net::Ipv4Addr, port: u16) -> std::io::Result<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.bind(&std::net::SocketAddr::from((source, 0)).into())?;
    s.connect(&std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(s.into())
}

/// [`http_call`] from the source address `source`.
pub fn http_call_from(
    d: &Daemon,
    source: std::net::Ipv4Addr,
    action: &str,
    params: &[(&str, &str)],
    signing: Option<Signing>,
) -> (u16, Value) {
    let req = http_request(d.port, action, params, signing);
    let s = connect_from(source, d.port).expect("connecting over HTTP");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    exchange(s, &req)
}

/// The bytes of a call over HTTP as the SDKs make it to the daemon on
/// `port` (see [`http_call`]).
fn http_request(
    port: u16,
    action: &str,
    params: &[(&str, &str)],
    signing: Option<Signing>,
) -> Vec<u8> {
    use vpc_control::api::signature::{AccessKey, canonical_query_string, sign, sign_with_nonce};
    let host = format!("127.0.0.1:{port}");
    let query = canonical_query_string(params);
    // The version of the product serving the action, as an SDK sends it.
    let version = vpc_control::service::resolve(None, action)
        .map(|a| a.product.version())
        .unwrap_or("2016-04-28");
    let base = [
        ("host", host.as_str()),
        ("x-acs-action", action),
        ("x-acs-version", version),
    ];
    let mut headers: Vec<(String, String)> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(s) = signing {
        let key = AccessKey::new(s.id, s.secret);
        headers.extend(match s.nonce {
            Some(n) => sign_with_nonce("POST", "/", params, &base, b"", &key, s.at, n),
            None => sign("POST", "/", params, &base, b"", &key, s.at),
        });
    }
    let mut req = format!("POST /?{query} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("content-length: 0\r\nconnection: close\r\n\r\n");
    req.into_bytes()
}

/// [`http_call`] to the daemon on `port` as a client sees a call that a
/// dying daemon may cut: an error when the connection is refused or reset,
/// or closed before a whole JSON answer came.
pub fn try_http_call(
    port: u16,
    action: &str,
    params: &[(&str, &str)],
    signing: Option<Signing>,
) -> std::io::Result<(u16, Value)> {
    use std::io::{Read, Write};
    let req = http_request(port, action, params, signing);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(&req)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    match (status, serde_json::from_str(body)) {
        (100..=599, Ok(v)) => Ok((status, v)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no whole answer: {text:?}"),
        )),
    }
}

/// The Python of the virtualenv holding the provider's official SDKs
/// (installed by `cargo xtask test`): `VPC_SDK_PYTHON` or the default path.
pub fn sdk_python() -> PathBuf {
    let p = std::env::var_os("VPC_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/vpc-router/sdk-venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: `cargo xtask test` installs the official SDKs (tests/sdk/requirements.txt)",
        p.display()
    );
    p
}

/// Runs tests/sdk/vpc_lab.py against the daemon's HTTP endpoint.
pub fn sdk(d: &Daemon, args: &[&str], secret: &str) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/vpc_lab.py");
    Command::new(sdk_python())
        .arg(script)
        .args(args)
        .env("VPC_ENDPOINT", format!("127.0.0.1:{}", d.port))
        .env("VPC_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("VPC_ACCESS_KEY_SECRET", secret)
        .output()
        .unwrap_or_else(|e| panic!("running the SDK harness: {e}"))
}

/// A call over HTTP signed with signature V1, as the older SDKs make it
/// (aliyun-python-sdk-core, @alicloud/pop-core): `Action`, `Version` and
/// `params` plus the signature parameters, all in the query string (GET) or
/// all in a form body (POST). `edit` changes the signed pairs before they
/// are sent (to tamper with them); the signature is computed before it.
pub fn http_call_v1(
    d: &Daemon,
    method: &str,
    action: &str,
    params: &[(&str, &str)],
    signing: Signing,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, Value) {
    use vpc_control::api::signature::{AccessKey, canonical_query_string, sign_v1};
    let mut all = vec![("Action", action), ("Version", "2016-04-28")];
    all.extend_from_slice(params);
    let nonce = signing
        .nonce
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)));
    let mut pairs = sign_v1(
        method,
        &all,
        &AccessKey::new(signing.id, signing.secret),
        signing.at,
        &nonce,
    );
    edit(&mut pairs);
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let encoded = canonical_query_string(&refs);
    let req = if method == "GET" {
        format!(
            "GET /?{encoded} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n\r\n",
            d.port
        )
    } else {
        format!(
            "{method} / HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{encoded}",
            d.port,
            encoded.len()
        )
    };
    let s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connecting over HTTP");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    exchange(s, req.as_bytes())
}

/// Runs tests/sdk/old_sdk.py (the older official Python SDKs, signature V1)
/// against the daemon's HTTP endpoint.
pub fn old_sdk(d: &Daemon, args: &[&str], secret: &str) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/old_sdk.py");
    Command::new(sdk_python())
        .arg(script)
        .args(args)
        .env("VPC_ENDPOINT", format!("127.0.0.1:{}", d.port))
        .env("VPC_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("VPC_ACCESS_KEY_SECRET", secret)
        .output()
        .unwrap_or_else(|e| panic!("running the old SDK harness: {e}"))
}

/// Where `cargo xtask setup` installs tests/sdk/node's packages:
/// `VPC_NODE_SDK` or the default path.
pub fn node_sdk_dir() -> PathBuf {
    let p = std::env::var_os("VPC_NODE_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/vpc-router/node-sdk"));
    assert!(
        p.join("node_modules/@alicloud/pop-core").exists(),
        "{} lacks @alicloud/pop-core: `cargo xtask setup` installs tests/sdk/node/package-lock.json",
        p.display()
    );
    p
}

/// Runs tests/sdk/node/pop_core.js (@alicloud/pop-core, signature V1)
/// against the daemon's HTTP endpoint.
pub fn pop_core(d: &Daemon, args: &[&str], secret: &str) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/node/pop_core.js");
    Command::new("node")
        .arg(script)
        .args(args)
        .env("VPC_NODE_SDK", node_sdk_dir())
        .env("VPC_ENDPOINT", format!("127.0.0.1:{}", d.port))
        .env("VPC_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("VPC_ACCESS_KEY_SECRET", secret)
        .output()
        .unwrap_or_else(|e| panic!("running the pop-core harness (node): {e}"))
}

impl Daemon {
    /// Runs the SDK harness `tests/sdk/<script>` with `args` against this
    /// daemon (its endpoint and the test account's keys in the
    /// environment): the JSON line it prints last. Panics if it fails.
    pub fn sdk_script(&self, script: &str, args: &[&str]) -> serde_json::Value {
        self.sdk_script_with(script, args, &[])
    }

    /// [`Daemon::sdk_script`] with more environment (other accounts' keys).
    pub fn sdk_script_with(
        &self,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> serde_json::Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk").join(script);
        let o = std::process::Command::new(sdk_python())
            .arg(path)
            .args(args)
            .env("VPC_ENDPOINT", format!("127.0.0.1:{}", self.port))
            .env("VPC_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("VPC_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
            .envs(env.iter().copied())
            .output()
            .expect("running the SDK harness");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{script} {args:?} failed ({}):\n{stdout}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{script} {args:?}: {e}: {stdout}"))
    }
}

/// Runs tests/sdk/seed_000.py with `args` (in instance namespace `netns`,
/// else here) against daemon `d`, with `env` besides the test account's
/// keys: its last JSON line. Panics if it fails.
pub fn seed_000(d: &Daemon, netns: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/seed_000.py");
    let mut c = match netns {
        Some(ns) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", ns]).arg(sdk_python());
            c
        }
        None => std::process::Command::new(sdk_python()),
    };
    let o = c
        .arg(script)
        .args(args)
        .env("VPC_ENDPOINT", format!("127.0.0.1:{}", d.port))
        .env("VPC_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("VPC_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .envs(env.iter().copied())
        .output()
        .expect("running seed_000.py");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "seed_000.py {args:?} in {netns:?} failed ({}):\n{stdout}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr),
        d.log(1)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("seed_000.py {args:?}: {e}: {stdout}"))
}
