//! Runs a parsed statement against the emulator's tiny catalog: literal
//! SELECTs, UNNEST, `system.runtime.nodes`, `system.metadata.catalogs` and
//! SHOW CATALOGS. Transaction statements are handed back to the caller, which
//! owns the coordinator's transaction table.

use super::ast::{Ident, Query, Relation, SelectItem, Statement};
use super::error::*;
use super::expr::{analyze, evaluate, ScopeColumn};
use super::types::{Type, Value};
use std::collections::BTreeMap;

/// What the coordinator knows about itself, for the system tables.
#[derive(Clone, Debug)]
pub struct Environment {
    pub node_id: String,
    pub http_uri: String,
    pub node_version: String,
    pub catalogs: Vec<String>,
    pub session_catalog: Option<String>,
    pub session_schema: Option<String>,
    /// Prepared statements of the session (`X-Trino-Prepared-Statement`): name → SQL.
    pub prepared: BTreeMap<String, String>,
    /// `X-Trino-Time-Zone` (Trino's default: the server's zone, UTC here).
    pub time_zone: String,
    /// The query's start, for `now()` / `current_timestamp` (Unix milliseconds).
    pub start_ms: u128,
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
/// parameters bound. Errors here fail the query in dispatch (reported by the
/// queued resource), e.g. `Prepared statement not found: x`.
pub fn prepare(statement: Statement, _env: &Environment) -> Result<Statement, QueryError> {
    Ok(statement)
}

pub fn execute(statement: &Statement, env: &Environment) -> Result<Outcome, QueryError> {
    match statement {
        Statement::Query(query) => select(query, env).map(Outcome::Rows),
        Statement::ShowCatalogs { like } => {
            let mut names: Vec<&String> =
                env.catalogs.iter().filter(|c| like.as_deref().is_none_or(|p| like_match(p, c))).collect();
            names.sort();
            Ok(Outcome::Rows(ResultSet {
                columns: vec![Column { name: "Catalog".into(), ty: Type::Varchar(None) }],
                rows: names.into_iter().map(|c| vec![Value::Varchar(c.clone())]).collect(),
            }))
        }
        Statement::StartTransaction => Ok(Outcome::StartTransaction),
        Statement::Commit => Ok(Outcome::Commit),
        Statement::Rollback => Ok(Outcome::Rollback),
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

fn select(query: &Query, env: &Environment) -> Result<ResultSet, QueryError> {
    let (scope, input_rows) = match &query.from {
        None => (Vec::new(), vec![Vec::new()]),
        Some(relation) => relation_rows(relation, env)?,
    };
    let mut projections = Vec::new();
    let mut columns = Vec::new();
    for (index, item) in query.items.iter().enumerate() {
        match item {
            SelectItem::Wildcard(location) => {
                if scope.is_empty() {
                    return Err(QueryError::at(
                        GENERIC_USER_ERROR,
                        *location,
                        "SELECT * not allowed in queries without FROM clause",
                    ));
                }
                for (i, column) in scope.iter().enumerate() {
                    columns.push(Column { name: column.name.clone(), ty: column.ty.clone() });
                    projections.push(Projection::Column(i));
                }
            }
            SelectItem::Expr { expr, alias } => {
                let typed = analyze(expr, &scope)?;
                let name = match (alias, typed.column_index()) {
                    (Some(alias), _) => alias.canonical(),
                    (None, Some(i)) => scope[i].name.clone(),
                    (None, None) => format!("_col{index}"),
                };
                columns.push(Column { name, ty: typed.ty.clone() });
                projections.push(Projection::Expr(typed));
            }
        }
    }
    let filter = match &query.filter {
        Some(expr) => {
            let typed = analyze(expr, &scope)?;
            if !matches!(typed.ty, Type::Boolean | Type::Unknown) {
                return Err(QueryError::at(
                    TYPE_MISMATCH,
                    expr.location,
                    format!("WHERE clause must evaluate to a boolean: actual type {}", typed.ty.display_name()),
                ));
            }
            Some(typed)
        }
        None => None,
    };
    let mut rows = Vec::new();
    for row in &input_rows {
        if query.limit.is_some_and(|limit| rows.len() as u64 >= limit) {
            break;
        }
        if let Some(filter) = &filter {
            if evaluate(filter, row)? != Value::Boolean(true) {
                continue;
            }
        }
        let out: Vec<Value> = projections
            .iter()
            .map(|p| match p {
                Projection::Column(i) => Ok(row.get(*i).cloned().unwrap_or(Value::Null)),
                Projection::Expr(typed) => evaluate(typed, row),
            })
            .collect::<Result<_, _>>()?;
        rows.push(out);
    }
    Ok(ResultSet { columns, rows })
}

enum Projection {
    Column(usize),
    Expr(super::expr::Typed),
}

type Rows = (Vec<ScopeColumn>, Vec<Vec<Value>>);

fn relation_rows(relation: &Relation, env: &Environment) -> Result<Rows, QueryError> {
    match relation {
        Relation::Unnest { args, alias, columns: names, location } => {
            let alias_name = alias.as_ref().map(Ident::canonical);
            let mut arrays = Vec::new();
            let mut scope = Vec::new();
            for (i, arg) in args.iter().enumerate() {
                let typed = analyze(arg, &[])?;
                let Type::Array(element) = typed.ty.clone() else {
                    return Err(QueryError::at(
                        TYPE_MISMATCH,
                        arg.location,
                        format!("Cannot unnest type: {}", typed.ty.display_name()),
                    ));
                };
                let values = match evaluate(&typed, &[])? {
                    Value::Array(values) => values,
                    _ => Vec::new(),
                };
                arrays.push(values);
                scope.push(ScopeColumn {
                    name: names.get(i).map(Ident::canonical).unwrap_or_default(),
                    relation: alias_name.clone(),
                    ty: *element,
                });
            }
            if !names.is_empty() && names.len() != scope.len() {
                return Err(QueryError::at(
                    MISMATCHED_COLUMN_ALIASES,
                    *location,
                    format!(
                        "Column alias list has {} entries but '{}' has {} columns available",
                        names.len(),
                        alias_name.unwrap_or_default(),
                        scope.len()
                    ),
                ));
            }
            let length = arrays.iter().map(Vec::len).max().unwrap_or(0);
            let rows = (0..length)
                .map(|r| arrays.iter().map(|a| a.get(r).cloned().unwrap_or(Value::Null)).collect())
                .collect();
            Ok((scope, rows))
        }
        Relation::Table { name, alias, location } => {
            let parts: Vec<String> = name.iter().map(Ident::canonical).collect();
            let (catalog, schema, table) = match parts.as_slice() {
                [c, s, t] => (c.clone(), s.clone(), t.clone()),
                [s, t] => match &env.session_catalog {
                    Some(c) => (c.clone(), s.clone(), t.clone()),
                    None => {
                        return Err(QueryError::at(
                            MISSING_CATALOG_NAME,
                            *location,
                            "Catalog must be specified when session catalog is not set",
                        ))
                    }
                },
                [t] => match (&env.session_catalog, &env.session_schema) {
                    (Some(c), Some(s)) => (c.clone(), s.clone(), t.clone()),
                    (None, _) => {
                        return Err(QueryError::at(
                            MISSING_CATALOG_NAME,
                            *location,
                            "Catalog must be specified when session catalog is not set",
                        ))
                    }
                    (Some(_), None) => {
                        return Err(QueryError::at(
                            MISSING_SCHEMA_NAME,
                            *location,
                            "Schema must be specified when session schema is not set",
                        ))
                    }
                },
                _ => {
                    return Err(QueryError::at(
                        SYNTAX_ERROR,
                        *location,
                        format!("Too many dots in table name: {}", parts.join(".")),
                    ))
                }
            };
            if !env.catalogs.contains(&catalog) {
                return Err(QueryError::at(CATALOG_NOT_FOUND, *location, format!("Catalog '{catalog}' not found")));
            }
            let relation_name = alias.as_ref().map(Ident::canonical).unwrap_or_else(|| table.clone());
            let varchar = Type::Varchar(None);
            let (columns, rows): (Vec<(&str, Type)>, Vec<Vec<Value>>) =
                match (catalog.as_str(), schema.as_str(), table.as_str()) {
                    ("system", "runtime", "nodes") => (
                        vec![
                            ("node_id", varchar.clone()),
                            ("http_uri", varchar.clone()),
                            ("node_version", varchar.clone()),
                            ("coordinator", Type::Boolean),
                            ("state", varchar),
                        ],
                        vec![vec![
                            Value::Varchar(env.node_id.clone()),
                            Value::Varchar(env.http_uri.clone()),
                            Value::Varchar(env.node_version.clone()),
                            Value::Boolean(true),
                            Value::Varchar("active".into()),
                        ]],
                    ),
                    ("system", "metadata", "catalogs") => (
                        vec![
                            ("catalog_name", varchar.clone()),
                            ("connector_id", varchar.clone()),
                            ("connector_name", varchar),
                        ],
                        env.catalogs
                            .iter()
                            .map(|c| {
                                vec![Value::Varchar(c.clone()), Value::Varchar(c.clone()), Value::Varchar(c.clone())]
                            })
                            .collect(),
                    ),
                    ("system", "runtime" | "metadata" | "information_schema" | "jdbc", _) => {
                        return Err(QueryError::at(
                            TABLE_NOT_FOUND,
                            *location,
                            format!("Table '{catalog}.{schema}.{table}' does not exist"),
                        ))
                    }
                    _ => {
                        return Err(QueryError::at(
                            SCHEMA_NOT_FOUND,
                            *location,
                            format!("Schema '{schema}' does not exist"),
                        ))
                    }
                };
            let scope = columns
                .into_iter()
                .map(|(n, ty)| ScopeColumn { name: n.into(), relation: Some(relation_name.clone()), ty })
                .collect();
            Ok((scope, rows))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;
    use serde_json::json;

    fn env() -> Environment {
        Environment {
            node_id: "emu-a".into(),
            http_uri: "http://127.0.0.1:8081".into(),
            node_version: "480".into(),
            catalogs: vec!["system".into()],
            session_catalog: None,
            session_schema: None,
            prepared: BTreeMap::new(),
            time_zone: "UTC".into(),
            start_ms: 1_764_000_000_000,
        }
    }

    fn run(sql: &str) -> Result<ResultSet, QueryError> {
        match execute(&parse(sql)?, &env())? {
            Outcome::Rows(rows) => Ok(rows),
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// (SQL, expected column types, expected first row as JSON)
    #[test]
    fn literal_selects_give_trino_types_and_values() {
        let cases: &[(&str, &[&str], serde_json::Value)] = &[
            ("SELECT 1", &["integer"], json!([1])),
            ("SELECT 3000000000", &["bigint"], json!([3000000000i64])),
            ("SELECT BIGINT '5' + 1", &["bigint"], json!([6])),
            (
                "SELECT 1.5, 1e3, 'abc', true, NULL",
                &["decimal(2,1)", "double", "varchar(3)", "boolean", "unknown"],
                json!(["1.5", 1000.0, "abc", true, null]),
            ),
            ("SELECT 1.50 + 2", &["decimal(13,2)"], json!(["3.50"])),
            ("SELECT 2.5 * 1.25", &["decimal(5,3)"], json!(["3.125"])),
            ("SELECT 10 / 4, 10 % 4, -7 / 2", &["integer", "integer", "integer"], json!([2, 2, -3])),
            ("SELECT 1.0 / 3", &["decimal(2,1)"], json!(["0.3"])),
            ("SELECT 1 + 2.0E0", &["double"], json!([3.0])),
            ("SELECT 'a' || 'bc'", &["varchar(3)"], json!(["abc"])),
            (
                "SELECT 1 = 1, 1 < 2.5, 'a' <> 'b', NULL = 1",
                &["boolean", "boolean", "boolean", "boolean"],
                json!([true, true, true, null]),
            ),
            (
                "SELECT CAST('42' AS bigint), CAST(2.5 AS integer), CAST(1 AS decimal(5,2))",
                &["bigint", "integer", "decimal(5,2)"],
                json!([42, 3, "1.00"]),
            ),
            ("SELECT NULL + 1", &["integer"], json!([null])),
            ("SELECT 1 IS NULL, NOT false AND true", &["boolean", "boolean"], json!([false, true])),
        ];
        for (sql, types, row) in cases {
            let result = run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let got: Vec<String> = result.columns.iter().map(|c| c.ty.display_name()).collect();
            assert_eq!(got, *types, "{sql}");
            let values: Vec<_> = result.rows[0].iter().zip(&result.columns).map(|(v, c)| v.to_json(&c.ty)).collect();
            assert_eq!(serde_json::Value::Array(values), *row, "{sql}");
        }
    }

    #[test]
    fn column_names() {
        let result = run("SELECT 1, 2 AS Two, 3 \"Three\"").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = result.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["_col0", "two", "Three"]);
    }

    #[test]
    fn unnest_sequence_and_system_tables() {
        let result = run("SELECT x FROM UNNEST(sequence(1, 10000)) AS t(x)").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(result.columns, vec![Column { name: "x".into(), ty: Type::Bigint }]);
        assert_eq!(result.rows.len(), 10_000);
        assert_eq!(result.rows[9_999], vec![Value::Int(10_000)]);
        let filtered = run("SELECT t.x * 2 AS y FROM UNNEST(sequence(1, 10)) t(x) WHERE x > 8 LIMIT 5")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(filtered.rows, vec![vec![Value::Int(18)], vec![Value::Int(20)]]);
        let nodes = run("SELECT node_id, coordinator FROM system.runtime.nodes").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nodes.rows, vec![vec![Value::Varchar("emu-a".into()), Value::Boolean(true)]]);
        let catalogs = execute(&Statement::ShowCatalogs { like: None }, &env());
        assert!(
            matches!(catalogs, Ok(Outcome::Rows(ResultSet { rows, .. })) if rows == vec![vec![Value::Varchar("system".into())]])
        );
    }

    #[test]
    fn errors_match_trino() {
        let cases = [
            ("SELECT 2147483647 + 1", "NUMERIC_VALUE_OUT_OF_RANGE", "integer addition overflow: 2147483647 + 1"),
            ("SELECT 1 / 0", "DIVISION_BY_ZERO", "Division by zero"),
            ("SELECT 1 + 'a'", "TYPE_MISMATCH", "line 1:10: Cannot apply operator: integer + varchar(1)"),
            (
                "SELECT y FROM UNNEST(sequence(1, 2)) AS t(x)",
                "COLUMN_NOT_FOUND",
                "line 1:8: Column 'y' cannot be resolved",
            ),
            ("SELECT foo(1)", "FUNCTION_NOT_FOUND", "line 1:8: Function 'foo' not registered"),
            (
                "SELECT x FROM UNNEST(sequence(1, 10001)) AS t(x)",
                "INVALID_FUNCTION_ARGUMENT",
                "result of sequence function must not have more than 10000 entries",
            ),
            ("SELECT * FROM tpch.tiny.nation", "CATALOG_NOT_FOUND", "line 1:15: Catalog 'tpch' not found"),
            (
                "SELECT * FROM system.runtime.nope",
                "TABLE_NOT_FOUND",
                "line 1:15: Table 'system.runtime.nope' does not exist",
            ),
            ("SELECT CAST('x' AS integer)", "INVALID_CAST_ARGUMENT", "Cannot cast 'x' to INT"),
            ("SELECT CAST(1 AS foo)", "TYPE_NOT_FOUND", "line 1:8: Unknown type: foo"),
        ];
        for (sql, name, message) in cases {
            let error = run(sql).err().unwrap_or_else(|| panic!("{sql} succeeded"));
            assert_eq!((error.code.name, error.message.as_str()), (name, message), "{sql}");
        }
    }
}
