//! Runs a parsed statement against the emulator's tiny catalog: literal
//! SELECTs, UNNEST, `system.runtime.nodes`, `system.metadata.catalogs` and
//! SHOW CATALOGS. Transaction statements are handed back to the caller, which
//! owns the coordinator's transaction table.

use super::ast::{Ident, Query, Relation, SelectItem, Statement};
use super::error::*;
use super::expr::{
    aggregate, aggregate_calls, analyze, analyze_aggregating, contains_aggregate, evaluate, Aggregation, Context,
    ScopeColumn,
};
use super::format::format_expr;
use super::statements;
use super::tpch::{self, all_catalogs};
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
pub fn prepare(statement: Statement, env: &Environment) -> Result<Statement, QueryError> {
    statements::prepare(statement, env)
}

/// What `version()`, `now()` and `current_timestamp` read from the environment.
pub fn context(env: &Environment) -> Context<'_> {
    Context { node_version: &env.node_version, time_zone: &env.time_zone, start_ms: env.start_ms }
}

pub fn execute(statement: &Statement, env: &Environment) -> Result<Outcome, QueryError> {
    match statement {
        Statement::Query(query) => select(query, env).map(Outcome::Rows),
        Statement::ShowCatalogs { like } => {
            let names: Vec<String> = all_catalogs(&env.catalogs)
                .into_iter()
                .filter(|c| like.as_deref().is_none_or(|p| like_match(p, c)))
                .collect();
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
        Statement::Execute { .. } | Statement::ExecuteImmediate { .. } => Err(QueryError::new(
            NOT_SUPPORTED,
            "EXECUTE must be resolved by sql::prepare before execution in the Trino coordinator emulator",
        )),
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
    let context = context(env);
    let (scope, input_rows) = match &query.from {
        None => (Vec::new(), vec![Vec::new()]),
        Some(relation) => relation_rows(relation, env)?,
    };
    let aggregating = query.items.iter().any(|item| match item {
        SelectItem::Expr { expr, .. } => contains_aggregate(expr),
        SelectItem::Wildcard(_) => false,
    });
    let aggregation = Aggregation::default();
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
                if aggregating {
                    if let Some(first) = scope.first() {
                        return Err(QueryError::at(
                            EXPRESSION_NOT_AGGREGATE,
                            *location,
                            format!("'{}' must be an aggregate expression or appear in GROUP BY clause", first.name),
                        ));
                    }
                }
                for (i, column) in scope.iter().enumerate() {
                    columns.push(Column { name: column.name.clone(), ty: column.ty.clone() });
                    projections.push(Projection::Column(i));
                }
            }
            SelectItem::Expr { expr, alias } => {
                let typed = if aggregating {
                    analyze_aggregating(expr, &scope, &context, &aggregation)?
                } else {
                    analyze(expr, &scope, &context)?
                };
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
            let calls = aggregate_calls(expr);
            if !calls.is_empty() {
                let shown: Vec<String> = calls.into_iter().map(format_expr).collect();
                return Err(QueryError::at(
                    EXPRESSION_NOT_SCALAR,
                    expr.location,
                    format!(
                        "WHERE clause cannot contain aggregations, window functions or grouping operations: [{}]",
                        shown.join(", ")
                    ),
                ));
            }
            let typed = analyze(expr, &scope, &context)?;
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
    let calls = aggregation.finish()?;
    let mut kept = Vec::new();
    for row in &input_rows {
        if !aggregating && query.limit.is_some_and(|limit| kept.len() as u64 >= limit) {
            break;
        }
        if let Some(filter) = &filter {
            if evaluate(filter, row)? != Value::Boolean(true) {
                continue;
            }
        }
        kept.push(row);
    }
    // Without GROUP BY an aggregating SELECT yields one row, over the values
    // of its aggregate calls.
    let aggregated;
    if aggregating {
        aggregated = vec![aggregate(&calls, &kept)?];
        kept = aggregated.iter().collect();
    }
    let mut rows = Vec::new();
    for row in kept {
        if query.limit.is_some_and(|limit| rows.len() as u64 >= limit) {
            break;
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
                let typed = analyze(arg, &[], &context(env))?;
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
            let catalogs = all_catalogs(&env.catalogs);
            if !catalogs.contains(&catalog) {
                return Err(QueryError::at(CATALOG_NOT_FOUND, *location, format!("Catalog '{catalog}' not found")));
            }
            let qualified = format!("{catalog}.{schema}.{table}");
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
                        catalogs
                            .iter()
                            .map(|c| {
                                vec![Value::Varchar(c.clone()), Value::Varchar(c.clone()), Value::Varchar(c.clone())]
                            })
                            .collect(),
                    ),
                    ("tpch", "tiny", "nation") => (
                        vec![
                            ("nationkey", Type::Bigint),
                            ("name", Type::Varchar(Some(25))),
                            ("regionkey", Type::Bigint),
                            ("comment", Type::Varchar(Some(152))),
                        ],
                        tpch::NATION
                            .iter()
                            .map(|(key, name, region, comment)| {
                                vec![
                                    Value::Int(*key),
                                    Value::Varchar(name.to_string()),
                                    Value::Int(*region),
                                    Value::Varchar(comment.to_string()),
                                ]
                            })
                            .collect(),
                    ),
                    ("tpch", "tiny", "region") => (
                        vec![
                            ("regionkey", Type::Bigint),
                            ("name", Type::Varchar(Some(25))),
                            ("comment", Type::Varchar(Some(152))),
                        ],
                        tpch::REGION
                            .iter()
                            .map(|(key, name, comment)| {
                                vec![
                                    Value::Int(*key),
                                    Value::Varchar(name.to_string()),
                                    Value::Varchar(comment.to_string()),
                                ]
                            })
                            .collect(),
                    ),
                    ("tpch", s, t)
                        if tpch::SCHEMAS.contains(&s)
                            && (tpch::TABLES.contains(&t)
                                || (s == "information_schema" && is_information_table(t))) =>
                    {
                        return Err(QueryError::at(
                            NOT_SUPPORTED,
                            *location,
                            format!("Table '{qualified}' is not supported by the Trino coordinator emulator"),
                        ))
                    }
                    ("tpch", s, _) if tpch::SCHEMAS.contains(&s) => {
                        return Err(QueryError::at(
                            TABLE_NOT_FOUND,
                            *location,
                            format!("Table '{qualified}' does not exist"),
                        ))
                    }
                    ("system", "runtime" | "metadata" | "information_schema" | "jdbc", _) => {
                        return Err(QueryError::at(
                            TABLE_NOT_FOUND,
                            *location,
                            format!("Table '{qualified}' does not exist"),
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

/// The tables of every catalog's `information_schema`.
fn is_information_table(table: &str) -> bool {
    [
        "applicable_roles",
        "columns",
        "enabled_roles",
        "role_authorization_descriptors",
        "roles",
        "schemata",
        "table_privileges",
        "tables",
        "views",
    ]
    .contains(&table)
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
            matches!(catalogs, Ok(Outcome::Rows(ResultSet { rows, .. })) if rows == vec![vec![Value::Varchar("system".into())], vec![Value::Varchar("tpch".into())]])
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
            ("SELECT * FROM nope.tiny.nation", "CATALOG_NOT_FOUND", "line 1:15: Catalog 'nope' not found"),
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

    /// (SQL, environment, column names, column types, number of rows, first row)
    type TableCase<'a> = (&'a str, &'a Environment, &'a [&'a str], &'a [&'a str], usize, serde_json::Value);
    /// (SQL, environment, column names, column types, rows)
    type RowsCase<'a> = (&'a str, &'a Environment, &'a [&'a str], &'a [&'a str], serde_json::Value);

    fn run_in(sql: &str, env: &Environment) -> Result<ResultSet, QueryError> {
        match execute(&prepare(parse(sql)?, env)?, env)? {
            Outcome::Rows(rows) => Ok(rows),
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// The result's column names and type names, exactly.
    fn assert_columns(sql: &str, result: &ResultSet, names: &[&str], types: &[&str]) {
        let got_names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        let got_types: Vec<String> = result.columns.iter().map(|c| c.ty.display_name()).collect();
        assert_eq!((got_names.as_slice(), got_types), (names, types.iter().map(|t| t.to_string()).collect()), "{sql}");
    }

    fn json_rows(result: &ResultSet) -> serde_json::Value {
        let rows = result.rows.iter().map(|row| {
            serde_json::Value::Array(row.iter().zip(&result.columns).map(|(v, c)| v.to_json(&c.ty)).collect())
        });
        serde_json::Value::Array(rows.collect())
    }

    #[test]
    fn tpch_tiny_tables() {
        let mut in_tiny = env();
        in_tiny.session_catalog = Some("tpch".into());
        in_tiny.session_schema = Some("tiny".into());
        // (SQL, environment, column names, column types, number of rows, first row)
        let cases: &[TableCase] = &[
            (
                "SELECT * FROM tpch.tiny.nation",
                &env(),
                &["nationkey", "name", "regionkey", "comment"],
                &["bigint", "varchar(25)", "bigint", "varchar(152)"],
                25,
                json!([0, "ALGERIA", 0, " haggle. carefully final deposits detect slyly agai"]),
            ),
            (
                "SELECT name FROM tpch.tiny.region WHERE regionkey = 1",
                &env(),
                &["name"],
                &["varchar(25)"],
                1,
                json!(["AMERICA"]),
            ),
            (
                "SELECT * FROM nation",
                &in_tiny,
                &["nationkey", "name", "regionkey", "comment"],
                &["bigint", "varchar(25)", "bigint", "varchar(152)"],
                25,
                json!([0, "ALGERIA", 0, " haggle. carefully final deposits detect slyly agai"]),
            ),
            (
                "SELECT n.name FROM tiny.nation n WHERE n.nationkey = 24",
                &in_tiny,
                &["name"],
                &["varchar(25)"],
                1,
                json!(["UNITED STATES"]),
            ),
            (
                "SELECT * FROM tpch.tiny.region LIMIT 2",
                &env(),
                &["regionkey", "name", "comment"],
                &["bigint", "varchar(25)", "varchar(152)"],
                2,
                json!([
                    0,
                    "AFRICA",
                    "lar deposits. blithely final packages cajole. regular waters are final requests. regular accounts are according to "
                ]),
            ),
            (
                "SELECT catalog_name FROM system.metadata.catalogs",
                &env(),
                &["catalog_name"],
                &["varchar"],
                2,
                json!(["system"]),
            ),
        ];
        for (sql, env, names, types, count, first) in cases {
            let result = run_in(sql, env).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_columns(sql, &result, names, types);
            assert_eq!(result.rows.len(), *count, "{sql}");
            assert_eq!(json_rows(&result)[0], *first, "{sql}");
        }
    }

    #[test]
    fn catalogs_include_tpch_and_configured_ones_sorted() {
        let mut configured = env();
        configured.catalogs = vec!["system".into(), "memory".into(), "hive".into()];
        let shown = run_in("SHOW CATALOGS", &configured).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json_rows(&shown), json!([["hive"], ["memory"], ["system"], ["tpch"]]));
        let listed =
            run_in("SELECT catalog_name FROM system.metadata.catalogs", &configured).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json_rows(&listed), json!([["hive"], ["memory"], ["system"], ["tpch"]]));
        let like = run_in("SHOW CATALOGS LIKE 't%'", &configured).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json_rows(&like), json!([["tpch"]]));
    }

    #[test]
    fn counts_and_functions() {
        let mut paris = env();
        paris.time_zone = "+05:30".into();
        paris.start_ms = 1_795_627_201_123;
        // (SQL, column names, column types, rows)
        let cases: &[RowsCase] = &[
            ("SELECT count(*) FROM tpch.tiny.nation", &env(), &["_col0"], &["bigint"], json!([[25]])),
            (
                "SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = 1",
                &env(),
                &["_col0"],
                &["bigint"],
                json!([[5]]),
            ),
            ("SELECT count(*)", &env(), &["_col0"], &["bigint"], json!([[1]])),
            ("SELECT count(*) AS n, count(1) + 1", &env(), &["n", "_col1"], &["bigint", "bigint"], json!([[1, 2]])),
            ("SELECT count(NULL), count()", &env(), &["_col0", "_col1"], &["bigint", "bigint"], json!([[0, 1]])),
            (
                "SELECT count(x), count(*) FROM UNNEST(sequence(1, 10)) AS t(x) WHERE x > 7",
                &env(),
                &["_col0", "_col1"],
                &["bigint", "bigint"],
                json!([[3, 3]]),
            ),
            ("SELECT count(*) FROM tpch.tiny.region WHERE false", &env(), &["_col0"], &["bigint"], json!([[0]])),
            ("SELECT count(*) FROM tpch.tiny.region LIMIT 0", &env(), &["_col0"], &["bigint"], json!([])),
            ("SELECT version()", &env(), &["_col0"], &["varchar"], json!([["480"]])),
            (
                "SELECT now(), current_timestamp",
                &env(),
                &["_col0", "_col1"],
                &["timestamp(3) with time zone", "timestamp(3) with time zone"],
                json!([["2025-11-24 16:00:00.000 UTC", "2025-11-24 16:00:00.000 UTC"]]),
            ),
            (
                "SELECT now() AS t",
                &paris,
                &["t"],
                &["timestamp(3) with time zone"],
                json!([["2026-11-25 22:50:01.123 +05:30"]]),
            ),
        ];
        for (sql, env, names, types, rows) in cases {
            let result = run_in(sql, env).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_columns(sql, &result, names, types);
            assert_eq!(json_rows(&result), *rows, "{sql}");
        }
    }

    #[test]
    fn new_errors_match_trino() {
        let mut in_tpch = env();
        in_tpch.session_catalog = Some("tpch".into());
        in_tpch.time_zone = "Mars/Olympus_Mons".into();
        let cases = [
            (
                "SELECT name, count(*) FROM tpch.tiny.nation",
                "EXPRESSION_NOT_AGGREGATE",
                "line 1:8: 'name' must be an aggregate expression or appear in GROUP BY clause",
            ),
            (
                "SELECT count(*) + n.regionkey FROM tpch.tiny.nation n",
                "EXPRESSION_NOT_AGGREGATE",
                "line 1:19: 'n.regionkey' must be an aggregate expression or appear in GROUP BY clause",
            ),
            (
                "SELECT name, count(*), nope FROM tpch.tiny.nation",
                "COLUMN_NOT_FOUND",
                "line 1:24: Column 'nope' cannot be resolved",
            ),
            (
                "SELECT name FROM tpch.tiny.nation WHERE count(*) > 1",
                "EXPRESSION_NOT_SCALAR",
                "line 1:50: WHERE clause cannot contain aggregations, window functions or grouping operations: [count(*)]",
            ),
            (
                "SELECT * FROM tpch.tiny.orders",
                "NOT_SUPPORTED",
                "line 1:15: Table 'tpch.tiny.orders' is not supported by the Trino coordinator emulator",
            ),
            (
                "SELECT * FROM tpch.sf1.nation",
                "NOT_SUPPORTED",
                "line 1:15: Table 'tpch.sf1.nation' is not supported by the Trino coordinator emulator",
            ),
            ("SELECT * FROM tpch.tiny.nope", "TABLE_NOT_FOUND", "line 1:15: Table 'tpch.tiny.nope' does not exist"),
            ("SELECT * FROM tpch.nope.nation", "SCHEMA_NOT_FOUND", "line 1:15: Schema 'nope' does not exist"),
            ("SELECT ?", "INVALID_PARAMETER_USAGE", "line 1:1: Incorrect number of parameters: expected 1 but found 0"),
            (
                "SELECT now()",
                "NOT_SUPPORTED",
                "Time zone not supported: Mars/Olympus_Mons",
            ),
        ];
        for (sql, name, message) in cases {
            let error = run_in(sql, &in_tpch).err().unwrap_or_else(|| panic!("{sql} succeeded"));
            assert_eq!((error.code.name, error.message.as_str()), (name, message), "{sql}");
        }
    }
}
