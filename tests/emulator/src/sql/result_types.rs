//! The Trino types of a query's result columns. SQLite declares a type only
//! for a column read straight from a table (created with Trino type names);
//! for the others the type is inferred from the Trino expression, its column
//! references typed by a probe (the same FROM clause, prepared, never run),
//! by the columns stored with expanded views, or by the inferred types of the
//! subqueries and WITH queries they come from.

use super::error::QueryError;
use super::exec::{engine_error, Environment};
use super::names::Resolver;
use super::translate::Translator;
use super::types::Type;
use super::typing::{infer, parse_type, super_type};
use rusqlite::Connection;
use sqlparser::ast::{self, Expr, SelectItem, SetExpr, TableFactor};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// How deep subqueries are typed (each level prepares a statement).
const MAX_DEPTH: usize = 4;

pub struct Context<'a> {
    pub env: &'a Environment,
    pub connection: &'a Connection,
    pub views: &'a HashMap<String, Type>,
    pub depth: usize,
}

/// Result columns: name and type (None: unknown).
pub type Columns = Vec<(String, Option<Type>)>;

/// A Trino query translated and prepared on SQLite, its result columns
/// typed as far as the statement and the query tell (values decide the rest).
pub struct Prepared<'c> {
    pub statement: rusqlite::Statement<'c>,
    pub columns: Columns,
}

/// Translates and prepares a query; `views` are the column types of views
/// expanded around it, `depth` how deep in subqueries it is typed.
pub fn prepare_query<'c>(
    query: &ast::Query,
    env: &Environment,
    connection: &'c Connection,
    views: &HashMap<String, Type>,
    depth: usize,
) -> Result<Prepared<'c>, QueryError> {
    let resolver: Resolver<'_> = env.resolver(connection);
    let node = env.node();
    let constants = env.constants()?;
    let mut translator = Translator::new(&resolver, &node, &constants);
    let translated = translator.query(query)?;
    let statement = connection.prepare(&translated.to_string()).map_err(|e| engine_error(e, query))?;
    let names: Vec<String> = statement.column_names().iter().map(|n| n.to_string()).collect();
    let declared: Vec<Option<Type>> =
        statement.columns().iter().map(|c| c.decl_type().and_then(|t| parse_type(t).ok())).collect();
    let mut views = views.clone();
    views.extend(translator.view_columns);
    let context = Context { env, connection, views: &views, depth };
    let inferred = inferred_types(query, &translated, &context, &declared);
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = declared[i].clone().or_else(|| inferred[i].clone()).or_else(|| views.get(&name).cloned());
            (name, ty)
        })
        .collect();
    Ok(Prepared { statement, columns })
}

/// The result columns of a subquery and their types, without running it.
fn column_types(query: &ast::Query, context: &Context<'_>) -> Columns {
    prepare_query(query, context.env, context.connection, context.views, context.depth + 1)
        .map(|prepared| prepared.columns)
        .unwrap_or_default()
}

/// The relations of a SELECT's FROM clause that are queries: alias → a query
/// returning their columns (a subquery, or `WITH … SELECT * FROM cte`).
fn query_relations(original: &ast::Query, select: &ast::Select) -> Vec<(String, ast::Query)> {
    let ctes: Vec<String> =
        original.with.iter().flat_map(|w| w.cte_tables.iter().map(|c| c.alias.name.value.to_lowercase())).collect();
    let mut out = Vec::new();
    let factors =
        select.from.iter().flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
    for factor in factors {
        match factor {
            TableFactor::Derived { subquery, alias: Some(alias), .. } if alias.columns.is_empty() => {
                out.push((alias.name.value.to_lowercase(), (**subquery).clone()));
            }
            TableFactor::Table { name, alias, args: None, .. } if name.0.len() == 1 => {
                let table = name.to_string().trim_matches('"').to_lowercase();
                if ctes.contains(&table) {
                    let alias = alias.as_ref().map_or(table.clone(), |a| a.name.value.to_lowercase());
                    let text = format!("SELECT * FROM \"{table}\"");
                    if let Ok(super::statement::Statement::Query(mut query)) = super::statement::parse(&text) {
                        query.with = original.with.clone();
                        out.push((alias, *query));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn reference_parts(reference: &Expr) -> Option<Vec<String>> {
    match reference {
        Expr::Identifier(i) => Some(vec![i.value.to_lowercase()]),
        Expr::CompoundIdentifier(p) => Some(p.iter().map(|i| i.value.to_lowercase()).collect()),
        _ => None,
    }
}

/// The Trino type of each result column whose SQLite column has no declared type.
pub fn inferred_types(
    original: &ast::Query,
    translated: &ast::Query,
    context: &Context<'_>,
    declared: &[Option<Type>],
) -> Vec<Option<Type>> {
    let mut out = vec![None; declared.len()];
    if let SetExpr::Values(values) = original.body.as_ref() {
        for (index, slot) in out.iter_mut().enumerate() {
            let mut ty = Some(Type::Unknown);
            for row in &values.rows {
                ty = match (ty, row.get(index).and_then(|e| infer(e, &|_| None))) {
                    (Some(acc), Some(next)) => super_type(&acc, &next),
                    _ => None,
                };
            }
            *slot = ty;
        }
        return out;
    }
    if let (SetExpr::Query(inner), SetExpr::Query(translated_inner)) =
        (original.body.as_ref(), translated.body.as_ref())
    {
        return inferred_types(inner, translated_inner, context, declared);
    }
    // UNION / INTERSECT / EXCEPT: the common super type of both sides, column by column.
    if let (
        SetExpr::SetOperation { left, right, .. },
        SetExpr::SetOperation { left: translated_left, right: translated_right, .. },
    ) = (original.body.as_ref(), translated.body.as_ref())
    {
        // One side as a query of its own (its WITH kept; ORDER BY and LIMIT belong to the whole).
        let with_body = |query: &ast::Query, body: &SetExpr| ast::Query {
            body: Box::new(body.clone()),
            order_by: None,
            limit_clause: None,
            fetch: None,
            ..query.clone()
        };
        let side = |body: &SetExpr, translated_body: &SetExpr| {
            let (original, translated) = (with_body(original, body), with_body(translated, translated_body));
            inferred_types(&original, &translated, context, &vec![None; declared.len()])
        };
        let (left, right) = (side(left, translated_left), side(right, translated_right));
        for (index, slot) in out.iter_mut().enumerate() {
            *slot = match (left.get(index).cloned().flatten(), right.get(index).cloned().flatten()) {
                (Some(a), Some(b)) => super_type(&a, &b),
                _ => None,
            };
        }
        return out;
    }
    let SetExpr::Select(select) = original.body.as_ref() else { return out };
    if select.projection.len() != declared.len()
        || select.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)))
    {
        return out;
    }
    let exprs: Vec<&Expr> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    let mut references: Vec<Expr> = Vec::new();
    for (expr, declared) in exprs.iter().zip(declared) {
        if declared.is_none() {
            let _ = ast::visit_expressions(*expr, |e| {
                if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) && !references.contains(e) {
                    references.push(e.clone());
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    let mut known: HashMap<String, Type> = HashMap::new();
    if !references.is_empty() {
        // 1. Declared types, from a probe with the same FROM clause.
        let mut probe = translated.clone();
        probe.order_by = None;
        probe.limit_clause = None;
        if let SetExpr::Select(select) = probe.body.as_mut() {
            select.projection = references.iter().cloned().map(SelectItem::UnnamedExpr).collect();
            if let Ok(statement) = context.connection.prepare(&probe.to_string()) {
                for (reference, column) in references.iter().zip(statement.columns()) {
                    if let Some(ty) = column.decl_type().and_then(|t| parse_type(t).ok()) {
                        known.insert(reference.to_string(), ty);
                    }
                }
            }
        }
        // 2. Columns of subqueries and WITH queries, typed in turn.
        let unresolved: Vec<&Expr> = references.iter().filter(|r| !known.contains_key(&r.to_string())).collect();
        if !unresolved.is_empty() && context.depth < MAX_DEPTH {
            let relations: Vec<(String, Columns)> = query_relations(original, select)
                .into_iter()
                .map(|(alias, query)| (alias, column_types(&query, context)))
                .collect();
            for reference in unresolved {
                let Some(parts) = reference_parts(reference) else { continue };
                let Some(column) = parts.last() else { continue };
                let qualifier = (parts.len() >= 2).then(|| parts[parts.len() - 2].clone());
                let found =
                    relations.iter().filter(|(alias, _)| qualifier.as_ref().is_none_or(|q| q == alias)).find_map(
                        |(_, columns)| columns.iter().find(|(name, _)| name == column).and_then(|(_, ty)| ty.clone()),
                    );
                if let Some(ty) = found {
                    known.insert(reference.to_string(), ty);
                }
            }
        }
    }
    // 3. Columns of expanded views, by name.
    let view_type = |reference: &Expr| {
        let parts = reference_parts(reference)?;
        let column = parts.last()?;
        let qualified = (parts.len() >= 2).then(|| format!("{}.{column}", parts[parts.len() - 2]));
        qualified.and_then(|q| context.views.get(&q).cloned()).or_else(|| context.views.get(column).cloned())
    };
    for (index, expr) in exprs.iter().enumerate() {
        if declared.get(index).is_some_and(Option::is_none) {
            out[index] =
                infer(expr, &|reference| known.get(&reference.to_string()).cloned().or_else(|| view_type(reference)));
        }
    }
    out
}
