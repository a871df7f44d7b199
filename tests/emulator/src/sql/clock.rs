//! `now()` / `current_timestamp`: the query's start as Trino renders a
//! `timestamp(3) with time zone` in the session's zone
//! (`uuuu-MM-dd HH:mm:ss.SSS <zone>`), and the session zone's validity.

use super::error::{QueryError, NOT_SUPPORTED};
use chrono::{Offset, TimeZone};

/// Zone ids Trino's `TimeZoneKey` maps to UTC (compared case-insensitively).
const UTC_ALIASES: &[&str] = &[
    "utc",
    "z",
    "gmt",
    "ut",
    "uct",
    "etc/utc",
    "etc/gmt",
    "etc/ut",
    "etc/uct",
    "gmt0",
    "etc/gmt0",
    "gmt+0",
    "gmt-0",
    "etc/gmt+0",
    "etc/gmt-0",
    "universal",
    "etc/universal",
    "zulu",
    "etc/zulu",
    "greenwich",
    "etc/greenwich",
];

/// The zone as Trino prints it and its offset from UTC in minutes at `at_ms`:
/// UTC's aliases, fixed offsets, and IANA region ids (case-insensitive, as
/// Trino's zone index).
fn zone(time_zone: &str, at_ms: u128) -> Result<(String, i64), QueryError> {
    let id = time_zone.trim();
    if UTC_ALIASES.iter().any(|alias| alias.eq_ignore_ascii_case(id)) {
        return Ok(("UTC".into(), 0));
    }
    let bytes = id.as_bytes();
    let digits = |range: std::ops::Range<usize>| id.get(range).and_then(|d| d.parse::<i64>().ok());
    if bytes.len() == 6 && (bytes[0] == b'+' || bytes[0] == b'-') && bytes[3] == b':' {
        if let (Some(hours), Some(minutes)) = (digits(1..3), digits(4..6)) {
            if hours <= 14 && minutes < 60 && bytes[1..3].iter().chain(&bytes[4..6]).all(u8::is_ascii_digit) {
                let offset = (hours * 60 + minutes) * if bytes[0] == b'-' { -1 } else { 1 };
                if offset == 0 {
                    return Ok(("UTC".into(), 0));
                }
                return Ok((id.to_string(), offset));
            }
        }
    }
    match chrono_tz::Tz::from_str_insensitive(id) {
        Ok(named) => {
            let instant = chrono::DateTime::from_timestamp_millis(i64::try_from(at_ms).unwrap_or(i64::MAX))
                .unwrap_or_default()
                .naive_utc();
            let offset = named.offset_from_utc_datetime(&instant).fix().local_minus_utc();
            Ok((named.name().to_string(), i64::from(offset) / 60))
        }
        Err(_) => Err(not_supported(id)),
    }
}

/// `TimeZoneKey.getTimeZoneKey`: Trino refuses a zone it does not know when
/// it creates the session, so the query fails in dispatch.
fn not_supported(id: &str) -> QueryError {
    QueryError::new(NOT_SUPPORTED, format!("Time zone not supported: {id}"))
}

/// Checks the session's zone (`X-Trino-Time-Zone`) as session creation does.
pub fn check_time_zone(time_zone: &str) -> Result<(), QueryError> {
    zone(time_zone, 0).map(|_| ())
}

/// `start_ms` (Unix milliseconds) in `time_zone`, e.g. `2026-11-25 17:20:01.123 UTC`.
pub fn render_timestamp_with_time_zone(start_ms: u128, time_zone: &str) -> Result<String, QueryError> {
    let (zone, offset_minutes) = zone(time_zone, start_ms)?;
    let millis = i64::try_from(start_ms).unwrap_or(i64::MAX) + offset_minutes * 60_000;
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = crate::ids::civil_from_days(days);
    let (hour, minute, second, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1_000 % 60, in_day % 1_000);
    Ok(format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{milli:03} {zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_the_session_zone() {
        // 2026-11-25 17:20:01.123 UTC
        let start = 1_795_627_201_123u128;
        let cases = [
            ("UTC", Ok("2026-11-25 17:20:01.123 UTC")),
            ("Etc/UTC", Ok("2026-11-25 17:20:01.123 UTC")),
            ("Z", Ok("2026-11-25 17:20:01.123 UTC")),
            ("GMT", Ok("2026-11-25 17:20:01.123 UTC")),
            ("+05:30", Ok("2026-11-25 22:50:01.123 +05:30")),
            ("-08:00", Ok("2026-11-25 09:20:01.123 -08:00")),
            ("+00:00", Ok("2026-11-25 17:20:01.123 UTC")),
            ("-18:00", Err("Time zone not supported: -18:00")),
            ("Europe/Paris", Ok("2026-11-25 18:20:01.123 Europe/Paris")),
            ("america/los_angeles", Ok("2026-11-25 09:20:01.123 America/Los_Angeles")),
            ("Mars/Olympus_Mons", Err("Time zone not supported: Mars/Olympus_Mons")),
        ];
        for (zone, expected) in cases {
            let got = render_timestamp_with_time_zone(start, zone).map_err(|e| e.message);
            assert_eq!(got, expected.map(String::from).map_err(String::from), "{zone}");
        }
        assert_eq!(render_timestamp_with_time_zone(0, "-01:00").unwrap_or_default(), "1969-12-31 23:00:00.000 -01:00");
        // Summer time: the offset is the zone's at that instant.
        let july = 1_783_000_000_000u128; // 2026-07-02
        assert!(render_timestamp_with_time_zone(july, "Europe/Paris").unwrap_or_default().contains(" Europe/Paris"));
        assert_eq!(check_time_zone("Europe/Paris"), Ok(()));
        assert!(check_time_zone("Nowhere/Special").is_err());
    }
}
