//! The tables a statement names, for routing rules: a single pass over its
//! tokens that takes the (possibly qualified, possibly quoted) name after
//! `FROM`, `JOIN`, `INTO`, `UPDATE` and `TABLE`. No parsing: a name in a
//! string or a comment is skipped, a subquery after `FROM` is not a name, and
//! anything unusual is missed rather than guessed. Good enough to keep a
//! catalog or a schema on a group of clusters, not a security boundary
//! (authorization stays with Trino).
//!
//! Names come out as `catalog.schema.table`, lower case (Trino's identifiers
//! are case-insensitive), completed with the session's catalog and schema
//! (`X-Trino-Catalog`, `X-Trino-Schema`) when the statement leaves them out;
//! a part no one names stays empty (`.schema.table`).

/// Words after which a table name comes.
const BEFORE_TABLE: [&str; 5] = ["FROM", "JOIN", "INTO", "UPDATE", "TABLE"];
/// At most this many names are returned (a statement with thousands of
/// joins does not make the rules allocate without bound).
pub const MAX_NAMES: usize = 64;

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Quoted(String),
    Dot,
    Other,
}

/// The tokens of a statement, one at a time (a long statement is never
/// turned into a list); strings and comments are skipped.
struct Tokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let text = self.text;
        let bytes = text.as_bytes();
        loop {
            let i = self.at;
            let b = *bytes.get(i)?;
            match b {
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    self.at = text.get(i..).and_then(|rest| rest.find('\n')).map_or(bytes.len(), |at| i + at + 1);
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    self.at =
                        text.get(i + 2..).and_then(|rest| rest.find("*/")).map_or(bytes.len(), |at| i + 2 + at + 2);
                }
                b'\'' => {
                    // A string literal; '' inside it is a quote.
                    let mut j = i + 1;
                    while let Some(&c) = bytes.get(j) {
                        j += 1;
                        if c == b'\'' {
                            if bytes.get(j) == Some(&b'\'') {
                                j += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.at = j;
                    return Some(Token::Other);
                }
                b'"' => {
                    let mut name = String::new();
                    let mut j = i + 1;
                    let mut start = j;
                    loop {
                        match bytes.get(j) {
                            Some(b'"') if bytes.get(j + 1) == Some(&b'"') => {
                                name.push_str(text.get(start..=j).unwrap_or_default());
                                j += 2;
                                start = j;
                            }
                            Some(b'"') => {
                                name.push_str(text.get(start..j).unwrap_or_default());
                                j += 1;
                                break;
                            }
                            Some(_) => j += 1,
                            None => {
                                name.push_str(text.get(start..).unwrap_or_default());
                                break;
                            }
                        }
                    }
                    self.at = j;
                    return Some(Token::Quoted(name));
                }
                b'.' => {
                    self.at = i + 1;
                    return Some(Token::Dot);
                }
                c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                    let mut j = i;
                    while bytes.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80) {
                        j += 1;
                    }
                    self.at = j;
                    return Some(Token::Word(text.get(i..j).unwrap_or_default()));
                }
                c if c.is_ascii_whitespace() => self.at = i + 1,
                _ => {
                    self.at = i + 1;
                    return Some(Token::Other);
                }
            }
        }
    }
}

/// Words between `TABLE` and a name (`CREATE TABLE IF NOT EXISTS t`).
const SKIPPED: [&str; 3] = ["IF", "NOT", "EXISTS"];

/// Words that follow `FROM`/`TABLE`/... without being a name.
fn is_keyword(word: &str) -> bool {
    ["SELECT", "WITH", "VALUES", "LATERAL", "UNNEST", "TABLE"].iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// The tables `statement` names, qualified with the session's `catalog` and `schema`.
pub fn table_names(statement: &str, catalog: Option<&str>, schema: Option<&str>) -> Vec<String> {
    let mut tokens = Tokens { text: statement, at: 0 }.peekable();
    let mut names = Vec::new();
    while names.len() < MAX_NAMES {
        let Some(token) = tokens.next() else { break };
        let starts_name = matches!(token, Token::Word(w) if BEFORE_TABLE.iter().any(|k| w.eq_ignore_ascii_case(k)));
        if !starts_name {
            continue;
        }
        // `CREATE TABLE IF NOT EXISTS t`: skip the keywords.
        while matches!(tokens.peek(), Some(Token::Word(w)) if SKIPPED.iter().any(|k| w.eq_ignore_ascii_case(k))) {
            tokens.next();
        }
        let mut parts: Vec<String> = Vec::new();
        loop {
            let part = match tokens.peek() {
                Some(Token::Word(w)) if !is_keyword(w) => w.to_lowercase(),
                Some(Token::Quoted(q)) => q.to_lowercase(),
                _ => break,
            };
            tokens.next();
            parts.push(part);
            if tokens.peek() == Some(&Token::Dot) && parts.len() < 3 {
                tokens.next();
            } else {
                break;
            }
        }
        let session = |value: Option<&str>| value.map(str::to_lowercase).unwrap_or_default();
        let qualified = match parts.as_slice() {
            [table] => format!("{}.{}.{table}", session(catalog), session(schema)),
            [schema, table] => format!("{}.{schema}.{table}", session(catalog)),
            [catalog, schema, table] => format!("{catalog}.{schema}.{table}"),
            _ => continue,
        };
        if !names.contains(&qualified) {
            names.push(qualified);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_and_qualified() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT * FROM lake.sales.orders", &["lake.sales.orders"]),
            ("select * from orders o join sales.items i on o.id = i.id", &["hive.web.orders", "hive.sales.items"]),
            ("INSERT INTO \"Lake\".\"My \"\"Odd\"\" Schema\".t SELECT 1", &["lake.my \"odd\" schema.t"]),
            (
                "CREATE TABLE IF NOT EXISTS lake.s.t AS SELECT * FROM tpch.tiny.nation",
                &["lake.s.t", "tpch.tiny.nation"],
            ),
            ("UPDATE t SET a = 1", &["hive.web.t"]),
            ("SELECT 'from x' -- from y\n /* join z */ FROM (SELECT 1) s", &[]),
            ("SELECT extract(year FROM d) FROM t", &["hive.web.d", "hive.web.t"]),
            ("TABLE lake.s.t", &["lake.s.t"]),
            ("DELETE FROM a.b.c WHERE x IN (SELECT y FROM a.b.c)", &["a.b.c"]),
            ("SELECT 1", &[]),
            ("SELECT * FROM", &[]),
            ("SELECT * FROM \"unterminated", &["hive.web.unterminated"]),
        ];
        for (statement, expected) in cases {
            assert_eq!(table_names(statement, Some("hive"), Some("web")), *expected, "{statement}");
        }
        assert_eq!(table_names("SELECT * FROM t", None, None), vec!["..t"]);
        assert_eq!(table_names("SELECT * FROM s.t", None, Some("x")), vec![".s.t"]);
    }

    #[test]
    fn names_are_bounded() {
        let statement: String = (0..200).map(|i| format!("SELECT * FROM t{i} UNION ALL ")).collect();
        assert_eq!(table_names(&statement, None, None).len(), MAX_NAMES);
    }
}
