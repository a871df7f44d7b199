//! Routing rules: which routing group a new statement goes to.
//!
//! Rules are tried in the order they are configured and the **first** that
//! matches decides (trino-gateway fires every matching rule and keeps the
//! last, which surprises its users). A rule is a name, a condition and a
//! group. Conditions, in JSON, are an object with exactly one key:
//!
//! | key | value | true when |
//! | --- | --- | --- |
//! | `header` | `{"name": h, "exact" \| "prefix" \| "regex": v}` | request header `h` matches |
//! | `user`, `source`, `catalog`, `schema` | `{"exact" \| "prefix" \| "regex": v}` | `X-Trino-User`, `-Source`, `-Catalog`, `-Schema` matches |
//! | `client_tags` | `{"any_of": [..]}` or `{"all_of": [..]}` | `X-Trino-Client-Tags` (comma-separated) has one / all of them |
//! | `statement` | `{"regex": v}` | the statement text matches (the body is read) |
//! | `statement_kind` | `"read_only"` or `"write"` | see `statement_kind` (the body is read) |
//! | `table` | `{"exact" \| "prefix" \| "regex": v}` | a table the statement names, as `catalog.schema.table`, matches (see `table_names`; the body is read) |
//! | `all`, `any` | `[condition, ..]` | every one / at least one |
//! | `not` | condition | it does not hold |
//!
//! A header that is absent matches nothing (`not` of it does). Regexes use
//! the `regex` crate (linear time on any input), compiled when the
//! configuration is read; `exact` and `prefix` compare bytes, case-sensitively
//! (header names are case-insensitive).
//!
//! The statement is read only when it can change the outcome: rules are
//! evaluated on the headers first, and a condition on the statement leaves
//! its rule undecided (`None`) only if the rest of the rule cannot decide it.
//! The first undecided rule before any match asks for the body.

use crate::statement_kind::{classify, StatementKind};
use crate::table_names::table_names;
use regex::Regex;
use serde_json::{Map, Value};
use std::cell::OnceCell;

/// A rule that could not be read: the JSON path of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn error(field: &str, message: impl Into<String>) -> RuleError {
    RuleError { field: field.to_string(), message: message.into() }
}

#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(exact) => value == exact,
            Matcher::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Matcher::Regex(regex) => regex.is_match(value),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    /// A request header (name in lower case) and what its value must be.
    Header(String, Matcher),
    ClientTags {
        tags: Vec<String>,
        all: bool,
    },
    Statement(Regex),
    StatementKind(StatementKind),
    Table(Matcher),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Condition,
    /// The routing group it sends to (index in the configured groups).
    pub group: usize,
}

/// The statement text, as far as the rules know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement<'a> {
    /// Not read (yet): conditions on it are undecided.
    NotRead,
    /// Not available (over the size cap with `over_limit: "no_statement"`):
    /// conditions on it do not hold.
    Unavailable,
    Text(&'a str),
}

/// What rules look at: the request headers (names in lower case) and, when
/// some rule needs it, the statement text.
pub struct Facts<'a> {
    headers: &'a [(String, String)],
    statement: Statement<'a>,
    /// The statement's tables, found once for every `table` condition.
    tables: OnceCell<Vec<String>>,
}

impl<'a> Facts<'a> {
    pub fn new(headers: &'a [(String, String)], statement: Statement<'a>) -> Facts<'a> {
        Facts { headers, statement, tables: OnceCell::new() }
    }

    /// A request header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Some(whether `test` holds for the statement), None if not read.
    fn on_statement(&self, test: impl FnOnce(&str) -> bool) -> Option<bool> {
        match self.statement {
            Statement::NotRead => None,
            Statement::Unavailable => Some(false),
            Statement::Text(text) => Some(test(text)),
        }
    }

    fn tables(&self, text: &str) -> &[String] {
        self.tables.get_or_init(|| table_names(text, self.header("x-trino-catalog"), self.header("x-trino-schema")))
    }
}

impl Condition {
    /// Whether it holds; None when that depends on a statement not read.
    pub fn eval(&self, facts: &Facts<'_>) -> Option<bool> {
        match self {
            Condition::Header(name, matcher) => Some(facts.header(name).is_some_and(|v| matcher.matches(v))),
            Condition::ClientTags { tags, all } => {
                let sent: Vec<&str> = facts
                    .header("x-trino-client-tags")
                    .map(|v| v.split(',').map(str::trim).filter(|t| !t.is_empty()).collect())
                    .unwrap_or_default();
                let has = |tag: &String| sent.contains(&tag.as_str());
                Some(if *all { tags.iter().all(has) } else { tags.iter().any(has) })
            }
            Condition::Statement(regex) => facts.on_statement(|s| regex.is_match(s)),
            Condition::StatementKind(kind) => facts.on_statement(|s| classify(s) == *kind),
            Condition::Table(matcher) => facts.on_statement(|s| facts.tables(s).iter().any(|t| matcher.matches(t))),
            Condition::All(all) => combine(all, facts, false),
            Condition::Any(any) => combine(any, facts, true),
            Condition::Not(inner) => inner.eval(facts).map(|holds| !holds),
        }
    }

    /// Whether deciding it may need the statement text.
    pub fn needs_statement(&self) -> bool {
        match self {
            Condition::Statement(_) | Condition::StatementKind(_) | Condition::Table(_) => true,
            Condition::All(cs) | Condition::Any(cs) => cs.iter().any(Condition::needs_statement),
            Condition::Not(inner) => inner.needs_statement(),
            Condition::Header(..) | Condition::ClientTags { .. } => false,
        }
    }
}

/// `all` (`decisive` false) or `any` (`decisive` true): the decisive value as
/// soon as one condition has it, whatever the undecided ones say; else
/// undecided if one is; else the other value.
fn combine(conditions: &[Condition], facts: &Facts<'_>, decisive: bool) -> Option<bool> {
    let mut undecided = false;
    for condition in conditions {
        match condition.eval(facts) {
            Some(holds) if holds == decisive => return Some(decisive),
            Some(_) => {}
            None => undecided = true,
        }
    }
    (!undecided).then_some(!decisive)
}

/// What the rules say of a request.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'r> {
    Matched(&'r Rule),
    /// No rule matches: the default group.
    NoMatch,
    /// A rule before any match depends on the statement: read it, then ask again.
    NeedsStatement,
}

/// The first rule that matches, in order.
pub fn first_match<'r>(rules: &'r [Rule], facts: &Facts<'_>) -> Outcome<'r> {
    for rule in rules {
        match rule.when.eval(facts) {
            Some(true) => return Outcome::Matched(rule),
            Some(false) => {}
            None => return Outcome::NeedsStatement,
        }
    }
    Outcome::NoMatch
}

/// Reads `rules` (a JSON array); `groups` are the configured routing groups.
pub fn parse_rules(value: &Value, groups: &[&str]) -> Result<Vec<Rule>, RuleError> {
    let Some(items) = value.as_array() else { return Err(error("rules", "must be a list of rules")) };
    if items.len() > MAX_RULES {
        return Err(error("rules", format!("at most {MAX_RULES} rules are supported")));
    }
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("rules[{i}]");
        let object = item.as_object().ok_or_else(|| error(&path, "must be an object"))?;
        only_keys(object, &["name", "when", "group"], &path)?;
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error(&format!("{path}.name"), "must be a non-empty string"))?;
        if rules.iter().any(|r: &Rule| r.name == name) {
            return Err(error(&format!("{path}.name"), format!("duplicate rule {name:?}")));
        }
        let group = object
            .get("group")
            .and_then(Value::as_str)
            .ok_or_else(|| error(&format!("{path}.group"), "must name a routing group"))?;
        let Some(group) = groups.iter().position(|g| *g == group) else {
            return Err(error(&format!("{path}.group"), format!("no routing group {group:?}")));
        };
        let when = object.get("when").ok_or_else(|| error(&format!("{path}.when"), "is missing"))?;
        let when = condition(when, &format!("{path}.when"), 0)?;
        rules.push(Rule { name: name.to_string(), when, group });
    }
    Ok(rules)
}

fn only_keys(object: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), RuleError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(error(&format!("{path}.{unknown}"), format!("unknown field `{unknown}`"))),
        None => Ok(()),
    }
}

/// Rules are tried one after the other for each new statement.
pub const MAX_RULES: usize = 1000;

/// Nesting deeper than this is refused (a configuration, not a program).
const MAX_DEPTH: usize = 16;

fn condition(value: &Value, path: &str, depth: usize) -> Result<Condition, RuleError> {
    if depth > MAX_DEPTH {
        return Err(error(path, format!("conditions nest deeper than {MAX_DEPTH}")));
    }
    let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        error(path, "must be an object with exactly one of header, user, source, catalog, schema, client_tags, statement, statement_kind, table, all, any, not")
    })?;
    let Some((key, inner)) = object.iter().next() else { return Err(error(path, "is empty")) };
    let here = format!("{path}.{key}");
    let trino_header = |name: &str| -> Result<Condition, RuleError> {
        Ok(Condition::Header(name.to_string(), matcher(inner, &here, &[])?))
    };
    match key.as_str() {
        "header" => {
            let name = inner
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
                .ok_or_else(|| error(&format!("{here}.name"), "must be a header name"))?;
            Ok(Condition::Header(name.to_ascii_lowercase(), matcher(inner, &here, &["name"])?))
        }
        "user" => trino_header("x-trino-user"),
        "source" => trino_header("x-trino-source"),
        "catalog" => trino_header("x-trino-catalog"),
        "schema" => trino_header("x-trino-schema"),
        "client_tags" => {
            let object = inner
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| error(&here, "must be {\"any_of\": [..]} or {\"all_of\": [..]}"))?;
            let (which, list) = object.iter().next().ok_or_else(|| error(&here, "is empty"))?;
            let all = match which.as_str() {
                "any_of" => false,
                "all_of" => true,
                other => return Err(error(&format!("{here}.{other}"), format!("unknown field `{other}`"))),
            };
            let tags: Option<Vec<String>> =
                list.as_array().map(|l| l.iter().filter_map(|t| t.as_str().map(str::to_string)).collect());
            match tags {
                Some(tags) if !tags.is_empty() && tags.len() == list.as_array().map_or(0, Vec::len) => {
                    Ok(Condition::ClientTags { tags, all })
                }
                _ => Err(error(&format!("{here}.{which}"), "must be a non-empty list of tags")),
            }
        }
        "statement" => match matcher(inner, &here, &[])? {
            Matcher::Regex(regex) => Ok(Condition::Statement(regex)),
            _ => Err(error(&here, "takes {\"regex\": ..}")),
        },
        // Names are compared in lower case (Trino's identifiers are case-insensitive).
        "table" => Ok(Condition::Table(match matcher(inner, &here, &[])? {
            Matcher::Exact(value) => Matcher::Exact(value.to_lowercase()),
            Matcher::Prefix(value) => Matcher::Prefix(value.to_lowercase()),
            regex => regex,
        })),
        "statement_kind" => match inner.as_str() {
            Some("read_only") => Ok(Condition::StatementKind(StatementKind::ReadOnly)),
            Some("write") => Ok(Condition::StatementKind(StatementKind::Write)),
            _ => Err(error(&here, "must be \"read_only\" or \"write\"")),
        },
        "all" | "any" => {
            let list =
                inner.as_array().filter(|l| !l.is_empty()).ok_or_else(|| error(&here, "must be a non-empty list"))?;
            let conditions = list
                .iter()
                .enumerate()
                .map(|(i, c)| condition(c, &format!("{here}[{i}]"), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "all" { Condition::All(conditions) } else { Condition::Any(conditions) })
        }
        "not" => Ok(Condition::Not(Box::new(condition(inner, &here, depth + 1)?))),
        other => Err(error(&here, format!("unknown condition `{other}`"))),
    }
}

/// `{"exact" | "prefix" | "regex": value}` (besides the `also` keys).
fn matcher(value: &Value, path: &str, also: &[&str]) -> Result<Matcher, RuleError> {
    let object = value.as_object().ok_or_else(|| error(path, "must be an object"))?;
    let mut found = None;
    for (key, inner) in object {
        if also.contains(&key.as_str()) {
            continue;
        }
        let here = format!("{path}.{key}");
        let text = inner.as_str().ok_or_else(|| error(&here, "must be a string"))?;
        let matcher = match key.as_str() {
            "exact" => Matcher::Exact(text.to_string()),
            "prefix" => Matcher::Prefix(text.to_string()),
            "regex" => Matcher::Regex(Regex::new(text).map_err(|e| error(&here, format!("invalid regex: {e}")))?),
            other => return Err(error(&here, format!("unknown field `{other}`"))),
        };
        if found.replace(matcher).is_some() {
            return Err(error(path, "takes exactly one of exact, prefix, regex"));
        }
    }
    found.ok_or_else(|| error(path, "needs one of exact, prefix, regex"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(value: Value) -> Vec<Rule> {
        // Group names only need to exist here.
        parse_rules(&value, &["etl", "adhoc", "bi", "tenant-a"]).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// The rule that matches; a statement that is None is unavailable.
    fn decide(rules: &[Rule], pairs: &[(&str, &str)], statement: Option<&str>) -> Option<String> {
        let headers = headers(pairs);
        let statement = statement.map_or(Statement::Unavailable, Statement::Text);
        match first_match(rules, &Facts::new(&headers, statement)) {
            Outcome::Matched(rule) => Some(rule.name.clone()),
            Outcome::NoMatch => None,
            Outcome::NeedsStatement => Some("(needs the statement)".into()),
        }
    }

    /// What the rules say before the statement is read.
    fn before_reading(rules: &[Rule], pairs: &[(&str, &str)]) -> Option<String> {
        let headers = headers(pairs);
        match first_match(rules, &Facts::new(&headers, Statement::NotRead)) {
            Outcome::Matched(rule) => Some(rule.name.clone()),
            Outcome::NoMatch => None,
            Outcome::NeedsStatement => Some("(needs the statement)".into()),
        }
    }

    #[test]
    fn every_condition_kind() {
        let rules = rules(json!([
            {"name": "tenant", "group": "tenant-a", "when": {"header": {"name": "X-Tenant", "exact": "acme"}}},
            {"name": "dbt", "group": "etl", "when": {"source": {"prefix": "dbt"}}},
            {"name": "svc", "group": "etl", "when": {"user": {"regex": "^svc-[a-z]+$"}}},
            {"name": "tags-all", "group": "bi", "when": {"client_tags": {"all_of": ["bi", "prod"]}}},
            {"name": "tags-any", "group": "adhoc", "when": {"client_tags": {"any_of": ["notebook", "adhoc"]}}},
            {"name": "lake", "group": "etl", "when": {"catalog": {"exact": "lake"}}},
            {"name": "staging", "group": "etl", "when": {"schema": {"prefix": "stg_"}}},
            {"name": "insert", "group": "etl", "when": {"statement": {"regex": "(?i)^\\s*insert\\b"}}},
            {"name": "reads", "group": "adhoc", "when": {"statement_kind": "read_only"}},
            {"name": "sales", "group": "bi", "when": {"table": {"prefix": "Lake.Sales."}}}
        ]));
        // (headers, statement, the rule that matches)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>);
        let table: &[Case<'_>] = &[
            (&[("x-tenant", "acme")], None, Some("tenant")),
            (&[("x-tenant", "acme2")], None, None),
            (&[("x-trino-source", "dbt-trino-1.11")], None, Some("dbt")),
            (&[("x-trino-source", "my-dbt")], None, None),
            (&[("x-trino-user", "svc-etl")], None, Some("svc")),
            (&[("x-trino-user", "svc-etl2")], None, None),
            (&[("x-trino-client-tags", "prod, bi")], None, Some("tags-all")),
            (&[("x-trino-client-tags", "bi")], None, None),
            (&[("x-trino-client-tags", "x,adhoc")], None, Some("tags-any")),
            (&[("x-trino-catalog", "lake")], None, Some("lake")),
            (&[("x-trino-schema", "stg_orders")], None, Some("staging")),
            (&[], Some("  INSERT INTO t VALUES 1"), Some("insert")),
            (&[], Some("select 1"), Some("reads")),
            (&[], Some("delete from t"), None),
            (&[("x-trino-catalog", "lake")], Some("delete from t"), Some("lake")),
            (&[("x-trino-schema", "sales")], Some("delete from lake.sales.t"), Some("sales")),
            (&[("x-trino-catalog", "lake"), ("x-trino-schema", "sales")], Some("delete from t"), Some("lake")),
            (&[("x-trino-schema", "sales")], Some("delete from t"), None),
            (&[], None, None),
        ];
        for (pairs, statement, expected) in table {
            assert_eq!(decide(&rules, pairs, *statement).as_deref(), *expected, "{pairs:?} {statement:?}");
        }
    }

    #[test]
    fn the_first_match_wins_and_combinators_compose() {
        let rules = rules(json!([
            {"name": "bi-reads", "group": "bi", "when": {"all": [
                {"source": {"exact": "superset"}}, {"statement_kind": "read_only"}]}},
            {"name": "not-svc", "group": "adhoc", "when": {"not": {"user": {"prefix": "svc-"}}}},
            {"name": "any", "group": "etl", "when": {"any": [{"user": {"exact": "svc-a"}}, {"user": {"exact": "svc-b"}}]}}
        ]));
        assert_eq!(
            decide(&rules, &[("x-trino-source", "superset"), ("x-trino-user", "svc-a")], Some("SELECT 1")).as_deref(),
            Some("bi-reads")
        );
        // Superset writing: not bi-reads; a svc- user: not not-svc; svc-a: any.
        assert_eq!(
            decide(
                &rules,
                &[("x-trino-source", "superset"), ("x-trino-user", "svc-a")],
                Some("INSERT INTO t VALUES 1")
            )
            .as_deref(),
            Some("any")
        );
        // Absent header: `not` of it holds.
        assert_eq!(decide(&rules, &[], None).as_deref(), Some("not-svc"));
        assert_eq!(decide(&rules, &[("x-trino-user", "svc-c")], None), None);
        assert!(rules[0].when.needs_statement() && !rules[1].when.needs_statement());
    }

    #[test]
    fn the_statement_is_needed_only_when_it_can_change_the_outcome() {
        let rules = rules(json!([
            {"name": "dbt", "group": "etl", "when": {"source": {"prefix": "dbt"}}},
            {"name": "superset-reads", "group": "bi", "when": {"all": [
                {"source": {"exact": "superset"}}, {"statement_kind": "read_only"}]}},
            {"name": "svc-or-insert", "group": "etl", "when": {"any": [
                {"user": {"prefix": "svc-"}}, {"statement": {"regex": "(?i)insert"}}]}},
            {"name": "not-write", "group": "adhoc", "when": {"not": {"statement_kind": "write"}}}
        ]));
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
        let table: &[Case<'_>] = &[
            // A header rule matches before any statement rule.
            (&[("x-trino-source", "dbt-trino")], Some("dbt")),
            // `all` with a false header part is decided; `any` with a true one too.
            (&[("x-trino-source", "cli"), ("x-trino-user", "svc-a")], Some("svc-or-insert")),
            // Undecided: superset's rule needs the statement.
            (&[("x-trino-source", "superset")], Some("(needs the statement)")),
            // `any` of a false header part and a statement part: undecided.
            (&[("x-trino-user", "alice")], Some("(needs the statement)")),
        ];
        for (pairs, expected) in table {
            assert_eq!(before_reading(&rules, pairs).as_deref(), *expected, "{pairs:?}");
        }
        // Once read, or unavailable (over the cap): every rule decides.
        assert_eq!(
            decide(&rules, &[("x-trino-source", "superset")], Some("SELECT 1")).as_deref(),
            Some("superset-reads")
        );
        assert_eq!(
            decide(&rules, &[("x-trino-user", "alice")], Some("insert into t values 1")).as_deref(),
            Some("svc-or-insert")
        );
        assert_eq!(decide(&rules, &[("x-trino-user", "alice")], Some("show tables")).as_deref(), Some("not-write"));
        // Unavailable: statement conditions do not hold (so `not` of one does).
        assert_eq!(decide(&rules, &[("x-trino-user", "alice")], None).as_deref(), Some("not-write"));
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let groups = ["etl"];
        let cases = [
            (json!({}), "rules", "list"),
            (json!([{"group": "etl", "when": {"user": {"exact": "a"}}}]), "rules[0].name", "non-empty"),
            (
                json!([{"name": "a", "group": "nope", "when": {"user": {"exact": "a"}}}]),
                "rules[0].group",
                "no routing group",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"user": {"exact": "a"}}, "then": 1}]),
                "rules[0].then",
                "unknown field",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"user": {"exact": "a"}}}, {"name": "a", "group": "etl", "when": {"user": {"exact": "b"}}}]),
                "rules[1].name",
                "duplicate",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"usr": {"exact": "a"}}}]),
                "rules[0].when.usr",
                "unknown condition",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"user": {"exact": "a"}, "source": {"exact": "b"}}}]),
                "rules[0].when",
                "exactly one",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"user": {"regex": "("}}}]),
                "rules[0].when.user.regex",
                "invalid regex",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"user": {"exact": "a", "prefix": "b"}}}]),
                "rules[0].when.user",
                "exactly one",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"any": [{"user": {"like": "a"}}]}}]),
                "rules[0].when.any[0].user.like",
                "unknown field",
            ),
            (json!([{"name": "a", "group": "etl", "when": {"all": []}}]), "rules[0].when.all", "non-empty"),
            (
                json!([{"name": "a", "group": "etl", "when": {"statement": {"exact": "x"}}}]),
                "rules[0].when.statement",
                "regex",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"statement_kind": "select"}}]),
                "rules[0].when.statement_kind",
                "read_only",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"client_tags": {"none_of": ["x"]}}}]),
                "rules[0].when.client_tags.none_of",
                "unknown field",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"client_tags": {"any_of": [1]}}}]),
                "rules[0].when.client_tags.any_of",
                "list of tags",
            ),
            (
                json!([{"name": "a", "group": "etl", "when": {"header": {"exact": "x"}}}]),
                "rules[0].when.header.name",
                "header name",
            ),
        ];
        for (value, field, message) in cases {
            let e = parse_rules(&value, &groups).expect_err(&value.to_string());
            assert_eq!(e.field, field, "{value}");
            assert!(e.message.contains(message), "{value}: {}", e.message);
        }
        let mut deep = json!({"user": {"exact": "a"}});
        for _ in 0..20 {
            deep = json!({"not": deep});
        }
        let e = parse_rules(&json!([{"name": "a", "group": "etl", "when": deep}]), &groups).unwrap_err();
        assert!(e.message.contains("nest deeper"), "{e:?}");
    }
}
