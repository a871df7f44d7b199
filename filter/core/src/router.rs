//! The routing decision for one request, and what the gateway learns from the
//! answer to a new statement. Pure logic over `SharedData` and the worker's
//! health snapshot; `flow` applies the result (headers, local replies, metrics).

use super::balancer;
use super::classify::{QueryResource, RequestKind};
use super::cluster_table::{ClusterIds, ClusterTableError};
use super::config::Config;
use super::coordinator_map::{self, Entry};
use super::failed_query::{self, ErrorCode, Loss};
use super::health::{self, Health};
use super::owner_cache::OwnerCache;
use super::placement::{self, Candidate};
use super::query_id::QueryId;
use super::query_map::{QueryMap, CLUSTER_MASK, LEARN_SEGMENTS, LEARN_TRANSACTION};
use super::routing_config::{Placement, WhenUnavailable, GROUP_HEADER};
use super::rules::{first_match, Facts, Outcome, Statement};
use super::segment_map::SegmentMap;
use super::shared_data::{SharedData, SharedDataError};
use super::state_entry::Entry as StateEntry;
use super::transaction::{self, TransactionId};
use super::transaction_map::{TransactionMap, REFRESH_SECONDS};
use serde::Deserialize;
use std::cell::Cell;

/// Why a request goes where it goes (each is an Envoy counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A new query, placed by the weighted round robin.
    NewQuery,
    /// A query the gateway recorded.
    StickyHit,
    /// A query routed by the coordinator id at the end of its id.
    CoordinatorId,
    /// A request any coordinator answers the same way.
    AnyCoordinator,
    /// Everything else: the first configured cluster, so that web UI sessions
    /// (cookies signed per coordinator) stay on one coordinator.
    Other,
    /// A statement of a transaction, to the coordinator that started it.
    Transaction,
    /// A spooled segment's download or acknowledgement, to the coordinator that wrote it.
    Segment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Route {
        cluster: usize,
        via: Via,
        then: Then,
    },
    /// Answer from the gateway itself; no upstream request is made.
    Reply(LocalReply),
    /// End the query with a FAILED `QueryResults` from the gateway (a DELETE
    /// of a lost query gets 204: there is nothing left to cancel).
    Fail(Failure),
}

/// What the adapter does with the answer of a routed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Pass it through untouched.
    PassThrough,
    /// A new statement: read the query id from a 200 and record the owner;
    /// on a failure answer, re-send the statement to another coordinator.
    LearnOrResend,
    /// A protocol request of this query: if its coordinator fails it
    /// (502/503/504), or answers 404 because it restarted and lost the query,
    /// answer a FAILED result for the lost query instead. A coordinator that
    /// is only marked UNHEALTHY still gets the request: a GC pause or one
    /// reset connection must not end queries that are still running.
    FailFastIfLost(QueryId),
    /// As `FailFastIfLost`, for a query recorded with flags
    /// (`query_map::LEARN_TRANSACTION`: a `START TRANSACTION`, whose answers
    /// name the transaction; `LEARN_SEGMENTS`: spooled results, whose data
    /// pages name segments): what its answers teach is recorded.
    FailFastAndLearn(QueryId, u8),
    /// A statement of this transaction: read the query id from a 200 like a
    /// new statement, but never re-send it (no other coordinator knows the
    /// transaction); if its coordinator is lost, so is the transaction.
    InTransaction(TransactionId),
}

/// A query the gateway ends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// None for a new statement no coordinator could take: the adapter makes an id.
    pub query_id: Option<QueryId>,
    pub error: ErrorCode,
    pub message: String,
    pub reason: ReplyReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub content_type: &'static str,
    pub body: String,
    pub reason: ReplyReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyReason {
    /// A well-formed query id no cluster is known for.
    UnknownQuery,
    /// A path that names a query with an id no coordinator could have made.
    MalformedQueryId,
    /// A new statement while no coordinator is healthy and in rotation.
    NoCoordinator,
    /// A protocol request of a query whose coordinator is gone.
    LostQuery,
    /// A statement naming a transaction no coordinator is known to hold.
    UnknownTransaction,
    /// A transaction id that is not a UUID.
    MalformedTransactionId,
    /// A statement of a transaction whose coordinator is gone.
    LostTransaction,
    /// A spooled segment no coordinator is known for.
    UnknownSegment,
    /// `X-Trino-Routing-Group` names no group, or may not be used by this client.
    GroupRefused,
    /// Longer than routing rules may read, with `over_limit: "fail"`.
    StatementTooLarge,
}

/// Where a new statement is to go: its routing group, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub group: usize,
    /// `X-Trino-User` (user-hash placement).
    pub user: Option<String>,
}

/// A new statement's cluster, and the group that placed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub cluster: usize,
    pub group: usize,
}

/// What the routing-group header and the rules say of a new statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Group(usize),
    /// Some rule before any match depends on the statement text.
    NeedsStatement,
    Refuse(Failure),
}

fn health_name(health: Health) -> &'static str {
    match health {
        Health::Unknown => "UNKNOWN",
        Health::Healthy => "HEALTHY",
        Health::Starting => "STARTING",
        Health::Draining => "DRAINING",
        Health::Unhealthy => "UNHEALTHY",
    }
}

/// Trino's answer for a query it does not know (`ThrowableMapper` text).
fn query_not_found(reason: ReplyReason) -> LocalReply {
    LocalReply { status: 404, content_type: "text/plain", body: "Error 404 Not Found: Query not found".into(), reason }
}

/// What the new-statement response taught us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    Query(QueryId),
    /// Not a QueryResults document with a valid id: passed through untouched.
    Unparseable,
}

#[derive(Deserialize)]
struct QueryResultsId<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

pub struct Router {
    pub config: Config,
    ids: ClusterIds,
    /// Weighted round robin over every cluster (requests any coordinator answers).
    schedule: Vec<usize>,
    /// Each routing group's weighted round robin, as configured cluster indices.
    group_schedules: Vec<Vec<usize>>,
    /// Each group's shared round-robin counter.
    group_keys: Vec<String>,
    /// FNV-1a of each cluster's name (user-hash placement).
    name_hashes: Vec<u64>,
    /// Per group: placing in it reads the load (least loaded, or a member with limits).
    group_needs_load: Vec<bool>,
    /// Statements placed are counted (`placed`): see `Config::tracks_placements`.
    tracks_placements: bool,
    queries: QueryMap,
    transactions: TransactionMap,
    segments: SegmentMap,
    /// This worker's own memory of owners, in front of the shared query map.
    owners: OwnerCache,
    /// Per-worker position for requests that need no shared order.
    local_turn: Cell<usize>,
    /// `X-Forwarded-Prefix` of each configured cluster (self-routing URIs).
    forwarded_prefixes: Vec<String>,
}

impl Router {
    /// Creates every key the gateway owns (if absent) and registers the
    /// configured clusters in the shared cluster table.
    pub fn new(config: Config, store: &dyn SharedData) -> Result<Router, ClusterTableError> {
        for key in super::usage::owned_keys(&config) {
            super::shared_data::create_if_absent(store, &key)?;
        }
        let ids = ClusterIds::register(store, &config)?;
        let weights: Vec<u32> = config.clusters.iter().map(|c| c.weight).collect();
        let forwarded_prefixes = match &config.self_routing_prefix {
            Some(prefix) => config.clusters.iter().map(|c| format!("{prefix}/{}", c.name)).collect(),
            None => Vec::new(),
        };
        let group_schedules = config
            .routing
            .groups
            .iter()
            .map(|g| {
                let weights: Vec<u32> =
                    g.clusters.iter().map(|c| config.clusters.get(*c).map_or(1, |c| c.weight)).collect();
                balancer::schedule(&weights).into_iter().filter_map(|i| g.clusters.get(i).copied()).collect()
            })
            .collect();
        let tracks_placements = config.tracks_placements();
        let group_needs_load = config
            .routing
            .groups
            .iter()
            .map(|g| {
                tracks_placements
                    && (g.placement == Placement::LeastLoaded
                        || g.clusters.iter().any(|c| config.clusters.get(*c).is_some_and(|c| c.has_limits())))
            })
            .collect();
        Ok(Router {
            group_schedules,
            group_needs_load,
            tracks_placements,
            group_keys: (0..config.routing.groups.len()).map(balancer::key).collect(),
            name_hashes: config.clusters.iter().map(|c| super::hash::fnv1a(c.name.as_bytes())).collect(),
            forwarded_prefixes,
            schedule: balancer::schedule(&weights),
            queries: QueryMap { buckets: config.bucket_count() },
            segments: SegmentMap::new(config.segment_bucket_count()),
            transactions: TransactionMap::new(
                config.transaction_bucket_count(),
                config.transactions.idle_timeout_seconds,
            ),
            owners: OwnerCache::default(),
            ids,
            config,
            local_turn: Cell::new(0),
        })
    }

    /// The `X-Forwarded-Prefix` a new statement sent to `cluster` carries:
    /// every URI its coordinator builds then routes itself to that cluster.
    /// None without self-routing.
    pub fn forwarded_prefix(&self, cluster: usize) -> Option<&str> {
        self.forwarded_prefixes.get(cluster).map(String::as_str)
    }

    /// `body` (an answer of `cluster`) with the cluster's self-routing prefix
    /// taken out of its URIs; unchanged without self-routing.
    pub fn unprefixed(&self, cluster: usize, body: &[u8]) -> Vec<u8> {
        let Some(prefix) = self.forwarded_prefix(cluster) else { return body.to_vec() };
        let needle = format!("{prefix}/");
        let needle = needle.as_bytes();
        let mut out = Vec::with_capacity(body.len());
        let mut rest = body;
        while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
            out.extend_from_slice(rest.get(..at).unwrap_or_default());
            out.push(b'/');
            rest = rest.get(at + needle.len()..).unwrap_or_default();
        }
        out.extend_from_slice(rest);
        out
    }

    pub fn cluster_name(&self, index: usize) -> &str {
        self.config.clusters.get(index).map_or("", |c| c.name.as_str())
    }

    /// The configured cluster of a cluster table id.
    pub fn config_index(&self, table_id: u8) -> Option<usize> {
        self.ids.config_index(table_id)
    }

    fn table_id_of_name(&self, name: &str) -> Option<u8> {
        let index = self.config.clusters.iter().position(|c| c.name == name)?;
        self.ids.table_id(index)
    }

    /// An entry another Envoy wrote to the state store: recorded here as if
    /// this Envoy had learned it. False: it names a cluster this Envoy does
    /// not have (skipped, never guessed). Nothing is written when the entry
    /// is already known (every Envoy pulls its own entries back too).
    pub fn apply_remote(&self, store: &dyn SharedData, entry: &StateEntry, now: u32) -> Result<bool, SharedDataError> {
        match entry {
            StateEntry::Query { id, cluster, flags } => {
                let Some(table_id) = self.table_id_of_name(cluster) else { return Ok(false) };
                if self.queries.lookup(store, id)? != Some(table_id | flags) {
                    self.queries.record(store, *id, table_id | flags, now)?;
                }
            }
            StateEntry::Transaction { id, cluster } => {
                let Some(table_id) = self.table_id_of_name(cluster) else { return Ok(false) };
                if self.transactions.lookup(store, id, now)?.map(|r| r.cluster) != Some(table_id) {
                    self.transactions.record(store, *id, table_id, now)?;
                }
            }
            StateEntry::TransactionEnded { id } => self.transactions.forget(store, id)?,
            StateEntry::Coordinator { id, cluster } => {
                let Some(table_id) = self.table_id_of_name(cluster) else { return Ok(false) };
                coordinator_map::learn(store, *id, table_id, now)?;
            }
        }
        Ok(true)
    }

    /// This worker's own turn counter, for when the shared one is not needed
    /// or not readable (and to number the queries the gateway fails itself).
    pub fn next_local_turn(&self) -> usize {
        let turn = self.local_turn.get();
        self.local_turn.set(turn.wrapping_add(1));
        turn
    }

    fn local_round_robin(&self) -> usize {
        self.schedule.get(self.next_local_turn() % self.schedule.len().max(1)).copied().unwrap_or(0)
    }

    /// Where this request goes; `health` is the worker's snapshot of each
    /// configured cluster's health. Shared-data failures never fail a request:
    /// the decision falls back (local round robin, coordinator id) and the
    /// error is returned for the log and a counter.
    pub fn decide(
        &self,
        store: &dyn SharedData,
        kind: RequestKind,
        health: &[Health],
    ) -> (Decision, Option<SharedDataError>) {
        match kind {
            RequestKind::NewStatement => {
                let target = Target { group: self.config.routing.default_group, user: None };
                let (placed, error) = self.place_new_query(store, health, &target, &[], 0);
                let decision = match placed {
                    Ok(placed) => {
                        Decision::Route { cluster: placed.cluster, via: Via::NewQuery, then: Then::LearnOrResend }
                    }
                    Err(failure) => Decision::Fail(failure),
                };
                (decision, error)
            }
            RequestKind::QueryBound { query_id, resource } => self.owner_of(store, &query_id, resource),
            RequestKind::Segment { key } => self.segment_owner(store, &key),
            RequestKind::MalformedQueryId { .. } => {
                (Decision::Reply(query_not_found(ReplyReason::MalformedQueryId)), None)
            }
            // Same answer anywhere: spread, but never to a coordinator known to be down.
            RequestKind::AnyCoordinator => {
                let cluster = self.reachable_round_robin(health);
                (Decision::Route { cluster, via: Via::AnyCoordinator, then: Then::PassThrough }, None)
            }
            // The web UI (its session cookie is signed per coordinator), OAuth2
            // and the rest: the first reachable cluster in configuration order,
            // so a session stays on one coordinator while it is up.
            RequestKind::Other => {
                let cluster = (0..self.config.clusters.len()).find(|c| reachable(health, *c)).unwrap_or(0);
                (Decision::Route { cluster, via: Via::Other, then: Then::PassThrough }, None)
            }
        }
    }

    /// The local round robin, skipping clusters known to be down (all down:
    /// the plain turn, something must answer).
    fn reachable_round_robin(&self, health: &[Health]) -> usize {
        let first = self.local_round_robin();
        if reachable(health, first) {
            return first;
        }
        (0..self.schedule.len()).map(|_| self.local_round_robin()).find(|c| reachable(health, *c)).unwrap_or(first)
    }

    /// The health of each configured cluster, read from shared data now.
    /// `now`: the worker's clock (seconds), for the expiry of UNHEALTHY marks.
    pub fn read_health(&self, store: &dyn SharedData, now: u32) -> Result<Vec<Health>, SharedDataError> {
        Ok(self.cluster_health(&health::read(store)?, now))
    }

    /// How long an UNHEALTHY record counts without being renewed: the health
    /// service renews its verdicts every poll; a worker's passive mark (a
    /// statement that failed) is not renewed by anyone when no service runs
    /// (e.g. under Istio, which loads no bootstrap service), so it lapses and
    /// the cluster is tried again by the next statement (re-sent if it fails).
    pub fn unhealthy_expiry_seconds(&self) -> u32 {
        u32::try_from(self.config.health.interval_ms.saturating_mul(3) / 1000).unwrap_or(u32::MAX).max(2)
    }

    /// The health of each configured cluster as workers see it (draining in
    /// the configuration wins over what the coordinator reports; an UNHEALTHY
    /// record nobody renewed lapses to UNKNOWN).
    pub fn cluster_health(&self, records: &[health::ClusterHealth], now: u32) -> Vec<Health> {
        let expiry = self.unhealthy_expiry_seconds();
        (0..self.config.clusters.len())
            .map(|i| {
                let record = self.ids.table_id(i).map(|t| health::of(records, t));
                let reported = match record {
                    Some(r) if r.health == Health::Unhealthy && now.saturating_sub(r.updated_at) > expiry => {
                        Health::Unknown
                    }
                    Some(r) => r.health,
                    None => Health::Unknown,
                };
                let draining = self.config.clusters.get(i).is_some_and(|c| c.draining);
                if draining && reported != Health::Unhealthy {
                    Health::Draining
                } else {
                    reported
                }
            })
            .collect()
    }

    /// The routing group of a new statement: the one its
    /// `X-Trino-Routing-Group` names (when configured and allowed), else the
    /// first rule that matches, else the default group. `headers` are the
    /// request's (names in lower case).
    pub fn choose_group(&self, headers: &[(String, String)], statement: Statement<'_>) -> Choice {
        let routing = &self.config.routing;
        let facts = Facts::new(headers, statement);
        // The header is looked for only when it is configured.
        let named = routing.group_header.as_ref().and_then(|allowed| Some((allowed, facts.header(GROUP_HEADER)?)));
        if let Some((allowed, named)) = named {
            let named = named.trim();
            let (user, source) = (facts.header("x-trino-user"), facts.header("x-trino-source"));
            let refuse = |error, message: String| {
                Choice::Refuse(Failure { query_id: None, error, message, reason: ReplyReason::GroupRefused })
            };
            if !allowed.allows(user, source) {
                return refuse(
                    failed_query::PERMISSION_DENIED,
                    format!(
                        "X-Trino-Routing-Group may not be used by user '{}' with source '{}'; remove the header to route by the gateway's rules",
                        user.unwrap_or_default(),
                        source.unwrap_or_default()
                    ),
                );
            }
            return match routing.group_index(named) {
                Some(group) => Choice::Group(group),
                None => {
                    let known: Vec<&str> = routing.groups.iter().map(|g| g.name.as_str()).collect();
                    refuse(
                        failed_query::GENERIC_USER_ERROR,
                        format!(
                            "X-Trino-Routing-Group names an unknown routing group '{}' (routing groups: {})",
                            named.escape_default(),
                            known.join(", ")
                        ),
                    )
                }
            };
        }
        match first_match(&routing.rules.list, &facts) {
            Outcome::Matched(rule) => Choice::Group(rule.group),
            Outcome::NoMatch => Choice::Group(routing.default_group),
            Outcome::NeedsStatement => Choice::NeedsStatement,
        }
    }

    /// The FAILED answer for a statement longer than the rules may read
    /// (`over_limit: "fail"`).
    pub fn statement_too_large(&self) -> Failure {
        Failure {
            query_id: None,
            error: failed_query::QUERY_TEXT_TOO_LARGE,
            message: format!(
                "The statement is longer than the {} bytes the gateway's routing rules may read (routing.statement.max_bytes)",
                self.config.routing.statement.max_bytes
            ),
            reason: ReplyReason::StatementTooLarge,
        }
    }

    /// New statements go only to clusters that are healthy (or not polled
    /// yet), not draining (`states`, per configured cluster) and not
    /// saturated, of the target's routing group, placed as the group says;
    /// when none can take it, the default group's (if the group falls back).
    /// `tried` are the clusters that already failed this statement (a
    /// re-send skips them); `now` is the worker's clock (seconds), to tell a
    /// stale load. The statement is counted on its cluster by
    /// `count_placement`, once it is on its way.
    pub fn place_new_query(
        &self,
        store: &dyn SharedData,
        states: &[Health],
        target: &Target,
        tried: &[usize],
        now: u32,
    ) -> (Result<Placed, Failure>, Option<SharedDataError>) {
        let routing = &self.config.routing;
        let mut error = None;
        let mut groups = vec![target.group];
        let falls_back =
            routing.groups.get(target.group).is_some_and(|g| g.when_unavailable == WhenUnavailable::DefaultGroup);
        if falls_back && target.group != routing.default_group {
            groups.push(routing.default_group);
        }
        let needs_load = groups.iter().any(|g| self.group_needs_load.get(*g).copied().unwrap_or(false));
        let load = if needs_load { self.read_load(store, now, &mut error) } else { None };
        for group in &groups {
            if let Some(cluster) = self.place_in_group(store, *group, states, target, tried, load.as_ref(), &mut error)
            {
                return (Ok(Placed { cluster, group: *group }), error);
            }
        }
        let members: Vec<usize> = {
            let mut all: Vec<usize> = Vec::new();
            for g in &groups {
                for c in routing.groups.get(*g).map(|g| g.clusters.as_slice()).unwrap_or_default() {
                    if !all.contains(c) {
                        all.push(*c);
                    }
                }
            }
            all
        };
        let states: Vec<String> = members
            .iter()
            .map(|i| {
                let name = self.cluster_name(*i);
                let health = states.get(*i).copied().unwrap_or(Health::Unknown);
                let failed = if tried.contains(i) { ", failed this query" } else { "" };
                let saturated = match (&load, health.accepts_new_queries()) {
                    (Some(load), true) => self.saturation(*i, load).map(|s| format!(", {s}")).unwrap_or_default(),
                    _ => String::new(),
                };
                format!("{name}: {}{saturated}{failed}", health_name(health))
            })
            .collect();
        let which = if routing.configured {
            let names: Vec<String> =
                groups.iter().filter_map(|g| routing.groups.get(*g)).map(|g| format!("'{}'", g.name)).collect();
            let plural = if names.len() > 1 { "s" } else { "" };
            format!(" of routing group{plural} {}", names.join(" then "))
        } else {
            String::new()
        };
        let message =
            format!("No Trino coordinator{which} can take new queries ({}); try again later", states.join(", "));
        let failure = Failure {
            query_id: None,
            error: failed_query::NO_NODES_AVAILABLE,
            message,
            reason: ReplyReason::NoCoordinator,
        };
        (Err(failure), error)
    }

    /// Statements placed are counted (see `Config::tracks_placements`).
    pub fn tracks_placements(&self) -> bool {
        self.tracks_placements
    }

    /// A new statement is on its way to `cluster`: counted until the next
    /// load read (see `placed`), when some placement uses the count.
    pub fn count_placement(&self, store: &dyn SharedData, cluster: usize) -> Result<(), SharedDataError> {
        match (self.tracks_placements, self.ids.table_id(cluster)) {
            (true, Some(table_id)) => super::placed::add(store, table_id),
            _ => Ok(()),
        }
    }

    /// Each cluster's polled health record and placed count, by cluster table
    /// id; None (placement without load) if they cannot be read.
    fn read_load(&self, store: &dyn SharedData, now: u32, error: &mut Option<SharedDataError>) -> Option<Load> {
        // Three polls missed: the figures no longer move, they are not used.
        let stale_after =
            u32::try_from(self.config.health.interval_ms.saturating_mul(3) / 1000).unwrap_or(u32::MAX).max(3);
        match (health::read(store), super::placed::read(store)) {
            (Ok(records), Ok(placed)) => Some(Load { records, placed, now, stale_after }),
            (Err(e), _) | (_, Err(e)) => {
                *error = Some(e);
                None
            }
        }
    }

    /// Why `cluster` is saturated; None when it is not, or its load is stale.
    fn saturation(&self, cluster: usize, load: &Load) -> Option<String> {
        let config = self.config.clusters.get(cluster)?;
        let (running, queued, placed) = load.of(self.ids.table_id(cluster)?)?;
        placement::saturated(running, queued, placed, config.max_running, config.max_queued).then(|| {
            format!(
                "saturated: {running} running (max_running {}), {queued} queued + {placed} sent since (max_queued {})",
                config.max_running.map_or("-".to_string(), |m| m.to_string()),
                config.max_queued.map_or("-".to_string(), |m| m.to_string()),
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn place_in_group(
        &self,
        store: &dyn SharedData,
        group: usize,
        states: &[Health],
        target: &Target,
        tried: &[usize],
        load: Option<&Load>,
        error: &mut Option<SharedDataError>,
    ) -> Option<usize> {
        let config = self.config.routing.groups.get(group)?;
        let eligible = |c: usize| {
            !tried.contains(&c)
                && states.get(c).is_some_and(|h| h.accepts_new_queries())
                && load.is_none_or(|load| self.saturation(c, load).is_none())
        };
        let candidates = || -> Vec<Candidate> {
            config
                .clusters
                .iter()
                .copied()
                .filter(|c| eligible(*c))
                .map(|c| {
                    // A stale load counts as none: nothing says the cluster is busy.
                    let (running, queued, placed) =
                        load.zip(self.ids.table_id(c)).and_then(|(load, t)| load.of(t)).unwrap_or((0, 0, 0));
                    Candidate {
                        cluster: c,
                        weight: self.config.clusters.get(c).map_or(1, |c| c.weight),
                        load: u64::from(running) + u64::from(queued) + u64::from(placed),
                        name_hash: self.name_hashes.get(c).copied().unwrap_or(0),
                    }
                })
                .collect()
        };
        match config.placement {
            Placement::RoundRobin => {
                let schedule = self.group_schedules.get(group)?;
                let key = self.group_keys.get(group)?;
                let turn = match balancer::next_turn(store, key) {
                    Ok(turn) => turn,
                    Err(e) => {
                        *error = Some(e);
                        self.next_local_turn() as u64
                    }
                };
                balancer::pick(schedule, turn, eligible)
            }
            Placement::LeastLoaded => placement::least_loaded(&candidates(), self.next_local_turn()),
            Placement::UserHash => placement::user_hash(&candidates(), target.user.as_deref().unwrap_or_default()),
        }
    }

    /// Whether `cluster` now runs another coordinator process than the one
    /// that made `query_id` (it restarted: the query died with the old one).
    /// Asked only when the coordinator says it does not know a query (404),
    /// so that the hot path reads no health record.
    pub fn restarted(
        &self,
        store: &dyn SharedData,
        cluster: usize,
        query_id: &QueryId,
    ) -> Result<Option<Loss>, SharedDataError> {
        let Some(table_id) = self.ids.table_id(cluster) else { return Ok(None) };
        let record = health::of(&health::read(store)?, table_id);
        let old = query_id.coordinator_id();
        Ok(match record.coordinator {
            // Trino 477+: `/v1/info` names the process.
            Some(now) if now != old => Some(Loss::Restarted { now: Some(now) }),
            Some(_) => None,
            // Trino 470–476: what the answers taught (a newer id on this
            // cluster), else the health service's verdict (uptime went back
            // after the old id was last seen).
            None => {
                let entries = coordinator_map::read(store)?;
                let own = entries.iter().find(|e| e.coordinator == old && e.cluster == table_id);
                let newer = entries
                    .iter()
                    .filter(|e| e.cluster == table_id && e.coordinator != old)
                    .filter(|e| own.is_none_or(|o| e.seen_at >= o.seen_at))
                    .max_by_key(|e| e.seen_at);
                match (newer, own) {
                    (Some(newer), _) => Some(Loss::Restarted { now: Some(newer.coordinator) }),
                    (None, Some(own)) if record.restarted_at > own.seen_at => Some(Loss::Restarted { now: None }),
                    _ => None,
                }
            }
        })
    }

    /// The gateway's FAILED answer for a query lost with its coordinator.
    pub fn lost_query(&self, cluster: usize, query_id: QueryId, loss: Loss) -> Failure {
        Failure {
            query_id: Some(query_id),
            error: failed_query::REMOTE_HOST_GONE,
            message: failed_query::lost_message(&query_id, self.cluster_name(cluster), loss),
            reason: ReplyReason::LostQuery,
        }
    }

    /// Passive health: a request to `cluster` failed (connect error, reset,
    /// 502/503/504). Returns whether this changed its state.
    pub fn report_failure(&self, store: &dyn SharedData, cluster: usize, now: u32) -> Result<bool, SharedDataError> {
        match self.ids.table_id(cluster) {
            Some(table_id) => health::mark_unhealthy(store, table_id, now),
            None => Ok(false),
        }
    }

    pub fn table_id(&self, cluster: usize) -> Option<u8> {
        self.ids.table_id(cluster)
    }

    /// The owner of a query-bound request, whatever its health: only the
    /// owner can answer. Protocol requests (`/v1/statement/...`) are watched
    /// for the owner's failure; the other resources (query info, web UI) pass
    /// through.
    fn owner_of(
        &self,
        store: &dyn SharedData,
        query_id: &QueryId,
        resource: QueryResource,
    ) -> (Decision, Option<SharedDataError>) {
        let mut error = None;
        let mut owner = None;
        // This worker's memory first; what the shared map knows is remembered.
        let recorded = match self.owners.get(query_id) {
            Some(table_id) => Ok(Some(table_id)),
            None => self.queries.lookup(store, query_id).inspect(|found| {
                if let Some(table_id) = found {
                    self.owners.put(*query_id, *table_id);
                }
            }),
        };
        let mut flags = 0;
        match recorded {
            Ok(Some(byte)) => {
                flags = byte & (LEARN_TRANSACTION | LEARN_SEGMENTS);
                owner = self.ids.config_index(byte & CLUSTER_MASK).map(|c| (c, Via::StickyHit));
            }
            Ok(None) => {}
            Err(e) => error = Some(e),
        }
        if owner.is_none() {
            match coordinator_map::lookup(store, &query_id.coordinator_id()) {
                Ok(Some(table_id)) => owner = self.ids.config_index(table_id).map(|c| (c, Via::CoordinatorId)),
                Ok(None) => {}
                Err(e) => error = Some(e),
            }
        }
        let Some((cluster, via)) = owner else {
            return (Decision::Reply(query_not_found(ReplyReason::UnknownQuery)), error);
        };
        let then = match resource {
            QueryResource::Statement if flags != 0 => Then::FailFastAndLearn(*query_id, flags),
            QueryResource::Statement => Then::FailFastIfLost(*query_id),
            _ => Then::PassThrough,
        };
        (Decision::Route { cluster, via, then }, error)
    }

    /// Where a spooled segment's download or acknowledgement goes: the
    /// coordinator whose data page named it. An identifier the gateway never
    /// saw (forged, or its record overwritten) reaches no coordinator.
    fn segment_owner(&self, store: &dyn SharedData, key: &[u8; 8]) -> (Decision, Option<SharedDataError>) {
        let unknown = || {
            Decision::Reply(LocalReply {
                status: 404,
                content_type: "text/plain",
                body: "Error 404 Not Found: Segment not found".into(),
                reason: ReplyReason::UnknownSegment,
            })
        };
        match self.segments.lookup_key(store, key) {
            Ok(Some(table_id)) => match self.ids.config_index(table_id) {
                Some(cluster) => (Decision::Route { cluster, via: Via::Segment, then: Then::PassThrough }, None),
                None => (unknown(), None),
            },
            Ok(None) => (unknown(), None),
            Err(e) => (unknown(), Some(e)),
        }
    }

    /// A data page from `cluster` named these spooled segments: record them.
    pub fn learn_segments(
        &self,
        store: &dyn SharedData,
        cluster: usize,
        identifiers: &[Vec<u8>],
        now: u32,
    ) -> Result<(), SharedDataError> {
        let Some(table_id) = self.ids.table_id(cluster) else { return Ok(()) };
        identifiers.iter().try_for_each(|identifier| self.segments.record(store, identifier, table_id, now))
    }

    /// Where a statement of transaction `id` goes: the coordinator that
    /// started it, whatever its health (a draining coordinator finishes its
    /// transactions). A transaction the gateway does not know (never seen,
    /// ended, idle too long, or its cluster removed) gets Trino's
    /// UNKNOWN_TRANSACTION failure and reaches no coordinator.
    pub fn transaction_owner(
        &self,
        store: &dyn SharedData,
        id: &TransactionId,
        now: u32,
    ) -> (Decision, Option<SharedDataError>) {
        let unknown = || {
            Decision::Fail(Failure {
                query_id: None,
                error: failed_query::UNKNOWN_TRANSACTION,
                message: transaction::unknown_message(id),
                reason: ReplyReason::UnknownTransaction,
            })
        };
        let record = match self.transactions.lookup(store, id, now) {
            Ok(record) => record,
            Err(e) => return (unknown(), Some(e)),
        };
        let Some((record, cluster)) = record.and_then(|r| self.ids.config_index(r.cluster).map(|c| (r, c))) else {
            return (unknown(), None);
        };
        // Keep it from going idle; at most one write per REFRESH_SECONDS.
        let error = if now.saturating_sub(record.used_at) > REFRESH_SECONDS {
            self.transactions.record(store, *id, record.cluster, now).err()
        } else {
            None
        };
        (Decision::Route { cluster, via: Via::Transaction, then: Then::InTransaction(*id) }, error)
    }

    /// Trino's answer to an `X-Trino-Transaction-Id` that is not a UUID.
    pub fn malformed_transaction(&self, value: &str) -> Decision {
        Decision::Reply(LocalReply {
            status: 400,
            content_type: "text/plain",
            body: transaction::malformed_message(value),
            reason: ReplyReason::MalformedTransactionId,
        })
    }

    /// The gateway's FAILED answer for a statement whose transaction was lost with its coordinator.
    pub fn lost_transaction(&self, cluster: usize, id: &TransactionId) -> Failure {
        Failure {
            query_id: None,
            error: failed_query::UNKNOWN_TRANSACTION,
            message: format!(
                "Transaction {} was lost: its Trino coordinator '{}' is unreachable. Roll back and run the \
                 transaction again.",
                id.as_string(),
                self.cluster_name(cluster)
            ),
            reason: ReplyReason::LostTransaction,
        }
    }

    /// An answer of a `START TRANSACTION` query from `cluster` named the
    /// transaction: record it (once; every later page names it again).
    /// Returns whether it was new.
    pub fn learn_transaction(
        &self,
        store: &dyn SharedData,
        cluster: usize,
        id: TransactionId,
        now: u32,
    ) -> Result<bool, SharedDataError> {
        let Some(table_id) = self.ids.table_id(cluster) else { return Ok(false) };
        if self.transactions.lookup(store, &id, now)?.is_some_and(|r| r.cluster == table_id) {
            return Ok(false);
        }
        self.transactions.record(store, id, table_id, now)?;
        Ok(true)
    }

    /// Its COMMIT or ROLLBACK was accepted: the coordinator clears the
    /// transaction whatever the outcome, so it no longer routes.
    pub fn end_transaction(&self, store: &dyn SharedData, id: &TransactionId) -> Result<(), SharedDataError> {
        self.transactions.forget(store, id)
    }

    /// Learn from the body of a 200 answer to `POST /v1/statement` sent to
    /// `cluster`: the query's owner, and its coordinator id's cluster unless
    /// `known` (the worker's snapshot of the coordinator map) has it fresh.
    /// `flags` (`query_map::LEARN_TRANSACTION` or 0) go with the owner.
    pub fn learn_statement_response(
        &self,
        store: &dyn SharedData,
        cluster: usize,
        body: &[u8],
        now: u32,
        known: &[Entry],
        flags: u8,
    ) -> Result<Learned, SharedDataError> {
        let Some(query_id) =
            serde_json::from_slice::<QueryResultsId<'_>>(body).ok().and_then(|r| QueryId::parse(&r.id))
        else {
            return Ok(Learned::Unparseable);
        };
        let Some(table_id) = self.ids.table_id(cluster) else {
            return Ok(Learned::Unparseable);
        };
        self.owners.put(query_id, table_id | flags);
        self.queries.record(store, query_id, table_id | flags, now)?;
        if !coordinator_map::is_fresh(known, query_id.coordinator_id(), table_id, now) {
            coordinator_map::learn(store, query_id.coordinator_id(), table_id, now)?;
        }
        Ok(Learned::Query(query_id))
    }
}

/// The polled load of every cluster, for one placement.
struct Load {
    records: Vec<health::ClusterHealth>,
    /// By cluster table id (`placed`).
    placed: Vec<super::placed::Placed>,
    now: u32,
    /// A load read longer ago than this (seconds) is stale.
    stale_after: u32,
}

impl Load {
    /// Running, queued, placed since the poll; None when the load was never
    /// read or not for `stale_after` (stats refused, no health service).
    fn of(&self, table_id: u8) -> Option<(u32, u32, u32)> {
        let placed = self.placed.get(usize::from(table_id)).copied().unwrap_or_default();
        if placed.load_read_at == 0 || self.now.saturating_sub(placed.load_read_at) > self.stale_after {
            return None;
        }
        let record = health::of(&self.records, table_id);
        Some((record.running, record.queued, placed.count))
    }
}

/// Whether a pass-through request may go to `cluster`: anything but UNHEALTHY
/// (a starting or draining coordinator still answers `/v1/info` and its UI).
/// An empty snapshot (not read yet) allows every cluster.
fn reachable(health: &[Health], cluster: usize) -> bool {
    health.get(cluster).is_none_or(|h| *h != Health::Unhealthy)
}

#[cfg(test)]
mod routing_tests;

#[cfg(test)]
mod tests {
    use super::super::classify::classify;
    use super::super::query_id::CoordinatorId;
    use super::super::shared_data::MemorySharedData;
    use super::*;

    fn router(store: &MemorySharedData, json: &str) -> Router {
        Router::new(Config::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}")), store)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const TWO: &str = r#"{"clusters": [{"name": "a"}, {"name": "b"}]}"#;

    fn route(router: &Router, store: &MemorySharedData, method: &str, path: &str) -> Decision {
        let health = router.read_health(store, 0).unwrap();
        router.decide(store, classify(method, path), &health).0
    }

    fn body(id: &str) -> Vec<u8> {
        format!(r#"{{"id":"{id}","infoUri":"http://g/ui/query.html?{id}","nextUri":"http://g/v1/statement/queued/{id}/y00/1","stats":{{"state":"QUEUED"}},"warnings":[]}}"#).into_bytes()
    }

    #[test]
    fn new_queries_alternate_and_follow_ups_stick() {
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        let picks: Vec<Decision> = (0..4).map(|_| route(&r, &store, "POST", "/v1/statement")).collect();
        let clusters: Vec<usize> =
            picks.iter().map(|d| if let Decision::Route { cluster, .. } = d { *cluster } else { 99 }).collect();
        assert_eq!(clusters, vec![0, 1, 0, 1]);
        assert!(picks
            .iter()
            .all(|d| matches!(d, Decision::Route { via: Via::NewQuery, then: Then::LearnOrResend, .. })));

        let id = "20261125_101305_00001_bbbbb";
        assert_eq!(
            r.learn_statement_response(&store, 1, &body(id), 100, &[], 0).ok(),
            QueryId::parse(id).map(Learned::Query)
        );
        let query_id = QueryId::parse(id).unwrap_or_else(|| panic!());
        for (path, then) in [
            (format!("/v1/statement/queued/{id}/y1/1"), Then::FailFastIfLost(query_id)),
            (format!("/v1/statement/executing/{id}/y2/5"), Then::FailFastIfLost(query_id)),
            (format!("/v1/query/{id}"), Then::PassThrough),
            (format!("/ui/query.html?{id}"), Then::PassThrough),
        ] {
            assert_eq!(
                route(&r, &store, "GET", &path),
                Decision::Route { cluster: 1, via: Via::StickyHit, then },
                "{path}"
            );
        }
    }

    #[test]
    fn unrecorded_queries_follow_their_coordinator_id() {
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        r.learn_statement_response(&store, 0, &body("20261125_101305_00001_aaaaa"), 100, &[], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        // Another query of the same coordinator, never seen by the gateway (other Envoy, evicted, ...).
        let path = "/v1/statement/executing/20261125_111111_00077_aaaaa/y/3";
        assert_eq!(
            route(&r, &store, "GET", path),
            Decision::Route {
                cluster: 0,
                via: Via::CoordinatorId,
                then: Then::FailFastIfLost(QueryId::parse("20261125_111111_00077_aaaaa").unwrap_or_else(|| panic!()))
            }
        );
    }

    #[test]
    fn unknown_and_malformed_ids_get_a_trino_404_and_never_a_guess() {
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        let unknown = route(&r, &store, "GET", "/v1/statement/executing/20261125_101305_00001_zzzzz/y/0");
        let malformed = route(&r, &store, "GET", "/v1/statement/executing/not-a-query/y/0");
        for (decision, reason) in [(unknown, ReplyReason::UnknownQuery), (malformed, ReplyReason::MalformedQueryId)] {
            assert_eq!(
                decision,
                Decision::Reply(LocalReply {
                    status: 404,
                    content_type: "text/plain",
                    body: "Error 404 Not Found: Query not found".into(),
                    reason
                })
            );
        }
    }

    #[test]
    fn malformed_responses_teach_nothing() {
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        for bad in [&b""[..], b"not json", br#"{"id": 5}"#, br#"{"id": "../../x"}"#, br#"{"error": "x"}"#, b"\xff\xfe"]
        {
            assert_eq!(r.learn_statement_response(&store, 0, bad, 1, &[], 0), Ok(Learned::Unparseable));
        }
        assert_eq!(crate::usage::measure(&store, &r.config).map(|u| u.tracked_queries), Ok(0));
    }

    #[test]
    fn a_cluster_removed_from_the_configuration_is_never_routed_to() {
        let store = MemorySharedData::new();
        let old = router(&store, TWO);
        old.learn_statement_response(&store, 1, &body("20261125_101305_00001_bbbbb"), 1, &[], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let new = router(&store, r#"{"clusters": [{"name": "a"}, {"name": "c"}]}"#);
        let decision = route(&new, &store, "GET", "/v1/query/20261125_101305_00001_bbbbb");
        assert!(
            matches!(decision, Decision::Reply(LocalReply { reason: ReplyReason::UnknownQuery, .. })),
            "{decision:?}"
        );
    }

    #[test]
    fn new_queries_avoid_unhealthy_starting_and_draining_clusters() {
        use super::super::health::{publish, ClusterHealth};
        let store = MemorySharedData::new();
        let r = router(&store, r#"{"clusters": [{"name": "a"}, {"name": "b"}, {"name": "c", "draining": true}]}"#);
        let place = || match route(&r, &store, "POST", "/v1/statement") {
            Decision::Route { cluster, .. } => r.cluster_name(cluster).to_string(),
            Decision::Reply(reply) => format!("{} {}", reply.status, reply.body),
            Decision::Fail(failure) => format!("{} {}", failure.error.name, failure.message),
        };
        // Not polled yet: a and b take queries; c is drained by configuration.
        let first: Vec<String> = (0..4).map(|_| place()).collect();
        assert_eq!(first, ["a", "b", "a", "a"]);
        assert_eq!(r.report_failure(&store, 1, 10), Ok(true));
        assert_eq!(r.report_failure(&store, 1, 11), Ok(false));
        assert!((0..6).all(|_| place() == "a"));
        let starting = ClusterHealth {
            cluster: 0,
            health: Health::Starting,
            coordinator: None,
            updated_at: 12,
            running: 0,
            queued: 0,
            restarted_at: 0,
        };
        publish(&store, starting).unwrap();
        let none = place();
        assert_eq!(
            none,
            "NO_NODES_AVAILABLE No Trino coordinator can take new queries (a: STARTING, b: UNHEALTHY, c: DRAINING); \
             try again later"
        );
        publish(&store, ClusterHealth { health: Health::Healthy, cluster: 1, ..starting }).unwrap();
        assert!((0..4).all(|_| place() == "b"));
    }

    #[test]
    fn a_resend_skips_the_clusters_that_failed() {
        let store = MemorySharedData::new();
        let r = router(&store, r#"{"clusters": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}"#);
        let target = Target { group: 0, user: None };
        let place = |tried: &[usize]| match r
            .place_new_query(&store, &r.read_health(&store, 0).unwrap(), &target, tried, 0)
            .0
        {
            Ok(placed) => r.cluster_name(placed.cluster).to_string(),
            Err(failure) => failure.message,
        };
        assert!((0..6).all(|_| place(&[0]) != "a"));
        assert!((0..6).all(|_| place(&[0, 2]) == "b"));
        assert_eq!(r.report_failure(&store, 1, 5), Ok(true));
        assert_eq!(
            place(&[0, 2]),
            "No Trino coordinator can take new queries (a: UNKNOWN, failed this query, b: UNHEALTHY, \
             c: UNKNOWN, failed this query); try again later"
        );
    }

    #[test]
    fn pass_through_requests_avoid_a_coordinator_known_to_be_down() {
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        let cluster_of = |kind, health: &[Health]| match r.decide(&store, kind, health).0 {
            Decision::Route { cluster, then: Then::PassThrough, .. } => cluster,
            other => panic!("{other:?}"),
        };
        let (up, down) = (Health::Healthy, Health::Unhealthy);
        for _ in 0..4 {
            assert_eq!(cluster_of(RequestKind::AnyCoordinator, &[down, up]), 1);
            assert_eq!(cluster_of(RequestKind::Other, &[down, up]), 1);
            // The web UI stays on the first cluster while it is up.
            assert_eq!(cluster_of(RequestKind::Other, &[up, up]), 0);
            assert_eq!(cluster_of(RequestKind::Other, &[Health::Draining, up]), 0);
        }
        let spread: std::collections::HashSet<usize> =
            (0..4).map(|_| cluster_of(RequestKind::AnyCoordinator, &[up, up])).collect();
        assert_eq!(spread.len(), 2, "/v1/info still spreads over reachable coordinators");
        // All down: something must answer.
        assert!(cluster_of(RequestKind::AnyCoordinator, &[down, down]) < 2);
        assert_eq!(cluster_of(RequestKind::Other, &[down, down]), 0);
    }

    /// Trino 470–476: `/v1/info` names no coordinator id. A restart is known
    /// from a newer id in statement answers, or the service's uptime verdict.
    #[test]
    fn a_restart_without_coordinator_ids_in_v1_info() {
        use super::super::health::{publish, ClusterHealth};
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        let old = "20261125_101305_00001_aaaaa";
        let query_id = QueryId::parse(old).unwrap_or_else(|| panic!());
        r.learn_statement_response(&store, 0, &body(old), 100, &[], 0).unwrap_or_else(|e| panic!("{e:?}"));
        // A query of b's coordinator does not say anything about a.
        r.learn_statement_response(&store, 1, &body("20261125_101306_00002_bbbbb"), 150, &[], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let record = ClusterHealth {
            cluster: 0,
            health: Health::Healthy,
            coordinator: None,
            updated_at: 100,
            running: 0,
            queued: 0,
            restarted_at: 0,
        };
        publish(&store, record).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.restarted(&store, 0, &query_id), Ok(None), "a 404 of a live process is passed on");
        // The process that answered started before the query's coordinator was last seen: an earlier restart.
        publish(&store, ClusterHealth { restarted_at: 90, ..record }).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.restarted(&store, 0, &query_id), Ok(None));
        // …and after: the query's process is gone, its successor not yet known.
        publish(&store, ClusterHealth { restarted_at: 130, ..record }).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.restarted(&store, 0, &query_id), Ok(Some(Loss::Restarted { now: None })));
        // The new process answered a statement: it is named.
        r.learn_statement_response(&store, 0, &body("20261125_101400_00000_zz9zz"), 200, &[], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let loss = r.restarted(&store, 0, &query_id);
        assert_eq!(loss, Ok(CoordinatorId::parse("zz9zz").map(|now| Loss::Restarted { now: Some(now) })));
        // A query of the new process is not lost by its 404 (e.g. expired).
        let new_query = QueryId::parse("20261125_101400_00000_zz9zz").unwrap_or_else(|| panic!());
        assert_eq!(r.restarted(&store, 0, &new_query), Ok(None));
    }

    #[test]
    fn protocol_requests_go_to_the_owner_whatever_its_health_and_a_restart_is_named() {
        use super::super::health::{publish, ClusterHealth};
        let store = MemorySharedData::new();
        let r = router(&store, TWO);
        let id = "20261125_101305_00001_aaaaa";
        let query_id = QueryId::parse(id).unwrap_or_else(|| panic!());
        r.learn_statement_response(&store, 0, &body(id), 100, &[], 0).unwrap_or_else(|e| panic!("{e:?}"));
        let executing = format!("/v1/statement/executing/{id}/y/3");
        let info = format!("/v1/query/{id}");
        let healthy = ClusterHealth {
            cluster: 0,
            health: Health::Healthy,
            coordinator: query_id.coordinator_id().into(),
            updated_at: 1,
            running: 0,
            queued: 0,
            restarted_at: 0,
        };
        publish(&store, healthy).unwrap_or_else(|e| panic!("{e:?}"));
        let watched = Decision::Route { cluster: 0, via: Via::StickyHit, then: Then::FailFastIfLost(query_id) };
        assert_eq!(route(&r, &store, "GET", &executing), watched);

        // Marked unhealthy (one reset connection, a GC pause): the owner is
        // still asked; only its own failure ends the query.
        assert_eq!(r.report_failure(&store, 0, 2), Ok(true));
        assert_eq!(route(&r, &store, "GET", &executing), watched);
        assert_eq!(r.restarted(&store, 0, &query_id), Ok(None));
        let failure = r.lost_query(0, query_id, Loss::Unreachable);
        assert_eq!(
            (failure.query_id, failure.error.name, failure.reason),
            (Some(query_id), "REMOTE_HOST_GONE", ReplyReason::LostQuery)
        );
        assert!(
            failure.message.contains("coordinator 'a' (coordinator id aaaaa) is unreachable"),
            "{}",
            failure.message
        );
        // Query info and web UI go to the owner and are not watched.
        assert!(matches!(route(&r, &store, "GET", &info), Decision::Route { cluster: 0, then: Then::PassThrough, .. }));

        // Back, but as a new process: its 404 for the query is a restart.
        let restarted = ClusterHealth { coordinator: CoordinatorId::parse("zz9zz"), updated_at: 3, ..healthy };
        publish(&store, restarted).unwrap_or_else(|e| panic!("{e:?}"));
        let loss = r.restarted(&store, 0, &query_id).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(loss, CoordinatorId::parse("zz9zz").map(|now| Loss::Restarted { now: Some(now) }));
        let failure = r.lost_query(0, query_id, loss.unwrap_or(Loss::Unreachable));
        assert!(
            failure.message.contains("restarted (coordinator id aaaaa is gone, it is now zz9zz)"),
            "{}",
            failure.message
        );
        // Its new queries are its own: no restart for them.
        let new_id = QueryId::parse("20261125_101306_00000_zz9zz").unwrap_or_else(|| panic!());
        assert_eq!(r.restarted(&store, 0, &new_id), Ok(None));
    }

    #[test]
    fn weights_and_other_requests() {
        let store = MemorySharedData::new();
        let r = router(&store, r#"{"clusters": [{"name": "a", "weight": 3}, {"name": "b"}]}"#);
        let mut counts = [0; 2];
        for _ in 0..400 {
            if let Decision::Route { cluster, .. } = route(&r, &store, "POST", "/v1/statement") {
                counts[cluster] += 1;
            }
        }
        assert_eq!(counts, [300, 100]);
        assert_eq!(
            route(&r, &store, "POST", "/ui/login"),
            Decision::Route { cluster: 0, via: Via::Other, then: Then::PassThrough }
        );
        assert!(matches!(route(&r, &store, "GET", "/v1/info"), Decision::Route { via: Via::AnyCoordinator, .. }));
    }
}
