//! Trino's session properties: the system ones (`SystemSessionProperties`)
//! with their types and validation, and catalog properties (`catalog.name`).
//! The emulator's catalogs define no session properties.

use super::error::{QueryError, CATALOG_NOT_FOUND, GENERIC_INTERNAL_ERROR, INVALID_SESSION_PROPERTY};
use super::tpch::all_catalogs;
use super::types::{Type, Value};

/// How a property's value is typed and checked (`PropertyMetadata.decode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// VARCHAR holding an Airlift duration (`durationProperty`).
    Duration,
    /// VARCHAR holding an Airlift data size (`dataSizeProperty`).
    DataSize,
    /// VARCHAR naming a Java enum constant, compared upper-cased (`enumProperty`).
    Enum(&'static [&'static str]),
    /// INTEGER, optionally with an inclusive lower bound (`validateIntegerValue`).
    Integer {
        min: Option<i64>,
    },
    Boolean,
}

#[derive(Clone, Copy, Debug)]
pub struct Property {
    pub name: &'static str,
    pub kind: Kind,
}

impl Property {
    /// The SQL type a SET SESSION value is coerced to.
    pub fn sql_type(&self) -> Type {
        match self.kind {
            Kind::Duration | Kind::DataSize | Kind::Enum(_) => Type::Varchar(None),
            Kind::Integer { .. } => Type::Integer,
            Kind::Boolean => Type::Boolean,
        }
    }

    /// `PropertyMetadata.decode` of a value of the property's SQL type: the
    /// validation message Trino reports when it fails.
    pub fn decode(&self, value: &Value) -> Result<(), String> {
        match (self.kind, value) {
            (Kind::Duration, Value::Varchar(text)) => parse_duration(text),
            (Kind::DataSize, Value::Varchar(text)) => parse_data_size(text),
            (Kind::Enum(values), Value::Varchar(text)) => {
                if values.iter().any(|v| *v == text.to_uppercase()) {
                    Ok(())
                } else {
                    Err(format!("Invalid value [{text}]. Valid values: [{}]", values.join(", ")))
                }
            }
            (Kind::Integer { min: Some(min) }, Value::Int(i)) if *i < min => {
                Err(format!("{} must be equal or greater than {min}", self.name))
            }
            _ => Ok(()),
        }
    }
}

const JOIN_DISTRIBUTION_TYPES: &[&str] = &["BROADCAST", "PARTITIONED", "AUTOMATIC"];
const JOIN_REORDERING_STRATEGIES: &[&str] = &["NONE", "ELIMINATE_CROSS_JOINS", "AUTOMATIC"];

/// The system session properties the emulator knows (a subset of Trino's).
pub const SYSTEM_PROPERTIES: &[Property] = &[
    Property { name: "enable_dynamic_filtering", kind: Kind::Boolean },
    Property { name: "join_distribution_type", kind: Kind::Enum(JOIN_DISTRIBUTION_TYPES) },
    Property { name: "join_max_broadcast_table_size", kind: Kind::DataSize },
    Property { name: "join_reordering_strategy", kind: Kind::Enum(JOIN_REORDERING_STRATEGIES) },
    Property { name: "max_hash_partition_count", kind: Kind::Integer { min: Some(1) } },
    Property { name: "min_hash_partition_count", kind: Kind::Integer { min: Some(1) } },
    Property { name: "query_max_execution_time", kind: Kind::Duration },
    Property { name: "query_max_run_time", kind: Kind::Duration },
    Property { name: "query_priority", kind: Kind::Integer { min: None } },
    Property { name: "redistribute_writes", kind: Kind::Boolean },
    Property { name: "spill_enabled", kind: Kind::Boolean },
];

pub fn system_property(name: &str) -> Option<&'static Property> {
    SYSTEM_PROPERTIES.iter().find(|p| p.name == name)
}

/// `^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$`: the number and the unit.
fn number_and_unit(text: &str) -> Option<(&str, &str)> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let unit_start = trimmed.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = trimmed.split_at(unit_start);
    let number = number.trim_end_matches(|c: char| c.is_ascii_whitespace());
    let (integer, fraction) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let valid = digits(integer) && fraction.is_none_or(digits) && unit.bytes().all(|b| b.is_ascii_alphabetic());
    valid.then_some((number, unit))
}

/// Airlift's `Duration.valueOf`.
pub fn parse_duration(text: &str) -> Result<(), String> {
    let (_, unit) =
        number_and_unit(text).ok_or_else(|| format!("duration is not a valid data duration string: {text}"))?;
    match unit {
        "ns" | "us" | "ms" | "s" | "m" | "h" | "d" => Ok(()),
        _ => Err(format!("Unknown time unit: {unit}")),
    }
}

/// Airlift's `DataSize.valueOf`.
pub fn parse_data_size(text: &str) -> Result<(), String> {
    let (_, unit) = number_and_unit(text).ok_or_else(|| format!("size is not a valid data size string: {text}"))?;
    match unit {
        "B" | "kB" | "MB" | "GB" | "TB" | "PB" => Ok(()),
        _ => Err(format!("Unknown unit: {unit}")),
    }
}

/// Java's `Integer.parseInt`: an optional sign and decimal digits within range.
fn parse_java_int(text: &str) -> Result<i64, QueryError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let parsed =
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) { text.parse::<i32>().ok() } else { None };
    parsed
        .map(i64::from)
        .ok_or_else(|| QueryError::new(GENERIC_INTERNAL_ERROR, format!("For input string: \"{text}\"")))
}

/// Checks a property sent in `X-Trino-Session` at dispatch
/// (`Session.beginTransactionId` → `validateSystemSessionProperty`):
/// unknown → INVALID_SESSION_PROPERTY `Session property 'x' does not exist`;
/// a bad value → `Session property 'x' is invalid: …`; an integer that does
/// not parse fails with Java's `NumberFormatException` message; a boolean
/// other than `true` silently reads as false.
pub fn check_header_property(name: &str, value: &str, catalogs: &[String]) -> Result<(), QueryError> {
    if let Some((catalog, _)) = name.split_once('.') {
        if !all_catalogs(catalogs).iter().any(|c| c == catalog) {
            return Err(QueryError::new(CATALOG_NOT_FOUND, format!("Catalog '{catalog}' not found")));
        }
        return Err(QueryError::new(INVALID_SESSION_PROPERTY, format!("Session property '{name}' does not exist")));
    }
    let property = system_property(name).ok_or_else(|| {
        QueryError::new(INVALID_SESSION_PROPERTY, format!("Session property '{name}' does not exist"))
    })?;
    let decoded = match property.kind {
        Kind::Integer { .. } => Value::Int(parse_java_int(value)?),
        Kind::Boolean => Value::Boolean(value.eq_ignore_ascii_case("true")),
        _ => Value::Varchar(value.to_string()),
    };
    property.decode(&decoded).map_err(|message| {
        QueryError::new(INVALID_SESSION_PROPERTY, format!("Session property '{name}' is invalid: {message}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_follow_airlift() {
        let durations = [
            ("1h", Ok(())),
            ("30s", Ok(())),
            ("1.5m", Ok(())),
            (" 10 ms ", Ok(())),
            ("abc", Err("duration is not a valid data duration string: abc")),
            ("", Err("duration is not a valid data duration string: ")),
            ("1.m", Err("duration is not a valid data duration string: 1.m")),
            ("1x", Err("Unknown time unit: x")),
            ("1H", Err("Unknown time unit: H")),
        ];
        for (text, expected) in durations {
            assert_eq!(parse_duration(text), expected.map_err(String::from), "{text}");
        }
        assert_eq!(parse_data_size("100MB"), Ok(()));
        assert_eq!(parse_data_size("1kb"), Err("Unknown unit: kb".into()));
        assert_eq!(parse_data_size("big"), Err("size is not a valid data size string: big".into()));
    }

    #[test]
    fn header_properties() {
        let catalogs = vec!["system".to_string()];
        type Case<'a> = (&'a str, &'a str, Result<(), (&'a str, &'a str)>);
        let cases: &[Case] = &[
            ("query_max_run_time", "1h", Ok(())),
            ("join_distribution_type", "broadcast", Ok(())),
            ("spill_enabled", "yes", Ok(())),
            ("max_hash_partition_count", "8", Ok(())),
            ("query_priority", "-3", Ok(())),
            ("foo", "1", Err(("INVALID_SESSION_PROPERTY", "Session property 'foo' does not exist"))),
            ("nope.x", "1", Err(("CATALOG_NOT_FOUND", "Catalog 'nope' not found"))),
            ("tpch.x", "1", Err(("INVALID_SESSION_PROPERTY", "Session property 'tpch.x' does not exist"))),
            (
                "join_distribution_type",
                "foo",
                Err((
                    "INVALID_SESSION_PROPERTY",
                    "Session property 'join_distribution_type' is invalid: Invalid value [foo]. Valid values: [BROADCAST, PARTITIONED, AUTOMATIC]",
                )),
            ),
            (
                "query_max_run_time",
                "abc",
                Err((
                    "INVALID_SESSION_PROPERTY",
                    "Session property 'query_max_run_time' is invalid: duration is not a valid data duration string: abc",
                )),
            ),
            ("max_hash_partition_count", "abc", Err(("GENERIC_INTERNAL_ERROR", "For input string: \"abc\""))),
            ("query_priority", "3000000000", Err(("GENERIC_INTERNAL_ERROR", "For input string: \"3000000000\""))),
            (
                "max_hash_partition_count",
                "0",
                Err((
                    "INVALID_SESSION_PROPERTY",
                    "Session property 'max_hash_partition_count' is invalid: max_hash_partition_count must be equal or greater than 1",
                )),
            ),
        ];
        for (name, value, expected) in cases {
            let got = check_header_property(name, value, &catalogs).map_err(|e| (e.code.name, e.message));
            let expected = expected.map_err(|(code, message)| (code, message.to_string()));
            assert_eq!(got, expected, "{name}={value}");
        }
    }
}
