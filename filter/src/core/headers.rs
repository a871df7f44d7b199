//! Request header edits: the routing header (always the gateway's own value),
//! and `X-Forwarded-*`, which Trino rejects with 406 unless its coordinators
//! run with `http-server.process-forwarded=true`.
//!
//! One exception: Envoy's router finds no route for a request without
//! `x-forwarded-proto` (the HTTP connection manager always sets it, and a
//! filter that removes it gets "no route match"). So the filter leaves that
//! one header alone, and the route removes it on the way upstream with
//! `request_headers_to_remove: [x-forwarded-proto]` (see envoy/envoy.yaml).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit<'a> {
    Remove(&'a str),
    Set(&'a str, &'a str),
}

/// The forwarding headers the gateway controls. Removing them by name costs
/// one cheap host call each, where listing all request headers to find every
/// `X-Forwarded-*` costs more than the rest of the filter (see BENCHMARKS.md).
/// A client sending some other `X-Forwarded-*` header gets Trino's own 406,
/// exactly as it would without the gateway.
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

/// The edits for one request routed to `cluster`. `scheme` and `authority` are
/// the request's `:scheme` and `:authority` as Envoy received them.
pub fn edits<'a>(
    routing_header: &'a str,
    cluster: &'a str,
    process_forwarded: bool,
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
) -> Vec<HeaderEdit<'a>> {
    let mut out = Vec::with_capacity(FORWARDED_HEADERS.len() + 1);
    for name in FORWARDED_HEADERS {
        // Off: all go (Trino would answer 406), but for the proto header, which
        // the route removes. On: the client's values never reach Trino; the
        // gateway sets proto and host below and keeps the client address chain.
        let keep = if process_forwarded { name == "x-forwarded-for" } else { name == "x-forwarded-proto" };
        if !keep {
            out.push(HeaderEdit::Remove(name));
        }
    }
    if process_forwarded {
        if let Some(scheme) = scheme.filter(|s| !s.is_empty()) {
            out.push(HeaderEdit::Set("x-forwarded-proto", scheme));
        }
        if let Some(authority) = authority.filter(|a| !a.is_empty()) {
            out.push(HeaderEdit::Set("x-forwarded-host", authority));
        }
    }
    // Set replaces every value a client may have sent.
    out.push(HeaderEdit::Set(routing_header, cluster));
    out
}

/// The headers to re-send a new statement with (to another coordinator, from
/// the gateway itself), taken from the request as the filter forwarded it:
/// the routing header goes (the call names its cluster), and so does what the
/// route would have removed or Envoy's router sets itself.
pub fn resend_headers(
    headers: Vec<(String, String)>,
    routing_header: &str,
    process_forwarded: bool,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !(name == routing_header
                || (!process_forwarded && name == "x-forwarded-proto")
                || name.starts_with("x-envoy-")
                || name == "expect"
                || is_hop_by_hop(name))
        })
        .collect()
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

    fn removed<'a>(edits: &[HeaderEdit<'a>]) -> Vec<&'a str> {
        edits.iter().filter_map(|e| if let HeaderEdit::Remove(n) = e { Some(*n) } else { None }).collect()
    }

    #[test]
    fn forwarded_headers_are_stripped_when_trino_rejects_them() {
        let got = edits("x-gw", "b", false, Some("http"), Some("gw:8080"));
        let removed = removed(&got);
        assert!(
            removed.contains(&"x-forwarded-for")
                && removed.contains(&"x-forwarded-host")
                && removed.contains(&"forwarded")
        );
        assert!(!removed.contains(&"x-forwarded-proto"), "Envoy needs it to route; the route removes it");
        assert_eq!(got.last(), Some(&HeaderEdit::Set("x-gw", "b")));
        assert_eq!(got.iter().filter(|e| matches!(e, HeaderEdit::Set(..))).count(), 1);
    }

    #[test]
    fn forwarded_headers_describe_the_gateway_when_trino_processes_them() {
        let got = edits("x-gw", "a", true, Some("https"), Some("trino.example.com"));
        let removed = removed(&got);
        assert!(
            removed.contains(&"x-forwarded-prefix")
                && removed.contains(&"x-forwarded-port")
                && removed.contains(&"x-forwarded-host")
        );
        assert!(!removed.contains(&"x-forwarded-for"));
        let sets: Vec<&HeaderEdit> = got.iter().filter(|e| matches!(e, HeaderEdit::Set(..))).collect();
        assert_eq!(
            sets,
            [
                &HeaderEdit::Set("x-forwarded-proto", "https"),
                &HeaderEdit::Set("x-forwarded-host", "trino.example.com"),
                &HeaderEdit::Set("x-gw", "a"),
            ]
        );
        // Removals come first, so the gateway's own values are not removed again.
        let first_set = got.iter().position(|e| matches!(e, HeaderEdit::Set(..))).unwrap_or(0);
        assert!(got[first_set..].iter().all(|e| matches!(e, HeaderEdit::Set(..))));
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_resent_statement_keeps_the_clients_headers_only() {
        let forwarded = pairs(&[
            (":method", "POST"),
            (":path", "/v1/statement"),
            (":authority", "gw:8080"),
            (":scheme", "http"),
            ("x-trino-user", "dbt"),
            ("content-length", "8"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "r1"),
            ("x-envoy-expected-rq-timeout-ms", "15000"),
            ("expect", "100-continue"),
            ("x-gw", "a"),
        ]);
        let kept = resend_headers(forwarded.clone(), "x-gw", false);
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [":method", ":path", ":authority", ":scheme", "x-trino-user", "content-length", "x-request-id"]
        );
        let kept = resend_headers(forwarded, "x-gw", true);
        assert!(kept.iter().any(|(n, v)| n == "x-forwarded-proto" && v == "http"));
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
