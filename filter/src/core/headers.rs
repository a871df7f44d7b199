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
}
