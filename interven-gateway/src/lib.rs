//! The self-hosted interven gateway: the interven wire protocol served over
//! the embedded engine, with what only a server has — API keys and tenants,
//! rate limits, human approvals, and a durable, hash-chained record of
//! every decision (SQLite).
//!
//! Run it with the `interven-gateway` binary (`serve`, `keys`, `scan`,
//! `approvals`, `traces`, `policy`); this library exposes the same pieces so that
//! tests and embedders can start a server in-process.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod auth;
pub mod cli;
pub mod console;
pub mod json;
pub mod listen;
pub mod notify;
pub mod policy_cmd;
pub mod ratelimit;
pub mod reload;
pub mod scanpool;
pub mod server;
pub mod store;
pub mod store_console;

pub use server::{AppState, Config, router, serve};
pub use store::Store;
