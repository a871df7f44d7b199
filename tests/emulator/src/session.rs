//! The client session a statement carries in its headers, parsed and checked
//! as Trino's `HttpRequestSessionContextFactory` does: malformed values are
//! refused with 400 before a query exists; unknown session properties fail the
//! query later, at dispatch.
//!
//! Header prefix: `X-Trino-`. `X-Presto-*` is honoured only when the
//! coordinator runs with `protocol.v1.alternate-header-name=Presto`
//! (`ProtocolHeaders.detectProtocol`); otherwise Trino ignores such headers.

use crate::reply::Reply;
use crate::sql;
use crate::web_ui::percent_decode_strict;
use http::HeaderMap;
use std::collections::BTreeMap;

/// Which header family a request uses, e.g. `Trino` → `x-trino-*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    name: String,
}

impl Protocol {
    pub fn trino() -> Protocol {
        Protocol { name: "Trino".into() }
    }

    /// `ProtocolHeaders.detectProtocol`: with an alternate name configured, a
    /// request carrying any `x-{alternate}` header speaks that protocol; one
    /// carrying both families is refused.
    pub fn detect(headers: &HeaderMap, alternate: Option<&str>) -> Result<Protocol, Reply> {
        let Some(alternate) = alternate.filter(|a| !a.eq_ignore_ascii_case("Trino")) else {
            return Ok(Protocol::trino());
        };
        let alternate_prefix = format!("x-{}", alternate.to_ascii_lowercase());
        let has = |prefix: &str| headers.keys().any(|name| name.as_str().starts_with(prefix));
        match (has("x-trino-"), has(&alternate_prefix)) {
            (true, true) => Err(Reply::mapped_error(400, &format!("Both Trino and {alternate} headers detected"))),
            (false, true) => Ok(Protocol { name: alternate.to_string() }),
            _ => Ok(Protocol::trino()),
        }
    }

    /// The request header `x-{protocol}-{name}` (lower case, as HTTP/1 names compare).
    pub fn request_header(&self, name: &str) -> String {
        format!("x-{}-{}", self.name.to_ascii_lowercase(), name.to_ascii_lowercase())
    }

    /// The response header `X-{Protocol}-{Name}`, e.g. `X-Trino-Set-Session`.
    pub fn response_header(&self, name: &str) -> String {
        format!("X-{}-{name}", self.name)
    }
}

/// What a statement's headers say about its session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionContext {
    /// `X-Trino-Session`: system properties by name, catalog ones as `catalog.name`.
    pub properties: BTreeMap<String, String>,
    /// `X-Trino-Prepared-Statement`: name → SQL.
    pub prepared: BTreeMap<String, String>,
    /// `X-Trino-Role`: catalog (or `system`) → role.
    pub roles: BTreeMap<String, String>,
    /// `X-Trino-Extra-Credential`.
    pub extra_credentials: BTreeMap<String, String>,
    /// `X-Trino-Original-User` (trimmed; Trino does not parse it further).
    pub original_user: Option<String>,
    /// `X-Trino-Time-Zone`, UTC when absent (the emulator's server zone).
    pub time_zone: String,
}

impl SessionContext {
    pub fn from_headers(headers: &HeaderMap, protocol: &Protocol) -> Result<SessionContext, Reply> {
        let header = |name: &str| protocol.request_header(name);
        let mut context = SessionContext { time_zone: "UTC".into(), ..SessionContext::default() };
        for (name, value) in parse_property(headers, &header("session"), "X-Trino-Session")? {
            // `name` or `catalog.name`, nothing else.
            let parts: Vec<&str> = name.split('.').collect();
            let valid = (1..=2).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty());
            if !valid {
                return Err(bad_request("Invalid X-Trino-Session header"));
            }
            context.properties.insert(name, value);
        }
        for (catalog, role) in parse_property(headers, &header("role"), "X-Trino-Role")? {
            // `SelectedRole.valueOf`: ALL, NONE or ROLE{name}, case-sensitive.
            let valid = role == "ALL"
                || role == "NONE"
                || role.strip_prefix("ROLE{").and_then(|r| r.strip_suffix('}')).is_some_and(|r| !r.is_empty());
            if !valid {
                return Err(bad_request("Invalid X-Trino-Role header"));
            }
            context.roles.insert(catalog, role);
        }
        for (name, value) in parse_property(headers, &header("extra-credential"), "X-Trino-Extra-Credential")? {
            if name.starts_with("internal$") {
                return Err(bad_request(&format!("Invalid extra credential name: {name}")));
            }
            context.extra_credentials.insert(name, value);
        }
        for (name, value) in parse_property(headers, &header("resource-estimate"), "X-Trino-Resource-Estimate")? {
            check_resource_estimate(&name, &value)?;
        }
        for (name, sql_text) in parse_property(headers, &header("prepared-statement"), "X-Trino-Prepared-Statement")? {
            let name = decode(&name, "X-Trino-Prepared-Statement")?;
            // Parsed at once: text that is not SQL is refused with 400.
            if let Err(error) = sql::parse(&sql_text) {
                if error.code.name == "SYNTAX_ERROR" {
                    return Err(bad_request(&format!("Invalid X-Trino-Prepared-Statement header: {}", error.message)));
                }
            }
            context.prepared.insert(name, sql_text);
        }
        context.original_user = first(headers, &header("original-user")).map(|u| u.trim().to_string());
        if let Some(zone) = first(headers, &header("time-zone")).map(str::trim).filter(|z| !z.is_empty()) {
            context.time_zone = zone.to_string();
        }
        Ok(context)
    }
}

fn first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `parseProperty`: every header line, comma lists, `name=urlencoded(value)`
/// with exactly one `=`; empty entries are skipped.
fn parse_property(headers: &HeaderMap, name: &str, shown: &str) -> Result<Vec<(String, String)>, Reply> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else {
            return Err(bad_request(&format!("Invalid {shown} header")));
        };
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let parts: Vec<&str> = entry.split('=').collect();
            let [key, raw] = parts.as_slice() else {
                return Err(bad_request(&format!("Invalid {shown} header")));
            };
            out.push((key.trim().to_string(), decode(raw.trim(), shown)?));
        }
    }
    Ok(out)
}

/// `URLDecoder.decode(value, UTF_8)`, refusing what Java refuses.
fn decode(value: &str, shown: &str) -> Result<String, Reply> {
    percent_decode_strict(value).map_err(|problem| {
        bad_request(&format!("Invalid {shown} header: java.lang.IllegalArgumentException: URLDecoder: {problem}"))
    })
}

/// `X-Trino-Resource-Estimate`: EXECUTION_TIME and CPU_TIME are durations,
/// PEAK_MEMORY a data size.
fn check_resource_estimate(name: &str, value: &str) -> Result<(), Reply> {
    let valid = match name.to_ascii_uppercase().as_str() {
        "EXECUTION_TIME" | "CPU_TIME" => crate::config::parse_duration(value).is_ok(),
        "PEAK_MEMORY" => is_data_size(value),
        _ => return Err(bad_request(&format!("Unsupported resource name {name}"))),
    };
    if valid {
        Ok(())
    } else {
        Err(bad_request(&format!(
            "Unsupported format for resource estimate '{value}': java.lang.IllegalArgumentException: {value}"
        )))
    }
}

/// Airlift `DataSize`: a number and B, kB, MB, GB, TB or PB.
fn is_data_size(value: &str) -> bool {
    let value = value.trim();
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number = number.trim();
    // Airlift's pattern: digits, optionally a fraction; no sign, no exponent.
    let mut halves = number.splitn(2, '.');
    let whole = halves.next().unwrap_or_default();
    let fraction = halves.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && matches!(unit, "B" | "kB" | "MB" | "GB" | "TB" | "PB")
}

/// `ThrowableMapper` for `BadRequestException`: `Error 400 Bad Request: …`.
pub fn bad_request(message: &str) -> Reply {
    Reply::mapped_error(400, message)
}

/// `URLEncoder.encode(value, UTF_8)`: what `X-Trino-Set-Session` and
/// `X-Trino-Added-Prepare` carry (space → `+`).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    fn parsed(pairs: &[(&'static str, &'static str)]) -> Result<SessionContext, String> {
        SessionContext::from_headers(&headers(pairs), &Protocol::trino())
            .map_err(|reply| String::from_utf8_lossy(&reply.body).into_owned())
    }

    #[test]
    fn well_formed_headers() {
        let Ok(context) = parsed(&[
            ("x-trino-session", "query_max_run_time=1h, tpch.foo=a%20b"),
            ("x-trino-session", "join_distribution_type=BROADCAST"),
            ("x-trino-prepared-statement", "q1=SELECT+1,Q2=SELECT%20%272%27"),
            ("x-trino-role", "system=ROLE{admin}"),
            ("x-trino-time-zone", "Europe/Paris"),
        ]) else {
            panic!("refused")
        };
        assert_eq!(context.properties.get("tpch.foo").map(String::as_str), Some("a b"));
        assert_eq!(context.properties.len(), 3);
        assert_eq!(context.prepared.get("Q2").map(String::as_str), Some("SELECT '2'"));
        assert_eq!(context.time_zone, "Europe/Paris");
    }

    #[test]
    fn malformed_headers_are_400_with_trino_messages() {
        let cases: &[(&'static str, &'static str, &str)] = &[
            ("x-trino-session", "novalue", "Error 400 Bad Request: Invalid X-Trino-Session header"),
            ("x-trino-session", "a=b=c", "Error 400 Bad Request: Invalid X-Trino-Session header"),
            ("x-trino-session", ".x=1", "Error 400 Bad Request: Invalid X-Trino-Session header"),
            ("x-trino-session", "a.b.c=1", "Error 400 Bad Request: Invalid X-Trino-Session header"),
            ("x-trino-role", "system=all", "Error 400 Bad Request: Invalid X-Trino-Role header"),
            ("x-trino-role", "system=ROLE{}", "Error 400 Bad Request: Invalid X-Trino-Role header"),
            ("x-trino-resource-estimate", "PEAK_MEMORY=-1B", "Error 400 Bad Request: Unsupported format for resource estimate '-1B'"),
            ("x-trino-role", "system=admin", "Error 400 Bad Request: Invalid X-Trino-Role header"),
            ("x-trino-extra-credential", "internal$abc=1", "Error 400 Bad Request: Invalid extra credential name: internal$abc"),
            ("x-trino-resource-estimate", "FOO=1", "Error 400 Bad Request: Unsupported resource name FOO"),
            ("x-trino-prepared-statement", "q=abcdefg", "Error 400 Bad Request: Invalid X-Trino-Prepared-Statement header: line 1:1: mismatched input 'abcdefg'"),
            ("x-trino-session", "a=%zz", "Error 400 Bad Request: Invalid X-Trino-Session header: java.lang.IllegalArgumentException: URLDecoder"),
        ];
        for (name, value, expected) in cases {
            let message = parsed(&[(name, value)]).err().unwrap_or_default();
            assert!(message.starts_with(expected), "{name}: {value} → {message}");
        }
    }

    #[test]
    fn presto_headers_only_with_the_alternate_name() {
        let presto = headers(&[("x-presto-user", "alice")]);
        assert_eq!(Protocol::detect(&presto, None).ok(), Some(Protocol::trino()));
        let detected = Protocol::detect(&presto, Some("Presto")).ok();
        assert_eq!(detected.as_ref().map(|p| p.request_header("user")), Some("x-presto-user".to_string()));
        assert_eq!(detected.map(|p| p.response_header("Set-Session")), Some("X-Presto-Set-Session".to_string()));
        let both = headers(&[("x-presto-user", "alice"), ("x-trino-source", "x")]);
        assert!(Protocol::detect(&both, Some("Presto")).is_err());
    }

    #[test]
    fn url_encoding_matches_java() {
        assert_eq!(url_encode("1h"), "1h");
        assert_eq!(url_encode("SELECT * FROM t WHERE x = 'é'"), "SELECT+*+FROM+t+WHERE+x+%3D+%27%C3%A9%27");
    }
}
