//! The session statements (Trino's `SetSessionTask`, `ResetSessionTask`,
//! `UseTask`, `PrepareTask`, `DeallocateTask`) and the dispatch-time
//! resolution of EXECUTE with parameter binding (`QueryPreparer`).

use super::ast::{Expr, ExprKind, Ident, Relation, SelectItem, Statement};
use super::error::*;
use super::exec::{context, Environment, Outcome};
use super::expr::{analyze, evaluate};
use super::format::format_expr;
use super::parser::parse;
use super::session_properties::system_property;
use super::tpch::{all_catalogs, schemas};
use super::types::{Type, Value};

/// `QualifiedName.toString()`: each part lower-cased, joined with dots.
fn qualified_name(name: &[Ident]) -> String {
    name.iter().map(|part| part.value.to_lowercase()).collect::<Vec<_>>().join(".")
}

fn catalog_exists(catalog: &str, env: &Environment) -> bool {
    all_catalogs(&env.catalogs).iter().any(|c| c == catalog)
}

/// The first column reference in an expression.
fn column_reference(expr: &Expr) -> Option<&Expr> {
    let mut found = None;
    visit(expr, &mut |e| {
        if found.is_none() && matches!(e.kind, ExprKind::Column(_)) {
            found = Some(e);
        }
    });
    found
}

fn visit<'e>(expr: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    f(expr);
    match &expr.kind {
        ExprKind::Negate(inner) | ExprKind::Not(inner) => visit(inner, f),
        ExprKind::IsNull { expr: inner, .. } | ExprKind::Cast { expr: inner, .. } => visit(inner, f),
        ExprKind::Binary { left, right, .. } => {
            visit(left, f);
            visit(right, f);
        }
        ExprKind::Function { args, .. } => args.iter().for_each(|a| visit(a, f)),
        ExprKind::Literal(_)
        | ExprKind::TypedLiteral { .. }
        | ExprKind::Column(_)
        | ExprKind::CountStar
        | ExprKind::CurrentTimestamp
        | ExprKind::Parameter(_) => {}
    }
}

fn visit_mut(expr: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    f(expr);
    match &mut expr.kind {
        ExprKind::Negate(inner) | ExprKind::Not(inner) => visit_mut(inner, f),
        ExprKind::IsNull { expr: inner, .. } | ExprKind::Cast { expr: inner, .. } => visit_mut(inner, f),
        ExprKind::Binary { left, right, .. } => {
            visit_mut(left, f);
            visit_mut(right, f);
        }
        ExprKind::Function { args, .. } => args.iter_mut().for_each(|a| visit_mut(a, f)),
        ExprKind::Literal(_)
        | ExprKind::TypedLiteral { .. }
        | ExprKind::Column(_)
        | ExprKind::CountStar
        | ExprKind::CurrentTimestamp
        | ExprKind::Parameter(_) => {}
    }
}

/// The statement's own expressions (not those of a statement it prepares).
fn statement_exprs_mut(statement: &mut Statement) -> Vec<&mut Expr> {
    match statement {
        Statement::Query(query) => {
            let mut exprs: Vec<&mut Expr> = query
                .items
                .iter_mut()
                .filter_map(|item| match item {
                    SelectItem::Expr { expr, .. } => Some(expr),
                    SelectItem::Wildcard(_) => None,
                })
                .collect();
            if let Some(Relation::Unnest { args, .. }) = &mut query.from {
                exprs.extend(args.iter_mut());
            }
            exprs.extend(query.filter.iter_mut());
            exprs
        }
        Statement::SetSession { value, .. } => vec![value],
        Statement::Execute { parameters, .. } | Statement::ExecuteImmediate { parameters, .. } => {
            parameters.iter_mut().collect()
        }
        _ => Vec::new(),
    }
}

fn parameter_count(statement: &mut Statement) -> usize {
    let mut count = 0;
    for expr in statement_exprs_mut(statement) {
        visit_mut(expr, &mut |e| count += usize::from(matches!(e.kind, ExprKind::Parameter(_))));
    }
    count
}

/// Trino's `QueryPreparer`: EXECUTE becomes the prepared statement with its
/// parameters bound; any statement must use exactly as many `?` as values given.
pub fn prepare(statement: Statement, env: &Environment) -> Result<Statement, QueryError> {
    let (mut statement, parameters) = match statement {
        Statement::Execute { name, parameters } => {
            let sql = env
                .prepared
                .get(&name.value)
                .ok_or_else(|| QueryError::new(NOT_FOUND, format!("Prepared statement not found: {}", name.value)))?;
            (parse(sql)?, parameters)
        }
        Statement::ExecuteImmediate { sql, parameters } => (parse(&sql)?, parameters),
        other => (other, Vec::new()),
    };
    let expected = parameter_count(&mut statement);
    if expected != parameters.len() {
        let location = match &statement {
            Statement::Query(query) => query.location,
            _ => Location { line: 1, column: 1 },
        };
        return Err(QueryError::at(
            INVALID_PARAMETER_USAGE,
            location,
            format!("Incorrect number of parameters: expected {expected} but found {}", parameters.len()),
        ));
    }
    for parameter in &parameters {
        if let Some(column) = column_reference(parameter) {
            return Err(QueryError::at(
                EXPRESSION_NOT_CONSTANT,
                column.location,
                "Constant expression cannot contain column references",
            ));
        }
    }
    if !parameters.is_empty() {
        for expr in statement_exprs_mut(&mut statement) {
            visit_mut(expr, &mut |e| {
                if let ExprKind::Parameter(index) = e.kind {
                    if let Some(value) = parameters.get(index) {
                        *e = value.clone();
                    }
                }
            });
        }
    }
    Ok(statement)
}

/// Trino's implicit coercions into the types session properties have.
fn can_coerce(from: &Type, to: &Type) -> bool {
    from == to
        || *from == Type::Unknown
        || matches!((from, to), (Type::Varchar(_), Type::Varchar(None)) | (Type::Integer, Type::Bigint))
}

/// `SET SESSION name = value` (`SetSessionTask` and `SessionPropertyEvaluator`).
pub fn set_session(name: &[Ident], value: &Expr, env: &Environment) -> Result<Outcome, QueryError> {
    let full = qualified_name(name);
    let property = match name {
        [property] => system_property(&property.value.to_lowercase()),
        [catalog, _] => {
            let catalog = catalog.value.to_lowercase();
            if !catalog_exists(&catalog, env) {
                return Err(QueryError::at(
                    CATALOG_NOT_FOUND,
                    value.location,
                    format!("Catalog '{catalog}' not found"),
                ));
            }
            // The emulator's catalogs have no session properties.
            None
        }
        _ => return Err(QueryError::new(INVALID_SESSION_PROPERTY, format!("Invalid session property '{full}'"))),
    };
    let property = property.ok_or_else(|| {
        QueryError::at(INVALID_SESSION_PROPERTY, value.location, format!("Session property '{full}' does not exist"))
    })?;
    let unable = |raw: &str| {
        QueryError::new(
            INVALID_SESSION_PROPERTY,
            format!("Unable to set session property '{full}' to '{}': {raw}", format_expr(value)),
        )
    };
    if column_reference(value).is_some() {
        return Err(unable("Constant expression cannot contain column references"));
    }
    let typed = analyze(value, &[], &context(env)).map_err(|e| unable(e.raw_message()))?;
    let target = property.sql_type();
    if !can_coerce(&typed.ty, &target) {
        return Err(unable(&format!("Cannot cast type {} to {}", typed.ty.display_name(), target.display_name())));
    }
    let object = evaluate(&typed, &[]).map_err(|e| unable(e.raw_message()))?;
    let serialized = match &object {
        Value::Null => return Err(unable("Session property value must not be null")),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Varchar(s) => s.clone(),
        Value::Double(d) => d.to_string(),
        other => format!("{other:?}"),
    };
    property.decode(&object).map_err(|message| QueryError::at(INVALID_SESSION_PROPERTY, value.location, message))?;
    Ok(Outcome::SetSession { name: full, value: serialized })
}

/// `RESET SESSION name` (`ResetSessionTask`); errors point at the statement.
pub fn reset_session(name: &[Ident], location: Location, env: &Environment) -> Result<Outcome, QueryError> {
    let full = qualified_name(name);
    let exists = match name {
        [property] => system_property(&property.value.to_lowercase()).is_some(),
        [catalog, _] => {
            let catalog = catalog.value.to_lowercase();
            if !catalog_exists(&catalog, env) {
                return Err(QueryError::at(CATALOG_NOT_FOUND, location, format!("Catalog '{catalog}' not found")));
            }
            false
        }
        _ => {
            return Err(QueryError::at(
                INVALID_SESSION_PROPERTY,
                location,
                format!("Invalid session property '{full}'"),
            ))
        }
    };
    if !exists {
        return Err(QueryError::at(
            INVALID_SESSION_PROPERTY,
            location,
            format!("Session property '{full}' does not exist"),
        ));
    }
    Ok(Outcome::ResetSession { name: full })
}

/// `USE [catalog.]schema` (`UseTask`).
pub fn use_schema(
    catalog: Option<&Ident>,
    schema: &Ident,
    location: Location,
    env: &Environment,
) -> Result<Outcome, QueryError> {
    let named = catalog.map(|c| c.value.to_lowercase());
    let catalog = match (&named, &env.session_catalog) {
        (Some(c), _) | (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(QueryError::at(
                MISSING_CATALOG_NAME,
                location,
                "Catalog must be specified when session catalog is not set",
            ))
        }
    };
    let schema = schema.value.to_lowercase();
    let Some(known) = schemas(&catalog, &env.catalogs) else {
        return Err(QueryError::new(CATALOG_NOT_FOUND, format!("Catalog '{catalog}' not found")));
    };
    if !known.contains(&schema.as_str()) {
        return Err(QueryError::new(NOT_FOUND, format!("Schema does not exist: {catalog}.{schema}")));
    }
    Ok(Outcome::Use { catalog: named, schema })
}

/// `PREPARE name FROM statement` (`PrepareTask`).
pub fn prepare_statement(name: &Ident, statement: &Statement, sql: &str) -> Result<Outcome, QueryError> {
    if matches!(
        statement,
        Statement::Prepare { .. }
            | Statement::Execute { .. }
            | Statement::ExecuteImmediate { .. }
            | Statement::Deallocate { .. }
    ) {
        return Err(QueryError::new(
            NOT_SUPPORTED,
            format!("Invalid statement type for prepared statement: {}", statement.kind_name()),
        ));
    }
    Ok(Outcome::Prepare { name: name.value.clone(), sql: sql.to_string() })
}

/// `DEALLOCATE PREPARE name` (`DeallocateTask`).
pub fn deallocate(name: &Ident, env: &Environment) -> Result<Outcome, QueryError> {
    if !env.prepared.contains_key(&name.value) {
        return Err(QueryError::new(NOT_FOUND, format!("Prepared statement not found: {}", name.value)));
    }
    Ok(Outcome::Deallocate { name: name.value.clone() })
}
