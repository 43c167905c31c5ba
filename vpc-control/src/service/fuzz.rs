//! Fuzzing the API decoder and every action (issue 18): random requests
//! (each action's own parameters and stray ones, under list indexes
//! canonical or not, with values valid, malformed, huge, or full of
//! control characters and ids of two accounts) through the service. None
//! may panic or answer 500, and a refused call changes nothing.
//! `VPC_FUZZ_CASES` calls (default 1,500), seed `VPC_FUZZ_SEED`.
use super::{ACTIONS, tests::Scratch};
use crate::api::{Caller, form::Form};

/// A value for parameter `p`: most often of the kind its name says (so
/// that requests get past the decoder), else anything.
fn value_for(rng: &mut fastrand::Rng, p: &str, ids: &[String], hostile: bool) -> String {
    if hostile && rng.u8(0..10) < 3 {
        return value(rng, ids);
    }
    let pick = |rng: &mut fastrand::Rng, v: &[&str]| v[rng.usize(0..v.len())].to_string();
    if p == "RegionId" {
        pick(rng, &["cn-hangzhou", "cn-hangzhou", "cn-hangzhou", "cn-beijing", "nowhere-1"])
    } else if p == "ZoneId" {
        pick(rng, &["lab-a", "lab-b", "cn-hangzhou-a", "bad zone"])
    } else if p.ends_with("Id") || p.ends_with("Ids") {
        ids[rng.usize(0..ids.len())].clone()
    } else if p.contains("Cidr") || p.contains("Ip") {
        pick(rng, &["10.0.0.0/16", "10.0.1.0/24", "10.0.7.0/24", "10.0.1.20", "0.0.0.0/0", "192.168.0.0/16", "10.0.1.300"])
    } else if p.contains("Name") || p.contains("Description") {
        pick(rng, &["lab", "web-1", "a", "Name_with.dots-1", "http://x", "1abc"])
    } else if p.contains("Port") {
        pick(rng, &["22/22", "1/65535", "-1/-1", "80"])
    } else if p.contains("Protocol") {
        pick(rng, &["tcp", "udp", "icmp", "all"])
    } else if p.contains("Policy") || p.contains("Direction") || p.contains("Type") {
        pick(rng, &["accept", "drop", "ingress", "egress", "Instance", "Local", "System", "Custom"])
    } else if ["Enable", "Dry", "Is", "All", "Force", "Auto", "Service"].iter().any(|b| p.starts_with(b)) {
        pick(rng, &["true", "false"])
    } else if p == "AcceptLanguage" {
        pick(rng, &["en-US", "zh-CN"])
    } else if p.contains("Size") || p.starts_with("Max") || p.contains("Number") || p.contains("Amount") || p.contains("Priority") || p.contains("Bandwidth") {
        pick(rng, &["1", "2", "10", "100"])
    } else if hostile {
        value(rng, ids)
    } else {
        pick(rng, &["lab", "1", "true", "tcp"])
    }
}

/// Values a parameter is given: well-formed, malformed and hostile.
fn value(rng: &mut fastrand::Rng, ids: &[String]) -> String {
    match rng.u8(0..16) {
        0 | 1 => ids[rng.usize(0..ids.len())].clone(),
        2 => ["10.0.0.0/16", "10.0.9.0/24", "192.168.0.0/16", "0.0.0.0/0", "10.0.0.0/8"][rng.usize(0..5)].to_string(),
        3 => ["010.0.0.0/16", "10.0.0.0/33", "10.0.0.1/16", "127.0.0.0/16", "224.0.0.0/16", "1.2.3", "::1/128", "10.0.0.0/-1"][rng.usize(0..8)]
            .to_string(),
        4 => ["0", "1", "-1", "65535", "65536", "99999999999999999999", "1.5", "+1", "01", "0x10"][rng.usize(0..10)].to_string(),
        5 => ["true", "false", "True", "yes", ""][rng.usize(0..5)].to_string(),
        6 => "x".repeat(rng.usize(0..3000)),
        7 => (0..rng.usize(1..40)).map(|_| char::from(rng.u8(0..32))).collect(),
        8 => "名前\u{202e}\u{feff}é🙂".to_string(),
        9 => ["tcp", "udp", "icmp", "all", "gre", "TCP"][rng.usize(0..6)].to_string(),
        10 => ["22/22", "1/65535", "-1/-1", "80/22", "0/0", "1/99999", "a/b"][rng.usize(0..7)].to_string(),
        11 => ["accept", "drop", "Accept", "ingress", "egress", "intranet", "internet"][rng.usize(0..7)].to_string(),
        12 => ["cn-hangzhou", "lab-a", "lab-b", "us-west-1", "cn-hangzhou-z"][rng.usize(0..5)].to_string(),
        13 => "[{\"Key\":\"k\",\"Value\":\"v\"}]".to_string(),
        14 => format!("{}", rng.u64(..)),
        _ => String::new(),
    }
}

/// The name a parameter is sent under: as is, or as a list element or a
/// field of one, with indexes canonical or not.
fn name(rng: &mut fastrand::Rng, base: &str) -> String {
    match rng.u8(0..20) {
        0..=11 => base.to_string(),
        12..=15 => format!("{base}.{}", rng.usize(1..4)),
        16 | 17 => format!("{base}.{}.{}", rng.usize(1..3), ["Key", "Value", "Id", "CidrBlock"][rng.usize(0..4)]),
        18 => format!("{base}.{}", ["0", "01", "+1", "-1", "99999", "", "1.", "1..Key"][rng.usize(0..8)]),
        _ => format!("{base}{}", ["X", ".N", "\u{0}", " "][rng.usize(0..4)]),
    }
}

/// A parameter that is a list.
enum Shape {
    /// `Name.N` = value.
    Values,
    /// `Name.N.Field` = value.
    Objects,
}

#[test]
fn fuzz_requests_never_panic_never_answer_500_and_refused_ones_change_nothing() {
    let cases: usize = std::env::var("VPC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500);
    let seed: u64 = std::env::var("VPC_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fuzz: {cases} requests, VPC_FUZZ_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut s = Scratch::new();
    // Parameters no action has are ignored, as the cloud ignores them.
    s.service.set_strict(false);
    let (vpc, vsw) = s.vpc_with_vswitch();
    let sg = s.ok("CreateSecurityGroup", &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
    let run = s.ok("RunInstances", &[("RegionId", "cn-hangzhou"), ("VSwitchId", &vsw), ("SecurityGroupId", &sg)]);
    let instance = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    let owner = Caller { account_id: "1000000000000001".into(), admin: false };
    let other = Caller { account_id: "1000000000000002".into(), admin: false };
    let mut ids = vec![vpc, vsw, sg, instance, "vpc-doesnotexist".into(), "sg-".into()];
    // Which parameters are lists of values, and which lists of objects
    // (found by asking the decoder), so well-formed requests send them so.
    let mut shape = std::collections::BTreeMap::<(&str, &str), Shape>::new();
    for spec in ACTIONS {
        for p in spec.parameters() {
            let mut refusal = |pairs: Vec<(String, String)>| {
                Form::from_pairs(pairs).and_then(|f| s.service.call(Some(spec.product.version()), spec.name, &f, &owner)).err().map(|e| e.message)
            };
            if refusal(vec![(p.to_string(), "lab".into())]).is_some_and(|m| m.contains("expected a list")) {
                let object = refusal(vec![(format!("{p}.1"), "lab".into())]).is_some_and(|m| m.contains("expected fields"));
                shape.insert((spec.name, p), if object { Shape::Objects } else { Shape::Values });
            }
        }
    }
    // And which each action requires: asked one by one, as the refusals
    // name them.
    let mut required = std::collections::BTreeMap::<&str, Vec<String>>::new();
    for spec in ACTIONS {
        let mut have: Vec<String> = Vec::new();
        for _ in 0..8 {
            let pairs: Vec<(String, String)> = have.iter().map(|p| (p.clone(), "lab".to_string())).collect();
            let message = Form::from_pairs(pairs)
                .and_then(|f| s.service.call(Some(spec.product.version()), spec.name, &f, &owner))
                .err()
                .filter(|e| e.code == "MissingParameter")
                .map(|e| e.message);
            match message.and_then(|m| m.split('"').nth(1).map(str::to_string)) {
                Some(p) if !have.contains(&p) => have.push(p),
                _ => break,
            }
        }
        required.insert(spec.name, have);
    }
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut codes = std::collections::BTreeMap::new();
    for n in 0..cases {
        let spec = &ACTIONS[rng.usize(0..ACTIONS.len())];
        // Most requests well-formed but for their values (so that they get
        // past the decoder into the actions); a third hostile in their
        // names and values too.
        let hostile = rng.u8(0..3) == 0;
        let mut pairs: Vec<(String, String)> = Vec::new();
        for p in spec.parameters() {
            let needed = required.get(spec.name).is_some_and(|r| r.iter().any(|q| q == p));
            // Well-formed: the required ones, some others, none the router
            // refuses whatever their value.
            let wanted = if hostile { rng.u8(0..10) < 7 } else { needed || (rng.u8(0..10) < 3 && !spec.refuses(p)) };
            if wanted {
                let n = match (hostile, shape.get(&(spec.name, *p))) {
                    (true, _) => name(&mut rng, p),
                    (false, None) => p.to_string(),
                    (false, Some(Shape::Values)) => format!("{p}.1"),
                    // Objects' fields are not known here: left out.
                    (false, Some(Shape::Objects)) => continue,
                };
                pairs.push((n, value_for(&mut rng, p, &ids, hostile)));
            }
        }
        if hostile && rng.u8(0..4) == 0 {
            pairs.push((name(&mut rng, "Stray"), value(&mut rng, &ids)));
        }
        if hostile && rng.u8(0..8) == 0 {
            pairs.push(("RegionId".into(), value(&mut rng, &ids)));
        }
        let caller = if rng.u8(0..4) == 0 { &other } else { &owner };
        let what = format!("seed {seed}, request {n}: {} {pairs:?}", spec.name);
        let before = s.service.model().clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let form = Form::from_pairs(pairs.clone())?;
            s.service.call(Some(spec.product.version()), spec.name, &form, caller)
        }))
        .unwrap_or_else(|_| panic!("{what}: panicked"));
        match result {
            Ok(v) => {
                accepted += 1;
                // Ids made by the fuzz feed later requests.
                for key in ["VpcId", "VSwitchId", "SecurityGroupId", "RouteTableId", "NetworkAclId", "AllocationId", "NatGatewayId"] {
                    if let Some(id) = v.get(key).and_then(|v| v.as_str()) {
                        ids.push(id.to_string());
                    }
                }
            }
            Err(e) => {
                refused += 1;
                *codes.entry(e.code.clone()).or_insert(0usize) += 1;
                assert!(e.status != 500 && e.status >= 400, "{what}: answered {} {} {}", e.status, e.code, e.message);
                assert!(!e.code.is_empty() && !e.message.is_empty(), "{what}: an error without a code or message");
                assert!(s.service.model() == &before, "{what}: refused ({}) but the model changed", e.code);
            }
        }
    }
    eprintln!("fuzz: {accepted} accepted, {refused} refused: {codes:?}");
    assert!(accepted > 0 && refused > 0, "the fuzz reached both answers: {accepted} accepted, {refused} refused");
}
