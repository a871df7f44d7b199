//! Identifiers as Trino makes them: query ids (`QueryIdGenerator`), the
//! per-process coordinator id, and the per-query slugs that make nextUris
//! unguessable (`Slug`).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::{SystemTime, UNIX_EPOCH};

/// Trino's coordinator-id alphabet: no l, o, 0 or 1.
pub const COORDINATOR_ID_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
pub const COORDINATOR_ID_LENGTH: usize = 5;

pub fn random_coordinator_id() -> String {
    (0..COORDINATOR_ID_LENGTH)
        .map(|_| COORDINATOR_ID_ALPHABET[fastrand::usize(..COORDINATOR_ID_ALPHABET.len())] as char)
        .collect()
}

pub fn is_valid_coordinator_id(id: &str) -> bool {
    id.len() == COORDINATOR_ID_LENGTH && id.bytes().all(|b| COORDINATOR_ID_ALPHABET.contains(&b))
}

/// Generates `yyyyMMdd_HHmmss_NNNNN_ccccc` ids. Like Trino, the counter restarts
/// each UTC day and at most 100,000 ids are handed out per day and second rollover.
pub struct QueryIdGenerator {
    coordinator_id: String,
    counter: u32,
    day: u64,
}

impl QueryIdGenerator {
    pub fn new(coordinator_id: String) -> Self {
        QueryIdGenerator { coordinator_id, counter: 0, day: 0 }
    }

    pub fn coordinator_id(&self) -> &str {
        &self.coordinator_id
    }

    pub fn next_id(&mut self) -> String {
        self.next_id_at(unix_seconds())
    }

    fn next_id_at(&mut self, now: u64) -> String {
        let day = now / 86_400;
        if day != self.day {
            self.day = day;
            self.counter = 0;
        }
        // Trino waits for the next second once the counter is exhausted; the
        // emulator never serves that many queries, so it wraps.
        let index = self.counter % 100_000;
        self.counter += 1;
        format!("{}_{:05}_{}", format_timestamp(now), index, self.coordinator_id)
    }
}

pub fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn unix_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// `yyyyMMdd_HHmmss` in UTC.
pub fn format_timestamp(unix: u64) -> String {
    let (y, m, d) = civil_from_days((unix / 86_400) as i64);
    let secs = unix % 86_400;
    format!("{y:04}{m:02}{d:02}_{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// ISO-8601 UTC with milliseconds, as Trino prints instants in JSON.
pub fn format_instant(unix_ms: u128) -> String {
    let secs = (unix_ms / 1000) as u64;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s / 60 % 60, s % 60, unix_ms % 1000)
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Which resource a slug was made for; part of what is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlugContext {
    QueuedQuery,
    ExecutingQuery,
}

/// Per-query secret: only the coordinator that created a query can make or
/// check its slugs, so a nextUri cannot be forged or replayed elsewhere.
#[derive(Clone)]
pub struct Slug {
    key: [u8; 16],
}

/// `N` random bytes: the per-process and per-query secrets (slug keys, UI
/// signing key, spooling keys) and random names.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    bytes
}

impl Slug {
    pub fn random() -> Self {
        Slug { key: random_bytes() }
    }

    pub fn make(&self, context: SlugContext, token: u64) -> String {
        // Trino: hmacSha1(key).newHasher().putInt(context.ordinal()).putLong(token);
        // Guava's hasher writes both little-endian.
        let ordinal: i32 = match context {
            SlugContext::QueuedQuery => 0,
            SlugContext::ExecutingQuery => 1,
        };
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(&ordinal.to_le_bytes());
        mac.update(&(token as i64).to_le_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("y{hex}")
    }

    pub fn is_valid(&self, context: SlugContext, slug: &str, token: u64) -> bool {
        let expected = self.make(context, token);
        // Constant-time comparison, as Trino does.
        expected.len() == slug.len() && expected.bytes().zip(slug.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_have_trino_format() {
        let mut generator = QueryIdGenerator::new("ab2cd".into());
        let first = generator.next_id_at(1_764_064_800); // 2025-11-25 10:00:00 UTC
        assert_eq!(first, "20251125_100000_00000_ab2cd");
        assert_eq!(generator.next_id_at(1_764_064_801), "20251125_100001_00001_ab2cd");
        assert_eq!(generator.next_id_at(1_764_064_800 + 86_400), "20251126_100000_00000_ab2cd");
    }

    #[test]
    fn coordinator_ids_use_trinos_alphabet() {
        for _ in 0..100 {
            let id = random_coordinator_id();
            assert!(is_valid_coordinator_id(&id), "{id}");
            assert!(!id.contains(['l', 'o', '0', '1']));
        }
    }

    #[test]
    fn slugs_bind_context_and_token() {
        let slug = Slug::random();
        let s = slug.make(SlugContext::ExecutingQuery, 3);
        assert!(s.starts_with('y'));
        assert_eq!(s.len(), 41, "y + 40 hex digits of HMAC-SHA1");
        assert!(slug.is_valid(SlugContext::ExecutingQuery, &s, 3));
        assert!(!slug.is_valid(SlugContext::ExecutingQuery, &s, 4));
        assert!(!slug.is_valid(SlugContext::QueuedQuery, &s, 3));
        assert!(!Slug::random().is_valid(SlugContext::ExecutingQuery, &s, 3));
    }

    #[test]
    fn instants() {
        assert_eq!(format_instant(1_764_064_800_123), "2025-11-25T10:00:00.123Z");
    }
}
