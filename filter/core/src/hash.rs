//! FNV-1a (64-bit): a stable hash, the same in every worker, VM and build, to
//! pick shared-data buckets and to key spooled segment identifiers.

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Which of `buckets` buckets `bytes` belong to.
pub fn bucket_of(bytes: &[u8], buckets: usize) -> usize {
    (fnv1a(bytes) % buckets.max(1) as u64) as usize
}
