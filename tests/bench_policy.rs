//! `cargo xtask bench` (part): ns/packet of the router program through
//! BPF_PROG_TEST_RUN with 10, 1,000 and 10,000 security-group rules on the
//! destination ENI, against an XDP_PASS program loaded in the same run.
//! The packet is a TCP SYN the rules refuse, so every repeat runs the whole
//! rule lookup (a refused SYN creates no connection entry). Not a test:
//! figures are printed, with the ratio 10,000 / 10 the design promises to
//! keep under 1.3.
use std::{net::Ipv4Addr, time::Duration};

use aya::programs::{TestRun, TestRunOptions};
use vpc_control::{
    model::{Direction, IpProtocol, Peer, RulePolicy, SecurityGroupRule},
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{DatapathFixture, l4_frame, tcp_flags::SYN};

const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
[[instance]]
id = "i-probe"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.30"
source_dest_check = false
[[instance]]
id = "i-server"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-bench"]
[[security_group]]
id = "sg-bench"
vpc_id = "vpc-a"
inner_access = false
"#;

/// `n` rules: CIDRs from /8 to /32 across 10/8 and 172.16/12, single
/// ports and ranges, some drops, priorities 1..=100 (deterministic).
fn rules(n: usize) -> Vec<SecurityGroupRule> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|k| {
            let r = next();
            let base: u32 = if r & 1 == 0 { 0x0a00_0000 } else { 0xac10_0000 };
            let len = [8u8, 12, 16, 20, 24, 24, 28, 32, 32, 32][(r >> 1) as usize % 10];
            let addr = Ipv4Addr::from(base | ((r >> 8) as u32 & 0x000f_ffff));
            let port = [22u16, 80, 443, 3306, 5432, 6379, 8080, 9000][(r >> 40) as usize % 8] + (k as u16 % 50);
            let range = if r >> 50 & 3 == 0 { (port, port + 100) } else { (port, port) };
            SecurityGroupRule {
                id: format!("sgr-{k}"),
                direction: Direction::Ingress,
                ip_protocol: if r >> 53 & 7 == 0 { IpProtocol::Udp } else { IpProtocol::Tcp },
                port_range: range,
                peer: Peer::Cidr(ipnet::Ipv4Net::new(addr, len).unwrap().trunc()),
                policy: if r >> 56 & 7 == 0 { RulePolicy::Drop } else { RulePolicy::Accept },
                priority: 1 + (r >> 57) as u8 % 100,
                description: String::new(),
                creation_time: String::new(),
            }
        })
        .collect()
}

fn ns_per_packet(result: Duration, repeat: u32) -> f64 {
    result.as_nanos() as f64 / repeat as f64
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let (repeat, rounds) = if smoke { (1_000, 1) } else { (200_000, 5) };
    let counts = [10usize, 1_000, 10_000];
    let mut fx = DatapathFixture::new(MODEL);
    // Refused by every rule set (port 1 is in no rule): a full lookup per repeat.
    let frames: Vec<Vec<u8>> = ["10.1.2.3", "172.16.5.6", "10.200.7.8", "192.0.2.1"]
        .iter()
        .map(|src| {
            let mac = eni_mac(&vpc_control::model::eni_id_of("i-probe"));
            l4_frame(ROUTER_MAC, mac, src.parse().unwrap(), "10.0.1.10".parse().unwrap(), 6, 40000, 1, SYN)
        })
        .collect();
    let ifindex = fx.port(&vpc_control::model::eni_id_of("i-probe"));
    let mut ctx = [0u8; 24];
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    let mut results: Vec<(usize, usize, Vec<f64>)> = counts.iter().map(|n| (*n, 0, Vec::new())).collect();
    let mut baseline = Vec::new();

    for _ in 0..rounds {
        for row in results.iter_mut() {
            let mut m = fx.model.clone();
            m.security_groups[0].rules = rules(row.0);
            fx.reapply(m);
            row.1 = fx.dp.read().map(|e| e.policy_addresses.len() + e.policy_ports.len()).unwrap_or(0);
            let mut total = 0.0;
            for f in &frames {
                ctx[4..8].copy_from_slice(&(f.len() as u32).to_ne_bytes());
                let prog = fx.dp.router_program().unwrap();
                let mut opts = TestRunOptions::new();
                opts.data_in = Some(f);
                opts.ctx_in = Some(&ctx);
                opts.repeat = repeat;
                let r = prog.test_run(opts).unwrap_or_else(|e| panic!("test run: {e}"));
                assert_eq!(r.return_value, 1, "the bench packet must be dropped by the rules");
                total += ns_per_packet(r.duration, 1);
            }
            row.2.push(total / frames.len() as f64);
        }
        let pass = fx.dp.instance_program().unwrap();
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(&frames[0]);
        opts.repeat = repeat;
        let r = pass.test_run(opts).unwrap_or_else(|e| panic!("test run: {e}"));
        baseline.push(ns_per_packet(r.duration, 1));
    }
    let stats = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() / 2], s[s.len() - 1])
    };
    let (bmin, bmed, bmax) = stats(&baseline);
    println!("security-group rule lookup, BPF_PROG_TEST_RUN, repeat {repeat}, {rounds} rounds (ns/packet min/median/max)");
    println!("{:<28} {:>10} {:>10} {:>10} {:>10}", "program", "entries", "min", "median", "max");
    println!("{:<28} {:>10} {:>10.1} {:>10.1} {:>10.1}", "XDP_PASS (baseline)", "-", bmin, bmed, bmax);
    for (n, entries, v) in &results {
        let (a, b, c) = stats(v);
        println!("{:<28} {:>10} {:>10.1} {:>10.1} {:>10.1}", format!("router + SG, {n} rules"), entries, a, b, c);
    }
    let med = |i: usize| stats(&results[i].2).1;
    println!("ratio 10000/10 rules (median): {:.2}  (promise: < 1.3)", med(2) / med(0));
    println!("router + SG, 10 rules / XDP_PASS (median): {:.2}", med(0) / bmed);
}
