//! PrivateLink: each interface endpoint ENI becomes an `ENDPOINT_ENIS`
//! entry (`vpc_common::privatelink`): the ENI as its consumer VPC sees it
//! (vSwitch, network ACL, the endpoint's security groups, SG-4), the
//! service's load balancer in the same zone as the provider's side (EP-3),
//! (for the cloud's object storage service: the services network, as from
//! the endpoint's own address there, POL-4), and whether traffic flows:
//! the connection and the zone Connected
//! (CONN-2), the service there and active (EPS-3, CONN-4), the consumer
//! still on its whitelist (EPS-2). Every ENI of a consumer VPC is told to
//! look the table up.
use std::collections::{BTreeMap, BTreeSet};

use vpc_common::{ENDPOINT_FLAG_CLOUD_SERVICE, ENDPOINT_FLAG_CONNECTED, ENI_FLAG_ENDPOINT_CLIENT, ENI_FLAG_SECURITY_GROUPS, ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT, Eni, EniAddressKey, EndpointEni};

use super::{CompileError, MapEntries, Policies, PolicyKey, groups_policies, vswitch_acl};
use crate::model::{self, EndpointServiceStatus, Model};

/// The numeric ids compile gave the model's VPCs, vSwitches and route
/// tables.
pub(super) struct Ids<'a> {
    /// VPC id -> number.
    pub vpcs: &'a BTreeMap<&'a str, u32>,
    /// vSwitch id -> number.
    pub vswitches: &'a BTreeMap<&'a str, u32>,
    /// Route table id -> number (of its current generation).
    pub tables: &'a BTreeMap<&'a str, u32>,
}

/// The ENI of vSwitch `vsw` holding `ip`, as the datapath judges packets
/// to and from it (not a router port: no MACs, no port flag).
fn eni_in(model: &Model, ids: &Ids, vsw: &model::VSwitch, ip: std::net::Ipv4Addr, policies: &mut Policies, out: &mut MapEntries) -> Result<Option<Eni>, CompileError> {
    let (Some(&vpc_id), Some(&vswitch_id), Some(rt)) = (ids.vpcs.get(vsw.vpc_id.as_str()), ids.vswitches.get(vsw.id.as_str()), model.route_table_of(vsw)) else {
        return Ok(None);
    };
    let (flags, acl_ingress, acl_egress) = vswitch_acl(model, vsw, policies, out)?;
    Ok(Some(Eni {
        vpc_id,
        vswitch_id,
        route_table_id: ids.tables.get(rt.id.as_str()).copied().unwrap_or(0),
        flags,
        ip: ip.octets(),
        gateway_ip: model::vswitch_gateway(&vsw.cidr_block).octets(),
        vswitch_addr: vsw.cidr_block.network().octets(),
        vswitch_mask: vsw.cidr_block.netmask().octets(),
        acl_ingress,
        acl_egress,
        ..Eni::default()
    }))
}

pub(super) fn compile(
    model: &Model,
    ids: &Ids,
    members: &BTreeMap<String, Vec<ipnet::Ipv4Net>>,
    policies: &mut Policies,
    out: &mut MapEntries,
) -> Result<(), CompileError> {
    let mut consumer_vpcs = BTreeSet::new();
    // Endpoints of cloud services: their addresses in the services network.
    let sources = model.endpoint_sources();
    for ep in &model.vpc_endpoints {
        let service = model.endpoint_services.iter().find(|s| s.id == ep.service_id);
        let service_up = service.is_some_and(|s| s.status == EndpointServiceStatus::Active && s.allows(&ep.meta.owner_id));
        // The endpoint's security groups (SG-4): inbound default drop,
        // outbound default accept, as an instance's.
        let (mut sg_flags, mut sg_ingress, mut sg_egress) = (0, 0, 0);
        if !ep.security_group_ids.is_empty() {
            let (ingress, egress) = groups_policies(model, &ep.security_group_ids, members);
            sg_ingress = policies.install(&PolicyKey::of(ingress), out)?;
            sg_egress = policies.install(&PolicyKey::of(egress), out)?;
            sg_flags = ENI_FLAG_SECURITY_GROUPS | ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT;
        }
        for z in &ep.zones {
            let Some(vsw) = model.vswitch(&z.vswitch_id) else {
                continue;
            };
            let Some(mut eni) = eni_in(model, ids, vsw, z.eni_ip, policies, out)? else {
                continue;
            };
            eni.flags |= sg_flags;
            eni.sg_ingress = sg_ingress;
            eni.sg_egress = sg_egress;
            let cloud = service.is_some_and(|s| s.cloud_service.is_some());
            // The provider's side: for the cloud's service, the services
            // network as from the endpoint's address there; else the
            // service's load balancer in the ENI's zone (EP-3), else in
            // its first zone.
            let provider = if cloud {
                sources.get(&ep.id).map(|ip| Eni { ip: ip.octets(), ..Eni::default() })
            } else {
                match service.and_then(|s| s.resource_in(&z.zone_id).or(s.resources.first())) {
                    Some(r) => match model.load_balancer(&r.resource_id).and_then(|lb| lb.zone(&r.zone_id)) {
                        Some(zm) => match model.vswitch(&zm.vswitch_id) {
                            Some(pvsw) => eni_in(model, ids, pvsw, zm.private_ipv4, policies, out)?,
                            None => None,
                        },
                        None => None,
                    },
                    None => None,
                }
            };
            let connected = service_up && ep.zone_connected(z) && provider.is_some();
            out.endpoint_enis.insert(
                EniAddressKey { vpc_id: eni.vpc_id, addr: eni.ip },
                EndpointEni {
                    eni,
                    provider: provider.unwrap_or_default(),
                    endpoint_id: model.numeric_id(&ep.id),
                    flags: if connected { ENDPOINT_FLAG_CONNECTED } else { 0 }
                        | if cloud { ENDPOINT_FLAG_CLOUD_SERVICE } else { 0 },
                    service_ip: if cloud { model.router.services.object_storage_internal_ip.octets() } else { [0; 4] },
                },
            );
            consumer_vpcs.insert(eni.vpc_id);
        }
    }
    for eni in out.eni_by_port.values_mut() {
        if consumer_vpcs.contains(&eni.vpc_id) {
            eni.flags |= ENI_FLAG_ENDPOINT_CLIENT;
        }
    }
    Ok(())
}
