//! The VPC resolvers (docs/dns.md): one DNS server (hickory-server) per VPC
//! that has a services port, on UDP and TCP port 53 of the cloud's VPC DNS
//! addresses, from sockets opened inside that VPC's services namespace, so
//! the VPC a query came from is the socket's (CIDRs may overlap between
//! VPCs). A supervisor recompiles what they answer
//! ([`crate::compile::dns::compile`]) when the committed model or the
//! backends' health changes, and starts, restarts (a namespace made anew)
//! and stops the servers as services namespaces come and go.
use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::{Arc, Mutex, RwLock, atomic::Ordering},
    time::Duration,
};

use hickory_proto::{
    op::{Edns, Metadata, ResponseCode},
    rr::{
        DNSClass, LowerName, Name, RData as HRData, Record, RecordType,
        rdata::{A, AAAA, CNAME, MX, PTR, SRV, TXT},
    },
};
use hickory_server::{
    Server,
    net::runtime::Time,
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};
use tokio::task::JoinHandle;

use super::App;
use crate::{
    compile::{
        Unavailable,
        dns::{self, DNS_ADDRS, RData, Rcode, Records},
        services_vpcs,
    },
    model::ZoneRecordType,
    topology,
};

/// How often the supervisor looks at the model, the health and the
/// namespaces.
const SUPERVISE_EVERY: Duration = Duration::from_millis(500);
/// Idle TCP connections are closed after this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// What every resolver answers from, swapped whole on each compile, with
/// the compile's number.
type Shared = Arc<RwLock<(u64, Arc<Records>)>>;

/// Most answers one resolver keeps built.
const MAX_CACHED: usize = 4096;

/// Answers built (response code and wire records) by the name and type
/// asked, for one compile (its number).
type Cache = (
    u64,
    HashMap<(LowerName, RecordType), Arc<(ResponseCode, Vec<Record>)>>,
);

/// The resolver of one VPC.
struct Handler {
    vpc_id: String,
    records: Shared,
    cache: Mutex<Cache>,
}

impl Handler {
    /// The answer to `name` `kind` from the current names: built once per
    /// compile, then taken from the cache.
    fn answer(&self, name: &LowerName, kind: RecordType) -> Arc<(ResponseCode, Vec<Record>)> {
        let (generation, records) = self
            .records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let key = (name.clone(), kind);
        {
            let c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if c.0 == generation {
                if let Some(a) = c.1.get(&key) {
                    return a.clone();
                }
            }
        }
        let ans = records.resolve(&self.vpc_id, &name.to_string(), kind_of(kind));
        let rcode = match ans.rcode {
            Rcode::NoError => ResponseCode::NoError,
            Rcode::NxDomain => ResponseCode::NXDomain,
        };
        let built = Arc::new((
            rcode,
            ans.records.iter().filter_map(record).collect::<Vec<_>>(),
        ));
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 != generation {
            *c = (generation, HashMap::new());
        }
        if c.1.len() < MAX_CACHED {
            c.1.insert(key, built.clone());
        }
        built
    }
}

/// The record type asked, as the compile names it (`None`: a type no
/// record has).
fn kind_of(t: RecordType) -> Option<ZoneRecordType> {
    Some(match t {
        RecordType::A => ZoneRecordType::A,
        RecordType::AAAA => ZoneRecordType::AAAA,
        RecordType::CNAME => ZoneRecordType::CNAME,
        RecordType::TXT => ZoneRecordType::TXT,
        RecordType::MX => ZoneRecordType::MX,
        RecordType::PTR => ZoneRecordType::PTR,
        RecordType::SRV => ZoneRecordType::SRV,
        _ => return None,
    })
}

/// A fully qualified name (`None`: not a name hickory takes).
fn fqdn(n: &str) -> Option<Name> {
    let mut name = Name::from_str(n).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// One compiled record as a wire record.
fn record(rr: &dns::Rr) -> Option<Record> {
    let data = match &rr.data {
        RData::A(ip) => HRData::A(A(*ip)),
        RData::Aaaa(ip) => HRData::AAAA(AAAA(*ip)),
        RData::Cname(t) => HRData::CNAME(CNAME(fqdn(t)?)),
        RData::Txt(t) => HRData::TXT(TXT::new(vec![t.clone()])),
        RData::Mx {
            preference,
            exchange,
        } => HRData::MX(MX::new(*preference, fqdn(exchange)?)),
        RData::Ptr(t) => HRData::PTR(PTR(fqdn(t)?)),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => HRData::SRV(SRV::new(*priority, *weight, *port, fqdn(target)?)),
    };
    Some(Record::from_rdata(fqdn(&rr.name)?, rr.ttl, data))
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let edns = request.edns.as_ref().map(|_| {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e
        });
        let builder = match &edns {
            Some(e) => {
                let mut b = builder;
                b.edns(e);
                b
            }
            None => builder,
        };
        let queries = request.queries.queries();
        let answer = match queries {
            [q] if q.query_class() == DNSClass::IN
                && request.metadata.op_code == hickory_proto::op::OpCode::Query =>
            {
                self.answer(q.name(), q.query_type())
            }
            [_] => Arc::new((ResponseCode::Refused, Vec::new())),
            _ => Arc::new((ResponseCode::FormErr, Vec::new())),
        };
        let (rcode, answers) = (answer.0, &answer.1);
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.response_code = rcode;
        meta.authoritative = true;
        meta.recursion_available = true;
        let msg = builder.build(
            meta,
            answers.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match response.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(vpc = %self.vpc_id, error = %e, "a DNS answer could not be sent");
                let mut meta = Metadata::response_from_request(&request.metadata);
                meta.response_code = ResponseCode::ServFail;
                hickory_proto::op::Header {
                    metadata: meta,
                    counts: Default::default(),
                }
                .into()
            }
        }
    }
}

/// The sockets of one resolver, opened inside namespace `ns`.
fn sockets_in(ns: &str) -> std::io::Result<(Vec<std::net::UdpSocket>, Vec<std::net::TcpListener>)> {
    if !crate::netns::exists(ns) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no namespace {ns}"),
        ));
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _guard = crate::netns::NetnsGuard::enter(ns).map_err(std::io::Error::other)?;
            let (mut udp, mut tcp) = (Vec::new(), Vec::new());
            for a in DNS_ADDRS {
                let addr = SocketAddr::new(IpAddr::V4(a), 53);
                let u = std::net::UdpSocket::bind(addr)?;
                u.set_nonblocking(true)?;
                udp.push(u);
                let t = std::net::TcpListener::bind(addr)?;
                t.set_nonblocking(true)?;
                tcp.push(t);
            }
            Ok((udp, tcp))
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the binding thread panicked")))
    })
}

/// A running resolver: the namespace inode it listens in, its task.
struct Running {
    inode: u64,
    task: JoinHandle<()>,
}

/// Starts the resolver of `vpc_id` on its sockets ([`sockets_in`]).
fn start(
    vpc_id: &str,
    (udp, tcp): (Vec<std::net::UdpSocket>, Vec<std::net::TcpListener>),
    records: &Shared,
) -> std::io::Result<JoinHandle<()>> {
    let mut server = Server::new(Handler {
        vpc_id: vpc_id.to_string(),
        records: records.clone(),
        cache: Mutex::new((0, HashMap::new())),
    });
    for u in udp {
        server.register_socket(tokio::net::UdpSocket::from_std(u)?);
    }
    for t in tcp {
        server.register_listener(tokio::net::TcpListener::from_std(t)?, TCP_TIMEOUT, 64);
    }
    let vpc = vpc_id.to_string();
    Ok(tokio::spawn(async move {
        if let Err(e) = server.block_until_done().await {
            tracing::warn!(vpc = %vpc, error = %e, "the VPC resolver stopped");
        }
    }))
}

/// Starts the supervisor (nothing without a router).
pub(super) fn spawn(app: Arc<App>) {
    let (table, generation, router_ns) = {
        let s = app.service();
        let Some(r) = s.router() else {
            return;
        };
        (
            r.health().clone(),
            s.model_generation(),
            s.model().router.namespace.clone(),
        )
    };
    let records: Shared = Arc::new(RwLock::new((0, Arc::new(Records::default()))));
    tokio::spawn(async move {
        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        let mut compiled: Option<(u64, Unavailable)> = None;
        let mut vpcs = Vec::new();
        loop {
            let g = generation.load(Ordering::Acquire);
            let unavailable = table.unavailable();
            if compiled.as_ref() != Some(&(g, unavailable.clone())) {
                let a = app.clone();
                let u = unavailable.clone();
                match tokio::task::spawn_blocking(move || {
                    let s = a.service();
                    let m = s.model();
                    (
                        dns::compile(m, &u),
                        services_vpcs(m).into_iter().collect::<Vec<_>>(),
                    )
                })
                .await
                {
                    Ok((r, v)) => {
                        for e in &r.skipped {
                            tracing::warn!(error = %e, "a DNS record left out");
                        }
                        let mut w = records.write().unwrap_or_else(|e| e.into_inner());
                        *w = (w.0 + 1, Arc::new(r));
                        drop(w);
                        vpcs = v;
                        compiled = Some((g, unavailable));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "compiling the VPC resolvers' names panicked")
                    }
                }
            }
            // The servers follow the services namespaces.
            running.retain(|vpc, r| {
                let keep = vpcs.contains(vpc) && !r.task.is_finished();
                if !keep {
                    r.task.abort();
                }
                keep
            });
            for vpc in &vpcs {
                let ns = topology::health_check_namespace(&router_ns, vpc);
                let Some(inode) = super::namespace_inode(&ns) else {
                    continue;
                };
                if let Some(r) = running.get(vpc) {
                    if r.inode == inode {
                        continue;
                    }
                    r.task.abort();
                    running.remove(vpc);
                }
                let n = ns.clone();
                let result = match tokio::task::spawn_blocking(move || sockets_in(&n)).await {
                    Ok(Ok(sockets)) => start(vpc, sockets, &records),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                };
                match result {
                    Ok(task) => {
                        tracing::info!(vpc = %vpc, namespace = %ns, "VPC resolver listening on 100.100.2.136 and 100.100.2.138");
                        running.insert(vpc.clone(), Running { inode, task });
                    }
                    // The port is being made (no address yet): next round.
                    Err(e) => {
                        tracing::debug!(vpc = %vpc, error = %e, "VPC resolver not started yet")
                    }
                }
            }
            tokio::time::sleep(SUPERVISE_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_record_type_goes_on_the_wire() {
        for data in [
            RData::A("10.0.0.1".parse().unwrap()),
            RData::Aaaa("fd00::1".parse().unwrap()),
            RData::Cname("a.example".into()),
            RData::Txt("v=1".into()),
            RData::Mx {
                preference: 5,
                exchange: "mx.example".into(),
            },
            RData::Ptr("h.example".into()),
            RData::Srv {
                priority: 1,
                weight: 2,
                port: 3,
                target: "t.example".into(),
            },
        ] {
            let kind = data.kind();
            let r = record(&dns::Rr {
                name: "x.example".into(),
                ttl: 60,
                data,
            })
            .expect("a wire record");
            assert_eq!(kind_of(r.record_type()), Some(kind));
            assert_eq!(r.name.to_string(), "x.example.");
        }
    }
}
