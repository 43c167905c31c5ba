//! The API's actions over the durable model: each call reads a snapshot or
//! changes a draft of the model; a change is validated and compiled, then
//! committed to the store (on disk before the reply), then converged into
//! the kernel. A change the kernel refuses is rolled back on disk too.
//!
//! One [`Service`] is shared by every connection behind one lock: calls are
//! serialised, so parallel clients never see or leave torn state.
mod compute;
mod eip;
mod ipv4_gateway;
mod nat_gateway;
mod network_acl;
mod route_table;
mod security_group;
mod vpc;
mod vswitch;

use serde_json::{Value, json};

use crate::{
    api::{ApiError, Caller, params::Params},
    apply::{self, Router},
    model::{Meta, Model},
    stats,
    store::Store,
};

/// Default RegionId of resources created without one.
pub const DEFAULT_REGION_ID: &str = "cn-hangzhou";

/// A handler: reads its parameters, works on the draft, returns the body.
type Handler = fn(&mut Draft, &Params) -> Result<Value, ApiError>;

/// One action of the API.
struct ActionSpec {
    /// Action name as the cloud spells it.
    name: &'static str,
    /// True if the action changes the model.
    mutates: bool,
    /// The handler.
    handler: Handler,
}

const fn read(name: &'static str, handler: Handler) -> ActionSpec {
    ActionSpec { name, mutates: false, handler }
}

const fn write(name: &'static str, handler: Handler) -> ActionSpec {
    ActionSpec { name, mutates: true, handler }
}

/// Every action served, VPC API (2016-04-28) and ECS API (2014-05-26).
const ACTIONS: &[ActionSpec] = &[
    write("CreateVpc", vpc::create),
    write("DeleteVpc", vpc::delete),
    read("DescribeVpcs", vpc::describe),
    write("ModifyVpcAttribute", vpc::modify),
    write("CreateVSwitch", vswitch::create),
    write("DeleteVSwitch", vswitch::delete),
    read("DescribeVSwitches", vswitch::describe),
    write("ModifyVSwitchAttribute", vswitch::modify),
    write("CreateRouteTable", route_table::create),
    write("DeleteRouteTable", route_table::delete),
    write("AssociateRouteTable", route_table::associate),
    write("UnassociateRouteTable", route_table::unassociate),
    write("CreateRouteEntry", route_table::create_entry),
    write("DeleteRouteEntry", route_table::delete_entry),
    write("CreateRouteEntries", route_table::create_entries),
    write("DeleteRouteEntries", route_table::delete_entries),
    read("DescribeRouteTableList", route_table::describe),
    read("DescribeRouteEntryList", route_table::describe_entries),
    write("RunInstances", compute::run_instances),
    write("DeleteInstance", compute::delete_instance),
    read("DescribeInstances", compute::describe_instances),
    write("ModifyNetworkInterfaceAttribute", compute::modify_eni),
    read("DescribeNetworkInterfaces", compute::describe_enis),
    write("CreateSecurityGroup", security_group::create),
    write("DeleteSecurityGroup", security_group::delete),
    write("AuthorizeSecurityGroup", security_group::authorize_ingress),
    write("AuthorizeSecurityGroupEgress", security_group::authorize_egress),
    write("RevokeSecurityGroup", security_group::revoke_ingress),
    write("RevokeSecurityGroupEgress", security_group::revoke_egress),
    write("ModifySecurityGroupPolicy", security_group::modify_policy),
    read("DescribeSecurityGroups", security_group::describe),
    read("DescribeSecurityGroupAttribute", security_group::describe_attribute),
    write("JoinSecurityGroup", security_group::join),
    write("LeaveSecurityGroup", security_group::leave),
    write("CreateNetworkAcl", network_acl::create),
    write("DeleteNetworkAcl", network_acl::delete),
    write("UpdateNetworkAclEntries", network_acl::update_entries),
    write("AssociateNetworkAcl", network_acl::associate),
    write("UnassociateNetworkAcl", network_acl::unassociate),
    read("DescribeNetworkAcls", network_acl::describe),
    read("DescribeNetworkAclAttributes", network_acl::describe_attributes),
    write("AllocateEipAddress", eip::allocate),
    write("AssociateEipAddress", eip::associate),
    write("UnassociateEipAddress", eip::unassociate),
    write("ReleaseEipAddress", eip::release),
    read("DescribeEipAddresses", eip::describe),
    write("CreateIpv4Gateway", ipv4_gateway::create),
    write("EnableVpcIpv4Gateway", ipv4_gateway::enable),
    read("ListIpv4Gateways", ipv4_gateway::list),
    read("GetIpv4GatewayAttribute", ipv4_gateway::get),
    write("UpdateIpv4GatewayAttribute", ipv4_gateway::update),
    write("DeleteIpv4Gateway", ipv4_gateway::delete),
    write("AssociateRouteTableWithGateway", ipv4_gateway::associate_route_table),
    write("DissociateRouteTableFromGateway", ipv4_gateway::dissociate_route_table),
    read("ListGatewayRouteTableEntries", ipv4_gateway::list_entries),
    write("UpdateGatewayRouteTableEntryAttribute", ipv4_gateway::update_entry),
    write("CreateNatGateway", nat_gateway::create),
    write("DeleteNatGateway", nat_gateway::delete),
    read("DescribeNatGateways", nat_gateway::describe),
    write("CreateSnatEntry", nat_gateway::create_snat),
    write("DeleteSnatEntry", nat_gateway::delete_snat),
    read("DescribeSnatTableEntries", nat_gateway::describe_snat),
];

/// Names of every action served.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().map(|a| a.name).chain(["DescribeRouterStats"])
}

/// The model being read or changed by one call, and who is calling.
pub struct Draft<'a> {
    /// The model (a copy until committed).
    pub model: Model,
    /// The caller.
    pub caller: &'a Caller,
    /// RegionId for resources created without one.
    pub region_id: &'a str,
}

impl Draft<'_> {
    /// Metadata for a resource created now by the caller.
    pub fn meta(&self, p: &Params) -> Meta {
        Meta {
            description: p.get("Description").unwrap_or_default().to_string(),
            owner_id: self.caller.account_id.clone(),
            region_id: p.str("RegionId").unwrap_or(self.region_id).to_string(),
            creation_time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// Index of the VPC `id` the caller may see, or `InvalidVpcId.NotFound`.
    pub fn vpc_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .vpcs
            .iter()
            .position(|v| v.id == id && self.caller.owns(&v.meta.owner_id))
            .ok_or_else(|| ApiError::not_found("InvalidVpcId.NotFound", format!("The specified VPC {id} does not exist.")))
    }

    /// Index of the vSwitch `id`, or `InvalidVSwitchId.NotFound`.
    pub fn vswitch_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .vswitches
            .iter()
            .position(|v| v.id == id && self.caller.owns(&v.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found("InvalidVSwitchId.NotFound", format!("The specified vSwitch {id} does not exist."))
            })
    }

    /// Index of the route table `id`, or `InvalidRouteTableId.NotFound`.
    pub fn route_table_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .route_tables
            .iter()
            .position(|t| t.id == id && self.caller.owns(&t.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found("InvalidRouteTableId.NotFound", format!("The specified route table {id} does not exist."))
            })
    }

    /// Index of the instance `id`, or `InvalidInstanceId.NotFound`.
    pub fn instance_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .instances
            .iter()
            .position(|i| i.id == id && self.caller.owns(&i.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found("InvalidInstanceId.NotFound", format!("The specified instance {id} does not exist."))
            })
    }

    /// True if the caller may see a resource with this metadata, in the
    /// region asked for (if any).
    pub fn visible(&self, meta: &Meta, p: &Params) -> bool {
        self.caller.owns(&meta.owner_id) && p.str("RegionId").is_none_or(|r| r == meta.region_id)
    }
}

/// The account id as the number the VPC API's `OwnerId` fields carry.
pub fn owner_id(meta: &Meta) -> Value {
    meta.owner_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(meta.owner_id.clone()))
}

/// One page of `items` by `PageNumber` (from 1) and `PageSize` (default 10,
/// at most `max`), with the cloud's paging fields.
pub fn page<T>(p: &Params, items: Vec<T>, max: u64) -> Result<(Vec<T>, Value), ApiError> {
    let number = p.int_in("PageNumber", 1..=u32::MAX as u64, 1)?;
    let size = p.int_in("PageSize", 1..=max, 10)?;
    let total = items.len();
    let start = ((number - 1) * size) as usize;
    let out: Vec<T> = items.into_iter().skip(start).take(size as usize).collect();
    Ok((out, json!({ "TotalCount": total, "PageNumber": number, "PageSize": size })))
}

/// Merges paging fields into a response object.
pub fn with(mut body: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The state store could not be opened or read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored model could not be brought into the kernel.
    #[error("rebuilding the datapath from the stored state failed: {0}")]
    Apply(#[from] apply::ApplyError),
}

/// The API's state: the model, its store and the router it drives.
pub struct Service {
    model: Model,
    store: Store,
    router: Option<Router>,
    region_id: String,
}

impl Service {
    /// Opens the store and, with a router, rebuilds the kernel state (maps,
    /// ports) from the stored model: pinned maps keep forwarding meanwhile.
    pub fn open(store: Store, router: Option<Router>, region_id: &str) -> Result<Self, ServiceError> {
        let mut model = store.load()?.unwrap_or_default();
        if let Some(r) = &router {
            model.router.namespace = r.namespace().to_string();
        }
        let mut service = Self { model, store, router, region_id: region_id.to_string() };
        if let Some(r) = &mut service.router {
            r.converge(&service.model)?;
        }
        Ok(service)
    }

    /// The committed model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The router, if this service drives one.
    pub fn router_mut(&mut self) -> Option<&mut Router> {
        self.router.as_mut()
    }

    /// The router, if this service drives one.
    pub fn router(&self) -> Option<&Router> {
        self.router.as_ref()
    }

    /// Runs one action. The body returned lacks the RequestId (the server
    /// adds it). Errors change nothing.
    pub fn call(&mut self, action: &str, p: &Params, caller: &Caller) -> Result<Value, ApiError> {
        if action == "DescribeRouterStats" {
            p.accept(&["RegionId"]);
            p.finish(action)?;
            let router = self.router.as_ref().ok_or_else(|| ApiError::internal("this service drives no router"))?;
            let s = stats::of(router)?;
            return serde_json::to_value(&s).map_err(ApiError::internal);
        }
        let spec = ACTIONS.iter().find(|a| a.name == action).ok_or_else(|| {
            ApiError::not_found("InvalidAction.NotFound", format!("Specified api {action:?} is not found, please check your url and method."))
        })?;
        let dry_run = p.bool("DryRun")?.unwrap_or(false);
        p.accept(&["RegionId", "ClientToken", "OwnerAccount", "OwnerId", "ResourceOwnerAccount", "ResourceOwnerId", "ResourceGroupId"]);
        let mut draft = Draft { model: self.model.clone(), caller, region_id: &self.region_id };
        let body = (spec.handler)(&mut draft, p)?;
        p.finish(action)?;
        if !spec.mutates {
            return if dry_run { Err(ApiError::dry_run_passed()) } else { Ok(body) };
        }
        let next = draft.model.with_system_route_tables();
        let started = std::time::Instant::now();
        crate::validate::validate(&next)?;
        let validated = started.elapsed();
        // Compiled once: against the router's ports (or only checked, when
        // the change needs a new port, or there is no router).
        let prepared = match &mut self.router {
            Some(r) => Some(r.prepare(&next)?),
            None => {
                apply::check_compiles(&next)?;
                None
            }
        };
        let compiled = started.elapsed();
        if dry_run {
            return Err(ApiError::dry_run_passed());
        }
        self.commit(next, prepared)?;
        tracing::debug!(
            action,
            validate_ms = validated.as_secs_f64() * 1e3,
            compile_ms = (compiled - validated).as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - compiled).as_secs_f64() * 1e3,
            "change committed"
        );
        Ok(body)
    }

    /// Writes `next` to disk, then into the kernel; on a kernel failure the
    /// previous model is restored on disk and in the kernel.
    fn commit(&mut self, next: Model, prepared: Option<apply::Prepared>) -> Result<(), ApiError> {
        self.store.save(&self.model, &next)?;
        if let (Some(r), Some(prepared)) = (&mut self.router, prepared)
            && let Err(e) = r.install(&next, prepared)
        {
            tracing::error!(error = %e, "converging the kernel failed; rolling back");
            self.store.save(&next, &self.model)?;
            if let Err(e2) = r.converge(&self.model) {
                tracing::error!(error = %e2, "rolling the kernel back failed");
            }
            return Err(e.into());
        }
        self.model = next;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A service on a scratch store, without a kernel.
    pub struct Scratch {
        pub service: Service,
        dir: std::path::PathBuf,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Scratch {
        pub fn new() -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "vpc-service-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let store = Store::open(&dir).unwrap();
            Self { service: Service::open(store, None, DEFAULT_REGION_ID).unwrap(), dir }
        }

        pub fn call_as(&mut self, caller: &Caller, action: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
            let p = Params::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
            self.service.call(action, &p, caller)
        }

        pub fn call(&mut self, action: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
            self.call_as(&Caller { account_id: "1000000000000001".into(), admin: false }, action, params)
        }

        pub fn ok(&mut self, action: &str, params: &[(&str, &str)]) -> Value {
            self.call(action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }

        pub fn err(&mut self, action: &str, params: &[(&str, &str)]) -> ApiError {
            match self.call(action, params) {
                Ok(v) => panic!("{action} should fail, returned {v}"),
                Err(e) => e,
            }
        }

        /// A VPC 10.0.0.0/16 with vSwitch 10.0.1.0/24; returns (vpc, vsw).
        pub fn vpc_with_vswitch(&mut self) -> (String, String) {
            let vpc = self.ok("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16"), ("VpcName", "lab")]);
            let vpc_id = vpc["VpcId"].as_str().unwrap().to_string();
            let vsw = self.ok("CreateVSwitch", &[("VpcId", &vpc_id), ("ZoneId", "lab-a"), ("CidrBlock", "10.0.1.0/24")]);
            (vpc_id, vsw["VSwitchId"].as_str().unwrap().to_string())
        }
    }

    #[test]
    fn unknown_action_is_404() {
        let mut s = Scratch::new();
        let e = s.err("CreateUniverse", &[]);
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidAction.NotFound"));
    }

    #[test]
    fn vpc_1_dry_run_validates_and_changes_nothing() {
        let mut s = Scratch::new();
        let e = s.err("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16"), ("DryRun", "True")]);
        assert_eq!(e.code, "DryRunOperation");
        assert!(s.service.model().vpcs.is_empty());
        let e = s.err("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/33"), ("DryRun", "true")]);
        assert_eq!(e.code, "InvalidCidrBlock.Malformed");
    }

    #[test]
    fn unknown_parameter_changes_nothing() {
        let mut s = Scratch::new();
        let e = s.err("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16"), ("CidrBlok", "x")]);
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("CidrBlok"), "{e:?}");
        assert!(s.service.model().vpcs.is_empty());
    }

    #[test]
    fn vpc_1_state_survives_reopen() {
        let mut s = Scratch::new();
        let (vpc_id, _) = s.vpc_with_vswitch();
        let model = s.service.model().clone();
        // Swap in a service on another store so the first one's lock is
        // released, then reopen the first store.
        let other = Store::open(&s.dir.join("other")).unwrap();
        drop(std::mem::replace(&mut s.service, Service::open(other, None, DEFAULT_REGION_ID).unwrap()));
        let reopened = Service::open(Store::open(&s.dir).unwrap(), None, DEFAULT_REGION_ID).unwrap();
        assert_eq!(reopened.model(), &model);
        assert!(reopened.model().vpc(&vpc_id).is_some());
    }

    #[test]
    fn accounts_do_not_see_each_others_resources() {
        let mut s = Scratch::new();
        let (vpc_id, _) = s.vpc_with_vswitch();
        let other = Caller { account_id: "1000000000000002".into(), admin: false };
        let v = s.call_as(&other, "DescribeVpcs", &[("RegionId", "cn-hangzhou")]).unwrap();
        assert_eq!(v["TotalCount"], 0);
        let e = s.call_as(&other, "DeleteVpc", &[("VpcId", &vpc_id)]).unwrap_err();
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        let admin = Caller { account_id: "0".into(), admin: true };
        let v = s.call_as(&admin, "DescribeVpcs", &[("RegionId", "cn-hangzhou")]).unwrap();
        assert_eq!(v["TotalCount"], 1);
    }
}
