//! The HTTP/1.1 server around the coordinator: reads requests, long-polls
//! when the coordinator asks, writes one log line per request, and shuts down
//! gracefully on SIGTERM or Ctrl-C.

use crate::coordinator::{Coordinator, Request};
use crate::reply::{Handled, Reply};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Largest request body read (Trino's default max request size is larger, but
/// query.max-length caps SQL at 1M characters).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long in-flight requests may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn serve(
    listener: TcpListener,
    coordinator: Arc<Coordinator>,
    node_id: String,
    request_log: bool,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let purger = {
        let coordinator = coordinator.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                coordinator.purge();
            }
        })
    };
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        eprintln!("accept failed: {error}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let coordinator = coordinator.clone();
                let node_id = node_id.clone();
                let service =
                    service_fn(move |request| handle(coordinator.clone(), node_id.clone(), request_log, request));
                let connection = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    purger.abort();
    println!("trino-emulator node={node_id} shutting down: no new connections, finishing in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => eprintln!("some connections did not close within {SHUTDOWN_GRACE:?}"),
    }
    Ok(())
}

/// The segment storage (the object store pre-signed URLs point at), on its
/// own listener as S3 or GCS would be: clients fetch spooled segments here
/// directly in the STORAGE retrieval mode, never through the coordinator.
pub async fn serve_storage(listener: TcpListener, coordinator: Arc<Coordinator>, node_id: String, request_log: bool) {
    let node_id = format!("{node_id}-storage");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let coordinator = coordinator.clone();
        let node_id = node_id.clone();
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            let coordinator = coordinator.clone();
            let node_id = node_id.clone();
            async move {
                let reply = coordinator.storage(
                    request.method(),
                    request.uri().path(),
                    request.uri().query(),
                    request.headers(),
                );
                if request_log {
                    log_line(
                        &node_id,
                        request.method().as_str(),
                        request.uri().path(),
                        reply.status,
                        reply.query_id.as_deref(),
                    );
                }
                Ok::<_, Infallible>(to_response(reply))
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn handle(
    coordinator: Arc<Coordinator>,
    node_id: String,
    request_log: bool,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let reply = Reply::mapped_error(413, "Request body too large");
            log_line(&node_id, &method, &path, reply.status, None);
            return Ok(to_response(reply));
        }
    };
    let injected = coordinator.injected_fault(&parts.method, &path);
    let reply = loop {
        if let Some(fault) = &injected {
            break fault.clone();
        }
        let request = Request {
            method: &parts.method,
            path: &path,
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            received,
        };
        match coordinator.handle(&request) {
            Handled::Reply(reply) => break reply,
            Handled::WaitUntil(at) => tokio::time::sleep_until(at.into()).await,
        }
    };
    let mut reply = reply;
    let accept_encoding = parts.headers.get("accept-encoding").and_then(|v| v.to_str().ok());
    crate::compression::apply(&mut reply, &parts.method, accept_encoding);
    if request_log {
        log_line(&node_id, &method, &path, reply.status, reply.query_id.as_deref());
    }
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::try_from(name), hyper::header::HeaderValue::try_from(value))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// One line per request: `<time> <node> <method> <path> <status> query=<id|->`.
/// Tests read these lines to see which coordinator served which query.
fn log_line(node_id: &str, method: &str, path: &str, status: u16, query_id: Option<&str>) {
    println!(
        "{} node={node_id} {method} {path} {status} query={}",
        crate::ids::format_instant(crate::ids::unix_millis()),
        query_id.unwrap_or("-")
    );
}
