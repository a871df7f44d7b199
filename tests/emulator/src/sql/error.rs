//! Trino's error model: every failure a query can report carries a name, a
//! numeric code and a type exactly as in Trino's `StandardErrorCode`, so a
//! client maps it to the same exception it would get from a real coordinator.

use std::fmt;

/// Trino's `ErrorType`: decides which exception a client raises
/// (the Python client: USER_ERROR → `TrinoUserError`, EXTERNAL → `TrinoExternalError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    User,
    Internal,
    InsufficientResources,
    External,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::User => "USER_ERROR",
            ErrorType::Internal => "INTERNAL_ERROR",
            ErrorType::InsufficientResources => "INSUFFICIENT_RESOURCES",
            ErrorType::External => "EXTERNAL",
        }
    }
}

/// One entry of Trino's `StandardErrorCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    pub name: &'static str,
    pub code: i32,
    pub error_type: ErrorType,
}

macro_rules! codes {
    ($($name:ident = $code:expr, $ty:ident;)*) => {
        $(pub const $name: ErrorCode = ErrorCode { name: stringify!($name), code: $code, error_type: ErrorType::$ty };)*
    };
}

// Numbers from core/trino-spi/src/main/java/io/trino/spi/StandardErrorCode.java.
codes! {
    GENERIC_USER_ERROR = 0, User;
    SYNTAX_ERROR = 1, User;
    ABANDONED_QUERY = 2, User;
    USER_CANCELED = 3, User;
    NOT_FOUND = 5, User;
    FUNCTION_NOT_FOUND = 6, User;
    INVALID_FUNCTION_ARGUMENT = 7, User;
    DIVISION_BY_ZERO = 8, User;
    INVALID_CAST_ARGUMENT = 9, User;
    OPERATOR_NOT_FOUND = 10, User;
    NOT_SUPPORTED = 13, User;
    INVALID_SESSION_PROPERTY = 14, User;
    INVALID_VIEW = 11, User;
    INVALID_TABLE_PROPERTY = 18, User;
    NUMERIC_VALUE_OUT_OF_RANGE = 19, User;
    UNKNOWN_TRANSACTION = 20, User;
    NOT_IN_TRANSACTION = 21, User;
    INCOMPATIBLE_CLIENT = 27, User;
    QUERY_TEXT_TOO_LARGE = 35, User;
    TYPE_NOT_FOUND = 43, User;
    CATALOG_NOT_FOUND = 44, User;
    SCHEMA_NOT_FOUND = 45, User;
    TABLE_NOT_FOUND = 46, User;
    COLUMN_NOT_FOUND = 47, User;
    SCHEMA_NOT_EMPTY = 34, User;
    SCHEMA_ALREADY_EXISTS = 49, User;
    TABLE_ALREADY_EXISTS = 50, User;
    COLUMN_ALREADY_EXISTS = 51, User;
    DUPLICATE_COLUMN_NAME = 54, User;
    TYPE_MISMATCH = 58, User;
    COLUMN_TYPE_UNKNOWN = 60, User;
    AMBIGUOUS_NAME = 62, User;
    VIEW_IS_RECURSIVE = 82, User;
    MISSING_CATALOG_NAME = 56, User;
    MISSING_SCHEMA_NAME = 57, User;
    INVALID_LITERAL = 59, User;
    MISMATCHED_COLUMN_ALIASES = 61, User;
    NESTED_AGGREGATION = 67, User;
    EXPRESSION_NOT_AGGREGATE = 73, User;
    EXPRESSION_NOT_SCALAR = 74, User;
    EXPRESSION_NOT_CONSTANT = 75, User;
    INVALID_PARAMETER_USAGE = 80, User;
    GENERIC_INTERNAL_ERROR = 65536, Internal;
    SERVER_SHUTTING_DOWN = 65545, Internal;
    SERVER_STARTING_UP = 65548, Internal;
    QUERY_QUEUE_FULL = 131074, InsufficientResources;
}

/// Where in the SQL text an error points (1-based, like Trino's `ErrorLocation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

/// A failure of one query, as Trino reports it in `QueryResults.error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub code: ErrorCode,
    pub message: String,
    pub location: Option<Location>,
}

impl QueryError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        QueryError { code, message: message.into(), location: None }
    }

    /// The message without the `line L:C: ` prefix (Java's `getRawMessage`).
    pub fn raw_message(&self) -> &str {
        match self.location {
            Some(location) => {
                let prefix = format!("line {}:{}: ", location.line, location.column);
                self.message.strip_prefix(prefix.as_str()).unwrap_or(&self.message)
            }
            None => &self.message,
        }
    }

    /// An error tied to a place in the statement. Trino's analyzer prefixes such
    /// messages with `line L:C: `.
    pub fn at(code: ErrorCode, location: Location, message: impl AsRef<str>) -> Self {
        QueryError {
            code,
            message: format!("line {}:{}: {}", location.line, location.column, message.as_ref()),
            location: Some(location),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code.name, self.code.code, self.message)
    }
}

impl std::error::Error for QueryError {}
