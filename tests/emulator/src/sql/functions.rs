//! SQLite functions that give Trino's semantics where SQLite's differ: CAST
//! (rounding, range checks, `INVALID_CAST_ARGUMENT`), division and modulus
//! by zero (an error, not NULL), `concat` (NULL in, NULL out) and the bounds
//! of `sequence`. Errors travel through SQLite as `TRINO:<CODE>:<message>`.

use super::error::{ErrorCode, QueryError, DIVISION_BY_ZERO, INVALID_CAST_ARGUMENT, INVALID_FUNCTION_ARGUMENT};
use super::types::Type;
use super::typing::{parse_type, round_to_integer};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::Value as Sql;
use rusqlite::Connection;

const PREFIX: &str = "TRINO:";

fn fail(error: QueryError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(format!("{PREFIX}{}:{}", error.code.name, error.message).into())
}

/// A Trino error carried in an SQLite message, if it is one.
pub fn carried_error(message: &str, codes: &[ErrorCode]) -> Option<QueryError> {
    let rest = &message[message.find(PREFIX)? + PREFIX.len()..];
    let (name, text) = rest.split_once(':')?;
    let code = codes.iter().find(|c| c.name == name)?;
    Some(QueryError::new(*code, text))
}

fn cast_error(value: &Sql, target: &Type) -> QueryError {
    let shown = match value {
        Sql::Text(t) => t.clone(),
        Sql::Integer(i) => i.to_string(),
        Sql::Real(r) => r.to_string(),
        _ => String::new(),
    };
    QueryError::new(INVALID_CAST_ARGUMENT, format!("Cannot cast '{shown}' to {}", target.display_name().to_uppercase()))
}

fn timestamp_text(text: &str, precision: u32) -> Option<String> {
    let text = text.trim();
    let formats = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f"];
    let parsed = formats
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    let base = parsed.format("%Y-%m-%d %H:%M:%S").to_string();
    if precision == 0 {
        return Some(base);
    }
    let nanos = format!("{:09}", parsed.and_utc().timestamp_subsec_nanos());
    let fraction: String = nanos.chars().chain(std::iter::repeat('0')).take(precision as usize).collect();
    Some(format!("{base}.{fraction}"))
}

/// Trino's CAST of an SQLite value to `target`.
pub fn cast(value: Sql, target: &Type) -> Result<Sql, QueryError> {
    if matches!(value, Sql::Null) {
        return Ok(Sql::Null);
    }
    let text_of = |value: &Sql| match value {
        Sql::Text(t) => Some(t.trim().to_string()),
        _ => None,
    };
    Ok(match target {
        Type::Boolean => match &value {
            Sql::Integer(i) => Sql::Integer(i64::from(*i != 0)),
            Sql::Real(r) => Sql::Integer(i64::from(*r != 0.0)),
            Sql::Text(t) if t.trim().eq_ignore_ascii_case("true") => Sql::Integer(1),
            Sql::Text(t) if t.trim().eq_ignore_ascii_case("false") => Sql::Integer(0),
            _ => return Err(cast_error(&value, target)),
        },
        Type::Tinyint | Type::Smallint | Type::Integer | Type::Bigint => match &value {
            Sql::Integer(i) => Sql::Integer(round_to_integer(*i as f64, target).map(|_| *i)?),
            Sql::Real(r) => Sql::Integer(round_to_integer(*r, target)?),
            Sql::Text(_) => {
                let text = text_of(&value).unwrap_or_default();
                let parsed = text.parse::<i64>().map_err(|_| cast_error(&value, target))?;
                Sql::Integer(round_to_integer(parsed as f64, target).map(|_| parsed)?)
            }
            Sql::Null | Sql::Blob(_) => return Err(cast_error(&value, target)),
        },
        Type::Double | Type::Real => match &value {
            Sql::Integer(i) => Sql::Real(*i as f64),
            Sql::Real(r) => Sql::Real(*r),
            Sql::Text(_) => {
                Sql::Real(text_of(&value).unwrap_or_default().parse::<f64>().map_err(|_| cast_error(&value, target))?)
            }
            _ => return Err(cast_error(&value, target)),
        },
        Type::Decimal { precision, scale } => {
            let number = match &value {
                Sql::Integer(i) => *i as f64,
                Sql::Real(r) => *r,
                Sql::Text(_) => {
                    text_of(&value).unwrap_or_default().parse::<f64>().map_err(|_| cast_error(&value, target))?
                }
                _ => return Err(cast_error(&value, target)),
            };
            let factor = 10f64.powi(*scale as i32);
            let rounded = (number * factor).round() / factor;
            if rounded.abs() >= 10f64.powi((*precision - *scale) as i32) {
                return Err(QueryError::new(
                    super::error::NUMERIC_VALUE_OUT_OF_RANGE,
                    format!("Cannot cast to {}: {number}", target.display_name()),
                ));
            }
            Sql::Real(rounded)
        }
        Type::Varchar(limit) => {
            let text = match &value {
                Sql::Text(t) => t.clone(),
                Sql::Integer(i) => i.to_string(),
                Sql::Real(r) => r.to_string(),
                Sql::Blob(_) | Sql::Null => return Err(cast_error(&value, target)),
            };
            match limit {
                Some(n) => Sql::Text(text.chars().take(*n as usize).collect()),
                None => Sql::Text(text),
            }
        }
        Type::Date => {
            let text = text_of(&value).ok_or_else(|| cast_error(&value, target))?;
            let day = text.get(..10).unwrap_or(&text);
            let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| cast_error(&value, target))?;
            Sql::Text(date.format("%Y-%m-%d").to_string())
        }
        Type::Timestamp(precision) => {
            let text = text_of(&value).ok_or_else(|| cast_error(&value, target))?;
            Sql::Text(timestamp_text(&text, *precision).ok_or_else(|| cast_error(&value, target))?)
        }
        Type::TimestampWithTimeZone(_) | Type::Unknown | Type::Array(_) => value,
    })
}

fn argument(context: &Context<'_>, index: usize) -> Sql {
    context.get::<Sql>(index).unwrap_or(Sql::Null)
}

fn cast_function(context: &Context<'_>, try_: bool) -> rusqlite::Result<Sql> {
    let target = context.get::<String>(1)?;
    let target = parse_type(&target).map_err(fail)?;
    match cast(argument(context, 0), &target) {
        Ok(value) => Ok(value),
        Err(_) if try_ => Ok(Sql::Null),
        Err(error) => Err(fail(error)),
    }
}

fn divide(context: &Context<'_>, modulus: bool) -> rusqlite::Result<Sql> {
    let (a, b) = (argument(context, 0), argument(context, 1));
    let zero = || fail(QueryError::new(DIVISION_BY_ZERO, "Division by zero"));
    Ok(match (a, b) {
        (Sql::Null, _) | (_, Sql::Null) => Sql::Null,
        (Sql::Integer(a), Sql::Integer(b)) => {
            if b == 0 {
                return Err(zero());
            }
            let result = if modulus { a.checked_rem(b) } else { a.checked_div(b) };
            Sql::Integer(result.ok_or_else(|| {
                fail(QueryError::new(super::error::NUMERIC_VALUE_OUT_OF_RANGE, "bigint division overflow"))
            })?)
        }
        (a, b) => {
            let number = |v: &Sql| match v {
                Sql::Integer(i) => *i as f64,
                Sql::Real(r) => *r,
                Sql::Text(t) => t.trim().parse().unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            let (a, b) = (number(&a), number(&b));
            Sql::Real(if modulus { a % b } else { a / b })
        }
    })
}

fn sequence_check(context: &Context<'_>) -> rusqlite::Result<Sql> {
    let start = context.get::<i64>(0)?;
    let stop = context.get::<i64>(1)?;
    let step = context.get::<i64>(2)?;
    let invalid = |message: &str| fail(QueryError::new(INVALID_FUNCTION_ARGUMENT, message));
    if step == 0 {
        return Err(invalid("step must not be zero"));
    }
    if (step > 0 && start > stop) || (step < 0 && start < stop) {
        return Err(invalid("sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start"));
    }
    let entries = (i128::from(stop) - i128::from(start)) / i128::from(step) + 1;
    if entries > 10_000 {
        return Err(invalid("result of sequence function must not have more than 10000 entries"));
    }
    Ok(Sql::Integer(start))
}

/// Registers the functions the translated SQL calls.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("trino_cast", 2, flags, |c| cast_function(c, false))?;
    connection.create_scalar_function("trino_try_cast", 2, flags, |c| cast_function(c, true))?;
    connection.create_scalar_function("trino_divide", 2, flags, |c| divide(c, false))?;
    connection.create_scalar_function("trino_modulus", 2, flags, |c| divide(c, true))?;
    connection.create_scalar_function("trino_sequence_check", 3, flags, sequence_check)?;
    connection.create_scalar_function("trino_concat", -1, flags, |c| {
        let mut out = String::new();
        for index in 0..c.len() {
            match argument(c, index) {
                Sql::Null => return Ok(Sql::Null),
                Sql::Text(t) => out.push_str(&t),
                Sql::Integer(i) => out.push_str(&i.to_string()),
                Sql::Real(r) => out.push_str(&r.to_string()),
                Sql::Blob(_) => {}
            }
        }
        Ok(Sql::Text(out))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_trino() {
        assert_eq!(cast(Sql::Real(1.5), &Type::Integer).ok(), Some(Sql::Integer(2)));
        assert_eq!(cast(Sql::Text(" 12 ".into()), &Type::Bigint).ok(), Some(Sql::Integer(12)));
        assert_eq!(
            cast(Sql::Text("x".into()), &Type::Integer).err().map(|e| e.message),
            Some("Cannot cast 'x' to INTEGER".into())
        );
        assert!(cast(Sql::Integer(3_000_000_000), &Type::Integer).is_err());
        assert_eq!(
            cast(Sql::Text("2020-01-02".into()), &Type::Timestamp(3)).ok(),
            Some(Sql::Text("2020-01-02 00:00:00.000".into()))
        );
        assert_eq!(cast(Sql::Text("true".into()), &Type::Boolean).ok(), Some(Sql::Integer(1)));
        assert_eq!(cast(Sql::Real(1.234), &Type::Decimal { precision: 3, scale: 2 }).ok(), Some(Sql::Real(1.23)));
    }
}
