//! The spooling side of the coordinator: turning a result page into
//! segments, Trino's `CoordinatorSegmentResource` (`/v1/spooled/download` and
//! `/v1/spooled/ack`), and the storage endpoint pre-signed URLs point at.

use super::{Coordinator, Request};
use crate::base64;
use crate::ids::{random_bytes, unix_millis};
use crate::reply::Reply;
use crate::spooling::{
    local_date_time, random_key, storage_error_body, Encoding, RetrievalMode, SegmentStore, StorageError,
    StoredSegment, INLINING_MAX_SIZE, SEGMENT_TTL, SSE_ALGORITHM, SSE_KEY,
};
use crate::sql::error::{QueryError, GENERIC_INTERNAL_ERROR};
use serde_json::{json, Value as Json};
use std::time::Instant;

/// A non-WebApplicationException through Trino's `ThrowableMapper`: 500 with
/// the stack trace as plain text (`http-server.include-exception-in-response`).
fn exception(message: &str) -> Reply {
    Reply::text(
        500,
        &format!("{message}\n\tat io.trino.server.protocol.spooling.CoordinatorSegmentResource.handle(CoordinatorSegmentResource.java)\n"),
    )
}

impl Coordinator {
    /// The `data` of a page in the spooling protocol: one segment holding the
    /// page's rows, inline while the query's rows stay under the inlining
    /// limits, spooled to the storage after that.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn segments(
        &self,
        store: &mut SegmentStore,
        query_id: &str,
        encoding: Encoding,
        rows: Json,
        row_count: usize,
        row_offset: usize,
        base: &str,
    ) -> Result<Json, QueryError> {
        let encoded = serde_json::to_vec(&rows)
            .map_err(std::io::Error::other)
            .and_then(|j| encoding.encode(j))
            .map_err(|error| QueryError::new(GENERIC_INTERNAL_ERROR, format!("Could not encode a segment: {error}")))?;
        let inline = row_offset + row_count <= self.config.spooling_inlining_max_rows
            && encoded.bytes.len() <= INLINING_MAX_SIZE;
        let segment = if inline {
            json!({
                "type": "inline",
                "data": base64::encode_standard(&encoded.bytes),
                "metadata": encoded.metadata(row_count, row_offset, None),
            })
        } else {
            let name = random_bytes();
            let key = random_key();
            let expires_at = local_date_time(unix_millis() + SEGMENT_TTL.as_millis());
            let metadata = encoded.metadata(row_count, row_offset, Some(&expires_at));
            let identifier = self.cipher.seal(&name, encoding, &self.config.node_id);
            let uri = match self.config.spooling_retrieval_mode {
                RetrievalMode::Storage => self.storage_uri(&store.presigned_path(&name)),
                _ => format!("{base}/v1/spooled/download/{identifier}"),
            };
            let stored = StoredSegment {
                query_id: query_id.to_string(),
                bytes: encoded.bytes,
                key: key.clone(),
                expires: Instant::now() + SEGMENT_TTL,
            };
            store.put(name, stored);
            json!({
                "type": "spooled",
                "uri": uri,
                "ackUri": format!("{base}/v1/spooled/ack/{identifier}"),
                "metadata": metadata,
                "headers": {SSE_ALGORITHM: ["AES256"], SSE_KEY: [key]},
            })
        };
        Ok(json!({"encoding": encoding.name(), "segments": [segment]}))
    }

    fn storage_uri(&self, presigned_path: &str) -> String {
        let address = self.storage_address.get().map_or_else(|| "127.0.0.1:0".to_string(), ToString::to_string);
        format!("http://{address}{presigned_path}")
    }

    /// `GET /v1/spooled/download/{identifier}` (public).
    pub(super) fn download_segment(&self, request: &Request<'_>, identifier: &str) -> Reply {
        if !self.config.spooling {
            return Reply::mapped_error(404, "HTTP 404 Not Found");
        }
        if self.config.spooling_retrieval_mode == RetrievalMode::Storage {
            return Reply::mapped_error(503, "Retrieval mode is STORAGE but segment resource was called");
        }
        let Some(name) = self.cipher.open(identifier) else {
            return exception("java.lang.IllegalArgumentException: Invalid segment identifier");
        };
        let state = self.lock();
        if self.config.spooling_retrieval_mode == RetrievalMode::CoordinatorStorageRedirect {
            return Reply::empty(303).header("Location", self.storage_uri(&state.segments.presigned_path(&name)));
        }
        match state.segments.get(&name, request.header(SSE_KEY)) {
            Ok(segment) => {
                Reply::with_body(200, "application/octet-stream", segment.bytes.clone()).for_query(&segment.query_id)
            }
            Err(StorageError::NoSuchKey) => exception("java.io.IOException: Segment not found or expired"),
            Err(_) => exception("java.io.IOException: Access denied to the segment: missing or wrong encryption key"),
        }
    }

    /// `GET /v1/spooled/ack/{identifier}` (public): the client is done with a
    /// segment; it is deleted. Acknowledging twice is harmless.
    pub(super) fn acknowledge_segment(&self, request: &Request<'_>, identifier: &str) -> Reply {
        if !self.config.spooling {
            return Reply::mapped_error(404, "HTTP 404 Not Found");
        }
        let Some(name) = self.cipher.open(identifier) else {
            return exception("java.lang.IllegalArgumentException: Invalid segment identifier");
        };
        let mut state = self.lock();
        let query_id = match state.segments.get(&name, request.header(SSE_KEY)) {
            Ok(segment) => Some(segment.query_id.clone()),
            Err(StorageError::NoSuchKey) => None,
            Err(_) => {
                return exception("java.io.IOException: Access denied to the segment: missing or wrong encryption key")
            }
        };
        state.segments.delete(&name);
        let reply = Reply::empty(200);
        match query_id {
            Some(id) => reply.for_query(&id),
            None => reply,
        }
    }

    /// The storage endpoint (a separate listener): `GET` of a pre-signed URL
    /// with the SSE-C key headers, answering as S3 does.
    pub fn storage(&self, method: &http::Method, path: &str, query: Option<&str>, headers: &http::HeaderMap) -> Reply {
        let sent_key = headers.get(SSE_KEY).and_then(|v| v.to_str().ok());
        let state = self.lock();
        let result = match *method {
            http::Method::GET => {
                state.segments.verify(path, query).and_then(|name| state.segments.get(&name, sent_key))
            }
            _ => Err(StorageError::Forbidden("AccessDenied")),
        };
        match result {
            Ok(segment) => {
                Reply::with_body(200, "application/octet-stream", segment.bytes.clone()).for_query(&segment.query_id)
            }
            Err(error) => {
                let (status, body) = storage_error_body(&error);
                Reply::with_body(status, "application/xml", body)
            }
        }
    }

    /// Segments at rest, for tests.
    pub fn stored_segments(&self) -> usize {
        self.lock().segments.len()
    }
}
