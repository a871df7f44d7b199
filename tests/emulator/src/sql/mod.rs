//! The SQL the emulator executes: Trino SQL parsed with `sqlparser`, run on an
//! embedded SQLite engine (see the emulator README for why), with Trino's
//! types, result column names and error codes.

pub mod analysis;
pub mod clock;
pub mod ddl;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod exec;
pub mod functions;
pub mod metadata;
pub mod names;
pub mod result_types;
pub mod session_properties;
pub mod statement;
pub mod statements;
pub mod tpch;
pub mod translate;
pub mod types;
pub mod typing;

pub use engine::Engine;
pub use error::QueryError;
pub use exec::{execute, prepare, Column, Environment, Outcome, ResultSet};
pub use statement::{parse, Statement};

#[cfg(test)]
mod tests;
