//! Trino's analyzer checks SQLite does not make: in an aggregating SELECT,
//! every projected column must be aggregated or grouped (SQLite would
//! answer with the value of an arbitrary row instead of failing).

use super::error::{QueryError, EXPRESSION_NOT_AGGREGATE};
use super::statement::location_of;
use sqlparser::ast::{self, Expr, GroupByExpr, Query, SelectItem, SetExpr, Spanned, Visit, Visitor};
use std::ops::ControlFlow;

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "arbitrary",
    "any_value",
    "count_if",
    "bool_and",
    "bool_or",
    "every",
    "array_agg",
];

fn is_aggregate(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f)
        if f.over.is_none() && AGGREGATES.contains(&f.name.to_string().to_ascii_lowercase().as_str()))
}

fn has_window(expr: &Expr) -> bool {
    let mut found = false;
    let _ = ast::visit_expressions(expr, |e| {
        if matches!(e, Expr::Function(f) if f.over.is_some()) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn contains_aggregate(expr: &Expr) -> bool {
    let mut found = false;
    let _ = ast::visit_expressions(expr, |e| {
        if is_aggregate(e) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// The first column reference of `expr` that is neither grouped nor inside an aggregate.
fn ungrouped(expr: &Expr, groups: &[String]) -> Option<()> {
    if groups.contains(&expr.to_string()) || is_aggregate(expr) {
        return None;
    }
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some(()),
        Expr::Subquery(_)
        | Expr::Exists { .. }
        | Expr::InSubquery { .. }
        | Expr::Value(_)
        | Expr::TypedString { .. } => None,
        Expr::Nested(e)
        | Expr::UnaryOp { expr: e, .. }
        | Expr::Cast { expr: e, .. }
        | Expr::IsNull(e)
        | Expr::IsNotNull(e) => ungrouped(e, groups),
        Expr::BinaryOp { left, right, .. } => ungrouped(left, groups).or_else(|| ungrouped(right, groups)),
        Expr::Function(f) => {
            let args = super::translate::function_exprs(f);
            args.iter().find_map(|a| ungrouped(a, groups))
        }
        Expr::Case { operand, conditions, else_result, .. } => operand
            .iter()
            .map(|e| e.as_ref())
            .chain(conditions.iter().flat_map(|c| [&c.condition, &c.result]))
            .chain(else_result.iter().map(|e| e.as_ref()))
            .find_map(|e| ungrouped(e, groups)),
        _ => None,
    }
}

fn check_select(select: &ast::Select) -> Result<(), QueryError> {
    let items: Vec<&Expr> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    let group_exprs: &[Expr] = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs,
        GroupByExpr::All(_) => return Ok(()),
    };
    let aggregating = !group_exprs.is_empty() || select.having.is_some() || items.iter().any(|e| contains_aggregate(e));
    if !aggregating {
        return Ok(());
    }
    let mut groups: Vec<String> = Vec::new();
    for expr in group_exprs {
        match expr {
            Expr::Value(v) => {
                if let ast::Value::Number(n, _) = &v.value {
                    if let Some(item) = n.parse::<usize>().ok().and_then(|i| items.get(i.wrapping_sub(1))) {
                        groups.push(item.to_string());
                    }
                }
            }
            other => groups.push(other.to_string()),
        }
    }
    for item in items {
        if has_window(item) {
            continue;
        }
        if ungrouped(item, &groups).is_some() {
            return Err(QueryError::at(
                EXPRESSION_NOT_AGGREGATE,
                location_of(item.span().start),
                format!("'{item}' must be an aggregate expression or appear in GROUP BY clause"),
            ));
        }
    }
    Ok(())
}

struct Checker;

impl Visitor for Checker {
    type Break = QueryError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<QueryError> {
        fn bodies(body: &SetExpr, out: &mut Vec<ast::Select>) {
            match body {
                SetExpr::Select(select) => out.push((**select).clone()),
                SetExpr::SetOperation { left, right, .. } => {
                    bodies(left, out);
                    bodies(right, out);
                }
                _ => {}
            }
        }
        let mut selects = Vec::new();
        bodies(&query.body, &mut selects);
        for select in &selects {
            if let Err(error) = check_select(select) {
                return ControlFlow::Break(error);
            }
        }
        ControlFlow::Continue(())
    }
}

pub fn check(query: &Query) -> Result<(), QueryError> {
    match query.visit(&mut Checker) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}
