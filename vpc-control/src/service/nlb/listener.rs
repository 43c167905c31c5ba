//! Listeners: CreateListener, StartListener, StopListener, ListListeners,
//! GetListenerAttribute, DeleteListener.
use serde::{Deserialize, Serialize};

use super::{
    JobAnswer, any_or, illegal, in_range, load_balancer::lb_index, mismatch, not_found, page,
    protocol, record_job, refuse_unless, server_group::sg_index,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{Listener, ListenerStatus},
    service::{Action, Draft, params::given, tag},
};

/// Most listeners of one load balancer.
pub const MAX_LISTENERS_PER_LOAD_BALANCER: usize = 50;

/// Index of the listener `id` the caller has, or
/// `ResourceNotFound.listener`.
fn listener_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .listeners
        .iter()
        .position(|l| l.id == id && d.caller.owns(&l.meta.owner_id))
        .ok_or_else(|| not_found("listener", id))
}

/// ProxyProtocolV2Config: not served.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProxyProtocolV2Param {
    ppv2_private_link_ep_id_enabled: Option<bool>,
    ppv2_private_link_eps_id_enabled: Option<bool>,
    ppv2_vpc_id_enabled: Option<bool>,
}

/// CreateListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateListener {
    load_balancer_id: String,
    /// TCP or UDP (TCPSSL is not served).
    listener_protocol: String,
    /// 1..=65535, unique per load balancer and protocol.
    listener_port: Option<u32>,
    /// A server group of the load balancer's VPC, of the same protocol.
    server_group_id: String,
    listener_description: Option<String>,
    /// 1..=900 seconds (default 900).
    idle_timeout: Option<u32>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// All-port listeners are not served.
    #[serde(rename = "StartPort")]
    _start_port: Option<Unsupported>,
    #[serde(rename = "EndPort")]
    _end_port: Option<Unsupported>,
    /// TLS (TCPSSL) settings are not served.
    #[serde(rename = "CertificateIds")]
    _certificate_ids: Option<Unsupported>,
    #[serde(rename = "CaCertificateIds")]
    _ca_certificate_ids: Option<Unsupported>,
    #[serde(rename = "SecurityPolicyId")]
    _security_policy_id: Option<Unsupported>,
    #[serde(rename = "AlpnPolicy")]
    _alpn_policy: Option<Unsupported>,
    alpn_enabled: Option<bool>,
    ca_enabled: Option<bool>,
    /// Connection rate and MSS limits are not served.
    #[serde(rename = "Cps")]
    _cps: Option<Unsupported>,
    #[serde(rename = "Mss")]
    _mss: Option<Unsupported>,
    proxy_protocol_enabled: Option<bool>,
    #[serde(default, rename = "ProxyProtocolV2Config")]
    proxy_protocol_v2_config: ProxyProtocolV2Param,
    sec_sensor_enabled: Option<bool>,
}

/// CreateListener's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateListenerResponse {
    job_id: String,
    listener_id: String,
}

impl Action for CreateListener {
    const NAME: &'static str = "CreateListener";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a TCP or UDP listener on a port of a network load balancer's addresses, sent to a server group; it runs at once.";
    type Response = CreateListenerResponse;

    fn run(self, d: &mut Draft) -> Result<CreateListenerResponse, ApiError> {
        refuse_unless("AlpnEnabled", self.alpn_enabled, false)?;
        refuse_unless("CaEnabled", self.ca_enabled, false)?;
        refuse_unless("ProxyProtocolEnabled", self.proxy_protocol_enabled, false)?;
        refuse_unless("SecSensorEnabled", self.sec_sensor_enabled, false)?;
        let pp = &self.proxy_protocol_v2_config;
        refuse_unless(
            "ProxyProtocolV2Config.Ppv2PrivateLinkEpIdEnabled",
            pp.ppv2_private_link_ep_id_enabled,
            false,
        )?;
        refuse_unless(
            "ProxyProtocolV2Config.Ppv2PrivateLinkEpsIdEnabled",
            pp.ppv2_private_link_eps_id_enabled,
            false,
        )?;
        refuse_unless(
            "ProxyProtocolV2Config.Ppv2VpcIdEnabled",
            pp.ppv2_vpc_id_enabled,
            false,
        )?;
        if self.listener_protocol.is_empty() {
            return Err(ApiError::missing("ListenerProtocol"));
        }
        let proto = protocol("ListenerProtocol", &self.listener_protocol)?;
        let port = match self.listener_port {
            None => return Err(ApiError::missing("ListenerPort")),
            Some(0) => return Err(ApiError::unsupported("ListenerPort")),
            Some(p @ 1..=65535) => p as u16,
            Some(p) => return Err(illegal("ListenerPort", format!("{p} is outside 0..=65535"))),
        };
        let idle_timeout = in_range("IdleTimeout", self.idle_timeout, 1..=900, 900)?;
        let li = lb_index(d, &self.load_balancer_id)?;
        let gi = sg_index(d, &self.server_group_id)?;
        let (lb, group) = (&d.model.load_balancers[li], &d.model.server_groups[gi]);
        if lb.vpc_id != group.vpc_id {
            return Err(mismatch(
                "VpcId",
                format!(
                    "The server group {} is in {}, the load balancer {} in {}.",
                    group.id, group.vpc_id, lb.id, lb.vpc_id
                ),
            ));
        }
        if group.protocol != proto {
            return Err(mismatch(
                "Protocol",
                format!(
                    "The server group {} is {}, the listener {}.",
                    group.id,
                    group.protocol.as_str(),
                    proto.as_str()
                ),
            ));
        }
        let mut count = 0;
        for other in d.model.listeners_of(&lb.id) {
            count += 1;
            if other.protocol == proto && other.port == port {
                return Err(ApiError::bad(
                    "ResourceAlreadyExist.listener",
                    format!(
                        "The load balancer {} already has the {} listener {} on port {port}.",
                        lb.id,
                        proto.as_str(),
                        other.id
                    ),
                ));
            }
        }
        if count >= MAX_LISTENERS_PER_LOAD_BALANCER {
            return Err(ApiError::bad(
                "QuotaExceeded.ListenersNum",
                format!("A load balancer has at most {MAX_LISTENERS_PER_LOAD_BALANCER} listeners."),
            ));
        }
        let region = lb.meta.region_id.clone();
        let mut meta = d.new_meta(None);
        if !region.is_empty() {
            meta.region_id = region;
        }
        meta.tags = tag::from_params(&self.tag)?;
        let id = new_id("lsn");
        d.model.listeners.push(Listener {
            id: id.clone(),
            load_balancer_id: self.load_balancer_id,
            protocol: proto,
            port,
            server_group_id: self.server_group_id,
            status: ListenerStatus::Running,
            description: self.listener_description.unwrap_or_default(),
            idle_timeout,
            meta,
        });
        let job_id = record_job(d, &id, Self::NAME);
        Ok(CreateListenerResponse {
            job_id,
            listener_id: id,
        })
    }
}

/// StartListener / StopListener: the listener's status to `to`.
fn set_status(
    d: &mut Draft,
    id: &str,
    to: ListenerStatus,
    action: &str,
) -> Result<JobAnswer, ApiError> {
    let i = listener_index(d, id)?;
    let l = &mut d.model.listeners[i];
    if l.status == to {
        return Err(ApiError::bad(
            "IncorrectStatus.listener",
            format!("The listener {id} is already {}.", to.as_str()),
        ));
    }
    l.status = to;
    Ok(JobAnswer::new(record_job(d, id, action)))
}

/// StartListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartListener {
    listener_id: String,
}

impl Action for StartListener {
    const NAME: &'static str = "StartListener";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Starts a stopped listener: it forwards again.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        set_status(d, &self.listener_id, ListenerStatus::Running, Self::NAME)
    }
}

/// StopListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StopListener {
    listener_id: String,
}

impl Action for StopListener {
    const NAME: &'static str = "StopListener";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Stops a running listener: it forwards nothing until started.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        set_status(d, &self.listener_id, ListenerStatus::Stopped, Self::NAME)
    }
}

/// DeleteListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteListener {
    listener_id: String,
}

impl Action for DeleteListener {
    const NAME: &'static str = "DeleteListener";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a listener.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        let i = listener_index(d, &self.listener_id)?;
        d.model.listeners.remove(i);
        Ok(JobAnswer::new(record_job(d, &self.listener_id, Self::NAME)))
    }
}

/// A listener's attributes, as Get and List answer them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerAttributes {
    listener_id: String,
    listener_protocol: &'static str,
    listener_port: u16,
    listener_status: &'static str,
    listener_description: String,
    load_balancer_id: String,
    server_group_id: String,
    region_id: String,
    idle_timeout: u32,
    alpn_enabled: bool,
    ca_enabled: bool,
    proxy_protocol_enabled: bool,
    sec_sensor_enabled: bool,
    certificate_ids: Vec<String>,
    ca_certificate_ids: Vec<String>,
    cps: u32,
    mss: u32,
}

impl ListenerAttributes {
    fn of(l: &Listener) -> Self {
        Self {
            listener_id: l.id.clone(),
            listener_protocol: l.protocol.as_str(),
            listener_port: l.port,
            listener_status: l.status.as_str(),
            listener_description: l.description.clone(),
            load_balancer_id: l.load_balancer_id.clone(),
            server_group_id: l.server_group_id.clone(),
            region_id: l.meta.region_id.clone(),
            idle_timeout: l.idle_timeout,
            alpn_enabled: false,
            ca_enabled: false,
            proxy_protocol_enabled: false,
            sec_sensor_enabled: false,
            certificate_ids: Vec::new(),
            ca_certificate_ids: Vec::new(),
            cps: 0,
            mss: 0,
        }
    }
}

/// A tag as GetListenerAttribute answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerTag {
    tag_key: String,
    tag_value: String,
}

/// GetListenerAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetListenerAttribute {
    listener_id: String,
}

/// GetListenerAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetListenerAttributeResponse {
    #[serde(flatten)]
    attributes: ListenerAttributes,
    tags: Vec<ListenerTag>,
}

impl Action for GetListenerAttribute {
    const NAME: &'static str = "GetListenerAttribute";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows one listener: protocol, port, status, server group, tags.";
    type Response = GetListenerAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<GetListenerAttributeResponse, ApiError> {
        let l = &d.model.listeners[listener_index(d, &self.listener_id)?];
        Ok(GetListenerAttributeResponse {
            attributes: ListenerAttributes::of(l),
            tags: l
                .meta
                .tags
                .iter()
                .map(|t| ListenerTag {
                    tag_key: t.key.clone(),
                    tag_value: t.value.clone(),
                })
                .collect(),
        })
    }
}

/// ListListeners.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListListeners {
    #[serde(default)]
    listener_ids: Vec<String>,
    #[serde(default)]
    load_balancer_ids: Vec<String>,
    listener_protocol: Option<String>,
    /// No listener has the security sensor here: `true` lists none.
    sec_sensor_enabled: Option<String>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One listener in ListListeners.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedListener {
    #[serde(flatten)]
    attributes: ListenerAttributes,
    tags: Vec<tag::TagOut>,
}

/// ListListeners' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListListenersResponse {
    listeners: Vec<ListedListener>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListListeners {
    const NAME: &'static str = "ListListeners";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists listeners by id, load balancer, protocol, tags; paged by MaxResults and NextToken.";
    type Response = ListListenersResponse;

    fn run(self, d: &mut Draft) -> Result<ListListenersResponse, ApiError> {
        let sensor_on =
            given(&self.sec_sensor_enabled).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let items: Vec<(String, &Listener)> = d
            .model
            .listeners
            .iter()
            .filter(|l| {
                d.in_view(&l.meta)
                    && !sensor_on
                    && any_or(&self.listener_ids, &l.id)
                    && any_or(&self.load_balancer_ids, &l.load_balancer_id)
                    && given(&self.listener_protocol)
                        .is_none_or(|p| p.eq_ignore_ascii_case(l.protocol.as_str()))
                    && tag::matches(&l.meta.tags, &self.tag)
            })
            .map(|l| (l.id.clone(), l))
            .collect();
        let (items, next_token, total_count) =
            page("lsn", items, self.max_results, &self.next_token)?;
        Ok(ListListenersResponse {
            listeners: items
                .into_iter()
                .map(|l| ListedListener {
                    attributes: ListenerAttributes::of(l),
                    tags: tag::Tags::of(&l.meta.tags).tag,
                })
                .collect(),
            max_results: self.max_results.unwrap_or(20),
            next_token,
            total_count,
        })
    }
}
