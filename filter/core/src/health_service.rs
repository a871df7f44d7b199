//! The health-check service: runs once per Envoy process (bootstrap wasm
//! service, `singleton: true`, same vm_id as the filter so it shares its data)
//! or, without one (Istio's `WasmPlugin` loads HTTP filters only), in the root
//! context of whichever worker holds the shared poll lease (`health_lease`).
//! Every `health.interval_ms` it asks each coordinator's `/v1/info` and
//! publishes what it finds; it also learns each coordinator's id, so queries
//! can be routed by their id's suffix from the very first one. With a web UI
//! login configured (`health.ui_user`), it also reads `/ui/api/stats` (running
//! and queued queries), logging in again whenever the session is refused.
//! Every `USAGE_EVERY` polls it measures the routing state for the state
//! gauges: it runs on Envoy's main thread, so reading every key costs no
//! worker anything.

use crate::coordinator_map;
use crate::health::{self, ClusterHealth, Health};
use crate::health_lease;
use crate::host::{info, warn, Host, HostError};
use crate::metrics::Metrics;
use crate::router::Router;
use std::collections::HashMap;
use std::time::Duration;

/// Every how many polls the state-usage gauges are refreshed.
const USAGE_EVERY: u32 = 5;
/// The first poll, once Envoy's clusters are up.
const FIRST_POLL_AFTER: Duration = Duration::from_millis(100);

pub struct HealthService {
    pub router: Router,
    pub metrics: Metrics,
    /// Call token → what was asked of which cluster (index).
    pending: HashMap<u32, (Poll, usize)>,
    /// Web UI session cookie per cluster (index), once logged in.
    sessions: HashMap<usize, String>,
    /// The last uptime each coordinator reported (seconds).
    uptimes: HashMap<usize, u64>,
    polls: u32,
    /// This poller's id in the lease.
    holder: u32,
    /// The bootstrap service: always polls (keeping the lease) and measures
    /// the state gauges, which it can afford on the main thread.
    bootstrap: bool,
    /// Worker ticks since the last poll (a worker ticks every `worker::TICK`).
    ticks: u32,
    /// Clusters drained through the state store (`<prefix>drain/<cluster>`),
    /// by configured index: published as DRAINING whatever they report.
    store_drained: Vec<bool>,
    /// What each cluster's last poll found (before a store drain).
    observed: HashMap<usize, Health>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    Info,
    Login,
    Stats,
}

impl HealthService {
    /// Parses the plugin configuration (the same document as the filter's)
    /// and prepares shared data; None (after an error log) refuses it.
    pub fn configure(host: &dyn Host, configuration: &[u8]) -> Option<HealthService> {
        let service = HealthService::new(host, configuration, true)?;
        let names: Vec<&str> = service.router.config.clusters.iter().map(|c| c.name.as_str()).collect();
        info(
            host,
            format_args!(
                "trino-gateway: health checks of {} every {} ms",
                names.join(", "),
                service.router.config.health.interval_ms
            ),
        );
        Some(service)
    }

    /// The poller a worker's root context keeps: it polls only while it
    /// holds the lease (no bootstrap service keeping it, no other worker).
    pub fn configure_in_worker(host: &dyn Host, configuration: &[u8]) -> Option<HealthService> {
        HealthService::new(host, configuration, false)
    }

    fn new(host: &dyn Host, configuration: &[u8], bootstrap: bool) -> Option<HealthService> {
        let (router, metrics) = crate::worker::prepare(host, configuration)?;
        Some(HealthService {
            router,
            metrics,
            pending: HashMap::new(),
            sessions: HashMap::new(),
            uptimes: HashMap::new(),
            polls: 0,
            holder: health_lease::random_holder_id(),
            bootstrap,
            ticks: 0,
            store_drained: Vec::new(),
            observed: HashMap::new(),
        })
    }

    /// A worker's tick: poll once per interval, if this worker holds the lease.
    pub fn on_worker_tick(&mut self, host: &dyn Host) {
        let ticks_per_poll = (self.router.config.health.interval_ms / crate::worker::TICK.as_millis() as u64).max(1);
        self.ticks = self.ticks.saturating_add(1);
        if u64::from(self.ticks) < ticks_per_poll && self.polls > 0 {
            return;
        }
        self.ticks = 0;
        self.poll_all(host);
    }

    /// The bootstrap service (not a worker's poller).
    pub fn is_bootstrap(&self) -> bool {
        self.bootstrap
    }

    /// Whether this poller may poll now (see `health_lease`).
    pub fn holds_lease(&self, host: &dyn Host) -> bool {
        let seconds = self.router.unhealthy_expiry_seconds();
        match health_lease::hold(host, self.holder, host.now_seconds(), seconds, self.bootstrap) {
            Ok(held) => held,
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot read the health poll lease: {e:?}"));
                self.metrics.shared_data_error(host);
                self.bootstrap
            }
        }
    }

    /// A cluster drained in the state store takes no new query, whatever it
    /// reports; one that is down stays UNHEALTHY.
    fn with_store_drain(&self, cluster: usize, observed: Health) -> Health {
        if self.store_drained.get(cluster) == Some(&true) && observed.accepts_new_queries() {
            Health::Draining
        } else {
            observed
        }
    }

    /// The clusters drained in the state store changed: publish their state
    /// now (workers see it on their next read), not at the next poll.
    pub fn set_store_drains(&mut self, host: &dyn Host, drained: &[String]) {
        let clusters = self.router.config.clusters.len();
        let now: Vec<bool> = (0..clusters).map(|c| drained.iter().any(|d| d == self.router.cluster_name(c))).collect();
        let before = std::mem::replace(&mut self.store_drained, now);
        for cluster in 0..clusters {
            let drained = self.store_drained.get(cluster) == Some(&true);
            if before.get(cluster).copied().unwrap_or(false) == drained {
                continue;
            }
            let name = self.router.cluster_name(cluster).to_string();
            let verb = if drained { "drained" } else { "no longer drained" };
            info(host, format_args!("trino-gateway: {name} {verb} in the state store"));
            let Some(table_id) = self.router.table_id(cluster) else { continue };
            let observed = self.observed.get(&cluster).copied().unwrap_or(Health::Unknown);
            let health = self.with_store_drain(cluster, observed);
            let record = health::read(host).map(|records| health::of(&records, table_id));
            let published = record.and_then(|old| health::publish(host, ClusterHealth { health, ..old }));
            if let Err(e) = published {
                warn(host, format_args!("trino-gateway: cannot publish the drain of {name}: {e:?}"));
                self.metrics.shared_data_error(host);
            }
        }
    }

    /// How long until the next poll: the first comes right after start (so
    /// coordinator ids are known before the first queries), then every interval.
    pub fn tick_period(&self) -> Duration {
        if self.polls == 0 {
            FIRST_POLL_AFTER
        } else {
            Duration::from_millis(self.router.config.health.interval_ms)
        }
    }

    /// On tick: poll every coordinator; now and then, measure the routing state.
    pub fn poll_all(&mut self, host: &dyn Host) {
        if !self.holds_lease(host) {
            return;
        }
        if !self.bootstrap && self.polls == 0 {
            info(
                host,
                format_args!("trino-gateway: this worker polls the coordinators (no health service holds the lease)"),
            );
        }
        for cluster in 0..self.router.config.clusters.len() {
            if self.pending.values().any(|(_, c)| *c == cluster) {
                continue; // The timeout is shorter than the interval; this is only defensive.
            }
            if let Err(e) = self.send(host, Poll::Info, cluster) {
                warn(host, format_args!("trino-gateway: cannot poll {}: {e}", self.router.cluster_name(cluster)));
                self.record(host, cluster, None, &[]);
            }
            if self.router.config.health.ui_login.is_some() {
                self.poll_load(host, cluster);
            }
        }
        if self.bootstrap && self.polls.is_multiple_of(USAGE_EVERY) {
            match crate::usage::measure(host, &self.router.config) {
                Ok(usage) => self.metrics.state_usage(host, &usage),
                Err(e) => warn(host, format_args!("trino-gateway: cannot measure the routing state: {e:?}")),
            }
        }
        self.polls = self.polls.wrapping_add(1);
    }

    /// Read `/ui/api/stats` with the cluster's web UI session, or log in first.
    fn poll_load(&mut self, host: &dyn Host, cluster: usize) {
        let poll = if self.sessions.contains_key(&cluster) { Poll::Stats } else { Poll::Login };
        if let Err(e) = self.send(host, poll, cluster) {
            warn(
                host,
                format_args!("trino-gateway: cannot read the stats of {}: {e}", self.router.cluster_name(cluster)),
            );
        }
    }

    fn send(&mut self, host: &dyn Host, poll: Poll, cluster: usize) -> Result<(), HostError> {
        let timeout = Duration::from_millis(self.router.config.health.timeout_ms);
        let name = self.router.cluster_name(cluster).to_string();
        let mut headers = vec![(":authority", name.as_str()), ("user-agent", "trino-gateway-health")];
        let form;
        let body = match poll {
            Poll::Info => {
                headers.extend([(":method", "GET"), (":path", "/v1/info")]);
                None
            }
            Poll::Login => {
                let login = self.router.config.health.ui_login.as_ref().ok_or(HostError("no login".into()))?;
                form = health::login_form(&login.user, &login.password);
                headers.extend([
                    (":method", "POST"),
                    (":path", "/ui/login"),
                    ("content-type", "application/x-www-form-urlencoded"),
                ]);
                Some(form.as_bytes())
            }
            Poll::Stats => {
                let cookie = self.sessions.get(&cluster).map_or("", String::as_str);
                headers.extend([(":method", "GET"), (":path", "/ui/api/stats"), ("cookie", cookie)]);
                None
            }
        };
        let token = host.dispatch_http(&name, &headers, body, timeout)?;
        self.pending.insert(token, (poll, cluster));
        Ok(())
    }

    /// A poll's answer arrived (`num_headers` 0: reset, timeout or no connection).
    pub fn on_response(&mut self, host: &dyn Host, token: u32, num_headers: usize, body_size: usize) {
        let Some((poll, cluster)) = self.pending.remove(&token) else { return };
        let headers = if num_headers == 0 { Vec::new() } else { host.call_response_headers().unwrap_or_default() };
        let status = headers.iter().find(|(n, _)| n == ":status").and_then(|(_, s)| s.parse::<u16>().ok());
        let body = host.call_response_body(body_size).unwrap_or_default();
        match poll {
            Poll::Info => self.record(host, cluster, status, &body),
            Poll::Login => self.logged_in(host, cluster, status, &headers),
            Poll::Stats => self.record_load(host, cluster, status, &body),
        }
    }

    /// The answer to `POST /ui/login`: keep the session cookie, then read the stats.
    fn logged_in(&mut self, host: &dyn Host, cluster: usize, status: Option<u16>, headers: &[(String, String)]) {
        let set_cookies = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str());
        match health::ui_session_cookie(set_cookies) {
            Some(cookie) => {
                self.sessions.insert(cluster, cookie);
                self.poll_load(host, cluster);
            }
            None if status.is_some() => warn(
                host,
                format_args!(
                    "trino-gateway: web UI login to {} refused ({status:?}): no running/queued figures",
                    self.router.cluster_name(cluster)
                ),
            ),
            None => {} // Unreachable: the /v1/info poll reports that.
        }
    }

    fn record_load(&mut self, host: &dyn Host, cluster: usize, status: Option<u16>, body: &[u8]) {
        let figures = if status == Some(200) { health::parse_stats(body) } else { None };
        let Some((running, queued)) = figures else {
            // 401: the session expired or the coordinator restarted (new signing key): log in again.
            self.sessions.remove(&cluster);
            return;
        };
        let Some(table_id) = self.router.table_id(cluster) else { return };
        if let Err(e) = health::publish_load(host, table_id, running, queued) {
            let name = self.router.cluster_name(cluster);
            warn(host, format_args!("trino-gateway: cannot publish the load of {name}: {e:?}"));
            self.metrics.shared_data_error(host);
        }
        // From now on the coordinator counts what this Envoy sent it (see `placed`).
        if self.router.tracks_placements() {
            if let Err(e) = crate::placed::reset(host, table_id, host.now_seconds()) {
                warn(host, format_args!("trino-gateway: cannot reset a placed count: {e:?}"));
                self.metrics.shared_data_error(host);
            }
        }
        self.metrics.cluster_load(host, cluster, running, queued);
    }

    fn record(&mut self, host: &dyn Host, cluster: usize, status: Option<u16>, body: &[u8]) {
        let Some(table_id) = self.router.table_id(cluster) else { return };
        let name = self.router.cluster_name(cluster).to_string();
        let (observed, coordinator) = health::judge_info(status, body);
        if observed == Health::Unhealthy {
            self.metrics.health_check_failed(host);
        }
        // What the coordinator says, never the `draining` flag of this
        // service's (bootstrap, static) configuration: workers apply their own
        // filter configuration, which xDS/ECDS (e.g. an Istio WasmPlugin) can change.
        let old = health::read(host).map(|records| health::of(&records, table_id)).ok();
        let old_coordinator = old.and_then(|o| o.coordinator);
        let now = host.now_seconds();
        let uptime = if status == Some(200) { health::uptime_seconds(body) } else { None };
        // When the process that answered started: a query learned before it
        // belongs to an earlier process.
        let started_at = uptime.map_or(now, |u| now.saturating_sub(u32::try_from(u).unwrap_or(u32::MAX)));
        let mut restarted_at = old.map_or(0, |o| o.restarted_at);
        if let (Some(new), Some(previous)) = (coordinator, old_coordinator) {
            if new != previous {
                warn(host, format_args!("trino-gateway: {name} restarted: coordinator id {previous:?} -> {new:?}; its earlier queries are gone"));
                self.metrics.coordinator_restart(host);
                restarted_at = started_at;
            }
        }
        // Trino 470–476 name no coordinator id: a restart shows as the uptime
        // going backwards between two answers.
        if let Some(uptime) = uptime {
            let previous = self.uptimes.insert(cluster, uptime);
            if coordinator.is_none() && previous.is_some_and(|p| uptime < p) {
                warn(host, format_args!("trino-gateway: {name} restarted: its uptime went back to {uptime} s; its earlier queries are gone"));
                self.metrics.coordinator_restart(host);
                restarted_at = started_at;
            }
        }
        self.observed.insert(cluster, observed);
        let published = self.with_store_drain(cluster, observed);
        if old.map(|o| o.health) != Some(published) {
            info(host, format_args!("trino-gateway: {name} is {published:?}"));
        }
        let record = ClusterHealth {
            cluster: table_id,
            health: published,
            coordinator: coordinator.or(old_coordinator),
            updated_at: now,
            running: old.map_or(0, |o| o.running),
            queued: old.map_or(0, |o| o.queued),
            restarted_at,
        };
        if let Err(e) = health::publish(host, record) {
            warn(host, format_args!("trino-gateway: cannot publish the health of {name}: {e:?}"));
            self.metrics.shared_data_error(host);
        }
        if let Some(coordinator) = coordinator {
            if let Err(e) = coordinator_map::learn(host, coordinator, table_id, now) {
                warn(host, format_args!("trino-gateway: cannot record the coordinator id of {name}: {e:?}"));
                self.metrics.shared_data_error(host);
            }
        }
    }
}
