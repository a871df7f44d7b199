//! The one seam between the gateway's logic and its host.
//!
//! Everything the request flow, the worker and the health service ask of
//! Envoy goes through `Host`: request and response headers, body chunks,
//! local replies, shared data (with CAS, as the `SharedData` supertrait),
//! HTTP and gRPC calls, metrics, the clock and the log. The wasm crate
//! implements it over proxy-wasm host calls; `mock::RecordingHost` implements
//! it in memory and records every call, so the flow is tested natively and
//! the host calls per request are counted exactly.
//!
//! Every method that reaches the host returns a `Result`: a failed host call
//! is logged and handled by the caller, never a panic.

use crate::shared_data::SharedData;
use std::fmt;
use std::time::Duration;

/// A host call that failed, with the host's status for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// Header pairs as read from the host.
pub type Headers = Vec<(String, String)>;

pub trait Host: SharedData {
    /// One request header (pseudo-headers included: `:path`, `:method`, ...).
    /// Only in request callbacks: Envoy drops the request headers afterwards.
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Every request header, in one call.
    fn request_headers(&self) -> Result<Headers, HostError>;
    /// Sets (replaces every value of) a request header.
    fn set_request_header(&self, name: &str, value: &str) -> Result<(), HostError>;
    fn remove_request_header(&self, name: &str) -> Result<(), HostError>;
    /// The request body chunk of the current callback (`size` bytes).
    fn request_body(&self, size: usize) -> Result<Vec<u8>, HostError>;

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Envoy's `response.code_details` (why the answer is what it is, e.g.
    /// `via_upstream`, `upstream_reset_before_response_started{remote_connection_failure}`).
    fn response_code_details(&self) -> Result<Option<String>, HostError>;
    /// The buffered response body (`size` bytes).
    fn response_body(&self, size: usize) -> Result<Vec<u8>, HostError>;
    /// Removes a response header (in the response headers callback).
    fn remove_response_header(&self, name: &str) -> Result<(), HostError>;
    /// Replaces the buffered response body (`size` bytes) with `body`; its
    /// `content-length` must have been removed in the headers callback.
    fn set_response_body(&self, size: usize, body: &[u8]) -> Result<(), HostError>;
    /// Answer the client from the gateway (replaces any upstream answer).
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<(), HostError>;
    /// Let a paused response go on.
    fn resume_response(&self) -> Result<(), HostError>;
    /// Let a paused request go on (after a lookup decided where it goes).
    fn resume_request(&self) -> Result<(), HostError>;
    /// Make the calls that follow act on HTTP stream `context_id` (from a
    /// root context's tick: answering a stream that waits).
    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError>;

    /// An HTTP call to `cluster`; its answer comes to the same context with the returned token.
    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, HostError>;
    /// In the answer callback of an HTTP call.
    fn call_response_headers(&self) -> Result<Headers, HostError>;
    fn call_response_body(&self, size: usize) -> Result<Vec<u8>, HostError>;
    /// A unary gRPC call to `cluster` (HTTP/2) with `metadata` (e.g. etcd's
    /// auth `token`); the answer comes with the returned token.
    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        metadata: &[(&str, &[u8])],
        message: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError>;
    /// In the answer callback of a gRPC call.
    fn grpc_response(&self, size: usize) -> Result<Vec<u8>, HostError>;

    /// Shared queues (per vm_id, like shared data): the context that synces
    /// with the state store registers one (a later registration takes the
    /// queue over); workers resolve it and enqueue.
    fn register_queue(&self, name: &str) -> Result<u32, HostError>;
    /// The queue's id, or None while no context has registered it.
    fn resolve_queue(&self, name: &str) -> Result<Option<u32>, HostError>;
    fn enqueue(&self, queue: u32, message: &[u8]) -> Result<(), HostError>;
    /// The oldest message, or None when the queue is empty.
    fn dequeue(&self, queue: u32) -> Result<Option<Vec<u8>>, HostError>;

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError>;
    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError>;
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError>;

    /// Envoy's clock in Unix seconds (0 if the host cannot tell).
    fn now_seconds(&self) -> u32;
    /// Envoy's clock in Unix milliseconds (0 if the host cannot tell).
    fn now_millis(&self) -> u64;
    fn log(&self, level: LogLevel, message: &str);
}

/// Logging helpers: `warn(host, format_args!(...))` reads better than matching levels.
pub fn info(host: &dyn Host, message: fmt::Arguments<'_>) {
    host.log(LogLevel::Info, &message.to_string());
}

pub fn warn(host: &dyn Host, message: fmt::Arguments<'_>) {
    host.log(LogLevel::Warn, &message.to_string());
}

pub fn error(host: &dyn Host, message: fmt::Arguments<'_>) {
    host.log(LogLevel::Error, &message.to_string());
}
