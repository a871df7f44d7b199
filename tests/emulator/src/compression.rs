//! Response compression as Trino's HTTP server applies it: gzip when the
//! client accepts it (the Python client's `requests` always sends
//! `Accept-Encoding: gzip, deflate`), including the JSON answers of the
//! statement resources, unless `query-results.compression-enabled=false`
//! makes those resources answer `identity`.

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
    fn gzip_round_trips() {
        let body = br#"{"id":"20261125_000000_00000_abcde","stats":{"state":"QUEUED"}}"#;
        let mut out = Vec::new();
        let compressed = gzip(body).unwrap_or_default();
        let read = GzDecoder::new(&compressed[..]).read_to_end(&mut out);
        assert!(read.is_ok());
        assert_eq!(out, body);
    }
}
