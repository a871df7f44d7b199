//! The core's `Host` over proxy-wasm host calls. Every call returns the host's
//! status as an error (the SDK's convenience wrappers panic on unexpected
//! statuses; `hostcalls` does not), so a failing host call never traps the VM.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
use std::time::{Duration, UNIX_EPOCH};
use trino_gateway_core::host::{Headers, Host, HostError, LogLevel, MetricKind};
use trino_gateway_core::shared_data::{SharedData, SharedDataError};

/// Zero-sized: the host is the process the VM runs in.
pub struct WasmHost;

fn failed(call: &str, status: Status) -> HostError {
    HostError(format!("{call}: {status:?}"))
}

impl SharedData for WasmHost {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
        hostcalls::get_shared_data(key)
            .map_err(|status| SharedDataError::Host(format!("get_shared_data({key}): {status:?}")))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|status| match status {
            Status::CasMismatch => SharedDataError::CasMismatch,
            other => SharedDataError::Host(format!("set_shared_data({key}): {other:?}")),
        })
    }
}

impl Host for WasmHost {
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name).map_err(|s| failed("get request header", s))
    }

    fn request_headers(&self) -> Result<Headers, HostError> {
        hostcalls::get_map(MapType::HttpRequestHeaders).map_err(|s| failed("get request headers", s))
    }

    fn set_request_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
            .map_err(|s| failed("set request header", s))
    }

    fn remove_request_header(&self, name: &str) -> Result<(), HostError> {
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name).map_err(|s| failed("remove request header", s))
    }

    fn request_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .map(Option::unwrap_or_default)
            .map_err(|s| failed("get request body", s))
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        hostcalls::get_map_value(MapType::HttpResponseHeaders, name).map_err(|s| failed("get response header", s))
    }

    fn response_code_details(&self) -> Result<Option<String>, HostError> {
        hostcalls::get_property(vec!["response", "code_details"])
            .map(|bytes| bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(|s| failed("get response.code_details", s))
    }

    fn response_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .map(Option::unwrap_or_default)
            .map_err(|s| failed("get response body", s))
    }

    fn remove_response_header(&self, name: &str) -> Result<(), HostError> {
        hostcalls::remove_map_value(MapType::HttpResponseHeaders, name).map_err(|s| failed("remove response header", s))
    }

    fn set_response_body(&self, size: usize, body: &[u8]) -> Result<(), HostError> {
        // Offset 0 and the whole buffered size: any other range is refused.
        hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, body).map_err(|s| failed("set response body", s))
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<(), HostError> {
        hostcalls::send_http_response(status, headers.to_vec(), body).map_err(|s| failed("send_http_response", s))
    }

    fn resume_response(&self) -> Result<(), HostError> {
        hostcalls::resume_http_response().map_err(|s| failed("resume_http_response", s))
    }

    fn resume_request(&self) -> Result<(), HostError> {
        hostcalls::resume_http_request().map_err(|s| failed("resume_http_request", s))
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        hostcalls::set_effective_context(context_id).map_err(|s| failed("set_effective_context", s))
    }

    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), body, vec![], timeout)
            .map_err(|s| failed("dispatch_http_call", s))
    }

    fn call_response_headers(&self) -> Result<Headers, HostError> {
        hostcalls::get_map(MapType::HttpCallResponseHeaders).map_err(|s| failed("get call response headers", s))
    }

    fn call_response_body(&self, size: usize) -> Result<Vec<u8>, HostError> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
            .map(Option::unwrap_or_default)
            .map_err(|s| failed("get call response body", s))
    }

    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        metadata: &[(&str, &[u8])],
        message: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_grpc_call(cluster, service, method, metadata.to_vec(), Some(message), timeout)
            .map_err(|s| failed("dispatch_grpc_call", s))
    }

    fn grpc_response(&self, size: usize) -> Result<Vec<u8>, HostError> {
        hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, size)
            .map(Option::unwrap_or_default)
            .map_err(|s| failed("get grpc response", s))
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        hostcalls::define_metric(kind, name).map_err(|s| failed("define_metric", s))
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        hostcalls::increment_metric(id, delta).map_err(|s| failed("increment_metric", s))
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        hostcalls::record_metric(id, value).map_err(|s| failed("record_metric", s))
    }

    fn now_seconds(&self) -> u32 {
        (self.now_millis() / 1000) as u32
    }

    fn now_millis(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn register_queue(&self, name: &str) -> Result<u32, HostError> {
        hostcalls::register_shared_queue(name).map_err(|s| failed("register_shared_queue", s))
    }

    fn resolve_queue(&self, name: &str) -> Result<Option<u32>, HostError> {
        // Queues are per vm_id, like shared data: the one this VM runs in.
        let vm_id = hostcalls::get_property(vec!["plugin_vm_id"])
            .map_err(|s| failed("get plugin_vm_id", s))?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        hostcalls::resolve_shared_queue(&vm_id, name).map_err(|s| failed("resolve_shared_queue", s))
    }

    fn enqueue(&self, queue: u32, message: &[u8]) -> Result<(), HostError> {
        hostcalls::enqueue_shared_queue(queue, Some(message)).map_err(|s| failed("enqueue_shared_queue", s))
    }

    fn dequeue(&self, queue: u32) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::dequeue_shared_queue(queue).map_err(|s| failed("dequeue_shared_queue", s))
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Info => log::info!("{message}"),
            LogLevel::Warn => log::warn!("{message}"),
            LogLevel::Error => log::error!("{message}"),
        }
    }
}
