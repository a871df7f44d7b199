//! Coordinator health, shared by the health-check service and every worker.
//!
//! One shared-data key, `trino_gateway/health`, holds a fixed-size record per
//! cluster (by cluster table id): its state, the coordinator id it reported,
//! when that was, and its running/queued query counts. The singleton service
//! writes what its polls of `/v1/info` find; workers mark a cluster UNHEALTHY
//! the moment a request to it fails (passive health); only a successful poll
//! makes it HEALTHY again.

use super::checksum;
use super::query_id::{CoordinatorId, COORDINATOR_ID_LENGTH};
use super::shared_data::{update, SharedData, SharedDataError};
use serde::Deserialize;

pub const KEY: &str = "trino_gateway/v3/health";
/// cluster, state, 5-byte coordinator id, updated_at, running, queued,
/// restarted_at (u32 LE), 1 check byte.
const RECORD_SIZE: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not polled yet (the service has just started): new queries may go there.
    Unknown,
    Healthy,
    /// `/v1/info` says `starting: true`: not ready for queries.
    Starting,
    /// The coordinator reports a state other than ACTIVE (DRAINING, SHUTTING_DOWN, ...).
    Draining,
    /// Unreachable, timed out, an error status, or a request to it just failed.
    Unhealthy,
}

impl Health {
    fn to_byte(self) -> u8 {
        match self {
            Health::Unknown => 0,
            Health::Healthy => 1,
            Health::Starting => 2,
            Health::Draining => 3,
            Health::Unhealthy => 4,
        }
    }

    fn from_byte(b: u8) -> Health {
        match b {
            1 => Health::Healthy,
            2 => Health::Starting,
            3 => Health::Draining,
            4 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    /// The gauge value (`trino_gateway.cluster.<name>.health`).
    pub fn gauge(self) -> u64 {
        u64::from(self.to_byte())
    }

    pub fn accepts_new_queries(self) -> bool {
        matches!(self, Health::Healthy | Health::Unknown)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterHealth {
    pub cluster: u8,
    pub health: Health,
    pub coordinator: Option<CoordinatorId>,
    pub updated_at: u32,
    pub running: u32,
    pub queued: u32,
    /// When the service last saw the coordinator process change (0: never):
    /// a new coordinator id, or (Trino 470–476, whose `/v1/info` has no id)
    /// its uptime going backwards.
    pub restarted_at: u32,
}

impl ClusterHealth {
    fn unknown(cluster: u8) -> ClusterHealth {
        ClusterHealth {
            cluster,
            health: Health::Unknown,
            coordinator: None,
            updated_at: 0,
            running: 0,
            queued: 0,
            restarted_at: 0,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.cluster);
        out.push(self.health.to_byte());
        out.extend_from_slice(&self.coordinator.map_or([0u8; COORDINATOR_ID_LENGTH], |c| c.0));
        out.extend_from_slice(&self.updated_at.to_le_bytes());
        out.extend_from_slice(&self.running.to_le_bytes());
        out.extend_from_slice(&self.queued.to_le_bytes());
        out.extend_from_slice(&self.restarted_at.to_le_bytes());
        out.push(0);
        if let Some(record) = out.get_mut(start..) {
            checksum::seal(record);
        }
    }

    /// None for anything but an intact record (see `checksum`).
    fn decode(bytes: &[u8]) -> Option<ClusterHealth> {
        if bytes.len() != RECORD_SIZE || !checksum::is_intact(bytes) {
            return None;
        }
        let u32_at = |at: usize| bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        let coordinator = bytes
            .get(2..2 + COORDINATOR_ID_LENGTH)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(CoordinatorId::parse);
        Some(ClusterHealth {
            cluster: *bytes.first()?,
            health: Health::from_byte(*bytes.get(1)?),
            coordinator,
            updated_at: u32_at(7)?,
            running: u32_at(11)?,
            queued: u32_at(15)?,
            restarted_at: u32_at(19)?,
        })
    }
}

/// All records in the table.
pub fn read(store: &dyn SharedData) -> Result<Vec<ClusterHealth>, SharedDataError> {
    let (value, _) = store.get(KEY)?;
    Ok(value.map(|v| v.chunks_exact(RECORD_SIZE).filter_map(ClusterHealth::decode).collect()).unwrap_or_default())
}

/// The record of one cluster (Unknown if never written).
pub fn of(records: &[ClusterHealth], cluster: u8) -> ClusterHealth {
    records.iter().find(|r| r.cluster == cluster).copied().unwrap_or_else(|| ClusterHealth::unknown(cluster))
}

fn write_with(
    store: &dyn SharedData,
    cluster: u8,
    change: impl Fn(ClusterHealth) -> Option<ClusterHealth>,
) -> Result<bool, SharedDataError> {
    let written = update(store, KEY, |current| {
        let mut records: Vec<ClusterHealth> =
            current.chunks_exact(RECORD_SIZE).filter_map(ClusterHealth::decode).collect();
        let old = of(&records, cluster);
        let new = change(old)?;
        records.retain(|r| r.cluster != cluster);
        records.push(new);
        records.sort_by_key(|r| r.cluster);
        let mut out = Vec::with_capacity(records.len() * RECORD_SIZE);
        records.iter().for_each(|r| r.encode(&mut out));
        Some((out, ()))
    })?;
    Ok(written.is_some())
}

/// What a poll found (the service's view): replaces the record.
pub fn publish(store: &dyn SharedData, observed: ClusterHealth) -> Result<bool, SharedDataError> {
    write_with(store, observed.cluster, |old| (old != observed).then_some(observed))
}

/// Passive health: a request to `cluster` just failed. Returns whether the
/// cluster was not UNHEALTHY already (so callers count each transition once).
pub fn mark_unhealthy(store: &dyn SharedData, cluster: u8, now: u32) -> Result<bool, SharedDataError> {
    write_with(store, cluster, |old| {
        (old.health != Health::Unhealthy).then_some(ClusterHealth { health: Health::Unhealthy, updated_at: now, ..old })
    })
}

/// What a poll of `/ui/api/stats` found: the coordinator's running and queued
/// queries. Only these fields change; the state is `/v1/info`'s business.
pub fn publish_load(store: &dyn SharedData, cluster: u8, running: u32, queued: u32) -> Result<bool, SharedDataError> {
    write_with(store, cluster, |old| {
        (old.running != running || old.queued != queued).then_some(ClusterHealth { running, queued, ..old })
    })
}

/// The part of Trino's `/ui/api/stats` the gateway reads.
#[derive(Debug, Deserialize)]
struct ClusterStats {
    #[serde(rename = "runningQueries")]
    running: u32,
    #[serde(rename = "queuedQueries")]
    queued: u32,
}

/// Running and queued queries from a `/ui/api/stats` body.
pub fn parse_stats(body: &[u8]) -> Option<(u32, u32)> {
    serde_json::from_slice::<ClusterStats>(body).ok().map(|s| (s.running, s.queued))
}

/// The web UI's session cookie (`Trino-UI-Token=...`) from `Set-Cookie` values:
/// what to send back in `Cookie`.
pub fn ui_session_cookie<'a>(set_cookies: impl IntoIterator<Item = &'a str>) -> Option<String> {
    set_cookies.into_iter().find_map(|value| {
        let pair = value.split(';').next()?.trim();
        let (name, token) = pair.split_once('=')?;
        (name == "Trino-UI-Token" && !token.is_empty()).then(|| pair.to_string())
    })
}

/// The `POST /ui/login` form body (application/x-www-form-urlencoded).
pub fn login_form(user: &str, password: &str) -> String {
    fn encode(value: &str) -> String {
        value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!("username={}&password={}&redirectPath=", encode(user), encode(password))
}

/// The part of Trino's `/v1/info` the gateway reads.
#[derive(Debug, Deserialize)]
struct ServerInfo {
    #[serde(default)]
    starting: bool,
    #[serde(default)]
    state: Option<String>,
    #[serde(rename = "coordinatorId", default)]
    coordinator_id: Option<String>,
    #[serde(default)]
    coordinator: Option<bool>,
    #[serde(default)]
    uptime: Option<String>,
}

/// The `uptime` of a `/v1/info` answer in whole seconds (Airlift's succinct
/// duration, e.g. `1.52m`, `850.00ms`): how a restart shows on Trino 470–476,
/// whose answer has no coordinator id. Integer arithmetic only (float
/// parsing would add some 20 kB to the module).
pub fn uptime_seconds(body: &[u8]) -> Option<u64> {
    let info = serde_json::from_slice::<ServerInfo>(body).ok()?;
    let text = info.uptime?;
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let (whole, fraction) = number.trim().split_once('.').unwrap_or((number.trim(), ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    // Thousandths of the unit: "1.52" → 1520.
    let mut thousandths: u64 = whole.parse::<u64>().ok()?.checked_mul(1000)?;
    for (weight, digit) in [100u64, 10, 1].into_iter().zip(fraction.bytes()) {
        thousandths = thousandths.saturating_add(u64::from(digit.saturating_sub(b'0')) * weight);
    }
    let unit_millis: u64 = match unit {
        "ns" | "us" => return Some(0),
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(thousandths.checked_mul(unit_millis)? / 1_000_000)
}

/// What one `/v1/info` answer says: its health and coordinator id.
/// `status` is the HTTP status (None: no answer, reset, timeout).
pub fn judge_info(status: Option<u16>, body: &[u8]) -> (Health, Option<CoordinatorId>) {
    if status != Some(200) {
        return (Health::Unhealthy, None);
    }
    let Ok(info) = serde_json::from_slice::<ServerInfo>(body) else { return (Health::Unhealthy, None) };
    let coordinator = info.coordinator_id.as_deref().and_then(CoordinatorId::parse);
    let health = if info.coordinator == Some(false) {
        // A worker answered: the cluster points at the wrong node.
        Health::Unhealthy
    } else if info.starting {
        Health::Starting
    } else if info.state.as_deref().is_some_and(|s| s != "ACTIVE") {
        Health::Draining
    } else {
        Health::Healthy
    };
    (health, coordinator)
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::MemorySharedData;
    use super::*;

    #[test]
    fn judging_v1_info() {
        let cid = CoordinatorId::parse("ab2cd");
        let cases: &[(Option<u16>, &str, Health, Option<CoordinatorId>)] = &[
            (
                Some(200),
                r#"{"nodeVersion":{"version":"480"},"coordinator":true,"starting":false,"coordinatorId":"ab2cd","state":"ACTIVE"}"#,
                Health::Healthy,
                cid,
            ),
            (Some(200), r#"{"coordinator":true,"starting":false}"#, Health::Healthy, None),
            (Some(200), r#"{"coordinator":true,"starting":true,"coordinatorId":"ab2cd"}"#, Health::Starting, cid),
            (Some(200), r#"{"coordinator":true,"starting":false,"state":"SHUTTING_DOWN"}"#, Health::Draining, None),
            (Some(200), r#"{"coordinator":false,"starting":false}"#, Health::Unhealthy, None),
            (Some(200), "not json", Health::Unhealthy, None),
            (Some(503), "{}", Health::Unhealthy, None),
            (None, "", Health::Unhealthy, None),
        ];
        for (status, body, health, coordinator) in cases {
            assert_eq!(judge_info(*status, body.as_bytes()), (*health, *coordinator), "{body}");
        }
    }

    #[test]
    fn uptime_of_v1_info() {
        let cases: &[(&str, Option<u64>)] = &[
            (r#"{"uptime":"1.50m"}"#, Some(90)),
            (r#"{"uptime":"850.00ms"}"#, Some(0)),
            (r#"{"uptime":"12.34s"}"#, Some(12)),
            (r#"{"uptime":"2.00d"}"#, Some(172_800)),
            (r#"{"uptime":"1.5.0s"}"#, None),
            (r#"{"uptime":"soon"}"#, None),
            (r#"{"uptime":"-1.00s"}"#, None),
            (r#"{"starting":false}"#, None),
            ("not json", None),
        ];
        for (body, expected) in cases {
            assert_eq!(uptime_seconds(body.as_bytes()), *expected, "{body}");
        }
    }

    #[test]
    fn web_ui_login_and_stats() {
        assert_eq!(login_form("gw user", "p&ss="), "username=gw%20user&password=p%26ss%3D&redirectPath=");
        let cookies = ["JSESSIONID=x; Path=/", "Trino-UI-Token=eyJ.abc.def; Path=/ui; HttpOnly"];
        assert_eq!(ui_session_cookie(cookies), Some("Trino-UI-Token=eyJ.abc.def".into()));
        assert_eq!(ui_session_cookie(["Trino-UI-Token=; Max-Age=0"]), None);
        let stats = br#"{"runningQueries":3,"blockedQueries":0,"queuedQueries":2,"activeCoordinators":1}"#;
        assert_eq!(parse_stats(stats), Some((3, 2)));
        assert_eq!(parse_stats(b"<html>login</html>"), None);

        let store = MemorySharedData::new();
        crate::shared_data::create_if_absent(&store, KEY).unwrap();
        assert_eq!(mark_unhealthy(&store, 2, 5), Ok(true));
        assert_eq!(publish_load(&store, 2, 3, 2), Ok(true));
        assert_eq!(publish_load(&store, 2, 3, 2), Ok(false), "unchanged: no write");
        let record = of(&read(&store).unwrap(), 2);
        assert_eq!((record.health, record.running, record.queued), (Health::Unhealthy, 3, 2));
    }

    #[test]
    fn publish_mark_and_read() {
        let store = MemorySharedData::new();
        crate::shared_data::create_if_absent(&store, KEY).unwrap();
        assert_eq!(of(&read(&store).unwrap(), 1).health, Health::Unknown);
        let healthy = ClusterHealth {
            cluster: 1,
            health: Health::Healthy,
            coordinator: CoordinatorId::parse("zz9zz"),
            updated_at: 5,
            running: 3,
            queued: 1,
            restarted_at: 0,
        };
        assert_eq!(publish(&store, healthy), Ok(true));
        assert_eq!(publish(&store, healthy), Ok(false), "unchanged: no write");
        assert_eq!(of(&read(&store).unwrap(), 1), healthy);
        assert_eq!(mark_unhealthy(&store, 1, 9), Ok(true));
        assert_eq!(mark_unhealthy(&store, 1, 10), Ok(false), "already unhealthy");
        let marked = of(&read(&store).unwrap(), 1);
        assert_eq!((marked.health, marked.coordinator, marked.updated_at), (Health::Unhealthy, healthy.coordinator, 9));
        assert_eq!(of(&read(&store).unwrap(), 0).health, Health::Unknown);
        assert!(store.bytes() <= KEY.len() + RECORD_SIZE);
    }
}
