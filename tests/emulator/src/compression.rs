//! Response compression as Trino's HTTP server applies it: gzip when the
//! client accepts it (the Python client's `requests` always sends
//! `Accept-Encoding: gzip, deflate`), including the JSON answers of the
//! statement resources, unless `query-results.compression-enabled=false`
//! makes those resources answer `identity`.

use crate::reply::Reply;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// Jetty's `GzipHandler` leaves bodies smaller than this alone (`DEFAULT_MIN_GZIP_SIZE`).
pub const MIN_GZIP_SIZE: usize = 32;

/// Whether an `Accept-Encoding` value allows gzip (`gzip`, `x-gzip` or `*`,
/// with a q-value above zero).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|entry| {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        matches!(coding.as_str(), "gzip" | "x-gzip" | "*") && q > 0.0
    })
}

/// What airlift's `CompressionHandler` (Jetty 12.1, defaults) does to an
/// answer: GET and POST answers get `Vary: Accept-Encoding`; their bodies are
/// gzipped when the client accepts gzip, the body has at least 32 bytes, the
/// status is not 1xx/204/205, the content type is not already compressed, and
/// the resource did not fix the encoding itself (`Content-Encoding: identity`).
pub fn apply(reply: &mut Reply, method: &http::Method, accept_encoding: Option<&str>) {
    if method != http::Method::GET && method != http::Method::POST {
        return;
    }
    reply.headers.push(("Vary".into(), "Accept-Encoding".into()));
    let header = |name: &str| reply.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let eligible = accept_encoding.is_some_and(accepts_gzip)
        && reply.body.len() >= MIN_GZIP_SIZE
        && !matches!(reply.status, 100..=199 | 204 | 205)
        && header("content-encoding").is_none()
        && !header("content-type").is_some_and(is_precompressed);
    if !eligible {
        return;
    }
    if let Ok(compressed) = gzip(&reply.body) {
        reply.body = compressed;
        reply.headers.push(("Content-Encoding".into(), "gzip".into()));
    }
}

/// Jetty's default exclusions: media and archive types.
fn is_precompressed(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    ["image/", "audio/", "video/"].iter().any(|p| mime.starts_with(p))
        || matches!(
            mime.as_str(),
            "application/compress"
                | "application/zip"
                | "application/gzip"
                | "application/x-bzip2"
                | "application/brotli"
                | "application/x-br"
                | "application/x-xz"
                | "application/x-rar-compressed"
                | "application/vnd.bzip3"
                | "application/zstd"
                | "text/event-stream"
        )
}

pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::default());
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn accept_encoding_values() {
        assert!(accepts_gzip("gzip, deflate"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }

    #[test]
    fn what_gets_compressed() {
        let json = || Reply::with_body(200, "application/json", vec![b'x'; 100]);
        let encoding = |r: &Reply| r.headers.iter().find(|(n, _)| n == "Content-Encoding").map(|(_, v)| v.clone());
        let mut reply = json();
        apply(&mut reply, &http::Method::POST, Some("gzip, deflate"));
        assert_eq!(encoding(&reply).as_deref(), Some("gzip"));
        assert!(reply.headers.iter().any(|(n, v)| n == "Vary" && v == "Accept-Encoding"));
        let mut plain = json();
        apply(&mut plain, &http::Method::GET, None);
        assert_eq!(encoding(&plain), None);
        let mut identity = json().header("Content-Encoding", "identity");
        apply(&mut identity, &http::Method::GET, Some("gzip"));
        assert_eq!(identity.body.len(), 100);
        let mut small = Reply::with_body(200, "text/plain", "short");
        apply(&mut small, &http::Method::GET, Some("gzip"));
        assert_eq!(encoding(&small), None);
        let mut delete = json();
        apply(&mut delete, &http::Method::DELETE, Some("gzip"));
        assert_eq!(encoding(&delete), None);
        let mut zstd = Reply::with_body(200, "application/zstd", vec![0; 100]);
        apply(&mut zstd, &http::Method::GET, Some("gzip"));
        assert_eq!(encoding(&zstd), None);
    }

    #[test]
    fn gzip_round_trips() {
        let body = br#"{"id":"20261125_000000_00000_abcde","stats":{"state":"QUEUED"}}"#;
        let mut out = Vec::new();
        let compressed = gzip(body).unwrap_or_default();
        let read = GzDecoder::new(&compressed[..]).read_to_end(&mut out);
        assert!(read.is_ok());
        assert_eq!(out, body);
    }
}
