//! Pure derivation of the lab's kernel objects from the model: namespace
//! names, router port names and MACs. Deterministic, so applying the same
//! model twice finds the same objects.
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{self, Model};

/// MAC of every router port: the cloud's vSwitch gateway MAC.
pub const ROUTER_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];

/// Name of the ENI's interface inside the instance namespace.
pub const INSTANCE_IFNAME: &str = "eth0";

/// Key of the uplink port in the ifindex map `compile` takes (next to ENI ids).
pub const UPLINK_PORT: &str = "uplink";
/// Router-side name of the uplink veth (in the router namespace).
pub const UPLINK_IFNAME: &str = "uplink0";
/// Name of the uplink veth's other end, in the internet namespace.
pub const INTERNET_IFNAME: &str = "inet0";
/// MAC of the internet side of the uplink.
pub const INTERNET_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x53, 0x01];
/// The uplink's link network: the router is .1 (answered by ARP in XDP),
/// the internet side .2; public addresses are routed via .1.
pub const UPLINK_ROUTER_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
/// The internet side's link address.
pub const UPLINK_INTERNET_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 2);
/// Prefix length of the uplink's link network.
pub const UPLINK_PREFIX_LEN: u8 = 30;

/// Key of the services port in the ifindex map `compile` takes.
pub const SERVICES_PORT: &str = "services";
/// Router-side name of the services veth (in the router namespace).
pub const SERVICES_IFNAME: &str = "services0";
/// Name of the services veth's other end, in the services namespace.
pub const SERVICES_NS_IFNAME: &str = "svc0";
/// MAC of the services side of the services port.
pub const SERVICES_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x53, 0x02];
/// The services port's link network: the router is .5 (answered by ARP in
/// the router program), the services side .6; endpoint sources are routed
/// via .5.
pub const SERVICES_ROUTER_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 5);
/// The services side's link address.
pub const SERVICES_LINK_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 6);
/// Prefix length of the services port's link network.
pub const SERVICES_PREFIX_LEN: u8 = 30;

/// The health-check side's address in each VPC's health-check namespace
/// ([`vpc_common::HEALTH_CHECK_ADDR`]), on a /30 whose .2 is the router
/// (answered by ARP like a vSwitch gateway).
pub const HEALTH_CHECK_IP: Ipv4Addr = Ipv4Addr::new(100, 100, 0, 1);
/// The health-check namespace's gateway: the router.
pub const HEALTH_CHECK_GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 100, 0, 2);
/// Prefix length of the health-check port's link network.
pub const HEALTH_CHECK_PREFIX_LEN: u8 = 30;

/// The key of a VPC's health-check port in the ifindex map `compile` takes
/// (its "ENI id"; instance ENI ids are `eni-...`).
pub fn health_check_eni(vpc_id: &str) -> String {
    format!("hc-{vpc_id}")
}

/// The namespace a router makes for the health checks of a VPC (unique per
/// router and VPC).
pub fn health_check_namespace(router_ns: &str, vpc_id: &str) -> String {
    format!("{router_ns}-hc-{:08x}", numeric_id(vpc_id))
}

/// Prefix of router port names; the alias of a port records its instance.
pub const PORT_PREFIX: &str = "eni";

/// Prefix of the alias set on each router port: `vpc-instance:<instance id>`.
pub const PORT_ALIAS_PREFIX: &str = "vpc-instance:";

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Stable numeric id (never 0) of an id: its hash (router port names; the
/// datapath's keys use [`crate::model::Model::numeric_id`]).
pub fn numeric_id(id: &str) -> u32 {
    crate::model::hashed_id(id)
}

/// MAC of an ENI: locally administered, derived from its id.
pub fn eni_mac(eni_id: &str) -> [u8; 6] {
    let h = fnv1a(eni_id.as_bytes()).to_be_bytes();
    [0x02, h[0], h[1], h[2], h[3], h[4]]
}

/// Router-side interface name of an ENI's veth (at most 15 characters).
pub fn port_name(eni_id: &str) -> String {
    format!("{PORT_PREFIX}{:08x}", numeric_id(eni_id))
}

/// One instance port: a veth from the router namespace into the instance's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPlan {
    /// Instance id (also its namespace name).
    pub instance_id: String,
    /// ENI id.
    pub eni_id: String,
    /// Router-side interface name.
    pub port_name: String,
    /// ENI MAC (the instance side).
    pub mac: [u8; 6],
    /// Address and vSwitch prefix length, set on the instance side.
    pub address: Ipv4Net,
    /// vSwitch gateway: the instance's default route.
    pub gateway: Ipv4Addr,
    /// More addresses (/32) of the instance side: a services port's DNS
    /// addresses.
    pub extra_addresses: Vec<Ipv4Net>,
}

/// Everything apply must create in the kernel, besides maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Router namespace.
    pub router_namespace: String,
    /// One port per instance.
    pub ports: Vec<PortPlan>,
}

/// Plans the topology of a validated model.
pub fn plan(model: &Model) -> Plan {
    let addresses = model::instance_addresses(model);
    let ports = model
        .instances
        .iter()
        .zip(addresses)
        .filter_map(|(inst, (_, addr))| {
            let vsw = model.vswitch(&inst.vswitch_id)?;
            let addr = addr?;
            let eni_id = inst.eni_id();
            Some(PortPlan {
                instance_id: inst.id.clone(),
                port_name: port_name(&eni_id),
                mac: eni_mac(&eni_id),
                address: Ipv4Net::new(addr, vsw.cidr_block.prefix_len()).ok()?,
                gateway: model::vswitch_gateway(&vsw.cidr_block),
                eni_id,
                extra_addresses: Vec::new(),
            })
        })
        .collect::<Vec<_>>();
    // Each VPC whose backends the daemon checks, or with instances or
    // endpoints: a services port of its own, from which the checks cross
    // the VPC as any traffic does and where its resolver answers.
    let mut ports = ports;
    for vpc_id in super::services_vpcs(model) {
        let eni_id = health_check_eni(&vpc_id);
        ports.push(PortPlan {
            instance_id: health_check_namespace(&model.router.namespace, &vpc_id),
            port_name: port_name(&eni_id),
            mac: eni_mac(&eni_id),
            address: Ipv4Net::new(HEALTH_CHECK_IP, HEALTH_CHECK_PREFIX_LEN)
                .expect("HEALTH_CHECK_PREFIX_LEN is a valid prefix length"),
            gateway: HEALTH_CHECK_GATEWAY,
            eni_id,
            extra_addresses: super::dns::DNS_ADDRS
                .iter()
                .map(|a| Ipv4Net::from(*a))
                .collect(),
        });
    }
    Plan {
        router_namespace: model.router.namespace.clone(),
        ports,
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits_and_are_stable() {
        let name = port_name("eni-a-very-long-instance-identifier-0123456789");
        assert!(name.len() <= 15);
        assert_eq!(
            name,
            port_name("eni-a-very-long-instance-identifier-0123456789")
        );
        assert_ne!(port_name("eni-1"), port_name("eni-2"));
    }

    #[test]
    fn vpc_4_eni_macs_are_unicast_and_locally_administered() {
        let mac = eni_mac("eni-1");
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
        assert_eq!(ROUTER_MAC[0] & 0x01, 0);
        assert_eq!(format_mac(&ROUTER_MAC), "ee:ff:ff:ff:ff:ff");
    }
}
