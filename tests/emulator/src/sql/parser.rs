//! Recursive-descent parser for the emulator's SQL subset, with Trino's
//! operator precedence. Valid Trino that the emulator does not implement is
//! reported as NOT_SUPPORTED; text that is not Trino SQL as SYNTAX_ERROR.

use super::ast::*;
use super::error::{Location, QueryError, NOT_SUPPORTED, SYNTAX_ERROR};
use super::lexer::{tokenize, Token, TokenKind};

/// Keywords that start Trino statements the emulator does not implement.
const OTHER_STATEMENTS: &[&str] = &[
    "ALTER", "ANALYZE", "CALL", "COMMENT", "CREATE", "DELETE", "DENY", "DESC", "DESCRIBE", "DROP", "EXPLAIN", "GRANT",
    "INSERT", "MERGE", "REFRESH", "RESET", "REVOKE", "SET", "SHOW", "TRUNCATE", "UPDATE", "VALUES", "WITH", "TABLE",
];

const STATEMENT_EXPECTING: &str = "'(', 'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', \
'DENY', 'DESC', 'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', 'REVOKE', \
'ROLLBACK', 'SELECT', 'SET', 'SHOW', 'START', 'TABLE', 'TRUNCATE', 'UPDATE', 'USE', 'VALUES', 'WITH', <query>";

const PRIMARY_EXPECTING: &str =
    "'(', 'CASE', 'CAST', 'EXISTS', 'FALSE', 'NOT', 'NULL', 'TRUE', <identifier>, <integer>, <decimal>, <double>, <string>";

/// Reserved words (Trino's `SqlBase.g4`) plus clause starters: never an implicit alias.
const RESERVED: &[&str] = &[
    "ALTER",
    "AND",
    "AS",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CUBE",
    "DEALLOCATE",
    "DELETE",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXECUTE",
    "EXISTS",
    "EXTRACT",
    "FALSE",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "GROUPING",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "NATURAL",
    "NORMALIZE",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PREPARE",
    "RECURSIVE",
    "RIGHT",
    "ROLLUP",
    "SELECT",
    "SKIP",
    "TABLE",
    "THEN",
    "TRIM",
    "TRUE",
    "UESCAPE",
    "UNION",
    "UNNEST",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "WINDOW",
];

pub fn parse(sql: &str) -> Result<Statement, QueryError> {
    let tokens = tokenize(sql)?;
    let mut parser = Parser { tokens, pos: 0, sql: sql.to_string(), parameters: 0 };
    let statement = parser.statement()?;
    parser.expect_eof()?;
    Ok(statement)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The text being parsed (PREPARE keeps the text of its statement).
    sql: String,
    /// `?` placeholders seen so far.
    parameters: usize,
}

/// The character offset of a 1-based line/column in `sql`.
fn offset_of(sql: &str, location: Location) -> usize {
    let (mut line, mut column) = (1u32, 1u32);
    for (index, ch) in sql.char_indices() {
        if line == location.line && column == location.column {
            return index;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    sql.len()
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `pos` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, offset: usize) -> &Token {
        &self.tokens[(self.pos + offset).min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn eat_word(&mut self, keyword: &str) -> bool {
        if self.peek().is_word(keyword) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        if matches!(self.peek().kind, TokenKind::Symbol(s) if s == symbol) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn mismatched(&self, expecting: &str) -> QueryError {
        let token = self.peek();
        QueryError::at(
            SYNTAX_ERROR,
            token.location,
            format!("mismatched input '{}'. Expecting: {}", token.describe(), expecting),
        )
    }

    fn not_supported(&self, location: Location, what: &str) -> QueryError {
        QueryError::at(NOT_SUPPORTED, location, format!("{what} is not supported by the Trino coordinator emulator"))
    }

    fn expect_word(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.eat_word(keyword) {
            Ok(())
        } else {
            Err(self.mismatched(&format!("'{keyword}'")))
        }
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), QueryError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.mismatched(&format!("'{symbol}'")))
        }
    }

    fn expect_eof(&mut self) -> Result<(), QueryError> {
        if self.peek().kind == TokenKind::Eof {
            Ok(())
        } else {
            Err(self.mismatched("<EOF>"))
        }
    }

    fn statement(&mut self) -> Result<Statement, QueryError> {
        let token = self.peek().clone();
        if token.is_word("SELECT") {
            return Ok(Statement::Query(self.query()?));
        }
        if token.is_word("SHOW") && self.peek_at(1).is_word("CATALOGS") {
            self.bump();
            self.bump();
            let like = if self.eat_word("LIKE") {
                match self.bump().kind {
                    TokenKind::Str(pattern) => Some(pattern),
                    _ => return Err(self.mismatched("<string>")),
                }
            } else {
                None
            };
            return Ok(Statement::ShowCatalogs { like });
        }
        if token.is_word("START") {
            self.bump();
            self.expect_word("TRANSACTION")?;
            self.transaction_modes()?;
            return Ok(Statement::StartTransaction);
        }
        if token.is_word("COMMIT") || token.is_word("ROLLBACK") {
            self.bump();
            self.eat_word("WORK");
            return Ok(if token.is_word("COMMIT") { Statement::Commit } else { Statement::Rollback });
        }
        if let Some(statement) = self.session_statement(&token)? {
            return Ok(statement);
        }
        if matches!(token.kind, TokenKind::Symbol("(")) || OTHER_STATEMENTS.iter().any(|k| token.is_word(k)) {
            return Err(self.not_supported(token.location, &format!("Statement '{}'", token.describe().to_uppercase())));
        }
        Err(self.mismatched(STATEMENT_EXPECTING))
    }

    /// SET SESSION, RESET SESSION, USE, PREPARE, DEALLOCATE PREPARE, EXECUTE
    /// [IMMEDIATE]; `None` when the statement is none of these.
    fn session_statement(&mut self, token: &Token) -> Result<Option<Statement>, QueryError> {
        let location = token.location;
        let session_form = self.peek_at(1).is_word("SESSION") && !self.peek_at(2).is_word("AUTHORIZATION");
        if token.is_word("SET") && session_form {
            self.bump();
            self.bump();
            let name = self.qualified_name()?;
            self.expect_symbol("=")?;
            let value = self.expr()?;
            return Ok(Some(Statement::SetSession { name, value }));
        }
        if token.is_word("RESET") && session_form {
            self.bump();
            self.bump();
            let name = self.qualified_name()?;
            return Ok(Some(Statement::ResetSession { name, location }));
        }
        if token.is_word("USE") {
            self.bump();
            let first = self.ident()?;
            let statement = if self.eat_symbol(".") {
                Statement::Use { catalog: Some(first), schema: self.ident()?, location }
            } else {
                Statement::Use { catalog: None, schema: first, location }
            };
            return Ok(Some(statement));
        }
        if token.is_word("PREPARE") {
            self.bump();
            let name = self.ident()?;
            self.expect_word("FROM")?;
            let start = offset_of(&self.sql, self.peek().location);
            let statement = self.statement()?;
            let end = offset_of(&self.sql, self.peek().location);
            let sql = self.sql.get(start..end).unwrap_or_default().trim().to_string();
            return Ok(Some(Statement::Prepare { name, statement: Box::new(statement), sql }));
        }
        if token.is_word("DEALLOCATE") {
            self.bump();
            self.expect_word("PREPARE")?;
            let name = self.ident()?;
            return Ok(Some(Statement::Deallocate { name }));
        }
        if token.is_word("EXECUTE") {
            self.bump();
            if self.peek().is_word("IMMEDIATE") {
                if let TokenKind::Str(sql) = self.peek_at(1).kind.clone() {
                    self.bump();
                    self.bump();
                    let parameters = self.using_parameters()?;
                    return Ok(Some(Statement::ExecuteImmediate { sql, parameters }));
                }
            }
            let name = self.ident()?;
            let parameters = self.using_parameters()?;
            return Ok(Some(Statement::Execute { name, parameters }));
        }
        Ok(None)
    }

    fn using_parameters(&mut self) -> Result<Vec<Expr>, QueryError> {
        let mut parameters = Vec::new();
        if self.eat_word("USING") {
            parameters.push(self.expr()?);
            while self.eat_symbol(",") {
                parameters.push(self.expr()?);
            }
        }
        Ok(parameters)
    }

    fn qualified_name(&mut self) -> Result<Vec<Ident>, QueryError> {
        let mut name = vec![self.ident()?];
        while self.eat_symbol(".") {
            name.push(self.ident()?);
        }
        Ok(name)
    }

    /// `ISOLATION LEVEL ...` and `READ ONLY|WRITE`, comma separated; accepted and ignored.
    fn transaction_modes(&mut self) -> Result<(), QueryError> {
        loop {
            if self.eat_word("ISOLATION") {
                self.expect_word("LEVEL")?;
                if self.eat_word("SERIALIZABLE") {
                } else if self.eat_word("REPEATABLE") {
                    self.expect_word("READ")?;
                } else if self.eat_word("READ") {
                    if !(self.eat_word("COMMITTED") || self.eat_word("UNCOMMITTED")) {
                        return Err(self.mismatched("'COMMITTED', 'UNCOMMITTED'"));
                    }
                } else {
                    return Err(self.mismatched("'READ', 'REPEATABLE', 'SERIALIZABLE'"));
                }
            } else if self.eat_word("READ") {
                if !(self.eat_word("ONLY") || self.eat_word("WRITE")) {
                    return Err(self.mismatched("'ONLY', 'WRITE'"));
                }
            } else {
                return Ok(());
            }
            if !self.eat_symbol(",") {
                return Ok(());
            }
        }
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let location = self.peek().location;
        self.expect_word("SELECT")?;
        if self.peek().is_word("DISTINCT") {
            return Err(self.not_supported(self.peek().location, "SELECT DISTINCT"));
        }
        self.eat_word("ALL");
        let mut items = vec![self.select_item()?];
        while self.eat_symbol(",") {
            items.push(self.select_item()?);
        }
        let from = if self.eat_word("FROM") { Some(self.relation()?) } else { None };
        let filter = if self.eat_word("WHERE") { Some(self.expr()?) } else { None };
        for clause in ["GROUP", "HAVING", "ORDER", "UNION", "INTERSECT", "EXCEPT", "OFFSET", "FETCH", "WINDOW"] {
            if self.peek().is_word(clause) {
                return Err(self.not_supported(self.peek().location, &format!("{clause} clause")));
            }
        }
        let limit = if self.eat_word("LIMIT") {
            match self.bump().kind {
                TokenKind::Integer(n) => Some(n.parse().map_err(|_| self.mismatched("<integer>"))?),
                TokenKind::Word(w) if w.eq_ignore_ascii_case("ALL") => None,
                _ => return Err(self.mismatched("'ALL', <integer>")),
            }
        } else {
            None
        };
        Ok(Query { items, from, filter, limit, location })
    }

    fn select_item(&mut self) -> Result<SelectItem, QueryError> {
        if matches!(self.peek().kind, TokenKind::Symbol("*")) {
            let location = self.bump().location;
            return Ok(SelectItem::Wildcard(location));
        }
        let expr = self.expr()?;
        let alias = self.alias()?;
        Ok(SelectItem::Expr { expr, alias })
    }

    fn alias(&mut self) -> Result<Option<Ident>, QueryError> {
        if self.eat_word("AS") {
            return self.ident().map(Some);
        }
        match &self.peek().kind {
            TokenKind::Word(w) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => self.ident().map(Some),
            TokenKind::QuotedIdent(_) => self.ident().map(Some),
            _ => Ok(None),
        }
    }

    fn ident(&mut self) -> Result<Ident, QueryError> {
        match self.peek().kind.clone() {
            TokenKind::Word(w) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&w)) => {
                self.bump();
                Ok(Ident { value: w, quoted: false })
            }
            TokenKind::QuotedIdent(q) => {
                self.bump();
                Ok(Ident { value: q, quoted: true })
            }
            _ => Err(self.mismatched("<identifier>")),
        }
    }

    fn relation(&mut self) -> Result<Relation, QueryError> {
        let location = self.peek().location;
        let relation = if self.eat_word("UNNEST") {
            self.expect_symbol("(")?;
            let mut args = vec![self.expr()?];
            while self.eat_symbol(",") {
                args.push(self.expr()?);
            }
            self.expect_symbol(")")?;
            if self.peek().is_word("WITH") {
                return Err(self.not_supported(self.peek().location, "UNNEST WITH ORDINALITY"));
            }
            let alias = self.alias()?;
            let mut columns = Vec::new();
            if alias.is_some() && self.eat_symbol("(") {
                columns.push(self.ident()?);
                while self.eat_symbol(",") {
                    columns.push(self.ident()?);
                }
                self.expect_symbol(")")?;
            }
            Relation::Unnest { args, alias, columns, location }
        } else if matches!(self.peek().kind, TokenKind::Symbol("(")) {
            return Err(self.not_supported(location, "Subquery"));
        } else {
            let mut name = vec![self.ident()?];
            while self.eat_symbol(".") {
                name.push(self.ident()?);
            }
            let alias = self.alias()?;
            Relation::Table { name, alias, location }
        };
        if self.eat_symbol(",")
            || ["JOIN", "CROSS", "INNER", "LEFT", "RIGHT", "FULL", "NATURAL"].iter().any(|k| self.peek().is_word(k))
        {
            return Err(self.not_supported(self.peek().location, "Joins"));
        }
        Ok(relation)
    }

    // Precedence, lowest first: OR, AND, NOT, comparison / IS NULL, ||, + -, * / %, unary.
    fn expr(&mut self) -> Result<Expr, QueryError> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.peek().is_word("OR") {
            let location = self.bump().location;
            let right = self.and()?;
            left = binary(BinaryOp::Or, left, right, location);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while self.peek().is_word("AND") {
            let location = self.bump().location;
            let right = self.not()?;
            left = binary(BinaryOp::And, left, right, location);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.peek().is_word("NOT") {
            let location = self.bump().location;
            let inner = self.not()?;
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner)), location });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.concat()?;
        let op = match self.peek().kind {
            TokenKind::Symbol("=") => Some(BinaryOp::Eq),
            TokenKind::Symbol("<>") | TokenKind::Symbol("!=") => Some(BinaryOp::NotEq),
            TokenKind::Symbol("<") => Some(BinaryOp::Lt),
            TokenKind::Symbol("<=") => Some(BinaryOp::LtEq),
            TokenKind::Symbol(">") => Some(BinaryOp::Gt),
            TokenKind::Symbol(">=") => Some(BinaryOp::GtEq),
            _ => None,
        };
        if let Some(op) = op {
            let location = self.bump().location;
            let right = self.concat()?;
            return Ok(binary(op, left, right, location));
        }
        if self.peek().is_word("IS") {
            let location = self.bump().location;
            let negated = self.eat_word("NOT");
            self.expect_word("NULL")?;
            return Ok(Expr { kind: ExprKind::IsNull { expr: Box::new(left), negated }, location });
        }
        for keyword in ["BETWEEN", "IN", "LIKE"] {
            if self.peek().is_word(keyword) || (self.peek().is_word("NOT") && self.peek_at(1).is_word(keyword)) {
                return Err(self.not_supported(self.peek().location, &format!("{keyword} predicate")));
            }
        }
        Ok(left)
    }

    fn concat(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.additive()?;
        while matches!(self.peek().kind, TokenKind::Symbol("||")) {
            let location = self.bump().location;
            let right = self.additive()?;
            left = binary(BinaryOp::Concat, left, right, location);
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Symbol("+") => BinaryOp::Add,
                TokenKind::Symbol("-") => BinaryOp::Subtract,
                _ => return Ok(left),
            };
            let location = self.bump().location;
            let right = self.multiplicative()?;
            left = binary(op, left, right, location);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Symbol("*") => BinaryOp::Multiply,
                TokenKind::Symbol("/") => BinaryOp::Divide,
                TokenKind::Symbol("%") => BinaryOp::Modulus,
                _ => return Ok(left),
            };
            let location = self.bump().location;
            let right = self.unary()?;
            left = binary(op, left, right, location);
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        match self.peek().kind {
            TokenKind::Symbol("-") => {
                let location = self.bump().location;
                let inner = self.unary()?;
                Ok(Expr { kind: ExprKind::Negate(Box::new(inner)), location })
            }
            TokenKind::Symbol("+") => {
                self.bump();
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let token = self.peek().clone();
        let location = token.location;
        let literal = |l| Ok(Expr { kind: ExprKind::Literal(l), location });
        match token.kind {
            TokenKind::Integer(text) => {
                self.bump();
                literal(Literal::Integer(text))
            }
            TokenKind::Decimal(text) => {
                self.bump();
                literal(Literal::Decimal(text))
            }
            TokenKind::Double(text) => {
                self.bump();
                literal(Literal::Double(text))
            }
            TokenKind::Str(text) => {
                self.bump();
                literal(Literal::Str(text))
            }
            TokenKind::Symbol("?") => {
                self.bump();
                self.parameters += 1;
                Ok(Expr { kind: ExprKind::Parameter(self.parameters - 1), location })
            }
            TokenKind::Symbol("(") => {
                self.bump();
                if self.peek().is_word("SELECT") {
                    return Err(self.not_supported(location, "Subquery"));
                }
                let inner = self.expr()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            TokenKind::Word(ref w) => {
                let upper = w.to_uppercase();
                match upper.as_str() {
                    "TRUE" | "FALSE" => {
                        self.bump();
                        literal(Literal::Boolean(upper == "TRUE"))
                    }
                    "NULL" => {
                        self.bump();
                        literal(Literal::Null)
                    }
                    "CAST" | "TRY_CAST" => {
                        self.bump();
                        if upper == "TRY_CAST" {
                            return Err(self.not_supported(location, "TRY_CAST"));
                        }
                        self.expect_symbol("(")?;
                        let inner = self.expr()?;
                        self.expect_word("AS")?;
                        let ty = self.type_name()?;
                        self.expect_symbol(")")?;
                        Ok(Expr { kind: ExprKind::Cast { expr: Box::new(inner), ty }, location })
                    }
                    "CURRENT_TIMESTAMP" => {
                        self.bump();
                        if matches!(self.peek().kind, TokenKind::Symbol("(")) {
                            return Err(self.not_supported(location, "current_timestamp with a precision"));
                        }
                        Ok(Expr { kind: ExprKind::CurrentTimestamp, location })
                    }
                    "CURRENT_DATE" | "CURRENT_TIME" | "LOCALTIME" | "LOCALTIMESTAMP" => {
                        Err(self.not_supported(location, &w.to_lowercase()))
                    }
                    "CASE" | "EXISTS" | "EXTRACT" | "ARRAY" | "ROW" | "INTERVAL" => {
                        Err(self.not_supported(location, &format!("{upper} expression")))
                    }
                    _ if RESERVED.contains(&upper.as_str()) => Err(self.mismatched(PRIMARY_EXPECTING)),
                    _ => self.identifier_expression(),
                }
            }
            TokenKind::QuotedIdent(_) => self.identifier_expression(),
            _ => Err(self.mismatched(PRIMARY_EXPECTING)),
        }
    }

    /// A column reference, a function call, or a typed literal such as `BIGINT '5'`.
    fn identifier_expression(&mut self) -> Result<Expr, QueryError> {
        let location = self.peek().location;
        if let (TokenKind::Word(w), TokenKind::Str(text)) = (self.peek().kind.clone(), self.peek_at(1).kind.clone()) {
            self.bump();
            self.bump();
            return Ok(Expr {
                kind: ExprKind::TypedLiteral { ty: TypeName { name: w.to_lowercase(), parameters: vec![] }, text },
                location,
            });
        }
        let first = self.ident()?;
        if self.eat_symbol("(") {
            if !first.quoted
                && first.value.eq_ignore_ascii_case("count")
                && matches!(self.peek().kind, TokenKind::Symbol("*"))
            {
                self.bump();
                self.expect_symbol(")")?;
                return Ok(Expr { kind: ExprKind::CountStar, location });
            }
            let mut args = Vec::new();
            if !self.eat_symbol(")") {
                args.push(self.expr()?);
                while self.eat_symbol(",") {
                    args.push(self.expr()?);
                }
                self.expect_symbol(")")?;
            }
            return Ok(Expr { kind: ExprKind::Function { name: first, args }, location });
        }
        let mut parts = vec![first];
        while self.eat_symbol(".") {
            parts.push(self.ident()?);
        }
        Ok(Expr { kind: ExprKind::Column(parts), location })
    }

    fn type_name(&mut self) -> Result<TypeName, QueryError> {
        let mut name = match self.bump().kind {
            TokenKind::Word(w) => w.to_lowercase(),
            _ => return Err(self.mismatched("<type>")),
        };
        // Multi-word types: `double precision`, `timestamp with time zone`, ...
        while let TokenKind::Word(w) = &self.peek().kind {
            if ["precision", "with", "without", "time", "zone", "varying"].contains(&w.to_lowercase().as_str()) {
                name = format!("{name} {}", w.to_lowercase());
                self.bump();
            } else {
                break;
            }
        }
        let mut parameters = Vec::new();
        if self.eat_symbol("(") {
            loop {
                match self.bump().kind {
                    TokenKind::Integer(n) => parameters.push(n.parse().map_err(|_| self.mismatched("<integer>"))?),
                    _ => return Err(self.mismatched("<integer>")),
                }
                if !self.eat_symbol(",") {
                    break;
                }
            }
            self.expect_symbol(")")?;
        }
        Ok(TypeName { name, parameters })
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr, location: Location) -> Expr {
    Expr { kind: ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, location }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Statement {
        match parse(sql) {
            Ok(statement) => statement,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    fn error(sql: &str) -> QueryError {
        match parse(sql) {
            Ok(statement) => panic!("{sql} parsed as {statement:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn precedence_follows_trino() {
        let Statement::Query(q) = parsed("SELECT 1 + 2 * 3 AS x") else { panic!() };
        let SelectItem::Expr { expr, alias } = &q.items[0] else { panic!() };
        assert_eq!(alias.as_ref().map(Ident::canonical), Some("x".into()));
        let ExprKind::Binary { op: BinaryOp::Add, right, .. } = &expr.kind else { panic!("{expr:?}") };
        assert!(matches!(right.kind, ExprKind::Binary { op: BinaryOp::Multiply, .. }));
    }

    #[test]
    fn statements() {
        assert_eq!(parsed("show catalogs"), Statement::ShowCatalogs { like: None });
        assert_eq!(parsed("START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"), Statement::StartTransaction);
        assert_eq!(parsed("commit work"), Statement::Commit);
        assert_eq!(parsed("ROLLBACK"), Statement::Rollback);
        assert!(matches!(
            parsed("SELECT x FROM UNNEST(sequence(1, 10)) AS t(x)"),
            Statement::Query(Query { from: Some(Relation::Unnest { .. }), .. })
        ));
        assert!(matches!(
            parsed("SELECT node_id FROM system.runtime.nodes"),
            Statement::Query(Query { from: Some(Relation::Table { .. }), .. })
        ));
    }

    #[test]
    fn errors_are_syntax_or_not_supported() {
        let cases = [
            ("SELECT FROM", "SYNTAX_ERROR"),
            ("SELEC 1", "SYNTAX_ERROR"),
            ("SELECT 1 +", "SYNTAX_ERROR"),
            ("SELECT (1", "SYNTAX_ERROR"),
            ("SELECT 1;", "SYNTAX_ERROR"),
            ("CREATE TABLE t (x int)", "NOT_SUPPORTED"),
            ("SELECT 1 ORDER BY 1", "NOT_SUPPORTED"),
            ("SELECT a FROM b JOIN c ON true", "NOT_SUPPORTED"),
        ];
        for (sql, name) in cases {
            assert_eq!(error(sql).code.name, name, "{sql}");
        }
        assert_eq!(
            error("SELECT FROM").message,
            format!("line 1:8: mismatched input 'FROM'. Expecting: {PRIMARY_EXPECTING}")
        );
    }
}
