//! Procedural macros for [interven](https://docs.rs/interven): the
//! `#[guard]` attribute. Use it through the `interven` crate, as
//! `#[interven::guard(...)]`; its full grammar is documented there.
//!
//! The macro stays thin: it parses its arguments, checks misuse with errors
//! that point at the offending token, and emits calls into
//! `interven::__private`, where all behaviour lives.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod args;
mod expand;

use proc_macro::TokenStream;

/// Scans a function's arguments with the interven policy engine before its
/// body runs. See `interven::guard` for the grammar and the behaviour.
#[proc_macro_attribute]
pub fn guard(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::guard(args.into(), item.into()).into()
}
