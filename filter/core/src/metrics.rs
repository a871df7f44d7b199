//! The gateway's Envoy stats: `wasmcustom.trino_gateway.*` in `/stats`, and
//! `trino_gateway_*` in `/stats/prometheus`, where the `stats_tags` of
//! envoy/envoy.yaml turn the cluster name into a `trino_cluster` label.
//!
//! Metric ids are per VM, so every VM defines them. The counters of the
//! follow-up path (sticky hits, coordinator-id routes, any-coordinator and
//! other requests) are counted in the worker and added to Envoy's counters on
//! the worker's tick (`flush`): a follow-up request makes no metric call, and
//! those counters lag by at most one tick. Everything else (new queries,
//! failover, lost queries, ...) is counted at once.

use crate::health::Health;
use crate::host::{warn, Host, MetricKind};
use crate::router::{ReplyReason, Via};
use crate::usage::Usage;
use std::cell::Cell;

#[derive(Debug, Default)]
pub struct Metrics {
    new_queries: Vec<Option<u32>>,
    sticky_hits: Deferred,
    coordinator_id_routes: Deferred,
    any_coordinator: Deferred,
    other: Deferred,
    query_not_found: Option<u32>,
    malformed_query_ids: Option<u32>,
    unparseable_responses: Option<u32>,
    transient_failures: Option<u32>,
    shared_data_errors: Option<u32>,
    host_call_errors: Option<u32>,
    no_coordinator: Option<u32>,
    passive_unhealthy: Option<u32>,
    lost_queries: Option<u32>,
    transaction_statements: Option<u32>,
    transactions_started: Option<u32>,
    unknown_transactions: Option<u32>,
    malformed_transaction_ids: Option<u32>,
    lost_transactions: Option<u32>,
    segment_requests: Deferred,
    segments_learned: Option<u32>,
    unknown_segments: Option<u32>,
    submissions_resent: Option<u32>,
    failovers: Option<u32>,
    statements_too_big_to_resend: Option<u32>,
    statements_over_memory_budget: Option<u32>,
    health: Vec<Option<u32>>,
    running: Vec<Option<u32>>,
    queued: Vec<Option<u32>>,
    health_checks_failed: Option<u32>,
    coordinator_restarts: Option<u32>,
    state_keys: Option<u32>,
    state_bytes: Option<u32>,
    tracked_queries: Option<u32>,
    entries_not_queued: Option<u32>,
    lookups_found: Option<u32>,
    write_throughs: Option<u32>,
    write_through_failures: Option<u32>,
    lookups_missed: Option<u32>,
    group_new_queries: Vec<Option<u32>>,
    group_fallbacks: Option<u32>,
    group_refused: Option<u32>,
    statements_read_for_rules: Option<u32>,
    statements_too_large_for_rules: Option<u32>,
}

/// A counter counted in the worker and flushed to Envoy on tick.
#[derive(Debug, Default)]
struct Deferred {
    id: Option<u32>,
    pending: Cell<u64>,
}

impl Deferred {
    fn new(id: Option<u32>) -> Deferred {
        Deferred { id, pending: Cell::new(0) }
    }

    fn count(&self) {
        self.pending.set(self.pending.get().wrapping_add(1));
    }

    fn flush(&self, host: &dyn Host) {
        let pending = self.pending.replace(0);
        if let (Some(id), true) = (self.id, pending > 0) {
            if host.increment_metric(id, pending as i64).is_err() {
                self.pending.set(pending); // try again next tick
            }
        }
    }
}

pub(crate) fn define(host: &dyn Host, kind: MetricKind, name: &str) -> Option<u32> {
    match host.define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(error) => {
            warn(host, format_args!("trino-gateway: cannot define metric {name}: {error}"));
            None
        }
    }
}

pub(crate) fn increment(host: &dyn Host, id: Option<u32>) {
    if let Some(id) = id {
        // A failed increment loses one count; nothing else to do about it.
        let _ = host.increment_metric(id, 1);
    }
}

pub(crate) fn gauge(host: &dyn Host, id: Option<u32>, value: u64) {
    if let Some(id) = id {
        let _ = host.record_metric(id, value);
    }
}

impl Metrics {
    pub fn define(host: &dyn Host, cluster_names: &[&str], group_names: &[&str]) -> Metrics {
        let counter = |name: &str| define(host, MetricKind::Counter, &format!("trino_gateway.{name}"));
        let per_cluster = |kind, what: &str| -> Vec<Option<u32>> {
            cluster_names.iter().map(|c| define(host, kind, &format!("trino_gateway.cluster.{c}.{what}"))).collect()
        };
        Metrics {
            new_queries: cluster_names.iter().map(|c| counter(&format!("new_queries.{c}"))).collect(),
            sticky_hits: Deferred::new(counter("sticky_hits")),
            coordinator_id_routes: Deferred::new(counter("coordinator_id_routes")),
            any_coordinator: Deferred::new(counter("any_coordinator_requests")),
            other: Deferred::new(counter("other_requests")),
            query_not_found: counter("query_not_found"),
            malformed_query_ids: counter("malformed_query_ids"),
            unparseable_responses: counter("unparseable_statement_responses"),
            transient_failures: counter("transient_upstream_failures"),
            shared_data_errors: counter("shared_data_errors"),
            host_call_errors: counter("host_call_errors"),
            no_coordinator: counter("no_coordinator_available"),
            passive_unhealthy: counter("passive_unhealthy_marks"),
            lost_queries: counter("lost_queries_failed"),
            transaction_statements: counter("transaction_statements"),
            transactions_started: counter("transactions_started"),
            unknown_transactions: counter("unknown_transactions"),
            malformed_transaction_ids: counter("malformed_transaction_ids"),
            lost_transactions: counter("lost_transactions_failed"),
            segment_requests: Deferred::new(counter("segment_requests")),
            segments_learned: counter("segments_learned"),
            unknown_segments: counter("unknown_segments"),
            submissions_resent: counter("submissions_resent"),
            failovers: counter("failovers"),
            statements_too_big_to_resend: counter("statements_too_big_to_resend"),
            statements_over_memory_budget: counter("statements_over_memory_budget"),
            health: per_cluster(MetricKind::Gauge, "health"),
            running: per_cluster(MetricKind::Gauge, "running_queries"),
            queued: per_cluster(MetricKind::Gauge, "queued_queries"),
            health_checks_failed: counter("health_checks_failed"),
            coordinator_restarts: counter("coordinator_restarts"),
            entries_not_queued: counter("state_store.entries_not_queued"),
            lookups_found: counter("state_store.remote_lookups_found"),
            write_throughs: counter("state_store.write_throughs"),
            write_through_failures: counter("state_store.write_through_failures"),
            lookups_missed: counter("state_store.remote_lookups_missed"),
            state_keys: define(host, MetricKind::Gauge, "trino_gateway.state.shared_data_keys"),
            state_bytes: define(host, MetricKind::Gauge, "trino_gateway.state.shared_data_bytes"),
            tracked_queries: define(host, MetricKind::Gauge, "trino_gateway.state.tracked_queries"),
            group_new_queries: group_names.iter().map(|g| counter(&format!("group.{g}.new_queries"))).collect(),
            group_fallbacks: counter("routing.default_group_fallbacks"),
            group_refused: counter("routing.group_header_refused"),
            statements_read_for_rules: counter("routing.statements_read"),
            statements_too_large_for_rules: counter("routing.statements_over_limit"),
        }
    }

    /// Adds the worker-counted counters to Envoy's (on tick).
    pub fn flush(&self, host: &dyn Host) {
        for deferred in
            [&self.sticky_hits, &self.coordinator_id_routes, &self.any_coordinator, &self.other, &self.segment_requests]
        {
            deferred.flush(host);
        }
    }

    pub fn routed(&self, host: &dyn Host, cluster: usize, via: Via) {
        match via {
            Via::NewQuery => increment(host, self.new_queries.get(cluster).copied().flatten()),
            Via::StickyHit => self.sticky_hits.count(),
            Via::CoordinatorId => self.coordinator_id_routes.count(),
            Via::AnyCoordinator => self.any_coordinator.count(),
            Via::Other => self.other.count(),
            Via::Transaction => increment(host, self.transaction_statements),
            Via::Segment => self.segment_requests.count(),
        }
    }

    pub fn replied(&self, host: &dyn Host, reason: ReplyReason) {
        increment(
            host,
            match reason {
                ReplyReason::UnknownQuery => self.query_not_found,
                ReplyReason::MalformedQueryId => self.malformed_query_ids,
                ReplyReason::NoCoordinator => self.no_coordinator,
                ReplyReason::LostQuery => self.lost_queries,
                ReplyReason::UnknownTransaction => self.unknown_transactions,
                ReplyReason::MalformedTransactionId => self.malformed_transaction_ids,
                ReplyReason::LostTransaction => self.lost_transactions,
                ReplyReason::UnknownSegment => self.unknown_segments,
                ReplyReason::GroupRefused => self.group_refused,
                ReplyReason::StatementTooLarge => None, // counted by statement_read
            },
        );
    }

    /// A new statement placed by routing group `group`; `fell_back`: its own
    /// group had no cluster for it, the default group placed it.
    pub fn placed_in_group(&self, host: &dyn Host, group: usize, fell_back: bool) {
        increment(host, self.group_new_queries.get(group).copied().flatten());
        if fell_back {
            increment(host, self.group_fallbacks);
        }
    }

    /// A new statement's body was read for routing rules; `over_limit`: it
    /// was longer than `routing.statement.max_bytes`.
    pub fn statement_read(&self, host: &dyn Host, over_limit: bool) {
        increment(host, self.statements_read_for_rules);
        if over_limit {
            increment(host, self.statements_too_large_for_rules);
        }
    }

    pub fn passive_unhealthy(&self, host: &dyn Host) {
        increment(host, self.passive_unhealthy);
    }

    /// A new statement re-sent to another coordinator after its first one failed.
    pub fn segments_learned(&self, host: &dyn Host, count: usize) {
        if let (Some(id), true) = (self.segments_learned, count > 0) {
            let _ = host.increment_metric(id, count as i64);
        }
    }

    pub fn transaction_started(&self, host: &dyn Host) {
        increment(host, self.transactions_started);
    }

    pub fn submission_resent(&self, host: &dyn Host) {
        increment(host, self.submissions_resent);
    }

    /// A re-sent statement that another coordinator answered.
    pub fn failover(&self, host: &dyn Host) {
        increment(host, self.failovers);
    }

    pub fn statement_too_big_to_resend(&self, host: &dyn Host) {
        increment(host, self.statements_too_big_to_resend);
    }

    /// A statement not kept for re-sending: the worker's memory budget for kept statements was used up.
    pub fn statement_over_memory_budget(&self, host: &dyn Host) {
        increment(host, self.statements_over_memory_budget);
    }

    pub fn health_check_failed(&self, host: &dyn Host) {
        increment(host, self.health_checks_failed);
    }

    pub fn coordinator_restart(&self, host: &dyn Host) {
        increment(host, self.coordinator_restarts);
    }

    pub fn unparseable_response(&self, host: &dyn Host) {
        increment(host, self.unparseable_responses);
    }

    /// A query's request got a 502/503/504 that proves no loss: passed on.
    pub fn transient_failure(&self, host: &dyn Host) {
        increment(host, self.transient_failures);
    }

    /// A request without a local answer asked the state store: found or not.
    pub fn remote_lookup(&self, host: &dyn Host, found: bool) {
        increment(host, if found { self.lookups_found } else { self.lookups_missed });
    }

    /// A new transaction written to the state store from the request path.
    pub fn write_through(&self, host: &dyn Host, ok: bool) {
        increment(host, if ok { self.write_throughs } else { self.write_through_failures });
    }

    /// An entry for the state store that could not be handed to the sync.
    pub fn entry_not_queued(&self, host: &dyn Host) {
        increment(host, self.entries_not_queued);
    }

    pub fn shared_data_error(&self, host: &dyn Host) {
        increment(host, self.shared_data_errors);
    }

    /// A host call other than shared data failed (headers, body, reply, dispatch).
    pub fn host_call_error(&self, host: &dyn Host) {
        increment(host, self.host_call_errors);
    }

    /// 0 unknown, 1 healthy, 2 starting, 3 draining, 4 unhealthy.
    pub fn cluster_health(&self, host: &dyn Host, cluster: usize, health: Health) {
        gauge(host, self.health.get(cluster).copied().flatten(), health.gauge());
    }

    /// Running and queued queries as the coordinator's `/ui/api/stats` reports them.
    pub fn cluster_load(&self, host: &dyn Host, cluster: usize, running: u32, queued: u32) {
        gauge(host, self.running.get(cluster).copied().flatten(), u64::from(running));
        gauge(host, self.queued.get(cluster).copied().flatten(), u64::from(queued));
    }

    pub fn state_usage(&self, host: &dyn Host, usage: &Usage) {
        gauge(host, self.state_keys, usage.keys as u64);
        gauge(host, self.state_bytes, usage.bytes as u64);
        gauge(host, self.tracked_queries, usage.tracked_queries as u64);
    }
}
