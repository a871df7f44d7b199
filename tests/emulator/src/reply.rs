//! HTTP answers as the coordinator's handlers produce them, independent of the
//! server library, plus the error bodies Trino's resources and Jetty write.

use serde_json::Value as Json;
use std::time::Instant;

/// An HTTP answer, plus the query id it concerns (for the request log).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub query_id: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: &Json) -> Reply {
        Reply::with_body(status, "application/json", body.to_string())
    }

    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into(), query_id: None }
    }

    /// A raw `text/plain` entity (Trino's `badRequest(...)`-style answers).
    pub fn text(status: u16, message: &str) -> Reply {
        Reply::with_body(status, "text/plain", message)
    }

    /// What Trino's `ThrowableMapper` writes for JAX-RS exceptions, e.g.
    /// `Error 404 Not Found: Query not found`.
    pub fn mapped_error(status: u16, message: &str) -> Reply {
        Reply::text(status, &format!("Error {status} {}: {message}", reason(status)))
    }

    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: vec![], body: vec![], query_id: None }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn for_query(mut self, id: &str) -> Reply {
        self.query_id = Some(id.to_string());
        self
    }
}

/// A handler's result: an answer now, or "call again at this instant" so the
/// server can long-poll without holding the coordinator's lock.
pub enum Handled {
    Reply(Reply),
    WaitUntil(Instant),
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        410 => "Gone",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Jetty's `ErrorHandler` page, as airlift configures it (stack traces shown,
/// plain text unless the client accepts HTML). Used for the 406 on
/// `X-Forwarded-*` headers, which Jetty raises before Trino sees the request.
pub fn jetty_error(status: u16, message: &str, uri: &str, accept: Option<&str>) -> Reply {
    let accept = accept.unwrap_or("");
    let exception = format!("org.eclipse.jetty.http.BadMessageException: {status}: {message}");
    if accept.contains("text/html") || accept.contains("text/*") || accept.contains("*/*") {
        let body = format!(
            "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error {status} {message}</title>\n</head>\n<body>\n<h2>HTTP ERROR {status} {message}</h2>\n<table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>{status}</td></tr>\n<tr><th>MESSAGE:</th><td>{message}</td></tr>\n</table>\n<h3>Caused by:</h3><pre>{exception}\n</pre>\n\n</body>\n</html>\n"
        );
        Reply::with_body(status, "text/html;charset=iso-8859-1", body)
            .header("Cache-Control", "must-revalidate,no-cache,no-store")
    } else {
        let body = format!(
            "HTTP ERROR {status} {message}\nURI: {uri}\nSTATUS: {status}\nMESSAGE: {message}\nCAUSED BY: {exception}\n"
        );
        Reply::with_body(status, "text/plain;charset=iso-8859-1", body)
            .header("Cache-Control", "must-revalidate,no-cache,no-store")
    }
}
