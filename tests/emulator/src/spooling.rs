//! The spooling protocol (Trino ≥ 466, `io.trino.server.protocol.spooling`):
//! encoding negotiation, segment encoding and compression, opaque segment
//! identifiers, and the segment store behind the coordinator's
//! `/v1/spooled/*` resources and the separate storage endpoint.
//!
//! What a client sees follows Trino 480: `data` becomes
//! `{"encoding": …, "segments": [inline | spooled]}`; inline segments carry
//! base64 data, spooled ones a `uri` (a pre-signed storage URL, or the
//! coordinator's download resource in the coordinator retrieval modes), an
//! `ackUri` on the coordinator, and the storage's encryption `headers`.

use crate::base64;
use crate::ids::random_bytes;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes256;
use hmac::{Hmac, Mac};
use serde_json::{json, Value as Json};
use sha2::Sha256;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// `protocol.spooling.encoding.compression.threshold`: smaller segments are
/// sent uncompressed (no `uncompressedSize` in their metadata).
pub const COMPRESSION_THRESHOLD: usize = 8 * 1024;
/// `protocol.spooling.inlining.max-size`.
pub const INLINING_MAX_SIZE: usize = 3 * 1024 * 1024;
/// `fs.segment.ttl`.
pub const SEGMENT_TTL: Duration = Duration::from_secs(12 * 3600);

/// SSE-C headers the storage demands back (S3's customer-provided keys).
pub const SSE_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
pub const SSE_KEY: &str = "x-amz-server-side-encryption-customer-key";

/// The encodings Trino 480 enables by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    JsonZstd,
    JsonLz4,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::JsonZstd => "json+zstd",
            Encoding::JsonLz4 => "json+lz4",
        }
    }

    /// `PreferredQueryDataEncoderSelector`: the first encoding of the client's
    /// comma list the server knows, compared exactly (case-sensitive). None
    /// means the direct protocol (plain row arrays), never an error.
    pub fn negotiate(header: &str) -> Option<Encoding> {
        header.split(',').map(str::trim).find_map(|name| match name {
            "json" => Some(Encoding::Json),
            "json+zstd" => Some(Encoding::JsonZstd),
            "json+lz4" => Some(Encoding::JsonLz4),
            _ => None,
        })
    }

    /// Encodes a JSON array of rows; compresses it (zstd: one frame with its
    /// content size; lz4: a raw block) when it reaches the threshold.
    pub fn encode(self, json_rows: Vec<u8>) -> std::io::Result<Encoded> {
        let uncompressed = json_rows.len();
        if self == Encoding::Json || uncompressed < COMPRESSION_THRESHOLD {
            return Ok(Encoded { bytes: json_rows, uncompressed_size: None });
        }
        let bytes = match self {
            Encoding::JsonZstd => zstd::bulk::compress(&json_rows, 3)?,
            _ => lz4_flex::block::compress(&json_rows),
        };
        Ok(Encoded { bytes, uncompressed_size: Some(uncompressed) })
    }
}

pub struct Encoded {
    pub bytes: Vec<u8>,
    pub uncompressed_size: Option<usize>,
}

impl Encoded {
    /// The segment `metadata` (`DataAttribute` names).
    pub fn metadata(&self, rows: usize, row_offset: usize, expires_at: Option<&str>) -> Json {
        let mut metadata = json!({"segmentSize": self.bytes.len()});
        if let Some(size) = self.uncompressed_size {
            metadata["uncompressedSize"] = json!(size);
        }
        metadata["rowsCount"] = json!(rows);
        if let Some(expires_at) = expires_at {
            metadata["expiresAt"] = json!(expires_at);
        }
        metadata["rowOffset"] = json!(row_offset);
        metadata
    }
}

/// `protocol.spooling.retrieval-mode` (WORKER_PROXY needs workers, which the
/// emulator does not have).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetrievalMode {
    /// `uri` is a pre-signed storage URL; the coordinator's download resource answers 503.
    Storage,
    /// `uri` is the coordinator's download resource, which answers 303 to the storage URL.
    CoordinatorStorageRedirect,
    /// `uri` is the coordinator's download resource, which answers the bytes.
    CoordinatorProxy,
}

/// Segment identifiers: the handle (a random 16-byte name, the encoding and
/// the node id) encrypted with AES-256 under the shared secret, then URL-safe
/// base64 — opaque to anyone without the key: no query id can be read off it.
pub struct SegmentCipher {
    cipher: Aes256,
}

impl SegmentCipher {
    pub fn new(key: &[u8; 32]) -> SegmentCipher {
        SegmentCipher { cipher: Aes256::new(GenericArray::from_slice(key)) }
    }

    pub fn seal(&self, name: &[u8; 16], encoding: Encoding, node_id: &str) -> String {
        let mut handle = name.to_vec();
        for part in [encoding.name(), node_id] {
            handle.extend_from_slice(&(part.len() as u16).to_be_bytes());
            handle.extend_from_slice(part.as_bytes());
        }
        handle.push(1); // encrypted at rest
                        // PKCS#7 padding, then ECB as `Cipher.getInstance("AES")` does.
        let pad = 16 - handle.len() % 16;
        handle.extend(std::iter::repeat_n(pad as u8, pad));
        for block in handle.chunks_mut(16) {
            self.cipher.encrypt_block(GenericArray::from_mut_slice(block));
        }
        base64::encode_url_padded(&handle)
    }

    /// The 16-byte name inside an identifier this key sealed.
    pub fn open(&self, identifier: &str) -> Option<[u8; 16]> {
        let mut bytes = base64::decode(identifier)?;
        if bytes.is_empty() || bytes.len() % 16 != 0 {
            return None;
        }
        for block in bytes.chunks_mut(16) {
            self.cipher.decrypt_block(GenericArray::from_mut_slice(block));
        }
        let pad = usize::from(*bytes.last()?);
        if pad == 0
            || pad > 16
            || bytes.len() < 16 + pad
            || bytes[bytes.len() - pad..].iter().any(|b| usize::from(*b) != pad)
        {
            return None;
        }
        bytes.get(..16)?.try_into().ok()
    }
}

/// One spooled segment at rest in the storage.
pub struct StoredSegment {
    pub query_id: String,
    pub bytes: Vec<u8>,
    /// The SSE-C key (base64) the storage demands on every read.
    pub key: String,
    pub expires: Instant,
}

/// The "object storage": segments by name, with pre-signed URLs.
pub struct SegmentStore {
    signing_key: [u8; 32],
    segments: HashMap<[u8; 16], StoredSegment>,
}

/// Why the storage refused a read, as S3 answers.
#[derive(Debug, PartialEq, Eq)]
pub enum StorageError {
    /// 403 `SignatureDoesNotMatch` / `AccessDenied` (bad URL, wrong key).
    Forbidden(&'static str),
    /// 400 `InvalidRequest`: an SSE-C object read without its key.
    KeyMissing,
    /// 404 `NoSuchKey`: acknowledged, expired or never written.
    NoSuchKey,
}

impl SegmentStore {
    pub fn new() -> SegmentStore {
        SegmentStore { signing_key: random_bytes(), segments: HashMap::new() }
    }

    pub fn put(&mut self, name: [u8; 16], segment: StoredSegment) {
        self.segments.insert(name, segment);
    }

    /// Reads a segment, checking the SSE-C key the client sent back.
    pub fn get(&self, name: &[u8; 16], sent_key: Option<&str>) -> Result<&StoredSegment, StorageError> {
        let segment = self.segments.get(name).filter(|s| s.expires > Instant::now()).ok_or(StorageError::NoSuchKey)?;
        match sent_key {
            None => Err(StorageError::KeyMissing),
            Some(key) if key != segment.key => Err(StorageError::Forbidden("AccessDenied")),
            Some(_) => Ok(segment),
        }
    }

    /// Acknowledgement deletes (`fs.segment.explicit-ack`); deleting twice is fine.
    pub fn delete(&mut self, name: &[u8; 16]) {
        self.segments.remove(name);
    }

    /// Drops expired segments and those of queries no longer known.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let now = Instant::now();
        self.segments.retain(|_, s| s.expires > now && keep(&s.query_id));
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// `/{bucket}/{name}?X-Amz-Expires=…&X-Amz-Signature=…`, signed with the store's key.
    pub fn presigned_path(&self, name: &[u8; 16]) -> String {
        let object = object_path(name);
        format!("{object}?X-Amz-Expires={}&X-Amz-Signature={}", SEGMENT_TTL.as_secs(), self.signature(&object))
    }

    /// The segment a pre-signed path names, if its signature is this store's.
    pub fn verify(&self, path: &str, query: Option<&str>) -> Result<[u8; 16], StorageError> {
        let signature = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|kv| kv.strip_prefix("X-Amz-Signature="))
            .ok_or(StorageError::Forbidden("AccessDenied"))?;
        if signature != self.signature(path) {
            return Err(StorageError::Forbidden("SignatureDoesNotMatch"));
        }
        let hex = path.strip_prefix("/spooling/").ok_or(StorageError::NoSuchKey)?.as_bytes();
        let mut name = [0u8; 16];
        if hex.len() != 32 {
            return Err(StorageError::NoSuchKey);
        }
        for (byte, pair) in name.iter_mut().zip(hex.chunks(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| StorageError::NoSuchKey)?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| StorageError::NoSuchKey)?;
        }
        Ok(name)
    }

    fn signature(&self, object: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.signing_key) else {
            return String::new();
        };
        mac.update(object.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for SegmentStore {
    fn default() -> Self {
        SegmentStore::new()
    }
}

fn object_path(name: &[u8; 16]) -> String {
    let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
    format!("/spooling/{hex}")
}

/// S3's XML error document.
pub fn storage_error_body(error: &StorageError) -> (u16, String) {
    let (status, code, message) = match error {
        StorageError::Forbidden(code) => (
            403,
            *code,
            if *code == "SignatureDoesNotMatch" {
                "The request signature we calculated does not match the signature you provided."
            } else {
                "Access Denied"
            },
        ),
        StorageError::KeyMissing => (
            400,
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        ),
        StorageError::NoSuchKey => (404, "NoSuchKey", "The specified key does not exist."),
    };
    (status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"))
}

/// `LocalDateTime.toString()` in UTC (the emulator's session zone), e.g. `2026-11-25T17:20:01.123`.
pub fn local_date_time(unix_ms: u128) -> String {
    crate::ids::format_instant(unix_ms).trim_end_matches('Z').to_string()
}

/// A fresh SSE-C key (base64 of 256 bits).
pub fn random_key() -> String {
    base64::encode_standard(&random_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_first_known_encoding_in_client_order() {
        assert_eq!(Encoding::negotiate("json+zstd,json+lz4,json"), Some(Encoding::JsonZstd));
        assert_eq!(Encoding::negotiate(" foo , json+lz4"), Some(Encoding::JsonLz4));
        assert_eq!(Encoding::negotiate("JSON"), None);
        assert_eq!(Encoding::negotiate("foo"), None);
    }

    #[test]
    fn small_segments_stay_uncompressed_and_large_ones_round_trip() {
        let small = Encoding::JsonZstd.encode(b"[[1]]".to_vec()).ok();
        assert!(small.is_some_and(|e| e.uncompressed_size.is_none() && e.bytes == b"[[1]]"));
        let rows: Vec<u8> = format!("[{}]", vec!["[1,\"abc\"]"; 5000].join(",")).into_bytes();
        let Ok(zstd) = Encoding::JsonZstd.encode(rows.clone()) else { panic!("zstd") };
        assert_eq!(zstd.uncompressed_size, Some(rows.len()));
        assert_eq!(zstd::bulk::decompress(&zstd.bytes, rows.len()).ok(), Some(rows.clone()));
        let Ok(lz4) = Encoding::JsonLz4.encode(rows.clone()) else { panic!("lz4") };
        assert_eq!(lz4_flex::block::decompress(&lz4.bytes, rows.len()).ok(), Some(rows));
    }

    #[test]
    fn identifiers_are_opaque_and_only_open_with_the_key() {
        let cipher = SegmentCipher::new(&[7; 32]);
        let name = [3u8; 16];
        let id = cipher.seal(&name, Encoding::JsonZstd, "coordinator-a");
        assert!(!id.contains("coordinator") && !id.contains('/') && !id.contains('+'));
        assert_eq!(cipher.open(&id), Some(name));
        assert_eq!(SegmentCipher::new(&[8; 32]).open(&id), None);
        assert_eq!(cipher.open("not-an-id"), None);
    }

    #[test]
    fn storage_checks_signature_and_key() {
        let mut store = SegmentStore::new();
        let name = [9u8; 16];
        let key = random_key();
        let expires = Instant::now() + SEGMENT_TTL;
        store.put(name, StoredSegment { query_id: "q".into(), bytes: b"[]".to_vec(), key: key.clone(), expires });
        let url = store.presigned_path(&name);
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        assert_eq!(store.verify(path, Some(query)), Ok(name));
        assert!(store.verify(path, Some("X-Amz-Signature=00")).is_err());
        assert_eq!(store.get(&name, None).err(), Some(StorageError::KeyMissing));
        assert!(store.get(&name, Some("wrong")).is_err());
        assert!(store.get(&name, Some(&key)).is_ok());
        store.delete(&name);
        assert_eq!(store.get(&name, Some(&key)).err(), Some(StorageError::NoSuchKey));
    }
}
