//! Figures the benchmarks record for `cargo xtask bench` to render.
//!
//! Each bench binary appends one JSON object per figure to
//! `$VPC_BENCH_DIR/<bench>.jsonl` (default `target/bench`); xtask turns them
//! into the markdown table in `bench/results/` and the chart. A figure holds
//! every round's value, so the table can show min/median/max.
use std::{io::Write, path::PathBuf};

use serde_json::json;

/// The file a bench binary writes its figures to (truncated on open).
pub struct Report {
    path: PathBuf,
}

/// Minimum, median and maximum of `v` (NaN if empty).
pub fn min_median_max(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (s[0], median, s[n - 1])
}

/// True if section `name` of a bench is to run: always, unless
/// `VPC_BENCH_ONLY` lists sections (comma-separated, e.g.
/// `VPC_BENCH_ONLY=flow-cache,stages`) and not this one. For measuring one
/// change quickly; `cargo xtask bench` runs every section.
pub fn wanted(name: &str) -> bool {
    match std::env::var("VPC_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => only.split(',').any(|s| s.trim() == name),
        _ => true,
    }
}

/// Median of `v`.
pub fn median(v: &[f64]) -> f64 {
    min_median_max(v).1
}

impl Report {
    /// Starts the figures of bench `name`.
    pub fn new(name: &str) -> Self {
        let dir = std::env::var_os("VPC_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench")
        });
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        Report { path }
    }

    fn append(&self, v: serde_json::Value) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.path.display()));
        writeln!(f, "{v}").unwrap_or_else(|e| panic!("writing {}: {e}", self.path.display()));
    }

    /// A figure of table `group`: one value per round. `note` marks it
    /// (e.g. "loss: 12 frames").
    pub fn figure(&self, group: &str, name: &str, unit: &str, values: &[f64], note: &str) {
        let (min, med, max) = min_median_max(values);
        println!("{group:<12} {name:<52} {min:>10.2} {med:>10.2} {max:>10.2} {unit} {note}");
        self.append(json!({"group": group, "name": name, "unit": unit, "values": values, "note": note}));
    }

    /// A point of cost curve `curve` (x: routes or rules), series `series`.
    pub fn point(&self, curve: &str, series: &str, x: f64, unit: &str, values: &[f64]) {
        let (min, med, max) = min_median_max(values);
        println!("{curve:<12} {series:<40} x={x:<10} {min:>10.1} {med:>10.1} {max:>10.1} {unit}");
        self.append(json!({"curve": curve, "series": series, "x": x, "unit": unit, "values": values}));
    }
}

/// A small deterministic generator (xorshift64) for bench inputs.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `entries` plus `prefixes` in the route table that holds the route to
/// 100.64.0.0 (the benches' model), with that route's next hop.
pub fn with_routes_like_100_64(
    entries: &vpc_control::compile::MapEntries,
    prefixes: &[(ipnet::Ipv4Net, std::net::Ipv4Addr)],
) -> vpc_control::compile::MapEntries {
    let (table, next_hop) = entries
        .routes
        .iter()
        .find(|(k, _)| k.1.addr == [100, 64, 0, 0])
        .map(|(k, v)| (k.1.route_table_id, *v))
        .expect("the model has a route to 100.64.0.0/10");
    let mut out = entries.clone();
    for (net, _) in prefixes {
        out.routes.insert(vpc_control::compile::route_key(table, net), next_hop);
    }
    out
}

/// `n` distinct IPv4 prefixes shaped like an internet routing table (60%
/// /24, the rest /16 to /23), outside 0/8, 10/8, 127/8, 169/8, 192/8 and
/// 224/3, with one address inside each (the destination a bench sends to).
pub fn internet_prefixes(n: usize, seed: u64) -> Vec<(ipnet::Ipv4Net, std::net::Ipv4Addr)> {
    const LENGTHS: [u8; 25] = [
        24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 23, 23, 22, 22, 22, 21, 20, 19, 18, 16,
    ];
    let mut rng = XorShift(seed | 1);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next();
        let addr = (r >> 32) as u32;
        let first = addr >> 24;
        if matches!(first, 0 | 10 | 127 | 169 | 192) || first >= 224 {
            continue;
        }
        let len = LENGTHS[(r as usize & 0xffff) % LENGTHS.len()];
        let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(addr), len).expect("length <= 32").trunc();
        if seen.insert(net) {
            let host = u32::from(net.network()) | ((r >> 16) as u32 & !u32::MAX.checked_shl(32 - len as u32).unwrap_or(0));
            out.push((net, std::net::Ipv4Addr::from(host)));
        }
    }
    out
}

use vpc_control::model::{Direction, IpProtocol, NetworkAclEntry, Peer, RulePolicy, SecurityGroupRule, SecurityGroupRules};

/// A random filter rule of the benches: a remote prefix inside 172.16/12
/// or 10.128/9 (never the benches' own 10.0/16, so it cannot decide their
/// flows), a protocol, a port or range, a verdict, a priority.
struct RandomRule {
    cidr: ipnet::Ipv4Net,
    protocol: IpProtocol,
    ports: (u16, u16),
    policy: RulePolicy,
    priority: u8,
}

fn random_rules(n: usize, seed: u64) -> Vec<RandomRule> {
    let mut rng = XorShift(seed | 1);
    (0..n)
        .map(|k| {
            let r = rng.next();
            let (base, min_len) = if r & 1 == 0 { (0xac10_0000u32, 12u8) } else { (0x0a80_0000, 9) };
            let len = [12u8, 16, 20, 24, 24, 28, 32, 32, 32][(r >> 1) as usize % 9].max(min_len);
            let addr = std::net::Ipv4Addr::from(base | ((r >> 8) as u32 & 0x000f_ffff));
            let port = [22u16, 80, 443, 3306, 5432, 6379, 8080, 9000][(r >> 40) as usize % 8] + (k as u16 % 50);
            let protocol = match r >> 53 & 7 {
                0 => IpProtocol::Udp,
                1 => IpProtocol::Icmp,
                _ => IpProtocol::Tcp,
            };
            let ports = match protocol {
                IpProtocol::Icmp | IpProtocol::All => (1, 65535),
                _ if r >> 50 & 3 == 0 => (port, port + 100),
                _ => (port, port),
            };
            RandomRule {
                cidr: ipnet::Ipv4Net::new(addr, len).expect("length <= 32").trunc(),
                protocol,
                ports,
                policy: if r >> 56 & 7 == 0 { RulePolicy::Drop } else { RulePolicy::Accept },
                priority: 1 + (r >> 57) as u8 % 100,
            }
        })
        .collect()
}

/// `n` inbound security-group rules: `n - 1` random ones (see
/// [`RandomRule`]) and, if `allow` is given, a last one accepting
/// {source prefix, udp port} at the lowest priority (100).
pub fn sg_rules(n: usize, allow: Option<(ipnet::Ipv4Net, u16)>) -> SecurityGroupRules {
    sg_rules_allowing(n, allow.map(|(cidr, port)| (cidr, IpProtocol::Udp, port)))
}

/// [`sg_rules`] with the protocol of the last rule given: it accepts
/// {source prefix, protocol, port}.
pub fn sg_rules_allowing(n: usize, allow: Option<(ipnet::Ipv4Net, IpProtocol, u16)>) -> SecurityGroupRules {
    let random = n.saturating_sub(usize::from(allow.is_some()));
    let mut out: Vec<SecurityGroupRule> = random_rules(random, 0x2545_f491_4f6c_dd1d)
        .into_iter()
        .enumerate()
        .map(|(k, r)| SecurityGroupRule {
            id: format!("sgr-{k}"),
            direction: Direction::Ingress,
            ip_protocol: r.protocol,
            port_range: r.ports,
            peer: Peer::Cidr(r.cidr),
            policy: r.policy,
            priority: r.priority,
            description: String::new(),
            creation_time: String::new(),
        })
        .collect();
    if let Some((cidr, protocol, port)) = allow {
        out.push(SecurityGroupRule {
            id: "sgr-bench-flow".into(),
            direction: Direction::Ingress,
            ip_protocol: protocol,
            port_range: (port, port),
            peer: Peer::Cidr(cidr),
            policy: RulePolicy::Accept,
            priority: 100,
            description: String::new(),
            creation_time: String::new(),
        });
    }
    out.into()
}

/// `n` network-ACL entries (first match wins): `n - 1` random ones and a
/// last one accepting {source prefix, udp port}.
pub fn acl_entries(n: usize, allow: (ipnet::Ipv4Net, u16)) -> Vec<NetworkAclEntry> {
    acl_entries_allowing(n, (allow.0, IpProtocol::Udp, allow.1))
}

/// [`acl_entries`] with the protocol of the last entry given: it accepts
/// {source prefix, protocol, port}.
pub fn acl_entries_allowing(n: usize, allow: (ipnet::Ipv4Net, IpProtocol, u16)) -> Vec<NetworkAclEntry> {
    let mut out: Vec<NetworkAclEntry> = random_rules(n.saturating_sub(1), 0x9e37_79b9_7f4a_7c15)
        .into_iter()
        .enumerate()
        .map(|(k, r)| NetworkAclEntry {
            id: format!("nae-{k}"),
            name: String::new(),
            policy: r.policy,
            protocol: r.protocol,
            cidr: r.cidr,
            port_range: r.ports,
            description: String::new(),
        })
        .collect();
    out.push(NetworkAclEntry {
        id: "nae-bench-flow".into(),
        name: String::new(),
        policy: RulePolicy::Accept,
        protocol: allow.1,
        cidr: allow.0,
        port_range: (allow.2, allow.2),
        description: String::new(),
    });
    out
}

/// The nftables match of a rule: source prefix, protocol, destination ports.
fn nft_match(cidr: &ipnet::Ipv4Net, protocol: IpProtocol, ports: (u16, u16)) -> String {
    let range = if ports.0 == ports.1 { ports.0.to_string() } else { format!("{}-{}", ports.0, ports.1) };
    match protocol {
        IpProtocol::Tcp => format!("ip saddr {cidr} tcp dport {range}"),
        IpProtocol::Udp => format!("ip saddr {cidr} udp dport {range}"),
        IpProtocol::Icmp => format!("ip saddr {cidr} ip protocol icmp"),
        IpProtocol::All => format!("ip saddr {cidr}"),
    }
}

/// The Linux equivalent of an inbound network ACL on the port towards
/// `oif` and a security group on the instance behind it: a ruleset for
/// `nft -f`, linear rules in the same order and with the same verdicts
/// (ACL: first match, stateless, every packet; SG: conntrack, then the
/// rules by priority with drop first, default drop).
pub fn nftables_ruleset(table: &str, oif: &str, acl: &[NetworkAclEntry], sg: &[SecurityGroupRule]) -> String {
    let mut s = format!("table ip {table} {{\n  chain acl_ingress {{\n");
    for e in acl {
        let verdict = if e.policy == RulePolicy::Accept { "return" } else { "drop" };
        s += &format!("    {} {verdict}\n", nft_match(&e.cidr, e.protocol, e.port_range));
    }
    s += "  }\n  chain sg_ingress {\n";
    let mut rules: Vec<&SecurityGroupRule> = sg.iter().collect();
    rules.sort_by_key(|r| (r.priority, r.policy != RulePolicy::Drop));
    for r in rules {
        let Peer::Cidr(cidr) = &r.peer else { continue };
        let verdict = if r.policy == RulePolicy::Accept { "accept" } else { "drop" };
        s += &format!("    {} {verdict}\n", nft_match(cidr, r.ip_protocol, r.port_range));
    }
    s += "    drop\n  }\n";
    s += &format!(
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    oifname \"{oif}\" jump acl_ingress\n    ct state established,related accept\n    oifname \"{oif}\" jump sg_ingress\n  }}\n}}\n"
    );
    s
}

/// Loads `ruleset` (for `nft -f`) into namespace `ns` after flushing its
/// ruleset; `None` only flushes.
pub fn nftables(ns: &str, ruleset: Option<&str>) {
    let _ = vpc_control::netns::exec(ns, "nft", &["flush", "ruleset"]);
    if let Some(r) = ruleset {
        let file = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&file, r).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        let out = vpc_control::netns::exec(ns, "nft", &["-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        out.unwrap_or_else(|e| panic!("nft -f: {e}"));
    }
}

/// `a[i] / b[i]` for each round both have.
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}


/// Model text (appended to a bench's model of VPC `vpc-a`): a load
/// balancer `nlb-bench` at `vip` in its own vSwitch 10.0.3.0/24, one
/// listener `lsn-bench` of `protocol` ("TCP" or "UDP") on `port`, over a
/// server group of `servers` ((server type, server id, address, port)).
pub fn load_balancer_toml(vip: std::net::Ipv4Addr, protocol: &str, port: u16, servers: &[(&str, &str, std::net::Ipv4Addr, u16)]) -> String {
    let mut t = format!(
        r#"
[[vswitch]]
id = "vsw-lb"
vpc_id = "vpc-a"
cidr_block = "10.0.3.0/24"
zone_id = "zone-a"
[[load_balancer]]
id = "nlb-bench"
vpc_id = "vpc-a"
[[load_balancer.zone_mapping]]
zone_id = "zone-a"
vswitch_id = "vsw-lb"
private_ipv4 = "{vip}"
[[listener]]
id = "lsn-bench"
load_balancer_id = "nlb-bench"
protocol = "{protocol}"
port = {port}
server_group_id = "sgp-bench"
[[server_group]]
id = "sgp-bench"
vpc_id = "vpc-a"
protocol = "{protocol}"
"#
    );
    for (kind, id, addr, port) in servers {
        t += &format!("[[server_group.server]]\nserver_id = \"{id}\"\nserver_type = \"{kind}\"\nserver_ip = \"{addr}\"\nport = {port}\n");
    }
    t
}
