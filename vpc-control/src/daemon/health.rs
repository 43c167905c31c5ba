//! The health checker of load balancer backends: one task per checked
//! server (of each server group a running listener sends to), checking on
//! the group's interval from its VPC's health-check namespace
//! ([`crate::apply::health`]); a supervisor that follows the committed model
//! (tasks started, restarted with a changed configuration, stopped) and,
//! when a server becomes or stops being unavailable, converges the router
//! so that the rings leave it out or take it back (only the ring entries
//! that change are written).
use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{sync::Notify, task::JoinHandle};

use super::App;
use crate::{
    apply::health::{HealthError, HealthStatus, Probe, Table},
    compile::{ServerKey, Unavailable, health_checked_groups},
    model::Model,
    topology,
};

/// How often the supervisor looks at the committed model, at most.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

/// What a server's check task runs under: restarted when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    probe: Probe,
    healthy: u32,
    unhealthy: u32,
}

/// The checks `model` asks for, and the servers of groups whose health
/// check is disabled (always available).
fn plans(model: &Model) -> (BTreeMap<ServerKey, Plan>, Vec<ServerKey>) {
    let mut checked = BTreeMap::new();
    for g in health_checked_groups(model) {
        let ns = topology::health_check_namespace(&model.router.namespace, &g.vpc_id);
        for s in &g.servers {
            let key = ServerKey {
                group_id: g.id.clone(),
                ip: s.server_ip,
                port: s.port,
            };
            checked.insert(
                key,
                Plan {
                    probe: Probe::new(ns.clone(), s.server_ip, s.port, &g.health_check),
                    healthy: g.health_check.healthy_threshold,
                    unhealthy: g.health_check.unhealthy_threshold,
                },
            );
        }
    }
    let always = model
        .server_groups
        .iter()
        .filter(|g| !g.health_check.enabled)
        .flat_map(|g| {
            g.servers.iter().map(|s| ServerKey {
                group_id: g.id.clone(),
                ip: s.server_ip,
                port: s.port,
            })
        })
        .collect();
    (checked, always)
}

/// Starts the supervisor (nothing without a router).
pub(super) fn spawn(app: Arc<App>) {
    let (table, generation) = {
        let s = app.service();
        let Some(r) = s.router() else {
            return;
        };
        (r.health().clone(), s.model_generation())
    };
    let wake = Arc::new(Notify::new());
    tokio::spawn(async move {
        let mut running: BTreeMap<ServerKey, (Plan, JoinHandle<()>)> = BTreeMap::new();
        let mut seen = None;
        // What the rings were compiled with (at start-up: nothing left out).
        let mut applied = Unavailable::new();
        loop {
            let g = generation.load(Ordering::Acquire);
            if seen != Some(g) {
                let a = app.clone();
                match tokio::task::spawn_blocking(move || plans(a.service().model())).await {
                    Ok((checked, always)) => {
                        seen = Some(g);
                        running.retain(|k, (plan, task)| {
                            let keep = checked.get(k) == Some(plan) && !task.is_finished();
                            if !keep {
                                task.abort();
                            }
                            keep
                        });
                        table.retain(|k| checked.contains_key(k) || always.contains(k));
                        for k in &always {
                            table.set_available(k);
                        }
                        for (k, plan) in checked {
                            if running.contains_key(&k) {
                                continue;
                            }
                            let task = tokio::spawn(check_loop(
                                table.clone(),
                                k.clone(),
                                plan.clone(),
                                wake.clone(),
                            ));
                            running.insert(k, (plan, task));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reading the model for health checks panicked")
                    }
                }
            }
            let now = table.unavailable();
            if now != applied {
                let a = app.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let mut service = a.service();
                    let model = service.model().clone();
                    let converged = match service.router_mut() {
                        Some(r) => r.converge(&model).map(|_| ()),
                        None => Ok(()),
                    };
                    // The connections of a server that left a ring while
                    // its group drains close later: the retired-entries
                    // task does it, as after an API change.
                    let cleanup = service.router().and_then(|r| r.retired_due()).filter(|_| {
                        !a.retired_cleanup
                            .swap(true, std::sync::atomic::Ordering::SeqCst)
                    });
                    (converged, cleanup)
                })
                .await;
                if let Ok((_, Some(due))) = &done {
                    super::spawn_retired_cleanup(app.clone(), *due);
                }
                match done.map(|(c, _)| c) {
                    Ok(Ok(())) => {
                        tracing::info!(
                            unavailable = now.len(),
                            "load balancer rings rebuilt after a health change"
                        );
                        applied = now;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "rebuilding the rings after a health change failed; tried again")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "rebuilding the rings after a health change panicked")
                    }
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
            }
        }
    });
}

/// Checks one server on its interval until aborted, recording each result;
/// wakes the supervisor when the server becomes or stops being
/// unavailable.
async fn check_loop(table: Arc<Table>, key: ServerKey, plan: Plan, wake: Arc<Notify>) {
    let mut tick = tokio::time::interval(plan.probe.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tick.tick().await;
        let ok = match plan.probe.run().await {
            Ok(()) => true,
            // The router's own trouble, not the server's: no result.
            Err(e @ HealthError::Namespace { .. }) => {
                if !warned {
                    tracing::warn!(server_group = %key.group_id, server = %plan.probe.target, error = %e, "health check not made");
                    warned = true;
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(server_group = %key.group_id, server = %plan.probe.target, error = %e, "health check failed");
                false
            }
        };
        if let Some(before) = table.record(&key, ok, plan.healthy, plan.unhealthy) {
            let after = table.status(&key.group_id, key.ip, key.port);
            tracing::info!(
                server_group = %key.group_id,
                server = %plan.probe.target,
                from = before.as_str(),
                to = after.as_str(),
                "load balancer backend health changed"
            );
            if before == HealthStatus::Unavailable || after == HealthStatus::Unavailable {
                wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MODEL: &str = r#"
        [router]
        namespace = "rt-x"
        [[vpc]]
        id = "vpc-a"
        cidr_block = "10.0.0.0/16"
        [[vswitch]]
        id = "vsw-1"
        vpc_id = "vpc-a"
        cidr_block = "10.0.1.0/24"
        [[load_balancer]]
        id = "nlb-1"
        vpc_id = "vpc-a"
        [[load_balancer.zone_mapping]]
        zone_id = "zone-a"
        vswitch_id = "vsw-1"
        private_ipv4 = "10.0.1.5"
        [[server_group]]
        id = "sgp-checked"
        vpc_id = "vpc-a"
        [server_group.health_check]
        connect_port = 9000
        interval_s = 3
        healthy_threshold = 4
        unhealthy_threshold = 5
        [[server_group.server]]
        server_id = "10.0.1.20"
        server_type = "Ip"
        server_ip = "10.0.1.20"
        port = 80
        [[server_group]]
        id = "sgp-off"
        vpc_id = "vpc-a"
        [server_group.health_check]
        enabled = false
        [[server_group.server]]
        server_id = "10.0.1.21"
        server_type = "Ip"
        server_ip = "10.0.1.21"
        port = 80
        [[server_group]]
        id = "sgp-unused"
        vpc_id = "vpc-a"
        [[server_group.server]]
        server_id = "10.0.1.22"
        server_type = "Ip"
        server_ip = "10.0.1.22"
        port = 80
        [[listener]]
        id = "lsn-1"
        load_balancer_id = "nlb-1"
        protocol = "TCP"
        port = 80
        server_group_id = "sgp-checked"
        [[listener]]
        id = "lsn-2"
        load_balancer_id = "nlb-1"
        protocol = "TCP"
        port = 81
        server_group_id = "sgp-off"
    "#;

    #[test]
    fn checks_follow_the_groups_running_listeners_send_to() {
        let m = Model::from_toml(MODEL).unwrap();
        let (checked, always) = plans(&m);
        // Only the enabled group a running listener sends to is checked,
        // from its VPC's namespace, on its port, interval and thresholds.
        let key = |g: &str, n: u8| ServerKey {
            group_id: g.into(),
            ip: Ipv4Addr::new(10, 0, 1, n),
            port: 80,
        };
        assert_eq!(
            checked.keys().collect::<Vec<_>>(),
            [&key("sgp-checked", 20)]
        );
        let plan = &checked[&key("sgp-checked", 20)];
        assert_eq!(
            plan.probe.namespace,
            topology::health_check_namespace("rt-x", "vpc-a")
        );
        assert_eq!(plan.probe.target.to_string(), "10.0.1.20:9000");
        assert_eq!(plan.probe.interval(), Duration::from_secs(3));
        assert_eq!((plan.healthy, plan.unhealthy), (4, 5));
        // Disabled: always available, checked or not.
        assert_eq!(always, [key("sgp-off", 21)]);
        // The listener stopped: nothing checked.
        let mut stopped = m.clone();
        stopped.listeners[0].status = crate::model::ListenerStatus::Stopped;
        assert!(plans(&stopped).0.is_empty());
    }
}
