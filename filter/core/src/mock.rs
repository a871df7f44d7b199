//! An in-memory `Host` that records every call: the native stand-in for Envoy
//! in the flow's tests, the host-call budget tests and `examples/host_calls`.
//!
//! Shared data is an `Rc<MemorySharedData>`, so several `RecordingHost`s (one
//! per simulated worker) can share one store the way Envoy's workers do.
//! Faults are injected by call kind (`fail("set_request_header")`).

use crate::host::{Headers, Host, HostError, LogLevel, MetricKind};
use crate::shared_data::{MemorySharedData, SharedData, SharedDataError};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

/// One host call, as the mock saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    RequestHeader(String),
    RequestHeaders,
    SetRequestHeader(String, String),
    RemoveRequestHeader(String),
    RequestBody,
    ResponseHeader(String),
    ResponseCodeDetails,
    ResponseBody,
    RemoveResponseHeader(String),
    SetResponseBody,
    SendResponse(u32),
    ResumeResponse,
    ResumeRequest,
    EffectiveContext(u32),
    DispatchHttp(String),
    CallResponseHeaders,
    CallResponseBody,
    DispatchGrpc(String),
    GrpcResponse,
    RegisterQueue(String),
    ResolveQueue(String),
    Enqueue,
    Dequeue,
    SharedGet(String),
    SharedSet(String),
    DefineMetric(String),
    IncrementMetric(String),
    RecordMetric(String),
    Now,
    Log(String),
}

impl Call {
    /// The call's kind, as `RecordingHost::fail` takes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Call::RequestHeader(_) => "request_header",
            Call::RequestHeaders => "request_headers",
            Call::SetRequestHeader(..) => "set_request_header",
            Call::RemoveRequestHeader(_) => "remove_request_header",
            Call::ResponseCodeDetails => "response_code_details",
            Call::RequestBody => "request_body",
            Call::ResponseHeader(_) => "response_header",
            Call::ResponseBody => "response_body",
            Call::RemoveResponseHeader(_) => "remove_response_header",
            Call::SetResponseBody => "set_response_body",
            Call::SendResponse(_) => "send_response",
            Call::ResumeResponse => "resume_response",
            Call::ResumeRequest => "resume_request",
            Call::EffectiveContext(_) => "set_effective_context",
            Call::DispatchHttp(_) => "dispatch_http",
            Call::CallResponseHeaders => "call_response_headers",
            Call::CallResponseBody => "call_response_body",
            Call::DispatchGrpc(_) => "dispatch_grpc",
            Call::GrpcResponse => "grpc_response",
            Call::RegisterQueue(_) => "register_queue",
            Call::ResolveQueue(_) => "resolve_queue",
            Call::Enqueue => "enqueue",
            Call::Dequeue => "dequeue",
            Call::SharedGet(_) => "shared_get",
            Call::SharedSet(_) => "shared_set",
            Call::DefineMetric(_) => "define_metric",
            Call::IncrementMetric(_) => "increment_metric",
            Call::RecordMetric(_) => "record_metric",
            Call::Now => "now",
            Call::Log(_) => "log",
        }
    }

    /// Body chunk reads scale with the body, not with the request: budgets leave them out.
    pub fn is_body_read(&self) -> bool {
        matches!(self, Call::RequestBody | Call::ResponseBody)
    }
}

/// A local reply the flow sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A gRPC call dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    pub cluster: String,
    /// `service/method`, e.g. `etcdserverpb.KV/Txn`.
    pub method: String,
    pub metadata: Vec<(String, Vec<u8>)>,
    pub message: Vec<u8>,
    pub token: u32,
}

/// Envoy's shared queues, in memory: names → ids, ids → FIFO of messages.
#[derive(Default)]
pub struct MemoryQueues {
    names: RefCell<Vec<String>>,
    messages: RefCell<Vec<std::collections::VecDeque<Vec<u8>>>>,
}

impl MemoryQueues {
    fn register(&self, name: &str) -> u32 {
        if let Some(id) = self.resolve(name) {
            return id;
        }
        self.names.borrow_mut().push(name.to_string());
        self.messages.borrow_mut().push(Default::default());
        self.names.borrow().len() as u32
    }

    fn resolve(&self, name: &str) -> Option<u32> {
        self.names.borrow().iter().position(|n| n == name).map(|i| i as u32 + 1)
    }

    fn push(&self, id: u32, message: &[u8]) -> Option<()> {
        self.messages.borrow_mut().get_mut(id.checked_sub(1)? as usize).map(|q| q.push_back(message.to_vec()))
    }

    fn pop(&self, id: u32) -> Option<Vec<u8>> {
        self.messages.borrow_mut().get_mut(id.checked_sub(1)? as usize)?.pop_front()
    }

    /// Messages waiting in a queue.
    pub fn len(&self, name: &str) -> usize {
        self.resolve(name).and_then(|id| self.messages.borrow().get(id as usize - 1).map(|q| q.len())).unwrap_or(0)
    }
}

/// An HTTP call the flow dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    pub cluster: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub token: u32,
}

#[derive(Default)]
pub struct RecordingHost {
    pub shared: Rc<MemorySharedData>,
    pub request_headers: RefCell<Headers>,
    pub response_headers: RefCell<Headers>,
    /// The chunk `request_body` returns.
    pub request_chunk: RefCell<Vec<u8>>,
    pub response_body: RefCell<Vec<u8>>,
    /// What `response_code_details` returns (Envoy's reason for the answer).
    pub code_details: RefCell<Option<String>>,
    /// The answer `call_response_*` return.
    pub call_response: RefCell<(Headers, Vec<u8>)>,
    pub calls: RefCell<Vec<Call>>,
    pub replies: RefCell<Vec<Reply>>,
    pub dispatched: RefCell<Vec<Dispatched>>,
    /// Metric names by id, with their value (counters summed, gauges last value).
    pub metrics: RefCell<Vec<(String, i64)>>,
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    pub now: Cell<u32>,
    /// Milliseconds past `now` (for `now_millis`).
    pub millis: Cell<u64>,
    /// gRPC calls dispatched, in order.
    pub grpc_calls: RefCell<Vec<GrpcCall>>,
    /// Shared queues, shared like `shared` between simulated workers.
    pub queues: Rc<MemoryQueues>,
    failing: RefCell<HashSet<&'static str>>,
    next_token: Cell<u32>,
}

fn pairs(list: &[(&str, &str)]) -> Headers {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

impl RecordingHost {
    pub fn new() -> RecordingHost {
        RecordingHost { now: Cell::new(1_795_600_000), ..RecordingHost::default() }
    }

    /// Another worker of the same Envoy: same shared data, nothing else.
    pub fn sibling(&self) -> RecordingHost {
        RecordingHost { shared: self.shared.clone(), now: Cell::new(self.now.get()), ..RecordingHost::default() }
    }

    /// A new request on this host (headers replaced, responses and bodies cleared, calls kept).
    pub fn request(&self, headers: &[(&str, &str)]) {
        *self.request_headers.borrow_mut() = pairs(headers);
        self.response_headers.borrow_mut().clear();
        self.response_body.borrow_mut().clear();
        self.request_chunk.borrow_mut().clear();
        *self.code_details.borrow_mut() = None;
    }

    pub fn respond(&self, headers: &[(&str, &str)], body: &[u8]) {
        *self.response_headers.borrow_mut() = pairs(headers);
        *self.response_body.borrow_mut() = body.to_vec();
    }

    /// An answer Envoy made itself (`code_details` says why), e.g. for a refused connection.
    pub fn envoy_answers(&self, status: &str, code_details: &str) {
        self.respond(&[(":status", status)], b"");
        *self.code_details.borrow_mut() = Some(code_details.to_string());
    }

    pub fn call_answers(&self, headers: &[(&str, &str)], body: &[u8]) {
        *self.call_response.borrow_mut() = (pairs(headers), body.to_vec());
    }

    /// Calls of this kind fail from now on (`pass` undoes it).
    pub fn fail(&self, kind: &'static str) {
        self.failing.borrow_mut().insert(kind);
    }

    pub fn pass(&self, kind: &'static str) {
        self.failing.borrow_mut().remove(kind);
    }

    /// The calls recorded since the last `take_calls`.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// A metric's value by name (0 if never defined or never changed).
    pub fn metric(&self, name: &str) -> i64 {
        self.metrics.borrow().iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }

    pub fn last_reply(&self) -> Option<Reply> {
        self.replies.borrow().last().cloned()
    }

    fn record(&self, call: Call) -> Result<(), HostError> {
        let failing = self.failing.borrow().contains(call.kind());
        let message = format!("{call:?}: injected failure");
        self.calls.borrow_mut().push(call);
        if failing {
            Err(HostError(message))
        } else {
            Ok(())
        }
    }

    fn metric_name(&self, id: u32) -> String {
        self.metrics.borrow().get(id as usize).map_or(format!("#{id}"), |(n, _)| n.clone())
    }

    fn find(headers: &Headers, name: &str) -> Option<String> {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    fn token(&self) -> u32 {
        self.next_token.set(self.next_token.get() + 1);
        self.next_token.get()
    }
}

impl SharedData for RecordingHost {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
        self.record(Call::SharedGet(key.to_string())).map_err(|e| SharedDataError::Host(e.0))?;
        self.shared.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        self.record(Call::SharedSet(key.to_string())).map_err(|e| SharedDataError::Host(e.0))?;
        self.shared.set(key, value, cas)
    }
}

impl Host for RecordingHost {
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.record(Call::RequestHeader(name.to_string()))?;
        Ok(Self::find(&self.request_headers.borrow(), name))
    }

    fn request_headers(&self) -> Result<Headers, HostError> {
        self.record(Call::RequestHeaders)?;
        Ok(self.request_headers.borrow().clone())
    }

    fn set_request_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.record(Call::SetRequestHeader(name.to_string(), value.to_string()))?;
        let mut headers = self.request_headers.borrow_mut();
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    fn remove_request_header(&self, name: &str) -> Result<(), HostError> {
        self.record(Call::RemoveRequestHeader(name.to_string()))?;
        self.request_headers.borrow_mut().retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn request_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        self.record(Call::RequestBody)?;
        let chunk = self.request_chunk.borrow();
        Ok(chunk.get(..size.min(chunk.len())).unwrap_or_default().to_vec())
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.record(Call::ResponseHeader(name.to_string()))?;
        Ok(Self::find(&self.response_headers.borrow(), name))
    }

    fn response_code_details(&self) -> Result<Option<String>, HostError> {
        self.record(Call::ResponseCodeDetails)?;
        Ok(self.code_details.borrow().clone())
    }

    fn response_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        self.record(Call::ResponseBody)?;
        let body = self.response_body.borrow();
        Ok(body.get(..size.min(body.len())).unwrap_or_default().to_vec())
    }

    fn remove_response_header(&self, name: &str) -> Result<(), HostError> {
        self.record(Call::RemoveResponseHeader(name.to_string()))?;
        self.response_headers.borrow_mut().retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn set_response_body(&self, _size: usize, body: &[u8]) -> Result<(), HostError> {
        self.record(Call::SetResponseBody)?;
        *self.response_body.borrow_mut() = body.to_vec();
        Ok(())
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<(), HostError> {
        self.record(Call::SendResponse(status))?;
        self.replies.borrow_mut().push(Reply {
            status,
            headers: pairs(headers),
            body: body.unwrap_or_default().to_vec(),
        });
        Ok(())
    }

    fn resume_response(&self) -> Result<(), HostError> {
        self.record(Call::ResumeResponse)
    }

    fn resume_request(&self) -> Result<(), HostError> {
        self.record(Call::ResumeRequest)
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        self.record(Call::EffectiveContext(context_id))
    }

    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        _timeout: Duration,
    ) -> Result<u32, HostError> {
        self.record(Call::DispatchHttp(cluster.to_string()))?;
        let token = self.token();
        self.dispatched.borrow_mut().push(Dispatched {
            cluster: cluster.to_string(),
            headers: pairs(headers),
            body: body.unwrap_or_default().to_vec(),
            token,
        });
        Ok(token)
    }

    fn call_response_headers(&self) -> Result<Headers, HostError> {
        self.record(Call::CallResponseHeaders)?;
        Ok(self.call_response.borrow().0.clone())
    }

    fn call_response_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        self.record(Call::CallResponseBody)?;
        let answer = self.call_response.borrow();
        Ok(answer.1.get(..size.min(answer.1.len())).unwrap_or_default().to_vec())
    }

    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        metadata: &[(&str, &[u8])],
        message: &[u8],
        _timeout: Duration,
    ) -> Result<u32, HostError> {
        self.record(Call::DispatchGrpc(cluster.to_string()))?;
        let token = self.token();
        self.grpc_calls.borrow_mut().push(GrpcCall {
            cluster: cluster.to_string(),
            method: format!("{service}/{method}"),
            metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
            message: message.to_vec(),
            token,
        });
        Ok(token)
    }

    fn grpc_response(&self, size: usize) -> Result<Vec<u8>, HostError> {
        self.record(Call::GrpcResponse)?;
        let answer = self.call_response.borrow();
        Ok(answer.1.get(..size.min(answer.1.len())).unwrap_or_default().to_vec())
    }

    fn define_metric(&self, _kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.record(Call::DefineMetric(name.to_string()))?;
        let mut metrics = self.metrics.borrow_mut();
        if let Some(id) = metrics.iter().position(|(n, _)| n == name) {
            return Ok(id as u32);
        }
        metrics.push((name.to_string(), 0));
        Ok((metrics.len() - 1) as u32)
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        self.record(Call::IncrementMetric(self.metric_name(id)))?;
        if let Some((_, value)) = self.metrics.borrow_mut().get_mut(id as usize) {
            *value += delta;
        }
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.record(Call::RecordMetric(self.metric_name(id)))?;
        if let Some((_, current)) = self.metrics.borrow_mut().get_mut(id as usize) {
            *current = value as i64;
        }
        Ok(())
    }

    fn now_seconds(&self) -> u32 {
        let _ = self.record(Call::Now);
        self.now.get()
    }

    fn now_millis(&self) -> u64 {
        let _ = self.record(Call::Now);
        u64::from(self.now.get()) * 1000 + self.millis.get()
    }

    fn register_queue(&self, name: &str) -> Result<u32, HostError> {
        self.record(Call::RegisterQueue(name.to_string()))?;
        Ok(self.queues.register(name))
    }

    fn resolve_queue(&self, name: &str) -> Result<Option<u32>, HostError> {
        self.record(Call::ResolveQueue(name.to_string()))?;
        Ok(self.queues.resolve(name))
    }

    fn enqueue(&self, queue: u32, message: &[u8]) -> Result<(), HostError> {
        self.record(Call::Enqueue)?;
        self.queues.push(queue, message).ok_or_else(|| HostError("NotFound".into()))
    }

    fn dequeue(&self, queue: u32) -> Result<Option<Vec<u8>>, HostError> {
        self.record(Call::Dequeue)?;
        Ok(self.queues.pop(queue))
    }

    fn log(&self, level: LogLevel, message: &str) {
        let _ = self.record(Call::Log(message.to_string()));
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}
