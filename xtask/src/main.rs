//! `cargo xtask <command>`: set-up, demo lab and tests, with everything a
//! fresh machine lacks installed on the way (idempotently).
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bench;

#[derive(Parser)]
#[command(about = "VPC router helpers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing: Debian packages, rust-src, bpf-linker, the
    /// official SDKs (Python virtualenv, Node.js packages).
    Setup,
    /// Set up, then run every test (unit, datapath, end-to-end). Needs root.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, then run the demo lab: a `vpc daemon`, the lab built through
    /// its API, ping, traceroute and TCP through the router, the counters; removed at
    /// the end unless --keep.
    Lab {
        /// Leave the daemon and the lab running.
        #[arg(long)]
        keep: bool,
    },
    /// Stop the demo daemon left by `lab --keep` and remove its router.
    LabDown,
    /// Set up, then run the fuzz tests (every test named `fuzz_...`: frames
    /// through the datapath against a user-space reference, requests
    /// through the API decoder and the signature check) with many more
    /// cases than `test` gives them. Needs root.
    Fuzz {
        /// Cases per fuzz test.
        #[arg(long, default_value_t = 200_000)]
        cases: u64,
        /// Seed (a failure prints the one to replay); random by default.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Set up, then run the soak (tests/soak.rs): minutes of random actions
    /// from three accounts through the signed API (valid, malformed, naming
    /// another account's ids) with pings in and across VPCs, kill -9 of the
    /// daemon at rest and mid-call, instance namespaces, router ports and
    /// eth0s deleted behind its back; ends with model, store and kernel
    /// equal, nothing acknowledged lost, counters reconciled, and prints its
    /// figures. Needs root.
    Soak {
        /// How long the random actions run, in minutes.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Seed of the random choices (printed, to replay a failure);
        /// random by default.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Benchmarks: the pipeline (our router against Linux forwarding,
    /// nftables and the kernel FIB, packets per second), ns per stage and
    /// cost curves (BPF_PROG_TEST_RUN), the control plane through the API.
    /// Writes bench/results/<date>.md and .png. Needs root.
    Bench {
        /// Tiny counts (CI): checks every bench and the rendering run,
        /// measures nothing; output in target/bench/.
        #[arg(long)]
        smoke: bool,
        /// Do not run anything: render the figures of the last run
        /// (target/bench) again.
        #[arg(long)]
        render_only: bool,
    },
}

/// Debian packages the tests and the lab use.
const DEBIAN_PACKAGES: &[&str] =
    &["iproute2", "iputils-ping", "traceroute", "ethtool", "iperf3", "mount", "nftables", "gnuplot-nox", "dnsutils", "dnsmasq-base"];
/// bpf-linker built against the Rust toolchain's own LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Where the LLVM_PREFIX for bpf-linker lives (its RUNPATH points here).
const LLVM_PREFIX: &str = "/opt/vpc-router/llvm-22";

/// The virtualenv of the official SDKs (tests/daemon.rs looks here).
const SDK_VENV: &str = "/opt/vpc-router/sdk-venv";
/// The virtualenv with ansible-core, footmark and the older SDKs
/// (tests/ansible/requirements.txt), and beside it in `alicloud/` the
/// alicloud modules (tests/ansible/modules.txt: their package ships an
/// `ansible/` package of its own, so it is installed with --target, not into
/// site-packages); reinstalled only when either file changes.
fn install_ansible_venv() -> Result<bool> {
    let venv = Path::new(ANSIBLE_VENV);
    let dir = workspace_root().join("tests/ansible");
    let (requirements, modules) = (dir.join("requirements.txt"), dir.join("modules.txt"));
    let mut want = Vec::new();
    for f in [&requirements, &modules] {
        want.extend(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    let stamp = venv.join(".requirements.txt");
    let target = venv.join("alicloud");
    let present = venv.join("bin/ansible-playbook").exists() && target.join("ansible/modules/cloud/alicloud").exists();
    if present && std::fs::read(&stamp).is_ok_and(|have| have == want) {
        return Ok(false);
    }
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    let _ = std::fs::remove_dir_all(&target);
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check", "--no-deps", "--target"])
        .arg(&target)
        .arg("-r")
        .arg(&modules))?;
    std::fs::write(&stamp, want)?;
    Ok(true)
}

/// The npm packages of tests/sdk/node (@alicloud/pop-core; tests/daemon.rs looks here).
/// The virtualenv with Ansible and the alicloud modules (tests/ansible).
const ANSIBLE_VENV: &str = "/opt/vpc-router/ansible-venv";
const NODE_SDK: &str = "/opt/vpc-router/node-sdk";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the workspace").to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn toolchain_present(tc: &str) -> bool {
    output(Command::new("rustup").args(["run", tc, "rustc", "--version"])).is_some()
}

/// The toolchain the eBPF crate builds with (same rule as vpc-control's build.rs).
fn ebpf_toolchain() -> &'static str {
    if toolchain_present("nightly") { "nightly" } else { "stable" }
}

fn setup() -> Result<()> {
    let mut installed = Vec::new();

    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.contains("install ok installed"))
        })
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        installed.push(format!("debian: {}", missing.join(" ")));
    }

    let tc = ebpf_toolchain();
    let components = output(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", tc]))
        .unwrap_or_default();
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", tc]))?;
        installed.push(format!("rust-src ({tc})"));
    }

    let linker_ok = output(Command::new("bpf-linker").arg("--version"))
        .is_some_and(|v| v.contains(BPF_LINKER_VERSION));
    if !linker_ok {
        install_bpf_linker(tc)?;
        installed.push(format!("bpf-linker {BPF_LINKER_VERSION}"));
    }

    if install_sdk_venv()? {
        installed.push("official cloud SDKs (tests/sdk/requirements.txt)".to_string());
    }

    if install_ansible_venv()? {
        installed.push("Ansible and the alicloud modules (tests/ansible/requirements.txt, modules.txt)".to_string());
    }

    if install_node_sdk()? {
        installed.push("Node.js SDK (tests/sdk/node/package-lock.json)".to_string());
    }

    if installed.is_empty() {
        println!(
            "setup: nothing to install (debian packages, rust-src, bpf-linker {BPF_LINKER_VERSION}, SDK virtualenv, Ansible virtualenv, Node.js SDK present)"
        );
    } else {
        println!("setup: installed {}", installed.join(", "));
    }
    Ok(())
}

/// The virtualenv with the provider's official Python SDKs the tests drive
/// the daemon with; reinstalled only when tests/sdk/requirements.txt changes.
fn install_sdk_venv() -> Result<bool> {
    let venv = Path::new(SDK_VENV);
    let wanted = workspace_root().join("tests/sdk/requirements.txt");
    let stamp = venv.join(".requirements.txt");
    let want = std::fs::read(&wanted).with_context(|| format!("reading {}", wanted.display()))?;
    if venv.join("bin/python").exists() && std::fs::read(&stamp).is_ok_and(|have| have == want) {
        return Ok(false);
    }
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check", "-r"])
        .arg(&wanted))?;
    std::fs::write(&stamp, want)?;
    Ok(true)
}

/// The npm packages of tests/sdk/node (the official `@alicloud/pop-core`),
/// installed with `npm ci` from its lock file into [`NODE_SDK`]; reinstalled
/// only when tests/sdk/node/package-lock.json changes. Node.js and npm come
/// from Debian when the machine has none.
fn install_node_sdk() -> Result<bool> {
    let dir = Path::new(NODE_SDK);
    let src = workspace_root().join("tests/sdk/node");
    let lock = std::fs::read(src.join("package-lock.json"))
        .with_context(|| format!("reading {}", src.join("package-lock.json").display()))?;
    let stamp = dir.join(".package-lock.json");
    let installed = dir.join("node_modules/@alicloud/pop-core/package.json").exists();
    if installed && std::fs::read(&stamp).is_ok_and(|have| have == lock) {
        return Ok(false);
    }
    if output(Command::new("npm").arg("--version")).is_none() {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(src.join(file), dir.join(file))
            .with_context(|| format!("copying {file} into {}", dir.display()))?;
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .current_dir(dir))?;
    std::fs::write(&stamp, lock)?;
    Ok(true)
}

/// bpf-linker against the toolchain's own libLLVM (LLVM 22): LLVM_PREFIX/lib
/// holds symlinks to the library in the toolchain's sysroot.
fn install_bpf_linker(tc: &str) -> Result<()> {
    let sysroot = output(Command::new("rustup").args(["run", tc, "rustc", "--print", "sysroot"]))
        .context("cannot find the toolchain's sysroot")?;
    let lib_dir = Path::new(sysroot.trim()).join("lib");
    let llvm = std::fs::read_dir(&lib_dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", lib_dir.display()))?;
    let prefix_lib = Path::new(LLVM_PREFIX).join("lib");
    std::fs::create_dir_all(&prefix_lib)?;
    for name in ["libLLVM.so", llvm.as_str()] {
        let link = prefix_lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(lib_dir.join(&llvm), &link)?;
    }
    run(Command::new("cargo")
        .args(["install", &format!("bpf-linker@{BPF_LINKER_VERSION}"), "--locked", "--force"])
        .args(["--no-default-features", "--features", "llvm-22"])
        .env("LLVM_PREFIX", LLVM_PREFIX))
}

fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} needs root (namespaces, veths, XDP, BPF maps): run it with sudo");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn fuzz(cases: u64, seed: Option<u64>) -> Result<()> {
    require_root("cargo xtask fuzz")?;
    setup()?;
    let mut c = cargo();
    c.args(["test", "--release", "--workspace", "--exclude", "xtask", "fuzz_", "--", "--nocapture"]);
    c.env("VPC_FUZZ_CASES", cases.to_string());
    if let Some(seed) = seed {
        c.env("VPC_FUZZ_SEED", seed.to_string());
    }
    run(&mut c)
}

/// The soak in the debug profile: the build `test` makes, and the daemon
/// under soak keeps its debug assertions and overflow checks.
fn soak(minutes: f64, seed: Option<u64>) -> Result<()> {
    require_root("cargo xtask soak")?;
    setup()?;
    // The soak starts the `vpc` binary beside its executable.
    run(cargo().args(["build", "--package", "vpc-control", "--bin", "vpc"]))?;
    let mut c = cargo();
    c.args(["test", "--package", "vpc-tests", "--test", "soak", "--", "--nocapture"]);
    c.env("SOAK_MINUTES", minutes.to_string());
    if let Some(seed) = seed {
        c.env("SOAK_SEED", seed.to_string());
    }
    run(&mut c)
}

fn test(args: &[String]) -> Result<()> {
    require_root("cargo xtask test")?;
    setup()?;
    // The daemon tests run the `vpc` binary beside the test executables.
    run(cargo().args(["build", "--package", "vpc-control", "--bin", "vpc"]))?;
    // The soak (`test = false`: `cargo xtask soak` runs it) is built, so that
    // it cannot rot.
    run(cargo().args(["test", "--package", "vpc-tests", "--test", "soak", "--no-run"]))?;
    run(cargo().args(["test", "--workspace", "--exclude", "xtask", "--no-fail-fast"]).args(args))?;
    if args.is_empty() {
        // The benchmarks with tiny counts, so they cannot rot.
        benchmarks(true, true)?;
    }
    Ok(())
}

fn benchmarks(smoke: bool, measure: bool) -> Result<()> {
    let root = workspace_root();
    let data = root.join("target/bench");
    if measure {
        // The control-plane bench starts the `vpc` daemon beside its executable.
        run(cargo().args(["build", "--release", "--package", "vpc-control", "--bin", "vpc"]))?;
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
    }
    for name in bench::BENCHES.iter().filter(|_| measure) {
        if !root.join(format!("tests/bench_{name}.rs")).exists() {
            continue;
        }
        let mut c = cargo();
        c.args(["bench", "--package", "vpc-tests", "--bench", name]).env("VPC_BENCH_DIR", &data);
        if smoke {
            c.args(["--", "--smoke"]);
        }
        run(&mut c)?;
    }
    let command = if smoke { "cargo xtask bench --smoke" } else { "cargo xtask bench" };
    let (out, stem) = if smoke {
        (data.clone(), "smoke".to_string())
    } else {
        (root.join("bench/results"), output(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default().trim().to_string())
    };
    let md = bench::render(&root, &data, &out, &stem, command)?;
    println!("\n{}", std::fs::read_to_string(&md)?);
    println!("written: {} and {}", md.display(), md.with_extension("png").display());
    Ok(())
}

/// Where the demo lab's daemon keeps its socket, state and log.
const LAB_DIR: &str = "/run/vpc-lab";
/// The demo daemon's HTTP endpoint.
const LAB_LISTEN: &str = "127.0.0.1:8080";
/// The demo daemon's metrics endpoint (an operator's, apart from the API).
const LAB_METRICS: &str = "127.0.0.1:9190";

/// What web does with the object storage in the demo lab (oss2, signature
/// V1, the lab's access key as argv[1] and argv[2]).
const LAB_OSS_SCRIPT: &str = r#"
import sys
import oss2
bucket = oss2.Bucket(oss2.Auth(sys.argv[1], sys.argv[2]), "http://oss-cn-hangzhou-internal.aliyuncs.com",
                     "lab-bucket", region="cn-hangzhou", is_path_style=True)
bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE)
put = bucket.put_object("hello.txt", b"hello from web, through the gateway endpoint\n")
print("PutBucket lab-bucket, PutObject hello.txt:", put.status, "ETag", put.etag, "CRC-64", put.crc)
print("GetObject hello.txt:", bucket.get_object("hello.txt").read().decode().strip())
print("ListObjects:", [o.key for o in bucket.list_objects().object_list])
bucket.delete_object("hello.txt")
bucket.delete_bucket()
print("DeleteObject, DeleteBucket: done")
"#;

fn lab(keep: bool) -> Result<()> {
    require_root("cargo xtask lab")?;
    setup()?;
    run(cargo().args(["build", "--release", "--package", "vpc-control", "--bin", "vpc"]))?;
    let root = workspace_root();
    let vpc = root.join("target/release/vpc");
    let dir = Path::new(LAB_DIR);
    let socket = dir.join("vpc.sock");
    let file = root.join("vpc-control/examples/lab.toml");
    let file = file.to_str().context("path")?;
    let vpc_cmd = |args: &[&str]| {
        let mut c = Command::new(&vpc);
        c.arg("--socket").arg(&socket).args(args);
        c
    };
    let in_ns = |ns: &str, args: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    };
    let answers = || output(&mut vpc_cmd(&["DescribeVpcs", "--RegionId", "cn-hangzhou"])).is_some();

    std::fs::create_dir_all(dir)?;
    let mut secret = [0u8; 12];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut secret)?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("LTAIlab:{secret}:1000000000000001");
    let mut daemon = None;
    if !answers() {
        println!("\n== vpc daemon (namespace vpc-router, API on {LAB_LISTEN} and {})", socket.display());
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        daemon = Some(
            vpc_cmd(&["daemon", "--listen", LAB_LISTEN, "--metrics-listen", LAB_METRICS, "--access-key", &key])
                .arg("--state-dir")
                .arg(dir.join("state"))
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?,
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !answers() {
            if std::time::Instant::now() > deadline {
                bail!("the daemon did not come up; see {}/daemon.log", dir.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let result = (|| -> Result<()> {
        println!("\n== vpc apply -f vpc-control/examples/lab.toml  (CreateVpc, CreateVSwitch, RunInstances through the API)");
        let report = output(&mut vpc_cmd(&["apply", "-f", file])).context("vpc apply failed")?;
        println!("{report}");
        let ids: serde_json::Value = serde_json::from_str(&report)?;
        let id = |name: &str| ids["Instances"][name].as_str().map(str::to_string).context("instance id");
        let (web, app) = (id("web")?, id("app")?);
        println!("\n== vpc -o table DescribeInstances --RegionId cn-hangzhou");
        run(&mut vpc_cmd(&["-o", "table", "DescribeInstances", "--RegionId", "cn-hangzhou"]))?;
        println!("\n== web (10.0.1.10, vSwitch web) pings app (10.0.2.10, vSwitch app) across vSwitches");
        run(&mut in_ns(&web, &["ping", "-c", "5", "-i", "0.2", "10.0.2.10"]))?;
        println!("\n== traceroute from web to app: the router is one hop (ICMP time exceeded from web's vSwitch gateway)");
        run(&mut in_ns(&web, &["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", "10.0.2.10"]))?;
        println!("\n== app pings db (10.0.2.20) in the same vSwitch");
        run(&mut in_ns(&app, &["ping", "-c", "3", "-i", "0.2", "10.0.2.20"]))?;
        println!("\n== TCP: iperf3 from web to app, 3 seconds");
        run(&mut in_ns(&app, &["iperf3", "-s", "-1", "-D", "-I", "/run/vpc-lab-iperf3.pid"]))?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        run(&mut in_ns(&web, &["iperf3", "-c", "10.0.2.10", "-t", "3"]))?;
        println!("\n== The internet: an EIP for web (AllocateEipAddress, AssociateEipAddress), 1:1 NAT in the datapath");
        let eip: serde_json::Value =
            serde_json::from_str(&output(&mut vpc_cmd(&["AllocateEipAddress", "--RegionId", "cn-hangzhou"])).context("AllocateEipAddress failed")?)?;
        let (allocation, address) = (
            eip["AllocationId"].as_str().context("AllocationId")?.to_string(),
            eip["EipAddress"].as_str().context("EipAddress")?.to_string(),
        );
        run(&mut vpc_cmd(&["AssociateEipAddress", "--AllocationId", &allocation, "--InstanceId", &web]))?;
        println!("\n== web pings the internet host 198.51.100.10 (source translated to {address})");
        run(&mut in_ns(&web, &["ping", "-c", "3", "-i", "0.2", "198.51.100.10"]))?;
        println!("\n== the internet (namespace vpc-router-internet) pings web's EIP {address}");
        run(&mut in_ns("vpc-router-internet", &["ping", "-c", "3", "-i", "0.2", &address]))?;
        run(&mut vpc_cmd(&["UnassociateEipAddress", "--AllocationId", &allocation]))?;
        run(&mut vpc_cmd(&["ReleaseEipAddress", "--AllocationId", &allocation]))?;
        println!(
            "\n== Object storage without the internet: a gateway endpoint for the lab VPC\n   \
             (CreateVpcGatewayEndpoint, AssociateRouteTablesWithVpcGatewayEndpoint: its route table routes the\n   \
             object storage's system prefix list to the endpoint)"
        );
        let vpcs: serde_json::Value =
            serde_json::from_str(&output(&mut vpc_cmd(&["DescribeVpcs", "--RegionId", "cn-hangzhou"])).context("DescribeVpcs failed")?)?;
        let lab_vpc = &vpcs["Vpcs"]["Vpc"][0];
        let (vpc_id, table) = (
            lab_vpc["VpcId"].as_str().context("VpcId")?.to_string(),
            lab_vpc["RouterTableIds"]["RouterTableIds"][0].as_str().context("RouterTableIds")?.to_string(),
        );
        let endpoint: serde_json::Value = serde_json::from_str(
            &output(&mut vpc_cmd(&[
                "CreateVpcGatewayEndpoint", "--RegionId", "cn-hangzhou", "--VpcId", &vpc_id,
                "--ServiceName", "com.aliyun.cn-hangzhou.oss", "--EndpointName", "lab-oss",
            ]))
            .context("CreateVpcGatewayEndpoint failed")?,
        )?;
        let endpoint = endpoint["EndpointId"].as_str().context("EndpointId")?.to_string();
        run(&mut vpc_cmd(&[
            "AssociateRouteTablesWithVpcGatewayEndpoint", "--RegionId", "cn-hangzhou", "--EndpointId", &endpoint,
            "--RouteTableIds.1", &table,
        ]))?;
        run(&mut vpc_cmd(&["-o", "table", "DescribeRouteEntryList", "--RegionId", "cn-hangzhou", "--RouteTableId", &table]))?;
        println!(
            "\n== web talks to oss-cn-hangzhou-internal.aliyuncs.com with the official OSS SDK (oss2, unmodified):\n   \
             through the endpoint, its source translated to the endpoint's address"
        );
        let mut key_parts = key.split(':');
        let (key_id, key_secret) = (key_parts.next().unwrap_or_default(), key_parts.next().unwrap_or_default());
        let python = format!("{SDK_VENV}/bin/python");
        let talked = run(&mut in_ns(&web, &[&python, "-c", LAB_OSS_SCRIPT, key_id, key_secret]));
        // The endpoint goes whatever the talk gave (a VPC with one cannot be deleted).
        run(&mut vpc_cmd(&[
            "DissociateRouteTablesFromVpcGatewayEndpoint", "--RegionId", "cn-hangzhou", "--EndpointId", &endpoint,
            "--RouteTableIds.1", &table,
        ]))?;
        run(&mut vpc_cmd(&["DeleteVpcGatewayEndpoint", "--RegionId", "cn-hangzhou", "--EndpointId", &endpoint]))?;
        talked?;
        println!("\n== vpc -o table stats  (DescribeRouterStats: per-port counters)");
        run(&mut vpc_cmd(&["-o", "table", "stats"]))?;
        println!("\n== GET http://{LAB_METRICS}/metrics (forwarded and dropped)");
        let metrics = http_get(LAB_METRICS, "/metrics")?;
        for l in metrics.lines().filter(|l| l.starts_with("vpc_forwarded") || l.starts_with("vpc_arp") || l.starts_with("vpc_to_internet") || l.starts_with("vpc_from_internet") || (l.starts_with("vpc_dropped") && !l.ends_with(" 0"))) {
            println!("{l}");
        }
        Ok(())
    })();
    if keep && result.is_ok() {
        println!(
            "\nThe lab is up. Try: {} --socket {} -o table DescribeVSwitches --RegionId cn-hangzhou\n\
             Signed HTTP API on {LAB_LISTEN}, access key {key}\n\
             Remove it with: cargo xtask lab-down",
            vpc.display(),
            socket.display()
        );
        return Ok(());
    }
    println!("\n== vpc destroy -f vpc-control/examples/lab.toml");
    run(&mut vpc_cmd(&["destroy", "-f", file]))?;
    lab_down(daemon)?;
    result
}

/// Stops the demo daemon (SIGTERM; the one given, or the one answering on
/// the lab socket) and purges its router and state.
fn lab_down(daemon: Option<std::process::Child>) -> Result<()> {
    let dir = Path::new(LAB_DIR);
    let socket = dir.join("vpc.sock");
    let pids: Vec<u32> = match daemon {
        Some(c) => vec![c.id()],
        None => output(Command::new("pgrep").args(["-f", &format!("vpc --socket {} daemon", socket.display())]))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
    };
    for pid in pids {
        // SAFETY: kill(2) with a pid we started or found by its command line;
        // no memory is involved.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_ok() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let vpc = workspace_root().join("target/release/vpc");
    run(Command::new(vpc).arg("--socket").arg(&socket).args(["purge", "--state-dir"]).arg(dir.join("state")))?;
    Ok(())
}

/// A plain HTTP GET on localhost.
fn http_get(addr: &str, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Setup => setup(),
        Cmd::Test { args } => test(&args),
        Cmd::Lab { keep } => lab(keep),
        Cmd::Bench { smoke, render_only } => {
            require_root("cargo xtask bench")?;
            setup()?;
            benchmarks(smoke, !render_only)
        }
        Cmd::LabDown => {
            require_root("cargo xtask lab-down")?;
            lab_down(None)
        }
        Cmd::Fuzz { cases, seed } => fuzz(cases, seed),
        Cmd::Soak { minutes, seed } => soak(minutes, seed),
    }
}
