//! A Trino coordinator emulator: speaks the real client protocol (paths, JSON,
//! headers, status codes, query ids, slugs, tokens) closely enough that real
//! Trino clients cannot tell it from a coordinator for the features the
//! gateway relies on. See README.md in this folder for what it reproduces.

pub mod base64;
pub mod compression;
pub mod config;
pub mod coordinator;
pub mod ids;
pub mod path;
pub mod reply;
pub mod results;
pub mod server;
pub mod session;
pub mod spooling;
pub mod sql;
pub mod web_ui;
