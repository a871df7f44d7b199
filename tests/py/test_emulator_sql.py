"""The emulator's SQL on its embedded engine, with the real Python client:
the shared `lake` catalog across coordinator processes, DDL and DML with
Trino's answers, Trino's types and errors, and a damaged catalog directory
refused at start-up."""

import subprocess
import time
from decimal import Decimal

import pytest
import trino
from trino.exceptions import TrinoUserError

from harness import EMULATOR_BIN, free_port


def lake_args(tmp_path):
    return ["--catalog-dir", f"lake={tmp_path / 'lake'}"]


def cursor_on(emulator, schema="s"):
    return trino.dbapi.connect(host="127.0.0.1", port=emulator.port, user="alice", catalog="lake", schema=schema).cursor()


def run(emulator, sql):
    cursor = cursor_on(emulator)
    cursor.execute(sql)
    return cursor, cursor.fetchall()


def test_a_table_written_through_one_coordinator_is_read_through_another_and_outlives_it(start_emulator, tmp_path):
    a = start_emulator("emu-a", *lake_args(tmp_path))
    b = start_emulator("emu-b", *lake_args(tmp_path))
    run(a, "CREATE SCHEMA lake.s")
    cursor, rows = run(a, "CREATE TABLE t AS SELECT x, 'n' || CAST(x AS varchar) AS label FROM UNNEST(sequence(1, 5)) AS t(x)")
    assert (cursor.update_type, rows) == ("CREATE TABLE", [[5]])
    cursor, rows = run(b, "INSERT INTO t VALUES (6, 'six')")
    assert (cursor.update_type, cursor.rowcount, rows) == ("INSERT", 1, [[1]])
    a.kill()
    cursor, rows = run(b, "SELECT x, label FROM lake.s.t ORDER BY x DESC LIMIT 2")
    assert rows == [[6, "six"], [5, "n5"]]
    assert [(d[0], d[1]) for d in cursor.description] == [("x", "bigint"), ("label", "varchar")]
    c = start_emulator("emu-c", *lake_args(tmp_path))
    assert run(c, "SELECT count(*) FROM t")[1] == [[6]]


def test_ddl_and_dml_answer_as_trino(start_emulator, tmp_path):
    emulator = start_emulator("emu-a", *lake_args(tmp_path))
    cases = [
        ("CREATE SCHEMA IF NOT EXISTS lake.s", "CREATE SCHEMA", []),
        ("CREATE TABLE orders (id integer, amount decimal(10,2), day date, note varchar(5))", "CREATE TABLE", []),
        ("INSERT INTO orders VALUES (1, 12.5, DATE '2024-01-02', 'a'), (2, 3, DATE '2024-01-03', NULL)", "INSERT", [[2]]),
        ("CREATE OR REPLACE VIEW v SECURITY DEFINER AS SELECT id, amount * 2 AS doubled FROM orders", "CREATE VIEW", []),
        ("COMMENT ON TABLE orders IS 'the orders'", "COMMENT", []),
        ("ALTER TABLE orders RENAME TO orders2", "RENAME TABLE", []),
        ("DELETE FROM orders2 WHERE id IN (SELECT id FROM orders2 WHERE note IS NULL)", "DELETE", [[1]]),
        ("DROP VIEW v", "DROP VIEW", []),
        ("DROP TABLE IF EXISTS nope", "DROP TABLE", []),
    ]
    for sql, update_type, rows in cases:
        cursor, got = run(emulator, sql)
        assert (cursor.update_type, got) == (update_type, rows), sql
    cursor, rows = run(emulator, "SELECT * FROM orders2")
    assert rows == [[1, Decimal("12.50"), __import__("datetime").date(2024, 1, 2), "a"]]
    assert [d[1] for d in cursor.description] == ["integer", "decimal(10,2)", "date", "varchar(5)"]
    _, rows = run(emulator, "SELECT table_name, comment FROM system.metadata.table_comments WHERE schema_name = 's'")
    assert rows == [["orders2", "the orders"]]


@pytest.mark.parametrize(
    "sql, error_name, message",
    [
        ("CREATE SCHEMA lake.s", "SCHEMA_ALREADY_EXISTS", "Schema 'lake.s' already exists"),
        ("CREATE TABLE t (x integer)", "TABLE_ALREADY_EXISTS", "Table 'lake.s.t' already exists"),
        ("SELECT * FROM nope", "TABLE_NOT_FOUND", "line 1:15: Table 'lake.s.nope' does not exist"),
        ("SELECT * FROM lake.nope.t", "SCHEMA_NOT_FOUND", "line 1:15: Schema 'nope' does not exist"),
        ("SELECT y FROM t", "COLUMN_NOT_FOUND", "line 1:8: Column 'y' cannot be resolved"),
        ("SELECT x, count(*) FROM t", "EXPRESSION_NOT_AGGREGATE", "line 1:8: 'x' must be an aggregate expression"),
        ("INSERT INTO t VALUES ('a')", "TYPE_MISMATCH", "Insert query has mismatched column types"),
        ("SELECT CAST('x' AS integer)", "INVALID_CAST_ARGUMENT", "Cannot cast 'x' to INTEGER"),
        ("SELECT x / 0 FROM t", "DIVISION_BY_ZERO", "Division by zero"),
        ("SELECT nope(x) FROM t", "FUNCTION_NOT_FOUND", "line 1:8: Function 'nope' not registered"),
        ("SELECT ARRAY[x] FROM t", "NOT_SUPPORTED", "Not supported by the Trino coordinator emulator"),
        ("MERGE INTO t USING t u ON t.x = u.x WHEN MATCHED THEN DELETE", "NOT_SUPPORTED", "is not supported"),
        ("CREATE TABLE tpch.tiny.t (x integer)", "NOT_SUPPORTED", "This connector does not support creating tables"),
    ],
)
def test_errors_keep_trinos_names_and_messages(start_emulator, tmp_path, sql, error_name, message):
    emulator = start_emulator("emu-a", *lake_args(tmp_path))
    run(emulator, "CREATE SCHEMA lake.s")
    run(emulator, "CREATE TABLE t (x integer)")
    run(emulator, "INSERT INTO t VALUES (1)")
    with pytest.raises(TrinoUserError) as raised:
        run(emulator, sql)
    assert raised.value.error_name == error_name
    assert message in raised.value.message


def test_a_write_slowed_by_the_runtime_hint_is_not_applied_when_the_coordinator_dies_first(start_emulator, tmp_path):
    a = start_emulator("emu-a", *lake_args(tmp_path))
    run(a, "CREATE SCHEMA lake.s")
    cursor = cursor_on(a)
    writer = __import__("threading").Thread(
        target=lambda: pytest.raises(Exception, cursor.execute, "/* emulator: runtime_ms=3000 */ CREATE TABLE t AS SELECT 1 AS x"),
        daemon=True,
    )
    writer.start()
    time.sleep(1)
    a.kill()
    b = start_emulator("emu-b", *lake_args(tmp_path))
    with pytest.raises(TrinoUserError) as raised:
        run(b, "SELECT * FROM t")
    assert raised.value.error_name == "TABLE_NOT_FOUND"


@pytest.mark.parametrize(
    "content, complaint",
    [(b"this is not a database, just text" * 200, "not a usable catalog"), (None, "not a directory")],
)
def test_a_damaged_catalog_directory_is_refused_at_start_up(tmp_path, content, complaint):
    lake = tmp_path / "lake"
    if content is None:
        lake.write_text("a file where the directory should be")
    else:
        lake.mkdir()
        (lake / "catalog.sqlite").write_bytes(content)
    result = subprocess.run(
        [str(EMULATOR_BIN), "--listen", f"127.0.0.1:{free_port()}", "--catalog-dir", f"lake={lake}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0
    assert "catalog 'lake'" in result.stderr and complaint in result.stderr, result.stderr


def test_seed_style_inserts_through_both_parameter_paths_and_comments(start_emulator, tmp_path):
    """dbt-trino's seeds bind values as the Python client renders them
    (`DECIMAL '2.50'` into a DOUBLE column, `TIMESTAMP '… .000000'` into
    TIMESTAMP(3)), through EXECUTE IMMEDIATE or, with legacy prepared
    statements, PREPARE / EXECUTE / DEALLOCATE; persist_docs sends COMMENT ON."""
    import datetime

    emulator = start_emulator("emu-a", *lake_args(tmp_path))
    run(emulator, "CREATE SCHEMA lake.s")
    run(emulator, 'create table "lake"."s"."seed" ("id" INTEGER,"price" DOUBLE,"d" DATE,"ts" TIMESTAMP,"ok" boolean,"name" VARCHAR) ')
    row = [Decimal("1"), Decimal("2.50"), datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5), True, "a'b"]
    for legacy in (False, True):
        cursor = trino.dbapi.connect(
            host="127.0.0.1", port=emulator.port, user="dbt", catalog="lake", schema="s", legacy_prepared_statements=legacy
        ).cursor()
        cursor.execute('insert into "lake"."s"."seed" ("id", "price", "d", "ts", "ok", "name") values (?,?,?,?,?,?),(?,?,?,?,?,?)', row + [None] * 6)
        assert cursor.fetchall() == [[2]]
    cursor, rows = run(emulator, "SELECT * FROM seed WHERE id = 1")
    assert rows == [[1, 2.5, datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5), True, "a'b"]] * 2
    assert [d[1] for d in cursor.description] == ["integer", "double", "date", "timestamp(3)", "boolean", "varchar"]
    for sql in [
        "COMMENT ON COLUMN seed.name IS 'who'",
        "CREATE VIEW v AS SELECT id FROM seed",
        "COMMENT ON VIEW v IS 'ids'",
        "ALTER VIEW v RENAME TO w",
    ]:
        run(emulator, sql)
    _, rows = run(emulator, "SELECT table_name, column_name, comment FROM information_schema.columns WHERE comment IS NOT NULL")
    assert rows == [["seed", "name", "who"]]
    _, rows = run(emulator, "SELECT table_name, comment FROM system.metadata.table_comments WHERE catalog_name = 'lake' ORDER BY 1")
    assert rows == [["seed", None], ["w", "ids"]]
