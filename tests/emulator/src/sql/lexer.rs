//! Tokenizer for the SQL subset the emulator runs. Follows Trino's lexical rules:
//! case-insensitive keywords, `"quoted"` identifiers, `'strings'` with `''`
//! escapes, `--` and `/* */` comments.

use super::error::{Location, QueryError, SYNTAX_ERROR};

#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// An unquoted identifier or keyword, as written.
    Word(String),
    QuotedIdent(String),
    Integer(String),
    Decimal(String),
    Double(String),
    Str(String),
    Symbol(&'static str),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub location: Location,
}

impl Token {
    /// How Trino's parser quotes the offending token in "mismatched input" errors.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => w.clone(),
            TokenKind::QuotedIdent(q) => format!("\"{q}\""),
            TokenKind::Integer(t) | TokenKind::Decimal(t) | TokenKind::Double(t) => t.clone(),
            TokenKind::Str(s) => format!("'{s}'"),
            TokenKind::Symbol(s) => (*s).to_string(),
            TokenKind::Eof => "<EOF>".into(),
        }
    }

    pub fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

const SYMBOLS: [&str; 18] =
    ["?", "<>", "!=", "<=", ">=", "||", "(", ")", ",", ".", "*", "+", "-", "/", "%", "=", "<", ">"];

pub fn tokenize(sql: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Advance over `n` characters keeping line/column current.
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let location = Location { line, column: col };
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
        } else if c == '/' && next == Some('*') {
            advance(&mut i, &mut line, &mut col, 2);
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if i >= chars.len() {
                return Err(QueryError::at(SYNTAX_ERROR, location, "mismatched input '/'. Expecting: <query>"));
            }
            advance(&mut i, &mut line, &mut col, 2);
        } else if c == '\'' {
            let start = i;
            let mut text = String::new();
            advance(&mut i, &mut line, &mut col, 1);
            loop {
                match chars.get(i) {
                    None => {
                        let rest: String = chars[start..].iter().collect();
                        return Err(QueryError::at(
                            SYNTAX_ERROR,
                            location,
                            format!("token recognition error at: '{rest}'"),
                        ));
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        advance(&mut i, &mut line, &mut col, 2);
                    }
                    Some('\'') => {
                        advance(&mut i, &mut line, &mut col, 1);
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        advance(&mut i, &mut line, &mut col, 1);
                    }
                }
            }
            tokens.push(Token { kind: TokenKind::Str(text), location });
        } else if c == '"' {
            let mut text = String::new();
            advance(&mut i, &mut line, &mut col, 1);
            loop {
                match chars.get(i) {
                    None => {
                        return Err(QueryError::at(SYNTAX_ERROR, location, "token recognition error at: '\"'"));
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        text.push('"');
                        advance(&mut i, &mut line, &mut col, 2);
                    }
                    Some('"') => {
                        advance(&mut i, &mut line, &mut col, 1);
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        advance(&mut i, &mut line, &mut col, 1);
                    }
                }
            }
            if text.is_empty() {
                return Err(QueryError::at(SYNTAX_ERROR, location, "Zero-length delimited identifier not allowed"));
            }
            tokens.push(Token { kind: TokenKind::QuotedIdent(text), location });
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                advance(&mut i, &mut line, &mut col, 1);
            }
            let mut kind = 0; // 0 integer, 1 decimal, 2 double
            if chars.get(i) == Some(&'.') {
                kind = 1;
                advance(&mut i, &mut line, &mut col, 1);
                while i < chars.len() && chars[i].is_ascii_digit() {
                    advance(&mut i, &mut line, &mut col, 1);
                }
            }
            if matches!(chars.get(i), Some('e') | Some('E')) {
                let sign = matches!(chars.get(i + 1), Some('+') | Some('-'));
                let digit_at = if sign { i + 2 } else { i + 1 };
                if chars.get(digit_at).is_some_and(|d| d.is_ascii_digit()) {
                    kind = 2;
                    let n = digit_at - i;
                    advance(&mut i, &mut line, &mut col, n);
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        advance(&mut i, &mut line, &mut col, 1);
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let kind = match kind {
                0 => TokenKind::Integer(text),
                1 => TokenKind::Decimal(text),
                _ => TokenKind::Double(text),
            };
            tokens.push(Token { kind, location });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '@' || chars[i] == ':')
            {
                advance(&mut i, &mut line, &mut col, 1);
            }
            tokens.push(Token { kind: TokenKind::Word(chars[start..i].iter().collect()), location });
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| {
            let mut it = s.chars();
            it.next() == Some(c) && it.next().is_none_or(|second| next == Some(second))
        }) {
            advance(&mut i, &mut line, &mut col, symbol.len());
            tokens.push(Token { kind: TokenKind::Symbol(symbol), location });
        } else {
            return Err(QueryError::at(SYNTAX_ERROR, location, format!("token recognition error at: '{c}'")));
        }
    }
    tokens.push(Token { kind: TokenKind::Eof, location: Location { line, column: col } });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<TokenKind> {
        tokenize(sql).map(|t| t.into_iter().map(|t| t.kind).collect()).unwrap_or_default()
    }

    #[test]
    fn numbers_strings_and_symbols() {
        assert_eq!(
            kinds("1 2.5 1e3 'it''s' <> x"),
            vec![
                TokenKind::Integer("1".into()),
                TokenKind::Decimal("2.5".into()),
                TokenKind::Double("1e3".into()),
                TokenKind::Str("it's".into()),
                TokenKind::Symbol("<>"),
                TokenKind::Word("x".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn comments_are_skipped_and_locations_tracked() {
        let tokens = tokenize("/* hint */ SELECT\n  -- c\n  42").unwrap_or_default();
        assert_eq!(tokens[0].location, Location { line: 1, column: 12 });
        assert_eq!(tokens[1].kind, TokenKind::Integer("42".into()));
        assert_eq!(tokens[1].location, Location { line: 3, column: 3 });
    }

    #[test]
    fn unterminated_string_is_a_syntax_error() {
        assert!(tokenize("SELECT 'abc").is_err());
    }
}
