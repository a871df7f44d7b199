//! The bounded spooled segment → cluster map, in Envoy shared data (a
//! `bucket_map` under `trino_gateway/v2/seg/`).
//!
//! With spooling, a query's data pages name segments by an identifier the
//! coordinator encrypts with its own key: no query id can be read from it,
//! and only that coordinator can serve `/v1/spooled/download/{id}` and
//! `/v1/spooled/ack/{id}`. The filter learns each identifier from the data
//! pages of the queries that use spooling (read as they pass, never held)
//! and keeps a 64-bit hash of it: 14-byte records. An identifier the map does
//! not know reaches no coordinator.

use super::bucket_map::{BucketMap, Record};
use super::shared_data::{SharedData, SharedDataError};

pub const BUCKET_PREFIX: &str = "trino_gateway/v2/seg/";
pub const RECORD_SIZE: usize = Record::<8>::SIZE;

/// The JSON key of a spooled segment's acknowledgement URI, whose path ends
/// with `ACK_PATH` and the identifier. Anchoring on the key (quotes and all)
/// keeps text a user controls out: inside a JSON string its quotes are escaped.
pub const ACK_KEY: &[u8] = b"\"ackUri\":\"";
pub const ACK_PATH: &[u8] = b"/v1/spooled/ack/";
/// A page names one segment (Trino: one per data page); more are not learned.
pub const MAX_PER_PAGE: usize = 64;
pub const MAX_IDENTIFIER: usize = 1024;
/// The longest `"ackUri":"…"` value looked at (a URI with a long prefix and identifier).
const MAX_URI: usize = 4096;

pub fn bucket_key(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket}")
}

/// The map key of a segment identifier (FNV-1a, 64 bits).
pub fn key_of(identifier: &[u8]) -> [u8; 8] {
    super::hash::fnv1a(identifier).to_le_bytes()
}

/// Characters of an identifier in a URI (URL-safe base64 and what percent-encoding adds).
fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_=.~%".contains(&b)
}

/// The identifier at the end of an `ackUri` value, if it is one.
fn identifier_of(uri: &[u8]) -> Option<&[u8]> {
    let at = uri.windows(ACK_PATH.len()).rposition(|w| w == ACK_PATH)?;
    let identifier = uri.get(at + ACK_PATH.len()..)?;
    let valid = (1..=MAX_IDENTIFIER).contains(&identifier.len()) && identifier.iter().all(|b| is_identifier_byte(*b));
    valid.then_some(identifier)
}

/// Finds segment identifiers in the pieces of a data page as they pass.
/// `carry` keeps the tail of the last piece that may hold the start of an
/// `ackUri` cut by the piece boundary (bounded by `MAX_URI`).
#[derive(Debug, Default)]
pub struct Scanner {
    carry: Vec<u8>,
    found: usize,
}

impl Scanner {
    /// The identifiers complete in `carry + piece`; `last`: no more pieces.
    pub fn scan(&mut self, piece: &[u8], last: bool) -> Vec<Vec<u8>> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(piece);
        let mut found = Vec::new();
        let mut at = 0;
        let mut keep_from = data.len().saturating_sub(ACK_KEY.len() - 1);
        while let Some(offset) = data.get(at..).and_then(|rest| rest.windows(ACK_KEY.len()).position(|w| w == ACK_KEY))
        {
            let start = at + offset + ACK_KEY.len();
            let Some(length) = data.get(start..).and_then(|rest| rest.iter().position(|b| *b == b'"')) else {
                // The value goes on in the next piece: look again then.
                keep_from = keep_from.min(at + offset);
                break;
            };
            if let Some(identifier) = data.get(start..start + length).and_then(identifier_of) {
                if self.found < MAX_PER_PAGE {
                    self.found += 1;
                    found.push(identifier.to_vec());
                }
            }
            at = start + length;
        }
        if !last {
            self.carry = data.get(keep_from..).unwrap_or_default().to_vec();
            if self.carry.len() > MAX_URI + ACK_KEY.len() {
                self.carry.clear();
            }
        }
        found
    }
}

pub struct SegmentMap {
    map: BucketMap<8>,
}

impl SegmentMap {
    pub fn new(buckets: usize) -> SegmentMap {
        SegmentMap { map: BucketMap { prefix: BUCKET_PREFIX, buckets } }
    }

    /// The cluster table id of the segment with this `key_of` its identifier.
    pub fn lookup_key(&self, store: &dyn SharedData, key: &[u8; 8]) -> Result<Option<u8>, SharedDataError> {
        Ok(self.map.lookup(store, key)?.map(|r| r.cluster))
    }

    pub fn record(
        &self,
        store: &dyn SharedData,
        identifier: &[u8],
        cluster: u8,
        now: u32,
    ) -> Result<(), SharedDataError> {
        self.map.record(store, key_of(identifier), cluster, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"data":{"encoding":"json+zstd","segments":[{"type":"inline","data":"AAAA","metadata":{}},
        {"type":"spooled","uri":"http://g/v1/spooled/download/Zm9v_YmFy-1=","ackUri":"http://g/v1/spooled/ack/Zm9v_YmFy-1=",
         "headers":{}},{"type":"spooled","uri":"http://s/bucket/x?sig=1","ackUri":"http://g/v1/spooled/ack/c2Vjb25k","headers":{}}]}}"#;

    #[test]
    fn identifiers_are_found_whatever_the_piece_boundaries() {
        let whole = Scanner::default().scan(PAGE.as_bytes(), true);
        assert_eq!(whole, vec![b"Zm9v_YmFy-1=".to_vec(), b"c2Vjb25k".to_vec()]);
        for size in [1, 2, 3, 7, 16, 17, 40, 100] {
            let mut scanner = Scanner::default();
            let pieces: Vec<&[u8]> = PAGE.as_bytes().chunks(size).collect();
            let mut found = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                found.extend(scanner.scan(piece, i + 1 == pieces.len()));
            }
            assert_eq!(found, whole, "pieces of {size}");
        }
    }

    #[test]
    fn pages_without_spooled_segments_give_nothing() {
        // A user's text holding the same words: its quotes are escaped in JSON.
        let forged = br#"{"columns":[{"name":"\"ackUri\":\"http://g/v1/spooled/ack/Zm9yZ2Vk"}],"data":[["/v1/spooled/ack/eA"]]}"#;
        for page in [
            &b""[..],
            b"{}",
            br#"{"data":[[1,2]]}"#,
            b"/v1/spooled/ack/",
            br#""ackUri":"http://g/v1/spooled/ack/""#,
            forged,
        ] {
            assert!(Scanner::default().scan(page, true).is_empty(), "{page:?}");
        }
    }
}
