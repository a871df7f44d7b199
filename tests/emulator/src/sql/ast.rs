//! Syntax tree of the statements the emulator understands.

use super::error::Location;

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Query(Query),
    ShowCatalogs {
        like: Option<String>,
    },
    StartTransaction,
    Commit,
    Rollback,
    /// `SET SESSION [catalog.]name = value`.
    SetSession {
        name: Vec<Ident>,
        value: Expr,
    },
    /// `RESET SESSION [catalog.]name`; `location` is the statement's.
    ResetSession {
        name: Vec<Ident>,
        location: Location,
    },
    /// `USE [catalog.]schema`; `location` is the statement's.
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
    /// `DEALLOCATE PREPARE name`.
    Deallocate {
        name: Ident,
    },
    /// `EXECUTE name [USING …]`.
    Execute {
        name: Ident,
        parameters: Vec<Expr>,
    },
    /// `EXECUTE IMMEDIATE 'sql' [USING …]`.
    ExecuteImmediate {
        sql: String,
        parameters: Vec<Expr>,
    },
}

impl Statement {
    /// The statement's class name in Trino, upper-cased (as PREPARE reports it).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Statement::Query(_) => "QUERY",
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
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub items: Vec<SelectItem>,
    pub from: Option<Relation>,
    pub filter: Option<Expr>,
    pub limit: Option<u64>,
    /// Where the query starts (its first token).
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    Wildcard(Location),
    Expr { expr: Expr, alias: Option<Ident> },
}

/// An identifier; Trino folds unquoted identifiers to lower case.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub value: String,
    pub quoted: bool,
}

impl Ident {
    pub fn canonical(&self) -> String {
        if self.quoted {
            self.value.clone()
        } else {
            self.value.to_lowercase()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Relation {
    Table { name: Vec<Ident>, alias: Option<Ident>, location: Location },
    Unnest { args: Vec<Expr>, alias: Option<Ident>, columns: Vec<Ident>, location: Location },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulus,
    Concat,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Subtract => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulus => "%",
            BinaryOp::Concat => "||",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }
}

/// A type as written in CAST or a typed literal, e.g. `decimal(10, 2)`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    pub name: String,
    pub parameters: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Integer(String),
    Decimal(String),
    Double(String),
    Str(String),
    Boolean(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    TypedLiteral {
        ty: TypeName,
        text: String,
    },
    Column(Vec<Ident>),
    Negate(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        ty: TypeName,
    },
    Function {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `count(*)`.
    CountStar,
    /// `current_timestamp` (no parentheses).
    CurrentTimestamp,
    /// A `?` placeholder, numbered from 0 in order of appearance.
    Parameter(usize),
}
