//! Trino statements, parsed with `sqlparser` and Trino's dialect. The few
//! statements sqlparser does not know in Trino's form (`RESET SESSION`,
//! `PREPARE … FROM`, `SHOW CATALOGS`, `CREATE VIEW … SECURITY DEFINER`,
//! `COMMENT ON VIEW`) are read here with sqlparser's own parser primitives.

use super::dialect::{end_of, offset_of, syntax_error, TrinoDialect};
use super::error::{Location, QueryError};
use sqlparser::ast::{self, Expr, Ident, ObjectName};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

#[derive(Clone, Debug)]
pub enum Statement {
    /// `SELECT`, `VALUES`, `WITH …`, `TABLE t`.
    Query(Box<ast::Query>),
    /// DDL and DML the engine runs (CREATE/DROP/ALTER/INSERT/DELETE/COMMENT…).
    Sql(Box<ast::Statement>),
    /// `CREATE [OR REPLACE] VIEW name [COMMENT '…'] [SECURITY …] AS query`:
    /// `sql` is the query's text, kept as written (Trino stores view text).
    CreateView {
        name: ObjectName,
        or_replace: bool,
        comment: Option<String>,
        sql: String,
        location: Location,
    },
    /// `ALTER VIEW name RENAME TO new_name`.
    RenameView {
        from: ObjectName,
        to: ObjectName,
    },
    /// `COMMENT ON VIEW name IS '…' | NULL`.
    CommentOnView {
        name: ObjectName,
        comment: Option<String>,
    },
    ShowCatalogs {
        like: Option<String>,
    },
    StartTransaction,
    Commit,
    Rollback,
    SetSession {
        name: Vec<Ident>,
        value: Box<Expr>,
    },
    ResetSession {
        name: Vec<Ident>,
        location: Location,
    },
    Use {
        catalog: Option<Ident>,
        schema: Ident,
        location: Location,
    },
    /// `PREPARE name FROM statement`; `sql` is the statement's text.
    Prepare {
        name: Ident,
        statement: Box<Statement>,
        sql: String,
    },
    Execute {
        name: Ident,
        parameters: Vec<Expr>,
    },
    ExecuteImmediate {
        sql: String,
        parameters: Vec<Expr>,
    },
    Deallocate {
        name: Ident,
    },
    /// Trino SQL the emulator knows but does not run (`SET ROLE`, `SET TIME ZONE`…):
    /// it fails with NOT_SUPPORTED when executed, as Trino parses it fine.
    Unsupported {
        kind: String,
    },
}

impl Statement {
    /// The statement's class name in Trino, upper-cased (as PREPARE reports it).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Statement::Query(_) => "QUERY",
            Statement::Sql(_) => "STATEMENT",
            Statement::CreateView { .. } => "CREATEVIEW",
            Statement::CommentOnView { .. } => "COMMENT",
            Statement::RenameView { .. } => "RENAMEVIEW",
            Statement::ShowCatalogs { .. } => "SHOWCATALOGS",
            Statement::StartTransaction => "STARTTRANSACTION",
            Statement::Commit => "COMMIT",
            Statement::Rollback => "ROLLBACK",
            Statement::SetSession { .. } => "SETSESSION",
            Statement::ResetSession { .. } => "RESETSESSION",
            Statement::Use { .. } => "USE",
            Statement::Prepare { .. } => "PREPARE",
            Statement::Deallocate { .. } => "DEALLOCATE",
            Statement::Execute { .. } => "EXECUTE",
            Statement::ExecuteImmediate { .. } => "EXECUTEIMMEDIATE",
            Statement::Unsupported { .. } => "STATEMENT",
        }
    }
}

impl Statement {
    /// Whether the statement changes a catalog (Trino commits it at the end).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Statement::Sql(_)
                | Statement::CreateView { .. }
                | Statement::CommentOnView { .. }
                | Statement::RenameView { .. }
        )
    }
}

pub fn location_of(span_start: sqlparser::tokenizer::Location) -> Location {
    Location { line: span_start.line.max(1) as u32, column: span_start.column.max(1) as u32 }
}

/// Parses one Trino statement (no trailing `;`, as Trino's statement resource).
pub fn parse(sql: &str) -> Result<Statement, QueryError> {
    let error = |e: ParserError| syntax_error(e, end_of(sql), sql);
    let dialect = TrinoDialect;
    let mut parser = Parser::new(&dialect).try_with_sql(sql).map_err(error)?;
    let statement = special(&mut parser, sql).map_err(error)?;
    let statement = match statement {
        Some(statement) => statement,
        None => general(parser.parse_statement().map_err(error)?)?,
    };
    if !matches!(statement, Statement::Prepare { .. } | Statement::CreateView { .. }) {
        expect_end(&mut parser).map_err(error)?;
    }
    Ok(statement)
}

fn expect_end(parser: &mut Parser<'_>) -> Result<(), ParserError> {
    match parser.peek_token().token {
        Token::EOF => Ok(()),
        _ => parser.expected("<EOF>", parser.peek_token()),
    }
}

/// An unquoted word (sqlparser has no keyword for some of Trino's).
fn word(parser: &mut Parser<'_>, text: &str) -> bool {
    let found = matches!(&parser.peek_token().token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text));
    if found {
        parser.next_token();
    }
    found
}

fn words_ahead(parser: &Parser<'_>, texts: &[&str]) -> bool {
    texts.iter().enumerate().all(|(n, text)| {
        matches!(&parser.peek_nth_token(n).token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text))
    })
}

fn rest_of(parser: &Parser<'_>, sql: &str) -> String {
    let start = parser.peek_token().span.start;
    sql[offset_of(sql, start.line, start.column)..].to_string()
}

fn string_or_null(parser: &mut Parser<'_>) -> Result<Option<String>, ParserError> {
    if parser.parse_keyword(Keyword::NULL) {
        return Ok(None);
    }
    parser.parse_literal_string().map(Some)
}

/// The statements read by hand; `None` leaves the parser untouched.
fn special(parser: &mut Parser<'_>, sql: &str) -> Result<Option<Statement>, ParserError> {
    let location = location_of(parser.peek_token().span.start);
    if words_ahead(parser, &["RESET", "SESSION"]) {
        parser.next_token();
        parser.next_token();
        let name = parser.parse_object_name(false)?;
        return Ok(Some(Statement::ResetSession { name: idents(name), location }));
    }
    if words_ahead(parser, &["SHOW", "CATALOGS"]) {
        parser.next_token();
        parser.next_token();
        let like = if parser.parse_keyword(Keyword::LIKE) { Some(parser.parse_literal_string()?) } else { None };
        return Ok(Some(Statement::ShowCatalogs { like }));
    }
    if word(parser, "PREPARE") {
        let name = parser.parse_identifier()?;
        parser.expect_keyword(Keyword::FROM)?;
        let text = rest_of(parser, sql).trim().to_string();
        let statement = parse(&text).map_err(|e| ParserError::ParserError(e.raw_message().to_string()))?;
        return Ok(Some(Statement::Prepare { name, statement: Box::new(statement), sql: text }));
    }
    if words_ahead(parser, &["ALTER", "VIEW"]) {
        parser.next_token();
        parser.next_token();
        let from = parser.parse_object_name(false)?;
        if !(word(parser, "RENAME") && word(parser, "TO")) {
            return parser.expected("RENAME TO", parser.peek_token());
        }
        let to = parser.parse_object_name(false)?;
        return Ok(Some(Statement::RenameView { from, to }));
    }
    if words_ahead(parser, &["COMMENT", "ON", "VIEW"]) {
        for _ in 0..3 {
            parser.next_token();
        }
        let name = parser.parse_object_name(false)?;
        parser.expect_keyword(Keyword::IS)?;
        let comment = string_or_null(parser)?;
        return Ok(Some(Statement::CommentOnView { name, comment }));
    }
    let or_replace = words_ahead(parser, &["CREATE", "OR", "REPLACE", "VIEW"]);
    if or_replace || words_ahead(parser, &["CREATE", "VIEW"]) {
        for _ in 0..if or_replace { 4 } else { 2 } {
            parser.next_token();
        }
        let name = parser.parse_object_name(false)?;
        let comment = if parser.parse_keyword(Keyword::COMMENT) { Some(parser.parse_literal_string()?) } else { None };
        if parser.parse_keyword(Keyword::SECURITY) && !(word(parser, "DEFINER") || word(parser, "INVOKER")) {
            return parser.expected("DEFINER, INVOKER", parser.peek_token());
        }
        parser.expect_keyword(Keyword::AS)?;
        let text = rest_of(parser, sql);
        // The view's query must itself parse.
        parser.parse_query()?;
        expect_end(parser)?;
        return Ok(Some(Statement::CreateView { name, or_replace, comment, sql: text, location }));
    }
    if word(parser, "EXECUTE") {
        if word(parser, "IMMEDIATE") {
            let text = parser.parse_literal_string()?;
            let parameters = using(parser)?;
            return Ok(Some(Statement::ExecuteImmediate { sql: text, parameters }));
        }
        let name = parser.parse_identifier()?;
        let parameters = using(parser)?;
        return Ok(Some(Statement::Execute { name, parameters }));
    }
    if words_ahead(parser, &["DEALLOCATE", "PREPARE"]) {
        parser.next_token();
        parser.next_token();
        return Ok(Some(Statement::Deallocate { name: parser.parse_identifier()? }));
    }
    for form in [&["SET", "SESSION", "AUTHORIZATION"][..], &["SET", "ROLE"], &["SET", "TIME", "ZONE"], &["SET", "PATH"]]
    {
        if words_ahead(parser, form) {
            while parser.next_token().token != Token::EOF {}
            return Ok(Some(Statement::Unsupported { kind: "SET".into() }));
        }
    }
    if words_ahead(parser, &["SET", "SESSION"]) {
        parser.next_token();
        parser.next_token();
        let name = parser.parse_object_name(false)?;
        parser.expect_token(&Token::Eq)?;
        let value = parser.parse_expr()?;
        return Ok(Some(Statement::SetSession { name: idents(name), value: Box::new(value) }));
    }
    if word(parser, "USE") {
        let name = idents(parser.parse_object_name(false)?);
        return Ok(Some(match name.as_slice() {
            [schema] => Statement::Use { catalog: None, schema: schema.clone(), location },
            [catalog, schema] => Statement::Use { catalog: Some(catalog.clone()), schema: schema.clone(), location },
            _ => return parser.expected("<identifier>", parser.peek_token()),
        }));
    }
    if words_ahead(parser, &["COMMIT"]) || words_ahead(parser, &["ROLLBACK"]) {
        let commit = word(parser, "COMMIT");
        if !commit {
            word(parser, "ROLLBACK");
        }
        word(parser, "WORK");
        return Ok(Some(if commit { Statement::Commit } else { Statement::Rollback }));
    }
    Ok(None)
}

fn using(parser: &mut Parser<'_>) -> Result<Vec<Expr>, ParserError> {
    if parser.parse_keyword(Keyword::USING) {
        parser.parse_comma_separated(Parser::parse_expr)
    } else {
        Ok(Vec::new())
    }
}

pub fn idents(name: ObjectName) -> Vec<Ident> {
    name.0.into_iter().filter_map(|part| part.as_ident().cloned()).collect()
}

/// Everything sqlparser parsed itself.
fn general(statement: ast::Statement) -> Result<Statement, QueryError> {
    Ok(match statement {
        ast::Statement::Query(query) => Statement::Query(query),
        ast::Statement::StartTransaction { .. } => Statement::StartTransaction,
        other => Statement::Sql(Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trino_statements_parse() {
        let cases = [
            ("SELECT 1", "QUERY"),
            ("RESET SESSION query_max_run_time", "RESETSESSION"),
            ("PREPARE q FROM SELECT ? + 1", "PREPARE"),
            ("EXECUTE q USING 1, 'a'", "EXECUTE"),
            ("EXECUTE IMMEDIATE 'SELECT ?' USING 5", "EXECUTEIMMEDIATE"),
            ("DEALLOCATE PREPARE q", "DEALLOCATE"),
            ("SHOW CATALOGS LIKE 't%'", "SHOWCATALOGS"),
            ("START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY", "STARTTRANSACTION"),
            ("COMMIT WORK", "COMMIT"),
            ("ROLLBACK", "ROLLBACK"),
            ("USE tpch.tiny", "USE"),
            ("SET SESSION hive.x = true", "SETSESSION"),
            ("create or replace view lake.s.v security definer as select 1 as a", "CREATEVIEW"),
            ("comment on view lake.s.v is 'x'", "COMMENT"),
            ("alter view lake.s.v rename to lake.s.w", "RENAMEVIEW"),
            ("create table lake.s.t as select 1 as a", "STATEMENT"),
        ];
        for (sql, kind) in cases {
            match parse(sql) {
                Ok(statement) => assert_eq!(statement.kind_name(), kind, "{sql}"),
                Err(error) => panic!("{sql}: {error}"),
            }
        }
    }

    #[test]
    fn syntax_errors_point_where_trino_does() {
        for (sql, prefix) in [
            ("SELECT FROM", "line 1:8: mismatched input 'FROM'"),
            ("SELEC 1", "line 1:1: mismatched input 'SELEC'"),
            ("SELECT 1;", "line 1:9: mismatched input ';'"),
        ] {
            let error = parse(sql).err().map(|e| e.message).unwrap_or_default();
            assert!(error.starts_with(prefix), "{sql}: {error}");
        }
    }
}
