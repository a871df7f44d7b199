//! The JSON documents of the client protocol: `QueryResults` (with its
//! `StatementStats` and `QueryError`), built the way Trino's server builds them.

use crate::sql::error::QueryError;
use crate::sql::exec::Column;
use crate::sql::types::Value;
use serde_json::{json, Map, Value as Json};

/// The query states the protocol reports in `stats.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryState {
    Queued,
    Running,
    Finished,
    Failed,
}

impl QueryState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Queued => "QUEUED",
            QueryState::Running => "RUNNING",
            QueryState::Finished => "FINISHED",
            QueryState::Failed => "FAILED",
        }
    }

    pub fn is_done(self) -> bool {
        matches!(self, QueryState::Finished | QueryState::Failed)
    }
}

/// Figures for `stats`; the emulator has no splits or workers, so most are 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub elapsed_ms: u64,
    pub queued_ms: u64,
    pub processed_rows: u64,
    pub processed_bytes: u64,
}

/// `StatementStats` (client/trino-client/.../StatementStats.java).
pub fn statement_stats(state: QueryState, progress: Progress) -> Json {
    let scheduled = matches!(state, QueryState::Running | QueryState::Finished);
    let mut stats = json!({
        "state": state.as_str(),
        "queued": state == QueryState::Queued,
        "scheduled": scheduled,
        "nodes": if scheduled { 1 } else { 0 },
        "totalSplits": 0,
        "queuedSplits": 0,
        "runningSplits": 0,
        "completedSplits": 0,
        "planningTimeMillis": 0,
        "analysisTimeMillis": 0,
        "cpuTimeMillis": 0,
        "wallTimeMillis": 0,
        "queuedTimeMillis": progress.queued_ms,
        "elapsedTimeMillis": progress.elapsed_ms,
        "finishingTimeMillis": 0,
        "physicalInputTimeMillis": 0,
        "processedRows": progress.processed_rows,
        "processedBytes": progress.processed_bytes,
        "physicalInputBytes": 0,
        "physicalWrittenBytes": 0,
        "internalNetworkInputBytes": 0,
        "peakMemoryBytes": 0,
        "spilledBytes": 0,
    });
    if scheduled {
        let done = state == QueryState::Finished;
        stats["progressPercentage"] = json!(if done { 100.0 } else { 0.0 });
        stats["runningPercentage"] = json!(0.0);
    }
    stats
}

/// `QueryError` JSON with Trino's `failureInfo` (`ExecutionFailureInfo`).
pub fn error_json(error: &QueryError) -> Json {
    let mut failure = json!({
        "type": "io.trino.spi.TrinoException",
        "message": error.message,
        "suppressed": [],
        "stack": [],
    });
    let mut out = json!({
        "message": error.message,
        "errorCode": error.code.code,
        "errorName": error.code.name,
        "errorType": error.code.error_type.as_str(),
    });
    if let Some(location) = error.location {
        let location = json!({"lineNumber": location.line, "columnNumber": location.column});
        failure["errorLocation"] = location.clone();
        out["errorLocation"] = location;
    }
    if error.code.name == "SYNTAX_ERROR" {
        failure["type"] = json!("io.trino.sql.parser.ParsingException");
    }
    out["failureInfo"] = failure;
    out
}

pub fn columns_json(columns: &[Column]) -> Json {
    Json::Array(
        columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.ty.display_name(), "typeSignature": c.ty.type_signature()}))
            .collect(),
    )
}

pub fn rows_json(columns: &[Column], rows: &[Vec<Value>]) -> Json {
    Json::Array(
        rows.iter().map(|row| Json::Array(row.iter().zip(columns).map(|(v, c)| v.to_json(&c.ty)).collect())).collect(),
    )
}

/// Everything one `QueryResults` document can hold.
pub struct Page<'a> {
    pub id: &'a str,
    pub info_uri: String,
    pub partial_cancel_uri: Option<String>,
    pub next_uri: Option<String>,
    pub columns: Option<Json>,
    pub data: Option<Json>,
    pub stats: Json,
    pub error: Option<&'a QueryError>,
    pub update_type: Option<&'a str>,
    pub update_count: Option<u64>,
}

pub fn query_results(page: Page<'_>) -> Json {
    let mut out = Map::new();
    out.insert("id".into(), json!(page.id));
    out.insert("infoUri".into(), json!(page.info_uri));
    if let Some(uri) = page.partial_cancel_uri {
        out.insert("partialCancelUri".into(), json!(uri));
    }
    if let Some(uri) = page.next_uri {
        out.insert("nextUri".into(), json!(uri));
    }
    if let Some(columns) = page.columns {
        out.insert("columns".into(), columns);
    }
    // Trino omits `data` when a page carries no rows; with spooling it is an
    // object of segments.
    if let Some(data) = page.data.filter(|d| d.is_object() || d.as_array().is_some_and(|a| !a.is_empty())) {
        out.insert("data".into(), data);
    }
    out.insert("stats".into(), page.stats);
    if let Some(error) = page.error {
        out.insert("error".into(), error_json(error));
    }
    out.insert("warnings".into(), json!([]));
    if let Some(update_type) = page.update_type {
        out.insert("updateType".into(), json!(update_type));
    }
    if let Some(count) = page.update_count {
        out.insert("updateCount".into(), json!(count));
    }
    Json::Object(out)
}
