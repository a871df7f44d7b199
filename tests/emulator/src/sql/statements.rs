//! The session statements (Trino's `SetSessionTask`, `ResetSessionTask`,
//! `UseTask`, `PrepareTask`, `DeallocateTask`) and the dispatch-time
//! resolution of EXECUTE with parameter binding (`QueryPreparer`).

use super::error::*;
use super::exec::{evaluate_constant, Environment, Outcome};
use super::names::Resolver;
use super::session_properties::system_property;
use super::statement::{location_of, parse, Statement};
use super::types::{Type, Value};
use sqlparser::ast::{self, Expr, Ident, Spanned};
use std::ops::ControlFlow;

/// `QualifiedName.toString()`: each part lower-cased, joined with dots.
fn qualified_name(name: &[Ident]) -> String {
    name.iter().map(|part| part.value.to_lowercase()).collect::<Vec<_>>().join(".")
}

fn catalog_exists(catalog: &str, env: &Environment) -> bool {
    env.engine.kind(catalog).is_some()
}

fn expr_location(expr: &Expr) -> Location {
    location_of(expr.span().start)
}

/// The first column reference in an expression.
fn column_reference(expr: &Expr) -> Option<Location> {
    let mut found = None;
    let _ = ast::visit_expressions(expr, |e| {
        if let Expr::Identifier(ident) = e {
            found = Some(location_of(ident.span.start));
            return ControlFlow::Break(());
        }
        if let Expr::CompoundIdentifier(parts) = e {
            found = parts.first().map(|p| location_of(p.span.start));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn is_parameter(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(v.value, ast::Value::Placeholder(_)))
}

/// The statement's own `?` parameters (not those of a statement it prepares), in order.
fn for_each_parameter(statement: &mut Statement, f: &mut dyn FnMut(&mut Expr)) {
    fn parameters_in<N: ast::VisitMut>(node: &mut N, f: &mut dyn FnMut(&mut Expr)) {
        let _ = ast::visit_expressions_mut(node, |e| {
            if is_parameter(e) {
                f(e);
            }
            ControlFlow::<()>::Continue(())
        });
    }
    match statement {
        Statement::Query(query) => parameters_in(query.as_mut(), f),
        Statement::Sql(inner) => parameters_in(inner.as_mut(), f),
        Statement::SetSession { value, .. } => parameters_in(value.as_mut(), f),
        Statement::Execute { parameters, .. } | Statement::ExecuteImmediate { parameters, .. } => {
            parameters.iter_mut().for_each(|p| parameters_in(p, f))
        }
        _ => {}
    }
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
    let mut expected = 0;
    for_each_parameter(&mut statement, &mut |_| expected += 1);
    if expected != parameters.len() {
        return Err(QueryError::at(
            INVALID_PARAMETER_USAGE,
            Location { line: 1, column: 1 },
            format!("Incorrect number of parameters: expected {expected} but found {}", parameters.len()),
        ));
    }
    for parameter in &parameters {
        if let Some(location) = column_reference(parameter) {
            return Err(QueryError::at(
                EXPRESSION_NOT_CONSTANT,
                location,
                "Constant expression cannot contain column references",
            ));
        }
    }
    if !parameters.is_empty() {
        let mut next = parameters.into_iter();
        for_each_parameter(&mut statement, &mut |e| {
            if let Some(value) = next.next() {
                *e = Expr::Nested(Box::new(value));
            }
        });
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
    let location = expr_location(value);
    let property = match name {
        [property] => system_property(&property.value.to_lowercase()),
        [catalog, _] => {
            let catalog = catalog.value.to_lowercase();
            if !catalog_exists(&catalog, env) {
                return Err(QueryError::at(CATALOG_NOT_FOUND, location, format!("Catalog '{catalog}' not found")));
            }
            // The emulator's catalogs have no session properties.
            None
        }
        _ => return Err(QueryError::new(INVALID_SESSION_PROPERTY, format!("Invalid session property '{full}'"))),
    };
    let property = property.ok_or_else(|| {
        QueryError::at(INVALID_SESSION_PROPERTY, location, format!("Session property '{full}' does not exist"))
    })?;
    // Trino's ExpressionFormatter: `null`, and arithmetic in parentheses.
    let shown = match value {
        Expr::BinaryOp { .. } => format!("({value})"),
        _ => value.to_string(),
    }
    .replace("NULL", "null");
    let unable = |raw: &str| {
        QueryError::new(
            INVALID_SESSION_PROPERTY,
            format!("Unable to set session property '{full}' to '{shown}': {raw}"),
        )
    };
    if column_reference(value).is_some() {
        return Err(unable("Constant expression cannot contain column references"));
    }
    let (ty, object) = evaluate_constant(value, env).map_err(|e| unable(e.raw_message()))?;
    let target = property.sql_type();
    if !can_coerce(&ty, &target) {
        return Err(unable(&format!("Cannot cast type {} to {}", ty.display_name(), target.display_name())));
    }
    let serialized = match &object {
        Value::Null => return Err(unable("Session property value must not be null")),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Varchar(s) => s.clone(),
        Value::Double(d) => d.to_string(),
        other => format!("{other:?}"),
    };
    property.decode(&object).map_err(|message| QueryError::at(INVALID_SESSION_PROPERTY, location, message))?;
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
    if !catalog_exists(&catalog, env) {
        return Err(QueryError::new(CATALOG_NOT_FOUND, format!("Catalog '{catalog}' not found")));
    }
    let connection = env.engine.lock();
    let resolver =
        Resolver { engine: &env.engine, connection: &connection, session_catalog: None, session_schema: None };
    if !resolver.schema_exists(&catalog, &schema)? {
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

#[cfg(test)]
mod tests {
    use super::super::exec::{execute, ResultSet};
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> Environment {
        let prepared: BTreeMap<String, String> = [
            ("q0", "SELECT 1"),
            ("q1", "SELECT name FROM tpch.tiny.region WHERE regionkey = ?"),
            ("qs", "SET SESSION query_priority = ?"),
            ("MyQ", "SELECT 2"),
        ]
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
        Environment {
            node_id: "emu-a".into(),
            http_uri: "http://127.0.0.1:8081".into(),
            node_version: "480".into(),
            engine: std::sync::Arc::new(
                crate::sql::Engine::open(&["memory".to_string()], &[]).expect("the engine opens"),
            ),
            session_catalog: None,
            session_schema: None,
            prepared,
            time_zone: "UTC".into(),
            start_ms: 1_764_000_000_000,
        }
    }

    type Expected = Result<Outcome, (&'static str, String)>;

    /// parse → prepare → execute, as the coordinator runs a statement.
    fn run(sql: &str, env: &Environment) -> Expected {
        parse(sql)
            .and_then(|statement| prepare(statement, env))
            .and_then(|statement| execute(&statement, env))
            .map_err(|e| (e.code.name, e.message))
    }

    fn set(name: &str, value: &str) -> Expected {
        Ok(Outcome::SetSession { name: name.into(), value: value.into() })
    }

    fn fail(code: &'static str, message: &str) -> Expected {
        Err((code, message.into()))
    }

    fn check(cases: Vec<(&str, Expected)>, env: &Environment) {
        for (sql, expected) in cases {
            assert_eq!(run(sql, env), expected, "{sql}");
        }
    }

    #[test]
    fn set_session() {
        let cases = vec![
            ("SET SESSION query_max_run_time = '1h'", set("query_max_run_time", "1h")),
            ("SET SESSION QUERY_MAX_EXECUTION_TIME = '1.5m'", set("query_max_execution_time", "1.5m")),
            ("set session join_distribution_type = 'broadcast'", set("join_distribution_type", "broadcast")),
            ("SET SESSION join_reordering_strategy = 'NONE'", set("join_reordering_strategy", "NONE")),
            ("SET SESSION max_hash_partition_count = 8", set("max_hash_partition_count", "8")),
            ("SET SESSION min_hash_partition_count = 1", set("min_hash_partition_count", "1")),
            ("SET SESSION query_priority = -3", set("query_priority", "-3")),
            ("SET SESSION spill_enabled = true", set("spill_enabled", "true")),
            ("SET SESSION redistribute_writes = false", set("redistribute_writes", "false")),
            ("SET SESSION enable_dynamic_filtering = NOT true", set("enable_dynamic_filtering", "false")),
            ("SET SESSION query_max_run_time = '1' || 'h'", set("query_max_run_time", "1h")),
            ("SET SESSION join_max_broadcast_table_size = '100MB'", set("join_max_broadcast_table_size", "100MB")),
            ("SET SESSION foo = 1", fail("INVALID_SESSION_PROPERTY", "line 1:19: Session property 'foo' does not exist")),
            ("SET SESSION a.b.c = 1", fail("INVALID_SESSION_PROPERTY", "Invalid session property 'a.b.c'")),
            ("SET SESSION nope.x = 1", fail("CATALOG_NOT_FOUND", "line 1:22: Catalog 'nope' not found")),
            (
                "SET SESSION tpch.x = 1",
                fail("INVALID_SESSION_PROPERTY", "line 1:22: Session property 'tpch.x' does not exist"),
            ),
            (
                "SET SESSION Memory.X = 1",
                fail("INVALID_SESSION_PROPERTY", "line 1:24: Session property 'memory.x' does not exist"),
            ),
            (
                "SET SESSION max_hash_partition_count = 'abc'",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "Unable to set session property 'max_hash_partition_count' to ''abc'': Cannot cast type varchar(3) to integer",
                ),
            ),
            (
                "SET SESSION query_max_run_time = true",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "Unable to set session property 'query_max_run_time' to 'true': Cannot cast type boolean to varchar",
                ),
            ),
            (
                "SET SESSION query_priority = 3000000000",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "Unable to set session property 'query_priority' to '3000000000': Cannot cast type bigint to integer",
                ),
            ),
            (
                "SET SESSION query_priority = NULL",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "Unable to set session property 'query_priority' to 'null': Session property value must not be null",
                ),
            ),
            (
                "SET SESSION query_priority = x",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "Unable to set session property 'query_priority' to 'x': Constant expression cannot contain column references",
                ),
            ),
            (
                "SET SESSION query_priority = 1 / 0",
                fail("INVALID_SESSION_PROPERTY", "Unable to set session property 'query_priority' to '(1 / 0)': Division by zero"),
            ),
            (
                "SET SESSION query_max_run_time = 'abc'",
                fail("INVALID_SESSION_PROPERTY", "line 1:34: duration is not a valid data duration string: abc"),
            ),
            (
                "SET SESSION join_distribution_type = 'foo'",
                fail(
                    "INVALID_SESSION_PROPERTY",
                    "line 1:38: Invalid value [foo]. Valid values: [BROADCAST, PARTITIONED, AUTOMATIC]",
                ),
            ),
            (
                "SET SESSION max_hash_partition_count = 0",
                fail("INVALID_SESSION_PROPERTY", "line 1:40: max_hash_partition_count must be equal or greater than 1"),
            ),
            ("SET ROLE admin", fail("NOT_SUPPORTED", "line 1:1: Statement 'SET' is not supported by the Trino coordinator emulator")),
            ("SET TIME ZONE 'UTC'", fail("NOT_SUPPORTED", "line 1:1: Statement 'SET' is not supported by the Trino coordinator emulator")),
            (
                "SET SESSION AUTHORIZATION bob",
                fail("NOT_SUPPORTED", "line 1:1: Statement 'SET' is not supported by the Trino coordinator emulator"),
            ),
        ];
        check(cases, &env());
    }

    #[test]
    fn reset_session_and_use() {
        let mut in_tpch = env();
        in_tpch.session_catalog = Some("tpch".into());
        let reset = |name: &str| Ok(Outcome::ResetSession { name: name.into() });
        let used = |catalog: Option<&str>, schema: &str| {
            Ok(Outcome::Use { catalog: catalog.map(String::from), schema: schema.into() })
        };
        let cases = vec![
            ("RESET SESSION query_priority", reset("query_priority")),
            ("reset session Spill_Enabled", reset("spill_enabled")),
            ("RESET SESSION foo", fail("INVALID_SESSION_PROPERTY", "line 1:1: Session property 'foo' does not exist")),
            ("RESET SESSION nope.x", fail("CATALOG_NOT_FOUND", "line 1:1: Catalog 'nope' not found")),
            (
                "RESET SESSION tpch.x",
                fail("INVALID_SESSION_PROPERTY", "line 1:1: Session property 'tpch.x' does not exist"),
            ),
            ("USE tpch.tiny", used(Some("tpch"), "tiny")),
            ("USE TPCH.SF1", used(Some("tpch"), "sf1")),
            ("USE sf100", used(None, "sf100")),
            ("USE system.runtime", used(Some("system"), "runtime")),
            ("USE memory.information_schema", used(Some("memory"), "information_schema")),
            ("USE memory.default", fail("NOT_FOUND", "Schema does not exist: memory.default")),
            ("USE nope.x", fail("CATALOG_NOT_FOUND", "Catalog 'nope' not found")),
            ("USE tpch.nope", fail("NOT_FOUND", "Schema does not exist: tpch.nope")),
        ];
        check(cases, &in_tpch);
        assert_eq!(
            run("USE tiny", &env()),
            fail("MISSING_CATALOG_NAME", "line 1:1: Catalog must be specified when session catalog is not set")
        );
    }

    #[test]
    fn prepare_and_deallocate() {
        let prepared = |name: &str, sql: &str| Ok(Outcome::Prepare { name: name.into(), sql: sql.into() });
        let cases = vec![
            (
                "PREPARE my_select FROM SELECT * FROM tpch.tiny.nation WHERE regionkey = ?",
                prepared("my_select", "SELECT * FROM tpch.tiny.nation WHERE regionkey = ?"),
            ),
            ("PREPARE MyQ FROM\n   SELECT 1  ", prepared("MyQ", "SELECT 1")),
            ("PREPARE \"Q\" FROM SET SESSION query_priority = ?", prepared("Q", "SET SESSION query_priority = ?")),
            (
                "PREPARE q FROM EXECUTE x",
                fail("NOT_SUPPORTED", "Invalid statement type for prepared statement: EXECUTE"),
            ),
            (
                "PREPARE q FROM DEALLOCATE PREPARE x",
                fail("NOT_SUPPORTED", "Invalid statement type for prepared statement: DEALLOCATE"),
            ),
            (
                "PREPARE q FROM PREPARE r FROM SELECT 1",
                fail("NOT_SUPPORTED", "Invalid statement type for prepared statement: PREPARE"),
            ),
            ("DEALLOCATE PREPARE MyQ", Ok(Outcome::Deallocate { name: "MyQ".into() })),
            ("DEALLOCATE PREPARE myq", fail("NOT_FOUND", "Prepared statement not found: myq")),
        ];
        check(cases, &env());
    }

    #[test]
    fn execute_binds_parameters() {
        let rows = |sql: &str| match run(sql, &env()) {
            Ok(Outcome::Rows(ResultSet { rows, columns })) => {
                let values = rows.iter().map(|row| {
                    serde_json::Value::Array(row.iter().zip(&columns).map(|(v, c)| v.to_json(&c.ty)).collect())
                });
                Ok(serde_json::Value::Array(values.collect()))
            }
            Ok(other) => panic!("{sql}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(rows("EXECUTE q1 USING 1"), Ok(serde_json::json!([["AMERICA"]])));
        assert_eq!(rows("EXECUTE q0"), Ok(serde_json::json!([[1]])));
        assert_eq!(rows("EXECUTE MyQ"), Ok(serde_json::json!([[2]])));
        assert_eq!(rows("EXECUTE IMMEDIATE 'SELECT ? + ?' USING 1, 2"), Ok(serde_json::json!([[3]])));
        let cases = vec![
            ("EXECUTE qs USING 5", set("query_priority", "5")),
            ("EXECUTE nope", fail("NOT_FOUND", "Prepared statement not found: nope")),
            ("EXECUTE myq", fail("NOT_FOUND", "Prepared statement not found: myq")),
            (
                "EXECUTE q1",
                fail("INVALID_PARAMETER_USAGE", "line 1:1: Incorrect number of parameters: expected 1 but found 0"),
            ),
            (
                "EXECUTE q0 USING 1",
                fail("INVALID_PARAMETER_USAGE", "line 1:1: Incorrect number of parameters: expected 0 but found 1"),
            ),
            (
                "EXECUTE q1 USING x",
                fail("EXPRESSION_NOT_CONSTANT", "line 1:18: Constant expression cannot contain column references"),
            ),
            (
                "EXECUTE IMMEDIATE 'SELECT ?'",
                fail("INVALID_PARAMETER_USAGE", "line 1:1: Incorrect number of parameters: expected 1 but found 0"),
            ),
        ];
        check(cases, &env());
        // The coordinator must resolve EXECUTE with `prepare` first.
        let unresolved = parse("EXECUTE q0").and_then(|statement| execute(&statement, &env()));
        assert_eq!(unresolved.map_err(|e| e.code.name), Err("NOT_SUPPORTED"));
    }
}
