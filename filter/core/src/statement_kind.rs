//! A light classification of a statement's text for routing rules: read-only
//! (`SELECT`, `WITH … SELECT`, `VALUES`, `TABLE`, `SHOW`, `DESCRIBE`,
//! `EXPLAIN` without `ANALYZE`) or anything else, counted as a write. Only
//! the first keyword (after blanks, comments and parentheses) is looked at:
//! no parsing, and a statement it cannot place is a write, the safe side
//! for rules that keep writes off a read-only pool.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    ReadOnly,
    Write,
}

/// The statement with leading blanks, `--` and `/* */` comments and opening
/// parentheses skipped.
fn skip_noise(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(rest) = trimmed.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = trimmed.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return trimmed;
        }
    }
}

fn first_word(text: &str) -> (String, &str) {
    let text = skip_noise(text);
    let end = text.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    (word.to_ascii_uppercase(), rest)
}

pub fn classify(statement: &str) -> StatementKind {
    let (word, rest) = first_word(statement);
    match word.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" | "SHOW" | "DESCRIBE" => StatementKind::ReadOnly,
        // EXPLAIN ANALYZE runs the statement: its own kind decides.
        "EXPLAIN" => {
            let (next, after) = first_word(rest);
            match next.as_str() {
                "ANALYZE" => {
                    let (verbose, after_verbose) = first_word(after);
                    classify(if verbose == "VERBOSE" { after_verbose } else { after })
                }
                _ => StatementKind::ReadOnly,
            }
        }
        _ => StatementKind::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_by_their_first_keyword() {
        let cases = [
            ("SELECT 1", StatementKind::ReadOnly),
            ("  select * from t", StatementKind::ReadOnly),
            ("/* dbt: {\"node\": 1} */ with x as (select 1) select * from x", StatementKind::ReadOnly),
            ("-- comment\n(SELECT 1) UNION (SELECT 2)", StatementKind::ReadOnly),
            ("VALUES 1, 2", StatementKind::ReadOnly),
            ("TABLE t", StatementKind::ReadOnly),
            ("SHOW TABLES", StatementKind::ReadOnly),
            ("DESCRIBE t", StatementKind::ReadOnly),
            ("EXPLAIN SELECT 1", StatementKind::ReadOnly),
            ("EXPLAIN (TYPE DISTRIBUTED) SELECT 1", StatementKind::ReadOnly),
            ("EXPLAIN ANALYZE SELECT 1", StatementKind::ReadOnly),
            ("EXPLAIN ANALYZE VERBOSE INSERT INTO t VALUES 1", StatementKind::Write),
            ("EXPLAIN ANALYZE INSERT INTO t VALUES 1", StatementKind::Write),
            ("INSERT INTO t SELECT 1", StatementKind::Write),
            ("CREATE TABLE t AS SELECT 1", StatementKind::Write),
            ("delete from t", StatementKind::Write),
            ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", StatementKind::Write),
            ("CALL system.sync_partition_metadata()", StatementKind::Write),
            ("", StatementKind::Write),
            ("/* unterminated", StatementKind::Write),
            ("-- only a comment", StatementKind::Write),
            ("ÉSELECT", StatementKind::Write),
        ];
        for (statement, kind) in cases {
            assert_eq!(classify(statement), kind, "{statement:?}");
        }
    }
}
