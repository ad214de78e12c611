//! The workspace's one integration-test binary: each module tests one area
//! through the public API only.

mod client;
mod corpus;
mod engine;
mod guard;
mod policy;
mod rmcp;
mod scan_json;
