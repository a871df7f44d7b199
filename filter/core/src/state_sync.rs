//! The state sync: keeps this Envoy's routing state and an etcd (v3 API) in
//! step, so that every Envoy of a gateway routes a query, a transaction or a
//! drain the same way, and a restarted Envoy starts with what the others know.
//!
//! It runs in one place per Envoy, beside the health checks: the bootstrap
//! service, or (under Istio, no bootstrap service) the worker that holds the
//! health poll lease. Every `sync_interval_ms`:
//! - **push**: entries workers learned (they gather them as they record new
//!   queries and transactions, and enqueue them on a shared queue once per
//!   tick, one message each) and the coordinator ids of
//!   the coordinator map go to a backlog, written in `Txn`s of at most 128
//!   puts under the prefix, with this Envoy's lease (`entry_ttl_seconds`;
//!   a new lease is granted at half of it, so an entry lives between half the
//!   TTL and the TTL). The backlog is bounded (`max_backlog`): when etcd is
//!   down or slow, the oldest entries beyond it are dropped, counted and
//!   logged; the rest are replayed when it answers again.
//! - **pull**: a `Range` of the keys modified since the last revision seen
//!   (`min_mod_revision`, sorted by revision, paged), applied to shared
//!   data; the first one, at start, loads every live entry.
//! - **drains**: a `Range` of `<prefix>drain/`: the clusters drained there.
//!
//! Routing never waits for any of it: the request path reads shared data
//! only. A call that fails is counted and retried next period.

use crate::coordinator_map;
use crate::etcd::{self, Op, Range, AUTH_SERVICE, KV_SERVICE, LEASE_SERVICE, MAX_TXN_OPS};
use crate::host::{info, warn, Host, MetricKind};
use crate::metrics::{define, gauge, increment};
use crate::query_id::COORDINATOR_ID_LENGTH;
use crate::remote_lookup::{LEASE_KEY, TOKEN_KEY};
use crate::router::Router;
use crate::shared_data::update;
use crate::state_entry::{drained_cluster, messages, Entry, Skipped, DRAIN};
use crate::store_config::StoreConfig;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// The shared queue workers hand new entries to.
pub const QUEUE: &str = "trino_gateway/v1/sync";
/// Keys per pull page (etcd's answer stays far below its 1.5 MiB limit).
const PAGE: i64 = 1000;
/// Txns in flight at once: at 128 puts each, 8 per period empty a backlog of
/// 1024 entries per period, so a 10 s outage at 1,000 new queries/s drains
/// within about 3 s at the default period.
const MAX_PUSHES_IN_FLIGHT: usize = 8;
/// Messages taken from the queue per period (the rest wait for the next).
const MAX_DEQUEUE: usize = 20_000;
/// gRPC status codes etcd answers with.
const INVALID_ARGUMENT: u32 = 3;
const NOT_FOUND: u32 = 5;
const UNAUTHENTICATED: u32 = 16;

struct SyncMetrics {
    pushed: Option<u32>,
    pulled: Option<u32>,
    batches: Option<u32>,
    errors: Option<u32>,
    skipped: Option<u32>,
    dropped: Option<u32>,
    backlog: Option<u32>,
    revision: Option<u32>,
    up: Option<u32>,
    sync_age: Option<u32>,
}

impl SyncMetrics {
    fn define(host: &dyn Host) -> SyncMetrics {
        let counter = |name: &str| define(host, MetricKind::Counter, &format!("trino_gateway.state_store.{name}"));
        let gauge = |name: &str| define(host, MetricKind::Gauge, &format!("trino_gateway.state_store.{name}"));
        SyncMetrics {
            pushed: counter("entries_pushed"),
            pulled: counter("entries_pulled"),
            batches: counter("batches"),
            errors: counter("errors"),
            skipped: counter("entries_skipped"),
            dropped: counter("entries_dropped"),
            backlog: gauge("backlog"),
            revision: gauge("revision"),
            up: gauge("up"),
            sync_age: gauge("sync_age_ms"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Authenticate,
    LeaseGrant,
    Push,
    Pull,
    Drains,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    id: i64,
    granted_at: u32,
}

pub struct StateSync {
    config: StoreConfig,
    metrics: SyncMetrics,
    queue: Option<u32>,
    backlog: VecDeque<Entry>,
    /// Call token → what it is (and a push's entries, to requeue on failure).
    calls: HashMap<u32, (Call, Vec<Entry>)>,
    lease: Option<Lease>,
    /// The last leases this Envoy was granted: what it wrote comes back in
    /// its own pulls, and is skipped without a shared-data read.
    own_leases: [i64; 2],
    /// etcd's auth token, once authenticated (`user` configured).
    token: Option<String>,
    /// The next pull asks for keys modified at or after this revision.
    next_revision: i64,
    /// The first pull (every live entry) has completed.
    loaded: bool,
    /// Coordinator ids already handed to the backlog (coordinator, cluster).
    coordinators_sent: HashSet<([u8; COORDINATOR_ID_LENGTH], u8)>,
    /// The clusters drained in the store, as last read.
    drains: Option<Vec<String>>,
    drains_changed: bool,
    dropped_unlogged: u64,
    failing_since_logged: bool,
    last_period_ms: u64,
    /// When the last pull completed (ms): how old this Envoy's view of the store may be.
    last_pull_ms: u64,
}

impl StateSync {
    pub fn new(host: &dyn Host, config: StoreConfig) -> StateSync {
        info(
            host,
            format_args!(
                "trino-gateway: state store: etcd via cluster {} under {:?}, every {} ms, entries live {} s",
                config.cluster, config.prefix, config.sync_interval_ms, config.entry_ttl_seconds
            ),
        );
        StateSync {
            metrics: SyncMetrics::define(host),
            config,
            queue: None,
            backlog: VecDeque::new(),
            calls: HashMap::new(),
            lease: None,
            own_leases: [0; 2],
            token: None,
            next_revision: 1,
            loaded: false,
            coordinators_sent: HashSet::new(),
            drains: None,
            drains_changed: false,
            dropped_unlogged: 0,
            failing_since_logged: false,
            last_period_ms: 0,
            last_pull_ms: 0,
        }
    }

    pub fn period(&self) -> Duration {
        Duration::from_millis(self.config.sync_interval_ms)
    }

    /// Whether a new period has begun (for a caller that ticks more often).
    pub fn due(&mut self, now_ms: u64) -> bool {
        if now_ms.saturating_sub(self.last_period_ms) + 5 < self.config.sync_interval_ms {
            return false;
        }
        self.last_period_ms = now_ms;
        true
    }

    /// Entries not written yet: waiting, or in a Txn not answered yet.
    pub fn backlog(&self) -> usize {
        self.backlog.len() + self.calls.values().map(|(_, entries)| entries.len()).sum::<usize>()
    }

    /// The drained clusters, once after each change of the store's drain keys.
    pub fn take_drains(&mut self) -> Option<Vec<String>> {
        if !std::mem::take(&mut self.drains_changed) {
            return None;
        }
        self.drains.clone()
    }

    /// One period: collect new entries, then push, pull and read the drains.
    pub fn run(&mut self, host: &dyn Host, router: &Router) {
        self.collect(host, router);
        if self.config.user.is_some() && self.token.is_none() {
            if !self.in_flight(Call::Authenticate) {
                let user = self.config.user.clone().unwrap_or_default();
                let message = etcd::authenticate(&user, &self.config.password);
                self.call(host, AUTH_SERVICE, "Authenticate", &message, Call::Authenticate, Vec::new());
            }
            return;
        }
        self.renew_lease(host);
        self.push(host);
        if !self.in_flight(Call::Pull) {
            let prefix = self.config.prefix.clone();
            let message = Range {
                prefix: prefix.as_bytes(),
                limit: PAGE,
                min_mod_revision: self.next_revision,
                by_mod_revision: true,
                keys_only: false,
            }
            .encode();
            self.call(host, KV_SERVICE, "Range", &message, Call::Pull, Vec::new());
        }
        if !self.in_flight(Call::Drains) {
            let prefix = format!("{}{DRAIN}", self.config.prefix);
            let message =
                Range { prefix: prefix.as_bytes(), limit: 1000, keys_only: true, ..Range::default() }.encode();
            self.call(host, KV_SERVICE, "Range", &message, Call::Drains, Vec::new());
        }
        gauge(host, self.metrics.backlog, self.backlog() as u64);
        if self.last_pull_ms > 0 {
            gauge(host, self.metrics.sync_age, host.now_millis().saturating_sub(self.last_pull_ms));
        }
    }

    fn in_flight(&self, call: Call) -> bool {
        self.calls.values().any(|(c, _)| *c == call)
    }

    /// Takes the queue workers enqueue entries on (again: a later
    /// registration, e.g. by another worker that took the lease over, took it).
    pub fn register_queue(&mut self, host: &dyn Host) {
        match host.register_queue(QUEUE) {
            Ok(queue) => self.queue = Some(queue),
            Err(e) => warn(host, format_args!("trino-gateway: state store: cannot register the sync queue: {e}")),
        }
    }

    /// This context no longer syncs (another worker took the poll lease): its
    /// unwritten entries go back on the queue, for the one that syncs now.
    pub fn release(&mut self, host: &dyn Host) {
        if self.backlog.is_empty() {
            return;
        }
        let mut batch = Vec::new();
        self.backlog.drain(..).for_each(|entry| crate::state_entry::append_message(&mut batch, &entry));
        let queued = self.queue.map(|queue| host.enqueue(queue, &batch));
        if !matches!(queued, Some(Ok(()))) {
            warn(host, format_args!("trino-gateway: state store: cannot hand unwritten entries over; dropped"));
        }
    }

    /// Queue messages and coordinator ids into the backlog.
    fn collect(&mut self, host: &dyn Host, router: &Router) {
        if self.queue.is_none() {
            self.register_queue(host);
        }
        if let Some(queue) = self.queue {
            for _ in 0..MAX_DEQUEUE {
                match host.dequeue(queue) {
                    Ok(Some(batch)) => {
                        for message in messages(&batch) {
                            match Entry::from_message(message) {
                                Some(entry) => self.add(entry),
                                None => increment(host, self.metrics.skipped),
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn(host, format_args!("trino-gateway: state store: cannot read the sync queue: {e}"));
                        break;
                    }
                }
            }
        }
        // The coordinator ids this Envoy learned (health polls, new queries).
        if let Ok(entries) = coordinator_map::read(host) {
            for entry in entries {
                let key = (entry.coordinator.0, entry.cluster);
                let Some(index) = router.config_index(entry.cluster) else { continue };
                if self.coordinators_sent.insert(key) {
                    let cluster = router.cluster_name(index).to_string();
                    self.add(Entry::Coordinator { id: entry.coordinator, cluster });
                }
            }
        }
        if self.dropped_unlogged > 0 {
            warn(
                host,
                format_args!(
                    "trino-gateway: state store: backlog full ({} entries): dropped the {} oldest unwritten entries",
                    self.config.max_backlog, self.dropped_unlogged
                ),
            );
            if let Some(id) = self.metrics.dropped {
                let _ = host.increment_metric(id, self.dropped_unlogged as i64);
            }
            self.dropped_unlogged = 0;
        }
    }

    fn add(&mut self, entry: Entry) {
        if let Entry::TransactionEnded { id } = &entry {
            // A transaction that ends before its entry was written: neither is
            // (a put and a delete of one key in one Txn is refused by etcd, and
            // in two Txns they could be applied out of order).
            let before = self.backlog.len();
            self.backlog.retain(|e| !matches!(e, Entry::Transaction { id: started, .. } if started == id));
            if self.backlog.len() < before {
                return;
            }
        }
        if self.backlog.len() >= self.config.max_backlog {
            self.backlog.pop_front();
            self.dropped_unlogged += 1;
        }
        self.backlog.push_back(entry);
    }

    fn renew_lease(&mut self, host: &dyn Host) {
        let now = host.now_seconds();
        let stale = self.lease.is_none_or(|l| now.saturating_sub(l.granted_at) >= self.config.entry_ttl_seconds / 2);
        if stale && !self.in_flight(Call::LeaseGrant) {
            let message = etcd::lease_grant(i64::from(self.config.entry_ttl_seconds));
            self.call(host, LEASE_SERVICE, "LeaseGrant", &message, Call::LeaseGrant, Vec::new());
        }
    }

    fn push(&mut self, host: &dyn Host) {
        let Some(lease) = self.lease else { return };
        // While etcd does not answer, one Txn at a time probes it.
        let parallel = if self.failing_since_logged { 1 } else { MAX_PUSHES_IN_FLIGHT };
        while !self.backlog.is_empty() && self.pushes_in_flight() < parallel {
            let take = self.backlog.len().min(MAX_TXN_OPS);
            let mut batch: Vec<Entry> = self.backlog.drain(..take).collect();
            // One op per key: etcd refuses a Txn that names a key twice (the
            // last one wins, as it would applied in order).
            let mut seen = HashSet::new();
            batch.reverse();
            batch.retain(|entry| seen.insert(entry.key_and_value().0));
            batch.reverse();
            let ops: Vec<Op> = batch
                .iter()
                .map(|entry| {
                    let (key, value) = entry.key_and_value();
                    let key = format!("{}{key}", self.config.prefix).into_bytes();
                    match value {
                        Some(value) => Op::Put { key, value: value.into_bytes(), lease: lease.id },
                        None => Op::Delete { key },
                    }
                })
                .collect();
            if !self.call(host, KV_SERVICE, "Txn", &etcd::txn(&ops), Call::Push, batch) {
                break;
            }
        }
    }

    fn pushes_in_flight(&self) -> usize {
        self.calls.values().filter(|(c, _)| *c == Call::Push).count()
    }

    /// Dispatches a call; false (the entries back in the backlog) if Envoy refused it.
    fn call(
        &mut self,
        host: &dyn Host,
        service: &str,
        method: &str,
        message: &[u8],
        call: Call,
        entries: Vec<Entry>,
    ) -> bool {
        let token = self.token.clone();
        let metadata: Vec<(&str, &[u8])> = token.as_deref().map(|t| vec![("token", t.as_bytes())]).unwrap_or_default();
        let timeout = Duration::from_millis(self.config.timeout_ms);
        match host.dispatch_grpc(&self.config.cluster, service, method, &metadata, message, timeout) {
            Ok(id) => {
                self.calls.insert(id, (call, entries));
                true
            }
            Err(e) => {
                self.failed(host, &format!("cannot call {service}/{method} on cluster {}: {e}", self.config.cluster));
                self.requeue(entries);
                false
            }
        }
    }

    fn requeue(&mut self, entries: Vec<Entry>) {
        for entry in entries.into_iter().rev() {
            self.backlog.push_front(entry);
        }
        while self.backlog.len() > self.config.max_backlog {
            self.backlog.pop_front();
            self.dropped_unlogged += 1;
        }
    }

    /// A failure: counted; logged when the store stops answering, not every period.
    fn failed(&mut self, host: &dyn Host, what: &str) {
        increment(host, self.metrics.errors);
        gauge(host, self.metrics.up, 0);
        if !self.failing_since_logged {
            warn(host, format_args!("trino-gateway: state store: {what}; routing goes on from local state"));
            self.failing_since_logged = true;
        }
    }

    fn succeeded(&mut self, host: &dyn Host) {
        gauge(host, self.metrics.up, 1);
        if std::mem::take(&mut self.failing_since_logged) {
            info(
                host,
                format_args!("trino-gateway: state store: answering again; {} entries to write", self.backlog.len()),
            );
        }
    }

    /// A gRPC answer (`status` 0: OK, with `size` bytes). False: not ours.
    pub fn on_response(&mut self, host: &dyn Host, router: &Router, token: u32, status: u32, size: usize) -> bool {
        let Some((call, entries)) = self.calls.remove(&token) else { return false };
        if status != 0 {
            if status == NOT_FOUND && call == Call::Push {
                self.lease = None; // The lease expired (a long outage): a new one, then replay.
            }
            if status == UNAUTHENTICATED {
                self.token = None;
            }
            self.failed(host, &format!("{call:?} failed with gRPC status {status}"));
            if status == INVALID_ARGUMENT && call == Call::Push {
                // etcd will refuse this batch every time: dropped, counted, not retried for ever.
                warn(
                    host,
                    format_args!(
                        "trino-gateway: state store: etcd refused a batch of {} entries as invalid; dropped",
                        entries.len()
                    ),
                );
                increment_by(host, self.metrics.dropped, entries.len());
            } else {
                self.requeue(entries);
            }
            return true;
        }
        let message = match host.grpc_response(size) {
            Ok(message) => message,
            Err(e) => {
                self.failed(host, &format!("cannot read the answer to {call:?}: {e}"));
                self.requeue(entries);
                return true;
            }
        };
        let outcome = match call {
            Call::Authenticate => etcd::authenticate_response(&message).map(|token| {
                // Workers' lookups use it too (see `remote_lookup`).
                if let Err(e) = update(host, TOKEN_KEY, |_| Some((token.clone().into_bytes(), ()))) {
                    warn(host, format_args!("trino-gateway: state store: cannot share the auth token: {e:?}"));
                }
                self.token = Some(token);
            }),
            Call::LeaseGrant => etcd::lease_grant_response(&message).map(|(id, _)| {
                self.lease = Some(Lease { id, granted_at: host.now_seconds() });
                self.own_leases = [id, self.own_leases[0]];
                // Coordinator ids are written again with each lease, so they never expire.
                self.coordinators_sent.clear();
                // Workers' write-throughs use it too (see `remote_lookup`).
                if let Err(e) = update(host, LEASE_KEY, |_| Some((id.to_le_bytes().to_vec(), ()))) {
                    warn(host, format_args!("trino-gateway: state store: cannot share the lease: {e:?}"));
                }
            }),
            Call::Push => etcd::txn_response(&message).map(|_| {
                increment_by(host, self.metrics.pushed, entries.len());
                increment(host, self.metrics.batches);
            }),
            Call::Pull => etcd::range_response(&message).map(|range| self.pulled(host, router, range)),
            Call::Drains => etcd::range_response(&message).map(|range| self.drains_read(range)),
        };
        match outcome {
            Ok(()) => self.succeeded(host),
            Err(e) => {
                // An answer we cannot read is etcd's or a proxy's fault, not the data's.
                self.failed(host, &format!("{call:?}: {e}"));
                if call == Call::Push {
                    self.requeue(entries);
                }
            }
        }
        true
    }

    fn pulled(&mut self, host: &dyn Host, router: &Router, range: etcd::RangeResponse) {
        let now = host.now_seconds();
        let mut applied = 0usize;
        for kv in &range.kvs {
            if kv.lease != 0 && self.own_leases.contains(&kv.lease) {
                continue; // Written by this Envoy: known here already.
            }
            let key = kv.key.strip_prefix(self.config.prefix.as_bytes()).unwrap_or(&kv.key);
            let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(&kv.value)) else {
                self.skip(host, &kv.key, Skipped::Malformed);
                continue;
            };
            if drained_cluster(key).is_some() {
                continue; // Read by the drain pull.
            }
            match Entry::from_key_value(key, Some(value)) {
                Ok(entry) => match router.apply_remote(host, &entry, now) {
                    Ok(true) => applied += 1,
                    Ok(false) => self.skip(host, &kv.key, Skipped::UnknownCluster),
                    Err(e) => {
                        warn(host, format_args!("trino-gateway: state store: cannot record a pulled entry: {e:?}"));
                    }
                },
                Err(why) => self.skip(host, &kv.key, why),
            }
        }
        increment_by(host, self.metrics.pulled, applied);
        self.last_pull_ms = host.now_millis();
        let first = range.kvs.first().map_or(0, |kv| kv.mod_revision);
        let last = range.kvs.last().map_or(0, |kv| kv.mod_revision);
        if range.revision + 1 < self.next_revision && !range.more {
            // The store went back in time (restored, replaced, its data lost):
            // everything again, from the start, and this Envoy's coordinator ids too.
            warn(
                host,
                format_args!(
                    "trino-gateway: state store: etcd's revision went back from {} to {}; reloading",
                    self.next_revision - 1,
                    range.revision
                ),
            );
            self.next_revision = 1;
            self.loaded = false;
            self.coordinators_sent.clear();
            return;
        }
        self.next_revision = if range.more {
            // The next page starts at the last revision seen (a Txn writes many
            // keys at one revision); a page of one revision moves past it.
            if last > first {
                last
            } else {
                last + 1
            }
        } else {
            self.next_revision.max(range.revision + 1)
        };
        gauge(host, self.metrics.revision, u64::try_from(range.revision).unwrap_or(0));
        if !self.loaded && !range.more {
            self.loaded = true;
            info(host, format_args!("trino-gateway: state store: loaded, at revision {}", range.revision));
        }
    }

    fn skip(&self, host: &dyn Host, key: &[u8], why: Skipped) {
        increment(host, self.metrics.skipped);
        warn(host, format_args!("trino-gateway: state store: skipped {:?} ({why:?})", String::from_utf8_lossy(key)));
    }

    fn drains_read(&mut self, range: etcd::RangeResponse) {
        let prefix = self.config.prefix.as_bytes();
        let mut drained: Vec<String> = range
            .kvs
            .iter()
            .filter_map(|kv| std::str::from_utf8(kv.key.strip_prefix(prefix)?).ok())
            .filter_map(drained_cluster)
            .map(str::to_string)
            .collect();
        drained.sort();
        if self.drains.as_ref() != Some(&drained) {
            self.drains = Some(drained);
            self.drains_changed = true;
        }
    }
}

fn increment_by(host: &dyn Host, id: Option<u32>, n: usize) {
    if let (Some(id), true) = (id, n > 0) {
        let _ = host.increment_metric(id, n as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::etcd::tests_support::{kv, range_answer};
    use crate::mock::RecordingHost;
    use crate::query_id::{CoordinatorId, QueryId};

    const CONFIG: &str = r#"{"clusters": [{"name": "coordinator-a"}, {"name": "coordinator-b"}],
        "state_store": {"cluster": "etcd", "prefix": "/tg/", "max_backlog": 200}}"#;

    fn setup() -> (RecordingHost, Router, StateSync) {
        let host = RecordingHost::default();
        let config = Config::parse(CONFIG.as_bytes()).unwrap();
        let store = config.state_store.clone().unwrap();
        let router = Router::new(config, &host).unwrap();
        let sync = StateSync::new(&host, store);
        (host, router, sync)
    }

    fn query(n: u32) -> QueryId {
        QueryId::parse(&format!("20261126_101305_{n:05}_abcde")).unwrap()
    }

    /// Answers the last dispatched call to `method` with `message` (status 0) or `status`.
    fn answer(
        host: &RecordingHost,
        router: &Router,
        sync: &mut StateSync,
        method: &str,
        status: u32,
        message: Vec<u8>,
    ) {
        let call = host.grpc_calls.borrow().iter().rev().find(|c| c.method.ends_with(method)).cloned().unwrap();
        let size = message.len();
        host.call_response.borrow_mut().1 = message;
        assert!(sync.on_response(host, router, call.token, status, size));
    }

    fn calls(host: &RecordingHost) -> Vec<String> {
        host.grpc_calls.borrow().iter().map(|c| c.method.clone()).collect()
    }

    #[test]
    fn entries_from_workers_are_pushed_with_the_lease_once_granted() {
        let (host, router, mut sync) = setup();
        sync.register_queue(&host);
        let queue = host.resolve_queue(QUEUE).unwrap().unwrap();
        let entry = Entry::Query { id: query(1), cluster: "coordinator-b".into(), flags: 0 };
        host.enqueue(queue, &entry.to_message()).unwrap();
        sync.run(&host, &router);
        // No lease yet: nothing pushed; the lease, the pull and the drains asked.
        assert_eq!(calls(&host), ["etcdserverpb.Lease/LeaseGrant", "etcdserverpb.KV/Range", "etcdserverpb.KV/Range"]);
        let mut granted = Vec::new();
        super::etcd::tests_support::int(&mut granted, 2, 0x77);
        super::etcd::tests_support::int(&mut granted, 3, 600);
        answer(&host, &router, &mut sync, "LeaseGrant", 0, granted);
        sync.run(&host, &router);
        let txn = host.grpc_calls.borrow().iter().find(|c| c.method.ends_with("Txn")).cloned().unwrap();
        assert_eq!(txn.cluster, "etcd");
        let expected = etcd::txn(&[Op::Put {
            key: b"/tg/q/20261126_101305_00001_abcde".to_vec(),
            value: b"coordinator-b".to_vec(),
            lease: 0x77,
        }]);
        assert_eq!(txn.message, expected);
        assert_eq!((sync.backlog.len(), sync.backlog()), (0, 1), "in flight, not written yet");
        // A failed Txn puts its entries back, in order, for the next period.
        answer(&host, &router, &mut sync, "Txn", 14, Vec::new());
        assert_eq!((sync.backlog.len(), sync.backlog()), (1, 1));
        assert!(host.logs.borrow().iter().any(|(_, m)| m.contains("routing goes on from local state")));
    }

    #[test]
    fn a_full_backlog_drops_its_oldest_entries_and_counts_them() {
        let (host, router, mut sync) = setup();
        sync.register_queue(&host);
        let queue = host.resolve_queue(QUEUE).unwrap().unwrap();
        for n in 0..250 {
            let entry = Entry::Query { id: query(n), cluster: "coordinator-a".into(), flags: 0 };
            host.enqueue(queue, &entry.to_message()).unwrap();
        }
        sync.run(&host, &router); // no lease: all wait
        assert_eq!(sync.backlog(), 200);
        let dropped = host.metrics.borrow().iter().find(|(n, _)| n.ends_with("entries_dropped")).map(|(_, v)| *v);
        assert_eq!(dropped, Some(50));
        assert_eq!(
            sync.backlog.front(),
            Some(&Entry::Query { id: query(50), cluster: "coordinator-a".into(), flags: 0 })
        );
    }

    #[test]
    fn pulled_entries_route_here_and_foreign_or_corrupt_ones_are_skipped() {
        let (host, router, mut sync) = setup();
        sync.run(&host, &router);
        let pulled = range_answer(
            &[
                kv("/tg/q/20261126_101305_00007_zzzzz", "coordinator-b;t", 10),
                kv("/tg/q/20261126_101305_00008_zzzzz", "coordinator-x", 11), // not ours
                kv("/tg/q/garbage", "coordinator-a", 12),
                kv("/tg/other/thing", "1", 12),
                kv("/tg/co/x7k2p", "coordinator-a", 13),
                kv("/tg/drain/coordinator-a", "", 13),
            ],
            20,
            false,
        );
        let first_range = host.grpc_calls.borrow().iter().find(|c| c.method.ends_with("Range")).cloned().unwrap();
        let size = pulled.len();
        host.call_response.borrow_mut().1 = pulled;
        assert!(sync.on_response(&host, &router, first_range.token, 0, size));
        let b = router.config_index(1).map(|_| ()).and(Some(()));
        assert!(b.is_some());
        let queries = crate::query_map::QueryMap { buckets: router.config.bucket_count() };
        let owner = queries.lookup(&host, &query_with("zzzzz", 7)).unwrap().unwrap();
        assert_eq!(router.config_index(owner & crate::query_map::CLUSTER_MASK), Some(1));
        assert_eq!(owner & crate::query_map::LEARN_TRANSACTION, crate::query_map::LEARN_TRANSACTION);
        assert_eq!(queries.lookup(&host, &query_with("zzzzz", 8)).unwrap(), None);
        let coordinator = crate::coordinator_map::lookup(&host, &CoordinatorId::parse("x7k2p").unwrap()).unwrap();
        assert_eq!(coordinator.and_then(|c| router.config_index(c)), Some(0));
        let skipped = host.metrics.borrow().iter().find(|(n, _)| n.ends_with("entries_skipped")).map(|(_, v)| *v);
        assert_eq!(skipped, Some(3));
        // The next pull asks only for what changed after the answer's revision.
        sync.last_period_ms = 0;
        sync.run(&host, &router);
        let next = host.grpc_calls.borrow().iter().rev().find(|c| c.method.ends_with("Range")).cloned();
        let expected =
            Range { prefix: b"/tg/", limit: PAGE, min_mod_revision: 21, by_mod_revision: true, keys_only: false };
        assert!(host.grpc_calls.borrow().iter().any(|c| c.message == expected.encode()), "{next:?}");
    }

    fn query_with(coordinator: &str, n: u32) -> QueryId {
        QueryId::parse(&format!("20261126_101305_{n:05}_{coordinator}")).unwrap()
    }

    #[test]
    fn a_transaction_that_ends_before_it_was_written_is_never_written_and_keys_are_unique_per_txn() {
        let (host, router, mut sync) = setup();
        let transaction = crate::transaction::TransactionId::parse("3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b").unwrap();
        sync.add(Entry::Transaction { id: transaction, cluster: "coordinator-a".into() });
        sync.add(Entry::Query { id: query(1), cluster: "coordinator-a".into(), flags: 0 });
        sync.add(Entry::TransactionEnded { id: transaction });
        sync.add(Entry::Query { id: query(1), cluster: "coordinator-b".into(), flags: 0 });
        sync.lease = Some(Lease { id: 9, granted_at: 0 });
        sync.push(&host);
        let txn = host.grpc_calls.borrow().last().cloned().unwrap();
        let expected = etcd::txn(&[Op::Put {
            key: b"/tg/q/20261126_101305_00001_abcde".to_vec(),
            value: b"coordinator-b".to_vec(),
            lease: 9,
        }]);
        assert_eq!(txn.message, expected, "one op for the query (the last), none for the transaction");
        // etcd refusing a batch as invalid: dropped and counted, never retried.
        answer(&host, &router, &mut sync, "Txn", INVALID_ARGUMENT, Vec::new());
        assert_eq!(sync.backlog(), 0);
        let dropped = host.metrics.borrow().iter().find(|(n, _)| n.ends_with("entries_dropped")).map(|(_, v)| *v);
        assert_eq!(dropped, Some(1));
    }

    #[test]
    fn a_store_that_went_back_in_time_is_read_again_from_the_start() {
        let (host, router, mut sync) = setup();
        sync.next_revision = 5000;
        sync.loaded = true;
        sync.run(&host, &router);
        let pull = host.grpc_calls.borrow().iter().find(|c| c.method.ends_with("Range")).cloned().unwrap();
        let message = range_answer(&[], 12, false);
        let size = message.len();
        host.call_response.borrow_mut().1 = message;
        sync.on_response(&host, &router, pull.token, 0, size);
        assert_eq!((sync.next_revision, sync.loaded), (1, false));
        assert!(host.logs.borrow().iter().any(|(_, m)| m.contains("revision went back")));
    }

    #[test]
    fn drains_are_reported_once_per_change() {
        let (host, router, mut sync) = setup();
        sync.run(&host, &router);
        let drains = host.grpc_calls.borrow().iter().rev().find(|c| c.method.ends_with("Range")).cloned().unwrap();
        let message = range_answer(&[kv("/tg/drain/coordinator-b", "1", 3)], 5, false);
        let size = message.len();
        host.call_response.borrow_mut().1 = message;
        assert!(sync.on_response(&host, &router, drains.token, 0, size));
        assert_eq!(sync.take_drains(), Some(vec!["coordinator-b".to_string()]));
        assert_eq!(sync.take_drains(), None);
    }

    #[test]
    fn pages_of_one_revision_move_on() {
        let (host, router, mut sync) = setup();
        sync.run(&host, &router);
        let pull = host.grpc_calls.borrow().iter().find(|c| c.method.ends_with("Range")).cloned().unwrap();
        let message =
            range_answer(&[kv("/tg/co/aaaaa", "coordinator-a", 40), kv("/tg/co/bbbbb", "coordinator-a", 40)], 90, true);
        let size = message.len();
        host.call_response.borrow_mut().1 = message;
        sync.on_response(&host, &router, pull.token, 0, size);
        assert_eq!(sync.next_revision, 41);
    }
}
