//! Expressions: analysis (name resolution, typing, implicit coercions, with
//! Trino's error messages) into a typed tree, and its evaluation over a row.

use super::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, TypeName};
use super::clock::render_timestamp_with_time_zone;
use super::coerce::{self, cast, common_super_type, divide_half_up, fits_precision, pow10, rescale};
use super::error::*;
use super::format::format_expr;
use super::types::{Type, Value, MAX_DECIMAL_PRECISION};
use std::cell::RefCell;

/// What `version()`, `now()` and `current_timestamp` read.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub node_version: &'a str,
    pub time_zone: &'a str,
    /// The query's start (Unix milliseconds).
    pub start_ms: u128,
}

/// One aggregate call of an aggregating SELECT: `count(*)` (no argument) or
/// `count(x)`.
#[derive(Clone, Debug)]
pub struct Aggregate {
    argument: Option<Typed>,
}

/// The aggregate calls of a SELECT without GROUP BY, collected while its
/// expressions are analyzed, and the first column used outside of them.
#[derive(Debug, Default)]
pub struct Aggregation {
    calls: RefCell<Vec<Aggregate>>,
    not_aggregate: RefCell<Option<QueryError>>,
}

impl Aggregation {
    /// The calls, or Trino's EXPRESSION_NOT_AGGREGATE when a column was used
    /// outside of an aggregate (reported after all expressions resolved).
    pub fn finish(self) -> Result<Vec<Aggregate>, QueryError> {
        match self.not_aggregate.into_inner() {
            Some(error) => Err(error),
            None => Ok(self.calls.into_inner()),
        }
    }
}

/// The values of the aggregate calls over `rows`; an aggregating projection
/// is then evaluated over this one row.
pub fn aggregate(calls: &[Aggregate], rows: &[&Vec<Value>]) -> Result<Vec<Value>, QueryError> {
    calls
        .iter()
        .map(|call| {
            let mut count = 0i64;
            for row in rows {
                let counted = match &call.argument {
                    None => true,
                    Some(argument) => evaluate(argument, row)? != Value::Null,
                };
                count += i64::from(counted);
            }
            Ok(Value::Int(count))
        })
        .collect()
}

/// Whether the expression calls an aggregate function (`count`).
pub fn contains_aggregate(expr: &Expr) -> bool {
    !aggregate_calls(expr).is_empty()
}

/// The aggregate calls in an expression, outermost first.
pub fn aggregate_calls(expr: &Expr) -> Vec<&Expr> {
    let mut found = Vec::new();
    fn walk<'e>(expr: &'e Expr, found: &mut Vec<&'e Expr>) {
        match &expr.kind {
            ExprKind::CountStar => found.push(expr),
            ExprKind::Function { name, .. } if is_aggregate(name) => found.push(expr),
            ExprKind::Function { args, .. } => args.iter().for_each(|a| walk(a, found)),
            ExprKind::Negate(inner) | ExprKind::Not(inner) => walk(inner, found),
            ExprKind::IsNull { expr: inner, .. } | ExprKind::Cast { expr: inner, .. } => walk(inner, found),
            ExprKind::Binary { left, right, .. } => {
                walk(left, found);
                walk(right, found);
            }
            ExprKind::Literal(_)
            | ExprKind::TypedLiteral { .. }
            | ExprKind::Column(_)
            | ExprKind::CurrentTimestamp
            | ExprKind::Parameter(_) => {}
        }
    }
    walk(expr, &mut found);
    found
}

fn is_aggregate(name: &Ident) -> bool {
    name.canonical() == "count"
}

/// Everything analysis reads: the visible columns, the function context, and
/// for an aggregating SELECT the aggregation being collected.
#[derive(Clone, Copy)]
struct Cx<'a> {
    scope: &'a [ScopeColumn],
    context: &'a Context<'a>,
    aggregation: Option<&'a Aggregation>,
    /// Inside an aggregate call's arguments.
    in_aggregate: bool,
}

/// Trino caps `sequence()` results at 10,000 entries.
pub const MAX_SEQUENCE_ENTRIES: i64 = 10_000;

/// A column visible to expressions: its name, the relation alias it can be
/// qualified with, and its type.
#[derive(Clone, Debug)]
pub struct ScopeColumn {
    pub name: String,
    pub relation: Option<String>,
    pub ty: Type,
}

#[derive(Clone, Debug)]
pub struct Typed {
    pub ty: Type,
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    Const(Value),
    Column(usize),
    Cast(Box<Typed>),
    Negate(Box<Typed>),
    Not(Box<Typed>),
    And(Box<Typed>, Box<Typed>),
    Or(Box<Typed>, Box<Typed>),
    IsNull {
        expr: Box<Typed>,
        negated: bool,
    },
    Arithmetic {
        op: BinaryOp,
        left: Box<Typed>,
        right: Box<Typed>,
    },
    Compare {
        op: BinaryOp,
        left: Box<Typed>,
        right: Box<Typed>,
    },
    Concat(Box<Typed>, Box<Typed>),
    Sequence(Vec<Typed>),
    /// The value of aggregate call `n` (aggregating projections are
    /// evaluated over the row of aggregate values).
    Aggregate(usize),
}

impl Typed {
    fn constant(ty: Type, value: Value) -> Typed {
        Typed { ty, node: Node::Const(value) }
    }

    /// The column index when this expression is a bare column reference.
    pub fn column_index(&self) -> Option<usize> {
        match self.node {
            Node::Column(i) => Some(i),
            _ => None,
        }
    }

    fn coerced(self, to: &Type) -> Typed {
        if self.ty == *to {
            self
        } else {
            Typed { ty: to.clone(), node: Node::Cast(Box::new(self)) }
        }
    }
}

pub fn resolve_type(name: &TypeName, location: Location) -> Result<Type, QueryError> {
    let p = &name.parameters;
    let bad_parameters = || {
        QueryError::at(
            TYPE_NOT_FOUND,
            location,
            format!("Unknown type: {}({})", name.name, p.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")),
        )
    };
    Ok(match name.name.as_str() {
        "boolean" if p.is_empty() => Type::Boolean,
        "integer" | "int" if p.is_empty() => Type::Integer,
        "bigint" if p.is_empty() => Type::Bigint,
        "double" | "double precision" if p.is_empty() => Type::Double,
        "decimal" => match p.as_slice() {
            [] => Type::Decimal { precision: MAX_DECIMAL_PRECISION, scale: 0 },
            [precision] if (1..=MAX_DECIMAL_PRECISION).contains(precision) => {
                Type::Decimal { precision: *precision, scale: 0 }
            }
            [precision, scale] if (1..=MAX_DECIMAL_PRECISION).contains(precision) && scale <= precision => {
                Type::Decimal { precision: *precision, scale: *scale }
            }
            _ => return Err(bad_parameters()),
        },
        "varchar" => match p.as_slice() {
            [] => Type::Varchar(None),
            [n] => Type::Varchar(Some(*n)),
            _ => return Err(bad_parameters()),
        },
        "tinyint"
        | "smallint"
        | "real"
        | "char"
        | "varbinary"
        | "json"
        | "date"
        | "time"
        | "timestamp"
        | "uuid"
        | "ipaddress"
        | "time with time zone"
        | "timestamp with time zone"
        | "interval"
        | "hyperloglog" => {
            return Err(QueryError::at(
                NOT_SUPPORTED,
                location,
                format!("Type {} is not supported by the Trino coordinator emulator", name.name),
            ))
        }
        _ => return Err(QueryError::at(TYPE_NOT_FOUND, location, format!("Unknown type: {}", name.name))),
    })
}

/// Analyzes a scalar expression (no aggregates) over `scope`.
pub fn analyze(expr: &Expr, scope: &[ScopeColumn], context: &Context<'_>) -> Result<Typed, QueryError> {
    analyze_in(expr, Cx { scope, context, aggregation: None, in_aggregate: false })
}

/// Analyzes a projection of a SELECT that aggregates without GROUP BY; the
/// aggregate calls are collected into `aggregation`.
pub fn analyze_aggregating(
    expr: &Expr,
    scope: &[ScopeColumn],
    context: &Context<'_>,
    aggregation: &Aggregation,
) -> Result<Typed, QueryError> {
    analyze_in(expr, Cx { scope, context, aggregation: Some(aggregation), in_aggregate: false })
}

fn analyze_in(expr: &Expr, cx: Cx<'_>) -> Result<Typed, QueryError> {
    let at = |code, message: String| QueryError::at(code, expr.location, message);
    let scope = cx.scope;
    match &expr.kind {
        ExprKind::Literal(literal) => Ok(match literal {
            Literal::Integer(text) => {
                let (ty, v) = coerce::integer_literal(text).map_err(|m| at(NUMERIC_VALUE_OUT_OF_RANGE, m))?;
                Typed::constant(ty, v)
            }
            Literal::Decimal(text) => {
                let (ty, v) = coerce::decimal_literal(text).map_err(|m| at(NUMERIC_VALUE_OUT_OF_RANGE, m))?;
                Typed::constant(ty, v)
            }
            Literal::Double(text) => Typed::constant(
                Type::Double,
                Value::Double(text.parse().map_err(|_| at(SYNTAX_ERROR, format!("Invalid numeric literal: {text}")))?),
            ),
            Literal::Str(s) => {
                Typed::constant(Type::Varchar(Some(s.chars().count() as u32)), Value::Varchar(s.clone()))
            }
            Literal::Boolean(b) => Typed::constant(Type::Boolean, Value::Boolean(*b)),
            Literal::Null => Typed::constant(Type::Unknown, Value::Null),
        }),
        ExprKind::TypedLiteral { ty, text } => {
            if ty.name == "decimal" {
                let (t, v) = coerce::decimal_literal(text).map_err(|m| at(INVALID_LITERAL, m))?;
                return Ok(Typed::constant(t, v));
            }
            if ty.name == "varchar" {
                return Ok(Typed::constant(
                    Type::Varchar(Some(text.chars().count() as u32)),
                    Value::Varchar(text.clone()),
                ));
            }
            let target = resolve_type(ty, expr.location)?;
            let source = Type::Varchar(Some(text.chars().count() as u32));
            let value = cast(&Value::Varchar(text.clone()), &source, &target)
                .map_err(|_| at(INVALID_LITERAL, format!("'{text}' is not a valid {} literal", ty.name)))?;
            Ok(Typed::constant(target, value))
        }
        ExprKind::Column(parts) => {
            let typed = resolve_column(parts, scope).map_err(|m| at(COLUMN_NOT_FOUND, m))?;
            if let Some(aggregation) = cx.aggregation.filter(|_| !cx.in_aggregate) {
                let mut first = aggregation.not_aggregate.borrow_mut();
                if first.is_none() {
                    *first = Some(at(
                        EXPRESSION_NOT_AGGREGATE,
                        format!("'{}' must be an aggregate expression or appear in GROUP BY clause", format_expr(expr)),
                    ));
                }
            }
            Ok(typed)
        }
        ExprKind::CountStar => aggregate_call(None, cx, expr),
        ExprKind::CurrentTimestamp => current_timestamp(cx.context),
        ExprKind::Parameter(_) => {
            Err(at(INVALID_PARAMETER_USAGE, "Incorrect number of parameters: expected 1 but found 0".into()))
        }
        ExprKind::Negate(inner) => {
            let inner = analyze_in(inner, cx)?;
            if !inner.ty.is_numeric() && inner.ty != Type::Unknown {
                return Err(at(TYPE_MISMATCH, format!("Cannot negate {}", inner.ty.display_name())));
            }
            Ok(Typed {
                ty: if inner.ty == Type::Unknown { Type::Integer } else { inner.ty.clone() },
                node: Node::Negate(Box::new(inner)),
            })
        }
        ExprKind::Not(inner) => {
            let inner = boolean_operand(analyze_in(inner, cx)?, "NOT", expr)?;
            Ok(Typed { ty: Type::Boolean, node: Node::Not(Box::new(inner)) })
        }
        ExprKind::IsNull { expr: inner, negated } => Ok(Typed {
            ty: Type::Boolean,
            node: Node::IsNull { expr: Box::new(analyze_in(inner, cx)?), negated: *negated },
        }),
        ExprKind::Cast { expr: inner, ty } => {
            let inner = analyze_in(inner, cx)?;
            let target = resolve_type(ty, expr.location)?;
            if !coerce::can_cast(&inner.ty, &target) {
                return Err(at(
                    TYPE_MISMATCH,
                    format!("Cannot cast {} to {}", inner.ty.display_name(), target.display_name()),
                ));
            }
            Ok(inner.coerced(&target))
        }
        ExprKind::Binary { op, left, right } => {
            let left = analyze_in(left, cx)?;
            let right = analyze_in(right, cx)?;
            binary(*op, left, right, expr)
        }
        ExprKind::Function { name, args } => function(name, args, cx, expr),
    }
}

fn resolve_column(parts: &[Ident], scope: &[ScopeColumn]) -> Result<Typed, String> {
    let names: Vec<String> = parts.iter().map(Ident::canonical).collect();
    let matches: Vec<usize> = scope
        .iter()
        .enumerate()
        .filter(|(_, c)| match names.as_slice() {
            [column] => c.name == *column,
            [relation, column] => c.relation.as_deref() == Some(relation.as_str()) && c.name == *column,
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let shown = names.join(".");
    match matches.as_slice() {
        [i] => Ok(Typed { ty: scope[*i].ty.clone(), node: Node::Column(*i) }),
        [] => Err(format!("Column '{shown}' cannot be resolved")),
        _ => Err(format!("Column '{shown}' is ambiguous")),
    }
}

fn boolean_operand(operand: Typed, op: &str, expr: &Expr) -> Result<Typed, QueryError> {
    match operand.ty {
        Type::Boolean => Ok(operand),
        Type::Unknown => Ok(operand.coerced(&Type::Boolean)),
        ref other => Err(QueryError::at(
            TYPE_MISMATCH,
            expr.location,
            format!("Value of {op} must evaluate to a boolean (actual: {})", other.display_name()),
        )),
    }
}

fn binary(op: BinaryOp, left: Typed, right: Typed, expr: &Expr) -> Result<Typed, QueryError> {
    let mismatch = |l: &Type, r: &Type| {
        QueryError::at(
            TYPE_MISMATCH,
            expr.location,
            format!("Cannot apply operator: {} {} {}", l.display_name(), op.symbol(), r.display_name()),
        )
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let (l, r) = (boolean_operand(left, op.symbol(), expr)?, boolean_operand(right, op.symbol(), expr)?);
            let node = if op == BinaryOp::And {
                Node::And(Box::new(l), Box::new(r))
            } else {
                Node::Or(Box::new(l), Box::new(r))
            };
            Ok(Typed { ty: Type::Boolean, node })
        }
        BinaryOp::Concat => {
            let as_varchar = |t: &Typed| matches!(t.ty, Type::Varchar(_) | Type::Unknown);
            if !as_varchar(&left) || !as_varchar(&right) {
                return Err(mismatch(&left.ty, &right.ty));
            }
            let length = |t: &Type| match t {
                Type::Varchar(n) => *n,
                _ => Some(0),
            };
            let ty = Type::Varchar(match (length(&left.ty), length(&right.ty)) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                _ => None,
            });
            Ok(Typed { ty, node: Node::Concat(Box::new(left), Box::new(right)) })
        }
        BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
            let common = common_super_type(&left.ty, &right.ty).ok_or_else(|| mismatch(&left.ty, &right.ty))?;
            if matches!(common, Type::Array(_)) && !matches!(op, BinaryOp::Eq | BinaryOp::NotEq) {
                return Err(mismatch(&left.ty, &right.ty));
            }
            let common = if common == Type::Unknown { Type::Boolean } else { common };
            Ok(Typed {
                ty: Type::Boolean,
                node: Node::Compare {
                    op,
                    left: Box::new(left.coerced(&common)),
                    right: Box::new(right.coerced(&common)),
                },
            })
        }
        BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulus => {
            let numeric = |t: &Type| t.is_numeric() || *t == Type::Unknown;
            if !numeric(&left.ty) || !numeric(&right.ty) {
                return Err(mismatch(&left.ty, &right.ty));
            }
            let (lt, rt) = (non_null_numeric(&left.ty, &right.ty), non_null_numeric(&right.ty, &left.ty));
            let result = arithmetic_type(op, &lt, &rt);
            // Operands are computed in the result's domain; decimals keep their own scale.
            let operand_type = |t: &Type| match &result {
                Type::Decimal { .. } => {
                    let (p, s) = t.as_decimal().unwrap_or((MAX_DECIMAL_PRECISION, 0));
                    Type::Decimal { precision: p, scale: s }
                }
                other => other.clone(),
            };
            let (lo, ro) = (operand_type(&lt), operand_type(&rt));
            Ok(Typed {
                ty: result,
                node: Node::Arithmetic { op, left: Box::new(left.coerced(&lo)), right: Box::new(right.coerced(&ro)) },
            })
        }
    }
}

/// A NULL operand takes the type of the other side (INTEGER when both are NULL).
fn non_null_numeric(ty: &Type, other: &Type) -> Type {
    match (ty, other) {
        (Type::Unknown, Type::Unknown) => Type::Integer,
        (Type::Unknown, other) => other.clone(),
        (ty, _) => ty.clone(),
    }
}

/// Trino's result types of arithmetic (`DecimalOperators` for decimals).
fn arithmetic_type(op: BinaryOp, left: &Type, right: &Type) -> Type {
    use Type::*;
    match (left, right) {
        (Double, _) | (_, Double) => Double,
        (Integer, Integer) => Integer,
        (Integer | Bigint, Integer | Bigint) => Bigint,
        _ => {
            let (p1, s1) = left.as_decimal().unwrap_or((MAX_DECIMAL_PRECISION, 0));
            let (p2, s2) = right.as_decimal().unwrap_or((MAX_DECIMAL_PRECISION, 0));
            let (precision, scale) = match op {
                BinaryOp::Add | BinaryOp::Subtract => {
                    let scale = s1.max(s2);
                    (1 + scale + (p1 - s1).max(p2 - s2), scale)
                }
                BinaryOp::Multiply => (p1 + p2, s1 + s2),
                BinaryOp::Divide => (p1 + s2 + s2.saturating_sub(s1), s1.max(s2)),
                _ => ((p2 - s2).min(p1 - s1) + s1.max(s2), s1.max(s2)),
            };
            Decimal { precision: precision.min(MAX_DECIMAL_PRECISION), scale: scale.min(MAX_DECIMAL_PRECISION) }
        }
    }
}

fn current_timestamp(context: &Context<'_>) -> Result<Typed, QueryError> {
    let rendered = render_timestamp_with_time_zone(context.start_ms, context.time_zone)?;
    Ok(Typed::constant(Type::TimestampWithTimeZone(3), Value::Varchar(rendered)))
}

/// `count(*)` (`argument` None) or `count(x)`.
fn aggregate_call(argument: Option<&Expr>, cx: Cx<'_>, expr: &Expr) -> Result<Typed, QueryError> {
    let Some(aggregation) = cx.aggregation else {
        return Err(QueryError::at(
            EXPRESSION_NOT_SCALAR,
            expr.location,
            format!("Aggregate function is not allowed here: {}", format_expr(expr)),
        ));
    };
    if cx.in_aggregate {
        return Err(QueryError::at(
            NESTED_AGGREGATION,
            expr.location,
            format!("Cannot nest aggregations inside aggregation 'count': [{}]", format_expr(expr)),
        ));
    }
    let argument = match argument {
        Some(argument) => Some(analyze_in(argument, Cx { in_aggregate: true, ..cx })?),
        None => None,
    };
    let mut calls = aggregation.calls.borrow_mut();
    calls.push(Aggregate { argument });
    Ok(Typed { ty: Type::Bigint, node: Node::Aggregate(calls.len() - 1) })
}

fn function(name: &Ident, args: &[Expr], cx: Cx<'_>, expr: &Expr) -> Result<Typed, QueryError> {
    let function_name = name.canonical();
    if function_name == "count" && args.len() <= 1 {
        // `count()` is `count(*)`.
        return aggregate_call(args.first(), cx, expr);
    }
    let typed: Vec<Typed> = args.iter().map(|a| analyze_in(a, cx)).collect::<Result<_, _>>()?;
    match function_name.as_str() {
        "version" if typed.is_empty() => {
            Ok(Typed::constant(Type::Varchar(None), Value::Varchar(cx.context.node_version.to_string())))
        }
        "now" if typed.is_empty() => current_timestamp(cx.context),
        "sequence"
            if (2..=3).contains(&typed.len())
                && typed.iter().all(|t| matches!(t.ty, Type::Integer | Type::Bigint | Type::Unknown)) =>
        {
            let args = typed.into_iter().map(|t| t.coerced(&Type::Bigint)).collect();
            Ok(Typed { ty: Type::Array(Box::new(Type::Bigint)), node: Node::Sequence(args) })
        }
        "sequence" => {
            let shown: Vec<String> = typed.iter().map(|t| t.ty.display_name()).collect();
            Err(QueryError::at(
                FUNCTION_NOT_FOUND,
                expr.location,
                format!("Unexpected parameters ({}) for function sequence. Expected: sequence(bigint, bigint), sequence(bigint, bigint, bigint)", shown.join(", ")),
            ))
        }
        _ => {
            Err(QueryError::at(FUNCTION_NOT_FOUND, expr.location, format!("Function '{function_name}' not registered")))
        }
    }
}

pub fn evaluate(typed: &Typed, row: &[Value]) -> Result<Value, QueryError> {
    match &typed.node {
        Node::Const(v) => Ok(v.clone()),
        Node::Column(i) | Node::Aggregate(i) => Ok(row.get(*i).cloned().unwrap_or(Value::Null)),
        Node::Cast(inner) => cast(&evaluate(inner, row)?, &inner.ty, &typed.ty),
        Node::Negate(inner) => match evaluate(inner, row)? {
            Value::Null => Ok(Value::Null),
            Value::Int(i) => {
                let negated = i.checked_neg().filter(|v| typed.ty != Type::Integer || i32::try_from(*v).is_ok());
                negated.map(Value::Int).ok_or_else(|| overflow(&typed.ty, "negation", &format!("-({i})")))
            }
            Value::Double(d) => Ok(Value::Double(-d)),
            Value::Decimal(d) => Ok(Value::Decimal(-d)),
            other => Ok(other),
        },
        Node::Not(inner) => Ok(match evaluate(inner, row)? {
            Value::Boolean(b) => Value::Boolean(!b),
            _ => Value::Null,
        }),
        Node::And(l, r) => Ok(match (evaluate(l, row)?, evaluate(r, row)?) {
            (Value::Boolean(false), _) | (_, Value::Boolean(false)) => Value::Boolean(false),
            (Value::Boolean(true), Value::Boolean(true)) => Value::Boolean(true),
            _ => Value::Null,
        }),
        Node::Or(l, r) => Ok(match (evaluate(l, row)?, evaluate(r, row)?) {
            (Value::Boolean(true), _) | (_, Value::Boolean(true)) => Value::Boolean(true),
            (Value::Boolean(false), Value::Boolean(false)) => Value::Boolean(false),
            _ => Value::Null,
        }),
        Node::IsNull { expr, negated } => Ok(Value::Boolean((evaluate(expr, row)? == Value::Null) != *negated)),
        Node::Concat(l, r) => Ok(match (evaluate(l, row)?, evaluate(r, row)?) {
            (Value::Varchar(a), Value::Varchar(b)) => Value::Varchar(a + &b),
            _ => Value::Null,
        }),
        Node::Compare { op, left, right } => {
            let (l, r) = (evaluate(left, row)?, evaluate(right, row)?);
            if l == Value::Null || r == Value::Null {
                return Ok(Value::Null);
            }
            let ordering = compare(&l, &r);
            Ok(Value::Boolean(match op {
                BinaryOp::Eq => ordering == Some(std::cmp::Ordering::Equal),
                BinaryOp::NotEq => ordering != Some(std::cmp::Ordering::Equal),
                BinaryOp::Lt => ordering == Some(std::cmp::Ordering::Less),
                BinaryOp::LtEq => matches!(ordering, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
                BinaryOp::Gt => ordering == Some(std::cmp::Ordering::Greater),
                _ => matches!(ordering, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
            }))
        }
        Node::Arithmetic { op, left, right } => {
            let (l, r) = (evaluate(left, row)?, evaluate(right, row)?);
            arithmetic(*op, &l, &left.ty, &r, &right.ty, &typed.ty)
        }
        Node::Sequence(args) => {
            let values: Vec<Value> = args.iter().map(|a| evaluate(a, row)).collect::<Result<_, _>>()?;
            let ints: Option<Vec<i64>> =
                values.iter().map(|v| if let Value::Int(i) = v { Some(*i) } else { None }).collect();
            let Some(ints) = ints else {
                return Ok(Value::Null);
            };
            sequence(ints[0], ints[1], ints.get(2).copied().unwrap_or(if ints[1] >= ints[0] { 1 } else { -1 }))
        }
    }
}

fn compare(l: &Value, r: &Value) -> Option<std::cmp::Ordering> {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Decimal(a), Value::Decimal(b)) => Some(a.cmp(b)),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        (Value::Varchar(a), Value::Varchar(b)) => Some(a.cmp(b)),
        (Value::Boolean(a), Value::Boolean(b)) => Some(a.cmp(b)),
        (Value::Array(a), Value::Array(b)) => {
            Some(if a == b { std::cmp::Ordering::Equal } else { std::cmp::Ordering::Less })
        }
        _ => None,
    }
}

fn overflow(ty: &Type, what: &str, shown: &str) -> QueryError {
    QueryError::new(NUMERIC_VALUE_OUT_OF_RANGE, format!("{} {what} overflow: {shown}", ty.display_name()))
}

fn arithmetic(op: BinaryOp, l: &Value, lt: &Type, r: &Value, rt: &Type, result: &Type) -> Result<Value, QueryError> {
    let division_by_zero = || QueryError::new(DIVISION_BY_ZERO, "Division by zero");
    match (l, r) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        (Value::Int(a), Value::Int(b)) => {
            let (what, value) = match op {
                BinaryOp::Add => ("addition", a.checked_add(*b)),
                BinaryOp::Subtract => ("subtraction", a.checked_sub(*b)),
                BinaryOp::Multiply => ("multiplication", a.checked_mul(*b)),
                BinaryOp::Divide if *b == 0 => return Err(division_by_zero()),
                BinaryOp::Divide => ("division", a.checked_div(*b)),
                _ if *b == 0 => return Err(division_by_zero()),
                _ => ("modulus", a.checked_rem(*b)),
            };
            let value = value.filter(|v| *result != Type::Integer || i32::try_from(*v).is_ok());
            value.map(Value::Int).ok_or_else(|| overflow(result, what, &format!("{a} {} {b}", op.symbol())))
        }
        (Value::Double(a), Value::Double(b)) => Ok(Value::Double(match op {
            BinaryOp::Add => a + b,
            BinaryOp::Subtract => a - b,
            BinaryOp::Multiply => a * b,
            BinaryOp::Divide => a / b,
            _ => a % b,
        })),
        (Value::Decimal(a), Value::Decimal(b)) => {
            let (s1, s2) = (lt.as_decimal().map_or(0, |d| d.1), rt.as_decimal().map_or(0, |d| d.1));
            let (precision, scale) = result.as_decimal().unwrap_or((MAX_DECIMAL_PRECISION, 0));
            let decimal_overflow = || QueryError::new(NUMERIC_VALUE_OUT_OF_RANGE, "Decimal overflow");
            let value = match op {
                BinaryOp::Add | BinaryOp::Subtract => {
                    let (x, y) = (rescale(*a, s1, scale), rescale(*b, s2, scale));
                    match (x, y) {
                        (Some(x), Some(y)) if op == BinaryOp::Add => x.checked_add(y),
                        (Some(x), Some(y)) => x.checked_sub(y),
                        _ => None,
                    }
                }
                BinaryOp::Multiply => a.checked_mul(*b),
                BinaryOp::Divide => {
                    if *b == 0 {
                        return Err(division_by_zero());
                    }
                    a.checked_mul(pow10(scale + s2 - s1)).map(|n| divide_half_up(n, *b))
                }
                _ => {
                    if *b == 0 {
                        return Err(division_by_zero());
                    }
                    match (rescale(*a, s1, scale), rescale(*b, s2, scale)) {
                        (Some(x), Some(y)) => Some(x % y),
                        _ => None,
                    }
                }
            };
            value.filter(|v| fits_precision(*v, precision)).map(Value::Decimal).ok_or_else(decimal_overflow)
        }
        _ => Err(QueryError::new(GENERIC_INTERNAL_ERROR, format!("Unexpected operands for {}", op.symbol()))),
    }
}

fn sequence(start: i64, stop: i64, step: i64) -> Result<Value, QueryError> {
    let invalid = |m: &str| QueryError::new(INVALID_FUNCTION_ARGUMENT, m);
    if step == 0 {
        return Err(invalid("step must not be zero"));
    }
    if (step > 0 && stop < start) || (step < 0 && stop > start) {
        return Err(invalid("sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start"));
    }
    let entries = (i128::from(stop) - i128::from(start)) / i128::from(step) + 1;
    if entries > i128::from(MAX_SEQUENCE_ENTRIES) {
        return Err(invalid(&format!(
            "result of sequence function must not have more than {MAX_SEQUENCE_ENTRIES} entries"
        )));
    }
    Ok(Value::Array((0..entries as i64).map(|i| Value::Int(start + i * step)).collect()))
}
