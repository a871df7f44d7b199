//! Request paths as Trino's HTTP stack resolves them before a resource runs:
//! Jetty 12 (default URI compliance) refuses ambiguous paths, removes `.` and
//! `..` segments and percent-decodes; JAX-RS then matches resources without
//! matrix parameters (`;name=value`) and with an optional trailing slash.

/// Why Jetty refuses a path (its 400 reason).
pub type Refusal = &'static str;

/// The segments a JAX-RS resource is matched against, e.g.
/// `/v1/statement;jsessionid=1/` → `["v1", "statement"]`.
pub fn resolve(raw: &str) -> Result<Vec<String>, Refusal> {
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    let mut segments: Vec<String> = Vec::new();
    let parts: Vec<&str> = raw.split('/').collect();
    for (index, part) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        let (segment, _matrix) = part.split_once(';').unwrap_or((part, ""));
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") {
            return Err("Ambiguous URI path separator");
        }
        if lower.contains("%2e") && decode(segment).is_some_and(|d| d == "." || d == "..") {
            return Err("Ambiguous URI path segment");
        }
        let decoded = decode(segment).ok_or("Bad URI")?;
        match decoded.as_str() {
            // A trailing slash: JAX-RS matches with or without it.
            "" if last => {}
            "" => return Err("Ambiguous URI empty segment"),
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err("Bad URI");
                }
            }
            _ => segments.push(decoded),
        }
    }
    Ok(segments)
}

/// Percent-decoding of one segment (UTF-8); None for a malformed escape.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_jetty_and_jax_rs_see_them() {
        let ok = |raw: &str, expected: &[&str]| {
            assert_eq!(resolve(raw), Ok(expected.iter().map(|s| s.to_string()).collect()), "{raw}");
        };
        ok("/v1/statement", &["v1", "statement"]);
        ok("/v1/statement/", &["v1", "statement"]);
        ok("/v1/statement;jsessionid=1", &["v1", "statement"]);
        ok("/v1/./statement", &["v1", "statement"]);
        ok("/v1/x/../statement", &["v1", "statement"]);
        ok("/v1/%73tatement", &["v1", "statement"]);
        ok("/", &[]);
        assert_eq!(resolve("//v1/statement"), Err("Ambiguous URI empty segment"));
        assert_eq!(resolve("/v1//statement"), Err("Ambiguous URI empty segment"));
        assert_eq!(resolve("/v1%2Fstatement"), Err("Ambiguous URI path separator"));
        assert_eq!(resolve("/v1/%2e%2e/statement"), Err("Ambiguous URI path segment"));
        assert_eq!(resolve("/../v1"), Err("Bad URI"));
        assert_eq!(resolve("/v1/%zz"), Err("Bad URI"));
    }
}
