//! Runs a parsed statement: queries on the embedded engine (translated to
//! SQLite, typed as Trino types them), DDL and DML on the catalogs, session
//! and transaction statements handed back to the coordinator.

use super::ddl;
use super::engine::Engine;
use super::error::*;
use super::functions::carried_error;
use super::metadata::Node;
use super::names::Resolver;
use super::result_types::{prepare_query, Prepared};
use super::statement::{location_of, Statement};
use super::statements;
use super::translate::Constants;
use super::types::{Type, Value};
use super::typing::{from_values, to_value};
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::Connection;
use sqlparser::ast::{self, Expr, SelectItem, SetExpr, Visit};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// What the coordinator knows about itself and the query's session.
#[derive(Clone, Debug)]
pub struct Environment {
    pub engine: Arc<Engine>,
    pub node_id: String,
    pub http_uri: String,
    pub node_version: String,
    pub session_catalog: Option<String>,
    pub session_schema: Option<String>,
    /// Prepared statements of the session (`X-Trino-Prepared-Statement`): name → SQL.
    pub prepared: BTreeMap<String, String>,
    /// `X-Trino-Time-Zone` (Trino's default: the server's zone, UTC here).
    pub time_zone: String,
    /// The query's start, for `now()` / `current_timestamp` (Unix milliseconds).
    pub start_ms: u128,
}

impl Environment {
    /// Every catalog name (`system`, `tpch`, `--catalogs`, `--catalog-dir`).
    pub fn catalogs(&self) -> Vec<String> {
        self.engine.catalog_names()
    }

    pub fn node(&self) -> Node {
        Node { node_id: self.node_id.clone(), http_uri: self.http_uri.clone(), node_version: self.node_version.clone() }
    }

    pub fn constants(&self) -> Result<Constants, QueryError> {
        let now = super::clock::render_timestamp_with_time_zone(self.start_ms, &self.time_zone)?;
        Ok(Constants { today: now.get(..10).unwrap_or_default().to_string(), now, version: self.node_version.clone() })
    }

    pub fn resolver<'a>(&'a self, connection: &'a Connection) -> Resolver<'a> {
        Resolver {
            engine: &self.engine,
            connection,
            session_catalog: self.session_catalog.clone(),
            session_schema: self.session_schema.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Rows(ResultSet),
    /// INSERT, DELETE, CREATE TABLE AS: Trino answers a `rows` column and `updateCount`.
    Modified {
        update_type: &'static str,
        count: u64,
    },
    /// DDL: only `updateType`.
    Ddl(&'static str),
    StartTransaction,
    Commit,
    Rollback,
    /// `SET SESSION name = value`: `name` lower-cased (`catalog.name` for a
    /// catalog property), `value` serialized as Trino sends it in
    /// `X-Trino-Set-Session` (before URL encoding).
    SetSession {
        name: String,
        value: String,
    },
    /// `RESET SESSION name` → `X-Trino-Clear-Session`.
    ResetSession {
        name: String,
    },
    /// `USE [catalog.]schema` → `X-Trino-Set-Catalog` (only when named) and `X-Trino-Set-Schema`.
    Use {
        catalog: Option<String>,
        schema: String,
    },
    /// `PREPARE name FROM statement` → `X-Trino-Added-Prepare` (name keeps its case).
    Prepare {
        name: String,
        sql: String,
    },
    /// `DEALLOCATE PREPARE name` → `X-Trino-Deallocated-Prepare`.
    Deallocate {
        name: String,
    },
}

/// Dispatch-time work (Trino's `QueryPreparer`): `EXECUTE name [USING …]` and
/// `EXECUTE IMMEDIATE '…' [USING …]` become the statement they name, with
/// parameters bound. Errors here fail the query in dispatch.
pub fn prepare(statement: Statement, env: &Environment) -> Result<Statement, QueryError> {
    statements::prepare(statement, env)
}

pub fn execute(statement: &Statement, env: &Environment) -> Result<Outcome, QueryError> {
    match statement {
        Statement::Query(query) => {
            let connection = env.engine.lock();
            run_query(query, env, &connection).map(Outcome::Rows)
        }
        Statement::ShowCatalogs { like } => {
            let names: Vec<String> =
                env.catalogs().into_iter().filter(|c| like.as_deref().is_none_or(|p| like_match(p, c))).collect();
            Ok(Outcome::Rows(ResultSet {
                columns: vec![Column { name: "Catalog".into(), ty: Type::Varchar(None) }],
                rows: names.into_iter().map(|c| vec![Value::Varchar(c)]).collect(),
            }))
        }
        Statement::StartTransaction => Ok(Outcome::StartTransaction),
        Statement::Commit => Ok(Outcome::Commit),
        Statement::Rollback => Ok(Outcome::Rollback),
        Statement::SetSession { name, value } => statements::set_session(name, value, env),
        Statement::ResetSession { name, location } => statements::reset_session(name, *location, env),
        Statement::Use { catalog, schema, location } => {
            statements::use_schema(catalog.as_ref(), schema, *location, env)
        }
        Statement::Prepare { name, statement, sql } => statements::prepare_statement(name, statement, sql),
        Statement::Deallocate { name } => statements::deallocate(name, env),
        Statement::Unsupported { kind } => Err(QueryError::at(
            NOT_SUPPORTED,
            Location { line: 1, column: 1 },
            format!("Statement '{kind}' is not supported by the Trino coordinator emulator"),
        )),
        Statement::Execute { .. } | Statement::ExecuteImmediate { .. } => Err(QueryError::new(
            NOT_SUPPORTED,
            "EXECUTE must be resolved by sql::prepare before execution in the Trino coordinator emulator",
        )),
        Statement::CreateView { .. }
        | Statement::CommentOnView { .. }
        | Statement::RenameView { .. }
        | Statement::Sql(_) => {
            let connection = env.engine.lock();
            ddl::execute(statement, env, &connection)
        }
    }
}

/// SQL LIKE with `%` and `_`.
fn like_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>())
}

/// Every error code a custom SQL function may raise.
const CARRIED: &[ErrorCode] = &[
    DIVISION_BY_ZERO,
    INVALID_CAST_ARGUMENT,
    NUMERIC_VALUE_OUT_OF_RANGE,
    INVALID_FUNCTION_ARGUMENT,
    TYPE_NOT_FOUND,
    NOT_SUPPORTED,
];

/// Where an identifier named `name` is written in the statement.
fn identifier_location(node: &impl Visit, name: &str) -> Option<Location> {
    let mut found = None;
    let _ = sqlparser::ast::visit_expressions(node, |expr| {
        let ident = match expr {
            Expr::Identifier(ident) => Some(ident),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if let Some(ident) = ident.filter(|i| i.value.eq_ignore_ascii_case(name)) {
            found = Some(location_of(ident.span.start));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// An SQLite error in Trino's terms.
pub fn engine_error(error: rusqlite::Error, node: &impl Visit) -> QueryError {
    let message = match &error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    };
    if let Some(carried) = carried_error(&message, CARRIED) {
        return carried;
    }
    let at = |code, name: &str, text: String| match identifier_location(node, name) {
        Some(location) => QueryError::at(code, location, text),
        None => QueryError::new(code, text),
    };
    if let Some(column) = message.strip_prefix("no such column: ") {
        let name = column.rsplit('.').next().unwrap_or(column).to_string();
        return at(COLUMN_NOT_FOUND, &name, format!("Column '{}' cannot be resolved", column.to_lowercase()));
    }
    if let Some(column) = message.strip_prefix("ambiguous column name: ") {
        let name = column.rsplit('.').next().unwrap_or(column).to_string();
        return at(AMBIGUOUS_NAME, &name, format!("Column '{}' is ambiguous", column.to_lowercase()));
    }
    if message.starts_with("no such function: sequence") {
        return QueryError::new(
            NOT_SUPPORTED,
            "Not supported by the Trino coordinator emulator: arrays (sequence outside UNNEST)",
        );
    }
    if message.contains("database is locked") || message.contains("disk I/O") {
        return QueryError::new(GENERIC_INTERNAL_ERROR, format!("Catalog storage: {message}"));
    }
    QueryError::new(NOT_SUPPORTED, format!("Not supported by the Trino coordinator emulator's SQL engine: {message}"))
}

/// Runs a Trino query and types its result as Trino would.
pub fn run_query(query: &ast::Query, env: &Environment, connection: &Connection) -> Result<ResultSet, QueryError> {
    // `(SELECT …)` as a whole statement (CREATE TABLE … AS (…), INSERT … (…)).
    if let SetExpr::Query(inner) = query.body.as_ref() {
        if query.with.is_none() && query.order_by.is_none() && query.limit_clause.is_none() && query.fetch.is_none() {
            return run_query(inner, env, connection);
        }
    }
    if let Some(location) = wildcard_without_from(query) {
        return Err(QueryError::at(
            GENERIC_USER_ERROR,
            location,
            "SELECT * not allowed in queries without FROM clause",
        ));
    }
    super::analysis::check(query)?;
    let Prepared { mut statement, columns: described } = prepare_query(query, env, connection, &HashMap::new(), 0)?;
    let width = described.len();
    let mut raw: Vec<Vec<Sql>> = Vec::new();
    let mut rows = statement.query([]).map_err(|e| engine_error(e, query))?;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let mut values = Vec::with_capacity(width);
                for index in 0..width {
                    values.push(row.get::<_, Sql>(index).map_err(|e| engine_error(e, query))?);
                }
                raw.push(values);
            }
            Ok(None) => break,
            Err(error) => return Err(engine_error(error, query)),
        }
    }
    // What the statement does not tell, the values do.
    let columns: Vec<Column> = described
        .into_iter()
        .enumerate()
        .map(|(index, (name, ty))| Column {
            name,
            ty: ty.unwrap_or_else(|| from_values(raw.iter().map(|row| ValueRef::from(&row[index])))),
        })
        .collect();
    let mut out = Vec::with_capacity(raw.len());
    for row in &raw {
        let mut values = Vec::with_capacity(width);
        for (value, column) in row.iter().zip(&columns) {
            values.push(to_value(ValueRef::from(value), &column.ty)?);
        }
        out.push(values);
    }
    Ok(ResultSet { columns, rows: out })
}

fn wildcard_without_from(query: &ast::Query) -> Option<Location> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    if !select.from.is_empty() {
        return None;
    }
    select.projection.iter().find_map(|item| match item {
        SelectItem::Wildcard(options) => Some(location_of(options.wildcard_token.0.span.start)),
        _ => None,
    })
}

/// The value of a constant expression (SET SESSION, EXECUTE parameters).
pub fn evaluate_constant(expr: &Expr, env: &Environment) -> Result<(Type, Value), QueryError> {
    let Ok(Statement::Query(mut query)) = super::statement::parse("SELECT NULL") else {
        return Err(QueryError::new(GENERIC_INTERNAL_ERROR, "the emulator cannot parse its own SELECT"));
    };
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = vec![SelectItem::UnnamedExpr(expr.clone())];
    }
    let connection = env.engine.lock();
    let result = run_query(&query, env, &connection)?;
    let ty = result.columns.first().map_or(Type::Unknown, |c| c.ty.clone());
    let value = result.rows.into_iter().next().and_then(|r| r.into_iter().next()).unwrap_or(Value::Null);
    Ok((ty, value))
}
