//! Where a request to the object storage service came from, in the
//! model's terms: the datapath's lookup
//! ([`crate::datapath::origin::EndpointOrigins`]) gives the instance's
//! address and the numeric ids of its VPC and endpoint; this maps them to
//! the VPC id, the endpoint id and the endpoint's policy document. A peer
//! no endpoint translated (the internet, the services network itself)
//! keeps its own address and has no VPC.
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use aya::maps::MapData;

use crate::{
    datapath::origin::{EndpointOrigin, EndpointOrigins, OriginError},
    model::Model,
};

/// A request's source as the policies see it (`acs:SourceIp`,
/// `acs:SourceVpc`, the endpoint id and the endpoint's policy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSource {
    /// The instance's private address through an endpoint; else the peer's
    /// address (e.g. a public IP over the lab internet).
    pub source_ip: Ipv4Addr,
    /// The instance's VPC (through an endpoint), else None.
    pub vpc_id: Option<String>,
    /// The gateway endpoint the request came through, else None.
    pub endpoint_id: Option<String>,
    /// That endpoint's policy document; None: none set (the default, full
    /// access, POL-2) or no endpoint.
    pub endpoint_policy: Option<String>,
}

/// Maps a datapath origin (or none) of a connection from `peer` to the
/// model's ids. An endpoint or VPC deleted since the connection opened
/// leaves its field None (the request is then judged as from no VPC).
pub fn attribute(model: &Model, peer: Ipv4Addr, origin: Option<EndpointOrigin>) -> RequestSource {
    let Some(o) = origin else {
        return RequestSource {
            source_ip: peer,
            vpc_id: None,
            endpoint_id: None,
            endpoint_policy: None,
        };
    };
    let vpc_id = model
        .vpcs
        .iter()
        .find(|v| model.numeric_id(&v.id) == o.vpc_numeric_id)
        .map(|v| v.id.clone());
    let endpoint = model
        .gateway_endpoints
        .iter()
        .find(|e| o.endpoint_numeric_id != 0 && model.numeric_id(&e.id) == o.endpoint_numeric_id);
    RequestSource {
        source_ip: o.source_ip,
        vpc_id,
        endpoint_id: endpoint.map(|e| e.id.clone()),
        endpoint_policy: endpoint.and_then(|e| e.policy_document.clone()),
    }
}

/// The datapath lookup of the router the daemon drives, opened once.
pub struct EndpointSources {
    maps: EndpointOrigins<MapData>,
}

impl EndpointSources {
    /// Opens the pinned maps of the router of `router_ns`.
    pub fn open(router_ns: &str) -> Result<Self, OriginError> {
        Ok(Self {
            maps: EndpointOrigins::open(router_ns)?,
        })
    }

    /// The source of a TCP connection the service accepted from `peer` on
    /// `local`, in `model`'s terms. IPv6 peers have no VPC.
    pub fn source(
        &self,
        model: &Model,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Result<RequestSource, OriginError> {
        let (SocketAddr::V4(p), SocketAddr::V4(l)) = (peer, local) else {
            return Ok(RequestSource {
                source_ip: Ipv4Addr::UNSPECIFIED,
                vpc_id: None,
                endpoint_id: None,
                endpoint_policy: None,
            });
        };
        let origin = self.maps.lookup(
            SocketAddrV4::new(*p.ip(), p.port()),
            SocketAddrV4::new(*l.ip(), l.port()),
        )?;
        Ok(attribute(model, *p.ip(), origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[gateway_endpoint]]
id = "vpce-a"
vpc_id = "vpc-a"
service_name = "com.aliyun.cn-hangzhou.oss"
policy_document = '{"Version":"1","Statement":[]}'
"#;

    #[test]
    fn an_endpoint_origin_names_the_vpc_the_endpoint_and_its_policy() {
        let m = Model::from_toml(MODEL).unwrap();
        let o = EndpointOrigin {
            source_ip: Ipv4Addr::new(10, 0, 1, 10),
            source_port: 40000,
            vpc_numeric_id: m.numeric_id("vpc-a"),
            endpoint_numeric_id: m.numeric_id("vpce-a"),
        };
        let s = attribute(&m, Ipv4Addr::new(100, 127, 3, 4), Some(o));
        assert_eq!(s.source_ip, Ipv4Addr::new(10, 0, 1, 10));
        assert_eq!(s.vpc_id.as_deref(), Some("vpc-a"));
        assert_eq!(s.endpoint_id.as_deref(), Some("vpce-a"));
        assert_eq!(
            s.endpoint_policy.as_deref(),
            Some(r#"{"Version":"1","Statement":[]}"#)
        );
    }

    #[test]
    fn a_peer_no_endpoint_translated_keeps_its_address_and_has_no_vpc() {
        let m = Model::from_toml(MODEL).unwrap();
        let s = attribute(&m, Ipv4Addr::new(192, 0, 2, 31), None);
        assert_eq!(
            s,
            RequestSource {
                source_ip: Ipv4Addr::new(192, 0, 2, 31),
                vpc_id: None,
                endpoint_id: None,
                endpoint_policy: None
            }
        );
    }
}
