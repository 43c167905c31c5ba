//! Builds the XDP datapath (`../vpc-ebpf`, target bpfel-unknown-none) and
//! leaves the object in OUT_DIR for `include_bytes!`.
//!
//! The eBPF crate needs `-Z build-std=core`: the nightly toolchain is used when
//! it is installed, else the stable one with RUSTC_BOOTSTRAP=1 (same LLVM
//! major). Both need rust-src and `bpf-linker` on PATH; `cargo xtask setup`
//! installs them.
//!
//! `VPC_SKIP_EBPF=1` skips the eBPF build (empty objects): the pure layers
//! (model, validate, compile, api, service) then build and test on any
//! machine without bpf-linker or root; loading the datapath fails with an
//! error that says so.
use std::{env, path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

fn toolchain_works(toolchain: &str) -> bool {
    Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest_dir.join("../vpc-ebpf").canonicalize()?;
    let common_dir = manifest_dir.join("../vpc-common").canonicalize()?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", ebpf_dir.join("src").display());
    println!("cargo:rerun-if-changed={}", ebpf_dir.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", ebpf_dir.join("Cargo.lock").display());
    println!("cargo:rerun-if-changed={}", common_dir.join("src").display());

    println!("cargo:rerun-if-env-changed=VPC_SKIP_EBPF");
    if env::var_os("VPC_SKIP_EBPF").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=VPC_SKIP_EBPF is set: built without the XDP datapath (pure layers only)");
        for name in ["vpc-ebpf", "vpc-bench"] {
            std::fs::write(out_dir.join(format!("{name}.o")), b"")?;
        }
        return Ok(());
    }
    if which("bpf-linker").is_none() {
        bail!("bpf-linker is not on PATH: run `cargo xtask setup` first (or set VPC_SKIP_EBPF=1 to build only the pure layers)");
    }
    let (toolchain, bootstrap) = if toolchain_works("nightly") {
        ("nightly", false)
    } else {
        println!("cargo:warning=no nightly toolchain: building eBPF with stable + RUSTC_BOOTSTRAP=1");
        ("stable", true)
    };

    let target_dir = out_dir.join("ebpf-target");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(&ebpf_dir)
        .args(["run", toolchain, "cargo", "build", "--release", "--locked"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Cdebuginfo=2\x1f-Clink-arg=--btf");
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTUP_TOOLCHAIN",
    ] {
        cmd.env_remove(key);
    }
    if bootstrap {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("eBPF build failed: {cmd:?}: {status}");
    }
    for name in ["vpc-ebpf", "vpc-bench"] {
        let object = target_dir.join("bpfel-unknown-none/release").join(name);
        std::fs::copy(&object, out_dir.join(format!("{name}.o")))
            .with_context(|| format!("copying {}", object.display()))?;
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
