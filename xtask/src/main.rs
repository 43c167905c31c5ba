//! `cargo xtask <command>`: set-up, demo lab and tests, with everything a
//! fresh machine lacks installed on the way (idempotently).
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "VPC router helpers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing: Debian packages, rust-src, bpf-linker.
    Setup,
    /// Set up, then run every test (unit, datapath, end-to-end). Needs root.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, then run the demo lab: two vSwitches, ping and TCP through the
    /// XDP router, the counters; removed at the end unless --keep.
    Lab {
        /// Leave the lab running.
        #[arg(long)]
        keep: bool,
    },
}

/// Debian packages the tests and the lab use.
const DEBIAN_PACKAGES: &[&str] = &["iproute2", "iputils-ping", "ethtool", "iperf3", "mount"];
/// bpf-linker built against the Rust toolchain's own LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Where the LLVM_PREFIX for bpf-linker lives (its RUNPATH points here).
const LLVM_PREFIX: &str = "/opt/vpc-router/llvm-22";

/// The virtualenv of the official SDKs (tests/daemon.rs looks here).
const SDK_VENV: &str = "/opt/vpc-router/sdk-venv";

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

    if installed.is_empty() {
        println!(
            "setup: nothing to install (debian packages, rust-src, bpf-linker {BPF_LINKER_VERSION}, SDK virtualenv present)"
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

fn test(args: &[String]) -> Result<()> {
    require_root("cargo xtask test")?;
    setup()?;
    run(cargo().args(["test", "--workspace", "--exclude", "xtask", "--no-fail-fast"]).args(args))
}

fn lab(keep: bool) -> Result<()> {
    require_root("cargo xtask lab")?;
    setup()?;
    run(cargo().args(["build", "--release", "--package", "vpc-control", "--bin", "vpc"]))?;
    let root = workspace_root();
    let vpc = root.join("target/release/vpc");
    let file = root.join("vpc-control/examples/lab.toml");
    let file = file.to_str().context("path")?;
    let vpc_cmd = |args: &[&str]| {
        let mut c = Command::new(&vpc);
        c.args(args);
        c
    };
    let in_ns = |ns: &str, args: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    };
    let result = (|| -> Result<()> {
        println!("\n== vpc apply -f vpc-control/examples/lab.toml");
        run(&mut vpc_cmd(&["apply", "-f", file]))?;
        println!("\n== i-web (10.0.1.10, vsw-web) pings i-app (10.0.2.10, vsw-app) across vSwitches");
        run(&mut in_ns("i-web", &["ping", "-c", "5", "-i", "0.2", "10.0.2.10"]))?;
        println!("\n== i-app pings i-db in the same vSwitch");
        run(&mut in_ns("i-app", &["ping", "-c", "3", "-i", "0.2", "10.0.2.20"]))?;
        println!("\n== TCP: iperf3 from i-web to i-app, 3 seconds");
        run(&mut in_ns("i-app", &["iperf3", "-s", "-1", "-D", "-I", "/run/vpc-lab-iperf3.pid"]))?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        run(&mut in_ns("i-web", &["iperf3", "-c", "10.0.2.10", "-t", "3"]))?;
        println!("\n== vpc stats -f vpc-control/examples/lab.toml");
        run(&mut vpc_cmd(&["stats", "-f", file]))?;
        Ok(())
    })();
    if keep && result.is_ok() {
        println!("\nThe lab is up. Try: ip netns exec i-web ping 10.0.2.10; remove it with: {} destroy -f {file}", vpc.display());
    } else {
        println!("\n== vpc destroy -f vpc-control/examples/lab.toml");
        run(&mut vpc_cmd(&["destroy", "-f", file]))?;
    }
    result
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Setup => setup(),
        Cmd::Test { args } => test(&args),
        Cmd::Lab { keep } => lab(keep),
    }
}
