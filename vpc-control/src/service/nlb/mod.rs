//! The NLB API (2022-04-30, the official SDK `alibabacloud_nlb20220430`):
//! network load balancers ([`load_balancer`]), server groups
//! ([`server_group`]), listeners ([`listener`]), their tags ([`tag`]) and
//! the asynchronous jobs the API answers with ([`job`]).
//!
//! **Asynchronous style, settled answers.** Each mutating action answers
//! with a JobId, as the cloud's. A change is applied (kernel and disk)
//! before the answer is given, so the job is `Succeeded` when the caller
//! can first ask for it, and the resource already shows its settled status
//! (Active, Available, Running or Stopped), never Provisioning or
//! Configuring. Jobs are kept with the model, the most recent
//! [`crate::model::MAX_NLB_JOBS`] (256).
pub(super) mod job;
pub(super) mod listener;
pub(super) mod load_balancer;
pub(super) mod server_group;
pub(super) mod tag;

use std::ops::RangeInclusive;

use serde::Serialize;

use super::{Draft, ipv4_gateway::token_page, params::given};
use crate::{
    api::{ApiError, new_request_id},
    model::{JobStatus, NlbJob, NlbProtocol},
};

/// `ResourceNotFound.<kind>` (404), the NLB API's code for an id that
/// names nothing the caller has.
pub(super) fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(
        format!("ResourceNotFound.{kind}"),
        format!("The specified resource {id} of type {kind} is not found."),
    )
}

/// `IllegalParam.<name>`: a parameter the NLB API refuses by its value.
pub(super) fn illegal(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad(
        format!("IllegalParam.{name}"),
        format!("The param {name} is illegal: {why}."),
    )
}

/// `Mismatch.<what>`: two resources of a call do not go together.
pub(super) fn mismatch(what: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!("Mismatch.{what}"), format!("{why}"))
}

/// A number parameter within `range`, or `default` when not given.
pub(super) fn in_range(
    name: &str,
    v: Option<u32>,
    range: RangeInclusive<u32>,
    default: u32,
) -> Result<u32, ApiError> {
    match v {
        None => Ok(default),
        Some(n) if range.contains(&n) => Ok(n),
        Some(n) => Err(illegal(
            name,
            format!("{n} is outside {}..={}", range.start(), range.end()),
        )),
    }
}

/// A protocol parameter: TCP or UDP (any case); TCPSSL, which needs
/// certificates, is `UnsupportedParameter`; anything else
/// `IllegalParam.<name>`.
pub(super) fn protocol(name: &str, value: &str) -> Result<NlbProtocol, ApiError> {
    match value.to_ascii_uppercase().as_str() {
        "TCP" => Ok(NlbProtocol::Tcp),
        "UDP" => Ok(NlbProtocol::Udp),
        "TCPSSL" => Err(ApiError::unsupported(name)),
        _ => Err(illegal(name, format!("{value:?} is not TCP or UDP"))),
    }
}

/// Refuses a parameter this router does not implement when given a value
/// other than `neutral` (what it does anyway).
pub(super) fn refuse_unless<T: PartialEq>(
    name: &str,
    value: Option<T>,
    neutral: T,
) -> Result<(), ApiError> {
    match value {
        Some(v) if v != neutral => Err(ApiError::unsupported(name)),
        _ => Ok(()),
    }
}

/// Records a finished job of `operation` on `resource_id` and returns its
/// JobId: the change is made before the answer, so it has succeeded.
pub(super) fn record_job(d: &mut Draft, resource_id: &str, operation: &str) -> String {
    let id = new_request_id().to_ascii_lowercase();
    let created = now();
    let owner_id = d.caller.account_id.clone();
    d.model.push_nlb_job(NlbJob {
        id: id.clone(),
        resource_id: resource_id.to_string(),
        operation: operation.to_string(),
        status: JobStatus::Succeeded,
        created,
        owner_id,
    });
    id
}

/// The time now as the cloud writes it.
pub(super) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An answer that is only a JobId.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobAnswer {
    job_id: String,
}

impl JobAnswer {
    pub(super) fn new(job_id: String) -> Self {
        Self { job_id }
    }
}

/// One page of a list (MaxResults 1..=100, default 20; NextToken) in key
/// order: (entries, NextToken, TotalCount).
pub(super) fn page<T>(
    kind: &str,
    items: Vec<(String, T)>,
    max_results: Option<u32>,
    next_token: &Option<String>,
) -> Result<(Vec<T>, String, usize), ApiError> {
    let max = Some(max_results.unwrap_or(20));
    let p = token_page(kind, items, max, given(next_token))?;
    let total = p.total_count.parse().unwrap_or(0);
    Ok((p.items, p.next_token, total))
}

/// The id lists filters take: empty is "any".
pub(super) fn any_or(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == value)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{
        api::{ApiError, Caller, Product, form::Form},
        service::tests::Scratch,
    };

    fn caller() -> Caller {
        Caller {
            account_id: "1000000000000001".into(),
            admin: false,
        }
    }

    /// Calls an NLB action (under the NLB API's version).
    fn nlb(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let f =
            Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        s.service
            .call(Some(Product::Nlb.version()), action, &f, &caller())
    }

    fn ok(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> Value {
        nlb(s, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
    }

    fn code(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> String {
        match nlb(s, action, params) {
            Ok(v) => panic!("{action} should fail, answered {v}"),
            Err(e) => e.code,
        }
    }

    /// A VPC with vSwitches in zones a (10.0.1.0/24) and b (10.0.2.0/24)
    /// and an instance in each: (vpc, vsw a, vsw b, instance a, instance b).
    fn lab(s: &mut Scratch) -> (String, String, String, String, String) {
        let (vpc, vsw_a) = s.vpc_with_vswitch();
        let v = s.ok(
            "CreateVSwitch",
            &[
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-b"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        );
        let vsw_b = v["VSwitchId"].as_str().unwrap().to_string();
        let mut inst = |vsw: &str| {
            let r = s.ok(
                "RunInstances",
                &[
                    ("RegionId", "cn-hangzhou"),
                    ("VSwitchId", vsw),
                    ("ImageId", "any"),
                    ("InstanceType", "any"),
                ],
            );
            r["InstanceIdSets"]["InstanceIdSet"][0]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (i_a, i_b) = (inst(&vsw_a), inst(&vsw_b));
        (vpc, vsw_a, vsw_b, i_a, i_b)
    }

    fn create_lb(s: &mut Scratch, vpc: &str, vsw_a: &str, vsw_b: &str, kind: &str) -> String {
        let r = ok(
            s,
            "CreateLoadBalancer",
            &[
                ("RegionId", "cn-hangzhou"),
                ("AddressType", kind),
                ("VpcId", vpc),
                ("LoadBalancerName", "web"),
                ("ZoneMappings.1.VSwitchId", vsw_a),
                ("ZoneMappings.1.ZoneId", "cn-hangzhou-a"),
                ("ZoneMappings.2.VSwitchId", vsw_b),
                ("ZoneMappings.2.ZoneId", "cn-hangzhou-b"),
                ("ZoneMappings.2.PrivateIPv4Address", "10.0.2.100"),
            ],
        );
        r["LoadbalancerId"].as_str().unwrap().to_string()
    }

    #[test]
    fn nlb_load_balancer_server_group_listener_and_jobs() {
        let mut s = Scratch::new();
        let (vpc, vsw_a, vsw_b, i_a, i_b) = lab(&mut s);
        let lb = create_lb(&mut s, &vpc, &vsw_a, &vsw_b, "Intranet");
        let a = ok(
            &mut s,
            "GetLoadBalancerAttribute",
            &[("LoadBalancerId", &lb)],
        );
        assert_eq!(a["LoadBalancerStatus"], "Active");
        assert_eq!(a["CrossZoneEnabled"], true);
        let zones = a["ZoneMappings"].as_array().unwrap();
        assert_eq!(zones.len(), 2);
        let addr = |z: &Value| {
            z["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(addr(&zones[1]), "10.0.2.100");
        // The allocated address is not the instance's.
        let inst_a = s
            .service
            .model()
            .instances
            .iter()
            .find(|i| i.id == i_a)
            .unwrap()
            .private_ip_address
            .unwrap();
        assert_ne!(addr(&zones[0]), inst_a.to_string());
        // A server group with both instances, one weighted 50.
        let g = ok(
            &mut s,
            "CreateServerGroup",
            &[
                ("VpcId", &vpc),
                ("ServerGroupName", "web"),
                ("Protocol", "TCP"),
                ("HealthCheckConfig.HealthCheckType", "HTTP"),
                ("HealthCheckConfig.HealthCheckUrl", "/health"),
            ],
        );
        let sgp = g["ServerGroupId"].as_str().unwrap().to_string();
        let add = ok(
            &mut s,
            "AddServersToServerGroup",
            &[
                ("ServerGroupId", &sgp),
                ("Servers.1.ServerId", &i_a),
                ("Servers.1.ServerType", "Ecs"),
                ("Servers.1.Port", "80"),
                ("Servers.2.ServerId", &i_b),
                ("Servers.2.ServerType", "Ecs"),
                ("Servers.2.Port", "80"),
                ("Servers.2.Weight", "50"),
            ],
        );
        let job = add["JobId"].as_str().unwrap().to_string();
        assert_eq!(
            ok(&mut s, "GetJobStatus", &[("JobId", &job)])["Status"],
            "Succeeded"
        );
        let servers = ok(&mut s, "ListServerGroupServers", &[("ServerGroupId", &sgp)]);
        assert_eq!(servers["TotalCount"], 2);
        assert_eq!(
            servers["Servers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["ServerId"] == i_b.as_str())
                .unwrap()["Weight"],
            50
        );
        assert_eq!(
            servers["Servers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["ServerId"] == i_b.as_str())
                .unwrap()["ZoneId"],
            "cn-hangzhou-b"
        );
        let l = ok(
            &mut s,
            "CreateListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerProtocol", "TCP"),
                ("ListenerPort", "80"),
                ("ServerGroupId", &sgp),
            ],
        );
        let lsn = l["ListenerId"].as_str().unwrap().to_string();
        // One listener per (load balancer, protocol, port).
        assert_eq!(
            code(
                &mut s,
                "CreateListener",
                &[
                    ("LoadBalancerId", &lb),
                    ("ListenerProtocol", "TCP"),
                    ("ListenerPort", "80"),
                    ("ServerGroupId", &sgp)
                ]
            ),
            "ResourceAlreadyExist.listener"
        );
        assert_eq!(
            code(&mut s, "DeleteServerGroup", &[("ServerGroupId", &sgp)]),
            "ResourceInUse.serverGroup"
        );
        ok(&mut s, "StopListener", &[("ListenerId", &lsn)]);
        assert_eq!(
            ok(&mut s, "GetListenerAttribute", &[("ListenerId", &lsn)])["ListenerStatus"],
            "Stopped"
        );
        assert_eq!(
            code(&mut s, "StopListener", &[("ListenerId", &lsn)]),
            "IncorrectStatus.listener"
        );
        ok(&mut s, "StartListener", &[("ListenerId", &lsn)]);
        let jobs = ok(&mut s, "ListAsynJobs", &[("JobIds.1", &job)]);
        assert_eq!(jobs["Jobs"][0]["Status"], "Succeeded");
        // Listeners and server groups have numbers for the datapath.
        assert!(s.service.model().numeric_ids.contains_key(&lsn));
        // Weight, then removal.
        ok(
            &mut s,
            "UpdateServerGroupServersAttribute",
            &[
                ("ServerGroupId", &sgp),
                ("Servers.1.ServerId", &i_a),
                ("Servers.1.ServerType", "Ecs"),
                ("Servers.1.Port", "80"),
                ("Servers.1.Weight", "0"),
            ],
        );
        ok(
            &mut s,
            "RemoveServersFromServerGroup",
            &[
                ("ServerGroupId", &sgp),
                ("Servers.1.ServerId", &i_b),
                ("Servers.1.ServerType", "Ecs"),
                ("Servers.1.Port", "80"),
            ],
        );
        let g = &s.service.model().server_groups[0];
        assert_eq!((g.servers.len(), g.servers[0].weight), (1, 0));
        // Deleting the load balancer deletes its listeners; the group can go then.
        ok(&mut s, "DeleteLoadBalancer", &[("LoadBalancerId", &lb)]);
        assert!(s.service.model().listeners.is_empty());
        ok(&mut s, "DeleteServerGroup", &[("ServerGroupId", &sgp)]);
        assert_eq!(
            code(
                &mut s,
                "GetLoadBalancerAttribute",
                &[("LoadBalancerId", &lb)]
            ),
            "ResourceNotFound.loadBalancer"
        );
    }

    #[test]
    fn nlb_internet_facing_zones_get_eips_released_with_the_load_balancer() {
        let mut s = Scratch::new();
        let (vpc, vsw_a, vsw_b, _, _) = lab(&mut s);
        let lb = create_lb(&mut s, &vpc, &vsw_a, &vsw_b, "Internet");
        let m = s.service.model();
        assert_eq!(m.eips.len(), 2);
        let eip = m.eips[0].id.clone();
        // Its EIPs are the NLB API's to change.
        assert_eq!(
            s.err("UnassociateEipAddress", &[("AllocationId", &eip)])
                .code,
            "InvalidInstanceType.ValueNotSupported"
        );
        assert_eq!(
            s.err("ReleaseEipAddress", &[("AllocationId", &eip)]).code,
            "IncorrectEipStatus"
        );
        let m = s.service.model();
        let l = m.load_balancer(&lb).unwrap();
        assert!(
            l.zone_mappings
                .iter()
                .all(|z| z.public_ipv4.is_some() && z.allocation_id.is_some())
        );
        // Leaving zone b frees its EIP; zone a keeps its addresses.
        let before = l.zone_mappings[0].clone();
        ok(
            &mut s,
            "UpdateLoadBalancerZones",
            &[
                ("LoadBalancerId", &lb),
                ("ZoneMappings.1.VSwitchId", &vsw_a),
                ("ZoneMappings.1.ZoneId", "cn-hangzhou-a"),
                ("ZoneMappings.2.VSwitchId", &vsw_b),
                ("ZoneMappings.2.ZoneId", "cn-hangzhou-b"),
            ],
        );
        assert_eq!(
            s.service.model().load_balancer(&lb).unwrap().zone_mappings[0],
            before
        );
        ok(&mut s, "DeleteLoadBalancer", &[("LoadBalancerId", &lb)]);
        assert!(s.service.model().eips.is_empty());
    }

    #[test]
    fn nlb_refusals_by_the_clouds_codes() {
        let mut s = Scratch::new();
        let (vpc, vsw_a, vsw_b, _, _) = lab(&mut s);
        let zones = |extra: &[(&'static str, &'static str)]| {
            let mut p: Vec<(&str, String)> = vec![
                ("AddressType", "Intranet".into()),
                ("VpcId", vpc.clone()),
                ("ZoneMappings.1.VSwitchId", vsw_a.clone()),
                ("ZoneMappings.1.ZoneId", "cn-hangzhou-a".into()),
                ("ZoneMappings.2.VSwitchId", vsw_b.clone()),
                ("ZoneMappings.2.ZoneId", "cn-hangzhou-b".into()),
            ];
            p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            p
        };
        let call = |s: &mut Scratch, p: Vec<(&str, String)>| {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            code(s, "CreateLoadBalancer", &p)
        };
        // One zone where the region has two.
        let mut one = zones(&[]);
        one.truncate(4);
        assert_eq!(call(&mut s, one), "IllegalParam.ZoneMappings");
        // One vSwitch per zone.
        let mut twice = zones(&[]);
        twice[4].1 = vsw_a.clone();
        twice[5].1 = "cn-hangzhou-a".into();
        assert_eq!(call(&mut s, twice), "IllegalParam.ZoneMappings.2.ZoneId");
        let mut wrong_zone = zones(&[]);
        wrong_zone[5].1 = "cn-hangzhou-a".into();
        assert_eq!(call(&mut s, wrong_zone), "Mismatch.ZoneId");
        assert_eq!(
            call(&mut s, zones(&[("AddressIpVersion", "DualStack")])),
            "UnsupportedParameter"
        );
        assert_eq!(
            call(
                &mut s,
                zones(&[("ZoneMappings.1.PrivateIPv4Address", "10.0.9.1")])
            ),
            "IllegalParam.ZoneMappings.1.PrivateIPv4Address"
        );
        let mut bad_type = zones(&[]);
        bad_type[0].1 = "Public".into();
        assert_eq!(call(&mut s, bad_type), "IllegalParam.AddressType");
        // DryRun: checked, nothing made.
        assert_eq!(
            call(&mut s, zones(&[("DryRun", "true")])),
            "DryRunOperation"
        );
        assert!(s.service.model().load_balancers.is_empty());
        // Server groups.
        let g = |p: &'static str| {
            vec![
                ("VpcId", vpc.as_str()),
                ("ServerGroupName", "g1"),
                ("Protocol", p),
            ]
        };
        assert_eq!(
            code(&mut s, "CreateServerGroup", &g("TCPSSL")),
            "UnsupportedParameter"
        );
        assert_eq!(
            code(&mut s, "CreateServerGroup", &g("HTTP")),
            "IllegalParam.Protocol"
        );
        let mut any_port = g("TCP");
        any_port.push(("AnyPortEnabled", "true"));
        assert_eq!(
            code(&mut s, "CreateServerGroup", &any_port),
            "UnsupportedParameter"
        );
        let mut no_client_ip = g("TCP");
        no_client_ip.push(("PreserveClientIpEnabled", "false"));
        assert_eq!(
            code(&mut s, "CreateServerGroup", &no_client_ip),
            "UnsupportedParameter"
        );
        let mut interval = g("TCP");
        interval.push(("HealthCheckConfig.HealthCheckInterval", "51"));
        assert_eq!(
            code(&mut s, "CreateServerGroup", &interval),
            "IllegalParam.HealthCheckConfig.HealthCheckInterval"
        );
        let mut udp = g("UDP");
        udp.push(("ServerGroupType", "Ip"));
        let sgp = ok(&mut s, "CreateServerGroup", &udp)["ServerGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        let add = |ip: &'static str, w: &'static str| {
            vec![
                ("ServerGroupId", sgp.clone()),
                ("Servers.1.ServerId", ip.into()),
                ("Servers.1.ServerType", "Ip".into()),
                ("Servers.1.Port", "53".into()),
                ("Servers.1.Weight", w.into()),
            ]
        };
        let run = |s: &mut Scratch, p: Vec<(&str, String)>| {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            code(s, "AddServersToServerGroup", &p)
        };
        assert_eq!(
            run(&mut s, add("10.0.1.20", "101")),
            "IllegalParam.Servers.1.Weight"
        );
        assert_eq!(
            run(&mut s, add("192.168.0.1", "1")),
            "IllegalParam.Servers.1.ServerIp"
        );
        assert_eq!(
            code(&mut s, "GetJobStatus", &[("JobId", "nope")]),
            "ResourceNotFound.job"
        );
        // A UDP group behind a TCP listener.
        let r = ok(
            &mut s,
            "CreateLoadBalancer",
            &zones(&[])
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        let lb = r["LoadbalancerId"].as_str().unwrap();
        assert_eq!(
            code(
                &mut s,
                "CreateListener",
                &[
                    ("LoadBalancerId", lb),
                    ("ListenerProtocol", "TCP"),
                    ("ListenerPort", "53"),
                    ("ServerGroupId", &sgp)
                ]
            ),
            "Mismatch.Protocol"
        );
        assert_eq!(
            code(
                &mut s,
                "CreateListener",
                &[
                    ("LoadBalancerId", lb),
                    ("ListenerProtocol", "UDP"),
                    ("ListenerPort", "53"),
                    ("ServerGroupId", &sgp),
                    ("CertificateIds.1", "c")
                ]
            ),
            "UnsupportedParameter"
        );
    }

    #[test]
    fn nlb_client_token_answers_a_retry_with_the_same_job() {
        let mut s = Scratch::new();
        let (vpc, ..) = lab(&mut s);
        let p = [
            ("VpcId", vpc.as_str()),
            ("ServerGroupName", "g1"),
            ("ClientToken", "t-1"),
        ];
        let a = ok(&mut s, "CreateServerGroup", &p);
        let b = ok(&mut s, "CreateServerGroup", &p);
        assert_eq!(a, b);
        assert_eq!(s.service.model().server_groups.len(), 1);
    }

    #[test]
    fn nlb_tags_through_the_nlb_api() {
        let mut s = Scratch::new();
        let (vpc, ..) = lab(&mut s);
        let sgp = ok(
            &mut s,
            "CreateServerGroup",
            &[
                ("VpcId", &vpc),
                ("ServerGroupName", "g1"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
            ],
        )["ServerGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        ok(
            &mut s,
            "TagResources",
            &[
                ("ResourceType", "servergroup"),
                ("ResourceId.1", &sgp),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "net"),
            ],
        );
        let t = ok(
            &mut s,
            "ListTagResources",
            &[("ResourceType", "servergroup"), ("ResourceId.1", &sgp)],
        );
        assert_eq!(t["TotalCount"], 2);
        let listed = ok(
            &mut s,
            "ListServerGroups",
            &[("Tag.1.Key", "team"), ("Tag.1.Value", "net")],
        );
        assert_eq!(listed["ServerGroups"][0]["ServerGroupId"], sgp.as_str());
        ok(
            &mut s,
            "UntagResources",
            &[
                ("ResourceType", "servergroup"),
                ("ResourceId.1", &sgp),
                ("All", "true"),
            ],
        );
        assert!(s.service.model().server_groups[0].meta.tags.is_empty());
        assert_eq!(
            code(
                &mut s,
                "TagResources",
                &[
                    ("ResourceType", "securitypolicy"),
                    ("ResourceId.1", "x"),
                    ("Tag.1.Key", "a")
                ]
            ),
            "UnsupportedParameter"
        );
    }

    #[test]
    fn nlb_dependencies_of_vswitches_vpcs_groups_and_instances() {
        let mut s = Scratch::new();
        let (vpc, vsw_a, vsw_b, i_a, _) = lab(&mut s);
        let lb = create_lb(&mut s, &vpc, &vsw_a, &vsw_b, "Intranet");
        let sg = s.ok(
            "CreateSecurityGroup",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)],
        )["SecurityGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        ok(
            &mut s,
            "LoadBalancerJoinSecurityGroup",
            &[("LoadBalancerId", &lb), ("SecurityGroupIds.1", &sg)],
        );
        assert_eq!(
            s.err(
                "DeleteSecurityGroup",
                &[("RegionId", "cn-hangzhou"), ("SecurityGroupId", &sg)]
            )
            .code,
            "DependencyViolation"
        );
        let sgp = ok(
            &mut s,
            "CreateServerGroup",
            &[("VpcId", &vpc), ("ServerGroupName", "web")],
        )["ServerGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        ok(
            &mut s,
            "AddServersToServerGroup",
            &[
                ("ServerGroupId", &sgp),
                ("Servers.1.ServerId", &i_a),
                ("Servers.1.ServerType", "Ecs"),
                ("Servers.1.Port", "80"),
            ],
        );
        // A released instance leaves its server groups.
        s.ok("DeleteInstance", &[("InstanceId", &i_a), ("Force", "true")]);
        assert!(s.service.model().server_groups[0].servers.is_empty());
        ok(&mut s, "DeleteLoadBalancer", &[("LoadBalancerId", &lb)]);
        assert_eq!(
            s.err("DeleteVpc", &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)])
                .code,
            "DependencyViolation.VSwitch"
        );
        let lb = create_lb(&mut s, &vpc, &vsw_a, &vsw_b, "Intranet");
        assert_eq!(
            s.err(
                "DeleteVSwitch",
                &[("RegionId", "cn-hangzhou"), ("VSwitchId", &vsw_a)]
            )
            .code,
            "DependencyViolation.LoadBalancer"
        );
        ok(&mut s, "DeleteLoadBalancer", &[("LoadBalancerId", &lb)]);
    }
}
