//! The API's actions over the durable model: each call reads a snapshot or
//! changes a draft of the model; a change is validated and compiled,
//! installed into the kernel, then committed to the store; its answer is
//! given only once the change is on disk ([`Pending`]).
//!
//! One [`Service`] is shared by every connection behind one lock: calls are
//! serialised, so parallel clients never see or leave torn state. The wait
//! for the disk happens after the lock is released: the store's flusher
//! makes every change committed meanwhile durable with one fsync (group
//! commit, see [`crate::store`]).
//!
//! **Kernel before disk.** The kernel may run a change before it is
//! durable (and a reader of the kernel, or a packet, may see it). If the
//! daemon dies before the flush, the change was never acknowledged; the
//! restart loads the last durable model and converges the kernel to it,
//! undoing the change there too. The API never shows such a change: every
//! answer, reads included, waits until what it saw is durable.
//!
//! **ClientToken.** A mutating call that succeeds with a `ClientToken`
//! records {account, action, token} -> {digest of its parameters, answer}
//! in the same store transaction as its change; a retry with the same
//! parameters gets the recorded answer and changes nothing, other
//! parameters are refused with `IdempotentParameterMismatch`. Records are
//! kept [`crate::store::CLIENT_TOKEN_TTL_SECS`].
mod compute;
mod eip;
#[cfg(test)]
mod fuzz;
mod gateway_endpoint;
mod input;
mod ipv4_gateway;
mod nat_gateway;
mod network_acl;
mod nlb;
mod private_zone;
pub(crate) mod paging;
pub(crate) mod params;
mod prefix_list;
mod privatelink;
pub mod quota;
mod region;
mod route_table;
mod security_group;
mod tag;
mod tagging;
mod vpc;
mod vswitch;

pub use paging::{PageInfo, paginate};

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    api::{
        ApiError, Caller, Product,
        form::{Decoded, Form, field_names},
    },
    apply::{self, Router},
    model::{Meta, Model},
    stats,
    store::{Durable, Seq, StateStore, TokenKey, TokenRecord, unix_now},
};

/// An answer with nothing but the RequestId.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// Default RegionId of resources created without one.
pub const DEFAULT_REGION_ID: &str = "cn-hangzhou";

/// Parameters of the call itself, never an action's: the action and its
/// version, the answer's format.
pub const ENVELOPE: &[&str] = &["Action", "Version", "Format"];

/// Parameters every action of these products takes, read once for all of
/// them ([`Draft::common`]). `RegionId` selects the region a resource is
/// made in or a list is filtered by; `DryRun` validates without changing
/// anything. `ClientToken`, `OwnerId`, `OwnerAccount`, `ResourceOwnerId`,
/// `ResourceOwnerAccount` and `ResourceGroupId` are accepted as the cloud
/// accepts them from a caller acting for itself.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Common {
    /// The region of the call.
    pub region_id: Option<String>,
    /// Validate only: the answer is `DryRunOperation` when the call would
    /// have succeeded.
    pub dry_run: Option<bool>,
    /// The caller's idempotency token.
    pub client_token: Option<String>,
    /// The caller's account id (must be the caller's own).
    pub owner_id: Option<String>,
    /// The caller's account name.
    pub owner_account: Option<String>,
    /// The resource owner's account id.
    pub resource_owner_id: Option<String>,
    /// The resource owner's account name.
    pub resource_owner_account: Option<String>,
    /// The resource group.
    pub resource_group_id: Option<String>,
}

/// One action of the API as a type: its request is decoded from the call's
/// parameters by serde (field names are the cloud's parameter names), its
/// answer serialised with the cloud's field names.
pub trait Action: DeserializeOwned + 'static {
    /// The action's name as the cloud spells it.
    const NAME: &'static str;
    /// The API product (and version) that serves it.
    const PRODUCT: Product;
    /// True if the action changes the model.
    const MUTATES: bool;
    /// One line on what the action does, for `vpc <Action> --help`.
    const SUMMARY: &'static str;
    /// The answer (without RequestId).
    type Response: Serialize;
    /// Runs the action on the draft.
    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError>;
}

/// An action's request type, erased: decode and run, list its parameters,
/// tell a refused one.
#[derive(Clone, Copy)]
struct Run {
    call: fn(&mut Draft, &Form) -> Result<Value, ApiError>,
    fields: fn() -> &'static [&'static str],
    refuses: fn(&str) -> bool,
}

/// One action of the API.
pub struct ActionSpec {
    /// Action name as the cloud spells it.
    pub name: &'static str,
    /// The product serving it.
    pub product: Product,
    /// True if the action changes the model.
    pub mutates: bool,
    /// One line on what it does.
    pub summary: &'static str,
    run: Run,
}

impl ActionSpec {
    /// The parameter names the action takes besides the common ones
    /// (empty for an action not yet typed).
    pub fn parameters(&self) -> &'static [&'static str] {
        (self.run.fields)()
    }

    /// True if the action refuses `parameter` whatever its value (a
    /// parameter of the SDK model this router does not implement).
    pub fn refuses(&self, parameter: &str) -> bool {
        (self.run.refuses)(parameter)
    }
}

/// True if decoding `A` with `parameter` alone fails as unsupported.
fn refuses<A: Action>(parameter: &str) -> bool {
    Form::from_pairs([(parameter.to_string(), "1".to_string())])
        .and_then(|f| f.decode::<A>(&[]).map(|_| ()))
        .is_err_and(|e| e.code == "UnsupportedParameter")
}

/// The parameters every action takes ([`Common`]).
pub fn common_parameters() -> &'static [&'static str] {
    field_names::<Common>()
}

/// Decodes `A`'s request from the form, refuses (in strict mode) or logs
/// the parameters it does not have, runs it.
fn run_typed<A: Action>(d: &mut Draft, form: &Form) -> Result<Value, ApiError> {
    let mut skip: Vec<&str> = ENVELOPE.to_vec();
    skip.extend_from_slice(field_names::<Common>());
    let Decoded { request, unknown } = form.decode::<A>(&skip)?;
    d.unknown_parameters(A::NAME, unknown)?;
    if A::MUTATES {
        input::check_texts(A::PRODUCT, A::NAME, form)?;
    }
    let response = request.run(d)?;
    serde_json::to_value(response).map_err(ApiError::internal)
}

const fn typed<A: Action>() -> ActionSpec {
    ActionSpec {
        name: A::NAME,
        product: A::PRODUCT,
        mutates: A::MUTATES,
        summary: A::SUMMARY,
        run: Run {
            call: run_typed::<A>,
            fields: field_names::<A>,
            refuses: refuses::<A>,
        },
    }
}

/// Every action served, by product: the VPC API (2016-04-28), the ECS
/// API (2014-05-26), the NLB API (2022-04-30) and the PrivateLink API
/// (2020-04-15). An action is served only under its product's version.
pub const ACTIONS: &[ActionSpec] = &[
    typed::<vpc::CreateVpc>(),
    typed::<vpc::DeleteVpc>(),
    typed::<vpc::DescribeVpcs>(),
    typed::<vpc::ModifyVpcAttribute>(),
    typed::<vpc::DescribeVpcAttribute>(),
    typed::<tagging::TagResources>(),
    typed::<tagging::UnTagResources>(),
    typed::<tagging::ListTagResources>(),
    typed::<tagging::EcsTagResources>(),
    typed::<tagging::UntagResources>(),
    typed::<tagging::EcsListTagResources>(),
    typed::<region::DescribeRegions>(),
    typed::<region::EcsDescribeRegions>(),
    typed::<region::DescribeZones>(),
    typed::<region::EcsDescribeZones>(),
    typed::<vswitch::CreateVSwitch>(),
    typed::<vswitch::DeleteVSwitch>(),
    typed::<vswitch::DescribeVSwitches>(),
    typed::<vswitch::DescribeVSwitchAttributes>(),
    typed::<vswitch::ModifyVSwitchAttribute>(),
    typed::<route_table::CreateRouteTable>(),
    typed::<route_table::DeleteRouteTable>(),
    typed::<route_table::AssociateRouteTable>(),
    typed::<route_table::UnassociateRouteTable>(),
    typed::<route_table::CreateRouteEntry>(),
    typed::<route_table::DeleteRouteEntry>(),
    typed::<route_table::CreateRouteEntries>(),
    typed::<route_table::DeleteRouteEntries>(),
    typed::<route_table::DescribeRouteTableList>(),
    typed::<route_table::DescribeRouteEntryList>(),
    typed::<compute::RunInstances>(),
    typed::<compute::DeleteInstance>(),
    typed::<compute::DescribeInstances>(),
    typed::<compute::ModifyInstanceAttribute>(),
    typed::<compute::ModifyInstanceChargeType>(),
    typed::<compute::DescribeUserData>(),
    typed::<compute::DescribeDisks>(),
    typed::<compute::ModifyNetworkInterfaceAttribute>(),
    typed::<compute::DescribeNetworkInterfaces>(),
    typed::<ipv4_gateway::CreateIpv4Gateway>(),
    typed::<ipv4_gateway::EnableVpcIpv4Gateway>(),
    typed::<ipv4_gateway::ListIpv4Gateways>(),
    typed::<ipv4_gateway::GetIpv4GatewayAttribute>(),
    typed::<ipv4_gateway::UpdateIpv4GatewayAttribute>(),
    typed::<ipv4_gateway::DeleteIpv4Gateway>(),
    typed::<ipv4_gateway::AssociateRouteTableWithGateway>(),
    typed::<ipv4_gateway::DissociateRouteTableFromGateway>(),
    typed::<ipv4_gateway::ListGatewayRouteTableEntries>(),
    typed::<ipv4_gateway::UpdateGatewayRouteTableEntryAttribute>(),
    typed::<nat_gateway::CreateNatGateway>(),
    typed::<nat_gateway::DeleteNatGateway>(),
    typed::<nat_gateway::DescribeNatGateways>(),
    typed::<nat_gateway::CreateSnatEntry>(),
    typed::<nat_gateway::DeleteSnatEntry>(),
    typed::<nat_gateway::DescribeSnatTableEntries>(),
    typed::<network_acl::CreateNetworkAcl>(),
    typed::<network_acl::DeleteNetworkAcl>(),
    typed::<network_acl::UpdateNetworkAclEntries>(),
    typed::<network_acl::AssociateNetworkAcl>(),
    typed::<network_acl::UnassociateNetworkAcl>(),
    typed::<network_acl::DescribeNetworkAcls>(),
    typed::<network_acl::DescribeNetworkAclAttributes>(),
    typed::<eip::AllocateEipAddress>(),
    typed::<eip::AssociateEipAddress>(),
    typed::<eip::UnassociateEipAddress>(),
    typed::<eip::ReleaseEipAddress>(),
    typed::<eip::DescribeEipAddresses>(),
    typed::<security_group::CreateSecurityGroup>(),
    typed::<security_group::DeleteSecurityGroup>(),
    typed::<security_group::ModifySecurityGroupAttribute>(),
    typed::<security_group::AuthorizeSecurityGroup>(),
    typed::<security_group::AuthorizeSecurityGroupEgress>(),
    typed::<security_group::RevokeSecurityGroup>(),
    typed::<security_group::RevokeSecurityGroupEgress>(),
    typed::<security_group::ModifySecurityGroupRule>(),
    typed::<security_group::ModifySecurityGroupEgressRule>(),
    typed::<security_group::ModifySecurityGroupPolicy>(),
    typed::<security_group::DescribeSecurityGroups>(),
    typed::<security_group::DescribeSecurityGroupAttribute>(),
    typed::<security_group::JoinSecurityGroup>(),
    typed::<security_group::LeaveSecurityGroup>(),
    typed::<prefix_list::ListPrefixLists>(),
    typed::<prefix_list::CreateVpcPrefixList>(),
    typed::<prefix_list::ModifyVpcPrefixList>(),
    typed::<prefix_list::DeleteVpcPrefixList>(),
    typed::<prefix_list::GetVpcPrefixListEntries>(),
    typed::<prefix_list::GetVpcPrefixListAssociations>(),
    typed::<gateway_endpoint::ListVpcEndpointServicesByEndUser>(),
    typed::<gateway_endpoint::CreateVpcGatewayEndpoint>(),
    typed::<gateway_endpoint::ListVpcGatewayEndpoints>(),
    typed::<gateway_endpoint::GetVpcGatewayEndpointAttribute>(),
    typed::<gateway_endpoint::UpdateVpcGatewayEndpointAttribute>(),
    typed::<gateway_endpoint::AssociateRouteTablesWithVpcGatewayEndpoint>(),
    typed::<gateway_endpoint::DissociateRouteTablesFromVpcGatewayEndpoint>(),
    typed::<gateway_endpoint::DeleteVpcGatewayEndpoint>(),
    typed::<nlb::load_balancer::CreateLoadBalancer>(),
    typed::<nlb::load_balancer::GetLoadBalancerAttribute>(),
    typed::<nlb::load_balancer::ListLoadBalancers>(),
    typed::<nlb::load_balancer::DeleteLoadBalancer>(),
    typed::<nlb::load_balancer::UpdateLoadBalancerZones>(),
    typed::<nlb::load_balancer::LoadBalancerJoinSecurityGroup>(),
    typed::<nlb::load_balancer::LoadBalancerLeaveSecurityGroup>(),
    typed::<nlb::server_group::CreateServerGroup>(),
    typed::<nlb::server_group::AddServersToServerGroup>(),
    typed::<nlb::server_group::RemoveServersFromServerGroup>(),
    typed::<nlb::server_group::UpdateServerGroupServersAttribute>(),
    typed::<nlb::server_group::ListServerGroups>(),
    typed::<nlb::server_group::ListServerGroupServers>(),
    typed::<nlb::server_group::DeleteServerGroup>(),
    typed::<nlb::listener::CreateListener>(),
    typed::<nlb::listener::StartListener>(),
    typed::<nlb::listener::StopListener>(),
    typed::<nlb::listener::ListListeners>(),
    typed::<nlb::listener::GetListenerAttribute>(),
    typed::<nlb::listener::DeleteListener>(),
    typed::<nlb::tag::TagResources>(),
    typed::<nlb::tag::UntagResources>(),
    typed::<nlb::tag::ListTagResources>(),
    typed::<nlb::job::GetJobStatus>(),
    typed::<nlb::job::ListAsynJobs>(),
    typed::<privatelink::endpoint_service::CreateVpcEndpointService>(),
    typed::<privatelink::endpoint_service::GetVpcEndpointServiceAttribute>(),
    typed::<privatelink::endpoint_service::ListVpcEndpointServices>(),
    typed::<privatelink::endpoint_service::UpdateVpcEndpointServiceAttribute>(),
    typed::<privatelink::endpoint_service::DeleteVpcEndpointService>(),
    typed::<privatelink::endpoint_service::AttachResourceToVpcEndpointService>(),
    typed::<privatelink::endpoint_service::DetachResourceFromVpcEndpointService>(),
    typed::<privatelink::endpoint_service::ListVpcEndpointServiceResources>(),
    typed::<privatelink::endpoint_service::AddUserToVpcEndpointService>(),
    typed::<privatelink::endpoint_service::RemoveUserFromVpcEndpointService>(),
    typed::<privatelink::endpoint_service::ListVpcEndpointServiceUsers>(),
    typed::<privatelink::endpoint_service::ListVpcEndpointServicesByEndUser>(),
    typed::<privatelink::connection::ListVpcEndpointConnections>(),
    typed::<privatelink::connection::EnableVpcEndpointConnection>(),
    typed::<privatelink::connection::DisableVpcEndpointConnection>(),
    typed::<privatelink::connection::EnableVpcEndpointZoneConnection>(),
    typed::<privatelink::connection::DisableVpcEndpointZoneConnection>(),
    typed::<privatelink::connection::UpdateVpcEndpointConnectionAttribute>(),
    typed::<privatelink::vpc_endpoint::CreateVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::GetVpcEndpointAttribute>(),
    typed::<privatelink::vpc_endpoint::ListVpcEndpoints>(),
    typed::<privatelink::vpc_endpoint::UpdateVpcEndpointAttribute>(),
    typed::<privatelink::vpc_endpoint::DeleteVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::AddZoneToVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::RemoveZoneFromVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::ListVpcEndpointZones>(),
    typed::<privatelink::vpc_endpoint::AttachSecurityGroupToVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::DetachSecurityGroupFromVpcEndpoint>(),
    typed::<privatelink::vpc_endpoint::ListVpcEndpointSecurityGroups>(),
    typed::<privatelink::tag::TagResources>(),
    typed::<privatelink::tag::UntagResources>(),
    typed::<privatelink::tag::ListTagResources>(),
    typed::<private_zone::AddZone>(),
    typed::<private_zone::DeleteZone>(),
    typed::<private_zone::DescribeZones>(),
    typed::<private_zone::DescribeZoneInfo>(),
    typed::<private_zone::BindZoneVpc>(),
    typed::<private_zone::AddZoneRecord>(),
    typed::<private_zone::UpdateZoneRecord>(),
    typed::<private_zone::DeleteZoneRecord>(),
    typed::<private_zone::SetZoneRecordStatus>(),
    typed::<private_zone::DescribeZoneRecords>(),
];

/// The router's own counters, served under the VPC API's version (not an
/// action of the cloud's).
pub const ROUTER_STATS: &str = "DescribeRouterStats";

/// The router's ports with their instance, ENI, groups, network ACL and
/// the datapath's policy ids (read by `vpc monitor`), served like
/// [`ROUTER_STATS`].
pub const ROUTER_PORTS: &str = "DescribeRouterPorts";

/// True if `caller` may see the instance `instance_id` (one the model no
/// longer has: only the administrator).
fn sees_instance(model: &Model, caller: &Caller, instance_id: &str) -> bool {
    caller.admin
        || model
            .instances
            .iter()
            .any(|i| i.id == instance_id && caller.owns(&i.meta.owner_id))
}

/// The router's counters as `caller` may see them: the administrator (the
/// Unix socket) everything; an account its own instances' ports only, and
/// not the router-wide counters (they add up every account's traffic).
fn stats_seen_by(mut s: stats::RouterStats, model: &Model, caller: &Caller) -> stats::RouterStats {
    if !caller.admin {
        s.ports
            .retain(|p| sees_instance(model, caller, &p.instance_id));
        s.actions.clear();
        s.drops.clear();
    }
    s
}

/// The VPC API's action `name`, if it has one.
fn found_vpc(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS
        .iter()
        .find(|a| a.name == name && a.product == Product::Vpc)
}

/// The action `name` under `version` (the product's API version). Without a
/// version (the local Unix socket), the one product serving that name.
pub fn resolve(version: Option<&str>, name: &str) -> Result<&'static ActionSpec, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "InvalidAction.NotFound",
            format!("Specified api {name:?} is not found, please check your url and method."),
        )
    };
    match version {
        Some(v) => {
            let product = Product::from_version(v).ok_or_else(|| {
                ApiError::bad(
                    "InvalidVersion",
                    format!(
                        "Specified parameter Version {v:?} is not valid; served: {:?}.",
                        Product::versions()
                    ),
                )
            })?;
            ACTIONS
                .iter()
                .find(|a| a.product == product && a.name == name)
                .ok_or_else(not_found)
        }
        None => {
            // A name several products serve (DescribeRegions, TagResources...)
            // is the VPC API's: the router's own product; else the ECS
            // API's (UntagResources), as before the NLB API came.
            let mut found = ACTIONS.iter().filter(|a| a.name == name);
            match (found.next(), found.next()) {
                (Some(a), None) => Ok(a),
                (None, _) => Err(not_found()),
                (Some(_), Some(_)) => found_vpc(name)
                    .or_else(|| {
                        ACTIONS
                            .iter()
                            .find(|a| a.name == name && a.product == Product::Ecs)
                    })
                    .ok_or_else(|| ApiError::missing("Version")),
            }
        }
    }
}

/// Names of every action served.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    ACTIONS
        .iter()
        .map(|a| a.name)
        .chain([ROUTER_STATS, ROUTER_PORTS])
}

/// The model being read or changed by one call, and who is calling.
pub struct Draft<'a> {
    /// The model (a copy until committed).
    pub model: Model,
    /// The caller.
    pub caller: &'a Caller,
    /// RegionId for resources created without one.
    pub region_id: &'a str,
    /// The call's common parameters.
    pub common: Common,
    /// The zones the operator named (`vpc daemon --zone`; empty: the
    /// region's defaults, `<region>-a` and `<region>-b`).
    named_zones: &'a [String],
    /// The address this API is served at, for DescribeRegions' answers
    /// (empty: not known).
    endpoint: &'a str,
    /// Refuse parameters no action has (else they are logged and ignored).
    strict: bool,
    /// What the service's validator knows of the committed tables.
    validator: &'a crate::validate::Validator,
    /// What the health checks of load balancers' servers found (None: no
    /// router, nothing checked).
    pub health: Option<&'a crate::apply::health::Table>,
}

impl Draft<'_> {
    /// The destinations of `rt`'s entries, if the validator holds them
    /// for these very entries (see [`crate::validate::Validator::destinations`]).
    pub fn destinations(
        &self,
        rt: &crate::model::RouteTable,
    ) -> Option<&'_ std::collections::HashSet<(u32, u8)>> {
        self.validator.destinations(rt)
    }

    /// Metadata for a resource created now by the caller, in the call's
    /// region.
    pub fn new_meta(&self, description: Option<&str>) -> Meta {
        Meta {
            description: description.unwrap_or_default().to_string(),
            owner_id: self.caller.account_id.clone(),
            region_id: self.region().to_string(),
            creation_time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            tags: Vec::new(),
            resource_group_id: self.common.resource_group_id.clone().unwrap_or_default(),
        }
    }

    /// The call's RegionId, or the daemon's default.
    pub fn region(&self) -> &str {
        self.common
            .region_id
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or(self.region_id)
    }

    /// The call's RegionId, or `MissingParameter` (actions whose SDK model
    /// requires it).
    pub fn require_region(&self) -> Result<&str, ApiError> {
        self.common
            .region_id
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::missing("RegionId"))
    }

    /// True if the caller may see a resource with this metadata, in the
    /// region and resource group asked for (if any): every list filters by
    /// `ResourceGroupId` through here.
    pub fn in_view(&self, meta: &Meta) -> bool {
        self.caller.owns(&meta.owner_id)
            && self
                .common
                .region_id
                .as_deref()
                .filter(|r| !r.is_empty())
                .is_none_or(|r| r == meta.region_id)
            && self
                .common
                .resource_group_id
                .as_deref()
                .filter(|g| !g.is_empty())
                .is_none_or(|g| g == meta.resource_group_id)
    }

    /// Parameters of a call that its action does not have: a parameter no
    /// SDK model has is ignored as the cloud ignores it (and logged); in
    /// strict mode it is refused with `InvalidParameter` naming it.
    fn unknown_parameters(&self, action: &str, unknown: BTreeSet<String>) -> Result<(), ApiError> {
        let Some(first) = unknown.first() else {
            return Ok(());
        };
        if self.strict {
            return Err(ApiError::bad(
                "InvalidParameter",
                format!("The parameter \"{first}\" is not recognized by {action}."),
            ));
        }
        tracing::info!(action, parameters = ?unknown, "ignoring parameters the action does not have");
        Ok(())
    }

    /// Index of the VPC `id` the caller may see, or `InvalidVpcId.NotFound`.
    pub fn vpc_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .vpcs
            .iter()
            .position(|v| v.id == id && self.caller.owns(&v.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidVpcId.NotFound",
                    format!("The specified VPC {id} does not exist."),
                )
            })
    }

    /// Index of the vSwitch `id`, or `InvalidVSwitchId.NotFound`.
    pub fn vswitch_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .vswitches
            .iter()
            .position(|v| v.id == id && self.caller.owns(&v.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidVSwitchId.NotFound",
                    format!("The specified vSwitch {id} does not exist."),
                )
            })
    }

    /// Index of the route table `id`, or `InvalidRouteTableId.NotFound`.
    pub fn route_table_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .route_tables
            .iter()
            .position(|t| t.id == id && self.caller.owns(&t.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidRouteTableId.NotFound",
                    format!("The specified route table {id} does not exist."),
                )
            })
    }

    /// Index of the instance `id`, or `InvalidInstanceId.NotFound`.
    pub fn instance_index(&self, id: &str) -> Result<usize, ApiError> {
        self.model
            .instances
            .iter()
            .position(|i| i.id == id && self.caller.owns(&i.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidInstanceId.NotFound",
                    format!("The specified instance {id} does not exist."),
                )
            })
    }

    /// A new resource's ZoneId: one of the zones of the daemon's region,
    /// as DescribeZones lists them: those the operator named (`vpc daemon
    /// --zone`), by default `<region>-a` and `<region>-b`; a zone a stored
    /// vSwitch already uses stays usable. Else `InvalidZoneId.NotFound`.
    pub fn check_zone(&self, zone: &str) -> Result<(), ApiError> {
        input::check_zone_id(zone)?;
        let zones = if self.named_zones.is_empty() {
            default_zones(self.region_id)
        } else {
            self.named_zones.to_vec()
        };
        let in_use = || {
            self.model
                .vswitches
                .iter()
                .any(|v| v.zone_id == zone && v.meta.region_id == self.region_id)
        };
        if zones.iter().any(|z| z == zone) || in_use() {
            return Ok(());
        }
        Err(ApiError::not_found(
            "InvalidZoneId.NotFound",
            format!(
                "The specified zone {zone:?} does not exist in region {}; zones: {zones:?}.",
                self.region_id
            ),
        ))
    }

    /// The zones of `region`: the daemon's configured zones in its own
    /// region, and the zones vSwitches already use in `region`.
    pub fn zones(&self, region: &str) -> Vec<String> {
        zones_in(&self.model, region, self.region_id, self.named_zones)
    }
}

/// The account id as the number the VPC API's `OwnerId` fields carry.
pub fn owner_id(meta: &Meta) -> Value {
    meta.owner_id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(meta.owner_id.clone()))
}

/// The zones of a region without configured ones: `<region>-a`,
/// `<region>-b`.
fn default_zones(region: &str) -> Vec<String> {
    vec![format!("{region}-a"), format!("{region}-b")]
}

/// The zones of `region`: `named` (or, none named, the defaults) when it is
/// the daemon's region
/// (`home`), then those vSwitches of `region` use, each once.
fn zones_in(model: &Model, region: &str, home: &str, named: &[String]) -> Vec<String> {
    let mut zones: Vec<String> = match (region == home, named.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => default_zones(home),
        (true, false) => named.to_vec(),
    };
    for v in model
        .vswitches
        .iter()
        .filter(|v| v.meta.region_id == region)
    {
        if !zones.contains(&v.zone_id) {
            zones.push(v.zone_id.clone());
        }
    }
    zones
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

/// Parameters a client token's digest leaves out: the token, the envelope,
/// and the fields of a v1 signature, which a retry changes (the cloud
/// documents that SignatureNonce, Timestamp and Signature differ).
const NOT_DIGESTED: &[&str] = &[
    "ClientToken",
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

/// SHA-256 (hex) of the call's parameters but [`NOT_DIGESTED`], sorted by
/// name, each name and value length-prefixed.
fn digest(form: &Form) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<(&str, &str)> = form
        .pairs()
        .filter(|(k, _)| !NOT_DIGESTED.contains(k))
        .collect();
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for (k, v) in pairs {
        for part in [k, v] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// The cloud's refusal of a client token used before with other parameters.
fn idempotent_mismatch() -> ApiError {
    ApiError::bad(
        "IdempotentParameterMismatch",
        "Request uses a client token in a previous request but is not identical to that request.",
    )
}

/// An answer that may depend on changes not yet on disk: [`Pending::wait`]
/// (blocking) or [`Pending::durable`] (async) gives it once they are.
/// Waiting does not need the service (nor its lock).
#[must_use = "the answer may only be given once it is durable"]
pub struct Pending {
    body: Value,
    after: Option<(Seq, Arc<Durable>)>,
    /// The model this change replaced, released by whoever holds the
    /// answer ([`Pending::release_replaced`]), not under the service's
    /// lock: freeing a list of 100,000 shared route entries costs a
    /// reference count each.
    replaced: Option<Model>,
}

impl Pending {
    /// Frees the model the change replaced now (the daemon calls it once
    /// the service's lock is released).
    pub fn release_replaced(&mut self) {
        self.replaced = None;
    }

    /// The answer, once every change up to the one it reflects is on disk;
    /// `InternalError` if making them durable failed.
    pub fn wait(self) -> Result<Value, ApiError> {
        if let Some((seq, durable)) = &self.after {
            durable.wait(*seq)?;
        }
        Ok(self.body)
    }

    /// [`Pending::wait`], for async callers.
    pub async fn durable(self) -> Result<Value, ApiError> {
        if let Some((seq, durable)) = &self.after {
            durable.wait_async(*seq).await?;
        }
        Ok(self.body)
    }
}

/// The API's state: the model, its store and the router it drives.
pub struct Service {
    model: Model,
    store: Box<dyn StateStore>,
    router: Option<Router>,
    region_id: String,
    /// The zones the operator named (empty: none).
    zones: Vec<String>,
    endpoint: String,
    strict: bool,
    /// The account quotas changes are checked against.
    quotas: quota::Quotas,
    /// Validates each change, checking again only the route tables it
    /// touched (start-up and recovery validate everything).
    validator: crate::validate::Validator,
    /// Bumped each time the committed model changes (see
    /// [`Service::model_generation`]).
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Service {
    /// Opens the store and, with a router, rebuilds the kernel state (maps,
    /// ports) from the stored model: pinned maps keep forwarding meanwhile.
    pub fn open(
        store: impl StateStore + 'static,
        router: Option<Router>,
        region_id: &str,
    ) -> Result<Self, ServiceError> {
        let started = std::time::Instant::now();
        let mut model = store.load()?.unwrap_or_default();
        let loaded = started.elapsed();
        model.allocate_numeric_ids();
        if let Some(r) = &router {
            model.router.namespace = r.namespace().to_string();
        }
        let store: Box<dyn StateStore> = Box::new(store);
        let mut service = Self {
            model,
            store,
            router,
            region_id: region_id.to_string(),
            zones: Vec::new(),
            endpoint: String::new(),
            strict: false,
            quotas: quota::Quotas::configured(),
            validator: crate::validate::Validator::default(),
            generation: Default::default(),
        };
        if let Some(r) = &mut service.router {
            r.converge(&service.model)?;
        }
        tracing::debug!(
            load_ms = loaded.as_millis() as u64,
            converge_ms = (started.elapsed() - loaded).as_millis() as u64,
            "the stored model is loaded and in the kernel"
        );
        Ok(service)
    }

    /// The committed model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// A counter that changes (after the fact) each time the committed
    /// model does: a reader that keeps something derived from the model
    /// checks it, without the service's lock, to know the derivation is
    /// still that of the committed model.
    pub fn model_generation(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.generation.clone()
    }

    /// Replaces the committed model and bumps its generation; returns the
    /// model replaced.
    fn set_model(&mut self, model: Model) -> Model {
        let replaced = std::mem::replace(&mut self.model, model);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        replaced
    }

    /// The router, if this service drives one.
    pub fn router_mut(&mut self) -> Option<&mut Router> {
        self.router.as_mut()
    }

    /// The router, if this service drives one.
    pub fn router(&self) -> Option<&Router> {
        self.router.as_ref()
    }

    /// Refuse parameters no action has with `InvalidParameter` (strict
    /// mode, for tests that must catch a misspelt name); by default they
    /// are logged and ignored, as the cloud ignores them.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Sets the account quotas (default: [`quota::Quotas::configured`]).
    pub fn set_quotas(&mut self, quotas: quota::Quotas) {
        self.quotas = quotas;
    }

    /// Sets the zones of the daemon's region (DescribeZones); an empty
    /// list keeps the default, `<region>-a` and `<region>-b`.
    pub fn set_zones(&mut self, zones: Vec<String>) {
        self.zones = zones;
    }

    /// The zones of the daemon's region: the configured ones and those
    /// vSwitches already use there.
    pub fn zones(&self) -> Vec<String> {
        zones_in(&self.model, &self.region_id, &self.region_id, &self.zones)
    }

    /// Sets the address the API is served at (DescribeRegions'
    /// RegionEndpoint).
    pub fn set_endpoint(&mut self, endpoint: impl Into<String>) {
        self.endpoint = endpoint.into();
    }

    /// Makes again what vanished from the kernel behind the daemon's back
    /// (the daemon's watcher calls it on a deleted link or namespace), from
    /// the committed model; None if nothing had.
    pub fn repair(&mut self) -> Result<Option<&'static str>, ApiError> {
        let Some(r) = &mut self.router else {
            return Ok(None);
        };
        Ok(r.repair(&self.model)?)
    }

    /// Runs `action` of the product whose API version is `version` (any
    /// product serving that name when the version is not given) and waits
    /// until its answer is durable, holding the service: for callers in
    /// process (tests, tools). The daemon calls [`Service::submit`] and
    /// waits without the lock.
    pub fn call(
        &mut self,
        version: Option<&str>,
        action: &str,
        form: &Form,
        caller: &Caller,
    ) -> Result<Value, ApiError> {
        self.submit(version, action, form, caller)?.wait()
    }

    /// Runs `action` of the product whose API version is `version` (any
    /// product serving that name when the version is not given). The body
    /// (without the RequestId, which the server adds) may only be given
    /// once [`Pending`] says it is durable. Errors change nothing.
    pub fn submit(
        &mut self,
        version: Option<&str>,
        action: &str,
        form: &Form,
        caller: &Caller,
    ) -> Result<Pending, ApiError> {
        if action == ROUTER_STATS && version.is_none_or(|v| v == Product::Vpc.version()) {
            let router = self
                .router
                .as_ref()
                .ok_or_else(|| ApiError::internal("this service drives no router"))?;
            let s = stats_seen_by(stats::of(router)?, &self.model, caller);
            return Ok(Pending {
                body: serde_json::to_value(&s).map_err(ApiError::internal)?,
                after: None,
                replaced: None,
            });
        }
        if action == ROUTER_PORTS && version.is_none_or(|v| v == Product::Vpc.version()) {
            let router = self
                .router
                .as_ref()
                .ok_or_else(|| ApiError::internal("this service drives no router"))?;
            let mut p = stats::ports(router, &self.model)?;
            p.ports
                .retain(|p| sees_instance(&self.model, caller, &p.instance_id));
            return Ok(Pending {
                body: serde_json::to_value(&p).map_err(ApiError::internal)?,
                after: None,
                replaced: None,
            });
        }
        let durable = self.store.durable();
        // After a failed write or flush the model may hold changes that are
        // not on disk (and may be lost): the store is reopened and the
        // model reloaded from what is durable before anything is answered;
        // while that fails (the disk still full), every call is refused.
        if let Some(e) = durable.get().failed {
            self.recover_store(&e)?;
        }
        let spec = resolve(version, action)?;
        input::check_values(spec.product, spec.name, spec.mutates, form)?;
        let common: Common = form.decode::<Common>(ENVELOPE)?.request;
        if let Some(region) = common.region_id.as_deref().filter(|r| !r.is_empty()) {
            input::check_region(region, &self.region_id, spec.mutates, region::CLOUD_REGIONS)?;
        }
        let dry_run = common.dry_run.unwrap_or(false);
        // A retry of a call that succeeded gets its answer again.
        let token = match common.client_token.as_deref() {
            Some(t) if spec.mutates && !dry_run && !t.is_empty() => {
                let key = TokenKey {
                    account: caller.account_id.clone(),
                    action: spec.name.to_string(),
                    token: t.to_string(),
                };
                let digest = digest(form);
                if let Some(recorded) = self.store.token(&key)? {
                    if recorded.digest != digest {
                        return Err(idempotent_mismatch());
                    }
                    return Ok(Pending {
                        body: recorded.body,
                        after: Some((self.store.committed(), durable)),
                        replaced: None,
                    });
                }
                Some((key, digest))
            }
            _ => None,
        };
        let t0 = std::time::Instant::now();
        let mut draft = Draft {
            model: self.model.clone(),
            caller,
            region_id: &self.region_id,
            common,
            named_zones: &self.zones,
            endpoint: &self.endpoint,
            strict: self.strict,
            validator: &self.validator,
            health: self.router.as_ref().map(|r| &**r.health()),
        };
        if spec.product == Product::PrivateLink {
            draft.model.ensure_cloud_endpoint_services(&self.region_id);
        }
        let body = (spec.run.call)(&mut draft, form)?;
        if !spec.mutates {
            if dry_run {
                return Err(ApiError::dry_run_passed());
            }
            // What it read may not be on disk yet.
            return Ok(Pending {
                body,
                after: Some((self.store.committed(), durable)),
                replaced: None,
            });
        }
        let ran = t0.elapsed();
        let mut next = draft.model.with_system_route_tables();
        next.allocate_numeric_ids();
        let completed = t0.elapsed();
        let validator = &self.validator;
        quota::check_with(&self.quotas, &self.model, &next, &|t| {
            validator.destinations(t).is_some()
        })?;
        let started = std::time::Instant::now();
        let quota_checked = started - t0;
        self.validator.validate(&next)?;
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
        let record = token.map(|(key, digest)| {
            (
                key,
                TokenRecord {
                    digest,
                    body: body.clone(),
                    at: unix_now(),
                },
            )
        });
        let (seq, installed, replaced) =
            self.commit(next, prepared, record.as_ref().map(|(k, r)| (k, r)))?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        tracing::debug!(
            action,
            seq,
            run_ms = ms(ran),
            complete_ms = ms(completed - ran),
            quota_ms = ms(quota_checked - completed),
            validate_ms = ms(validated),
            compile_ms = ms(compiled - validated),
            install_ms = ms(installed),
            store_ms = ms(started.elapsed() - compiled - installed),
            commit_ms = ms(started.elapsed() - compiled),
            "change committed"
        );
        Ok(Pending {
            body,
            after: Some((seq, durable)),
            replaced: Some(replaced),
        })
    }

    /// Reopens the store after `why` made it fail, reloads the model from
    /// what is durable and converges the kernel to it: what a restart
    /// does, without one. `ServiceUnavailable` (503) while it cannot.
    fn recover_store(&mut self, why: &str) -> Result<(), ApiError> {
        if let Err(e) = self.store.recover() {
            tracing::warn!(error = %e, "the state store still cannot be reopened");
            return Err(ApiError::unavailable(format!(
                "the state store cannot write ({why}; reopening it: {e}); no change is taken until its disk has space again, and nothing acknowledged is lost"
            )));
        }
        let mut model = self.store.load()?.unwrap_or_default();
        model.allocate_numeric_ids();
        if let Some(r) = &self.router {
            model.router.namespace = r.namespace().to_string();
        }
        if model != self.model {
            tracing::warn!(
                "changes that were not made durable before the store failed are dropped"
            );
            self.set_model(model);
            if let Some(r) = &mut self.router {
                r.converge(&self.model)?;
            }
        }
        tracing::info!("the state store recovered: changes are taken again");
        Ok(())
    }

    /// Installs `next` into the kernel, then commits it (and the client
    /// token record) to the store, not yet durable: returns its sequence.
    /// On a failure of either the kernel is converged back to the current
    /// model, which stays.
    fn commit(
        &mut self,
        next: Model,
        prepared: Option<apply::Prepared>,
        token: Option<(&TokenKey, &TokenRecord)>,
    ) -> Result<(Seq, std::time::Duration, Model), ApiError> {
        let started = std::time::Instant::now();
        if let (Some(r), Some(prepared)) = (&mut self.router, prepared)
            && let Err(e) = r.install(&next, prepared)
        {
            tracing::error!(error = %e, "converging the kernel failed; rolling back");
            if let Err(e2) = r.converge(&self.model) {
                tracing::error!(error = %e2, "rolling the kernel back failed");
            }
            return Err(e.into());
        }
        apply::fault::point("commit:installed");
        let installed = started.elapsed();
        match self.store.commit(&self.model, &next, token) {
            Ok(seq) => {
                apply::fault::point("commit:stored");
                let replaced = self.set_model(next);
                Ok((seq, installed, replaced))
            }
            Err(e) => {
                tracing::error!(error = %e, "committing the change failed; rolling the kernel back");
                if let Some(r) = &mut self.router
                    && let Err(e2) = r.converge(&self.model)
                {
                    tracing::error!(error = %e2, "rolling the kernel back failed");
                }
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::Store;

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
            let mut service = Service::open(store, None, DEFAULT_REGION_ID).unwrap();
            service.set_strict(true);
            Self { service, dir }
        }

        pub fn call_as(
            &mut self,
            caller: &Caller,
            action: &str,
            params: &[(&str, &str)],
        ) -> Result<Value, ApiError> {
            let f = Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .unwrap();
            self.service.call(None, action, &f, caller)
        }

        pub fn call(&mut self, action: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
            self.call_as(
                &Caller {
                    account_id: "1000000000000001".into(),
                    admin: false,
                },
                action,
                params,
            )
        }

        pub fn ok(&mut self, action: &str, params: &[(&str, &str)]) -> Value {
            self.call(action, params)
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }

        pub fn err(&mut self, action: &str, params: &[(&str, &str)]) -> ApiError {
            match self.call(action, params) {
                Ok(v) => panic!("{action} should fail, returned {v}"),
                Err(e) => e,
            }
        }

        /// A VPC 10.0.0.0/16 with vSwitch 10.0.1.0/24; returns (vpc, vsw).
        pub fn vpc_with_vswitch(&mut self) -> (String, String) {
            let vpc = self.ok(
                "CreateVpc",
                &[
                    ("RegionId", "cn-hangzhou"),
                    ("CidrBlock", "10.0.0.0/16"),
                    ("VpcName", "lab"),
                ],
            );
            let vpc_id = vpc["VpcId"].as_str().unwrap().to_string();
            let vsw = self.ok(
                "CreateVSwitch",
                &[
                    ("VpcId", &vpc_id),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", "10.0.1.0/24"),
                ],
            );
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
    fn dry_run_validates_and_changes_nothing() {
        let mut s = Scratch::new();
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("DryRun", "True"),
            ],
        );
        assert_eq!(e.code, "DryRunOperation");
        assert!(s.service.model().vpcs.is_empty());
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/33"),
                ("DryRun", "true"),
            ],
        );
        assert_eq!(e.code, "InvalidCidrBlock.Malformed");
    }

    #[test]
    fn unknown_parameter_changes_nothing() {
        let mut s = Scratch::new();
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("CidrBlok", "x"),
            ],
        );
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("CidrBlok"), "{e:?}");
        assert!(s.service.model().vpcs.is_empty());
    }

    #[test]
    fn parameters_no_action_has_are_ignored_unless_strict() {
        let mut s = Scratch::new();
        s.service.set_strict(false);
        // footmark (Ansible's alicloud modules) signs `on=<Action>` into every call.
        let v = s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("on", "CreateVpc"),
            ],
        );
        assert!(v["VpcId"].as_str().unwrap().starts_with("vpc-"));
        assert_eq!(s.service.model().vpcs.len(), 1);
        s.service.set_strict(true);
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("on", "CreateVpc"),
            ],
        );
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameter"));
        assert!(e.message.contains("\"on\""), "{e:?}");
        assert_eq!(s.service.model().vpcs.len(), 1);
    }

    #[test]
    fn actions_are_served_only_under_their_products_version() {
        let mut s = Scratch::new();
        let caller = Caller {
            account_id: "1000000000000001".into(),
            admin: false,
        };
        let form = |pairs: &[(&str, &str)]| {
            Form::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
        };
        let vpc = form(&[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16")]);
        let e = s
            .service
            .call(Some(Product::Ecs.version()), "CreateVpc", &vpc, &caller)
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidAction.NotFound"));
        let e = s
            .service
            .call(Some("2099-01-01"), "CreateVpc", &vpc, &caller)
            .unwrap_err();
        assert_eq!(e.code, "InvalidVersion");
        let e = s
            .service
            .call(
                Some(Product::Vpc.version()),
                "DescribeInstances",
                &form(&[("RegionId", "cn-hangzhou")]),
                &caller,
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidAction.NotFound");
        assert!(s.service.model().vpcs.is_empty());
        s.service
            .call(Some(Product::Vpc.version()), "CreateVpc", &vpc, &caller)
            .unwrap();
        s.service
            .call(
                Some(Product::Ecs.version()),
                "DescribeInstances",
                &form(&[("RegionId", "cn-hangzhou")]),
                &caller,
            )
            .unwrap();
        for a in ACTIONS {
            assert_eq!(
                resolve(Some(a.product.version()), a.name).unwrap().name,
                a.name
            );
        }
    }

    #[test]
    fn sdk_parameters_this_router_lacks_are_refused_by_name() {
        let mut s = Scratch::new();
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Ipv6CidrBlock", "2001:db8::/56"),
            ],
        );
        assert_eq!(e.code, "UnsupportedParameter");
        assert!(e.message.contains("Ipv6CidrBlock"), "{e:?}");
        let e = s.err(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("EnableIpv6", "true")],
        );
        assert_eq!(e.code, "UnsupportedParameter");
        s.ok(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("EnableIpv6", "false")],
        );
    }

    #[test]
    fn vpc_1_a_vswitchs_zone_must_be_a_configured_one() {
        let mut s = Scratch::new();
        let vpc = s.ok(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16")],
        )["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        // Zones not named by the operator: the region's defaults only.
        let e = s.err(
            "CreateVSwitch",
            &[
                ("RegionId", "cn-hangzhou"),
                ("VpcId", &vpc),
                ("ZoneId", "us-west-1z"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        );
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidZoneId.NotFound"));
        s.ok(
            "CreateVSwitch",
            &[
                ("RegionId", "cn-hangzhou"),
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        );
        s.service
            .set_zones(vec!["cn-hangzhou-h".into(), "cn-hangzhou-i".into()]);
        let e = s.err(
            "CreateVSwitch",
            &[
                ("RegionId", "cn-hangzhou"),
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-x"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        );
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidZoneId.NotFound"));
        assert_eq!(s.service.model().vswitches.len(), 1);
        s.ok(
            "CreateVSwitch",
            &[
                ("RegionId", "cn-hangzhou"),
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-i"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        );
        let z = s.ok("DescribeZones", &[("RegionId", "cn-hangzhou")]);
        assert!(z.to_string().contains("cn-hangzhou-h"), "{z}");
    }

    #[test]
    fn the_model_generation_moves_with_each_change_and_only_then() {
        use std::sync::atomic::Ordering;
        let mut s = Scratch::new();
        let g = s.service.model_generation();
        let at = |g: &std::sync::atomic::AtomicU64| g.load(Ordering::Acquire);
        let start = at(&g);
        let (vpc, _) = s.vpc_with_vswitch();
        let changed = at(&g);
        assert!(changed >= start + 2, "CreateVpc and CreateVSwitch each move it");
        s.ok("DescribeVpcs", &[("RegionId", "cn-hangzhou")]);
        let e = s.err("CreateVSwitch", &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc), ("CidrBlock", "192.168.0.0/24"), ("ZoneId", "cn-hangzhou-a")]);
        assert!(!e.code.is_empty());
        assert_eq!(at(&g), changed, "a read and a refused change leave it");
    }

    #[test]
    fn resource_groups_are_kept_and_filter_every_list() {
        let mut s = Scratch::new();
        let r = [("RegionId", "cn-hangzhou")];
        let a = s.ok(
            "CreateVpc",
            &[
                r[0],
                ("CidrBlock", "10.0.0.0/16"),
                ("ResourceGroupId", "rg-a"),
            ],
        );
        s.ok("CreateVpc", &[r[0], ("CidrBlock", "10.1.0.0/16")]);
        assert_eq!(a["ResourceGroupId"], "rg-a");
        let d = s.ok("DescribeVpcs", &[r[0], ("ResourceGroupId", "rg-a")]);
        assert_eq!(d["TotalCount"], 1);
        assert_eq!(d["Vpcs"]["Vpc"][0]["ResourceGroupId"], "rg-a");
        assert_eq!(s.ok("DescribeVpcs", &r)["TotalCount"], 2);
        assert_eq!(
            s.ok("DescribeVpcs", &[r[0], ("ResourceGroupId", "rg-b")])["TotalCount"],
            0
        );
    }

    #[test]
    fn service_state_survives_reopen() {
        let mut s = Scratch::new();
        let (vpc_id, _) = s.vpc_with_vswitch();
        let model = s.service.model().clone();
        // Swap in a service on another store so the first one's lock is
        // released, then reopen the first store.
        let other = Store::open(&s.dir.join("other")).unwrap();
        drop(std::mem::replace(
            &mut s.service,
            Service::open(other, None, DEFAULT_REGION_ID).unwrap(),
        ));
        let reopened =
            Service::open(Store::open(&s.dir).unwrap(), None, DEFAULT_REGION_ID).unwrap();
        assert_eq!(reopened.model(), &model);
        assert!(reopened.model().vpc(&vpc_id).is_some());
    }

    const TOKEN: (&str, &str) = ("ClientToken", "123e4567-e89b-12d3-a456-426655440000");

    #[test]
    fn client_token_a_retry_with_the_same_token_changes_nothing() {
        let mut s = Scratch::new();
        let create = [
            ("RegionId", "cn-hangzhou"),
            ("CidrBlock", "10.0.0.0/16"),
            TOKEN,
        ];
        let first = s.ok("CreateVpc", &create);
        let again = s.ok("CreateVpc", &create);
        assert_eq!(first, again);
        assert_eq!(s.service.model().vpcs.len(), 1);
        // The same token with other parameters is refused.
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "172.16.0.0/12"),
                TOKEN,
            ],
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "IdempotentParameterMismatch")
        );
        assert_eq!(s.service.model().vpcs.len(), 1);
        // Parameters in another order, or a v1 signature's fields, are the same call.
        let f = Form::from_pairs(
            [
                TOKEN,
                ("SignatureNonce", "n2"),
                ("CidrBlock", "10.0.0.0/16"),
                ("RegionId", "cn-hangzhou"),
                ("Timestamp", "t2"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        let caller = Caller {
            account_id: "1000000000000001".into(),
            admin: false,
        };
        assert_eq!(
            digest(&f),
            digest(
                &Form::from_pairs(create.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                    .unwrap()
            )
        );
        assert_eq!(
            s.service.call(None, "CreateVpc", &f, &caller).unwrap(),
            first
        );
        // Another account's token is its own; another action's too.
        let other = Caller {
            account_id: "1000000000000002".into(),
            admin: false,
        };
        let theirs = s.call_as(&other, "CreateVpc", &create).unwrap();
        assert_ne!(theirs["VpcId"], first["VpcId"]);
        assert_eq!(s.service.model().vpcs.len(), 2);
        let vpc = first["VpcId"].as_str().unwrap();
        s.ok(
            "ModifyVpcAttribute",
            &[("VpcId", vpc), ("Description", "x"), TOKEN],
        );
    }

    #[test]
    fn dry_runs_and_failed_calls_record_no_client_token() {
        let mut s = Scratch::new();
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/33"),
                TOKEN,
            ],
        );
        assert_eq!(e.code, "InvalidCidrBlock.Malformed");
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.1.0.0/16"),
                ("DryRun", "true"),
                TOKEN,
            ],
        );
        assert_eq!(e.code, "DryRunOperation");
        let v = s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                TOKEN,
            ],
        );
        assert!(v["VpcId"].as_str().unwrap().starts_with("vpc-"));
        assert_eq!(s.service.model().vpcs.len(), 1);
    }

    #[test]
    fn client_tokens_survive_a_reopen() {
        let mut s = Scratch::new();
        let create = [
            ("RegionId", "cn-hangzhou"),
            ("CidrBlock", "10.0.0.0/16"),
            TOKEN,
        ];
        let first = s.ok("CreateVpc", &create);
        let other = Store::open(&s.dir.join("other")).unwrap();
        drop(std::mem::replace(
            &mut s.service,
            Service::open(other, None, DEFAULT_REGION_ID).unwrap(),
        ));
        s.service = Service::open(Store::open(&s.dir).unwrap(), None, DEFAULT_REGION_ID).unwrap();
        s.service.set_strict(true);
        assert_eq!(s.ok("CreateVpc", &create), first);
        assert_eq!(s.service.model().vpcs.len(), 1);
        let e = s.err(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.1.0.0/16"),
                TOKEN,
            ],
        );
        assert_eq!(e.code, "IdempotentParameterMismatch");
    }

    #[test]
    fn hardening_bad_input_is_refused_with_the_clouds_codes_and_changes_nothing() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let sg = s.ok(
            "CreateSecurityGroup",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &vpc)],
        )["SecurityGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        let before = s.service.model().clone();
        let r = ("RegionId", "cn-hangzhou");
        let name300 = "n".repeat(300);
        let huge = "d".repeat(1_900_000);
        /// Action, parameters, status, code.
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
        let cases: &[Case] = &[
            (
                "CreateVpc",
                vec![r, ("VpcName", &name300)],
                400,
                "InvalidVpcName.Malformed",
            ),
            (
                "CreateVpc",
                vec![r, ("VpcName", "http://x")],
                400,
                "InvalidVpcName.Malformed",
            ),
            (
                "CreateVpc",
                vec![r, ("Description", &huge)],
                400,
                "InvalidVpcDiscription.Malformed",
            ),
            (
                "ModifyVpcAttribute",
                vec![("VpcId", &vpc), ("Description", &huge)],
                400,
                "InvalidVpcDiscription.Malformed",
            ),
            (
                "ModifyVSwitchAttribute",
                vec![("VSwitchId", &vsw), ("VSwitchName", &name300)],
                400,
                "InvalidVSwitchName.Malformed",
            ),
            (
                "CreateSecurityGroup",
                vec![r, ("VpcId", &vpc), ("SecurityGroupName", "1st")],
                400,
                "InvalidSecurityGroupName.Malformed",
            ),
            (
                "ModifySecurityGroupAttribute",
                vec![r, ("SecurityGroupId", &sg), ("Description", &huge)],
                400,
                "InvalidDescription.Malformed",
            ),
            (
                "RunInstances",
                vec![r, ("VSwitchId", &vsw), ("InstanceName", &name300)],
                400,
                "InvalidInstanceName.Malformed",
            ),
            (
                "CreateVpc",
                vec![("RegionId", "xx-nowhere-1")],
                404,
                "InvalidRegionId.NotFound",
            ),
            (
                "CreateVpc",
                vec![("RegionId", "cn-beijing")],
                404,
                "InvalidRegionId.NotFound",
            ),
            (
                "DescribeVpcs",
                vec![("RegionId", &name300)],
                404,
                "InvalidRegionId.NotFound",
            ),
            (
                "CreateVSwitch",
                vec![
                    r,
                    ("VpcId", &vpc),
                    ("ZoneId", &name300),
                    ("CidrBlock", "10.0.2.0/24"),
                ],
                404,
                "InvalidZoneId.NotFound",
            ),
            (
                "CreateVSwitch",
                vec![
                    r,
                    ("VpcId", &vpc),
                    ("ZoneId", "lab a"),
                    ("CidrBlock", "10.0.2.0/24"),
                ],
                404,
                "InvalidZoneId.NotFound",
            ),
            (
                "CreateVpc",
                vec![r, ("CidrBlock", "010.0.0.0/16")],
                400,
                "InvalidCidrBlock.Malformed",
            ),
            (
                "CreateVSwitch",
                vec![
                    r,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", "10.0.02.0/24"),
                ],
                400,
                "InvalidCidrBlock.Malformed",
            ),
        ];
        let mut cases = cases.to_vec();
        for reserved in [
            "127.0.0.0/16",
            "169.254.0.0/16",
            "0.0.0.0/8",
            "224.0.0.0/16",
            "240.0.0.0/16",
        ] {
            cases.push((
                "CreateVpc",
                vec![r, ("CidrBlock", reserved)],
                400,
                "InvalidCidrBlock.Malformed",
            ));
        }
        for (action, params, status, code) in &cases {
            let e = s.err(action, params);
            let names: Vec<&str> = params.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                (e.status, e.code.as_str()),
                (*status, *code),
                "{action} {names:?}: {:.300}",
                e.message
            );
            assert_eq!(
                s.service.model(),
                &before,
                "{action} {names:?} changed the model"
            );
        }
        // A read in another region of the cloud finds nothing there.
        assert_eq!(
            s.ok("DescribeVpcs", &[("RegionId", "cn-beijing")])["TotalCount"],
            0
        );
        // Bounds reached exactly are fine.
        s.ok(
            "CreateVpc",
            &[
                r,
                ("CidrBlock", "30.0.0.0/16"),
                ("VpcName", &"n".repeat(128)),
                ("Description", &"d".repeat(256)),
            ],
        );
    }

    #[test]
    fn hardening_quotas_refuse_with_the_clouds_codes_and_change_nothing() {
        let mut s = Scratch::new();
        let r = ("RegionId", "cn-hangzhou");
        // The cloud's defaults: 10 VPCs per account and region.
        for n in 0..10 {
            s.ok("CreateVpc", &[r, ("CidrBlock", &format!("10.{n}.0.0/16"))]);
        }
        let e = s.err("CreateVpc", &[r, ("CidrBlock", "10.99.0.0/16")]);
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "QuotaExceeded.Vpc"),
            "{e:?}"
        );
        assert_eq!(s.service.model().vpcs.len(), 10);
        // Per account: another account still has its own.
        let other = Caller {
            account_id: "1000000000000002".into(),
            admin: false,
        };
        s.call_as(&other, "CreateVpc", &[r, ("CidrBlock", "10.0.0.0/16")])
            .unwrap();
        let vpc = s.service.model().vpcs[0].id.clone();
        // 9 custom route tables per VPC.
        for _ in 0..9 {
            s.ok("CreateRouteTable", &[r, ("VpcId", &vpc)]);
        }
        let e = s.err("CreateRouteTable", &[r, ("VpcId", &vpc)]);
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "QuotaExceeded.RouteTable"),
            "{e:?}"
        );
        // 200 rules per security group, in one call or several.
        let sg = s.ok("CreateSecurityGroup", &[r, ("VpcId", &vpc)])["SecurityGroupId"]
            .as_str()
            .unwrap()
            .to_string();
        let rules = |from: usize, n: usize| -> Vec<(String, String)> {
            (0..n)
                .flat_map(|i| {
                    let k = i + 1;
                    [
                        (format!("Permissions.{k}.IpProtocol"), "TCP".to_string()),
                        (
                            format!("Permissions.{k}.PortRange"),
                            format!("{0}/{0}", 1000 + from + i),
                        ),
                        (
                            format!("Permissions.{k}.SourceCidrIp"),
                            "10.0.0.0/8".to_string(),
                        ),
                    ]
                })
                .collect()
        };
        for from in [0, 100] {
            let p = rules(from, 100);
            let mut p: Vec<(&str, &str)> =
                p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            p.extend([r, ("SecurityGroupId", sg.as_str())]);
            s.ok("AuthorizeSecurityGroup", &p);
        }
        let p = rules(200, 1);
        let mut p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.extend([r, ("SecurityGroupId", sg.as_str())]);
        let before = s.service.model().clone();
        let e = s.err("AuthorizeSecurityGroup", &p);
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "AuthorizationLimitExceed"),
            "{e:?}"
        );
        assert_eq!(s.service.model(), &before);
        // An operator's quota replaces the default; a lowered quota keeps
        // what exists but refuses more.
        s.service.set_quotas(
            quota::Quotas::default()
                .with_settings(&["vpcs_per_region=12", "vswitches_per_vpc=1"])
                .unwrap(),
        );
        s.ok("CreateVpc", &[r, ("CidrBlock", "10.10.0.0/16")]);
        s.ok(
            "CreateVSwitch",
            &[
                r,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        );
        let e = s.err(
            "CreateVSwitch",
            &[
                r,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "QuotaExceeded.VSwitch"),
            "{e:?}"
        );
        s.service.set_quotas(
            quota::Quotas::default()
                .with_settings(&["rules_per_security_group=10"])
                .unwrap(),
        );
        s.ok(
            "RevokeSecurityGroup",
            &[
                r,
                ("SecurityGroupId", &sg),
                ("IpProtocol", "TCP"),
                ("PortRange", "1000/1000"),
                ("SourceCidrIp", "10.0.0.0/8"),
            ],
        );
        s.ok(
            "ModifySecurityGroupAttribute",
            &[
                r,
                ("SecurityGroupId", &sg),
                ("SecurityGroupName", "still-fine"),
            ],
        );
    }

    #[test]
    fn hardening_stored_records_stay_bounded_whatever_is_stored() {
        // Every name and description at its maximum, on as many resources
        // as the quotas allow: the model document a change writes stays
        // bounded (a few KiB per resource), and a 1.9 MB description is
        // refused before it could make every later change write it again.
        let mut s = Scratch::new();
        let r = ("RegionId", "cn-hangzhou");
        let name = "n".repeat(128);
        let desc = "中".repeat(256);
        let size = |s: &Scratch| serde_json::to_vec(s.service.model()).unwrap().len();
        let empty = size(&s);
        for n in 0..10 {
            let v = s.ok(
                "CreateVpc",
                &[
                    r,
                    ("CidrBlock", &format!("10.{n}.0.0/16")),
                    ("VpcName", &name),
                    ("Description", &desc),
                ],
            );
            let vpc = v["VpcId"].as_str().unwrap().to_string();
            s.ok(
                "CreateVSwitch",
                &[
                    r,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", &format!("10.{n}.1.0/24")),
                    ("VSwitchName", &name),
                    ("Description", &desc),
                ],
            );
            s.ok(
                "CreateSecurityGroup",
                &[
                    r,
                    ("VpcId", &vpc),
                    ("SecurityGroupName", &name),
                    ("Description", &desc),
                ],
            );
        }
        let full = size(&s);
        let per_resource = (full - empty) / 40; // VPC, its system route table, vSwitch, group
        assert!(per_resource < 4096, "{per_resource} bytes per resource");
        let huge = "d".repeat(1_900_000);
        let vpc = s.service.model().vpcs[0].id.clone();
        let e = s.err(
            "ModifyVpcAttribute",
            &[("VpcId", &vpc), ("Description", &huge)],
        );
        assert_eq!(e.code, "InvalidVpcDiscription.Malformed");
        assert_eq!(size(&s), full, "a refused change wrote nothing");
        // One more change writes about what it changed on top of a bounded
        // document.
        s.ok(
            "ModifyVpcAttribute",
            &[("VpcId", &vpc), ("Description", "after")],
        );
        assert!(size(&s) <= full, "{} > {full}", size(&s));
    }

    #[test]
    fn accounts_do_not_see_each_others_resources() {
        let mut s = Scratch::new();
        let (vpc_id, _) = s.vpc_with_vswitch();
        let other = Caller {
            account_id: "1000000000000002".into(),
            admin: false,
        };
        let v = s
            .call_as(&other, "DescribeVpcs", &[("RegionId", "cn-hangzhou")])
            .unwrap();
        assert_eq!(v["TotalCount"], 0);
        let e = s
            .call_as(&other, "DeleteVpc", &[("VpcId", &vpc_id)])
            .unwrap_err();
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        let admin = Caller {
            account_id: "0".into(),
            admin: true,
        };
        let v = s
            .call_as(&admin, "DescribeVpcs", &[("RegionId", "cn-hangzhou")])
            .unwrap();
        assert_eq!(v["TotalCount"], 1);
    }
}
