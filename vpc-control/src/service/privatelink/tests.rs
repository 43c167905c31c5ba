//! The PrivateLink actions over a scratch service, with three accounts: a
//! provider, a whitelisted consumer, an account not on the whitelist.
use serde_json::Value;

use crate::{
    api::{ApiError, Caller, Product, form::Form},
    model::{ConnectionStatus, EndpointZoneStatus},
    service::tests::Scratch,
};

const PROVIDER: &str = "1000000000000001";
const CONSUMER: &str = "2000000000000002";
const STRANGER: &str = "3000000000000003";

fn who(account: &str) -> Caller {
    Caller {
        account_id: account.into(),
        admin: false,
    }
}

/// Calls `action` as `account` under `product`'s version.
fn call(
    s: &mut Scratch,
    account: &str,
    product: Product,
    action: &str,
    params: &[(&str, &str)],
) -> Result<Value, ApiError> {
    let f = Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    s.service
        .call(Some(product.version()), action, &f, &who(account))
}

fn pl(s: &mut Scratch, account: &str, action: &str, params: &[(&str, &str)]) -> Value {
    call(s, account, Product::PrivateLink, action, params)
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
}

fn pl_err(s: &mut Scratch, account: &str, action: &str, params: &[(&str, &str)]) -> String {
    match call(s, account, Product::PrivateLink, action, params) {
        Ok(v) => panic!("{action} should fail, answered {v}"),
        Err(e) => e.code,
    }
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// A VPC 10.0.0.0/16 of `account` with vSwitches in zones a and b (10.0.1.0/24,
/// 10.0.2.0/24): (vpc, vsw a, vsw b).
fn vpc(s: &mut Scratch, account: &str) -> (String, String, String) {
    let c = |s: &mut Scratch, p: Product, a: &str, q: &[(&str, &str)]| {
        call(s, account, p, a, q).unwrap_or_else(|e| panic!("{a}: {e:?}"))
    };
    let v = c(
        s,
        Product::Vpc,
        "CreateVpc",
        &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16")],
    );
    let vpc = text(&v, "VpcId");
    let vsw = |s: &mut Scratch, zone: &str, cidr: &str| {
        let r = c(
            s,
            Product::Vpc,
            "CreateVSwitch",
            &[("VpcId", &vpc), ("ZoneId", zone), ("CidrBlock", cidr)],
        );
        text(&r, "VSwitchId")
    };
    let a = vsw(s, "cn-hangzhou-a", "10.0.1.0/24");
    let b = vsw(s, "cn-hangzhou-b", "10.0.2.0/24");
    (vpc, a, b)
}

/// The provider's NLB in both zones and a service of it (not auto-accept),
/// the consumer whitelisted: (service id, nlb id).
fn provider(s: &mut Scratch) -> (String, String) {
    let (vpc, a, b) = vpc(s, PROVIDER);
    let lb = call(
        s,
        PROVIDER,
        Product::Nlb,
        "CreateLoadBalancer",
        &[
            ("AddressType", "Intranet"),
            ("VpcId", &vpc),
            ("ZoneMappings.1.VSwitchId", &a),
            ("ZoneMappings.1.ZoneId", "cn-hangzhou-a"),
            ("ZoneMappings.2.VSwitchId", &b),
            ("ZoneMappings.2.ZoneId", "cn-hangzhou-b"),
        ],
    )
    .unwrap();
    let lb = text(&lb, "LoadbalancerId");
    let srv = pl(
        s,
        PROVIDER,
        "CreateVpcEndpointService",
        &[
            ("ServiceResourceType", "nlb"),
            ("Resource.1.ResourceId", &lb),
            ("Resource.1.ResourceType", "nlb"),
            ("Resource.1.ZoneId", "cn-hangzhou-a"),
            ("Resource.2.ResourceId", &lb),
            ("Resource.2.ResourceType", "nlb"),
            ("Resource.2.ZoneId", "cn-hangzhou-b"),
            ("ServiceDescription", "web service"),
        ],
    );
    assert_eq!(srv["ServiceStatus"], "Active");
    assert_eq!(srv["AutoAcceptEnabled"], false);
    let id = text(&srv, "ServiceId");
    pl(
        s,
        PROVIDER,
        "AddUserToVpcEndpointService",
        &[("ServiceId", &id), ("UserId", CONSUMER)],
    );
    (id, lb)
}

/// The consumer's VPC, a group, an endpoint to `service` in both zones
/// (zone a's ENI at 10.0.1.50): (endpoint id, vpc, sg, vsw a, vsw b).
fn consumer(s: &mut Scratch, service: &str) -> (String, String, String, String, String) {
    let (vpc, a, b) = vpc(s, CONSUMER);
    let sg = call(
        s,
        CONSUMER,
        Product::Ecs,
        "CreateSecurityGroup",
        &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)],
    )
    .unwrap();
    let sg = text(&sg, "SecurityGroupId");
    let ep = pl(
        s,
        CONSUMER,
        "CreateVpcEndpoint",
        &[
            ("VpcId", &vpc),
            ("ServiceId", service),
            ("SecurityGroupId.1", &sg),
            ("Zone.1.VSwitchId", &a),
            ("Zone.1.ZoneId", "cn-hangzhou-a"),
            ("Zone.1.ip", "10.0.1.50"),
            ("Zone.2.VSwitchId", &b),
            ("Zone.2.ZoneId", "cn-hangzhou-b"),
            ("EndpointName", "web"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
        ],
    );
    assert_eq!(ep["EndpointStatus"], "Active");
    (text(&ep, "EndpointId"), vpc, sg, a, b)
}

#[test]
fn privatelink_request_waits_until_the_provider_accepts_then_zones_and_disable() {
    let mut s = Scratch::new();
    let (srv, _) = provider(&mut s);
    // EPS-2: the owner is always on the whitelist.
    let users = pl(
        &mut s,
        PROVIDER,
        "ListVpcEndpointServiceUsers",
        &[("ServiceId", &srv)],
    );
    let ids: Vec<u64> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserId"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![PROVIDER.parse::<u64>().unwrap(), CONSUMER.parse().unwrap()]
    );
    // The consumer sees it; the stranger does not, and cannot connect.
    // (Besides the cloud's own object storage service, which every account
    // sees: found by id, the list's order is the ids'.)
    let seen = pl(&mut s, CONSUMER, "ListVpcEndpointServicesByEndUser", &[]);
    let mine = seen["Services"].as_array().unwrap().iter().find(|v| v["ServiceId"] == srv.as_str()).unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(mine["Zones"].as_array().unwrap().len(), 2);
    assert_eq!(seen["Services"].as_array().unwrap().len(), 2, "{seen}");
    // (Only the cloud's own object storage service, which every account sees.)
    let none = pl(&mut s, STRANGER, "ListVpcEndpointServicesByEndUser", &[]);
    let names: Vec<&str> = none["Services"].as_array().unwrap().iter().map(|v| v["ServiceName"].as_str().unwrap()).collect();
    assert_eq!(names, ["com.aliyuncs.privatelink.cn-hangzhou.oss"], "{none}");
    let (ep, _, _, a, _) = consumer(&mut s, &srv);
    let (svpc, sa, _) = vpc(&mut s, STRANGER);
    let ssg = call(
        &mut s,
        STRANGER,
        Product::Ecs,
        "CreateSecurityGroup",
        &[("RegionId", "cn-hangzhou"), ("VpcId", &svpc)],
    )
    .unwrap();
    assert_eq!(
        pl_err(
            &mut s,
            STRANGER,
            "CreateVpcEndpoint",
            &[
                ("VpcId", &svpc),
                ("ServiceId", &srv),
                (
                    "SecurityGroupId.1",
                    ssg["SecurityGroupId"].as_str().unwrap()
                ),
                ("Zone.1.VSwitchId", &sa),
                ("Zone.1.ZoneId", "cn-hangzhou-a"),
            ]
        ),
        "Forbidden.NotInWhitelist"
    );
    // CONN-3: not auto-accepting, the connection waits.
    let e = pl(
        &mut s,
        CONSUMER,
        "GetVpcEndpointAttribute",
        &[("EndpointId", &ep)],
    );
    assert_eq!(e["ConnectionStatus"], "Disconnected");
    assert!(
        e["EndpointDomain"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ep}.{srv}.cn-hangzhou.privatelink"))
    );
    let zones = pl(
        &mut s,
        CONSUMER,
        "ListVpcEndpointZones",
        &[("EndpointId", &ep)],
    );
    assert_eq!(zones["TotalCount"], 2);
    assert!(
        zones["Zones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| z["ZoneStatus"] == "Wait")
    );
    let za = zones["Zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["ZoneId"] == "cn-hangzhou-a")
        .unwrap();
    assert_eq!(
        (za["EniIp"].as_str(), za["VSwitchId"].as_str()),
        (Some("10.0.1.50"), Some(a.as_str()))
    );
    // The provider sees the request; the consumer cannot accept it itself.
    let c = pl(
        &mut s,
        PROVIDER,
        "ListVpcEndpointConnections",
        &[("ServiceId", &srv)],
    );
    assert_eq!(c["Connections"][0]["EndpointId"], ep.as_str());
    assert_eq!(
        c["Connections"][0]["EndpointOwnerId"].as_u64(),
        Some(CONSUMER.parse().unwrap())
    );
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "EnableVpcEndpointConnection",
            &[("ServiceId", &srv), ("EndpointId", &ep)]
        ),
        "EndpointServiceNotFound"
    );
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "DisableVpcEndpointConnection",
            &[("ServiceId", &srv), ("EndpointId", &ep)]
        ),
        "EndpointConnectionOperationDenied"
    );
    pl(
        &mut s,
        PROVIDER,
        "EnableVpcEndpointConnection",
        &[("ServiceId", &srv), ("EndpointId", &ep)],
    );
    let m = s.service.model();
    let e = &m.vpc_endpoints[0];
    assert_eq!(e.connection_status, ConnectionStatus::Connected);
    assert!(e.zones.iter().all(|z| e.zone_connected(z)));
    // Zone level: b cut, a kept.
    pl(
        &mut s,
        PROVIDER,
        "DisableVpcEndpointZoneConnection",
        &[
            ("ServiceId", &srv),
            ("EndpointId", &ep),
            ("ZoneId", "cn-hangzhou-b"),
        ],
    );
    let e = &s.service.model().vpc_endpoints[0];
    let st: Vec<EndpointZoneStatus> = e.zones.iter().map(|z| z.status).collect();
    assert_eq!(
        st,
        vec![
            EndpointZoneStatus::Connected,
            EndpointZoneStatus::Disconnected
        ]
    );
    pl(
        &mut s,
        PROVIDER,
        "EnableVpcEndpointZoneConnection",
        &[
            ("ServiceId", &srv),
            ("EndpointId", &ep),
            ("ZoneId", "cn-hangzhou-b"),
        ],
    );
    pl(
        &mut s,
        PROVIDER,
        "UpdateVpcEndpointConnectionAttribute",
        &[
            ("ServiceId", &srv),
            ("EndpointId", &ep),
            ("Bandwidth", "1024"),
        ],
    );
    assert_eq!(s.service.model().vpc_endpoints[0].bandwidth, 1024);
    // Removing the consumer from the whitelist cuts the connection.
    pl(
        &mut s,
        PROVIDER,
        "RemoveUserFromVpcEndpointService",
        &[("ServiceId", &srv), ("UserId", CONSUMER)],
    );
    assert_eq!(
        s.service.model().vpc_endpoints[0].connection_status,
        ConnectionStatus::Disconnected
    );
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "EnableVpcEndpointConnection",
            &[("ServiceId", &srv), ("EndpointId", &ep)]
        ),
        "EndpointConnectionOperationDenied"
    );
    pl(
        &mut s,
        PROVIDER,
        "AddUserToVpcEndpointService",
        &[("ServiceId", &srv), ("UserId", CONSUMER)],
    );
    pl(
        &mut s,
        PROVIDER,
        "EnableVpcEndpointConnection",
        &[("ServiceId", &srv), ("EndpointId", &ep)],
    );
    pl(
        &mut s,
        PROVIDER,
        "DisableVpcEndpointConnection",
        &[("ServiceId", &srv), ("EndpointId", &ep)],
    );
    assert_eq!(
        s.service.model().vpc_endpoints[0].connection_status,
        ConnectionStatus::Disconnected
    );
    // CONN-4: deleting the service leaves the endpoint ServiceDeleted.
    pl(
        &mut s,
        PROVIDER,
        "DeleteVpcEndpointService",
        &[("ServiceId", &srv)],
    );
    let e = pl(
        &mut s,
        CONSUMER,
        "GetVpcEndpointAttribute",
        &[("EndpointId", &ep)],
    );
    assert_eq!(e["ConnectionStatus"], "ServiceDeleted");
    pl(
        &mut s,
        CONSUMER,
        "DeleteVpcEndpoint",
        &[("EndpointId", &ep)],
    );
    assert!(s.service.model().vpc_endpoints.is_empty());
}

#[test]
fn privatelink_auto_accept_addresses_dependencies_and_refusals() {
    let mut s = Scratch::new();
    let (srv, lb) = provider(&mut s);
    pl(
        &mut s,
        PROVIDER,
        "UpdateVpcEndpointServiceAttribute",
        &[("ServiceId", &srv), ("AutoAcceptEnabled", "true")],
    );
    let (ep, vpc, sg, a, b) = consumer(&mut s, &srv);
    let m = s.service.model();
    let e = &m.vpc_endpoints[0];
    assert_eq!(e.connection_status, ConnectionStatus::Connected);
    assert!(
        e.zones
            .iter()
            .all(|z| z.status == EndpointZoneStatus::Connected)
    );
    // EP-3: zone b's ENI got the vSwitch's lowest free address.
    assert_eq!(e.zones[1].eni_ip.to_string(), "10.0.2.1");
    // An instance in zone b does not get the ENI's address; an ENI does
    // not get an instance's.
    let r = call(
        &mut s,
        CONSUMER,
        Product::Ecs,
        "RunInstances",
        &[
            ("RegionId", "cn-hangzhou"),
            ("VSwitchId", &b),
            ("ImageId", "any"),
            ("InstanceType", "any"),
        ],
    )
    .unwrap();
    let inst = r["InstanceIdSets"]["InstanceIdSet"][0]
        .as_str()
        .unwrap()
        .to_string();
    let addr = s
        .service
        .model()
        .instances
        .iter()
        .find(|i| i.id == inst)
        .unwrap()
        .private_ip_address
        .unwrap();
    assert_eq!(addr.to_string(), "10.0.2.2");
    let code = pl_err(
        &mut s,
        CONSUMER,
        "CreateVpcEndpoint",
        &[
            ("VpcId", &vpc),
            ("ServiceId", &srv),
            ("SecurityGroupId.1", &sg),
            ("Zone.1.VSwitchId", &b),
            ("Zone.1.ZoneId", "cn-hangzhou-b"),
            ("Zone.1.ip", "10.0.2.2"),
        ],
    );
    assert_eq!(code, "IpConflict");
    let base = [
        ("VpcId", vpc.as_str()),
        ("ServiceId", srv.as_str()),
        ("SecurityGroupId.1", sg.as_str()),
        ("Zone.1.VSwitchId", a.as_str()),
    ];
    for (extra, want) in [
        (("PolicyDocument", "{}"), "IllegalParam.PolicyDocument"),
        (("EndpointType", "Reverse"), "UnsupportedParameter"),
        (("AddressIpVersion", "DualStack"), "UnsupportedParameter"),
        (("ZonePrivateIpAddressCount", "2"), "UnsupportedParameter"),
        (("ProtectedEnabled", "true"), "UnsupportedParameter"),
        (
            ("Zone.1.ZoneId", "cn-hangzhou-b"),
            "IllegalParam.Zone.1.ZoneId",
        ),
        (
            ("SecurityGroupId.2", sg.as_str()),
            "SecurityGroupAlreadyAttached",
        ),
    ] {
        let mut p = base.to_vec();
        p.push(extra);
        assert_eq!(
            pl_err(&mut s, CONSUMER, "CreateVpcEndpoint", &p),
            want,
            "{extra:?}"
        );
    }
    // DryRun: checked, nothing made.
    let mut p = base.to_vec();
    p.push(("DryRun", "true"));
    assert_eq!(
        pl_err(&mut s, CONSUMER, "CreateVpcEndpoint", &p),
        "DryRunOperation"
    );
    assert_eq!(s.service.model().vpc_endpoints.len(), 1);
    // Dependencies: vSwitch, security group, VPC, load balancer.
    let c = |s: &mut Scratch, acc: &str, p: Product, a: &str, q: &[(&str, &str)]| {
        call(s, acc, p, a, q).unwrap_err().code
    };
    assert_eq!(
        c(
            &mut s,
            CONSUMER,
            Product::Vpc,
            "DeleteVSwitch",
            &[("RegionId", "cn-hangzhou"), ("VSwitchId", &a)]
        ),
        "DependencyViolation.VpcEndpoint"
    );
    assert_eq!(
        c(
            &mut s,
            CONSUMER,
            Product::Ecs,
            "DeleteSecurityGroup",
            &[("RegionId", "cn-hangzhou"), ("SecurityGroupId", &sg)]
        ),
        "DependencyViolation"
    );
    assert_eq!(
        c(
            &mut s,
            PROVIDER,
            Product::Nlb,
            "DeleteLoadBalancer",
            &[("LoadBalancerId", &lb)]
        ),
        "ResourceInUse.loadBalancer"
    );
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "DetachResourceFromVpcEndpointService",
            &[
                ("ServiceId", &srv),
                ("ResourceId", &lb),
                ("ZoneId", "cn-hangzhou-b")
            ]
        ),
        "DependencyViolation.EndpointZone"
    );
    // Zones: remove b, add it back with a given address; the last stays.
    pl(
        &mut s,
        CONSUMER,
        "RemoveZoneFromVpcEndpoint",
        &[("EndpointId", &ep), ("ZoneId", "cn-hangzhou-b")],
    );
    pl(
        &mut s,
        PROVIDER,
        "DetachResourceFromVpcEndpointService",
        &[
            ("ServiceId", &srv),
            ("ResourceId", &lb),
            ("ZoneId", "cn-hangzhou-b"),
        ],
    );
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "AddZoneToVpcEndpoint",
            &[
                ("EndpointId", &ep),
                ("VSwitchId", &b),
                ("ZoneId", "cn-hangzhou-b")
            ]
        ),
        "EndpointServiceZoneNotSupported"
    );
    pl(
        &mut s,
        PROVIDER,
        "AttachResourceToVpcEndpointService",
        &[
            ("ServiceId", &srv),
            ("ResourceId", &lb),
            ("ResourceType", "nlb"),
            ("ZoneId", "cn-hangzhou-b"),
        ],
    );
    pl(
        &mut s,
        CONSUMER,
        "AddZoneToVpcEndpoint",
        &[
            ("EndpointId", &ep),
            ("VSwitchId", &b),
            ("ZoneId", "cn-hangzhou-b"),
            ("ip", "10.0.2.9"),
        ],
    );
    let z = &s.service.model().vpc_endpoints[0].zones[1];
    assert_eq!(
        (z.eni_ip.to_string().as_str(), z.status),
        ("10.0.2.9", EndpointZoneStatus::Connected)
    );
    pl(
        &mut s,
        CONSUMER,
        "RemoveZoneFromVpcEndpoint",
        &[("EndpointId", &ep), ("ZoneId", "cn-hangzhou-b")],
    );
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "RemoveZoneFromVpcEndpoint",
            &[("EndpointId", &ep), ("ZoneId", "cn-hangzhou-a")]
        ),
        "EndpointOperationDenied"
    );
    // Security groups: up to five, of the endpoint's VPC.
    let mut groups = vec![sg.clone()];
    for _ in 0..5 {
        let g = call(
            &mut s,
            CONSUMER,
            Product::Ecs,
            "CreateSecurityGroup",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)],
        )
        .unwrap();
        groups.push(text(&g, "SecurityGroupId"));
    }
    for g in &groups[1..5] {
        pl(
            &mut s,
            CONSUMER,
            "AttachSecurityGroupToVpcEndpoint",
            &[("EndpointId", &ep), ("SecurityGroupId", g)],
        );
    }
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "AttachSecurityGroupToVpcEndpoint",
            &[("EndpointId", &ep), ("SecurityGroupId", &groups[5])]
        ),
        "QuotaExceeded.SecurityGroupsNum"
    );
    let l = pl(
        &mut s,
        CONSUMER,
        "ListVpcEndpointSecurityGroups",
        &[("EndpointId", &ep)],
    );
    assert_eq!(l["TotalCount"], 5);
    pl(
        &mut s,
        CONSUMER,
        "DetachSecurityGroupFromVpcEndpoint",
        &[("EndpointId", &ep), ("SecurityGroupId", &groups[1])],
    );
    // Other accounts' endpoints are not found; ServiceResourceType slb is refused.
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "GetVpcEndpointAttribute",
            &[("EndpointId", &ep)]
        ),
        "EndpointNotFound"
    );
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "CreateVpcEndpointService",
            &[("ServiceResourceType", "slb")]
        ),
        "UnsupportedParameter"
    );
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "CreateVpcEndpointService",
            &[
                ("Resource.1.ResourceId", &lb),
                ("Resource.1.ZoneId", "cn-hangzhou-a")
            ]
        ),
        "NlbNotFound"
    );
    assert_eq!(
        c(
            &mut s,
            CONSUMER,
            Product::Vpc,
            "DeleteVpc",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)]
        ),
        "DependencyViolation.VSwitch"
    );
}

#[test]
fn privatelink_tags_filter_endpoints_and_go_with_them() {
    let mut s = Scratch::new();
    let (srv, _) = provider(&mut s);
    let (ep, ..) = consumer(&mut s, &srv);
    pl(
        &mut s,
        CONSUMER,
        "TagResources",
        &[
            ("ResourceType", "vpcendpoint"),
            ("ResourceId.1", &ep),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "net"),
        ],
    );
    let l = pl(
        &mut s,
        CONSUMER,
        "ListVpcEndpoints",
        &[("Tag.1.Key", "team"), ("Tag.1.Value", "net")],
    );
    assert_eq!(l["Endpoints"][0]["EndpointId"], ep.as_str());
    assert_eq!(l["Endpoints"][0]["Tags"].as_array().unwrap().len(), 2);
    let l = pl(
        &mut s,
        CONSUMER,
        "ListVpcEndpoints",
        &[("Tag.1.Key", "team"), ("Tag.1.Value", "other")],
    );
    assert_eq!(l["TotalCount"], 0);
    let t = pl(
        &mut s,
        CONSUMER,
        "ListTagResources",
        &[("ResourceType", "vpcendpoint"), ("ResourceId.1", &ep)],
    );
    assert_eq!(t["TagResources"].as_array().unwrap().len(), 2);
    // TAG-2: the cloud's prefixes are refused.
    assert_eq!(
        pl_err(
            &mut s,
            CONSUMER,
            "TagResources",
            &[
                ("ResourceType", "vpcendpoint"),
                ("ResourceId.1", &ep),
                ("Tag.1.Key", "aliyun:x"),
                ("Tag.1.Value", "v")
            ]
        ),
        "InvalidTagKey.Malformed"
    );
    // The provider cannot tag the consumer's endpoint; tags go with it.
    assert_eq!(
        pl_err(
            &mut s,
            PROVIDER,
            "TagResources",
            &[
                ("ResourceType", "vpcendpoint"),
                ("ResourceId.1", &ep),
                ("Tag.1.Key", "k")
            ]
        ),
        "EndpointNotFound"
    );
    pl(
        &mut s,
        CONSUMER,
        "UntagResources",
        &[
            ("ResourceType", "vpcendpoint"),
            ("ResourceId.1", &ep),
            ("TagKey.1", "env"),
        ],
    );
    pl(
        &mut s,
        CONSUMER,
        "UpdateVpcEndpointAttribute",
        &[("EndpointId", &ep), ("EndpointName", "renamed")],
    );
    let e = pl(
        &mut s,
        CONSUMER,
        "GetVpcEndpointAttribute",
        &[("EndpointId", &ep)],
    );
    assert_eq!(e["EndpointName"], "renamed");
    pl(
        &mut s,
        CONSUMER,
        "DeleteVpcEndpoint",
        &[("EndpointId", &ep)],
    );
    let t = pl(
        &mut s,
        CONSUMER,
        "ListTagResources",
        &[("ResourceType", "vpcendpoint"), ("Tag.1.Key", "team")],
    );
    assert_eq!(t["TagResources"].as_array().unwrap().len(), 0);
    pl(
        &mut s,
        PROVIDER,
        "TagResources",
        &[
            ("ResourceType", "vpcendpointservice"),
            ("ResourceId.1", &srv),
            ("Tag.1.Key", "tier"),
        ],
    );
    let l = pl(
        &mut s,
        PROVIDER,
        "ListVpcEndpointServices",
        &[("Tag.1.Key", "tier")],
    );
    assert_eq!(l["Services"][0]["ServiceId"], srv.as_str());
}

#[test]
fn privatelink_eni_addresses_are_never_given_to_instances_or_load_balancers() {
    let mut s = Scratch::new();
    let (srv, _) = provider(&mut s);
    let (_, vpc, _, a, b) = consumer(&mut s, &srv);
    // An instance asking for zone a's ENI address is refused.
    let e = call(
        &mut s,
        CONSUMER,
        Product::Ecs,
        "RunInstances",
        &[
            ("RegionId", "cn-hangzhou"),
            ("VSwitchId", &a),
            ("ImageId", "any"),
            ("InstanceType", "any"),
            ("PrivateIpAddress", "10.0.1.50"),
        ],
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidPrivateIpAddress.Duplicated", "{e:?}");
    // So is a load balancer zone address of the consumer on it.
    let e = call(
        &mut s,
        CONSUMER,
        Product::Nlb,
        "CreateLoadBalancer",
        &[
            ("AddressType", "Intranet"),
            ("VpcId", &vpc),
            ("ZoneMappings.1.VSwitchId", &a),
            ("ZoneMappings.1.ZoneId", "cn-hangzhou-a"),
            ("ZoneMappings.1.PrivateIPv4Address", "10.0.1.50"),
            ("ZoneMappings.2.VSwitchId", &b),
            ("ZoneMappings.2.ZoneId", "cn-hangzhou-b"),
        ],
    )
    .unwrap_err();
    assert_eq!(e.code, "Conflict.PrivateIPv4Address", "{e:?}");
    // An allocated one steps over the ENIs (10.0.2.1 is zone b's).
    let r = call(
        &mut s,
        CONSUMER,
        Product::Nlb,
        "CreateLoadBalancer",
        &[
            ("AddressType", "Intranet"),
            ("VpcId", &vpc),
            ("ZoneMappings.1.VSwitchId", &a),
            ("ZoneMappings.1.ZoneId", "cn-hangzhou-a"),
            ("ZoneMappings.2.VSwitchId", &b),
            ("ZoneMappings.2.ZoneId", "cn-hangzhou-b"),
        ],
    )
    .unwrap();
    let id = text(&r, "LoadbalancerId");
    let m = s.service.model();
    let zb = m.load_balancer(&id).unwrap().zone("cn-hangzhou-b").unwrap();
    assert_eq!(zb.private_ipv4.to_string(), "10.0.2.2");
}

#[test]
fn privatelink_client_token_retry_makes_one_endpoint() {
    let mut s = Scratch::new();
    let (srv, _) = provider(&mut s);
    let (_, vpc, sg, a, _) = consumer(&mut s, &srv);
    let p = [
        ("VpcId", vpc.as_str()),
        ("ServiceId", srv.as_str()),
        ("SecurityGroupId.1", sg.as_str()),
        ("Zone.1.VSwitchId", a.as_str()),
        ("ClientToken", "retry-1"),
    ];
    let first = pl(&mut s, CONSUMER, "CreateVpcEndpoint", &p);
    let again = pl(&mut s, CONSUMER, "CreateVpcEndpoint", &p);
    assert_eq!(first, again);
    assert_eq!(s.service.model().vpc_endpoints.len(), 2);
}
