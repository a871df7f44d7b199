//! Header rules: which `X-Forwarded-*` headers reach a coordinator, and the
//! headers of a re-sent statement and of a relayed answer.
//!
//! Trino answers 406 to any `X-Forwarded-*` header unless its coordinators run
//! with `http-server.process-forwarded=true`. On the request path these edits
//! are static, so the Envoy route makes them (`request_headers_to_remove`,
//! and with processed forwarding `request_headers_to_add`; see
//! envoy/envoy.yaml): they cost the filter no host call. Only a statement the
//! filter re-sends itself (an HTTP call, which no route edits) gets them here.

/// Removed from new statements and their re-sends: Trino gzips the answer of
/// a client that accepts it, and the filter reads that answer.
pub const ACCEPT_ENCODING: &str = "accept-encoding";

/// The forwarding headers a coordinator must not see from a client.
pub const FORWARDED_HEADERS: [&str; 8] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-forwarded-server",
    "x-forwarded-ssl",
];

/// Whether a coordinator may see this forwarding header as the client sent it.
/// Off (Trino's default): none. On: the client address chain only; the
/// gateway sets proto and host itself.
fn forwarded_header_passes(name: &str, process_forwarded: bool) -> bool {
    process_forwarded && name == "x-forwarded-for"
}

/// The headers to re-send a new statement with (to another coordinator, from
/// the gateway itself), from the request headers as Envoy received them: the
/// same forwarded-header edits the route makes, without the routing header
/// (the call names its cluster) and what Envoy's router sets itself.
pub fn resend_headers(
    headers: Vec<(String, String)>,
    routing_header: &str,
    process_forwarded: bool,
) -> Vec<(String, String)> {
    let scheme = headers.iter().find(|(n, _)| n == ":scheme").map(|(_, v)| v.clone());
    let authority = headers.iter().find(|(n, _)| n == ":authority").map(|(_, v)| v.clone());
    let mut out: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            let forwarded = FORWARDED_HEADERS.contains(&name);
            !(name == routing_header
                || (forwarded && !forwarded_header_passes(name, process_forwarded))
                || name.starts_with("x-envoy-")
                || name == "expect"
                || name == ACCEPT_ENCODING
                || is_hop_by_hop(name))
        })
        .collect();
    if process_forwarded {
        if let Some(scheme) = scheme.filter(|s| !s.is_empty()) {
            out.push(("x-forwarded-proto".into(), scheme));
        }
        if let Some(authority) = authority.filter(|a| !a.is_empty()) {
            out.push(("x-forwarded-host".into(), authority));
        }
    }
    out
}

/// Connection-level headers (RFC 9110 7.6.1): they describe one hop, and
/// Envoy frames every connection itself.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(name, "connection" | "keep-alive" | "te" | "upgrade" | "transfer-encoding")
}

/// The headers of an answer the gateway passes on as its own local reply:
/// Envoy sets the status, the length and the framing itself.
pub fn relayed_response_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !(name.starts_with(':')
                || is_hop_by_hop(name)
                || matches!(name, "content-length" | "x-envoy-upstream-service-time"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn received() -> Vec<(String, String)> {
        pairs(&[
            (":method", "POST"),
            (":path", "/v1/statement"),
            (":authority", "gw:8080"),
            (":scheme", "http"),
            ("x-trino-user", "dbt"),
            ("content-length", "8"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-for", "10.0.0.1"),
            ("forwarded", "for=x"),
            ("x-request-id", "r1"),
            ("x-envoy-expected-rq-timeout-ms", "15000"),
            ("expect", "100-continue"),
            ("x-gw", "a"),
        ])
    }

    #[test]
    fn a_resent_statement_keeps_the_clients_headers_only() {
        let kept = resend_headers(received(), "x-gw", false);
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [":method", ":path", ":authority", ":scheme", "x-trino-user", "content-length", "x-request-id"]
        );
    }

    #[test]
    fn with_processed_forwarding_the_gateway_describes_itself() {
        let kept = resend_headers(received(), "x-gw", true);
        let forwarded: Vec<(&str, &str)> = kept
            .iter()
            .filter(|(n, _)| n.starts_with("x-forwarded") || n == "forwarded")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            forwarded,
            [("x-forwarded-for", "10.0.0.1"), ("x-forwarded-proto", "http"), ("x-forwarded-host", "gw:8080")]
        );
    }

    #[test]
    fn a_relayed_answer_loses_pseudo_and_framing_headers() {
        let got = relayed_response_headers(pairs(&[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", "99"),
            ("transfer-encoding", "chunked"),
            ("x-envoy-upstream-service-time", "3"),
            ("date", "x"),
        ]));
        assert_eq!(got, pairs(&[("content-type", "application/json"), ("date", "x")]));
    }
}
