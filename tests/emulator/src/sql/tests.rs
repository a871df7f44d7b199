//! Table-driven tests of the SQL path (parse → prepare → execute) on a real
//! engine with a `lake` catalog in a temporary directory: Trino's result
//! names, types and values, its errors, and what DDL/DML leave behind.

use super::engine::Engine;
use super::exec::{execute, prepare, Environment, Outcome};
use super::parse;
use super::types::{Type, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn environment(dir: &std::path::Path) -> Environment {
    let engine = Engine::open(&["hive".to_string()], &[("lake".to_string(), dir.to_path_buf())]);
    Environment {
        engine: Arc::new(engine.expect("the engine opens")),
        node_id: "emu-a".into(),
        http_uri: "http://127.0.0.1:8081".into(),
        node_version: "480".into(),
        session_catalog: Some("lake".into()),
        session_schema: Some("s".into()),
        prepared: BTreeMap::new(),
        time_zone: "UTC".into(),
        start_ms: 1_764_000_000_000,
    }
}

fn run(sql: &str, env: &Environment) -> Result<Outcome, (&'static str, String)> {
    parse(sql)
        .and_then(|statement| prepare(statement, env))
        .and_then(|statement| execute(&statement, env))
        .map_err(|e| (e.code.name, e.message))
}

/// (column types as Trino prints them, rows as JSON text).
fn query(sql: &str, env: &Environment) -> Result<(Vec<String>, String), (&'static str, String)> {
    match run(sql, env)? {
        Outcome::Rows(result) => {
            let types = result.columns.iter().map(|c| format!("{} {}", c.name, c.ty.display_name())).collect();
            let rows: Vec<Vec<serde_json::Value>> = result
                .rows
                .iter()
                .map(|row| row.iter().zip(&result.columns).map(|(v, c)| v.to_json(&c.ty)).collect())
                .collect();
            Ok((types, serde_json::to_string(&rows).unwrap_or_default()))
        }
        other => Err(("NOT_ROWS", format!("{other:?}"))),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("trino-emulator-{name}-{}-{}", std::process::id(), fastrand::u64(..)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn queries_answer_with_trinos_names_types_and_values() {
    let dir = temp_dir("queries");
    let env = environment(&dir);
    for setup in [
        "CREATE SCHEMA lake.s",
        "CREATE TABLE t (id integer, amount decimal(10,2), name varchar(10), day date, ok boolean)",
        "INSERT INTO t VALUES (1, DECIMAL '12.50', 'a', DATE '2024-01-02', true), (2, 3, 'b', NULL, false), (3, NULL, NULL, NULL, NULL)",
        "CREATE VIEW v AS SELECT id, amount * 2 AS doubled FROM t",
    ] {
        assert!(run(setup, &env).is_ok(), "{setup}: {:?}", run(setup, &env));
    }
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "SELECT 1, 'ab', 1.50, 1e1, NULL",
            &["_col0 integer", "_col1 varchar(2)", "_col2 decimal(3,2)", "_col3 double", "_col4 unknown"],
            r#"[[1,"ab","1.50",10.0,null]]"#,
        ),
        ("SELECT id, amount FROM t WHERE ok", &["id integer", "amount decimal(10,2)"], r#"[[1,"12.50"]]"#),
        (
            "SELECT sum(amount), count(*), avg(id) FROM t",
            &["_col0 decimal(38,2)", "_col1 bigint", "_col2 double"],
            r#"[["15.50",3,2.0]]"#,
        ),
        ("SELECT id FROM t ORDER BY amount", &["id integer"], "[[2],[1],[3]]"),
        ("SELECT id FROM t ORDER BY amount DESC NULLS FIRST", &["id integer"], "[[3],[1],[2]]"),
        ("SELECT doubled FROM v WHERE id = 1", &["doubled decimal(20,2)"], r#"[["25.00"]]"#),
        ("SELECT o.total FROM (SELECT sum(amount) AS total FROM t) o", &["total decimal(38,2)"], r#"[["15.50"]]"#),
        ("WITH w AS (SELECT amount FROM t) SELECT max(amount) + 1 FROM w", &["_col0 decimal(13,2)"], r#"[["13.50"]]"#),
        (
            "SELECT name, CASE WHEN ok THEN 'yes' ELSE 'no' END FROM t WHERE id = 2",
            &["name varchar(10)", "_col1 varchar(3)"],
            r#"[["b","no"]]"#,
        ),
        ("SELECT x FROM UNNEST(sequence(3, 1)) AS u(x)", &["x bigint"], "[[3],[2],[1]]"),
        ("SELECT * FROM (VALUES (1, 'a')) AS w(k, l)", &["k bigint", "l varchar"], r#"[[1,"a"]]"#),
        (
            "SELECT CAST(day AS varchar), day FROM t WHERE id = 1",
            &["_col0 varchar", "day date"],
            r#"[["2024-01-02","2024-01-02"]]"#,
        ),
        (
            "SELECT 'a' LIKE 'A', concat('a', NULL), coalesce(NULL, 2)",
            &["_col0 boolean", "_col1 varchar", "_col2 integer"],
            "[[false,null,2]]",
        ),
        (
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 's' ORDER BY 1",
            &["table_name varchar", "table_type varchar"],
            r#"[["t","BASE TABLE"],["v","VIEW"]]"#,
        ),
        (
            "SELECT column_name, data_type FROM lake.INFORMATION_SCHEMA.columns WHERE table_name = 'v'",
            &["column_name varchar", "data_type varchar"],
            r#"[["id","integer"],["doubled","decimal(20,2)"]]"#,
        ),
        ("SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = 1", &["_col0 bigint"], "[[5]]"),
        ("SELECT node_id FROM system.runtime.nodes", &["node_id varchar"], r#"[["emu-a"]]"#),
    ];
    for (sql, types, rows) in cases {
        let got = query(sql, &env);
        assert_eq!(got, Ok((types.iter().map(|t| t.to_string()).collect(), rows.to_string())), "{sql}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_are_trinos() {
    let dir = temp_dir("errors");
    let env = environment(&dir);
    assert!(run("CREATE SCHEMA lake.s", &env).is_ok());
    assert!(run("CREATE TABLE t (x integer)", &env).is_ok());
    let cases = [
        ("SELECT FROM t", "SYNTAX_ERROR", "line 1:8: mismatched input 'FROM'"),
        ("SELECT y FROM t", "COLUMN_NOT_FOUND", "line 1:8: Column 'y' cannot be resolved"),
        ("SELECT * FROM hive.s.t", "SCHEMA_NOT_FOUND", "line 1:15: Schema 's' does not exist"),
        ("SELECT * FROM nope.s.t", "CATALOG_NOT_FOUND", "line 1:15: Catalog 'nope' not found"),
        ("SELECT * FROM u", "TABLE_NOT_FOUND", "line 1:15: Table 'lake.s.u' does not exist"),
        ("SELECT 1 / 0", "DIVISION_BY_ZERO", "Division by zero"),
        ("SELECT 2147483647 + 1", "NUMERIC_VALUE_OUT_OF_RANGE", "Out of range for integer: 2147483648"),
        ("SELECT CAST('1.5' AS integer)", "INVALID_CAST_ARGUMENT", "Cannot cast '1.5' to INTEGER"),
        ("SELECT x, count(*) FROM t", "EXPRESSION_NOT_AGGREGATE", "line 1:8: 'x' must be an aggregate expression"),
        ("SELECT foo(x) FROM t", "FUNCTION_NOT_FOUND", "line 1:8: Function 'foo' not registered"),
        ("SELECT ARRAY[1]", "NOT_SUPPORTED", "Not supported by the Trino coordinator emulator"),
        ("CREATE TABLE t (x integer)", "TABLE_ALREADY_EXISTS", "line 1:1: Table 'lake.s.t' already exists"),
        (
            "CREATE TABLE u WITH (nope = 1) AS SELECT 1 AS x",
            "INVALID_TABLE_PROPERTY",
            "table property 'nope' does not exist",
        ),
        ("CREATE TABLE u AS SELECT NULL AS n", "COLUMN_TYPE_UNKNOWN", "Column type is unknown: n"),
        (
            "INSERT INTO t VALUES ('x')",
            "TYPE_MISMATCH",
            "Insert query has mismatched column types: Table: [integer], Query: [varchar(1)]",
        ),
        ("DROP SCHEMA lake.s", "SCHEMA_NOT_EMPTY", "Cannot drop non-empty schema 's'"),
        ("CREATE TABLE hive.s.t (x integer)", "NOT_SUPPORTED", "This connector does not support creating tables"),
    ];
    for (sql, code, message) in cases {
        match run(sql, &env) {
            Err((got_code, got_message)) => {
                assert_eq!(got_code, code, "{sql}: {got_message}");
                assert!(got_message.contains(message), "{sql}: {got_message}");
            }
            Ok(outcome) => panic!("{sql}: expected {code}, got {outcome:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writes_change_the_shared_catalog_and_answer_with_counts() {
    let dir = temp_dir("writes");
    let first = environment(&dir);
    let second = environment(&dir);
    let modified = |update_type, count| Ok(Outcome::Modified { update_type, count });
    assert_eq!(run("CREATE SCHEMA lake.s", &first), Ok(Outcome::Ddl("CREATE SCHEMA")));
    assert_eq!(run("CREATE TABLE t AS SELECT 1 AS x UNION ALL SELECT 2", &first), modified("CREATE TABLE", 2));
    assert_eq!(run("INSERT INTO t SELECT x + 10 FROM t", &second), modified("INSERT", 2));
    assert_eq!(run("DELETE FROM t WHERE x > 10", &first), modified("DELETE", 2));
    assert_eq!(run("ALTER TABLE t RENAME TO u", &second), Ok(Outcome::Ddl("RENAME TABLE")));
    match run("SELECT x FROM u ORDER BY x", &first) {
        Ok(Outcome::Rows(result)) => {
            assert_eq!(result.columns[0].ty, Type::Integer);
            assert_eq!(result.rows, vec![vec![Value::Int(1)], vec![Value::Int(2)]]);
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn union_types() {
    let dir = temp_dir("union");
    let env = environment(&dir);
    assert_eq!(query("SELECT 1 AS x UNION ALL SELECT 2", &env).map(|r| r.0), Ok(vec!["x integer".to_string()]));
    let _ = std::fs::remove_dir_all(&dir);
}
