//! Where a request to a cloud service came from: the services network sees
//! a gateway endpoint's own source address and a translated port; the port
//! translation the datapath keeps (`NAT_IN`, facing the services side) maps
//! that back to the instance and its VPC, and the endpoint's address to the
//! endpoint (`GATEWAY_ENDPOINTS`). The object storage service asks this for
//! every accepted connection (the lead wires it into its `Origins`).
use std::{
    borrow::Borrow,
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
};

use aya::maps::{HashMap, Map, MapData, MapError};
use thiserror::Error;
use vpc_common::{
    GatewayEndpointTarget, NAT_VIA_GATEWAY_ENDPOINT, NatInKey, NatInValue, PrivateLinkIn,
    PrivateLinkInKey, map_names,
};

use super::{Datapath, pin_dir};

/// Why the endpoint origins could not be read.
#[derive(Debug, Error)]
pub enum OriginError {
    /// The router's maps are not pinned (no router of that namespace runs).
    #[error("map {map} is not pinned at {}: no router of namespace {namespace} is running", path.display())]
    NotPinned {
        map: &'static str,
        path: PathBuf,
        namespace: String,
    },
    /// Opening or reading a map failed.
    #[error("map {map}: {source}")]
    Map { map: &'static str, source: MapError },
    /// The loaded datapath lacks a map (another version of the object).
    #[error("the loaded datapath has no map {0}")]
    Missing(&'static str),
}

/// A connection that came through a gateway endpoint, as the VPC sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointOrigin {
    /// The instance's own (private) address.
    pub source_ip: Ipv4Addr,
    /// The instance's own source port.
    pub source_port: u16,
    /// Numeric id of the instance's VPC (`Model::numeric_id`).
    pub vpc_numeric_id: u32,
    /// Numeric id of the endpoint (`Model::numeric_id`), 0 if its address
    /// names no endpoint any more (deleted while the connection lived).
    pub endpoint_numeric_id: u32,
}

/// The maps the lookup reads, opened once (from the pins, or from the
/// loaded datapath).
pub struct EndpointOrigins<T> {
    nat_in: HashMap<T, NatInKey, NatInValue>,
    endpoints: HashMap<T, u32, GatewayEndpointTarget>,
    privatelink_in: HashMap<T, PrivateLinkInKey, PrivateLinkIn>,
}

impl EndpointOrigins<MapData> {
    /// Opens the pinned maps of the router of namespace `router_ns`.
    pub fn open(router_ns: &str) -> Result<Self, OriginError> {
        let dir = pin_dir(router_ns);
        let open = |map: &'static str| -> Result<Map, OriginError> {
            let path = dir.join(map);
            if !path.exists() {
                return Err(OriginError::NotPinned {
                    map,
                    path,
                    namespace: router_ns.to_string(),
                });
            }
            let data =
                MapData::from_pin(&path).map_err(|source| OriginError::Map { map, source })?;
            Map::from_map_data(data).map_err(|source| OriginError::Map { map, source })
        };
        let err = |map: &'static str| move |source| OriginError::Map { map, source };
        Ok(Self {
            nat_in: HashMap::try_from(open(map_names::NAT_IN)?).map_err(err(map_names::NAT_IN))?,
            endpoints: HashMap::try_from(open(map_names::GATEWAY_ENDPOINTS)?)
                .map_err(err(map_names::GATEWAY_ENDPOINTS))?,
            privatelink_in: HashMap::try_from(open(map_names::PRIVATELINK_IN)?)
                .map_err(err(map_names::PRIVATELINK_IN))?,
        })
    }
}

impl<T: Borrow<MapData>> EndpointOrigins<T> {
    /// The origin of a TCP connection the service accepted from `peer` (the
    /// translated source, as the service sees it) on `service` (its own
    /// address and port), if it came through a gateway endpoint; None for
    /// any other peer (the internet, the services network itself).
    pub fn lookup(
        &self,
        peer: SocketAddrV4,
        service: SocketAddrV4,
    ) -> Result<Option<EndpointOrigin>, OriginError> {
        match lookup(&self.nat_in, &self.endpoints, peer, service, 6)? {
            Some(o) => Ok(Some(o)),
            None => interface_lookup(&self.privatelink_in, peer, 6),
        }
    }
}

impl Datapath {
    /// [`EndpointOrigins::lookup`] on this loaded datapath's maps.
    pub fn gateway_endpoint_origin(
        &self,
        peer: SocketAddrV4,
        service: SocketAddrV4,
    ) -> Result<Option<EndpointOrigin>, OriginError> {
        let map = |name: &'static str| self.ebpf.map(name).ok_or(OriginError::Missing(name));
        let err = |map: &'static str| move |source| OriginError::Map { map, source };
        let nat_in: HashMap<&MapData, NatInKey, NatInValue> =
            HashMap::try_from(map(map_names::NAT_IN)?).map_err(err(map_names::NAT_IN))?;
        let endpoints: HashMap<&MapData, u32, GatewayEndpointTarget> =
            HashMap::try_from(map(map_names::GATEWAY_ENDPOINTS)?)
                .map_err(err(map_names::GATEWAY_ENDPOINTS))?;
        let privatelink_in: HashMap<&MapData, PrivateLinkInKey, PrivateLinkIn> =
            HashMap::try_from(map(map_names::PRIVATELINK_IN)?).map_err(err(map_names::PRIVATELINK_IN))?;
        match lookup(&nat_in, &endpoints, peer, service, 6)? {
            Some(o) => Ok(Some(o)),
            None => interface_lookup(&privatelink_in, peer, 6),
        }
    }
}

/// The origin of a connection from `peer` (an interface endpoint's address
/// and port in the services network) through an interface endpoint of a
/// cloud service (`PRIVATELINK_IN`, keyed in the services network's VPC 0).
fn interface_lookup<T: Borrow<MapData>>(
    privatelink_in: &HashMap<T, PrivateLinkInKey, PrivateLinkIn>,
    peer: SocketAddrV4,
    proto: u8,
) -> Result<Option<EndpointOrigin>, OriginError> {
    let key = PrivateLinkInKey { vpc_id: 0, addr: peer.ip().octets(), port: peer.port().to_be_bytes(), proto, pad: 0 };
    match privatelink_in.get(&key, 0) {
        Ok(c) => Ok(Some(EndpointOrigin {
            source_ip: Ipv4Addr::from(c.client),
            source_port: u16::from_be_bytes(c.client_port),
            vpc_numeric_id: c.vpc_id,
            endpoint_numeric_id: c.endpoint_id,
        })),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(source) => Err(OriginError::Map { map: map_names::PRIVATELINK_IN, source }),
    }
}

/// The lookup itself, for protocol `proto`.
fn lookup<T: Borrow<MapData>>(
    nat_in: &HashMap<T, NatInKey, NatInValue>,
    endpoints: &HashMap<T, u32, GatewayEndpointTarget>,
    peer: SocketAddrV4,
    service: SocketAddrV4,
    proto: u8,
) -> Result<Option<EndpointOrigin>, OriginError> {
    let key = NatInKey {
        public_ip: peer.ip().octets(),
        remote: service.ip().octets(),
        public_port: peer.port().to_be_bytes(),
        remote_port: service.port().to_be_bytes(),
        proto,
        pad: [0; 3],
    };
    let binding = match nat_in.get(&key, 0) {
        Ok(b) => b,
        Err(MapError::KeyNotFound) => return Ok(None),
        Err(source) => {
            return Err(OriginError::Map {
                map: map_names::NAT_IN,
                source,
            });
        }
    };
    if binding.via != NAT_VIA_GATEWAY_ENDPOINT {
        return Ok(None);
    }
    let mut endpoint_numeric_id = 0;
    for kv in endpoints.iter() {
        let (id, e) = kv.map_err(|source| OriginError::Map {
            map: map_names::GATEWAY_ENDPOINTS,
            source,
        })?;
        if e.source_ip == peer.ip().octets() && e.vpc_id == binding.vpc_id {
            endpoint_numeric_id = id;
            break;
        }
    }
    Ok(Some(EndpointOrigin {
        source_ip: Ipv4Addr::from(binding.private_ip),
        source_port: u16::from_be_bytes(binding.private_port),
        vpc_numeric_id: binding.vpc_id,
        endpoint_numeric_id,
    }))
}
