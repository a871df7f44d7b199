//! What a Trino client request is, from its method and path alone (no body):
//! which requests start a query, which belong to an existing query and must
//! reach the coordinator that owns it, and which any coordinator can answer.

use super::query_id::QueryId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /v1/statement`: a new query; the gateway picks the coordinator.
    NewStatement,
    /// A request about one query; it must reach the coordinator that owns it.
    QueryBound { query_id: QueryId, resource: QueryResource },
    /// The path names a query but the id cannot be one a coordinator made.
    MalformedQueryId { resource: QueryResource },
    /// `/v1/spooled/{download,ack}/{identifier}`: a spooled segment, which only
    /// the coordinator that wrote it can serve; `key` is its `segment_map` key.
    Segment { key: [u8; 8] },
    /// Same answer from every coordinator (`/v1/info`, `/v1/status`, ...).
    AnyCoordinator,
    /// Anything else (web UI assets, login, OAuth2, spooling, ...).
    Other,
}

/// Which family of query-bound resource; decides the not-found answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryResource {
    /// `/v1/statement/{queued,executing}/...` (incl. partialCancel).
    Statement,
    /// `/v1/query/{id}[/...]`.
    QueryInfo,
    /// `/ui/api/query/{id}[/...]` and `/ui/query.html?{id}`.
    WebUi,
}

/// Whether `classify` needs the method for this path (only `/v1/statement`
/// does: POST starts a query); lets the adapter skip reading `:method`.
pub fn method_matters(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or_default();
    path.starts_with("/v1/statement") && {
        let mut segments = segments(path);
        (segments.next(), segments.next(), segments.next()) == (Some("v1"), Some("statement"), None)
    }
}

/// The path's segments as Trino's JAX-RS resources match them: without
/// matrix parameters (`;name=value`) and with an optional trailing slash, so
/// `/v1/statement/` and `/v1/statement;x=1` are `/v1/statement`. (Envoy's
/// `normalize_path` and `merge_slashes` have already resolved `.`, `..`,
/// `//` and percent-encoded unreserved characters.)
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').map(|segment| segment.split(';').next().unwrap_or_default())
}

/// Classify by method and `:path` (which includes the query string).
pub fn classify(method: &str, path_and_query: &str) -> RequestKind {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut segments = segments(path);
    let first = segments.next().unwrap_or_default();
    let second = segments.next();
    let third = segments.next();
    let fourth = segments.next();
    let bound = |id: Option<&str>, resource| match id.and_then(QueryId::parse) {
        Some(query_id) => RequestKind::QueryBound { query_id, resource },
        None => RequestKind::MalformedQueryId { resource },
    };
    match (first, second, third) {
        ("v1", Some("statement"), None) if method.eq_ignore_ascii_case("POST") => RequestKind::NewStatement,
        ("v1", Some("statement"), Some("queued")) => bound(fourth, QueryResource::Statement),
        ("v1", Some("statement"), Some("executing")) => match fourth {
            Some("partialCancel") => bound(segments.next(), QueryResource::Statement),
            id => bound(id, QueryResource::Statement),
        },
        ("v1", Some("query"), Some(id)) => bound(Some(id), QueryResource::QueryInfo),
        ("ui", Some("api"), Some("query")) => match fourth {
            // `/ui/api/query` alone lists all queries of one coordinator.
            None | Some("") => RequestKind::Other,
            id => bound(id, QueryResource::WebUi),
        },
        ("ui", Some("query.html"), None) => {
            bound(query.map(|q| q.split('&').next().unwrap_or_default()), QueryResource::WebUi)
        }
        ("v1", Some("spooled"), Some("download" | "ack")) => match fourth {
            Some(identifier) if !identifier.is_empty() && segments.next().is_none() => {
                RequestKind::Segment { key: crate::segment_map::key_of(identifier.as_bytes()) }
            }
            _ => RequestKind::Other,
        },
        ("v1", Some("info"), None | Some("state") | Some("coordinator")) | ("v1", Some("status"), None) => {
            RequestKind::AnyCoordinator
        }
        _ => RequestKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "20261125_101305_00007_mi2vg";

    fn bound(resource: QueryResource) -> RequestKind {
        RequestKind::QueryBound { query_id: QueryId::parse(ID).unwrap_or_else(|| panic!()), resource }
    }

    #[test]
    fn table() {
        use QueryResource::*;
        let slug = "y4ae82d5661981c7045ddb7e589089d9056d185d7";
        let cases: Vec<(&str, String, RequestKind)> = vec![
            ("POST", "/v1/statement".into(), RequestKind::NewStatement),
            ("post", "/v1/statement".into(), RequestKind::NewStatement),
            ("GET", "/v1/statement".into(), RequestKind::Other),
            ("POST", "/v1/statement?x=1".into(), RequestKind::NewStatement),
            // As JAX-RS matches them: a trailing slash, matrix parameters.
            ("POST", "/v1/statement/".into(), RequestKind::NewStatement),
            ("POST", "/v1/statement;jsessionid=1".into(), RequestKind::NewStatement),
            ("POST", "/v1;a=b/statement/?x=1".into(), RequestKind::NewStatement),
            ("GET", format!("/v1/statement/executing/{ID};x/{slug}/0/"), bound(Statement)),
            ("GET", "/v1/info/".into(), RequestKind::AnyCoordinator),
            ("GET", "/v1/spooled/ack/c2Vn".into(), RequestKind::Segment { key: crate::segment_map::key_of(b"c2Vn") }),
            (
                "GET",
                "/v1/spooled/download/c2Vn".into(),
                RequestKind::Segment { key: crate::segment_map::key_of(b"c2Vn") },
            ),
            ("GET", "/v1/spooled/ack/".into(), RequestKind::Other),
            ("GET", format!("/v1/statement/queued/{ID}/{slug}/1"), bound(Statement)),
            ("DELETE", format!("/v1/statement/queued/{ID}/{slug}/1"), bound(Statement)),
            ("GET", format!("/v1/statement/executing/{ID}/{slug}/0"), bound(Statement)),
            ("HEAD", format!("/v1/statement/executing/{ID}/{slug}/0"), bound(Statement)),
            ("GET", format!("/v1/statement/executing/{ID}/{slug}/0?maxWait=1s"), bound(Statement)),
            ("DELETE", format!("/v1/statement/executing/partialCancel/{ID}/3/{slug}/2"), bound(Statement)),
            ("GET", format!("/v1/query/{ID}"), bound(QueryInfo)),
            ("PUT", format!("/v1/query/{ID}/killed"), bound(QueryInfo)),
            ("PUT", format!("/v1/query/{ID}/preempted"), bound(QueryInfo)),
            ("GET", format!("/ui/api/query/{ID}"), bound(WebUi)),
            ("PUT", format!("/ui/api/query/{ID}/killed"), bound(WebUi)),
            ("GET", format!("/ui/query.html?{ID}"), bound(WebUi)),
            ("GET", "/ui/api/query".into(), RequestKind::Other),
            ("GET", "/v1/info".into(), RequestKind::AnyCoordinator),
            ("GET", "/v1/info/state".into(), RequestKind::AnyCoordinator),
            ("GET", "/v1/info/coordinator".into(), RequestKind::AnyCoordinator),
            ("GET", "/v1/status".into(), RequestKind::AnyCoordinator),
            ("GET", "/ui/".into(), RequestKind::Other),
            ("POST", "/ui/login".into(), RequestKind::Other),
            ("GET", "/oauth2/token/initiate/abc".into(), RequestKind::Other),
            ("GET", "/".into(), RequestKind::Other),
            ("GET", "".into(), RequestKind::Other),
        ];
        for (method, path, expected) in cases {
            assert_eq!(classify(method, &path), expected, "{method} {path}");
        }
    }

    #[test]
    fn the_method_only_matters_for_new_statements() {
        assert!(method_matters("/v1/statement") && method_matters("/v1/statement?x=1"));
        assert!(method_matters("/v1/statement/") && method_matters("/v1/statement;a=b"));
        for path in ["/v1/statement/queued/x/y/1", "/v1/info", "/", ""] {
            assert!(!method_matters(path), "{path}");
            // Consistent with classify: the method changes nothing there.
            assert_eq!(classify("POST", path), classify("", path), "{path}");
        }
    }

    #[test]
    fn hostile_ids_are_malformed_never_routed() {
        use QueryResource::*;
        let cases = [
            ("GET", "/v1/statement/queued/", Statement),
            ("GET", "/v1/statement/queued", Statement),
            ("GET", "/v1/statement/executing/../../admin/y/0", Statement),
            ("GET", "/v1/statement/executing/20261125_101305_00007_mi2vg%00/y/0", Statement),
            ("GET", "/v1/statement/executing/20261125_101305_00007_MI2VG/y/0", Statement),
            ("DELETE", "/v1/statement/executing/partialCancel/x/1/y/0", Statement),
            ("GET", "/v1/query/;drop", QueryInfo),
            ("GET", "/ui/query.html", WebUi),
            ("GET", "/ui/query.html?", WebUi),
            ("GET", "/ui/api/query/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", WebUi),
        ];
        for (method, path, resource) in cases {
            assert_eq!(classify(method, path), RequestKind::MalformedQueryId { resource }, "{method} {path}");
        }
    }
}
