//! `vpc`: the command line of the VPC router.
use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use vpc_control::{apply, lab, model::Model, stats, validate};

#[derive(Parser)]
#[command(name = "vpc", version, about = "A cloud VPC router on one Linux host, forwarding in XDP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Converge namespaces, veths, maps and XDP programs to a lab file.
    Apply {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Remove everything `apply` made for a lab file.
    Destroy {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Check a lab file without touching the kernel.
    Validate {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Print the datapath counters.
    Stats {
        /// Lab file naming the router namespace.
        #[arg(short, long, conflicts_with = "router_namespace")]
        file: Option<PathBuf>,
        /// Router namespace (default: vpc-router).
        #[arg(long)]
        router_namespace: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
}

/// A failure as the cloud reports it.
struct Failure {
    code: &'static str,
    message: String,
}

impl<E: std::fmt::Display> From<(&'static str, E)> for Failure {
    fn from((code, e): (&'static str, E)) -> Self {
        Failure { code, message: e.to_string() }
    }
}

fn load(file: &std::path::Path) -> Result<Model, Failure> {
    lab::load(file).map_err(|e| Failure::from((e.code(), e)))
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Apply { file } => {
            let model = load(&file)?;
            let r = apply::apply(model).map_err(|e| Failure::from((e.code(), e)))?;
            println!(
                "{}",
                json!({
                    "PortsCreated": r.ports_created,
                    "PortsRemoved": r.ports_removed,
                    "MapUpserts": r.writes.upserts,
                    "MapRemovals": r.writes.removals,
                })
            );
        }
        Command::Destroy { file } => {
            let model = load(&file)?;
            let n = apply::destroy(&model).map_err(|e| Failure::from((e.code(), e)))?;
            println!("{}", json!({ "InstancesRemoved": n }));
        }
        Command::Validate { file } => {
            let model = load(&file)?.with_system_route_tables();
            validate::validate(&model).map_err(|e| Failure::from((e.code(), e)))?;
            println!("{}", json!({ "Valid": true }));
        }
        Command::Stats { file, router_namespace, output } => {
            let ns = match (file, router_namespace) {
                (Some(f), _) => load(&f)?.router.namespace,
                (None, Some(ns)) => ns,
                (None, None) => Model::default().router.namespace,
            };
            let s = stats::read(&ns).map_err(|e| Failure::from((e.code(), e)))?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default()),
                Output::Table => print!("{}", s.table()),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", json!({ "Code": f.code, "Message": f.message }));
            ExitCode::FAILURE
        }
    }
}
