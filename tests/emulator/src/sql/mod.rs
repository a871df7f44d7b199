//! The SQL the emulator executes: a small, faithful subset of Trino's language
//! with Trino's types, result column names and error codes.

pub mod ast;
pub mod clock;
pub mod coerce;
pub mod error;
pub mod exec;
pub mod expr;
pub mod format;
pub mod lexer;
pub mod parser;
pub mod session_properties;
pub mod statements;
pub mod tpch;
pub mod types;

pub use error::QueryError;
pub use exec::{execute, prepare, Column, Environment, Outcome, ResultSet};
pub use parser::parse;
