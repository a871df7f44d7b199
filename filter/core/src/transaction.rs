//! Trino transactions as the gateway sees them, from headers and the first
//! bytes of a statement only.
//!
//! A client that is not in auto-commit mode sends `START TRANSACTION`; the
//! coordinator that runs it creates the transaction (a random UUID) and names
//! it in `X-Trino-Started-Transaction-Id` on the answers of that query's
//! executing phase (never on the POST answer). Every later statement carries
//! it in `X-Trino-Transaction-Id` and must reach that coordinator: no other
//! one knows it. `COMMIT` or `ROLLBACK` ends it (the coordinator clears it
//! before committing, whatever the outcome). Clients send
//! `X-Trino-Transaction-Id: NONE` outside transactions (the Python client on
//! every statement), so the header alone cannot tell which query starts one:
//! the statement's first keyword does.

pub const TRANSACTION_ID_HEADER: &str = "x-trino-transaction-id";
pub const STARTED_TRANSACTION_ID_HEADER: &str = "x-trino-started-transaction-id";

/// A transaction id: a UUID, kept as its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 16]);

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl TransactionId {
    /// The canonical text form only (`8-4-4-4-12` hex digits, any case), the
    /// only form Trino writes.
    pub fn parse(text: &str) -> Option<TransactionId> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut digits = bytes.iter().enumerate().filter(|(i, _)| !matches!(i, 8 | 13 | 18 | 23)).map(|(_, b)| *b);
        if [8, 13, 18, 23].iter().any(|i| bytes.get(*i) != Some(&b'-')) {
            return None;
        }
        for byte in out.iter_mut() {
            let high = hex_value(digits.next()?)?;
            let low = hex_value(digits.next()?)?;
            *byte = high << 4 | low;
        }
        Some(TransactionId(out))
    }

    pub fn as_string(&self) -> String {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }
}

/// What a statement's `X-Trino-Transaction-Id` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InTransaction {
    /// Absent, empty or `NONE` (any case), as Trino reads it.
    No,
    Yes(TransactionId),
    /// Not a UUID: Trino refuses the statement with a 400.
    Malformed(String),
}

pub fn of_header(value: Option<&str>) -> InTransaction {
    match value.map(str::trim) {
        None | Some("") => InTransaction::No,
        Some(none) if none.eq_ignore_ascii_case("none") => InTransaction::No,
        Some(text) => match TransactionId::parse(text) {
            Some(id) => InTransaction::Yes(id),
            None => InTransaction::Malformed(text.to_string()),
        },
    }
}

/// Trino's answer to a transaction id that is not a UUID (the
/// `IllegalArgumentException` of `UUID.fromString`, as a 400).
pub fn malformed_message(value: &str) -> String {
    let shown: String = value.chars().take(100).collect();
    format!("Invalid UUID string: {shown}")
}

/// Trino's message for a transaction it does not know (`NotInTransactionException`).
pub fn unknown_message(id: &TransactionId) -> String {
    format!(
        "Unknown transaction ID: {}. Possibly expired? Commands ignored until end of transaction block",
        id.as_string()
    )
}

/// Transaction control by the statement's first keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `START TRANSACTION ...`: its answers will name a new transaction.
    Start,
    /// `COMMIT` or `ROLLBACK`: the transaction ends with it.
    End,
    Other,
}

/// The first keyword of a SQL text (after blanks, `--` and `/* */`
/// comments), from its first bytes; anything unreadable is `Other`.
pub fn control_of(sql: &[u8]) -> Control {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_ascii_start();
        if let Some(after) = trimmed.strip_prefix(b"--") {
            rest = after.iter().position(|b| *b == b'\n').and_then(|n| after.get(n..)).unwrap_or_default();
        } else if let Some(after) = trimmed.strip_prefix(b"/*") {
            rest = after.windows(2).position(|w| w == b"*/").and_then(|n| after.get(n + 2..)).unwrap_or_default();
        } else {
            rest = trimmed;
            break;
        }
    }
    let word = |text: &[u8]| -> usize { text.iter().take_while(|b| b.is_ascii_alphabetic()).count() };
    let first_len = word(rest);
    let (first, after) = rest.split_at(first_len);
    if first.eq_ignore_ascii_case(b"commit") || first.eq_ignore_ascii_case(b"rollback") {
        return Control::End;
    }
    if first.eq_ignore_ascii_case(b"start") {
        let after = after.trim_ascii_start();
        if after.get(..word(after)).is_some_and(|w| w.eq_ignore_ascii_case(b"transaction")) {
            return Control::Start;
        }
    }
    Control::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "7f0c3a7e-5d4b-4c0e-9a3e-1b2c3d4e5f60";

    #[test]
    fn ids_are_canonical_uuids() {
        let id = TransactionId::parse(ID).unwrap_or_else(|| panic!());
        assert_eq!(id.as_string(), ID);
        assert_eq!(TransactionId::parse(&ID.to_uppercase()), Some(id));
        for bad in
            ["", "none", "7f0c3a7e5d4b4c0e9a3e1b2c3d4e5f60", "7f0c3a7e-5d4b-4c0e-9a3e-1b2c3d4e5f6g", &format!("{ID}0")]
        {
            assert_eq!(TransactionId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_header_as_trino_reads_it() {
        assert_eq!(of_header(None), InTransaction::No);
        assert_eq!(of_header(Some("NONE")), InTransaction::No);
        assert_eq!(of_header(Some(" none ")), InTransaction::No);
        assert_eq!(of_header(Some(ID)), InTransaction::Yes(TransactionId::parse(ID).unwrap_or_else(|| panic!())));
        assert_eq!(of_header(Some("x")), InTransaction::Malformed("x".into()));
    }

    #[test]
    fn control_statements_by_their_first_keyword() {
        for (sql, control) in [
            ("START TRANSACTION", Control::Start),
            ("  start\n transaction ISOLATION LEVEL READ COMMITTED", Control::Start),
            ("-- a comment\n/* another */ START TRANSACTION", Control::Start),
            ("COMMIT", Control::End),
            ("commit work", Control::End),
            ("ROLLBACK", Control::End),
            ("SELECT 'START TRANSACTION'", Control::Other),
            ("START", Control::Other),
            ("STARTTRANSACTION", Control::Other),
            ("/* unterminated START TRANSACTION", Control::Other),
            ("", Control::Other),
        ] {
            assert_eq!(control_of(sql.as_bytes()), control, "{sql}");
        }
    }
}
