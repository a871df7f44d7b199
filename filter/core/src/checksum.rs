//! A one-byte check at the end of every fixed-size record in shared data.
//!
//! Shared data is writable by anything with the same vm_id (another plugin, an
//! older or newer build of this one), so a record may be foreign or damaged.
//! Every record ends with this byte; a record whose byte does not match is
//! skipped, never read as a query's cluster. A sum of the bytes changes when
//! any single byte changes (by 1..=255, mod 256), so a record with one damaged
//! byte, the cluster byte included, is always skipped; wider damage slips
//! through with a chance of 1 in 256. The constant keeps an all-zero record
//! from checking out.

const SEED: u8 = 0xA5;

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(SEED, |acc, b| acc.wrapping_add(*b))
}

/// Writes the check into the last byte of `record`.
pub fn seal(record: &mut [u8]) {
    if let Some((last, body)) = record.split_last_mut() {
        *last = sum(body);
    }
}

/// Whether the last byte of `record` checks out.
pub fn is_intact(record: &[u8]) -> bool {
    match record.split_last() {
        Some((last, body)) => *last == sum(body),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_single_damaged_byte_is_caught() {
        let mut record = *b"20261125_101305_00001_aaaaa\x01\x02\x03\x04\x05\x00";
        seal(&mut record);
        assert!(is_intact(&record));
        for at in 0..record.len() {
            for delta in 1..=255u8 {
                let mut damaged = record;
                damaged[at] = damaged[at].wrapping_add(delta);
                assert!(!is_intact(&damaged), "byte {at} + {delta}");
            }
        }
        assert!(!is_intact(&[0u8; 8]), "zeros are not a record");
        assert!(!is_intact(&[]));
    }
}
