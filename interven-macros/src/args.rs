//! Parsing `#[guard(...)]`'s arguments: every mistake is collected, each
//! error points at the offending token and says how to fix it.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(tool);
    syn::custom_keyword!(operation);
    syn::custom_keyword!(method);
    syn::custom_keyword!(url);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(client);
    syn::custom_keyword!(api_key);
    syn::custom_keyword!(approval);
}

/// `approval = "wait" | "error"`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Approval {
    Wait,
    Error,
}

/// The parsed arguments of `#[guard(...)]`.
#[derive(Default)]
pub(crate) struct GuardArgs {
    pub(crate) tool: Option<LitStr>,
    pub(crate) operation: Option<LitStr>,
    pub(crate) method: Option<LitStr>,
    pub(crate) url: Option<Expr>,
    pub(crate) skip: Option<Vec<Ident>>,
    pub(crate) client: Option<Expr>,
    pub(crate) api_key: Option<Expr>,
    pub(crate) krate: Option<Path>,
    pub(crate) approval: Option<Approval>,
}

/// Collects errors so that the user sees every mistake at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Sets a key once; a second occurrence is an error on the second key.
fn set<T>(slot: &mut Option<T>, value: T, key: &dyn Spanned, name: &str, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(syn::Error::new(
            key.span(),
            format!("duplicate `{name}`: it is already set; keep only one `{name} = ...`"),
        ));
    } else {
        *slot = Some(value);
    }
}

/// A `key = "string"` value, or an error that shows the expected form.
fn lit_str(
    input: ParseStream<'_>,
    name: &str,
    example: &str,
) -> syn::Result<Result<LitStr, syn::Error>> {
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    Ok(match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            if s.value().trim().is_empty() {
                Err(syn::Error::new(
                    s.span(),
                    format!("`{name}` cannot be empty: write e.g. `{name} = {example}`"),
                ))
            } else {
                Ok(s)
            }
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{name}` takes a string literal: write e.g. `{name} = {example}`"),
        )),
    })
}

impl Parse for GuardArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = GuardArgs::default();
        let mut errors = Errors::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::tool) {
                let key: kw::tool = input.parse()?;
                match lit_str(input, "tool", "\"slack\"")? {
                    Ok(v) => set(&mut args.tool, v, &key, "tool", &mut errors),
                    Err(e) => errors.push(e),
                }
            } else if lookahead.peek(kw::operation) {
                let key: kw::operation = input.parse()?;
                match lit_str(input, "operation", "\"post_message\"")? {
                    Ok(v) => set(&mut args.operation, v, &key, "operation", &mut errors),
                    Err(e) => errors.push(e),
                }
            } else if lookahead.peek(kw::method) {
                let key: kw::method = input.parse()?;
                match lit_str(input, "method", "\"POST\"")? {
                    Ok(v) if !v.value().trim().bytes().all(|b| b.is_ascii_alphabetic()) => {
                        errors.push(syn::Error::new(
                            v.span(),
                            "`method` must be an HTTP method such as \"GET\", \"POST\" or \"DELETE\"",
                        ));
                    }
                    Ok(v) => set(&mut args.method, v, &key, "method", &mut errors),
                    Err(e) => errors.push(e),
                }
            } else if lookahead.peek(kw::approval) {
                let key: kw::approval = input.parse()?;
                match lit_str(input, "approval", "\"wait\"")? {
                    Ok(v) => match v.value().as_str() {
                        "wait" => set(&mut args.approval, Approval::Wait, &key, "approval", &mut errors),
                        "error" => set(&mut args.approval, Approval::Error, &key, "approval", &mut errors),
                        _ => errors.push(syn::Error::new(
                            v.span(),
                            "`approval` is either \"wait\" (wait for a human, then run or fail) or \"error\" (return `interven::Error::ApprovalRequired` at once)",
                        )),
                    },
                    Err(e) => errors.push(e),
                }
            } else if lookahead.peek(kw::url) {
                let key: kw::url = input.parse()?;
                input.parse::<Token![=]>()?;
                let v: Expr = input.parse()?;
                set(&mut args.url, v, &key, "url", &mut errors);
            } else if lookahead.peek(kw::client) {
                let key: kw::client = input.parse()?;
                input.parse::<Token![=]>()?;
                let v: Expr = input.parse()?;
                set(&mut args.client, v, &key, "client", &mut errors);
            } else if lookahead.peek(kw::api_key) {
                let key: kw::api_key = input.parse()?;
                input.parse::<Token![=]>()?;
                let v: Expr = input.parse()?;
                set(&mut args.api_key, v, &key, "api_key", &mut errors);
            } else if lookahead.peek(kw::skip) {
                let key: kw::skip = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    Ident::parse_any,
                )?;
                set(
                    &mut args.skip,
                    names.into_iter().collect(),
                    &key,
                    "skip",
                    &mut errors,
                );
            } else if lookahead.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let path = if input.peek(LitStr) {
                    let s: LitStr = input.parse()?;
                    s.parse::<Path>()
                } else {
                    input.parse::<Path>()
                };
                match path {
                    Ok(p) => set(&mut args.krate, p, &key, "crate", &mut errors),
                    Err(e) => errors.push(syn::Error::new(
                        e.span(),
                        "`crate` takes a path to the interven crate, e.g. `crate = ::my_interven`",
                    )),
                }
            } else {
                errors.push(lookahead.error());
                skip_entry(input)?;
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        if let (Some(_), Some(key)) = (&args.client, &args.api_key) {
            errors.push(syn::Error::new_spanned(
                key,
                "`client` and `api_key` both pick the client: keep one of them",
            ));
        }
        errors.finish()?;
        Ok(args)
    }
}

/// Skips an unknown entry up to the next top-level comma, so that parsing
/// goes on and later mistakes are reported too.
fn skip_entry(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

impl GuardArgs {
    /// The span of the attribute, for a missing required key.
    pub(crate) fn missing_tool() -> syn::Error {
        syn::Error::new(
            Span::call_site(),
            "missing `tool`: name the tool this function calls, e.g. `#[interven::guard(tool = \"slack\")]`",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        match syn::parse_str::<GuardArgs>(src) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_key_parses() {
        let a = syn::parse_str::<GuardArgs>(
            r#"tool = "gh", operation = "op", method = "put", url = format!("x/{a}"),
               skip(a, b), client = self.client, approval = "error", crate = ::my::interven,"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.tool.unwrap().value(), "gh");
        assert_eq!(a.skip.unwrap().len(), 2);
        assert!(a.approval == Some(Approval::Error));
        assert!(a.krate.is_some() && a.url.is_some() && a.client.is_some());
        let a =
            syn::parse_str::<GuardArgs>(r#"tool = "t", api_key = key(), crate = "::x""#).unwrap();
        assert!(a.api_key.is_some() && a.krate.is_some());
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let e = errors(
            r#"tool = 5, colour = "red", operation = "a", operation = "b", approval = "later""#,
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("`tool` takes a string literal"), "{e:?}");
        assert!(e[1].starts_with("expected one of: `tool`"), "{e:?}");
        assert!(e[2].contains("duplicate `operation`"), "{e:?}");
        assert!(e[3].contains("\"wait\""), "{e:?}");
    }

    #[test]
    fn empty_and_odd_values_are_rejected() {
        assert!(errors(r#"tool = """#)[0].contains("cannot be empty"));
        assert!(errors(r#"tool = "t", method = "PO ST""#)[0].contains("HTTP method"));
        assert!(errors(r#"tool = "t", client = c, api_key = "k""#)[0].contains("keep one"));
    }
}
