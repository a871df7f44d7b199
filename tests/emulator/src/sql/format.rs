//! Expressions printed back as SQL the way Trino's `ExpressionFormatter`
//! prints them in messages (`Unable to set session property 'x' to ''abc''`,
//! `'name' must be an aggregate expression …`).

use super::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, TypeName};

pub fn format_ident(ident: &Ident) -> String {
    if ident.quoted {
        format!("\"{}\"", ident.value.replace('"', "\"\""))
    } else {
        ident.value.clone()
    }
}

fn format_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn format_type(ty: &TypeName) -> String {
    if ty.parameters.is_empty() {
        ty.name.clone()
    } else {
        let parameters: Vec<String> = ty.parameters.iter().map(u32::to_string).collect();
        format!("{}({})", ty.name, parameters.join(", "))
    }
}

/// Java's `DecimalFormat("0.###################E0###")` for a double literal.
fn format_double(value: f64) -> String {
    if value == 0.0 {
        return "0E0".into();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    let exponent = value.abs().log10().floor() as i32;
    let mantissa = value / 10f64.powi(exponent);
    let mut digits = format!("{mantissa:.19}");
    while digits.ends_with('0') {
        digits.pop();
    }
    if digits.ends_with('.') {
        digits.pop();
    }
    format!("{digits}E{exponent}")
}

pub fn format_expr(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Literal(literal) => match literal {
            Literal::Integer(text) => text.clone(),
            Literal::Decimal(text) => format!("DECIMAL '{text}'"),
            Literal::Double(text) => text.parse().map(format_double).unwrap_or_else(|_| text.clone()),
            Literal::Str(text) => format_string(text),
            Literal::Boolean(b) => b.to_string(),
            Literal::Null => "null".into(),
        },
        ExprKind::TypedLiteral { ty, text } => format!("{} {}", ty.name, format_string(text)),
        ExprKind::Column(parts) => parts.iter().map(format_ident).collect::<Vec<_>>().join("."),
        ExprKind::Negate(inner) => {
            let value = format_expr(inner);
            if value.starts_with('-') {
                format!("- {value}")
            } else {
                format!("-{value}")
            }
        }
        ExprKind::Not(inner) => format!("(NOT {})", format_expr(inner)),
        ExprKind::Binary { op: BinaryOp::Concat, left, right } => {
            format!("concat({}, {})", format_expr(left), format_expr(right))
        }
        ExprKind::Binary { op, left, right } => {
            format!("({} {} {})", format_expr(left), op.symbol(), format_expr(right))
        }
        ExprKind::IsNull { expr, negated } => {
            format!("({} IS {}NULL)", format_expr(expr), if *negated { "NOT " } else { "" })
        }
        ExprKind::Cast { expr, ty } => format!("CAST({} AS {})", format_expr(expr), format_type(ty)),
        ExprKind::Function { name, args } => {
            let args: Vec<String> = args.iter().map(format_expr).collect();
            format!("{}({})", format_ident(name), args.join(", "))
        }
        ExprKind::CountStar => "count(*)".into(),
        ExprKind::CurrentTimestamp => "current_timestamp".into(),
        ExprKind::Parameter(_) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::{SelectItem, Statement};
    use super::super::parser::parse;
    use super::*;

    #[test]
    fn formats_like_trino() {
        let cases = [
            ("'abc'", "'abc'"),
            ("'it''s'", "'it''s'"),
            ("true", "true"),
            ("NULL", "null"),
            ("1", "1"),
            ("1.5", "DECIMAL '1.5'"),
            ("1e3", "1E3"),
            ("1 + 2 * 3", "(1 + (2 * 3))"),
            ("'a' || 'b'", "concat('a', 'b')"),
            ("-x", "-x"),
            ("NOT a AND b", "((NOT a) AND b)"),
            ("CAST(1 AS decimal(5,2))", "CAST(1 AS decimal(5, 2))"),
            ("count(*)", "count(*)"),
            ("t.\"Name\"", "t.\"Name\""),
            ("x IS NOT NULL", "(x IS NOT NULL)"),
        ];
        for (sql, expected) in cases {
            let statement = parse(&format!("SELECT {sql}")).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let Statement::Query(query) = statement else { panic!("{sql}") };
            let SelectItem::Expr { expr, .. } = &query.items[0] else { panic!("{sql}") };
            assert_eq!(format_expr(expr), expected, "{sql}");
        }
    }
}
