//! The metadata tables (`information_schema.*`, `system.runtime.nodes`,
//! `system.metadata.*`), made into SQLite temp tables from the catalogs
//! before a query that reads them runs, with Trino's columns and types.

use super::engine::{internal, quote_ident};
use super::error::QueryError;
use super::names::{virtual_of, virtual_table, Name, Resolver, Virtual};
use super::types::Type;
use rusqlite::types::Value as Sql;

/// What `system.runtime.nodes` says about this coordinator.
#[derive(Clone, Debug)]
pub struct Node {
    pub node_id: String,
    pub http_uri: String,
    pub node_version: String,
}

fn varchar() -> Type {
    Type::Varchar(None)
}

/// The columns of a metadata table.
pub fn columns(virtual_: &Virtual) -> Vec<(&'static str, Type)> {
    let v = varchar;
    match virtual_ {
        Virtual::Schemata(_) => vec![("catalog_name", v()), ("schema_name", v())],
        Virtual::Tables(_) => {
            vec![("table_catalog", v()), ("table_schema", v()), ("table_name", v()), ("table_type", v())]
        }
        Virtual::Columns(_) => vec![
            ("table_catalog", v()),
            ("table_schema", v()),
            ("table_name", v()),
            ("column_name", v()),
            ("ordinal_position", Type::Bigint),
            ("column_default", v()),
            ("is_nullable", v()),
            ("data_type", v()),
            ("comment", v()),
            ("extra_info", v()),
        ],
        Virtual::Views(_) => {
            vec![("table_catalog", v()), ("table_schema", v()), ("table_name", v()), ("view_definition", v())]
        }
        Virtual::Nodes => vec![
            ("node_id", v()),
            ("http_uri", v()),
            ("node_version", v()),
            ("coordinator", Type::Boolean),
            ("state", v()),
        ],
        Virtual::Catalogs => vec![("catalog_name", v()), ("connector_id", v()), ("connector_name", v())],
        Virtual::MaterializedViews => vec![
            ("catalog_name", v()),
            ("schema_name", v()),
            ("name", v()),
            ("storage_catalog", v()),
            ("storage_schema", v()),
            ("storage_table", v()),
            ("freshness", v()),
            ("last_fresh_time", Type::TimestampWithTimeZone(9)),
            ("comment", v()),
            ("definition", v()),
        ],
        Virtual::TableComments => {
            vec![("catalog_name", v()), ("schema_name", v()), ("table_name", v()), ("comment", v())]
        }
    }
}

fn text(value: impl Into<String>) -> Sql {
    Sql::Text(value.into())
}

/// The columns of any relation, for `information_schema.columns`.
fn relation_columns(
    resolver: &Resolver<'_>,
    catalog: &str,
    schema: &str,
    table: &str,
    view: bool,
) -> Result<Vec<(String, Type)>, QueryError> {
    if let Some(virtual_) = virtual_of(catalog, schema, table) {
        return Ok(columns(&virtual_).into_iter().map(|(n, t)| (n.to_string(), t)).collect());
    }
    if view {
        return Ok(resolver.view(&Name::unlocated(catalog, schema, table))?.map(|v| v.columns).unwrap_or_default());
    }
    resolver.table_columns(catalog, schema, table)
}

fn rows(resolver: &Resolver<'_>, virtual_: &Virtual, node: &Node) -> Result<Vec<Vec<Sql>>, QueryError> {
    Ok(match virtual_ {
        Virtual::Schemata(catalog) => {
            resolver.schemas(catalog)?.into_iter().map(|s| vec![text(catalog.as_str()), text(s)]).collect()
        }
        Virtual::Tables(catalog) => resolver
            .relations(catalog)?
            .into_iter()
            .map(|(schema, table, view)| {
                vec![text(catalog.as_str()), text(schema), text(table), text(if view { "VIEW" } else { "BASE TABLE" })]
            })
            .collect(),
        Virtual::Columns(catalog) => {
            let mut out = Vec::new();
            for (schema, table, view) in resolver.relations(catalog)? {
                let comments = column_comments(resolver, catalog, &schema, &table)?;
                for (position, (column, ty)) in
                    relation_columns(resolver, catalog, &schema, &table, view)?.into_iter().enumerate()
                {
                    let comment = comments.iter().find(|(c, _)| *c == column).and_then(|(_, t)| t.clone());
                    out.push(vec![
                        text(catalog.as_str()),
                        text(schema.as_str()),
                        text(table.as_str()),
                        text(column),
                        Sql::Integer(position as i64 + 1),
                        Sql::Null,
                        text("YES"),
                        text(ty.display_name()),
                        comment.map_or(Sql::Null, text),
                        Sql::Null,
                    ]);
                }
            }
            out
        }
        Virtual::Views(catalog) => {
            let mut out = Vec::new();
            for (schema, table, view) in resolver.relations(catalog)? {
                if view {
                    let sql =
                        resolver.view(&Name::unlocated(catalog, &schema, &table))?.map(|v| v.sql).unwrap_or_default();
                    out.push(vec![text(catalog.as_str()), text(schema), text(table), text(sql)]);
                }
            }
            out
        }
        Virtual::Nodes => vec![vec![
            text(node.node_id.as_str()),
            text(node.http_uri.as_str()),
            text(node.node_version.as_str()),
            Sql::Integer(1),
            text("active"),
        ]],
        Virtual::Catalogs => resolver
            .engine
            .catalog_names()
            .into_iter()
            .map(|c| vec![text(c.as_str()), text(c.as_str()), text(c)])
            .collect(),
        Virtual::MaterializedViews => Vec::new(),
        Virtual::TableComments => {
            // Every table and view has a row; the comment is NULL without one.
            let mut out = Vec::new();
            for catalog in resolver.engine.catalog_names() {
                for (schema, table, _) in resolver.relations(&catalog)? {
                    if schema == "information_schema" {
                        continue;
                    }
                    let comment = column_comments(resolver, &catalog, &schema, &table)?
                        .into_iter()
                        .find(|(c, _)| c.is_empty())
                        .and_then(|(_, t)| t);
                    out.push(vec![text(catalog.as_str()), text(schema), text(table), comment.map_or(Sql::Null, text)]);
                }
            }
            out
        }
    })
}

/// The comments of a relation: ("" for the relation itself, or a column name, comment).
fn column_comments(
    resolver: &Resolver<'_>,
    catalog: &str,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, Option<String>)>, QueryError> {
    if !matches!(resolver.engine.kind(catalog), Some(super::engine::CatalogKind::Shared(_))) {
        return Ok(Vec::new());
    }
    let mut statement = resolver
        .connection
        .prepare(&format!(
            "SELECT column_name, comment FROM \"{catalog}\".\"$comments\" WHERE schema = ?1 AND name = ?2"
        ))
        .map_err(internal)?;
    let rows = statement.query_map([schema, table], |row| Ok((row.get(0)?, row.get(1)?))).map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// Makes the temp table for one metadata table; returns its SQLite name.
pub fn materialize(
    resolver: &Resolver<'_>,
    name: &Name,
    virtual_: &Virtual,
    node: &Node,
) -> Result<String, QueryError> {
    let name_only = virtual_table(name);
    let table = format!("temp.{}", quote_ident(&name_only));
    let definition: Vec<String> =
        columns(virtual_).iter().map(|(n, t)| format!("{} {}", quote_ident(n), t.sqlite_declaration())).collect();
    resolver
        .connection
        .execute_batch(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TEMP TABLE {}({});",
            quote_ident(&name_only),
            definition.join(", ")
        ))
        .map_err(internal)?;
    let found = rows(resolver, virtual_, node)?;
    if let Some(first) = found.first() {
        let marks = vec!["?"; first.len()].join(", ");
        let mut insert =
            resolver.connection.prepare(&format!("INSERT INTO {table} VALUES ({marks})")).map_err(internal)?;
        for row in found {
            insert.execute(rusqlite::params_from_iter(row)).map_err(internal)?;
        }
    }
    Ok(name_only)
}
