//! The health-check service: runs once per Envoy process (bootstrap wasm
//! service, `singleton: true`, same vm_id as the filter so it shares its data).
//! Every `health.interval_ms` it asks each coordinator's `/v1/info` and
//! publishes what it finds; it also learns each coordinator's id, so queries
//! can be routed by their id's suffix from the very first one. With a web UI
//! login configured (`health.ui_user`), it also reads `/ui/api/stats` (running
//! and queued queries), logging in again whenever the session is refused.

use super::metrics::Metrics;
use super::now_seconds;
use super::shared_data::HostSharedData;
use crate::core::coordinator_map;
use crate::core::health::{self, ClusterHealth, Health};
use crate::core::router::Router;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::collections::HashMap;
use std::time::Duration;

pub struct HealthService {
    pub router: Router,
    pub metrics: Metrics,
    /// Call token → what was asked of which cluster (index).
    pending: HashMap<u32, (Poll, usize)>,
    /// Web UI session cookie per cluster (index), once logged in.
    sessions: HashMap<usize, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    Info,
    Login,
    Stats,
}

impl HealthService {
    pub fn new(router: Router, metrics: Metrics) -> Self {
        HealthService { router, metrics, pending: HashMap::new(), sessions: HashMap::new() }
    }

    pub fn poll_all(&mut self) {
        for cluster in 0..self.router.config.clusters.len() {
            if self.pending.values().any(|(_, c)| *c == cluster) {
                continue; // The timeout is shorter than the interval; this is only defensive.
            }
            if let Err(status) = self.send(Poll::Info, cluster) {
                log::warn!("trino-gateway: cannot poll {}: {status:?}", self.router.cluster_name(cluster));
                self.record(cluster, None, &[]);
            }
            if self.router.config.health.ui_login.is_some() {
                self.poll_load(cluster);
            }
        }
    }

    /// Read `/ui/api/stats` with the cluster's web UI session, or log in first.
    fn poll_load(&mut self, cluster: usize) {
        let poll = if self.sessions.contains_key(&cluster) { Poll::Stats } else { Poll::Login };
        if let Err(status) = self.send(poll, cluster) {
            log::warn!("trino-gateway: cannot read the stats of {}: {status:?}", self.router.cluster_name(cluster));
        }
    }

    fn send(&mut self, poll: Poll, cluster: usize) -> Result<(), proxy_wasm::types::Status> {
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
                let login = self.router.config.health.ui_login.as_ref().ok_or(proxy_wasm::types::Status::NotFound)?;
                form = crate::core::health::login_form(&login.user, &login.password);
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
        let token = hostcalls::dispatch_http_call(&name, headers, body, vec![], timeout)?;
        self.pending.insert(token, (poll, cluster));
        Ok(())
    }

    /// A poll's answer arrived (`num_headers` 0: reset, timeout or no connection).
    pub fn on_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let Some((poll, cluster)) = self.pending.remove(&token) else { return };
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse::<u16>().ok())
        };
        let body =
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size).ok().flatten().unwrap_or_default();
        match poll {
            Poll::Info => self.record(cluster, status, &body),
            Poll::Login => self.logged_in(cluster, status),
            Poll::Stats => self.record_load(cluster, status, &body),
        }
    }

    /// The answer to `POST /ui/login`: keep the session cookie, then read the stats.
    fn logged_in(&mut self, cluster: usize, status: Option<u16>) {
        let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let set_cookies = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str());
        match health::ui_session_cookie(set_cookies) {
            Some(cookie) => {
                self.sessions.insert(cluster, cookie);
                self.poll_load(cluster);
            }
            None if status.is_some() => log::warn!(
                "trino-gateway: web UI login to {} refused ({status:?}): no running/queued figures",
                self.router.cluster_name(cluster)
            ),
            None => {} // Unreachable: the /v1/info poll reports that.
        }
    }

    fn record_load(&mut self, cluster: usize, status: Option<u16>, body: &[u8]) {
        let figures = if status == Some(200) { health::parse_stats(body) } else { None };
        let Some((running, queued)) = figures else {
            // 401: the session expired or the coordinator restarted (new signing key): log in again.
            self.sessions.remove(&cluster);
            return;
        };
        let Some(table_id) = self.router.table_id(cluster) else { return };
        if let Err(error) = health::publish_load(&HostSharedData, table_id, running, queued) {
            log::warn!("trino-gateway: cannot publish the load of {}: {error:?}", self.router.cluster_name(cluster));
            self.metrics.shared_data_error();
        }
        self.metrics.cluster_load(cluster, running, queued);
    }

    fn record(&mut self, cluster: usize, status: Option<u16>, body: &[u8]) {
        let Some(table_id) = self.router.table_id(cluster) else { return };
        let name = self.router.cluster_name(cluster).to_string();
        let (observed, coordinator) = health::judge_info(status, body);
        if observed == Health::Unhealthy {
            self.metrics.health_check_failed();
        }
        // What the coordinator says, never the `draining` flag of this
        // service's (bootstrap, static) configuration: workers apply their own
        // filter configuration, which xDS/ECDS (e.g. an Istio WasmPlugin) can change.
        let store = HostSharedData;
        let old = health::read(&store).map(|records| health::of(&records, table_id)).ok();
        let old_coordinator = old.and_then(|o| o.coordinator);
        if let (Some(new), Some(previous)) = (coordinator, old_coordinator) {
            if new != previous {
                log::warn!("trino-gateway: {name} restarted: coordinator id {previous:?} -> {new:?}; its earlier queries are gone");
                self.metrics.coordinator_restart();
            }
        }
        if old.map(|o| o.health) != Some(observed) {
            log::info!("trino-gateway: {name} is {observed:?}");
        }
        let now = now_seconds();
        let record = ClusterHealth {
            cluster: table_id,
            health: observed,
            coordinator: coordinator.or(old_coordinator),
            updated_at: now,
            running: old.map_or(0, |o| o.running),
            queued: old.map_or(0, |o| o.queued),
        };
        if let Err(error) = health::publish(&store, record) {
            log::warn!("trino-gateway: cannot publish the health of {name}: {error:?}");
            self.metrics.shared_data_error();
        }
        if let Some(coordinator) = coordinator {
            if let Err(error) = coordinator_map::learn(&store, coordinator, table_id, now) {
                log::warn!("trino-gateway: cannot record the coordinator id of {name}: {error:?}");
                self.metrics.shared_data_error();
            }
        }
    }
}
