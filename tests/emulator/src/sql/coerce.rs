//! Trino's type rules for the emulator's types: literal typing, the common
//! super type of two operands, the result type of arithmetic, and CAST.

use super::error::*;
use super::types::{format_decimal, Type, Value, MAX_DECIMAL_PRECISION};

/// The type two operands are coerced to before they are compared or combined,
/// as Trino's `TypeCoercion.getCommonSuperType` decides for these types.
pub fn common_super_type(a: &Type, b: &Type) -> Option<Type> {
    use Type::*;
    Some(match (a, b) {
        _ if a == b => a.clone(),
        (Unknown, other) | (other, Unknown) => other.clone(),
        (Integer, Bigint) | (Bigint, Integer) => Bigint,
        (Double, other) | (other, Double) if other.is_numeric() => Double,
        (Varchar(x), Varchar(y)) => Varchar(match (x, y) {
            (Some(x), Some(y)) => Some(*x.max(y)),
            _ => None,
        }),
        (Array(x), Array(y)) => Array(Box::new(common_super_type(x, y)?)),
        _ => {
            let (p1, s1) = a.as_decimal()?;
            let (p2, s2) = b.as_decimal()?;
            let scale = s1.max(s2);
            Decimal { precision: ((p1 - s1).max(p2 - s2) + scale).min(MAX_DECIMAL_PRECISION), scale }
        }
    })
}

/// The type of an integer literal: INTEGER if it fits, else BIGINT, else DECIMAL.
pub fn integer_literal(text: &str) -> Result<(Type, Value), String> {
    let digits = text.trim_start_matches('0');
    if let Ok(v) = text.parse::<i64>() {
        let ty = if i32::try_from(v).is_ok() { Type::Integer } else { Type::Bigint };
        return Ok((ty, Value::Int(v)));
    }
    if digits.len() <= MAX_DECIMAL_PRECISION as usize {
        let v: i128 = digits.parse().map_err(|_| format!("Invalid numeric literal: {text}"))?;
        return Ok((Type::Decimal { precision: digits.len() as u32, scale: 0 }, Value::Decimal(v)));
    }
    Err(format!("Invalid numeric literal: {text}"))
}

/// `1.50` → decimal(3,2); precision counts the significant integer digits plus the scale.
pub fn decimal_literal(text: &str) -> Result<(Type, Value), String> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.chars().chain(frac_part.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(format!("'{text}' is not a valid decimal literal"));
    }
    let significant = int_part.trim_start_matches('0');
    let scale = frac_part.len() as u32;
    let precision = (significant.len() as u32 + scale).max(1);
    if precision > MAX_DECIMAL_PRECISION {
        return Err(format!("Invalid numeric literal: {text}"));
    }
    let digits = format!("{significant}{frac_part}");
    let unscaled: i128 =
        if digits.is_empty() { 0 } else { digits.parse().map_err(|_| format!("Invalid numeric literal: {text}"))? };
    Ok((Type::Decimal { precision, scale }, Value::Decimal(if negative { -unscaled } else { unscaled })))
}

pub fn pow10(n: u32) -> i128 {
    10i128.pow(n.min(38))
}

/// Rescale an unscaled decimal, rounding half away from zero like Java's HALF_UP.
pub fn rescale(unscaled: i128, from: u32, to: u32) -> Option<i128> {
    if to >= from {
        unscaled.checked_mul(pow10(to - from))
    } else {
        Some(divide_half_up(unscaled, pow10(from - to)))
    }
}

pub fn divide_half_up(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        quotient + if (numerator < 0) != (denominator < 0) { -1 } else { 1 }
    } else {
        quotient
    }
}

pub fn fits_precision(unscaled: i128, precision: u32) -> bool {
    unscaled.unsigned_abs() < pow10(precision).unsigned_abs()
}

fn sql_type_name(ty: &Type) -> String {
    match ty {
        Type::Integer => "INT".into(),
        other => other.display_name().to_uppercase(),
    }
}

/// Value conversion of CAST (and of implicit coercions). Errors are Trino's.
pub fn cast(value: &Value, from: &Type, to: &Type) -> Result<Value, QueryError> {
    if from == to || *value == Value::Null {
        return Ok(value.clone());
    }
    let invalid =
        |shown: String| QueryError::new(INVALID_CAST_ARGUMENT, format!("Cannot cast {shown} to {}", sql_type_name(to)));
    let out_of_range = |shown: String| {
        QueryError::new(NUMERIC_VALUE_OUT_OF_RANGE, format!("Out of range for {}: {shown}", to.display_name()))
    };
    match (value, to) {
        // Exact numbers to integer types.
        (Value::Int(i), Type::Integer) => {
            i32::try_from(*i).map(|_| Value::Int(*i)).map_err(|_| out_of_range(i.to_string()))
        }
        (Value::Int(i), Type::Bigint) => Ok(Value::Int(*i)),
        (Value::Decimal(d), Type::Integer | Type::Bigint) => {
            let scale = from.as_decimal().map_or(0, |(_, s)| s);
            let rounded = divide_half_up(*d, pow10(scale));
            let shown = format_decimal(*d, scale);
            let v = i64::try_from(rounded).map_err(|_| out_of_range(shown.clone()))?;
            if *to == Type::Integer && i32::try_from(v).is_err() {
                return Err(out_of_range(shown));
            }
            Ok(Value::Int(v))
        }
        (Value::Double(d), Type::Integer | Type::Bigint) => {
            if d.is_nan() {
                return Err(invalid("NaN".into()));
            }
            let rounded = d.round();
            let limit = if *to == Type::Integer { i32::MAX as f64 } else { i64::MAX as f64 };
            if rounded.abs() > limit {
                return Err(out_of_range(d.to_string()));
            }
            Ok(Value::Int(rounded as i64))
        }
        (Value::Boolean(b), Type::Integer | Type::Bigint) => Ok(Value::Int(i64::from(*b))),
        // To double.
        (Value::Int(i), Type::Double) => Ok(Value::Double(*i as f64)),
        (Value::Decimal(d), Type::Double) => {
            let scale = from.as_decimal().map_or(0, |(_, s)| s);
            Ok(Value::Double(format_decimal(*d, scale).parse().unwrap_or(f64::NAN)))
        }
        (Value::Boolean(b), Type::Double) => Ok(Value::Double(if *b { 1.0 } else { 0.0 })),
        // To decimal.
        (Value::Int(_) | Value::Decimal(_), Type::Decimal { precision, scale }) => {
            let (unscaled, from_scale) = match value {
                Value::Int(i) => (i128::from(*i), 0),
                Value::Decimal(d) => (*d, from.as_decimal().map_or(0, |(_, s)| s)),
                _ => (0, 0),
            };
            let shown = format!("{} '{}'", from.display_name().to_uppercase(), format_decimal(unscaled, from_scale));
            let rescaled = rescale(unscaled, from_scale, *scale).filter(|v| fits_precision(*v, *precision));
            rescaled.map(Value::Decimal).ok_or_else(|| {
                QueryError::new(INVALID_CAST_ARGUMENT, format!("Cannot cast {shown} to DECIMAL({precision}, {scale})"))
            })
        }
        (Value::Double(d), Type::Decimal { precision, scale }) => {
            if !d.is_finite() {
                return Err(invalid(format!("DOUBLE '{d}'")));
            }
            let (_, v) =
                decimal_literal(&format!("{d:.*}", *scale as usize)).map_err(|_| invalid(format!("DOUBLE '{d}'")))?;
            match v {
                Value::Decimal(u) if fits_precision(u, *precision) => Ok(Value::Decimal(u)),
                _ => Err(QueryError::new(
                    INVALID_CAST_ARGUMENT,
                    format!("Cannot cast DOUBLE '{d}' to DECIMAL({precision}, {scale})"),
                )),
            }
        }
        // From varchar.
        (Value::Varchar(s), Type::Integer | Type::Bigint) => {
            let parsed = s.parse::<i64>().map_err(|_| invalid(format!("'{s}'")))?;
            cast(&Value::Int(parsed), &Type::Bigint, to).map_err(|_| invalid(format!("'{s}'")))
        }
        (Value::Varchar(s), Type::Double) => {
            let t = s.trim();
            let parsed = match t {
                "NaN" => f64::NAN,
                "Infinity" | "+Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ if t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
                    t.parse().map_err(|_| invalid(format!("'{s}'")))?
                }
                _ => return Err(invalid(format!("'{s}'"))),
            };
            Ok(Value::Double(parsed))
        }
        (Value::Varchar(s), Type::Decimal { .. }) => {
            let (ty, v) = decimal_literal(s).map_err(|_| invalid(format!("'{s}'")))?;
            cast(&v, &ty, to).map_err(|_| invalid(format!("'{s}'")))
        }
        (Value::Varchar(s), Type::Boolean) => match s.to_lowercase().as_str() {
            "true" | "t" | "1" => Ok(Value::Boolean(true)),
            "false" | "f" | "0" => Ok(Value::Boolean(false)),
            _ => Err(invalid(format!("'{s}'"))),
        },
        (Value::Varchar(s), Type::Varchar(limit)) => Ok(Value::Varchar(match limit {
            Some(n) => s.chars().take(*n as usize).collect(),
            None => s.clone(),
        })),
        // To varchar.
        (Value::Int(_) | Value::Decimal(_) | Value::Boolean(_), Type::Varchar(limit)) => {
            let text = match value {
                Value::Int(i) => i.to_string(),
                Value::Decimal(d) => format_decimal(*d, from.as_decimal().map_or(0, |(_, s)| s)),
                Value::Boolean(b) => b.to_string(),
                _ => String::new(),
            };
            match limit {
                Some(n) if text.chars().count() > *n as usize => Err(QueryError::new(
                    INVALID_CAST_ARGUMENT,
                    format!("Value {text} cannot be represented as varchar({n})"),
                )),
                _ => Ok(Value::Varchar(text)),
            }
        }
        (Value::Int(i), Type::Boolean) => Ok(Value::Boolean(*i != 0)),
        (Value::Double(d), Type::Boolean) => Ok(Value::Boolean(*d != 0.0)),
        (Value::Array(items), Type::Array(element)) => {
            let Type::Array(from_element) = from else {
                return Err(invalid(from.display_name()));
            };
            items.iter().map(|v| cast(v, from_element, element)).collect::<Result<_, _>>().map(Value::Array)
        }
        _ => Err(QueryError::new(
            NOT_SUPPORTED,
            format!(
                "Cast from {} to {} is not supported by the Trino coordinator emulator",
                from.display_name(),
                to.display_name()
            ),
        )),
    }
}

/// Whether Trino has a CAST between the two types at all (checked at analysis time).
pub fn can_cast(from: &Type, to: &Type) -> bool {
    use Type::*;
    match (from, to) {
        (Unknown, _) => true,
        (Array(a), Array(b)) => can_cast(a, b),
        (Array(_), _) | (_, Array(_)) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_types() {
        assert_eq!(integer_literal("1"), Ok((Type::Integer, Value::Int(1))));
        assert_eq!(integer_literal("3000000000"), Ok((Type::Bigint, Value::Int(3_000_000_000))));
        assert!(matches!(integer_literal("99999999999999999999"), Ok((Type::Decimal { precision: 20, scale: 0 }, _))));
        assert_eq!(decimal_literal("1.50"), Ok((Type::Decimal { precision: 3, scale: 2 }, Value::Decimal(150))));
        assert_eq!(decimal_literal("0.5"), Ok((Type::Decimal { precision: 1, scale: 1 }, Value::Decimal(5))));
        assert!(decimal_literal("abc").is_err());
    }

    #[test]
    fn super_types() {
        let dec = |p, s| Type::Decimal { precision: p, scale: s };
        let cases = [
            (Type::Integer, Type::Bigint, Some(Type::Bigint)),
            (Type::Integer, dec(3, 2), Some(dec(12, 2))),
            (Type::Bigint, Type::Double, Some(Type::Double)),
            (Type::Varchar(Some(2)), Type::Varchar(Some(5)), Some(Type::Varchar(Some(5)))),
            (Type::Unknown, Type::Boolean, Some(Type::Boolean)),
            (Type::Varchar(None), Type::Integer, None),
        ];
        for (a, b, expected) in cases {
            assert_eq!(common_super_type(&a, &b), expected, "{a:?} {b:?}");
        }
    }

    #[test]
    fn casts_round_half_up_and_check_ranges() {
        assert_eq!(cast(&Value::Double(2.5), &Type::Double, &Type::Integer), Ok(Value::Int(3)));
        assert_eq!(
            cast(&Value::Decimal(-25), &Type::Decimal { precision: 2, scale: 1 }, &Type::Bigint),
            Ok(Value::Int(-3))
        );
        assert_eq!(
            cast(&Value::Int(3_000_000_000), &Type::Bigint, &Type::Integer).map_err(|e| e.code.name),
            Err("NUMERIC_VALUE_OUT_OF_RANGE")
        );
        assert_eq!(
            cast(&Value::Varchar("x".into()), &Type::Varchar(Some(1)), &Type::Integer).map_err(|e| e.message),
            Err("Cannot cast 'x' to INT".into())
        );
        assert_eq!(
            cast(&Value::Int(7), &Type::Integer, &Type::Decimal { precision: 3, scale: 1 }),
            Ok(Value::Decimal(70))
        );
    }
}
