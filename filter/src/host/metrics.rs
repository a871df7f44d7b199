//! Envoy counters (`wasmcustom.trino_gateway.*` in /stats; without the
//! `wasmcustom.` prefix in /stats/prometheus). Metric ids are per VM, so every
//! worker VM defines them in its root context.

use crate::core::router::{ReplyReason, Via};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

#[derive(Debug, Default)]
pub struct Metrics {
    new_queries: Vec<Option<u32>>,
    sticky_hits: Option<u32>,
    coordinator_id_routes: Option<u32>,
    any_coordinator: Option<u32>,
    other: Option<u32>,
    query_not_found: Option<u32>,
    malformed_query_ids: Option<u32>,
    unparseable_responses: Option<u32>,
    shared_data_errors: Option<u32>,
    no_coordinator: Option<u32>,
    passive_unhealthy: Option<u32>,
    lost_queries: Option<u32>,
    submissions_resent: Option<u32>,
    failovers: Option<u32>,
    statements_too_big_to_resend: Option<u32>,
    health: Vec<Option<u32>>,
    running: Vec<Option<u32>>,
    queued: Vec<Option<u32>>,
    health_checks_failed: Option<u32>,
    coordinator_restarts: Option<u32>,
    state_keys: Option<u32>,
    state_bytes: Option<u32>,
    tracked_queries: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    define(MetricType::Counter, name)
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    match hostcalls::define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("trino-gateway: cannot define metric {name}: {status:?}");
            None
        }
    }
}

impl Metrics {
    pub fn define(cluster_names: &[&str]) -> Metrics {
        Metrics {
            new_queries: cluster_names.iter().map(|c| counter(&format!("trino_gateway.new_queries.{c}"))).collect(),
            sticky_hits: counter("trino_gateway.sticky_hits"),
            coordinator_id_routes: counter("trino_gateway.coordinator_id_routes"),
            any_coordinator: counter("trino_gateway.any_coordinator_requests"),
            other: counter("trino_gateway.other_requests"),
            query_not_found: counter("trino_gateway.query_not_found"),
            malformed_query_ids: counter("trino_gateway.malformed_query_ids"),
            unparseable_responses: counter("trino_gateway.unparseable_statement_responses"),
            shared_data_errors: counter("trino_gateway.shared_data_errors"),
            no_coordinator: counter("trino_gateway.no_coordinator_available"),
            passive_unhealthy: counter("trino_gateway.passive_unhealthy_marks"),
            lost_queries: counter("trino_gateway.lost_queries_failed"),
            submissions_resent: counter("trino_gateway.submissions_resent"),
            failovers: counter("trino_gateway.failovers"),
            statements_too_big_to_resend: counter("trino_gateway.statements_too_big_to_resend"),
            health: cluster_names
                .iter()
                .map(|c| define(MetricType::Gauge, &format!("trino_gateway.cluster.{c}.health")))
                .collect(),
            running: cluster_names
                .iter()
                .map(|c| define(MetricType::Gauge, &format!("trino_gateway.cluster.{c}.running_queries")))
                .collect(),
            queued: cluster_names
                .iter()
                .map(|c| define(MetricType::Gauge, &format!("trino_gateway.cluster.{c}.queued_queries")))
                .collect(),
            health_checks_failed: counter("trino_gateway.health_checks_failed"),
            coordinator_restarts: counter("trino_gateway.coordinator_restarts"),
            state_keys: define(MetricType::Gauge, "trino_gateway.state.shared_data_keys"),
            state_bytes: define(MetricType::Gauge, "trino_gateway.state.shared_data_bytes"),
            tracked_queries: define(MetricType::Gauge, "trino_gateway.state.tracked_queries"),
        }
    }

    fn increment(id: Option<u32>) {
        if let Some(id) = id {
            // A failed increment loses one count; nothing else to do about it.
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    pub fn routed(&self, cluster: usize, via: Via) {
        Self::increment(match via {
            Via::NewQuery => self.new_queries.get(cluster).copied().flatten(),
            Via::StickyHit => self.sticky_hits,
            Via::CoordinatorId => self.coordinator_id_routes,
            Via::AnyCoordinator => self.any_coordinator,
            Via::Other => self.other,
        });
    }

    pub fn replied(&self, reason: ReplyReason) {
        Self::increment(match reason {
            ReplyReason::UnknownQuery => self.query_not_found,
            ReplyReason::MalformedQueryId => self.malformed_query_ids,
            ReplyReason::NoCoordinator => self.no_coordinator,
            ReplyReason::LostQuery => self.lost_queries,
        });
    }

    pub fn passive_unhealthy(&self) {
        Self::increment(self.passive_unhealthy);
    }

    /// A new statement re-sent to another coordinator after its first one failed.
    pub fn submission_resent(&self) {
        Self::increment(self.submissions_resent);
    }

    /// A re-sent statement that another coordinator answered.
    pub fn failover(&self) {
        Self::increment(self.failovers);
    }

    pub fn statement_too_big_to_resend(&self) {
        Self::increment(self.statements_too_big_to_resend);
    }

    pub fn health_check_failed(&self) {
        Self::increment(self.health_checks_failed);
    }

    pub fn coordinator_restart(&self) {
        Self::increment(self.coordinator_restarts);
    }

    /// 0 unknown, 1 healthy, 2 starting, 3 draining, 4 unhealthy.
    pub fn cluster_health(&self, cluster: usize, health: crate::core::health::Health) {
        if let Some(id) = self.health.get(cluster).copied().flatten() {
            let _ = hostcalls::record_metric(id, health.gauge());
        }
    }

    /// Running and queued queries as the coordinator's `/ui/api/stats` reports them.
    pub fn cluster_load(&self, cluster: usize, running: u32, queued: u32) {
        for (ids, value) in [(&self.running, running), (&self.queued, queued)] {
            if let Some(id) = ids.get(cluster).copied().flatten() {
                let _ = hostcalls::record_metric(id, u64::from(value));
            }
        }
    }

    pub fn unparseable_response(&self) {
        Self::increment(self.unparseable_responses);
    }

    pub fn state_usage(&self, usage: &crate::core::usage::Usage) {
        for (id, value) in [
            (self.state_keys, usage.keys),
            (self.state_bytes, usage.bytes),
            (self.tracked_queries, usage.tracked_queries),
        ] {
            if let Some(id) = id {
                let _ = hostcalls::record_metric(id, value as u64);
            }
        }
    }

    pub fn shared_data_error(&self) {
        Self::increment(self.shared_data_errors);
    }
}
