//! The Trino types the emulator can produce, their display names and the
//! `typeSignature` JSON clients use to decode values.

use serde_json::{json, Value as Json};

/// Largest precision of a Trino DECIMAL.
pub const MAX_DECIMAL_PRECISION: u32 = 38;
/// The length Trino reports for an unbounded VARCHAR.
pub const UNBOUNDED_VARCHAR_LENGTH: u32 = 2_147_483_647;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    Boolean,
    Tinyint,
    Smallint,
    Integer,
    Bigint,
    Real,
    Double,
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `None` is the unbounded `varchar`.
    Varchar(Option<u32>),
    /// The type of a bare NULL literal.
    Unknown,
    Array(Box<Type>),
    /// `timestamp(p) with time zone`; its values are held rendered, as the
    /// JSON protocol sends them (`2026-11-25 17:20:01.123 UTC`).
    TimestampWithTimeZone(u32),
    /// Values held as their JSON text (`2026-11-25`).
    Date,
    /// `timestamp(p)`; values held as their JSON text (`2026-11-25 17:20:01.123`).
    Timestamp(u32),
}

impl Type {
    /// The name Trino prints in `columns[].type`, e.g. `decimal(3,1)`.
    pub fn display_name(&self) -> String {
        match self {
            Type::Boolean => "boolean".into(),
            Type::Tinyint => "tinyint".into(),
            Type::Smallint => "smallint".into(),
            Type::Real => "real".into(),
            Type::Date => "date".into(),
            Type::Timestamp(precision) => format!("timestamp({precision})"),
            Type::Integer => "integer".into(),
            Type::Bigint => "bigint".into(),
            Type::Double => "double".into(),
            Type::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            Type::Varchar(Some(n)) => format!("varchar({n})"),
            Type::Varchar(None) => "varchar".into(),
            Type::Unknown => "unknown".into(),
            Type::Array(element) => format!("array({})", element.display_name()),
            Type::TimestampWithTimeZone(precision) => format!("timestamp({precision}) with time zone"),
        }
    }

    /// The type as an SQLite column declaration: Trino's name, which SQLite
    /// hands back as the column's declared type (`with time zone` joined by
    /// underscores, as SQLite type names cannot hold the keyword WITH).
    pub fn sqlite_declaration(&self) -> String {
        match self {
            Type::TimestampWithTimeZone(precision) => format!("timestamp_with_time_zone({precision})"),
            other => other.display_name(),
        }
    }

    /// Trino's `ClientTypeSignature` JSON.
    pub fn type_signature(&self) -> Json {
        let long = |value: u32| json!({"kind": "LONG", "value": value});
        let (raw, arguments) = match self {
            Type::Boolean => ("boolean", vec![]),
            Type::Tinyint => ("tinyint", vec![]),
            Type::Smallint => ("smallint", vec![]),
            Type::Real => ("real", vec![]),
            Type::Date => ("date", vec![]),
            Type::Timestamp(precision) => ("timestamp", vec![long(*precision)]),
            Type::Integer => ("integer", vec![]),
            Type::Bigint => ("bigint", vec![]),
            Type::Double => ("double", vec![]),
            Type::Decimal { precision, scale } => ("decimal", vec![long(*precision), long(*scale)]),
            Type::Varchar(length) => ("varchar", vec![long(length.unwrap_or(UNBOUNDED_VARCHAR_LENGTH))]),
            Type::Unknown => ("unknown", vec![]),
            Type::Array(element) => ("array", vec![json!({"kind": "TYPE", "value": element.type_signature()})]),
            Type::TimestampWithTimeZone(precision) => ("timestamp with time zone", vec![long(*precision)]),
        };
        json!({"rawType": raw, "arguments": arguments})
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Type::Tinyint
                | Type::Smallint
                | Type::Integer
                | Type::Bigint
                | Type::Real
                | Type::Double
                | Type::Decimal { .. }
        )
    }

    /// The decimal type an exact numeric type widens to in decimal arithmetic.
    pub fn as_decimal(&self) -> Option<(u32, u32)> {
        match self {
            Type::Tinyint => Some((3, 0)),
            Type::Smallint => Some((5, 0)),
            Type::Integer => Some((10, 0)),
            Type::Bigint => Some((19, 0)),
            Type::Decimal { precision, scale } => Some((*precision, *scale)),
            _ => None,
        }
    }
}

/// One SQL value. Integers of both widths are held as i64; a decimal holds its
/// unscaled value (the scale lives in its type).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i64),
    Double(f64),
    Decimal(i128),
    Varchar(String),
    Array(Vec<Value>),
}

impl Value {
    /// How Trino's JSON protocol encodes the value of a column of type `ty`.
    pub fn to_json(&self, ty: &Type) -> Json {
        match (self, ty) {
            (Value::Null, _) => Json::Null,
            (Value::Boolean(b), _) => Json::Bool(*b),
            (Value::Int(i), _) => json!(i),
            (Value::Double(d), _) => double_to_json(*d),
            (Value::Decimal(unscaled), Type::Decimal { scale, .. }) => Json::String(format_decimal(*unscaled, *scale)),
            (Value::Decimal(unscaled), _) => Json::String(unscaled.to_string()),
            (Value::Varchar(s), _) => Json::String(s.clone()),
            (Value::Array(items), Type::Array(element)) => {
                Json::Array(items.iter().map(|v| v.to_json(element)).collect())
            }
            (Value::Array(items), _) => Json::Array(items.iter().map(|v| v.to_json(&Type::Unknown)).collect()),
        }
    }
}

/// Trino writes non-finite doubles as the strings Java prints for them.
fn double_to_json(d: f64) -> Json {
    if d.is_nan() {
        Json::String("NaN".into())
    } else if d.is_infinite() {
        Json::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        json!(d)
    }
}

/// `12345` with scale 2 → `"123.45"`; Trino keeps trailing zeros (`1.50`).
pub fn format_decimal(unscaled: i128, scale: u32) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!("{}.{}", &digits[..digits.len() - scale], &digits[digits.len() - scale..])
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(format_decimal(150, 2), "1.50");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(42, 0), "42");
        assert_eq!(format_decimal(0, 1), "0.0");
    }

    #[test]
    fn signatures_match_trino() {
        assert_eq!(
            Type::Varchar(Some(3)).type_signature(),
            json!({"rawType": "varchar", "arguments": [{"kind": "LONG", "value": 3}]})
        );
        assert_eq!(Type::Varchar(None).type_signature()["arguments"][0]["value"], json!(UNBOUNDED_VARCHAR_LENGTH));
        assert_eq!(Type::Decimal { precision: 3, scale: 1 }.display_name(), "decimal(3,1)");
        assert_eq!(Type::Array(Box::new(Type::Bigint)).type_signature()["arguments"][0]["value"]["rawType"], "bigint");
        assert_eq!(Type::TimestampWithTimeZone(3).display_name(), "timestamp(3) with time zone");
        assert_eq!(
            Type::TimestampWithTimeZone(3).type_signature(),
            json!({"rawType": "timestamp with time zone", "arguments": [{"kind": "LONG", "value": 3}]})
        );
    }
}
