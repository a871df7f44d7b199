//! DDL and DML on a shared catalog, with the checks and messages of Trino's
//! tasks (`CreateSchemaTask`, `CreateTableTask`, `RenameTableTask`,
//! `CreateViewTask`, `DropTableTask`, `CommentTask`…) and of its INSERT and
//! DELETE analysis. Only catalogs kept in a directory can be written; the
//! others answer as read-only connectors do.

use super::engine::{internal, qualified, quote_ident, table_name, CatalogKind};
use super::error::*;
use super::exec::{engine_error, run_query, Environment, Outcome};
use super::functions::cast;
use super::names::{Name, Resolver};
use super::statement::{location_of, parse, Statement};
use super::translate::{Constants, Translator};
use super::types::{Type, Value};
use super::typing::parse_type;
use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use sqlparser::ast::{self, ObjectName, ObjectType};

const START: Location = Location { line: 1, column: 1 };

pub fn execute(statement: &Statement, env: &Environment, connection: &Connection) -> Result<Outcome, QueryError> {
    let resolver = env.resolver(connection);
    match statement {
        Statement::CreateView { name, or_replace, comment, sql, location } => {
            create_view(&resolver, env, name, *or_replace, comment.as_deref(), sql, *location)
        }
        Statement::CommentOnView { name, comment } => comment_on(&resolver, name, None, comment.as_deref(), true),
        Statement::RenameView { from, to } => rename_view(&resolver, from, to),
        Statement::Sql(statement) => sql(&resolver, env, statement),
        _ => Err(QueryError::new(NOT_SUPPORTED, "statement is not DDL")),
    }
}

fn sql(resolver: &Resolver<'_>, env: &Environment, statement: &ast::Statement) -> Result<Outcome, QueryError> {
    match statement {
        ast::Statement::CreateSchema { schema_name: ast::SchemaName::Simple(name), if_not_exists, .. } => {
            create_schema(resolver, name, *if_not_exists)
        }
        ast::Statement::CreateTable(create) => create_table(resolver, env, create),
        ast::Statement::Drop { object_type, if_exists, names, cascade, .. } => {
            let [name] = names.as_slice() else {
                return Err(QueryError::new(NOT_SUPPORTED, "DROP of several objects at once"));
            };
            match object_type {
                ObjectType::Table => drop(resolver, name, Kind::Table, *if_exists),
                ObjectType::View => drop(resolver, name, Kind::View, *if_exists),
                ObjectType::Schema => drop_schema(resolver, name, *if_exists, *cascade),
                other => Err(QueryError::new(NOT_SUPPORTED, format!("DROP {other}"))),
            }
        }
        ast::Statement::AlterTable { name, operations, if_exists, .. } => match operations.as_slice() {
            [ast::AlterTableOperation::RenameTable { table_name }] => {
                rename_table(resolver, name, table_name, *if_exists)
            }
            [ast::AlterTableOperation::AddColumn { column_def, if_not_exists, .. }] => {
                add_column(resolver, name, column_def, *if_not_exists)
            }
            _ => Err(QueryError::at(
                NOT_SUPPORTED,
                START,
                format!("This ALTER TABLE is not supported by the Trino coordinator emulator: {statement}"),
            )),
        },
        ast::Statement::Insert(insert) => insert_into(resolver, env, insert),
        ast::Statement::Delete(delete) => delete_from(resolver, env, delete),
        ast::Statement::Comment { object_type, object_name, comment, .. } => match object_type {
            ast::CommentObject::Table => comment_on(resolver, object_name, None, comment.as_deref(), false),
            ast::CommentObject::Column => {
                let mut parts = object_name.0.clone();
                let column = parts.pop().and_then(|p| p.as_ident().cloned()).map(|i| i.value.to_lowercase());
                comment_on(resolver, &ObjectName(parts), column, comment.as_deref(), false)
            }
            other => Err(QueryError::new(NOT_SUPPORTED, format!("COMMENT ON {other}"))),
        },
        other => {
            let kind = other.to_string().split_whitespace().next().unwrap_or_default().to_uppercase();
            Err(QueryError::at(
                NOT_SUPPORTED,
                START,
                format!("Statement '{kind}' is not supported by the Trino coordinator emulator"),
            ))
        }
    }
}

/// A catalog that may be written, or the error a read-only connector gives.
fn writable(resolver: &Resolver<'_>, catalog: &str, location: Location, what: &str) -> Result<(), QueryError> {
    match resolver.catalog(catalog, location)? {
        CatalogKind::Shared(_) => Ok(()),
        _ => Err(QueryError::at(NOT_SUPPORTED, location, format!("This connector does not support {what}"))),
    }
}

/// The name of a relation to create or change: its catalog writable and its schema there.
fn target(resolver: &Resolver<'_>, name: &ObjectName, what: &str) -> Result<Name, QueryError> {
    let name = resolver.qualify(name)?;
    writable(resolver, &name.catalog, name.location, what)?;
    if !resolver.schema_exists(&name.catalog, &name.schema)? {
        return Err(QueryError::at(
            SCHEMA_NOT_FOUND,
            name.location,
            format!("Schema '{}' does not exist", name.schema),
        ));
    }
    Ok(name)
}

fn transaction<T>(connection: &Connection, work: impl FnOnce() -> Result<T, QueryError>) -> Result<T, QueryError> {
    connection.execute_batch("BEGIN IMMEDIATE").map_err(internal)?;
    match work() {
        Ok(value) => {
            connection.execute_batch("COMMIT").map_err(internal)?;
            Ok(value)
        }
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

fn create_schema(resolver: &Resolver<'_>, name: &ObjectName, if_not_exists: bool) -> Result<Outcome, QueryError> {
    let (catalog, schema, location) = resolver.qualify_schema(name)?;
    writable(resolver, &catalog, location, "creating schemas")?;
    if resolver.schema_exists(&catalog, &schema)? {
        if if_not_exists {
            return Ok(Outcome::Ddl("CREATE SCHEMA"));
        }
        return Err(QueryError::at(
            SCHEMA_ALREADY_EXISTS,
            START,
            format!("Schema '{catalog}.{schema}' already exists"),
        ));
    }
    resolver
        .connection
        .execute(&format!("INSERT OR IGNORE INTO {}.\"$schemas\" VALUES (?1)", quote_ident(&catalog)), [&schema])
        .map_err(internal)?;
    Ok(Outcome::Ddl("CREATE SCHEMA"))
}

fn drop_schema(
    resolver: &Resolver<'_>,
    name: &ObjectName,
    if_exists: bool,
    cascade: bool,
) -> Result<Outcome, QueryError> {
    let (catalog, schema, location) = resolver.qualify_schema(name)?;
    writable(resolver, &catalog, location, "dropping schemas")?;
    if !resolver.schema_exists(&catalog, &schema)? {
        if if_exists {
            return Ok(Outcome::Ddl("DROP SCHEMA"));
        }
        return Err(QueryError::at(SCHEMA_NOT_FOUND, location, format!("Schema '{catalog}.{schema}' does not exist")));
    }
    let relations: Vec<(String, bool)> = resolver
        .relations(&catalog)?
        .into_iter()
        .filter(|(s, _, _)| *s == schema)
        .map(|(_, table, view)| (table, view))
        .collect();
    if !relations.is_empty() && !cascade {
        return Err(QueryError::at(SCHEMA_NOT_EMPTY, START, format!("Cannot drop non-empty schema '{schema}'")));
    }
    let c = quote_ident(&catalog);
    transaction(resolver.connection, || {
        for (table, view) in &relations {
            if *view {
                resolver
                    .connection
                    .execute(&format!("DELETE FROM {c}.\"$views\" WHERE schema = ?1 AND name = ?2"), [&schema, table])
                    .map_err(internal)?;
            } else {
                resolver
                    .connection
                    .execute_batch(&format!("DROP TABLE {}", qualified(&catalog, &schema, table)))
                    .map_err(internal)?;
            }
        }
        for sql in [
            format!("DELETE FROM {c}.\"$comments\" WHERE schema = ?1"),
            format!("DELETE FROM {c}.\"$schemas\" WHERE name = ?1"),
        ] {
            resolver.connection.execute(&sql, [&schema]).map_err(internal)?;
        }
        Ok(())
    })?;
    Ok(Outcome::Ddl("DROP SCHEMA"))
}

fn check_new_relation(resolver: &Resolver<'_>, name: &Name) -> Result<(), QueryError> {
    if resolver.table_exists(name)? || resolver.view(name)?.is_some() {
        return Err(QueryError::at(TABLE_ALREADY_EXISTS, START, format!("Table '{name}' already exists")));
    }
    Ok(())
}

/// Table properties Trino's lakehouse connectors know; others are refused as Trino does.
const TABLE_PROPERTIES: &[&str] = &[
    "format",
    "location",
    "partitioned_by",
    "partitioning",
    "sorted_by",
    "bucketed_by",
    "bucket_count",
    "format_version",
    "transactional",
];

fn create_table(resolver: &Resolver<'_>, env: &Environment, create: &ast::CreateTable) -> Result<Outcome, QueryError> {
    let name = target(resolver, &create.name, "creating tables")?;
    if let ast::CreateTableOptions::With(options) = &create.table_options {
        for option in options {
            let property = match option {
                ast::SqlOption::KeyValue { key, .. } => key.value.to_lowercase(),
                other => other.to_string(),
            };
            if !TABLE_PROPERTIES.contains(&property.as_str()) {
                return Err(QueryError::at(
                    INVALID_TABLE_PROPERTY,
                    START,
                    format!("Catalog '{}' table property '{property}' does not exist", name.catalog),
                ));
            }
        }
    }
    let exists = resolver.table_exists(&name)? || resolver.view(&name)?.is_some();
    if exists && create.if_not_exists {
        return Ok(match create.query {
            Some(_) => Outcome::Modified { update_type: "CREATE TABLE", count: 0 },
            None => Outcome::Ddl("CREATE TABLE"),
        });
    }
    if exists && !create.or_replace {
        check_new_relation(resolver, &name)?;
    }
    let (columns, rows) = match &create.query {
        Some(query) => {
            let result = run_query(query, env, resolver.connection)?;
            let columns: Vec<(String, Type)> =
                result.columns.into_iter().map(|c| (c.name.to_lowercase(), c.ty)).collect();
            (columns, Some(result.rows))
        }
        None => {
            let mut columns = Vec::new();
            for column in &create.columns {
                columns.push((column.name.value.to_lowercase(), parse_type(&column.data_type.to_string())?));
            }
            (columns, None)
        }
    };
    for (index, (column, ty)) in columns.iter().enumerate() {
        if *ty == Type::Unknown {
            return Err(QueryError::at(COLUMN_TYPE_UNKNOWN, START, format!("Column type is unknown: {column}")));
        }
        if columns[..index].iter().any(|(c, _)| c == column) {
            return Err(QueryError::at(
                DUPLICATE_COLUMN_NAME,
                START,
                format!("Column name '{column}' specified more than once"),
            ));
        }
    }
    let table = qualified(&name.catalog, &name.schema, &name.table);
    let definition: Vec<String> =
        columns.iter().map(|(c, t)| format!("{} {}", quote_ident(c), t.sqlite_declaration())).collect();
    let count = transaction(resolver.connection, || {
        if exists {
            drop_relation(resolver, &name)?;
        }
        resolver
            .connection
            .execute_batch(&format!("CREATE TABLE {table}({})", definition.join(", ")))
            .map_err(internal)?;
        let comments = create.columns.iter().filter_map(|c| {
            c.options.iter().find_map(|o| match &o.option {
                ast::ColumnOption::Comment(text) => Some((c.name.value.to_lowercase(), text.clone())),
                _ => None,
            })
        });
        for (column, text) in comments {
            set_comment(resolver, &name, &column, Some(&text))?;
        }
        if let Some(ast::CommentDef::WithEq(text) | ast::CommentDef::WithoutEq(text)) = &create.comment {
            set_comment(resolver, &name, "", Some(text))?;
        }
        match &rows {
            Some(rows) => {
                let rows: Vec<Vec<Sql>> =
                    rows.iter().map(|row| row.iter().zip(&columns).map(|(v, (_, t))| to_sql(v, t)).collect()).collect();
                insert_rows(resolver.connection, &table, &columns, &rows)
            }
            None => Ok(0),
        }
    })?;
    Ok(match create.query {
        Some(_) => Outcome::Modified { update_type: "CREATE TABLE", count },
        None => Outcome::Ddl("CREATE TABLE"),
    })
}

/// A Trino value as SQLite stores it.
pub fn to_sql(value: &Value, ty: &Type) -> Sql {
    match value {
        Value::Null => Sql::Null,
        Value::Boolean(b) => Sql::Integer(i64::from(*b)),
        Value::Int(i) => Sql::Integer(*i),
        Value::Double(d) => Sql::Real(*d),
        Value::Decimal(unscaled) => {
            let scale = ty.as_decimal().map_or(0, |(_, s)| s);
            Sql::Real(*unscaled as f64 / 10f64.powi(scale as i32))
        }
        Value::Varchar(s) => Sql::Text(s.clone()),
        Value::Array(_) => Sql::Text(value.to_json(ty).to_string()),
    }
}

/// Inserts rows already in SQLite's values; returns how many.
fn insert_rows(
    connection: &Connection,
    table: &str,
    columns: &[(String, Type)],
    rows: &[Vec<Sql>],
) -> Result<u64, QueryError> {
    let names: Vec<String> = columns.iter().map(|(c, _)| quote_ident(c)).collect();
    let marks = vec!["?"; columns.len()].join(", ");
    let mut statement =
        connection.prepare(&format!("INSERT INTO {table}({}) VALUES ({marks})", names.join(", "))).map_err(internal)?;
    for row in rows {
        statement.execute(rusqlite::params_from_iter(row.iter())).map_err(internal)?;
    }
    Ok(rows.len() as u64)
}

/// Trino's implicit coercion, as INSERT applies it.
fn coercible(from: &Type, to: &Type) -> bool {
    use Type::*;
    if from == to || *from == Unknown {
        return true;
    }
    // Trino's `typesMatchForInsert` accepts any numeric into any numeric
    // (values that do not fit fail at run time), varchar into varchar, and
    // temporal types into each other.
    match (from, to) {
        (a, b) if a.is_numeric() && b.is_numeric() => true,
        (Varchar(_), Varchar(_)) => true,
        (Date | Timestamp(_), Date | Timestamp(_)) => true,
        _ => false,
    }
}

fn insert_into(resolver: &Resolver<'_>, env: &Environment, insert: &ast::Insert) -> Result<Outcome, QueryError> {
    let ast::TableObject::TableName(table_name_ast) = &insert.table else {
        return Err(QueryError::new(NOT_SUPPORTED, "INSERT INTO a table function"));
    };
    let name = resolver.qualify(table_name_ast)?;
    let (name, object) = resolver.resolve(table_name_ast).map_err(|e| match e.code.name {
        "SCHEMA_NOT_FOUND" | "TABLE_NOT_FOUND" => {
            QueryError::at(TABLE_NOT_FOUND, name.location, format!("Table '{name}' does not exist"))
        }
        _ => e,
    })?;
    let super::names::Object::Table { .. } = object else {
        return Err(QueryError::at(
            NOT_SUPPORTED,
            name.location,
            format!("Inserting into views is not supported: {name}"),
        ));
    };
    writable(resolver, &name.catalog, name.location, "inserts")?;
    let all = resolver.table_columns(&name.catalog, &name.schema, &name.table)?;
    let columns: Vec<(String, Type)> = if insert.columns.is_empty() {
        all.clone()
    } else {
        let mut chosen = Vec::new();
        for column in &insert.columns {
            let wanted = column.value.to_lowercase();
            let found = all.iter().find(|(c, _)| *c == wanted).ok_or_else(|| {
                QueryError::at(
                    COLUMN_NOT_FOUND,
                    location_of(column.span.start),
                    format!("Insert column name does not exist: {wanted}"),
                )
            })?;
            chosen.push(found.clone());
        }
        chosen
    };
    let source = insert.source.as_ref().ok_or_else(|| QueryError::new(NOT_SUPPORTED, "INSERT without a query"))?;
    let result = run_query(source, env, resolver.connection)?;
    let query_types: Vec<&Type> = result.columns.iter().map(|c| &c.ty).collect();
    let fits =
        query_types.len() == columns.len() && query_types.iter().zip(&columns).all(|(q, (_, t))| coercible(q, t));
    if !fits {
        let show = |types: Vec<&Type>| types.iter().map(|t| t.display_name()).collect::<Vec<_>>().join(", ");
        return Err(QueryError::at(
            TYPE_MISMATCH,
            START,
            format!(
                "Insert query has mismatched column types: Table: [{}], Query: [{}]",
                show(columns.iter().map(|(_, t)| t).collect()),
                show(query_types)
            ),
        ));
    }
    let table = qualified(&name.catalog, &name.schema, &name.table);
    let mut coerced = Vec::with_capacity(result.rows.len());
    for row in &result.rows {
        let mut values = Vec::with_capacity(row.len());
        for ((value, (_, target)), column) in row.iter().zip(&columns).zip(&result.columns) {
            values.push(cast(to_sql(value, &column.ty), target)?);
        }
        coerced.push(values);
    }
    let count = transaction(resolver.connection, || insert_rows(resolver.connection, &table, &columns, &coerced))?;
    Ok(Outcome::Modified { update_type: "INSERT", count })
}

fn delete_from(resolver: &Resolver<'_>, env: &Environment, delete: &ast::Delete) -> Result<Outcome, QueryError> {
    let tables = match &delete.from {
        ast::FromTable::WithFromKeyword(tables) | ast::FromTable::WithoutKeyword(tables) => tables,
    };
    let [ast::TableWithJoins { relation: ast::TableFactor::Table { name: table_ast, alias, .. }, joins }] =
        tables.as_slice()
    else {
        return Err(QueryError::new(NOT_SUPPORTED, "DELETE from more than one table"));
    };
    if !joins.is_empty() || delete.using.is_some() {
        return Err(QueryError::new(NOT_SUPPORTED, "DELETE with joins"));
    }
    let (name, object) = resolver.resolve(table_ast)?;
    let super::names::Object::Table { .. } = object else {
        return Err(QueryError::at(
            NOT_SUPPORTED,
            name.location,
            format!("Deleting from views is not supported: {name}"),
        ));
    };
    writable(resolver, &name.catalog, name.location, "deletes")?;
    let node = env.node();
    let constants: Constants = env.constants()?;
    let mut translator = Translator::new(resolver, &node, &constants);
    let condition = match &delete.selection {
        Some(expr) => format!(" WHERE {}", translator.expr(expr)?),
        None => String::new(),
    };
    let alias = alias.as_ref().map_or(name.table.clone(), |a| a.name.value.clone());
    let sql = format!(
        "DELETE FROM {} AS {}{condition}",
        qualified(&name.catalog, &name.schema, &name.table),
        quote_ident(&alias)
    );
    let count = transaction(resolver.connection, || {
        resolver.connection.execute(&sql, []).map_err(|e| engine_error(e, delete))
    })?;
    Ok(Outcome::Modified { update_type: "DELETE", count: count as u64 })
}

fn drop_relation(resolver: &Resolver<'_>, name: &Name) -> Result<(), QueryError> {
    let c = quote_ident(&name.catalog);
    if resolver.table_exists(name)? {
        resolver
            .connection
            .execute_batch(&format!("DROP TABLE {}", qualified(&name.catalog, &name.schema, &name.table)))
            .map_err(internal)?;
    }
    resolver
        .connection
        .execute(&format!("DELETE FROM {c}.\"$views\" WHERE schema = ?1 AND name = ?2"), [&name.schema, &name.table])
        .map_err(internal)?;
    resolver
        .connection
        .execute(&format!("DELETE FROM {c}.\"$comments\" WHERE schema = ?1 AND name = ?2"), [&name.schema, &name.table])
        .map_err(internal)?;
    Ok(())
}

/// The kind of relation a statement changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    View,
}

impl Kind {
    fn exists(self, resolver: &Resolver<'_>, name: &Name) -> Result<bool, QueryError> {
        match self {
            Kind::Table => resolver.table_exists(name),
            Kind::View => Ok(resolver.view(name)?.is_some()),
        }
    }

    /// TABLE_NOT_FOUND `Table 'c.s.t' does not exist` (or `View …`).
    fn not_found(self, name: &Name) -> QueryError {
        let word = if self == Kind::Table { "Table" } else { "View" };
        QueryError::at(TABLE_NOT_FOUND, name.location, format!("{word} '{name}' does not exist"))
    }
}

/// The table or view a statement changes, and whether it exists (not when
/// its schema does not); a read-only catalog refuses `what`.
fn existing(resolver: &Resolver<'_>, name: &ObjectName, kind: Kind, what: &str) -> Result<(Name, bool), QueryError> {
    let name = resolver.qualify(name)?;
    resolver.catalog(&name.catalog, name.location)?;
    if !resolver.schema_exists(&name.catalog, &name.schema)? {
        return Ok((name, false));
    }
    writable(resolver, &name.catalog, name.location, what)?;
    let exists = kind.exists(resolver, &name)?;
    Ok((name, exists))
}

/// The existing table or view a statement changes, or TABLE_NOT_FOUND.
fn found(resolver: &Resolver<'_>, name: &ObjectName, kind: Kind, what: &str) -> Result<Name, QueryError> {
    match existing(resolver, name, kind, what)? {
        (name, true) => Ok(name),
        (name, false) => Err(kind.not_found(&name)),
    }
}

fn drop(resolver: &Resolver<'_>, name: &ObjectName, kind: Kind, if_exists: bool) -> Result<Outcome, QueryError> {
    let (what, update_type) = match kind {
        Kind::Table => ("dropping tables", "DROP TABLE"),
        Kind::View => ("dropping views", "DROP VIEW"),
    };
    match existing(resolver, name, kind, what)? {
        (name, true) => transaction(resolver.connection, || drop_relation(resolver, &name))?,
        (_, false) if if_exists => {}
        (name, false) => return Err(kind.not_found(&name)),
    }
    Ok(Outcome::Ddl(update_type))
}

fn rename_target(resolver: &Resolver<'_>, from: &Name, to_ast: &ObjectName) -> Result<Name, QueryError> {
    let to = resolver.qualify(to_ast)?;
    if to.catalog != from.catalog {
        return Err(QueryError::at(NOT_SUPPORTED, START, "Table rename across catalogs is not supported"));
    }
    if !resolver.schema_exists(&to.catalog, &to.schema)? {
        return Err(QueryError::at(
            SCHEMA_NOT_FOUND,
            START,
            format!("Target schema '{}.{}' does not exist", to.catalog, to.schema),
        ));
    }
    if resolver.table_exists(&to)? || resolver.view(&to)?.is_some() {
        return Err(QueryError::at(TABLE_ALREADY_EXISTS, START, format!("Target table '{to}' already exists")));
    }
    Ok(to)
}

fn move_comments(resolver: &Resolver<'_>, from: &Name, to: &Name) -> Result<(), QueryError> {
    resolver
        .connection
        .execute(
            &format!(
                "UPDATE {}.\"$comments\" SET schema = ?1, name = ?2 WHERE schema = ?3 AND name = ?4",
                quote_ident(&from.catalog)
            ),
            [&to.schema, &to.table, &from.schema, &from.table],
        )
        .map_err(internal)?;
    Ok(())
}

fn rename_table(
    resolver: &Resolver<'_>,
    from_ast: &ObjectName,
    to_ast: &ObjectName,
    if_exists: bool,
) -> Result<Outcome, QueryError> {
    let from = match existing(resolver, from_ast, Kind::Table, "renaming tables")? {
        (name, true) => name,
        (_, false) if if_exists => return Ok(Outcome::Ddl("RENAME TABLE")),
        (name, false) => return Err(Kind::Table.not_found(&name)),
    };
    let to = rename_target(resolver, &from, to_ast)?;
    transaction(resolver.connection, || {
        resolver
            .connection
            .execute_batch(&format!(
                "ALTER TABLE {} RENAME TO {}",
                qualified(&from.catalog, &from.schema, &from.table),
                table_name(&to.schema, &to.table)
            ))
            .map_err(internal)?;
        move_comments(resolver, &from, &to)
    })?;
    Ok(Outcome::Ddl("RENAME TABLE"))
}

fn rename_view(resolver: &Resolver<'_>, from_ast: &ObjectName, to_ast: &ObjectName) -> Result<Outcome, QueryError> {
    let from = found(resolver, from_ast, Kind::View, "renaming views")?;
    let to = rename_target(resolver, &from, to_ast)?;
    transaction(resolver.connection, || {
        resolver
            .connection
            .execute(
                &format!(
                    "UPDATE {}.\"$views\" SET schema = ?1, name = ?2 WHERE schema = ?3 AND name = ?4",
                    quote_ident(&from.catalog)
                ),
                [&to.schema, &to.table, &from.schema, &from.table],
            )
            .map_err(internal)?;
        move_comments(resolver, &from, &to)
    })?;
    Ok(Outcome::Ddl("RENAME VIEW"))
}

fn add_column(
    resolver: &Resolver<'_>,
    name_ast: &ObjectName,
    column: &ast::ColumnDef,
    if_not_exists: bool,
) -> Result<Outcome, QueryError> {
    let name = found(resolver, name_ast, Kind::Table, "adding columns")?;
    let column_name = column.name.value.to_lowercase();
    let ty = parse_type(&column.data_type.to_string())?;
    if resolver.table_columns(&name.catalog, &name.schema, &name.table)?.iter().any(|(c, _)| *c == column_name) {
        if if_not_exists {
            return Ok(Outcome::Ddl("ADD COLUMN"));
        }
        return Err(QueryError::at(COLUMN_ALREADY_EXISTS, START, format!("Column '{column_name}' already exists")));
    }
    resolver
        .connection
        .execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            qualified(&name.catalog, &name.schema, &name.table),
            quote_ident(&column_name),
            ty.sqlite_declaration()
        ))
        .map_err(internal)?;
    Ok(Outcome::Ddl("ADD COLUMN"))
}

fn set_comment(resolver: &Resolver<'_>, name: &Name, column: &str, comment: Option<&str>) -> Result<(), QueryError> {
    resolver
        .connection
        .execute(
            &format!("INSERT OR REPLACE INTO {}.\"$comments\" VALUES (?1, ?2, ?3, ?4)", quote_ident(&name.catalog)),
            rusqlite::params![name.schema, name.table, column, comment],
        )
        .map_err(internal)?;
    Ok(())
}

fn comment_on(
    resolver: &Resolver<'_>,
    name_ast: &ObjectName,
    column: Option<String>,
    comment: Option<&str>,
    view: bool,
) -> Result<Outcome, QueryError> {
    let name = found(resolver, name_ast, if view { Kind::View } else { Kind::Table }, "setting comments")?;
    if let Some(column) = &column {
        if !resolver.table_columns(&name.catalog, &name.schema, &name.table)?.iter().any(|(c, _)| c == column) {
            return Err(QueryError::at(COLUMN_NOT_FOUND, START, format!("Column does not exist: {column}")));
        }
    }
    set_comment(resolver, &name, column.as_deref().unwrap_or(""), comment)?;
    Ok(Outcome::Ddl("COMMENT"))
}

fn create_view(
    resolver: &Resolver<'_>,
    env: &Environment,
    name_ast: &ObjectName,
    or_replace: bool,
    comment: Option<&str>,
    sql: &str,
    location: Location,
) -> Result<Outcome, QueryError> {
    let name = target(resolver, name_ast, "creating views")?;
    if resolver.table_exists(&name)? {
        return Err(QueryError::at(TABLE_ALREADY_EXISTS, location, format!("Table already exists: '{name}'")));
    }
    if resolver.view(&name)?.is_some() && !or_replace {
        return Err(QueryError::at(TABLE_ALREADY_EXISTS, location, format!("View already exists: '{name}'")));
    }
    let Statement::Query(query) = parse(sql)? else {
        return Err(QueryError::at(SYNTAX_ERROR, location, "CREATE VIEW needs a query"));
    };
    // Analyzed as Trino analyzes a view: its columns and their types are stored with it.
    let result = run_query(&query, env, resolver.connection)?;
    let columns: Vec<(String, String)> = result.columns.iter().map(|c| (c.name.clone(), c.ty.display_name())).collect();
    let columns =
        serde_json::to_string(&columns).map_err(|e| QueryError::new(GENERIC_INTERNAL_ERROR, e.to_string()))?;
    transaction(resolver.connection, || {
        resolver
            .connection
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO {}.\"$views\" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    quote_ident(&name.catalog)
                ),
                rusqlite::params![
                    name.schema,
                    name.table,
                    sql.trim(),
                    env.session_catalog,
                    env.session_schema,
                    columns
                ],
            )
            .map_err(internal)?;
        if let Some(text) = comment {
            set_comment(resolver, &name, "", Some(text))?;
        }
        Ok(())
    })?;
    Ok(Outcome::Ddl("CREATE VIEW"))
}
