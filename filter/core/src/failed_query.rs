//! The gateway's own Trino answers for queries that cannot go on: a FAILED
//! `QueryResults` (HTTP 200, `error`, no `nextUri`), exactly the shape a
//! coordinator uses for a failed query. Clients end the query at once with the
//! message, instead of retrying a raw 503 (the Python client retries
//! 502/503/504 three times and then reports only "error 503: service
//! unavailable") or waiting for a coordinator that is gone.

use super::query_id::{CoordinatorId, QueryId};
use serde_json::json;

/// A Trino `StandardErrorCode` (trino-spi): name, code and error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub name: &'static str,
    pub code: u32,
    pub error_type: &'static str,
}

/// Trino's code for "no node can run this query"; used when no coordinator can take it.
pub const NO_NODES_AVAILABLE: ErrorCode =
    ErrorCode { name: "NO_NODES_AVAILABLE", code: 65_541, error_type: "INTERNAL_ERROR" };
/// Trino's code for a node that disappeared; used for a query whose coordinator is gone.
pub const REMOTE_HOST_GONE: ErrorCode =
    ErrorCode { name: "REMOTE_HOST_GONE", code: 65_558, error_type: "INTERNAL_ERROR" };

/// Trino's code for a transaction id no coordinator knows (`NotInTransactionException`).
pub const UNKNOWN_TRANSACTION: ErrorCode =
    ErrorCode { name: "UNKNOWN_TRANSACTION", code: 20, error_type: "USER_ERROR" };

/// Trino's codes for the gateway's refusals of a new statement: a routing
/// group that does not exist, one this client may not name, a statement
/// longer than routing rules may read.
/// Trino's code for a failure of the system itself; used when the gateway's
/// Envoy configuration does not let it do what its configuration asks.
pub const GENERIC_INTERNAL_ERROR: ErrorCode =
    ErrorCode { name: "GENERIC_INTERNAL_ERROR", code: 65_536, error_type: "INTERNAL_ERROR" };
pub const GENERIC_USER_ERROR: ErrorCode = ErrorCode { name: "GENERIC_USER_ERROR", code: 0, error_type: "USER_ERROR" };
pub const PERMISSION_DENIED: ErrorCode = ErrorCode { name: "PERMISSION_DENIED", code: 4, error_type: "USER_ERROR" };
pub const QUERY_TEXT_TOO_LARGE: ErrorCode =
    ErrorCode { name: "QUERY_TEXT_TOO_LARGE", code: 35, error_type: "USER_ERROR" };

/// Why a query's coordinator can no longer answer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Connect failure, reset, 502/503/504, or marked unhealthy by either.
    Unreachable,
    /// The cluster answers again, but from another coordinator process: it
    /// restarted and the query died with the old one. `now` is the new
    /// process's id when known (Trino 477+ report it in `/v1/info`; on 470–476
    /// it is known once the new process has answered a statement).
    Restarted { now: Option<CoordinatorId> },
}

/// The message of a lost query; names the cluster and the coordinator id.
pub fn lost_message(query_id: &QueryId, cluster: &str, loss: Loss) -> String {
    let old = query_id.coordinator_id();
    let what = match loss {
        Loss::Unreachable => format!("coordinator '{cluster}' (coordinator id {}) is unreachable", old.as_str()),
        Loss::Restarted { now: Some(now) } => format!(
            "coordinator '{cluster}' restarted (coordinator id {} is gone, it is now {})",
            old.as_str(),
            now.as_str()
        ),
        Loss::Restarted { now: None } => {
            format!("coordinator '{cluster}' restarted (coordinator id {} is gone)", old.as_str())
        }
    };
    format!(
        "Query {} was lost: its Trino {what}. The query is not running anywhere; submit it again.",
        query_id.as_str()
    )
}

/// A complete FAILED `QueryResults` document. `base_uri` is how the client
/// reached the gateway (`http://host:port`); it builds `infoUri` like Trino does.
pub fn failed_results(query_id: &str, base_uri: &str, error: ErrorCode, message: &str) -> String {
    json!({
        "id": query_id,
        "infoUri": format!("{base_uri}/ui/query.html?{query_id}"),
        "stats": {
            "state": "FAILED",
            "queued": false,
            "scheduled": false,
            "nodes": 0,
            "totalSplits": 0,
            "queuedSplits": 0,
            "runningSplits": 0,
            "completedSplits": 0,
            "planningTimeMillis": 0,
            "analysisTimeMillis": 0,
            "cpuTimeMillis": 0,
            "wallTimeMillis": 0,
            "queuedTimeMillis": 0,
            "elapsedTimeMillis": 0,
            "finishingTimeMillis": 0,
            "physicalInputTimeMillis": 0,
            "processedRows": 0,
            "processedBytes": 0,
            "physicalInputBytes": 0,
            "physicalWrittenBytes": 0,
            "internalNetworkInputBytes": 0,
            "peakMemoryBytes": 0,
            "spilledBytes": 0,
        },
        "error": {
            "message": message,
            "errorCode": error.code,
            "errorName": error.name,
            "errorType": error.error_type,
            "failureInfo": {
                "type": "io.trino.spi.TrinoException",
                "message": message,
                "suppressed": [],
                "stack": [],
            },
        },
        "warnings": [],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_query_names_its_cluster_and_coordinator() {
        let id = QueryId::parse("20261125_101305_00001_abcde").unwrap_or_else(|| panic!());
        let now = CoordinatorId::parse("zz9zz").unwrap_or_else(|| panic!());
        assert_eq!(
            lost_message(&id, "a", Loss::Unreachable),
            "Query 20261125_101305_00001_abcde was lost: its Trino coordinator 'a' (coordinator id abcde) is \
             unreachable. The query is not running anywhere; submit it again."
        );
        assert!(lost_message(&id, "b", Loss::Restarted { now: Some(now) })
            .contains("coordinator 'b' restarted (coordinator id abcde is gone, it is now zz9zz)"));
        assert!(lost_message(&id, "b", Loss::Restarted { now: None })
            .contains("coordinator 'b' restarted (coordinator id abcde is gone). The query"));
    }

    #[test]
    fn failed_results_have_trinos_shape_and_no_next_uri() {
        let body = failed_results("20261125_101305_00001_abcde", "http://gw:8080", REMOTE_HOST_GONE, "gone \"x\"");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["id"], "20261125_101305_00001_abcde");
        assert_eq!(value["infoUri"], "http://gw:8080/ui/query.html?20261125_101305_00001_abcde");
        assert_eq!(value["stats"]["state"], "FAILED");
        assert!(value.get("nextUri").is_none());
        assert_eq!(value["error"]["message"], "gone \"x\"");
        assert_eq!(value["error"]["errorName"], "REMOTE_HOST_GONE");
        assert_eq!(value["error"]["errorType"], "INTERNAL_ERROR");
        assert_eq!(value["error"]["errorCode"], 65_558);
        assert_eq!(value["error"]["failureInfo"]["message"], "gone \"x\"");
    }
}
