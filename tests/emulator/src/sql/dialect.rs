//! Trino's SQL dialect for `sqlparser`, and sqlparser's errors turned into
//! Trino's `SYNTAX_ERROR` shape: `line L:C: mismatched input 'X'. Expecting: …`.

use super::error::{Location, QueryError, SYNTAX_ERROR};
use sqlparser::dialect::Dialect;
use sqlparser::parser::ParserError;

/// What Trino's grammar (`SqlBase.g4`) accepts where sqlparser's dialects
/// differ: no empty projections, no trailing commas, no `LIMIT a, b`, no
/// nested comments, no backslash escapes, `"` only for identifiers.
#[derive(Debug, Default)]
pub struct TrinoDialect;

impl Dialect for TrinoDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '@' || ch == ':'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_start_transaction_modifier(&self) -> bool {
        true
    }

    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_comment_on(&self) -> bool {
        true
    }

    fn supports_execute_immediate(&self) -> bool {
        true
    }

    fn supports_create_table_select(&self) -> bool {
        true
    }
}

/// sqlparser's message (`Expected: an expression, found: FROM at Line: 1,
/// Column: 8`) in Trino's words. `end` is where the text ends, for errors at
/// EOF; `sql` locates an error sqlparser reports without a position.
pub fn syntax_error(error: ParserError, end: Location, sql: &str) -> QueryError {
    let text = match error {
        ParserError::TokenizerError(text) | ParserError::ParserError(text) => text,
        ParserError::RecursionLimitExceeded => {
            return QueryError::new(SYNTAX_ERROR, "Statement is too large (stack overflow during analysis)")
        }
    };
    let (body, location) = match text.rsplit_once(" at Line: ") {
        Some((body, position)) => {
            let mut numbers = position.split(", Column: ").map(|n| n.trim().parse::<u32>().unwrap_or(1));
            let line = numbers.next().unwrap_or(1);
            let column = numbers.next().unwrap_or(1);
            let reported = Location { line, column };
            // sqlparser sometimes reports the position after the token it names.
            let found = body.rsplit_once(", found: ").map(|(_, f)| f.to_string()).unwrap_or_default();
            (body.to_string(), locate(sql, &found, reported).unwrap_or(reported))
        }
        None => {
            let found = text.rsplit_once(", found: ").map(|(_, f)| f.to_string()).unwrap_or_default();
            (text.clone(), locate(sql, &found, end).unwrap_or(end))
        }
    };
    let message = match body.split_once(", found: ") {
        Some((expected, found)) => {
            let found = if found == "EOF" { "<EOF>".to_string() } else { found.to_string() };
            let expected = expected.trim_start_matches("Expected: ").trim_start_matches("Expected ");
            format!("mismatched input '{found}'. Expecting: {expected}")
        }
        None => body,
    };
    QueryError::at(SYNTAX_ERROR, location, message)
}

/// Where the last token spelled `found` at or before `limit` is.
fn locate(sql: &str, found: &str, limit: Location) -> Option<Location> {
    if found.is_empty() || found == "EOF" || sql.is_empty() {
        return None;
    }
    let tokens = sqlparser::tokenizer::Tokenizer::new(&TrinoDialect, sql).tokenize_with_location().ok()?;
    let token = tokens.iter().rev().find(|t| {
        let at = (t.span.start.line as u32, t.span.start.column as u32);
        t.token.to_string() == found && at <= (limit.line, limit.column)
    })?;
    Some(Location { line: token.span.start.line as u32, column: token.span.start.column as u32 })
}

/// The position just past the last character of `sql` (Trino reports `<EOF>` there).
pub fn end_of(sql: &str) -> Location {
    let line = sql.matches('\n').count() as u32 + 1;
    let column = sql.rsplit('\n').next().map_or(0, |last| last.chars().count()) as u32 + 1;
    Location { line, column }
}

/// The byte offset of a 1-based (line, column) position, columns in characters.
pub fn offset_of(sql: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (index, text) in sql.split_inclusive('\n').enumerate() {
        if index as u64 + 1 == line {
            return offset
                + text.char_indices().nth(column.saturating_sub(1) as usize).map_or(text.len(), |(at, _)| at);
        }
        offset += text.len();
    }
    sql.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_trino() {
        let error = syntax_error(
            ParserError::ParserError("Expected: an expression, found: FROM at Line: 1, Column: 8".into()),
            end_of("SELECT FROM"),
            "SELECT FROM",
        );
        assert_eq!(error.message, "line 1:8: mismatched input 'FROM'. Expecting: an expression");
        assert_eq!(error.location, Some(Location { line: 1, column: 8 }));
        let error =
            syntax_error(ParserError::ParserError("Expected: ), found: EOF".into()), end_of("SELECT (1"), "SELECT (1");
        assert_eq!(error.message, "line 1:10: mismatched input '<EOF>'. Expecting: )");
    }

    #[test]
    fn offsets_count_characters() {
        assert_eq!(offset_of("SELECT 'é' FROM t", 1, 12), 12);
        assert_eq!(offset_of("a\nbc", 2, 2), 3);
    }
}
