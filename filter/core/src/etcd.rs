//! The etcd v3 gRPC messages the state sync sends and reads, in protobuf's
//! wire format, by hand: a handful of messages do not justify a protobuf
//! code generator in a wasm filter. Field numbers are etcd's
//! (`api/etcdserverpb/rpc.proto`, `api/mvccpb/kv.proto`; the same in 3.4 and
//! 3.5). Readers skip fields they do not know and reject truncated input with
//! an error, never a panic.

use std::fmt;

pub const KV_SERVICE: &str = "etcdserverpb.KV";
pub const LEASE_SERVICE: &str = "etcdserverpb.Lease";
pub const AUTH_SERVICE: &str = "etcdserverpb.Auth";

/// etcd's default `--max-txn-ops`: operations in one Txn.
pub const MAX_TXN_OPS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub &'static str);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed etcd message: {}", self.0)
    }
}

// ---- writing

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// A varint field; proto3 leaves zero out, as protoc does.
fn int_field(out: &mut Vec<u8>, field: u32, value: i64) {
    if value != 0 {
        tag(out, field, 0);
        varint(out, value as u64);
    }
}

fn bytes_field(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        tag(out, field, 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// The end of the range of every key that starts with `prefix`: the prefix
/// with its last byte incremented (etcd's `clientv3.GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // Every key.
}

/// A `RangeRequest` over the keys under `prefix`.
#[derive(Debug, Clone, Default)]
pub struct Range<'a> {
    pub prefix: &'a [u8],
    pub limit: i64,
    /// Only keys changed at or after this revision (0: all).
    pub min_mod_revision: i64,
    /// Sorted by modification revision, ascending (for paging by revision).
    pub by_mod_revision: bool,
    pub keys_only: bool,
}

impl Range<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        bytes_field(&mut out, 1, self.prefix);
        bytes_field(&mut out, 2, &prefix_end(self.prefix));
        int_field(&mut out, 3, self.limit);
        if self.by_mod_revision {
            int_field(&mut out, 5, 1); // sort_order ASCEND
            int_field(&mut out, 6, 3); // sort_target MOD
        }
        int_field(&mut out, 8, i64::from(self.keys_only));
        int_field(&mut out, 10, self.min_mod_revision);
        out
    }
}

/// One operation of a Txn: put (with a lease, 0 for none) or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: Vec<u8>, value: Vec<u8>, lease: i64 },
    Delete { key: Vec<u8> },
}

/// A `TxnRequest` with no compare: every operation applies, at one revision.
pub fn txn(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        let mut request_op = Vec::new();
        match op {
            Op::Put { key, value, lease } => {
                let mut put = Vec::new();
                bytes_field(&mut put, 1, key);
                bytes_field(&mut put, 2, value);
                int_field(&mut put, 3, *lease);
                tag(&mut request_op, 2, 2);
                varint(&mut request_op, put.len() as u64);
                request_op.extend_from_slice(&put);
            }
            Op::Delete { key } => {
                let mut delete = Vec::new();
                bytes_field(&mut delete, 1, key);
                tag(&mut request_op, 3, 2);
                varint(&mut request_op, delete.len() as u64);
                request_op.extend_from_slice(&delete);
            }
        }
        tag(&mut out, 2, 2); // success
        varint(&mut out, request_op.len() as u64);
        out.extend_from_slice(&request_op);
    }
    out
}

/// A `RangeRequest` for exactly one key.
pub fn get(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 1, key);
    out
}

pub fn lease_grant(ttl_seconds: i64) -> Vec<u8> {
    let mut out = Vec::new();
    int_field(&mut out, 1, ttl_seconds);
    out
}

pub fn authenticate(name: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 1, name.as_bytes());
    bytes_field(&mut out, 2, password.as_bytes());
    out
}

// ---- reading

enum Value<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.input.split_first().ok_or(ProtoError("truncated varint"))?;
            self.input = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.input.len() < n {
            return Err(ProtoError("truncated field"));
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    /// The next field, or None at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, ProtoError> {
        if self.input.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Int(self.varint()?),
            1 => Value::Bytes(self.take(8)?),
            2 => {
                let length = usize::try_from(self.varint()?).map_err(|_| ProtoError("length"))?;
                Value::Bytes(self.take(length)?)
            }
            5 => Value::Bytes(self.take(4)?),
            _ => return Err(ProtoError("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn fields<'a>(
    message: &'a [u8],
    mut each: impl FnMut(u64, Value<'a>) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let mut reader = Reader { input: message };
    while let Some((field, value)) = reader.field()? {
        each(field, value)?;
    }
    Ok(())
}

/// `ResponseHeader.revision` (field 3) of a message whose field 1 is the header.
fn header_revision(header: &[u8]) -> Result<i64, ProtoError> {
    let mut revision = 0;
    fields(header, |field, value| {
        if let (3, Value::Int(v)) = (field, value) {
            revision = v as i64;
        }
        Ok(())
    })?;
    Ok(revision)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub mod_revision: i64,
    pub lease: i64,
}

fn key_value(message: &[u8]) -> Result<KeyValue, ProtoError> {
    let mut kv = KeyValue::default();
    fields(message, |field, value| {
        match (field, value) {
            (1, Value::Bytes(b)) => kv.key = b.to_vec(),
            (3, Value::Int(v)) => kv.mod_revision = v as i64,
            (5, Value::Bytes(b)) => kv.value = b.to_vec(),
            (6, Value::Int(v)) => kv.lease = v as i64,
            _ => {}
        }
        Ok(())
    })?;
    Ok(kv)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResponse {
    /// The store's revision when it answered: every change up to it is included.
    pub revision: i64,
    pub kvs: Vec<KeyValue>,
    /// More keys matched than `limit` returned.
    pub more: bool,
}

pub fn range_response(message: &[u8]) -> Result<RangeResponse, ProtoError> {
    let mut response = RangeResponse::default();
    fields(message, |field, value| {
        match (field, value) {
            (1, Value::Bytes(b)) => response.revision = header_revision(b)?,
            (2, Value::Bytes(b)) => response.kvs.push(key_value(b)?),
            (3, Value::Int(v)) => response.more = v != 0,
            _ => {}
        }
        Ok(())
    })?;
    Ok(response)
}

/// The revision a `TxnResponse` (or `PutResponse`) was applied at.
pub fn txn_response(message: &[u8]) -> Result<i64, ProtoError> {
    let mut revision = 0;
    fields(message, |field, value| {
        if let (1, Value::Bytes(b)) = (field, value) {
            revision = header_revision(b)?;
        }
        Ok(())
    })?;
    Ok(revision)
}

/// `LeaseGrantResponse`: the lease id and its TTL, or etcd's error text.
pub fn lease_grant_response(message: &[u8]) -> Result<(i64, i64), ProtoError> {
    let (mut id, mut ttl) = (0, 0);
    let mut failed = false;
    fields(message, |field, value| {
        match (field, value) {
            (2, Value::Int(v)) => id = v as i64,
            (3, Value::Int(v)) => ttl = v as i64,
            (4, Value::Bytes(b)) => failed = !b.is_empty(),
            _ => {}
        }
        Ok(())
    })?;
    if failed || id == 0 {
        return Err(ProtoError("lease not granted"));
    }
    Ok((id, ttl))
}

/// `AuthenticateResponse.token` (field 2).
pub fn authenticate_response(message: &[u8]) -> Result<String, ProtoError> {
    let mut token = None;
    fields(message, |field, value| {
        if let (2, Value::Bytes(b)) = (field, value) {
            token = Some(String::from_utf8(b.to_vec()).map_err(|_| ProtoError("token is not UTF-8"))?);
        }
        Ok(())
    })?;
    token.filter(|t| !t.is_empty()).ok_or(ProtoError("no token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected bytes written out by hand from the wire format (tag = field << 3
    // | wire type) and etcd's field numbers; the end-to-end tests run them
    // against a real etcd.
    #[test]
    fn range_request_bytes() {
        let range =
            Range { prefix: b"/tg/", limit: 1000, min_mod_revision: 300, by_mod_revision: true, keys_only: false };
        let expected: Vec<u8> = [
            &[0x0a, 4][..],
            b"/tg/",
            &[0x12, 4],
            b"/tg0",
            &[0x18, 0xe8, 0x07], // limit 1000
            &[0x28, 1, 0x30, 3], // ASCEND by MOD
            &[0x50, 0xac, 0x02], // min_mod_revision 300
        ]
        .concat();
        assert_eq!(range.encode(), expected);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn txn_bytes() {
        let ops = [Op::Put { key: b"k".to_vec(), value: b"v".to_vec(), lease: 5 }, Op::Delete { key: b"d".to_vec() }];
        let expected: Vec<u8> =
            [&[0x12, 10, 0x12, 8, 0x0a, 1, b'k', 0x12, 1, b'v', 0x18, 5][..], &[0x12, 5, 0x1a, 3, 0x0a, 1, b'd']]
                .concat();
        assert_eq!(txn(&ops), expected);
    }

    fn message(parts: &[(u32, Value<'_>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (field, value) in parts {
            match value {
                Value::Int(v) => {
                    tag(&mut out, *field, 0);
                    varint(&mut out, *v);
                }
                Value::Bytes(b) => {
                    tag(&mut out, *field, 2);
                    varint(&mut out, b.len() as u64);
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn range_responses_are_read_and_unknown_fields_skipped() {
        let header = message(&[(1, Value::Int(99)), (3, Value::Int(1234)), (4, Value::Int(7))]);
        let kv = message(&[
            (1, Value::Bytes(b"/tg/q/x")),
            (2, Value::Int(10)),
            (3, Value::Int(1200)),
            (4, Value::Int(1)),
            (5, Value::Bytes(b"coordinator-a")),
            (6, Value::Int(77)),
        ]);
        let mut response =
            message(&[(1, Value::Bytes(&header)), (2, Value::Bytes(&kv)), (3, Value::Int(1)), (4, Value::Int(5))]);
        response.extend_from_slice(&[0x3d, 1, 2, 3, 4]); // field 7, fixed32: skipped
        let parsed = range_response(&response).unwrap();
        assert_eq!(parsed.revision, 1234);
        assert!(parsed.more);
        assert_eq!(
            parsed.kvs,
            vec![KeyValue {
                key: b"/tg/q/x".to_vec(),
                value: b"coordinator-a".to_vec(),
                mod_revision: 1200,
                lease: 77
            }]
        );
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_panic() {
        let kv = message(&[(1, Value::Bytes(b"/tg/q/x"))]);
        let response = message(&[(2, Value::Bytes(&kv))]);
        for cut in 1..response.len() {
            assert!(range_response(&response[..cut]).is_err(), "{cut}");
        }
        assert!(range_response(&[0xff; 12]).is_err());
        assert!(range_response(&[0x0f]).is_err()); // wire type 7
        assert_eq!(range_response(&[]), Ok(RangeResponse::default()));
    }

    #[test]
    fn lease_and_auth_responses() {
        let granted = message(&[(2, Value::Int(0x1234)), (3, Value::Int(60))]);
        assert_eq!(lease_grant_response(&granted), Ok((0x1234, 60)));
        let refused = message(&[(4, Value::Bytes(b"too many leases"))]);
        assert!(lease_grant_response(&refused).is_err());
        let token = message(&[(2, Value::Bytes(b"abc.123"))]);
        assert_eq!(authenticate_response(&token), Ok("abc.123".to_string()));
        assert!(authenticate_response(&[]).is_err());
    }
}

/// Writers for tests that build etcd's answers.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::KeyValue;

    pub fn int(out: &mut Vec<u8>, field: u32, value: i64) {
        super::int_field(out, field, value);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
        super::bytes_field(out, field, value);
    }

    pub fn kv(key: &str, value: &str, mod_revision: i64) -> KeyValue {
        KeyValue { key: key.as_bytes().to_vec(), value: value.as_bytes().to_vec(), mod_revision, lease: 0 }
    }

    /// A `RangeResponse` with `kvs`, at `revision` (0: no header), `more` or not.
    pub fn range_answer(kvs: &[KeyValue], revision: i64, more: bool) -> Vec<u8> {
        let (mut out, mut header) = (Vec::new(), Vec::new());
        int(&mut header, 3, revision);
        bytes(&mut out, 1, &header);
        for kv in kvs {
            let mut m = Vec::new();
            bytes(&mut m, 1, &kv.key);
            int(&mut m, 3, kv.mod_revision);
            bytes(&mut m, 5, &kv.value);
            int(&mut m, 6, kv.lease);
            bytes(&mut out, 2, &m);
        }
        int(&mut out, 3, i64::from(more));
        out
    }
}
