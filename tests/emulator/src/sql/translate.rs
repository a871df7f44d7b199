//! Trino SQL → SQLite SQL, on sqlparser's tree: names resolved to the
//! catalogs' SQLite tables (views expanded, metadata tables made), result
//! columns named as Trino names them (`_colN`), and Trino's semantics where
//! SQLite's differ (CAST, division by zero, NULLS LAST, `concat`,
//! `UNNEST(sequence(…))`). What has no faithful translation fails with
//! `NOT_SUPPORTED` or the Trino error, never with a different answer.

use super::error::*;
use super::metadata::{materialize, Node};
use super::names::{Object, Resolver};
use super::statement::{location_of, parse, Statement};
use super::types::Type;
use super::typing::parse_type;
use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, ObjectNamePart, Query, SelectItem,
    SetExpr, TableAlias, TableFactor, Visit, VisitMut, VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

/// Views may name views; Trino fails a cycle, the emulator a deep chain too.
const MAX_VIEW_DEPTH: usize = 16;

/// The values of the query's clock and `version()`.
#[derive(Clone, Debug)]
pub struct Constants {
    pub now: String,
    pub today: String,
    pub version: String,
}

pub struct Translator<'a> {
    pub resolver: &'a Resolver<'a>,
    pub node: &'a Node,
    pub constants: &'a Constants,
    pub depth: usize,
    /// Column types of expanded views (the stored view knows them).
    pub view_columns: HashMap<String, Type>,
    ctes: HashSet<String>,
}

impl<'a> Translator<'a> {
    pub fn new(resolver: &'a Resolver<'a>, node: &'a Node, constants: &'a Constants) -> Self {
        Translator { resolver, node, constants, depth: 0, view_columns: HashMap::new(), ctes: HashSet::new() }
    }

    /// The SQLite form of a Trino query.
    pub fn query(&mut self, query: &Query) -> Result<Query, QueryError> {
        let mut query = query.clone();
        collect_ctes(&query, &mut self.ctes);
        match VisitMut::visit(&mut query, self) {
            ControlFlow::Break(error) => Err(error),
            ControlFlow::Continue(()) => Ok(query),
        }
    }

    /// The SQLite form of an expression (DELETE's WHERE).
    pub fn expr(&mut self, expr: &Expr) -> Result<Expr, QueryError> {
        let mut expr = expr.clone();
        match VisitMut::visit(&mut expr, self) {
            ControlFlow::Break(error) => Err(error),
            ControlFlow::Continue(()) => Ok(expr),
        }
    }
}

fn collect_ctes(query: &Query, into: &mut HashSet<String>) {
    let mut walker = CteWalker { names: into };
    let _ = Visit::visit(query, &mut walker);
}

fn add_ctes(query: &Query, into: &mut HashSet<String>) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            into.insert(cte.alias.name.value.to_lowercase());
        }
    }
}

struct CteWalker<'n> {
    names: &'n mut HashSet<String>,
}

impl sqlparser::ast::Visitor for CteWalker<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        add_ctes(query, self.names);
        ControlFlow::Continue(())
    }
}

fn not_supported(location: Option<Location>, what: impl std::fmt::Display) -> QueryError {
    let message = format!("Not supported by the Trino coordinator emulator: {what}");
    match location {
        Some(location) => QueryError::at(NOT_SUPPORTED, location, message),
        None => QueryError::new(NOT_SUPPORTED, message),
    }
}

fn quoted(text: &str) -> Ident {
    Ident::with_quote('"', text)
}

fn string(text: &str) -> Expr {
    Expr::value(ast::Value::SingleQuotedString(text.to_string()))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn sqlite_query(text: &str) -> Result<Query, QueryError> {
    match Parser::new(&GenericDialect {}).try_with_sql(text).and_then(|mut p| p.parse_query()) {
        Ok(query) => Ok(*query),
        Err(error) => {
            Err(QueryError::new(GENERIC_INTERNAL_ERROR, format!("emulator translation failed: {error}: {text}")))
        }
    }
}

/// Trino's name for a result column: the alias, the column's name, or `_colN`.
pub fn output_name(item: &SelectItem, index: usize) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => {
            Some(if alias.quote_style.is_some() { alias.value.clone() } else { alias.value.to_lowercase() })
        }
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.to_lowercase()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(|p| p.value.to_lowercase()),
        SelectItem::UnnamedExpr(_) => Some(format!("_col{index}")),
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => None,
    }
}

/// The output column names of a translated query body (None with wildcards).
fn body_names(body: &SetExpr) -> Option<Vec<String>> {
    match body {
        SetExpr::Select(select) => select.projection.iter().enumerate().map(|(i, item)| output_name(item, i)).collect(),
        SetExpr::Values(values) => {
            values.rows.first().map(|row| (1..=row.len()).map(|i| format!("column{i}")).collect())
        }
        SetExpr::SetOperation { left, .. } => body_names(left),
        SetExpr::Query(query) => body_names(&query.body),
        _ => None,
    }
}

/// Every SELECT of a body gets explicit Trino names (SQLite's are the text).
fn name_columns(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (index, item) in select.projection.iter_mut().enumerate() {
                if let (Some(name), SelectItem::UnnamedExpr(expr)) = (output_name(item, index), &*item) {
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: quoted(&name) };
                } else if let SelectItem::ExprWithAlias { alias, .. } = item {
                    if alias.quote_style.is_none() {
                        *alias = quoted(&alias.value.to_lowercase());
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_columns(left);
            name_columns(right);
        }
        _ => {}
    }
}

/// Trino sorts NULLs last unless told otherwise; SQLite puts them first ascending.
fn nulls_last(order_by: &mut [ast::OrderByExpr]) {
    for item in order_by {
        if item.options.nulls_first.is_none() {
            item.options.nulls_first = Some(false);
        }
    }
}

impl Translator<'_> {
    fn table(&mut self, factor: &mut TableFactor) -> Result<(), QueryError> {
        let TableFactor::Table { name, alias, args, .. } = factor else { return Ok(()) };
        let location = name.0.first().and_then(|p| p.as_ident()).map(|i| location_of(i.span.start));
        if let Some(function_args) = args {
            if name.to_string().eq_ignore_ascii_case("unnest") {
                let exprs: Vec<Expr> = function_args
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                        _ => None,
                    })
                    .collect();
                *factor = TableFactor::UNNEST {
                    alias: alias.clone(),
                    array_exprs: exprs,
                    with_offset: false,
                    with_offset_alias: None,
                    with_ordinality: false,
                };
                return self.unnest(factor);
            }
            return Err(not_supported(location, format!("table function {name}")));
        }
        if name.0.len() == 1 && self.ctes.contains(&name.to_string().trim_matches('"').to_lowercase()) {
            return Ok(());
        }
        let (resolved, object) = self.resolver.resolve(name)?;
        let alias = alias.clone().unwrap_or(TableAlias { name: quoted(&resolved.table), columns: Vec::new() });
        match object {
            Object::Table { database, table } => {
                *name = ObjectName(vec![
                    ObjectNamePart::Identifier(quoted(&database)),
                    ObjectNamePart::Identifier(quoted(&table)),
                ]);
                self.set_alias(factor, alias)
            }
            Object::Virtual(virtual_) => {
                let table = materialize(self.resolver, &resolved, &virtual_, self.node)?;
                *name = ObjectName(vec![
                    ObjectNamePart::Identifier(Ident::new("temp")),
                    ObjectNamePart::Identifier(quoted(&table)),
                ]);
                self.set_alias(factor, alias)
            }
            Object::View(view) => {
                if self.depth >= MAX_VIEW_DEPTH {
                    return Err(QueryError::at(
                        VIEW_IS_RECURSIVE,
                        resolved.location,
                        format!("View is recursive: {resolved}"),
                    ));
                }
                let Statement::Query(query) = parse(&view.sql).map_err(|e| {
                    QueryError::at(
                        INVALID_VIEW,
                        resolved.location,
                        format!("Failed analyzing stored view '{resolved}': {}", e.message),
                    )
                })?
                else {
                    return Err(QueryError::at(INVALID_VIEW, resolved.location, format!("Invalid view '{resolved}'")));
                };
                let inner = Resolver {
                    engine: self.resolver.engine,
                    connection: self.resolver.connection,
                    session_catalog: view.context_catalog.clone(),
                    session_schema: view.context_schema.clone(),
                };
                let mut translator = Translator::new(&inner, self.node, self.constants);
                translator.depth = self.depth + 1;
                let subquery = translator.query(&query)?;
                self.view_columns.extend(translator.view_columns);
                for (column, ty) in view.columns {
                    self.view_columns.insert(format!("{}.{column}", alias.name.value.to_lowercase()), ty.clone());
                    self.view_columns.entry(column).or_insert(ty);
                }
                *factor = TableFactor::Derived { lateral: false, subquery: Box::new(subquery), alias: Some(alias) };
                self.derived(factor)
            }
        }
    }

    fn set_alias(&mut self, factor: &mut TableFactor, new_alias: TableAlias) -> Result<(), QueryError> {
        if let TableFactor::Table { alias, .. } = factor {
            if !new_alias.columns.is_empty() {
                return Err(not_supported(None, "column aliases on a table"));
            }
            *alias = Some(new_alias);
        }
        Ok(())
    }

    /// `(subquery) AS t(a, b)`: SQLite has no column alias lists there.
    fn derived(&mut self, factor: &mut TableFactor) -> Result<(), QueryError> {
        let TableFactor::Derived { subquery, alias: Some(alias), .. } = factor else { return Ok(()) };
        if alias.columns.is_empty() {
            return Ok(());
        }
        let inner = body_names(&subquery.body).ok_or_else(|| not_supported(None, "column aliases over SELECT *"))?;
        if inner.len() != alias.columns.len() {
            return Err(QueryError::new(
                MISMATCHED_COLUMN_ALIASES,
                format!(
                    "Column alias list has {} entries but '{}' has {} columns available",
                    alias.columns.len(),
                    alias.name.value,
                    inner.len()
                ),
            ));
        }
        let projection: Vec<String> = inner
            .iter()
            .zip(&alias.columns)
            .map(|(from, to)| {
                format!(
                    "\"{}\" AS \"{}\"",
                    from.replace('"', "\"\""),
                    to.name.value.to_lowercase().replace('"', "\"\"")
                )
            })
            .collect();
        let wrapped = sqlite_query(&format!("SELECT {} FROM ({subquery})", projection.join(", ")))?;
        **subquery = wrapped;
        alias.columns.clear();
        Ok(())
    }

    /// `UNNEST(sequence(a, b[, step])) AS t(x)` → a recursive CTE.
    fn unnest(&mut self, factor: &mut TableFactor) -> Result<(), QueryError> {
        let TableFactor::UNNEST { alias, array_exprs, with_offset, with_ordinality, .. } = factor else {
            return Ok(());
        };
        let sequence = match array_exprs.as_slice() {
            [Expr::Function(f)]
                if f.name.to_string().eq_ignore_ascii_case("sequence") && !*with_offset && !*with_ordinality =>
            {
                f
            }
            _ => return Err(not_supported(None, "UNNEST of anything but sequence(start, stop[, step])")),
        };
        let args = function_exprs(sequence);
        let (start, stop, step) = match args.as_slice() {
            [a, b] => (a.to_string(), b.to_string(), format!("CASE WHEN ({a}) <= ({b}) THEN 1 ELSE -1 END")),
            [a, b, c] => (a.to_string(), b.to_string(), c.to_string()),
            _ => return Err(QueryError::new(FUNCTION_NOT_FOUND, "Unexpected parameters for function sequence")),
        };
        let name = alias.as_ref().map_or("unnest".to_string(), |a| a.name.value.clone());
        let column =
            alias.as_ref().and_then(|a| a.columns.first()).map_or("_col0".to_string(), |c| c.name.value.to_lowercase());
        let text = format!(
            "WITH RECURSIVE \"$sequence\"(x) AS (SELECT trino_sequence_check({start}, {stop}, {step}) \
             UNION ALL SELECT x + ({step}) FROM \"$sequence\" \
             WHERE CASE WHEN ({step}) > 0 THEN x + ({step}) <= ({stop}) ELSE x + ({step}) >= ({stop}) END) \
             SELECT x AS \"{column}\" FROM \"$sequence\""
        );
        *factor = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(sqlite_query(&text)?),
            alias: Some(TableAlias { name: quoted(&name), columns: Vec::new() }),
        };
        Ok(())
    }

    fn function(&mut self, expr: &mut Expr) -> Result<(), QueryError> {
        let Expr::Function(function) = expr else { return Ok(()) };
        let name = function.name.to_string().to_ascii_lowercase();
        let location = function.name.0.first().and_then(|p| p.as_ident()).map(|i| location_of(i.span.start));
        if let Some(ast::WindowType::WindowSpec(spec)) = &mut function.over {
            nulls_last(&mut spec.order_by);
        }
        let args = function_exprs(function);
        let rename = |function: &mut ast::Function, to: &str| {
            function.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(to))]);
        };
        match name.as_str() {
            "count" | "sum" | "avg" | "min" | "max" | "coalesce" | "nullif" | "abs" | "round" | "lower" | "upper"
            | "length" | "replace" | "trim" | "ltrim" | "rtrim" | "substr" | "row_number" | "rank" | "dense_rank"
            | "lag" | "lead" | "first_value" | "last_value" | "ntile" | "sign" | "floor" | "ceil" | "ceiling"
            | "power" | "pow" | "sqrt" | "ln" | "log10" | "log2" | "exp" => {}
            "substring" => rename(function, "substr"),
            "strpos" => rename(function, "instr"),
            "greatest" => rename(function, "max"),
            "least" => rename(function, "min"),
            "if" => rename(function, "iif"),
            "concat" => rename(function, "trino_concat"),
            "mod" => rename(function, "trino_modulus"),
            "arbitrary" | "any_value" => rename(function, "min"),
            "now" | "current_timestamp" => *expr = string(&self.constants.now),
            "current_date" => *expr = string(&self.constants.today),
            "version" => *expr = string(&self.constants.version),
            "random" | "rand" if args.is_empty() => {
                *expr = sqlite_expr("(abs(random()) / 9223372036854775808.0)")?;
            }
            "date" if args.len() == 1 => *expr = call("trino_cast", vec![args[0].clone(), string("date")]),
            // Only inside UNNEST (rewritten there); anywhere else SQLite refuses it.
            "sequence" => {}
            _ => {
                let message = format!("Function '{name}' not registered");
                return Err(match location {
                    Some(location) => QueryError::at(FUNCTION_NOT_FOUND, location, message),
                    None => QueryError::new(FUNCTION_NOT_FOUND, message),
                });
            }
        }
        Ok(())
    }

    fn expression(&mut self, expr: &mut Expr) -> Result<(), QueryError> {
        match expr {
            // `catalog.schema.table.column` and `schema.table.column`: tables
            // are aliased by their name, so `table.column` names the same.
            Expr::CompoundIdentifier(parts) if parts.len() > 2 => {
                let keep = parts.split_off(parts.len() - 2);
                *parts = keep;
            }
            Expr::Function(_) => self.function(expr)?,
            Expr::Cast { kind, expr: inner, data_type, .. } => {
                let ty = parse_type(&data_type.to_string())?;
                let name = if matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast) {
                    "trino_try_cast"
                } else {
                    "trino_cast"
                };
                *expr = call(name, vec![(**inner).clone(), string(&ty.display_name())]);
            }
            Expr::TypedString { data_type, value, .. } => {
                let text = match &value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                let ty = super::typing::typed_literal(&data_type.to_string(), &text)?;
                *expr = call("trino_cast", vec![string(&text), string(&ty.display_name())]);
            }
            Expr::BinaryOp { left, op: op @ (ast::BinaryOperator::Divide | ast::BinaryOperator::Modulo), right } => {
                let name = if matches!(op, ast::BinaryOperator::Divide) { "trino_divide" } else { "trino_modulus" };
                *expr = call(name, vec![(**left).clone(), (**right).clone()]);
            }
            Expr::Substring { expr: inner, substring_from, substring_for, .. } => {
                let mut args =
                    vec![(**inner).clone(), substring_from.as_deref().cloned().unwrap_or_else(sqlite_expr_or_one)];
                if let Some(length) = substring_for {
                    args.push((**length).clone());
                }
                *expr = call("substr", args);
            }
            Expr::Value(value) if matches!(value.value, ast::Value::Placeholder(_)) => {
                return Err(QueryError::new(
                    INVALID_PARAMETER_USAGE,
                    "Incorrect number of parameters: expected 1 but found 0",
                ));
            }
            Expr::Value(value)
                if !matches!(
                    value.value,
                    ast::Value::Number(..)
                        | ast::Value::SingleQuotedString(_)
                        | ast::Value::Boolean(_)
                        | ast::Value::Null
                ) =>
            {
                return Err(not_supported(None, format!("literal {value}")));
            }
            Expr::Array(_)
            | Expr::Map(_)
            | Expr::Interval(_)
            | Expr::CompoundFieldAccess { .. }
            | Expr::Struct { .. }
            | Expr::Lambda(_)
            | Expr::AtTimeZone { .. }
            | Expr::Extract { .. }
            | Expr::Position { .. }
            | Expr::Overlay { .. }
            | Expr::Collate { .. }
            | Expr::Trim { .. }
            | Expr::Ceil { .. }
            | Expr::Floor { .. }
            | Expr::Convert { .. }
            | Expr::Tuple(_)
            | Expr::Named { .. }
            | Expr::Dictionary(_)
            | Expr::MatchAgainst { .. }
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::OuterJoin(_)
            | Expr::Prior(_)
            | Expr::GroupingSets(_)
            | Expr::Cube(_)
            | Expr::Rollup(_)
            | Expr::RLike { .. }
            | Expr::SimilarTo { .. }
            | Expr::AnyOp { .. }
            | Expr::AllOp { .. } => return Err(not_supported(None, format!("expression {expr}"))),
            _ => {}
        }
        Ok(())
    }
}

fn sqlite_expr_or_one() -> Expr {
    Expr::value(ast::Value::Number("1".into(), false))
}

fn sqlite_expr(text: &str) -> Result<Expr, QueryError> {
    match Parser::new(&GenericDialect {}).try_with_sql(text).and_then(|mut p| p.parse_expr()) {
        Ok(expr) => Ok(expr),
        Err(error) => Err(QueryError::new(GENERIC_INTERNAL_ERROR, format!("emulator translation failed: {error}"))),
    }
}

pub fn function_exprs(function: &ast::Function) -> Vec<Expr> {
    match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl VisitorMut for Translator<'_> {
    type Break = QueryError;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<QueryError> {
        let result = match factor {
            TableFactor::Table { .. } => self.table(factor),
            TableFactor::Derived { .. } => self.derived(factor),
            TableFactor::UNNEST { .. } => self.unnest(factor),
            TableFactor::NestedJoin { .. } => Ok(()),
            other => Err(not_supported(None, format!("relation {other}"))),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<QueryError> {
        match self.expression(expr) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<QueryError> {
        name_columns(&mut query.body);
        if let Some(order_by) = &mut query.order_by {
            if let ast::OrderByKind::Expressions(items) = &mut order_by.kind {
                nulls_last(items);
            }
        }
        // FETCH FIRST n ROWS ONLY → LIMIT n; OFFSET n ROWS → OFFSET n (SQLite needs a LIMIT with it).
        let fetched = query.fetch.take().map(|f| f.quantity.unwrap_or_else(sqlite_expr_or_one));
        let (mut limit, mut offset) = match query.limit_clause.take() {
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => (limit, offset),
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit), Some(ast::Offset { value: offset, rows: ast::OffsetRows::None }))
            }
            None => (None, None),
        };
        if fetched.is_some() {
            limit = fetched;
        }
        if let Some(offset) = &mut offset {
            offset.rows = ast::OffsetRows::None;
            if limit.is_none() {
                limit = Some(Expr::value(ast::Value::Number("-1".into(), false)));
            }
        }
        if limit.is_some() || offset.is_some() {
            query.limit_clause = Some(ast::LimitClause::LimitOffset { limit, offset, limit_by: Vec::new() });
        }
        ControlFlow::Continue(())
    }
}
