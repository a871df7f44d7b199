//! The embedded SQL engine: one SQLite connection per emulator process, with
//! every catalog attached as an SQLite database of the same name.
//!
//! - a shared catalog (`--catalog-dir lake=DIR`) is the file `DIR/catalog.sqlite`
//!   in WAL mode, so several emulator processes read and write it at once, as
//!   clusters share a metastore and object store;
//! - `tpch` is an in-memory database holding `tiny.nation` and `tiny.region`;
//! - `system` and every `information_schema` are tables made for each query
//!   in SQLite's `temp` database.
//!
//! Trino's `schema.table` is one SQLite table named `"schema/table"`.

use super::error::{QueryError, GENERIC_INTERNAL_ERROR};
use super::functions;
use super::tpch;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The catalog file's format, kept in its `"$catalog"` table.
const FORMAT: &str = "trino-emulator-catalog/1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogKind {
    System,
    Tpch,
    /// A catalog named with `--catalogs`: it exists and is empty.
    Empty,
    /// A catalog kept in a directory (`--catalog-dir`).
    Shared(PathBuf),
}

pub struct Engine {
    connection: Mutex<Connection>,
    catalogs: Vec<(String, CatalogKind)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("catalogs", &self.catalogs).finish()
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQLite table of a Trino `schema.table`.
pub fn table_name(schema: &str, table: &str) -> String {
    quote(&format!("{schema}/{table}"))
}

/// `"catalog"."schema/table"`.
pub fn qualified(catalog: &str, schema: &str, table: &str) -> String {
    format!("{}.{}", quote(catalog), table_name(schema, table))
}

pub fn quote_ident(name: &str) -> String {
    quote(name)
}

impl Engine {
    /// Opens the engine with its catalogs; a catalog directory that cannot be
    /// used (not a directory, a file that is not an emulator catalog, a
    /// damaged database) is an error naming it.
    pub fn open(extra: &[String], shared: &[(String, PathBuf)]) -> Result<Engine, String> {
        let connection = Connection::open_in_memory().map_err(|e| format!("cannot open SQLite: {e}"))?;
        connection.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
        // Trino's LIKE is case-sensitive; SQLite's is not unless told.
        connection.execute_batch("PRAGMA case_sensitive_like = ON").map_err(|e| e.to_string())?;
        functions::register(&connection).map_err(|e| format!("cannot register SQL functions: {e}"))?;
        load_tpch(&connection).map_err(|e| format!("cannot load tpch: {e}"))?;
        let mut catalogs = vec![("system".to_string(), CatalogKind::System), ("tpch".to_string(), CatalogKind::Tpch)];
        for name in extra {
            if !catalogs.iter().any(|(c, _)| c == name) {
                catalogs.push((name.clone(), CatalogKind::Empty));
            }
        }
        for (name, dir) in shared {
            if catalogs.iter().any(|(c, _)| c == name) {
                return Err(format!("catalog '{name}' is defined twice"));
            }
            attach_shared(&connection, name, dir).map_err(|e| format!("catalog '{name}' ({}): {e}", dir.display()))?;
            catalogs.push((name.clone(), CatalogKind::Shared(dir.clone())));
        }
        catalogs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Engine { connection: Mutex::new(connection), catalogs })
    }

    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every catalog name, sorted (`SHOW CATALOGS`, `system.metadata.catalogs`).
    pub fn catalog_names(&self) -> Vec<String> {
        self.catalogs.iter().map(|(name, _)| name.clone()).collect()
    }

    pub fn kind(&self, catalog: &str) -> Option<&CatalogKind> {
        self.catalogs.iter().find(|(name, _)| name == catalog).map(|(_, kind)| kind)
    }
}

fn attach_shared(connection: &Connection, name: &str, dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("not a directory".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    let file = dir.join("catalog.sqlite");
    let path = file.to_str().ok_or("the path is not UTF-8")?;
    connection
        .execute(&format!("ATTACH DATABASE ?1 AS {}", quote(name)), [path])
        .map_err(|e| format!("{} is not a usable catalog: {e}", file.display()))?;
    let schema = quote(name);
    let check = |sql: &str| -> Result<(), String> {
        connection.execute_batch(sql).map_err(|e| format!("{} is not a usable catalog: {e}", file.display()))
    };
    check(&format!("SELECT count(*) FROM {schema}.sqlite_master"))?;
    let verdict: String = connection
        .query_row(&format!("PRAGMA {schema}.quick_check"), [], |row| row.get(0))
        .map_err(|e| format!("{} is damaged: {e}", file.display()))?;
    if verdict != "ok" {
        return Err(format!("{} is damaged: {verdict}", file.display()));
    }
    let objects: i64 = connection
        .query_row(&format!("SELECT count(*) FROM {schema}.sqlite_master"), [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if objects > 0 {
        let format: Option<String> = connection
            .query_row(&format!("SELECT format FROM {schema}.\"$catalog\""), [], |row| row.get(0))
            .map_err(|_| format!("{} holds a database that is not an emulator catalog", file.display()))?;
        if format.as_deref() != Some(FORMAT) {
            return Err(format!("{} has format {format:?}, expected {FORMAT}", file.display()));
        }
    }
    connection
        .query_row(&format!("PRAGMA {schema}.journal_mode = WAL"), [], |_| Ok(()))
        .map_err(|e| format!("cannot use WAL: {e}"))?;
    let with_retry = |sql: &str| connection.execute_batch(sql).map_err(|e| e.to_string());
    with_retry(&format!(
        "BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS {schema}.\"$catalog\"(format TEXT NOT NULL);
         INSERT INTO {schema}.\"$catalog\" SELECT '{FORMAT}' WHERE NOT EXISTS (SELECT 1 FROM {schema}.\"$catalog\");
         CREATE TABLE IF NOT EXISTS {schema}.\"$schemas\"(name TEXT PRIMARY KEY);
         CREATE TABLE IF NOT EXISTS {schema}.\"$views\"(schema TEXT, name TEXT, sql TEXT, context_catalog TEXT,
             context_schema TEXT, columns TEXT, PRIMARY KEY(schema, name));
         CREATE TABLE IF NOT EXISTS {schema}.\"$comments\"(schema TEXT, name TEXT, column_name TEXT NOT NULL,
             comment TEXT, PRIMARY KEY(schema, name, column_name));
         INSERT OR IGNORE INTO {schema}.\"$schemas\" VALUES ('default');
         COMMIT;"
    ))
}

fn load_tpch(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(&format!(
        "ATTACH DATABASE ':memory:' AS tpch;
         CREATE TABLE {}(nationkey bigint, name varchar(25), regionkey bigint, comment varchar(152));
         CREATE TABLE {}(regionkey bigint, name varchar(25), comment varchar(152));",
        qualified("tpch", "tiny", "nation"),
        qualified("tpch", "tiny", "region"),
    ))?;
    let mut nation =
        connection.prepare(&format!("INSERT INTO {} VALUES (?1, ?2, ?3, ?4)", qualified("tpch", "tiny", "nation")))?;
    for (key, name, region, comment) in tpch::NATION {
        nation.execute(rusqlite::params![key, name, region, comment])?;
    }
    let mut region =
        connection.prepare(&format!("INSERT INTO {} VALUES (?1, ?2, ?3)", qualified("tpch", "tiny", "region")))?;
    for (key, name, comment) in tpch::REGION {
        region.execute(rusqlite::params![key, name, comment])?;
    }
    Ok(())
}

/// An SQLite failure the emulator did not expect.
pub fn internal(error: rusqlite::Error) -> QueryError {
    QueryError::new(GENERIC_INTERNAL_ERROR, format!("SQL engine: {error}"))
}
