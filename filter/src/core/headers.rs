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
pub enum HeaderEdit {
    Remove(String),
    Set(String, String),
}

/// `names` are the request's header names (lower case, as Envoy gives them).
pub fn edits(
    routing_header: &str,
    cluster: &str,
    process_forwarded: bool,
    names: &[String],
    scheme: Option<&str>,
    authority: Option<&str>,
) -> Vec<HeaderEdit> {
    let mut out = Vec::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        let forwarded = name.starts_with("x-forwarded-") || name == "forwarded";
        // Off: every X-Forwarded-* goes (Trino would answer 406), but for the
        // proto header, which the route removes. On: the client's values never
        // reach Trino; the gateway sets proto and host below.
        let keep = if process_forwarded { name == "x-forwarded-for" } else { name == "x-forwarded-proto" };
        if forwarded && !keep && !out.contains(&HeaderEdit::Remove(name.clone())) {
            out.push(HeaderEdit::Remove(name));
        }
    }
    if process_forwarded {
        if let Some(scheme) = scheme.filter(|s| !s.is_empty()) {
            out.push(HeaderEdit::Set("x-forwarded-proto".into(), scheme.to_string()));
        }
        if let Some(authority) = authority.filter(|a| !a.is_empty()) {
            out.push(HeaderEdit::Set("x-forwarded-host".into(), authority.to_string()));
        }
    }
    // Set replaces every value a client may have sent.
    out.push(HeaderEdit::Set(routing_header.to_string(), cluster.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn forwarded_headers_are_stripped_when_trino_rejects_them() {
        let got = edits(
            "x-gw",
            "b",
            false,
            &names(&["x-forwarded-proto", "x-forwarded-for", "x-trino-user", "x-gw", "Forwarded"]),
            Some("http"),
            Some("gw:8080"),
        );
        assert_eq!(
            got,
            vec![
                HeaderEdit::Remove("x-forwarded-for".into()),
                HeaderEdit::Remove("forwarded".into()),
                HeaderEdit::Set("x-gw".into(), "b".into()),
            ]
        );
    }

    #[test]
    fn forwarded_headers_describe_the_gateway_when_trino_processes_them() {
        let got = edits(
            "x-gw",
            "a",
            true,
            &names(&["x-forwarded-host", "x-forwarded-prefix", "x-forwarded-for"]),
            Some("https"),
            Some("trino.example.com"),
        );
        assert_eq!(
            got,
            vec![
                HeaderEdit::Remove("x-forwarded-host".into()),
                HeaderEdit::Remove("x-forwarded-prefix".into()),
                HeaderEdit::Set("x-forwarded-proto".into(), "https".into()),
                HeaderEdit::Set("x-forwarded-host".into(), "trino.example.com".into()),
                HeaderEdit::Set("x-gw".into(), "a".into()),
            ]
        );
    }
}
