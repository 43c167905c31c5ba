//! `vpc`: the daemon, and the command line that talks to it.
//!
//! `vpc daemon` serves the API; `vpc <Action> --<Parameter> <value>...`
//! calls one action over the daemon's Unix socket; `vpc apply|destroy -f`
//! converge a lab file through the same actions.
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use vpc_control::{
    api::signature::AccessKey,
    cli::monitor,
    client::{self, Client, ClientError},
    daemon, lab,
    service::{self, DEFAULT_REGION_ID},
    table,
};

#[derive(Parser)]
#[command(
    name = "vpc",
    version,
    about = "A cloud VPC router on one Linux host, forwarding in XDP",
    after_help = "Any other command is an API action: vpc CreateVpc --RegionId cn-hangzhou --CidrBlock 10.0.0.0/16\n(without --RegionId: --region, ~/.aliyun/config.json's profile, or ALIBABA_CLOUD_REGION_ID)"
)]
struct Cli {
    /// The daemon's Unix socket.
    #[arg(long, global = true, env = "VPC_SOCKET", default_value = client::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value = "json")]
    output: Output,
    /// RegionId of an action called without `--RegionId` (also accepted after
    /// the action). Else the current profile's `region_id` in
    /// ~/.aliyun/config.json, else ALIBABA_CLOUD_REGION_ID,
    /// ALIBABACLOUD_REGION_ID, ALICLOUD_REGION_ID, ALIBABA_CLOUD_REGION or
    /// ALICLOUD_REGION: the aliyun CLI's order.
    #[arg(long)]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: owns the router namespace, programs and maps; serves
    /// the API on HTTP and on the Unix socket.
    Daemon {
        /// HTTP listen address (requests must be signed, ACS3-HMAC-SHA256).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory of the durable state.
        #[arg(long, default_value = "/var/lib/vpc")]
        state_dir: PathBuf,
        /// Network namespace of the router's ports.
        #[arg(long, default_value = vpc_control::model::DEFAULT_ROUTER_NAMESPACE)]
        namespace: String,
        /// RegionId of resources created without one.
        #[arg(long, default_value = DEFAULT_REGION_ID)]
        region_id: String,
        /// A zone of that region, as DescribeZones lists it (repeatable;
        /// default `<region>-a` and `<region>-b`).
        #[arg(long = "zone")]
        zones: Vec<String>,
        /// An access key accepted on HTTP, `ID:SECRET[:ACCOUNT_ID]`
        /// (repeatable). The first key's account owns what the Unix socket
        /// creates.
        #[arg(long = "access-key", env = "VPC_ACCESS_KEYS", value_delimiter = ',')]
        access_keys: Vec<AccessKey>,
        /// Route tables answered through the direct /24 stage (64 MiB each;
        /// the biggest tables of 1,024+ routes hold them). Changing it on a
        /// running router needs `vpc purge` (the map is pinned).
        #[arg(long, default_value_t = vpc_control::datapath::DIRECT_SLOTS)]
        direct_route_slots: u32,
        /// The program type of the router ports: `tc` (tcx ingress; bulk
        /// TCP keeps segmentation offload, instances keep checksum
        /// offload) or `xdp` (the highest rate of small packets; every
        /// segment alone, instance checksum offload off). Switching
        /// reattaches every port at start, without a purge.
        #[arg(long = "datapath", env = "VPC_DATAPATH", default_value_t = vpc_control::datapath::Mode::Tc)]
        datapath_mode: vpc_control::datapath::Mode,
        /// Refuse parameters no action has with InvalidParameter naming
        /// them (catches a misspelt name). By default they are logged and
        /// ignored, as the cloud ignores them.
        #[arg(long, env = "VPC_STRICT_PARAMETERS")]
        strict_parameters: bool,
        /// Most tracked connections one ENI may hold (counted against the
        /// initiator's ENI; a flow from the internet against the
        /// responder's): new flows beyond it are refused, counted as
        /// conntrack_eni_quota, so no instance fills the table all share.
        /// Default: an eighth of the table.
        #[arg(long, env = "VPC_CONNTRACK_PER_ENI", default_value_t = vpc_common::ConntrackQuota::DEFAULT.per_eni,
              value_parser = clap::value_parser!(u32).range(1..))]
        conntrack_per_eni: u32,
        /// Most tracked connections the ENIs of one VPC may hold together
        /// (conntrack_vpc_quota). Default: half of the table.
        #[arg(long, env = "VPC_CONNTRACK_PER_VPC", default_value_t = vpc_common::ConntrackQuota::DEFAULT.per_vpc,
              value_parser = clap::value_parser!(u32).range(1..))]
        conntrack_per_vpc: u32,
        /// Where `/metrics` (Prometheus text, unsigned: every account's
        /// counters) is served, apart from the API; `off`: only on the Unix
        /// socket.
        #[arg(long, env = "VPC_METRICS_LISTEN", default_value = "127.0.0.1:9190", value_parser = parse_metrics_listen)]
        metrics_listen: MetricsListen,
        #[command(flatten)]
        bounds: daemon::Bounds,
        /// An account quota other than the cloud's default, `NAME=N`
        /// (repeatable): vpcs_per_region, vswitches_per_vpc,
        /// route_tables_per_vpc, route_entries_per_table,
        /// security_groups_per_region, rules_per_security_group,
        /// network_acls_per_vpc, eips_per_region (see docs/api.md).
        #[arg(long = "quota", env = "VPC_QUOTAS", value_delimiter = ',')]
        quotas: Vec<String>,
        /// Also serve the object storage service (OSS's REST API) on this
        /// address, straight (repeatable). Its own endpoints, port 80 of
        /// the internal address in the services namespace and of the public
        /// one on the lab's internet, are served whenever those exist.
        #[arg(
            long = "object-store-listen",
            env = "VPC_OBJECT_STORE_LISTEN",
            value_delimiter = ','
        )]
        object_store_listen: Vec<SocketAddr>,
    },
    /// Converge the daemon to a lab file, through the API's actions.
    Apply {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Delete a lab file's VPCs and everything in them, through the API.
    Destroy {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Check a lab file without calling the daemon.
    Validate {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Print the datapath counters (the DescribeRouterStats action).
    Stats,
    /// Stream why packets are dropped (and which new connections are
    /// accepted): time, ports, instances, ENIs, 5-tuple, reason, and the
    /// security groups or network ACL that decided. Monitoring is on while
    /// a monitor runs; each CPU writes at most --rate events per second
    /// (the rest are counted as suppressed, reported on exit).
    Monitor {
        /// Router namespace (default: the daemon's).
        #[arg(long)]
        namespace: Option<String>,
        /// Only events to or from this instance's port.
        #[arg(long, conflicts_with = "eni")]
        instance: Option<String>,
        /// Only events to or from this ENI's port.
        #[arg(long)]
        eni: Option<String>,
        /// Only these reasons, comma-separated: drop reasons as `vpc stats`
        /// names them (sg_ingress, acl_egress, no_route...) or new_connection.
        #[arg(long, value_delimiter = ',')]
        reason: Vec<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Events each CPU may write per second.
        #[arg(long, default_value_t = vpc_common::MONITOR_DEFAULT_RATE)]
        rate: u32,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Remove a stopped daemon's router: its namespace, the instances'
    /// namespaces, the pinned programs and maps; with --state-dir, its state
    /// too. Forwarding stops.
    Purge {
        /// Network namespace of the router's ports.
        #[arg(long, default_value = vpc_control::model::DEFAULT_ROUTER_NAMESPACE)]
        namespace: String,
        /// Also delete this state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// List the API actions served, by product, with their parameters
    /// (`vpc <Action> --help` shows one).
    Actions {
        /// One JSON document: {version: {action: {summary, parameters}}}.
        #[arg(long)]
        json: bool,
    },
    #[command(external_subcommand)]
    Action(Vec<String>),
}

/// The served actions as JSON: `{version: {action: {product, summary,
/// mutates, parameters, common}}}`, parameters from the request types.
fn actions_json() -> Value {
    let mut out = serde_json::Map::new();
    for a in service::ACTIONS {
        let by_version = out.entry(a.product.version()).or_insert_with(|| json!({}));
        by_version[a.name] = json!({
            "Product": a.product.code(),
            "Summary": a.summary,
            "Mutates": a.mutates,
            "Parameters": a.parameters(),
            "Refused": a.parameters().iter().filter(|p| a.refuses(p)).collect::<Vec<_>>(),
            "Common": service::common_parameters(),
        });
    }
    Value::Object(out)
}

/// `vpc <Action> --help`: the action's products, summary and parameters.
fn action_help(name: &str) -> Option<String> {
    let specs: Vec<_> = service::ACTIONS.iter().filter(|a| a.name == name).collect();
    if specs.is_empty() {
        return None;
    }
    let mut text = String::new();
    for a in specs {
        text.push_str(&format!(
            "{} ({} API {})\n  {}\n\nParameters:\n",
            a.name,
            a.product.code(),
            a.product.version(),
            a.summary
        ));
        for p in a.parameters() {
            let note = if a.refuses(p) {
                "  (not supported by this router: refused)"
            } else {
                ""
            };
            text.push_str(&format!("  --{p} <value>{note}\n"));
        }
        text.push_str("\nCommon parameters:\n");
        for p in service::common_parameters() {
            text.push_str(&format!("  --{p} <value>\n"));
        }
        text.push_str("\nLists are --Name.1 a --Name.2 b; objects in lists --Name.1.Field v.\n");
    }
    Some(text)
}

/// `--Name value` / `--Name=value` pairs after an action name. Values may
/// start with '-' (`--PortRange -1/-1`).
fn action_params(args: &[String]) -> Result<Vec<(String, String)>, ClientError> {
    let bad = |m: String| ClientError::Api {
        status: 400,
        code: "InvalidParameter".into(),
        message: m.clone(),
        body: json!({ "Code": "InvalidParameter", "Message": m }),
    };
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(name) = a.strip_prefix("--") else {
            return Err(bad(format!("expected --Parameter, found {a:?}")));
        };
        match name.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                let v = it
                    .next()
                    .ok_or_else(|| bad(format!("--{name} needs a value")))?;
                out.push((name.to_string(), v.clone()));
            }
        }
    }
    Ok(out)
}

fn print(v: &Value, output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Table => print!("{}", table::render(v)),
    }
}

fn run_client(cli: Cli) -> Result<(), (String, Value)> {
    let fail = |e: ClientError| (e.code().to_string(), e.body());
    let lab_fail = |e: lab::LabError| {
        let body = match &e {
            lab::LabError::Call { action, source } => {
                let mut b = source.body();
                if let Some(o) = b.as_object_mut() {
                    o.insert("Action".into(), Value::from(action.clone()));
                }
                b
            }
            other => json!({ "Code": other.code(), "Message": other.to_string() }),
        };
        (e.code(), body)
    };
    let client = Client::new(&cli.socket);
    match cli.command {
        Command::Daemon { .. } => unreachable!("handled in main"),
        Command::Apply { file } => {
            let l = lab::load(&file).map_err(lab_fail)?;
            let report = lab::apply(&client, &l).map_err(lab_fail)?;
            print(
                &serde_json::to_value(&report).unwrap_or_default(),
                cli.output,
            );
        }
        Command::Destroy { file } => {
            let l = lab::load(&file).map_err(lab_fail)?;
            let changes = lab::destroy(&client, &l).map_err(lab_fail)?;
            print(&json!({ "Changes": changes }), cli.output);
        }
        Command::Validate { file } => {
            let l = lab::load(&file).map_err(lab_fail)?;
            print(&lab::summary(&l), cli.output);
        }
        Command::Purge {
            namespace,
            state_dir,
        } => {
            if std::os::unix::net::UnixStream::connect(&cli.socket).is_ok() {
                let m = format!(
                    "A daemon answers on {}: stop it first.",
                    cli.socket.display()
                );
                return Err((
                    "OperationConflict".into(),
                    json!({ "Code": "OperationConflict", "Message": m }),
                ));
            }
            let model = vpc_control::model::Model {
                router: vpc_control::model::Router {
                    namespace,
                    ..Default::default()
                },
                ..Default::default()
            };
            let removed = vpc_control::apply::destroy(&model).map_err(|e| {
                (
                    e.code().to_string(),
                    json!({ "Code": e.code(), "Message": e.to_string() }),
                )
            })?;
            if let Some(dir) = &state_dir
                && let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                let m = format!("removing {}: {e}", dir.display());
                return Err((
                    "InternalError".into(),
                    json!({ "Code": "InternalError", "Message": m }),
                ));
            }
            print(&json!({ "InstancesRemoved": removed }), cli.output);
        }
        Command::Monitor {
            namespace,
            instance,
            eni,
            reason,
            json,
            count,
            rate,
            duration,
        } => {
            let opts = monitor::Options {
                namespace,
                instance,
                eni,
                reasons: reason,
                json,
                count,
                rate,
                duration: duration.map(std::time::Duration::from_secs_f64),
            };
            let (shown, totals) = monitor::run(&client, &opts, &mut std::io::stdout().lock())
                .map_err(|e| {
                    (
                        e.code(),
                        json!({ "Code": e.code(), "Message": e.to_string() }),
                    )
                })?;
            eprintln!(
                "{shown} events shown; the datapath wrote {}, suppressed {} over the rate, lost {} to a full ring",
                totals.written, totals.suppressed, totals.lost
            );
        }
        Command::Stats => {
            let v = client.call("DescribeRouterStats", &[]).map_err(fail)?;
            print(&v, cli.output);
        }
        Command::Actions { json } => {
            let all = actions_json();
            if json {
                println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            } else {
                for a in service::ACTIONS {
                    println!(
                        "{:<40} {:<4} {}  {}",
                        a.name,
                        a.product.code(),
                        a.product.version(),
                        a.summary
                    );
                }
            }
        }
        Command::Action(args) => {
            let (action, rest) = args
                .split_first()
                .ok_or_else(|| fail(ClientError::Protocol("no action".into())))?;
            if rest.iter().any(|a| a == "--help" || a == "-h") {
                let help = action_help(action).ok_or_else(|| {
                    let m =
                        format!("Specified api {action:?} is not found: `vpc actions` lists them.");
                    (
                        "InvalidAction.NotFound".to_string(),
                        json!({ "Code": "InvalidAction.NotFound", "Message": m }),
                    )
                })?;
                print!("{help}");
                return Ok(());
            }
            let mut params = action_params(rest).map_err(fail)?;
            // `--region` after the action is the flag, not a parameter.
            let mut flag = cli.region.clone();
            params.retain(|(k, v)| {
                let is_flag = k == "region";
                if is_flag {
                    flag = Some(v.clone());
                }
                !is_flag
            });
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let config = client::aliyun_config_path(home.as_deref())
                .and_then(|p| std::fs::read_to_string(p).ok());
            let env = |k: &str| std::env::var(k).ok();
            let (region, warnings) =
                client::default_region(flag.as_deref(), config.as_deref(), &env);
            for w in warnings {
                eprintln!("warning: {w}");
            }
            if let Some((r, from)) = &region {
                log::debug!("default RegionId {r} from {from:?}");
            }
            client::add_region(&mut params, region.as_ref().map(|(r, _)| r.as_str()));
            let refs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let v = client.call(action, &refs).map_err(fail)?;
            print(&v, cli.output);
        }
    }
    Ok(())
}

/// `--metrics-listen`: an address, or `off`.
#[derive(Clone, Debug)]
struct MetricsListen(Option<SocketAddr>);

fn parse_metrics_listen(s: &str) -> Result<MetricsListen, String> {
    match s.trim() {
        "off" | "none" | "" => Ok(MetricsListen(None)),
        a => a
            .parse()
            .map(|a| MetricsListen(Some(a)))
            .map_err(|e| format!("{a:?}: {e} (an address such as 127.0.0.1:9190, or off)")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Daemon {
        listen,
        state_dir,
        namespace,
        region_id,
        zones,
        access_keys,
        direct_route_slots,
        datapath_mode,
        strict_parameters,
        conntrack_per_eni,
        conntrack_per_vpc,
        metrics_listen,
        bounds,
        quotas,
        object_store_listen,
    } = cli.command
    {
        match vpc_control::service::quota::Quotas::default().with_settings(&quotas) {
            Ok(q) => {
                let _ = vpc_control::service::quota::configure(q);
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    json!({ "Code": "InvalidParameter", "Message": format!("--quota: {e}") })
                );
                return ExitCode::FAILURE;
            }
        }
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .init();
        let config = daemon::Config {
            listen,
            socket: cli.socket,
            state_dir,
            namespace,
            region_id,
            zones,
            access_keys,
            direct_route_slots,
            datapath_mode,
            strict_parameters,
            conntrack_quota: vpc_common::ConntrackQuota {
                per_eni: conntrack_per_eni,
                per_vpc: conntrack_per_vpc,
            },
            metrics_listen: metrics_listen.0,
            bounds,
            object_store_listen,
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "{}",
                    json!({ "Code": "InternalError", "Message": format!("tokio: {e}") })
                );
                return ExitCode::FAILURE;
            }
        };
        return match runtime.block_on(daemon::run(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!(
                    "{}",
                    json!({ "Code": "InternalError", "Message": e.to_string() })
                );
                ExitCode::FAILURE
            }
        };
    }
    env_logger::init();
    match run_client(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((_, body)) => {
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            ExitCode::FAILURE
        }
    }
}
