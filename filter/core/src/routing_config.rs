//! The `routing` section of the plugin configuration: routing groups, the
//! rules that pick one for a new statement, the `X-Trino-Routing-Group`
//! header, and how much of a statement the rules may read.
//!
//! ```json
//! "routing": {
//!   "groups": [
//!     {"name": "adhoc", "clusters": ["coordinator-a", "coordinator-b"], "placement": "least_loaded"},
//!     {"name": "etl", "clusters": ["coordinator-c"], "when_unavailable": "fail"}
//!   ],
//!   "default_group": "adhoc",
//!   "rules": [{"name": "dbt", "when": {"source": {"prefix": "dbt"}}, "group": "etl"}],
//!   "group_header": {"users": ["admin"]},
//!   "statement": {"max_bytes": 65536, "over_limit": "first_bytes"}
//! }
//! ```
//!
//! Without it, every cluster is in one group, placed by weighted round robin.

use crate::config::{error, unique_name, Cluster, ConfigError};
use crate::rules::{parse_rules, Rule};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;

/// Each group has a shared-data counter (created at configure time, never
/// freed): a bound keeps reconfigurations from adding keys without end.
pub const MAX_GROUPS: usize = 64;
pub const DEFAULT_STATEMENT_BYTES: usize = 64 << 10;
/// Envoy's default request buffer limit is 1 MiB, and one more chunk of body
/// may arrive before the filter sees the cap: half of it keeps a held
/// statement clear of Envoy's 413.
pub const MAX_STATEMENT_BYTES: usize = 512 << 10;
/// The header clients (and trino-gateway's users) name a routing group with.
pub const GROUP_HEADER: &str = "x-trino-routing-group";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    groups: Vec<RawGroup>,
    default_group: String,
    #[serde(default)]
    rules: Option<Value>,
    #[serde(default)]
    group_header: Option<RawGroupHeader>,
    #[serde(default)]
    statement: Option<RawStatementLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    clusters: Vec<String>,
    #[serde(default)]
    placement: Option<Placement>,
    #[serde(default)]
    when_unavailable: Option<WhenUnavailable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroupHeader {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatementLimit {
    #[serde(default)]
    max_bytes: Option<usize>,
    #[serde(default)]
    over_limit: Option<OverLimit>,
}

/// How a group spreads new statements over its clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Smooth weighted round robin (the clusters' `weight`), one sequence for all workers.
    RoundRobin,
    /// Fewest running + queued queries (polled from `/ui/api/stats`) plus the
    /// statements this Envoy placed there since that poll, per unit of weight.
    LeastLoaded,
    /// The same user always to the same cluster while it can take queries
    /// (weighted rendezvous hashing: when one goes, only its users move).
    UserHash,
}

/// What a group does when none of its clusters can take a new statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnavailable {
    /// Try the default group's clusters.
    DefaultGroup,
    /// Fail the statement (strict isolation).
    Fail,
}

/// What the rules see of a statement longer than `statement.max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Its first `max_bytes` bytes.
    FirstBytes,
    /// Nothing: conditions on the statement do not hold (so a `not` of one does).
    NoStatement,
    /// The statement fails with a Trino error (QUERY_TEXT_TOO_LARGE).
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Configured cluster indices, in the group's order.
    pub clusters: Vec<usize>,
    pub placement: Placement,
    pub when_unavailable: WhenUnavailable,
}

/// Who may name a group with `X-Trino-Routing-Group` (both lists empty: anyone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHeader {
    pub users: Vec<String>,
    pub sources: Vec<String>,
}

impl GroupHeader {
    pub fn allows(&self, user: Option<&str>, source: Option<&str>) -> bool {
        let listed = |list: &[String], value: Option<&str>| value.is_some_and(|v| list.iter().any(|l| l == v));
        (self.users.is_empty() && self.sources.is_empty()) || listed(&self.users, user) || listed(&self.sources, source)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementLimit {
    pub max_bytes: usize,
    pub over_limit: OverLimit,
}

/// The rules, compared by the JSON they were read from (regexes have no equality).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub list: Vec<Rule>,
    source: Value,
}

impl PartialEq for Rules {
    fn eq(&self, other: &Rules) -> bool {
        self.source == other.source
    }
}

impl Eq for Rules {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    pub groups: Vec<Group>,
    pub default_group: usize,
    pub rules: Rules,
    /// None: the header is ignored (passed on, never read).
    pub group_header: Option<GroupHeader>,
    pub statement: StatementLimit,
    /// Some rule may need the statement text: new statements may be held
    /// until enough of their body has been read.
    pub reads_statement: bool,
    /// Configured (a `routing` section), not the implicit group.
    pub configured: bool,
}

const DEFAULT_STATEMENT: StatementLimit =
    StatementLimit { max_bytes: DEFAULT_STATEMENT_BYTES, over_limit: OverLimit::FirstBytes };

impl Routing {
    /// No `routing` section: one group of every cluster, weighted round robin.
    pub fn implicit(clusters: &[Cluster]) -> Routing {
        Routing {
            groups: vec![Group {
                name: "default".into(),
                clusters: (0..clusters.len()).collect(),
                placement: Placement::RoundRobin,
                when_unavailable: WhenUnavailable::Fail,
            }],
            default_group: 0,
            rules: Rules::default(),
            group_header: None,
            statement: DEFAULT_STATEMENT,
            reads_statement: false,
            configured: false,
        }
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// `polls_load`: `health.ui_user` is set, so running and queued counts are known.
    pub(crate) fn validate(raw: RawRouting, clusters: &[Cluster], polls_load: bool) -> Result<Routing, ConfigError> {
        if raw.groups.is_empty() {
            return Err(error("routing.groups", "must list at least one routing group"));
        }
        if raw.groups.len() > MAX_GROUPS {
            return Err(error("routing.groups", format!("at most {MAX_GROUPS} routing groups are supported")));
        }
        let mut names = HashSet::new();
        let mut groups = Vec::with_capacity(raw.groups.len());
        for (i, group) in raw.groups.into_iter().enumerate() {
            let path = format!("routing.groups[{i}]");
            unique_name(&format!("{path}.name"), &group.name, &mut names, "group name", "routing group")?;
            if group.clusters.is_empty() {
                return Err(error(format!("{path}.clusters"), "must list at least one cluster"));
            }
            let mut members = Vec::with_capacity(group.clusters.len());
            for (j, name) in group.clusters.iter().enumerate() {
                let Some(index) = clusters.iter().position(|c| &c.name == name) else {
                    return Err(error(format!("{path}.clusters[{j}]"), format!("{name:?} is not in clusters")));
                };
                if members.contains(&index) {
                    return Err(error(format!("{path}.clusters[{j}]"), format!("{name:?} is listed twice")));
                }
                members.push(index);
            }
            let placement = group.placement.unwrap_or(Placement::RoundRobin);
            if placement == Placement::LeastLoaded && !polls_load {
                return Err(error(
                    format!("{path}.placement"),
                    "least_loaded needs health.ui_user (the load is read from each coordinator's /ui/api/stats)",
                ));
            }
            groups.push(Group {
                name: group.name,
                clusters: members,
                placement,
                when_unavailable: group.when_unavailable.unwrap_or(WhenUnavailable::DefaultGroup),
            });
        }
        let default_group = groups.iter().position(|g| g.name == raw.default_group).ok_or_else(|| {
            error("routing.default_group", format!("{:?} is not one of routing.groups", raw.default_group))
        })?;
        let group_names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        let rules = match raw.rules {
            None => Rules::default(),
            Some(source) => {
                let list =
                    parse_rules(&source, &group_names).map_err(|e| error(format!("routing.{}", e.field), e.message))?;
                Rules { list, source }
            }
        };
        let group_header = match raw.group_header {
            None => None,
            Some(h) => {
                for (field, list) in [("users", &h.users), ("sources", &h.sources)] {
                    if let Some(j) = list.iter().position(|v| v.is_empty()) {
                        return Err(error(format!("routing.group_header.{field}[{j}]"), "must not be empty"));
                    }
                }
                Some(GroupHeader { users: h.users, sources: h.sources })
            }
        };
        let statement = match raw.statement {
            None => DEFAULT_STATEMENT,
            Some(s) => {
                let max_bytes = s.max_bytes.unwrap_or(DEFAULT_STATEMENT_BYTES);
                if !(1..=MAX_STATEMENT_BYTES).contains(&max_bytes) {
                    return Err(error(
                        "routing.statement.max_bytes",
                        format!("{max_bytes} is out of range 1..={MAX_STATEMENT_BYTES} (half Envoy's default request buffer limit)"),
                    ));
                }
                StatementLimit { max_bytes, over_limit: s.over_limit.unwrap_or(OverLimit::FirstBytes) }
            }
        };
        let reads_statement = rules.list.iter().any(|r| r.when.needs_statement());
        Ok(Routing { groups, default_group, rules, group_header, statement, reads_statement, configured: true })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(routing: &str, extra: &str) -> Result<Config, crate::config::ConfigError> {
        let json = format!(
            r#"{{"clusters": [{{"name": "a"}}, {{"name": "b", "max_running": 5}}], "health": {{"ui_user": "gw"}}{extra},
                "routing": {routing}}}"#
        );
        Config::parse(json.as_bytes())
    }

    #[test]
    fn a_routing_section_is_read_with_its_defaults() {
        let config = parse(
            r#"{"groups": [{"name": "g", "clusters": ["b", "a"], "placement": "user_hash"}, {"name": "h", "clusters": ["a"]}],
                "default_group": "h", "rules": [{"name": "r", "when": {"statement": {"regex": "x"}}, "group": "g"}],
                "group_header": {}}"#,
            "",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let routing = &config.routing;
        assert_eq!((routing.default_group, routing.groups[0].clusters.as_slice()), (1, &[1, 0][..]));
        assert_eq!(routing.groups[1].placement, super::Placement::RoundRobin);
        assert_eq!(routing.groups[1].when_unavailable, super::WhenUnavailable::DefaultGroup);
        assert!(routing.reads_statement && routing.configured);
        assert_eq!(routing.statement.max_bytes, super::DEFAULT_STATEMENT_BYTES);
        assert!(routing.group_header.as_ref().is_some_and(|h| h.allows(None, None)), "no lists: anyone");
        assert!(config.tracks_placements(), "b has a limit");
    }

    #[test]
    fn errors_name_the_field() {
        let g = r#""groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g""#;
        let cases: &[(&str, &str, &str, &str)] = &[
            (r#"{"groups": [], "default_group": "g"}"#, "", "routing.groups", "at least one"),
            (
                r#"{"groups": [{"name": "g", "clusters": ["z"]}], "default_group": "g"}"#,
                "",
                "routing.groups[0].clusters[0]",
                "not in clusters",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a", "a"]}], "default_group": "g"}"#,
                "",
                "routing.groups[0].clusters[1]",
                "twice",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": []}], "default_group": "g"}"#,
                "",
                "routing.groups[0].clusters",
                "at least one",
            ),
            (
                r#"{"groups": [{"name": "g g", "clusters": ["a"]}], "default_group": "g"}"#,
                "",
                "routing.groups[0].name",
                "valid group name",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}, {"name": "g", "clusters": ["b"]}], "default_group": "g"}"#,
                "",
                "routing.groups[1].name",
                "duplicate",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "x"}"#,
                "",
                "routing.default_group",
                "not one of",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"], "placement": "random"}], "default_group": "g"}"#,
                "",
                "routing.groups[0].placement",
                "unknown variant",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"], "when_unavailable": "queue"}], "default_group": "g"}"#,
                "",
                "routing.groups[0].when_unavailable",
                "unknown variant",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "rule": []}"#,
                "",
                "routing.rule",
                "unknown field `rule`",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "rules": [{"name": "r", "when": {"user": {"regex": "["}}, "group": "g"}]}"#,
                "",
                "routing.rules[0].when.user.regex",
                "invalid regex",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "rules": [{"name": "r", "when": {"user": {"exact": "x"}}, "group": "h"}]}"#,
                "",
                "routing.rules[0].group",
                "no routing group",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "group_header": {"users": [""]}}"#,
                "",
                "routing.group_header.users[0]",
                "empty",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "statement": {"max_bytes": 2000000}}"#,
                "",
                "routing.statement.max_bytes",
                "out of range",
            ),
            (
                r#"{"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g", "statement": {"over_limit": "drop"}}"#,
                "",
                "routing.statement.over_limit",
                "unknown variant",
            ),
        ];
        for (routing, extra, field, message) in cases {
            let e = parse(routing, extra).expect_err(routing);
            assert_eq!(e.field, *field, "{routing}: {e}");
            assert!(e.message.contains(message), "{routing}: {}", e.message);
        }
        assert!(parse(&format!("{{{g}}}"), "").is_ok());
        // Load-aware settings need the load: health.ui_user.
        let no_login = |json: &str| Config::parse(json.as_bytes()).expect_err(json);
        let e = no_login(r#"{"clusters": [{"name": "a", "max_queued": 3}]}"#);
        assert_eq!((e.field.as_str(), e.message.contains("health.ui_user")), ("clusters[0].max_queued", true));
        let e = no_login(r#"{"clusters": [{"name": "a", "max_running": 0}], "health": {"ui_user": "gw"}}"#);
        assert_eq!(e.field, "clusters[0].max_running");
        let e = no_login(
            r#"{"clusters": [{"name": "a"}], "routing": {"groups": [{"name": "g", "clusters": ["a"], "placement": "least_loaded"}], "default_group": "g"}}"#,
        );
        assert_eq!((e.field.as_str(), e.message.contains("health.ui_user")), ("routing.groups[0].placement", true));
    }
}
