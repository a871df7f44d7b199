//! Which failed answers to a query's request prove the query lost. A 502,
//! 503 or 504 can be the coordinator's own answer (or a proxy's in front of
//! it) while it lives, Envoy's answer for a full connection pool, or the route
//! timeout of a coordinator that is slow, not gone. Turning those into "query
//! lost, submit it again" would make clients re-run statements that may still
//! be running (an INSERT twice); they are passed on, and clients retry
//! 502/503/504 themselves (the Python client three times). A pooled
//! connection the coordinator had closed never reaches the filter: the route
//! repeats such a GET or HEAD (`retry_on: reset-before-request`).

/// Whether Envoy's `response.code_details` says the coordinator could not be
/// reached or dropped the request: connection refused, reset or timed out
/// while connecting, the connection reset while the request was under way
/// (the process died), or no endpoint left. A full pool (`overflow`) is not.
pub fn is_confirmed_loss(code_details: &str) -> bool {
    let reset =
        code_details.starts_with("upstream_reset_before_response_started") && !code_details.contains("overflow");
    reset || code_details.starts_with("no_healthy_upstream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_code_details() {
        let cases = [
            ("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}", true),
            ("upstream_reset_before_response_started{connection_failure}", true),
            ("upstream_reset_before_response_started{connection_timeout}", true),
            ("no_healthy_upstream", true),
            ("upstream_reset_before_response_started{connection_termination}", true),
            ("upstream_reset_before_response_started{remote_reset}", true),
            ("upstream_reset_before_response_started{overflow}", false),
            ("upstream_response_timeout", false),
            ("via_upstream", false),
            ("", false),
        ];
        for (details, confirmed) in cases {
            assert_eq!(is_confirmed_loss(details), confirmed, "{details}");
        }
    }
}
