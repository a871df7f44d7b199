//! Trino's name resolution: `[catalog.][schema.]table` with the session's
//! catalog and schema, and Trino's errors when a part is missing or unknown.

use super::engine::{internal, CatalogKind, Engine};
use super::error::*;
use super::statement::{idents, location_of};
use super::tpch;
use super::types::Type;
use super::typing::parse_type;
use rusqlite::{Connection, OptionalExtension};
use sqlparser::ast::ObjectName;

/// A fully qualified, lower-cased name and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub location: Location,
}

impl Name {
    /// A name not written in the statement (metadata listings).
    pub fn unlocated(catalog: &str, schema: &str, table: &str) -> Name {
        Name {
            catalog: catalog.into(),
            schema: schema.into(),
            table: table.into(),
            location: Location { line: 1, column: 1 },
        }
    }
}

/// The metadata table `catalog.schema.table` names, if it is one: any
/// catalog's `information_schema.{schemata,tables,columns,views}`, and the
/// `system` catalog's `runtime.nodes` and `metadata.*` tables.
pub fn virtual_of(catalog: &str, schema: &str, table: &str) -> Option<Virtual> {
    let owned = || catalog.to_string();
    Some(match (catalog, schema, table) {
        (_, "information_schema", "schemata") => Virtual::Schemata(owned()),
        (_, "information_schema", "tables") => Virtual::Tables(owned()),
        (_, "information_schema", "columns") => Virtual::Columns(owned()),
        (_, "information_schema", "views") => Virtual::Views(owned()),
        ("system", "runtime", "nodes") => Virtual::Nodes,
        ("system", "metadata", "catalogs") => Virtual::Catalogs,
        ("system", "metadata", "materialized_views") => Virtual::MaterializedViews,
        ("system", "metadata", "table_comments") => Virtual::TableComments,
        _ => return None,
    })
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.catalog, self.schema, self.table)
    }
}

/// A table made for each query from metadata (`system.*`, `information_schema.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Virtual {
    Schemata(String),
    Tables(String),
    Columns(String),
    Views(String),
    Nodes,
    Catalogs,
    MaterializedViews,
    TableComments,
}

#[derive(Clone, Debug)]
pub struct ViewDefinition {
    pub sql: String,
    pub context_catalog: Option<String>,
    pub context_schema: Option<String>,
    pub columns: Vec<(String, Type)>,
}

#[derive(Clone, Debug)]
pub enum Object {
    /// A stored table: its SQLite database and table name.
    Table {
        database: String,
        table: String,
    },
    View(ViewDefinition),
    Virtual(Virtual),
}

/// The temp table a virtual table is made into.
pub fn virtual_table(name: &Name) -> String {
    format!("v:{}", name.to_string().replace('"', ""))
}

const INFORMATION_SCHEMA_TABLES: &[&str] = &["columns", "schemata", "tables", "views"];

pub struct Resolver<'a> {
    pub engine: &'a Engine,
    pub connection: &'a Connection,
    pub session_catalog: Option<String>,
    pub session_schema: Option<String>,
}

impl Resolver<'_> {
    /// `[catalog.][schema.]table` completed from the session.
    pub fn qualify(&self, name: &ObjectName) -> Result<Name, QueryError> {
        let parts = idents(name.clone());
        let location = parts.first().map_or(Location { line: 1, column: 1 }, |p| location_of(p.span.start));
        let lower: Vec<String> = parts.iter().map(|p| p.value.to_lowercase()).collect();
        let missing_catalog = || {
            QueryError::at(MISSING_CATALOG_NAME, location, "Catalog must be specified when session catalog is not set")
        };
        let (catalog, schema, table) = match lower.as_slice() {
            [table] => {
                let catalog = self.session_catalog.clone().ok_or_else(missing_catalog)?;
                let schema = self.session_schema.clone().ok_or_else(|| {
                    QueryError::at(
                        MISSING_SCHEMA_NAME,
                        location,
                        "Schema must be specified when session schema is not set",
                    )
                })?;
                (catalog, schema, table.clone())
            }
            [schema, table] => {
                (self.session_catalog.clone().ok_or_else(missing_catalog)?, schema.clone(), table.clone())
            }
            [catalog, schema, table] => (catalog.clone(), schema.clone(), table.clone()),
            _ => return Err(QueryError::at(SYNTAX_ERROR, location, format!("Too many dots in table name: {name}"))),
        };
        Ok(Name { catalog, schema, table, location })
    }

    /// `[catalog.]schema` completed from the session (CREATE/DROP SCHEMA).
    pub fn qualify_schema(&self, name: &ObjectName) -> Result<(String, String, Location), QueryError> {
        let parts = idents(name.clone());
        let location = parts.first().map_or(Location { line: 1, column: 1 }, |p| location_of(p.span.start));
        let lower: Vec<String> = parts.iter().map(|p| p.value.to_lowercase()).collect();
        match lower.as_slice() {
            [schema] => {
                let catalog = self.session_catalog.clone().ok_or_else(|| {
                    QueryError::at(
                        MISSING_CATALOG_NAME,
                        location,
                        "Catalog must be specified when session catalog is not set",
                    )
                })?;
                Ok((catalog, schema.clone(), location))
            }
            [catalog, schema] => Ok((catalog.clone(), schema.clone(), location)),
            _ => Err(QueryError::at(SYNTAX_ERROR, location, format!("Too many parts in schema name: {name}"))),
        }
    }

    pub fn catalog(&self, catalog: &str, location: Location) -> Result<&CatalogKind, QueryError> {
        self.engine
            .kind(catalog)
            .ok_or_else(|| QueryError::at(CATALOG_NOT_FOUND, location, format!("Catalog '{catalog}' not found")))
    }

    /// The schemas of a catalog, sorted.
    pub fn schemas(&self, catalog: &str) -> Result<Vec<String>, QueryError> {
        let mut schemas: Vec<String> = match self.engine.kind(catalog) {
            None => Vec::new(),
            Some(CatalogKind::System) => {
                ["information_schema", "jdbc", "metadata", "runtime"].map(String::from).to_vec()
            }
            Some(CatalogKind::Tpch) => tpch::SCHEMAS.iter().map(|s| s.to_string()).collect(),
            Some(CatalogKind::Empty) => vec!["information_schema".into()],
            Some(CatalogKind::Shared(_)) => {
                let mut statement = self
                    .connection
                    .prepare(&format!("SELECT name FROM \"{catalog}\".\"$schemas\""))
                    .map_err(internal)?;
                let mut names: Vec<String> = statement
                    .query_map([], |row| row.get(0))
                    .map_err(internal)?
                    .collect::<Result<_, _>>()
                    .map_err(internal)?;
                names.push("information_schema".into());
                names
            }
        };
        schemas.sort();
        Ok(schemas)
    }

    pub fn schema_exists(&self, catalog: &str, schema: &str) -> Result<bool, QueryError> {
        Ok(self.schemas(catalog)?.iter().any(|s| s == schema))
    }

    /// The stored tables and views of a shared catalog: (schema, name, is_view).
    pub fn relations(&self, catalog: &str) -> Result<Vec<(String, String, bool)>, QueryError> {
        let mut out = Vec::new();
        match self.engine.kind(catalog) {
            Some(CatalogKind::Shared(_)) => {
                let mut statement = self
                    .connection
                    .prepare(&format!(
                        "SELECT name, 0 FROM \"{catalog}\".sqlite_master WHERE type = 'table' AND name LIKE '%/%'
                         UNION ALL SELECT schema || '/' || name, 1 FROM \"{catalog}\".\"$views\" ORDER BY 1"
                    ))
                    .map_err(internal)?;
                let rows = statement
                    .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? != 0)))
                    .map_err(internal)?;
                for row in rows {
                    let (full, view) = row.map_err(internal)?;
                    if let Some((schema, table)) = full.split_once('/') {
                        out.push((schema.to_string(), table.to_string(), view));
                    }
                }
            }
            Some(CatalogKind::Tpch) => {
                out.push(("tiny".into(), "nation".into(), false));
                out.push(("tiny".into(), "region".into(), false));
            }
            Some(CatalogKind::System) => {
                for (schema, table) in [
                    ("metadata", "catalogs"),
                    ("metadata", "materialized_views"),
                    ("metadata", "table_comments"),
                    ("runtime", "nodes"),
                ] {
                    out.push((schema.into(), table.into(), false));
                }
            }
            _ => {}
        }
        for table in INFORMATION_SCHEMA_TABLES {
            out.push(("information_schema".into(), table.to_string(), false));
        }
        Ok(out)
    }

    /// The columns of a stored table, with their Trino types.
    pub fn table_columns(&self, catalog: &str, schema: &str, table: &str) -> Result<Vec<(String, Type)>, QueryError> {
        let mut statement = self
            .connection
            .prepare("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")
            .map_err(internal)?;
        let rows = statement
            .query_map([format!("{schema}/{table}"), catalog.to_string()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(internal)?;
        let mut columns = Vec::new();
        for row in rows {
            let (name, ty) = row.map_err(internal)?;
            columns.push((name, parse_type(&ty).unwrap_or(Type::Varchar(None))));
        }
        Ok(columns)
    }

    pub fn view(&self, name: &Name) -> Result<Option<ViewDefinition>, QueryError> {
        if !matches!(self.engine.kind(&name.catalog), Some(CatalogKind::Shared(_))) {
            return Ok(None);
        }
        let row: Option<(String, Option<String>, Option<String>, String)> = self
            .connection
            .query_row(
                &format!(
                    "SELECT sql, context_catalog, context_schema, columns FROM \"{}\".\"$views\" WHERE schema = ?1 AND name = ?2",
                    name.catalog
                ),
                [&name.schema, &name.table],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(internal)?;
        Ok(row.map(|(sql, context_catalog, context_schema, columns)| {
            let columns: Vec<(String, String)> = serde_json::from_str(&columns).unwrap_or_default();
            ViewDefinition {
                sql,
                context_catalog,
                context_schema,
                columns: columns.into_iter().map(|(n, t)| (n, parse_type(&t).unwrap_or(Type::Varchar(None)))).collect(),
            }
        }))
    }

    pub fn table_exists(&self, name: &Name) -> Result<bool, QueryError> {
        if !matches!(self.engine.kind(&name.catalog), Some(CatalogKind::Shared(_))) {
            return Ok(false);
        }
        let found: Option<i64> = self
            .connection
            .query_row(
                &format!("SELECT 1 FROM \"{}\".sqlite_master WHERE type = 'table' AND name = ?1", name.catalog),
                [format!("{}/{}", name.schema, name.table)],
                |row| row.get(0),
            )
            .optional()
            .map_err(internal)?;
        Ok(found.is_some())
    }

    /// What a name in a FROM clause reads, or Trino's error.
    pub fn resolve(&self, name: &ObjectName) -> Result<(Name, Object), QueryError> {
        let name = self.qualify(name)?;
        let location = name.location;
        let kind = self.catalog(&name.catalog, location)?.clone();
        let not_found = || QueryError::at(TABLE_NOT_FOUND, location, format!("Table '{name}' does not exist"));
        if !self.schema_exists(&name.catalog, &name.schema)? {
            return Err(QueryError::at(SCHEMA_NOT_FOUND, location, format!("Schema '{}' does not exist", name.schema)));
        }
        if let Some(virtual_) = virtual_of(&name.catalog, &name.schema, &name.table) {
            return Ok((name, Object::Virtual(virtual_)));
        }
        if name.schema == "information_schema" {
            match name.table.as_str() {
                "applicable_roles"
                | "enabled_roles"
                | "roles"
                | "table_privileges"
                | "role_authorization_descriptors" => {
                    return Err(QueryError::at(
                        NOT_SUPPORTED,
                        location,
                        format!("Table '{name}' is not supported by the Trino coordinator emulator"),
                    ))
                }
                _ => return Err(not_found()),
            }
        }
        let object = match kind {
            CatalogKind::System => return Err(not_found()),
            CatalogKind::Tpch => match (name.schema.as_str(), name.table.as_str()) {
                ("tiny", "nation" | "region") => {
                    Object::Table { database: "tpch".into(), table: format!("{}/{}", name.schema, name.table) }
                }
                (_, table) if tpch::TABLES.contains(&table) => {
                    return Err(QueryError::at(
                        NOT_SUPPORTED,
                        location,
                        format!("Table '{name}' is not supported by the Trino coordinator emulator"),
                    ))
                }
                _ => return Err(not_found()),
            },
            CatalogKind::Empty => return Err(not_found()),
            CatalogKind::Shared(_) => {
                if self.table_exists(&name)? {
                    Object::Table { database: name.catalog.clone(), table: format!("{}/{}", name.schema, name.table) }
                } else if let Some(view) = self.view(&name)? {
                    Object::View(view)
                } else {
                    return Err(not_found());
                }
            }
        };
        Ok((name, object))
    }
}
