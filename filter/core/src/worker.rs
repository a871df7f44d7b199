//! What one Envoy worker (one VM, one thread) keeps between requests: the
//! router, the metrics, worker-local snapshots of shared state, and the memory
//! budget for statements kept for a re-send.
//!
//! Snapshots, refreshed on every tick (`TICK`, so at most 250 ms old):
//! - **coordinator map**, to skip re-writing a coordinator id → cluster entry
//!   that is already known: learning a new query's coordinator costs no host
//!   call unless the snapshot lacks the entry or it is a minute old (then
//!   `coordinator_map::learn` reads and, if needed, writes shared data, as
//!   before). Safe because a stale snapshot only causes a redundant write;
//!   lookups of unknown queries always read shared data.
//! - **health** of each configured cluster, for the gauges, and as the
//!   fallback when shared data cannot be read. Placing a new query reads the
//!   health from shared data (`current_health`): a snapshot up to one tick
//!   old would send statements to a cluster another worker has just seen
//!   fail, and each would cost a re-send.

use crate::config::Config;
use crate::coordinator_map::{self, Entry};
use crate::health::Health;
use crate::held_statements::{self, HeldStatements};
use crate::host::{error, info, warn, Host};
use crate::metrics::Metrics;
use crate::router::Router;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// How often workers refresh their snapshots and gauges and flush counters.
pub const TICK: Duration = Duration::from_millis(250);

pub struct Worker {
    pub router: Router,
    pub metrics: Metrics,
    health: RefCell<Vec<Health>>,
    coordinators: RefCell<Vec<Entry>>,
    /// The time at the last tick (s): lets a new statement judge the age of
    /// health records without a clock host call of its own.
    clock: Cell<u32>,
    /// Bytes of statements this worker keeps for a re-send right now.
    kept_bytes: Rc<Cell<usize>>,
    /// The state sync's queue (see `state_sync`), once its context registered it.
    sync_queue: Cell<Option<u32>>,
    /// Entries for the sync gathered since the last tick: handed over in one
    /// message per tick (each enqueue wakes Envoy's main thread).
    sync_pending: RefCell<Vec<u8>>,
    /// State store lookups this worker has out (see `remote_lookup`).
    lookups_in_flight: Cell<usize>,
    /// New statements held for routing rules (see `held_statements`).
    pub held: HeldStatements,
}

/// At most this many state store lookups per worker at once; beyond, a
/// request gets the answer it would have had without the store.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 64;

/// A worker hands its entries over early when they reach this size.
const SYNC_BATCH_BYTES: usize = 64 * 1024;

/// What the filter and the health service both do with the plugin
/// configuration: parse and validate it, create the shared-data keys,
/// register the clusters, define the metrics. `None` (after an error log
/// naming the field) makes Envoy refuse the configuration.
pub fn prepare(host: &dyn Host, configuration: &[u8]) -> Option<(Router, Metrics)> {
    let config = match Config::parse(configuration) {
        Ok(config) => config,
        Err(e) => {
            error(host, format_args!("trino-gateway: invalid plugin configuration: {e}"));
            return None;
        }
    };
    let router = match Router::new(config, host) {
        Ok(router) => router,
        Err(e) => {
            error(host, format_args!("trino-gateway: cannot register clusters in shared data: {e:?}"));
            return None;
        }
    };
    let names: Vec<&str> = router.config.clusters.iter().map(|c| c.name.as_str()).collect();
    // Per-group counters only for configured groups: without a `routing`
    // section a new statement makes no extra metric call.
    let routing = &router.config.routing;
    let groups: Vec<&str> =
        if routing.configured { routing.groups.iter().map(|g| g.name.as_str()).collect() } else { Vec::new() };
    let metrics = Metrics::define(host, &names, &groups);
    let ungrouped: Vec<&str> = (0..router.config.clusters.len())
        .filter(|c| !routing.groups.iter().any(|g| g.clusters.contains(c)))
        .map(|c| router.cluster_name(c))
        .collect();
    if !ungrouped.is_empty() {
        info(
            host,
            format_args!(
                "trino-gateway: clusters in no routing group get no new statements (their queries still reach them): {}",
                ungrouped.join(", ")
            ),
        );
    }
    if routing.reads_statement {
        info(
            host,
            format_args!(
                "trino-gateway: routing rules read statements (up to {} bytes): the filter's Envoy configuration must set allow_on_headers_stop_iteration: true, or such statements fail after {} s",
                routing.statement.max_bytes,
                held_statements::WAIT_SECONDS
            ),
        );
    }
    Some((router, metrics))
}

impl Worker {
    /// The worker of a filter configuration (see `prepare`), its snapshots read.
    pub fn configure(host: &dyn Host, configuration: &[u8]) -> Option<Worker> {
        let (router, metrics) = prepare(host, configuration)?;
        let clusters = router.config.clusters.len();
        let worker = Worker {
            health: RefCell::new(vec![Health::Unknown; clusters]),
            clock: Cell::new(host.now_seconds()),
            coordinators: RefCell::new(Vec::new()),
            kept_bytes: Rc::new(Cell::new(0)),
            sync_queue: Cell::new(None),
            sync_pending: RefCell::new(Vec::new()),
            lookups_in_flight: Cell::new(0),
            held: HeldStatements::default(),
            router,
            metrics,
        };
        worker.read_snapshots(host);
        Some(worker)
    }

    /// The one-line summary of the configuration, for the log at start.
    pub fn describe(&self) -> String {
        let config = &self.router.config;
        let names = |draining: bool| {
            config
                .clusters
                .iter()
                .filter(|c| !draining || c.draining)
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{} clusters ({}), draining: [{}], routing header {}, max tracked queries {}, public uri {}",
            config.clusters.len(),
            names(false),
            names(true),
            config.routing_header,
            config.max_tracked_queries,
            config.public_uri.as_deref().unwrap_or("(from each request)")
        )
    }

    /// On tick: refresh the snapshots and the health gauges, flush counters.
    pub fn refresh(&self, host: &dyn Host) {
        self.clock.set(host.now_seconds());
        self.read_snapshots(host);
        self.hand_over(host);
        for (cluster, state) in self.health.borrow().iter().enumerate() {
            self.metrics.cluster_health(host, cluster, *state);
        }
        self.metrics.flush(host);
    }

    /// New statements held for routing rules whose body Envoy never handed
    /// over (no `allow_on_headers_stop_iteration`): answered with a FAILED
    /// result that says so. Called last on the worker's tick: it switches
    /// the effective context to each such stream.
    pub fn fail_stuck_statements(&self, host: &dyn Host) {
        let overdue = self.held.overdue(self.clock.get());
        if overdue.is_empty() {
            return;
        }
        error(host, format_args!("trino-gateway: {} ({} statements failed)", held_statements::MESSAGE, overdue.len()));
        for context_id in overdue {
            let id =
                crate::query_id::made_by_gateway(u64::from(self.clock.get()), self.router.next_local_turn() as u32);
            let base = self.router.config.public_uri.as_deref().unwrap_or_default();
            let body = crate::failed_query::failed_results(
                &id,
                base,
                crate::failed_query::GENERIC_INTERNAL_ERROR,
                held_statements::MESSAGE,
            );
            let sent = host
                .set_effective_context(context_id)
                .and_then(|()| host.send_response(200, &[("content-type", "application/json")], Some(body.as_bytes())));
            if let Err(e) = sent {
                warn(host, format_args!("trino-gateway: cannot answer a held statement: {e}"));
                self.metrics.host_call_error(host);
            }
        }
    }

    fn read_snapshots(&self, host: &dyn Host) {
        match self.router.read_health(host, self.clock.get()) {
            Ok(health) => *self.health.borrow_mut() = health,
            Err(e) => warn(host, format_args!("trino-gateway: cannot read cluster health: {e:?}")),
        }
        match coordinator_map::read(host) {
            Ok(entries) => *self.coordinators.borrow_mut() = entries,
            Err(e) => warn(host, format_args!("trino-gateway: cannot read the coordinator map: {e:?}")),
        }
    }

    /// The state sync's queue: resolved once, as soon as its context has
    /// registered it (None without a state store, or before that).
    fn sync_queue(&self, host: &dyn Host) -> Option<u32> {
        if self.router.config.state_store.is_some() && self.sync_queue.get().is_none() {
            match host.resolve_queue(crate::state_sync::QUEUE) {
                Ok(queue) => self.sync_queue.set(queue),
                Err(e) => warn(host, format_args!("trino-gateway: cannot resolve the state sync queue: {e}")),
            }
        }
        self.sync_queue.get()
    }

    /// Gathers a routing fact this worker learned for the state sync (no
    /// host call; nothing without a state store); `hand_over` passes them on.
    pub fn publish(&self, host: &dyn Host, entry: &crate::state_entry::Entry) {
        if self.router.config.state_store.is_none() {
            return;
        }
        let full = {
            let mut pending = self.sync_pending.borrow_mut();
            crate::state_entry::append_message(&mut pending, entry);
            pending.len() >= SYNC_BATCH_BYTES
        };
        if full {
            self.hand_over(host);
        }
    }

    /// The gathered entries to the sync's queue, in one message (on tick).
    /// If no context has registered the queue yet (the first moments after
    /// start, or no worker holds the poll lease yet), they stay local, counted.
    fn hand_over(&self, host: &dyn Host) {
        let queue = self.sync_queue(host);
        let batch = std::mem::take(&mut *self.sync_pending.borrow_mut());
        if batch.is_empty() {
            return;
        }
        let queued = queue.map(|queue| host.enqueue(queue, &batch));
        if !matches!(queued, Some(Ok(()))) {
            for _ in crate::state_entry::messages(&batch) {
                self.metrics.entry_not_queued(host);
            }
        }
    }

    /// Takes a place for a state store lookup; false when all are taken.
    pub fn lookup_started(&self) -> bool {
        let n = self.lookups_in_flight.get();
        if n >= MAX_LOOKUPS_IN_FLIGHT {
            return false;
        }
        self.lookups_in_flight.set(n + 1);
        true
    }

    pub fn lookup_ended(&self) {
        self.lookups_in_flight.set(self.lookups_in_flight.get().saturating_sub(1));
    }

    /// The worker's clock (seconds) as of its last tick: no host call.
    pub fn clock(&self) -> u32 {
        self.clock.get()
    }

    /// The health of each cluster as of the last tick (no host call).
    pub fn health_snapshot(&self) -> Vec<Health> {
        self.health.borrow().clone()
    }

    /// Each configured cluster's health read from shared data now (one
    /// host call); the snapshot if that fails.
    pub fn current_health(&self, host: &dyn Host) -> Vec<Health> {
        match self.router.read_health(host, self.clock.get()) {
            Ok(health) => {
                self.health.borrow_mut().clone_from(&health);
                health
            }
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot read cluster health, using the last known: {e:?}"));
                self.metrics.shared_data_error(host);
                self.health.borrow().clone()
            }
        }
    }

    pub fn coordinators(&self) -> std::cell::Ref<'_, Vec<Entry>> {
        self.coordinators.borrow()
    }

    /// Learned now by this worker: known before the next refresh.
    pub fn note_coordinator(&self, entry: Entry) {
        let mut entries = self.coordinators.borrow_mut();
        entries.retain(|e| e.coordinator != entry.coordinator);
        entries.push(entry);
    }

    /// Passive health: a request to `cluster` failed. Marked in shared data
    /// (every worker sees it at its next tick) and in this worker's snapshot
    /// at once.
    pub fn mark_failed(&self, host: &dyn Host, cluster: usize, status: &str) {
        if let Some(state) = self.health.borrow_mut().get_mut(cluster) {
            *state = Health::Unhealthy;
        }
        match self.router.report_failure(host, cluster, host.now_seconds()) {
            Ok(true) => {
                warn(
                    host,
                    format_args!(
                        "trino-gateway: {} answered {status}: marked UNHEALTHY",
                        self.router.cluster_name(cluster)
                    ),
                );
                self.metrics.passive_unhealthy(host);
            }
            Ok(false) => {}
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot mark a cluster unhealthy: {e:?}"));
                self.metrics.shared_data_error(host);
            }
        }
    }

    /// Reserve `bytes` of the kept-statement budget; None when it is used up.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut reservation = Reservation { bytes: 0, pool: self.kept_bytes.clone() };
        reservation.grow(bytes, self.router.config.failover.max_kept_bytes_per_worker).then_some(reservation)
    }

    /// Bytes of kept statements right now.
    pub fn kept_bytes(&self) -> usize {
        self.kept_bytes.get()
    }

    pub fn log_start(&self, host: &dyn Host) {
        info(host, format_args!("trino-gateway {}: {}", env!("CARGO_PKG_VERSION"), self.describe()));
    }
}

/// Part of a worker's kept-statement budget, given back when dropped (the
/// statement was answered, re-sent and answered, or its request ended).
#[derive(Debug)]
pub struct Reservation {
    bytes: usize,
    pool: Rc<Cell<usize>>,
}

impl Reservation {
    /// Grow by `more` bytes within the budget; false (unchanged) when it does not fit.
    pub fn grow(&mut self, more: usize, budget: usize) -> bool {
        let used = self.pool.get();
        if used.saturating_add(more) > budget {
            return false;
        }
        self.pool.set(used + more);
        self.bytes += more;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.set(self.pool.get().saturating_sub(self.bytes));
    }
}
