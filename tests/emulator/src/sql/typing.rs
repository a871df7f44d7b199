//! Trino's types for what SQLite computes. SQLite keeps a column's declared
//! type (tables are created with Trino type names, so `decltype` is the Trino
//! type); for computed columns the type is inferred from the Trino expression
//! with Trino's rules (literal typing, arithmetic, aggregates, functions).

use super::error::{QueryError, INVALID_CAST_ARGUMENT, NOT_SUPPORTED, NUMERIC_VALUE_OUT_OF_RANGE, TYPE_NOT_FOUND};
use super::types::{Type, Value, MAX_DECIMAL_PRECISION};
use rusqlite::types::ValueRef;
use sqlparser::ast::{self, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator};

/// A Trino type name (`varchar(5)`, `decimal(10,2)`, `INT`, `timestamp(6)`…).
pub fn parse_type(text: &str) -> Result<Type, QueryError> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ").replace("_with_time_zone", " with time zone");
    let (base, args) = match lower.split_once('(') {
        Some((base, rest)) => {
            let (inside, after) = rest.split_once(')').unwrap_or((rest, ""));
            let args: Vec<u32> = inside.split(',').filter_map(|a| a.trim().parse().ok()).collect();
            (format!("{}{}", base.trim(), after.trim_end()), args)
        }
        None => (lower.clone(), Vec::new()),
    };
    let unknown = || QueryError::new(TYPE_NOT_FOUND, format!("Unknown type: {}", text.trim()));
    Ok(match (base.trim(), args.as_slice()) {
        ("boolean", []) => Type::Boolean,
        ("tinyint", []) => Type::Tinyint,
        ("smallint", []) => Type::Smallint,
        ("integer" | "int", []) => Type::Integer,
        ("bigint", []) => Type::Bigint,
        ("real", []) => Type::Real,
        ("double" | "double precision", []) => Type::Double,
        ("decimal" | "numeric", []) => Type::Decimal { precision: MAX_DECIMAL_PRECISION, scale: 0 },
        ("decimal" | "numeric", [p]) => decimal(*p, 0)?,
        ("decimal" | "numeric", [p, s]) => decimal(*p, *s)?,
        ("varchar", []) => Type::Varchar(None),
        ("varchar", [n]) if *n >= 1 => Type::Varchar(Some(*n)),
        ("date", []) => Type::Date,
        ("timestamp", []) => Type::Timestamp(3),
        ("timestamp", [p]) if *p <= 12 => Type::Timestamp(*p),
        ("timestamp with time zone", []) => Type::TimestampWithTimeZone(3),
        ("timestamp with time zone", [p]) if *p <= 12 => Type::TimestampWithTimeZone(*p),
        ("unknown", []) => Type::Unknown,
        (
            "char"
            | "varbinary"
            | "json"
            | "time"
            | "time with time zone"
            | "uuid"
            | "ipaddress"
            | "array"
            | "map"
            | "row"
            | "interval day to second"
            | "interval year to month",
            _,
        ) => {
            return Err(QueryError::new(NOT_SUPPORTED, format!("Type not supported by the emulator: {}", text.trim())))
        }
        _ => return Err(unknown()),
    })
}

fn decimal(precision: u32, scale: u32) -> Result<Type, QueryError> {
    if precision == 0 || precision > MAX_DECIMAL_PRECISION || scale > precision {
        return Err(QueryError::new(
            INVALID_CAST_ARGUMENT,
            format!("DECIMAL precision must be in range [1, 38] and scale in [0, precision]: ({precision}, {scale})"),
        ));
    }
    Ok(Type::Decimal { precision, scale })
}

/// The type of a typed literal: `DECIMAL '1.50'` is decimal(3,2), `TIMESTAMP
/// '2020-01-02 03:04:05.000000'` timestamp(6), as Trino types them by their text.
pub fn typed_literal(data_type: &str, value: &str) -> Result<Type, QueryError> {
    let declared = parse_type(data_type)?;
    let digits_after_dot = |text: &str| {
        text.rsplit_once('.').map_or(0, |(_, f)| f.chars().take_while(char::is_ascii_digit).count() as u32)
    };
    Ok(match declared {
        Type::Decimal { .. } if !data_type.contains('(') => {
            match number_literal(value.trim().trim_start_matches(['-', '+'])) {
                Type::Integer | Type::Bigint => {
                    let digits =
                        value.trim().trim_start_matches(['-', '+']).trim_start_matches('0').len().max(1) as u32;
                    Type::Decimal { precision: digits.min(MAX_DECIMAL_PRECISION), scale: 0 }
                }
                decimal @ Type::Decimal { .. } => decimal,
                _ => declared,
            }
        }
        Type::Timestamp(_) if !data_type.contains('(') => Type::Timestamp(digits_after_dot(value).min(12)),
        Type::Varchar(None) if data_type.trim().eq_ignore_ascii_case("varchar") => {
            Type::Varchar(Some(value.chars().count() as u32))
        }
        other => other,
    })
}

/// Trino's literal typing: `1` integer, `3000000000` bigint, `1.50` decimal(3,2), `1e3` double.
pub fn number_literal(text: &str) -> Type {
    if text.contains(['e', 'E']) {
        return Type::Double;
    }
    if let Some((whole, fraction)) = text.split_once('.') {
        let digits = whole.trim_start_matches('0').len() + fraction.len();
        return Type::Decimal { precision: digits.max(fraction.len()).max(1) as u32, scale: fraction.len() as u32 };
    }
    match text.parse::<i64>() {
        Ok(n) if i32::try_from(n).is_ok() => Type::Integer,
        Ok(_) => Type::Bigint,
        Err(_) => Type::Decimal { precision: text.len().min(38) as u32, scale: 0 },
    }
}

fn integer_rank(ty: &Type) -> Option<u8> {
    match ty {
        Type::Tinyint => Some(1),
        Type::Smallint => Some(2),
        Type::Integer => Some(3),
        Type::Bigint => Some(4),
        _ => None,
    }
}

/// Trino's common super type, for CASE, COALESCE, UNION and comparisons.
pub fn super_type(a: &Type, b: &Type) -> Option<Type> {
    use Type::*;
    Some(match (a, b) {
        _ if a == b => a.clone(),
        (Unknown, other) | (other, Unknown) => other.clone(),
        (Varchar(x), Varchar(y)) => Varchar(x.zip(*y).map(|(x, y)| x.max(y))),
        (Double, other) | (other, Double) if other.is_numeric() => Double,
        (Real, other) | (other, Real) if integer_rank(other).is_some() => Real,
        _ if integer_rank(a).is_some() && integer_rank(b).is_some() => {
            if integer_rank(a) > integer_rank(b) {
                a.clone()
            } else {
                b.clone()
            }
        }
        _ => {
            let (p1, s1) = a.as_decimal()?;
            let (p2, s2) = b.as_decimal()?;
            let scale = s1.max(s2);
            Decimal { precision: ((p1 - s1).max(p2 - s2) + scale).min(MAX_DECIMAL_PRECISION), scale }
        }
    })
}

/// Result type of `+ - * / %` (Trino's arithmetic operators and `DecimalOperators`).
pub fn arithmetic(op: &BinaryOperator, a: &Type, b: &Type) -> Option<Type> {
    use Type::*;
    if matches!((a, b), (Unknown, Unknown)) {
        return Some(Unknown);
    }
    let (a, b) = match (a, b) {
        (Unknown, other) | (other, Unknown) => (other, other),
        _ => (a, b),
    };
    if matches!(a, Double) || matches!(b, Double) {
        return (a.is_numeric() && b.is_numeric()).then_some(Double);
    }
    if matches!(a, Real) || matches!(b, Real) {
        return (a.is_numeric() && b.is_numeric()).then_some(Real);
    }
    if integer_rank(a).is_some() && integer_rank(b).is_some() {
        return super_type(a, b);
    }
    let (p1, s1) = a.as_decimal()?;
    let (p2, s2) = b.as_decimal()?;
    let (precision, scale) = match op {
        BinaryOperator::Plus | BinaryOperator::Minus => (1 + s1.max(s2) + (p1 - s1).max(p2 - s2), s1.max(s2)),
        BinaryOperator::Multiply => (p1 + p2, s1 + s2),
        BinaryOperator::Divide => (p1 + s2 + s2.saturating_sub(s1), s1.max(s2)),
        BinaryOperator::Modulo => ((p2 - s2).min(p1 - s1) + s1.max(s2), s1.max(s2)),
        _ => return None,
    };
    Some(Decimal { precision: precision.min(MAX_DECIMAL_PRECISION), scale })
}

fn function_args(function: &ast::Function) -> Vec<&Expr> {
    match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The Trino type of an expression; `column` answers for column references.
/// `None` when the emulator cannot tell (the values decide then).
pub fn infer(expr: &Expr, column: &dyn Fn(&Expr) -> Option<Type>) -> Option<Type> {
    let infer_in = |e: &Expr| infer(e, column);
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column(expr),
        Expr::Value(value) => match &value.value {
            ast::Value::Number(text, _) => Some(number_literal(text)),
            ast::Value::SingleQuotedString(s) => Some(Type::Varchar(Some(s.chars().count() as u32))),
            ast::Value::Boolean(_) => Some(Type::Boolean),
            ast::Value::Null => Some(Type::Unknown),
            _ => None,
        },
        Expr::TypedString { data_type, value, .. } => {
            let text = match &value.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            typed_literal(&data_type.to_string(), &text).ok()
        }
        Expr::Cast { data_type, .. } => parse_type(&data_type.to_string()).ok(),
        Expr::Nested(inner) => infer_in(inner),
        Expr::UnaryOp { op: UnaryOperator::Not, .. } => Some(Type::Boolean),
        Expr::UnaryOp { expr, .. } => infer_in(expr),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo => arithmetic(op, &infer_in(left)?, &infer_in(right)?),
            BinaryOperator::StringConcat => match (infer_in(left), infer_in(right)) {
                (Some(Type::Varchar(Some(a))), Some(Type::Varchar(Some(b)))) => Some(Type::Varchar(Some(a + b))),
                _ => Some(Type::Varchar(None)),
            },
            _ => Some(Type::Boolean),
        },
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::Exists { .. } => Some(Type::Boolean),
        Expr::Case { conditions, else_result, .. } => {
            let mut ty = Type::Unknown;
            for result in conditions.iter().map(|c| &c.result).chain(else_result.as_deref()) {
                ty = super_type(&ty, &infer_in(result)?)?;
            }
            Some(ty)
        }
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            let args = function_args(function);
            let first = || args.first().and_then(|a| infer_in(a));
            let all_super = || args.iter().try_fold(Type::Unknown, |acc, arg| super_type(&acc, &infer_in(arg)?));
            match name.as_str() {
                "count" | "row_number" | "rank" | "dense_rank" | "length" | "strpos" | "ntile" => Some(Type::Bigint),
                "sum" => match first()? {
                    t if integer_rank(&t).is_some() => Some(Type::Bigint),
                    Type::Decimal { scale, .. } => Some(Type::Decimal { precision: MAX_DECIMAL_PRECISION, scale }),
                    t @ (Type::Double | Type::Real) => Some(t),
                    _ => None,
                },
                "avg" => match first()? {
                    t if integer_rank(&t).is_some() => Some(Type::Double),
                    t @ (Type::Decimal { .. } | Type::Double | Type::Real) => Some(t),
                    _ => None,
                },
                "min" | "max" | "abs" | "lag" | "lead" | "first_value" | "last_value" | "any_value" | "arbitrary" => {
                    first()
                }
                "round" => first(),
                "floor" | "ceil" | "ceiling" => match first()? {
                    Type::Decimal { precision, scale } => {
                        Some(Type::Decimal { precision: (precision - scale + u32::from(scale > 0)).max(1), scale: 0 })
                    }
                    t => Some(t),
                },
                "coalesce" | "nullif" | "greatest" | "least" => all_super(),
                "if" => {
                    let results: Vec<Type> = args.iter().skip(1).filter_map(|a| infer_in(a)).collect();
                    results.iter().try_fold(Type::Unknown, |acc, t| super_type(&acc, t))
                }
                "lower" | "upper" | "trim" | "ltrim" | "rtrim" | "replace" | "substr" | "substring" | "reverse" => {
                    match first()? {
                        Type::Varchar(n) => {
                            Some(Type::Varchar(if matches!(name.as_str(), "replace") { None } else { n }))
                        }
                        _ => Some(Type::Varchar(None)),
                    }
                }
                "concat" | "version" | "typeof" | "lpad" | "rpad" | "to_hex" | "md5" => Some(Type::Varchar(None)),
                "now" | "current_timestamp" => Some(Type::TimestampWithTimeZone(3)),
                "current_date" => Some(Type::Date),
                "power" | "pow" | "sqrt" | "ln" | "log10" | "log2" | "exp" | "random" | "rand" | "cbrt" => {
                    Some(Type::Double)
                }
                "mod" => arithmetic(&BinaryOperator::Modulo, &infer_in(args.first()?)?, &infer_in(args.get(1)?)?),
                "sign" => first(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The Trino type of stored values when nothing else tells it.
pub fn from_values<'a>(values: impl Iterator<Item = ValueRef<'a>>) -> Type {
    let mut ty = Type::Unknown;
    for value in values {
        let next = match value {
            ValueRef::Null => continue,
            ValueRef::Integer(_) => Type::Bigint,
            ValueRef::Real(_) => Type::Double,
            ValueRef::Text(_) | ValueRef::Blob(_) => Type::Varchar(None),
        };
        ty = super_type(&ty, &next).unwrap_or(Type::Varchar(None));
    }
    ty
}

fn out_of_range(ty: &Type, value: impl std::fmt::Display) -> QueryError {
    QueryError::new(NUMERIC_VALUE_OUT_OF_RANGE, format!("Out of range for {}: {value}", ty.display_name()))
}

/// A number rounded half away from zero into an integer type, as Trino's
/// casts round; NUMERIC_VALUE_OUT_OF_RANGE when it does not fit.
pub fn round_to_integer(value: f64, ty: &Type) -> Result<i64, QueryError> {
    let (low, high) = integer_bounds(ty);
    let rounded = value.round();
    if !rounded.is_finite() || rounded < low as f64 || rounded > high as f64 {
        return Err(out_of_range(ty, value));
    }
    Ok(rounded as i64)
}

fn integer_bounds(ty: &Type) -> (i64, i64) {
    match ty {
        Type::Tinyint => (i8::MIN.into(), i8::MAX.into()),
        Type::Smallint => (i16::MIN.into(), i16::MAX.into()),
        Type::Integer => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN, i64::MAX),
    }
}

/// A value SQLite computed, as the Trino type of its column. A value that
/// does not fit its type (an overflow SQLite let through) fails the query.
pub fn to_value(value: ValueRef<'_>, ty: &Type) -> Result<Value, QueryError> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Ok(match (value, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), Type::Boolean) => Value::Boolean(i != 0),
        (ValueRef::Real(r), Type::Boolean) => Value::Boolean(r != 0.0),
        (ValueRef::Integer(i), t) if integer_rank(t).is_some() => {
            let (low, high) = integer_bounds(t);
            if i < low || i > high {
                return Err(out_of_range(t, i));
            }
            Value::Int(i)
        }
        (ValueRef::Real(r), t) if integer_rank(t).is_some() => Value::Int(round_to_integer(r, t)?),
        (ValueRef::Integer(i), Type::Double | Type::Real) => Value::Double(i as f64),
        (ValueRef::Real(r), Type::Double | Type::Real) => Value::Double(r),
        (ValueRef::Integer(i), Type::Decimal { scale, .. }) => Value::Decimal(i128::from(i) * 10i128.pow(*scale)),
        (ValueRef::Real(r), Type::Decimal { precision, scale }) => {
            let unscaled = (r * 10f64.powi(*scale as i32)).round();
            if !unscaled.is_finite() || unscaled.abs() >= 10f64.powi(*precision as i32) {
                return Err(out_of_range(ty, r));
            }
            Value::Decimal(unscaled as i128)
        }
        (ValueRef::Text(t), Type::Decimal { scale, .. }) => {
            let parsed: f64 = text(t).trim().parse().map_err(|_| {
                QueryError::new(INVALID_CAST_ARGUMENT, format!("Cannot cast '{}' to {}", text(t), ty.display_name()))
            })?;
            Value::Decimal((parsed * 10f64.powi(*scale as i32)).round() as i128)
        }
        (ValueRef::Text(t) | ValueRef::Blob(t), _) => Value::Varchar(text(t)),
        (ValueRef::Integer(i), _) => Value::Varchar(i.to_string()),
        (ValueRef::Real(r), _) => Value::Varchar(r.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::statement::{parse, Statement};

    fn projection_type(sql: &str) -> Option<Type> {
        let Ok(Statement::Query(query)) = parse(sql) else { return None };
        let ast::SetExpr::Select(select) = query.body.as_ref() else { return None };
        match select.projection.first()? {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                infer(e, &|_| Some(Type::Integer))
            }
            _ => None,
        }
    }

    #[test]
    fn expressions_have_trinos_types() {
        let cases = [
            ("SELECT 1", Type::Integer),
            ("SELECT 3000000000", Type::Bigint),
            ("SELECT 1.50", Type::Decimal { precision: 3, scale: 2 }),
            ("SELECT 1e3", Type::Double),
            ("SELECT 'héllo'", Type::Varchar(Some(5))),
            ("SELECT 1 + 2", Type::Integer),
            ("SELECT x + 3000000000", Type::Bigint),
            ("SELECT 1.5 * 2", Type::Decimal { precision: 12, scale: 1 }),
            ("SELECT count(*)", Type::Bigint),
            ("SELECT sum(x)", Type::Bigint),
            ("SELECT avg(x)", Type::Double),
            ("SELECT CAST(x AS varchar)", Type::Varchar(None)),
            ("SELECT DATE '2020-01-01'", Type::Date),
            ("SELECT x = 1", Type::Boolean),
            ("SELECT CASE WHEN x = 1 THEN 1 ELSE 3000000000 END", Type::Bigint),
            ("SELECT NULL", Type::Unknown),
            ("SELECT coalesce(NULL, 'ab')", Type::Varchar(Some(2))),
        ];
        for (sql, expected) in cases {
            assert_eq!(projection_type(sql), Some(expected), "{sql}");
        }
    }

    #[test]
    fn type_names_parse() {
        assert_eq!(parse_type("DECIMAL(10,2)").ok(), Some(Type::Decimal { precision: 10, scale: 2 }));
        assert_eq!(parse_type("varchar(5)").ok(), Some(Type::Varchar(Some(5))));
        assert_eq!(parse_type("TIMESTAMP(6)").ok(), Some(Type::Timestamp(6)));
        assert_eq!(parse_type("timestamp(3) with time zone").ok(), Some(Type::TimestampWithTimeZone(3)));
        assert_eq!(parse_type("INT").ok(), Some(Type::Integer));
        assert_eq!(parse_type("nope").err().map(|e| e.code.name), Some("TYPE_NOT_FOUND"));
    }

    #[test]
    fn overflows_fail() {
        assert!(to_value(ValueRef::Integer(3_000_000_000), &Type::Integer).is_err());
        assert_eq!(
            to_value(ValueRef::Real(1.005), &Type::Decimal { precision: 4, scale: 2 }).ok(),
            Some(Value::Decimal(100))
        );
    }
}
