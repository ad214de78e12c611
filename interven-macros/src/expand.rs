//! Generating the guarded function: the user's item is re-emitted as
//! written, with a prelude in front of its body that scans the arguments
//! and rebinds the sanitized ones. All behaviour is in `interven::__private`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, Item, ItemFn, LitStr, Pat,
    PathArguments, ReturnType, Stmt, Type, TypeParamBound,
};

use crate::args::{Approval, Errors, GuardArgs};

/// Expands `#[guard(args)] item`. On any misuse the item is emitted unchanged
/// beside the errors, so that one mistake gives one error.
pub(crate) fn guard(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => return with_error(not_a_function(&other), item),
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span());
            return with_error(syn::Error::new(span, NOT_A_FUNCTION), item);
        }
    };
    let args = match syn::parse2::<GuardArgs>(args) {
        Ok(args) => args,
        Err(e) => return with_error(e, item),
    };
    match expand(&args, function) {
        Ok(tokens) => tokens,
        Err(e) => with_error(e, item),
    }
}

const NOT_A_FUNCTION: &str = "`#[interven::guard]` goes on a function with a body: a free function, a method, or an `async fn`";

fn with_error(error: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}

fn not_a_function(item: &Item) -> syn::Error {
    let span = match item {
        Item::Struct(i) => return named_item_error(&i.struct_token, &i.ident),
        Item::Enum(i) => return named_item_error(&i.enum_token, &i.ident),
        Item::Trait(i) => return named_item_error(&i.trait_token, &i.ident),
        Item::Impl(i) => i.impl_token.span,
        Item::Mod(i) => i.mod_token.span,
        Item::Const(i) => i.const_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Use(i) => i.use_token.span,
        other => other
            .to_token_stream()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span()),
    };
    syn::Error::new(span, NOT_A_FUNCTION)
}

fn named_item_error(keyword: &dyn ToTokens, ident: &Ident) -> syn::Error {
    syn::Error::new_spanned(quote!(#keyword #ident), NOT_A_FUNCTION)
}

/// How the function runs, which decides where the prelude goes and whether it awaits.
enum Shape {
    Async,
    Sync,
    /// A method already rewritten by `#[async_trait]`: its body ends in
    /// `Box::pin(async move { ... })`, and the prelude goes inside that block.
    AsyncTrait,
}

/// One scanned binding of the function's parameters.
struct Param {
    ident: Ident,
    name: String,
    /// `#[cfg]` of the parameter, repeated on every statement about it.
    cfgs: Vec<Attribute>,
    kind: Kind,
    mutable: bool,
    span: Span,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Value,
    Ref,
    RefMut,
}

fn name_of(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#")
        .map_or_else(|| s.clone(), str::to_owned)
}

/// The bindings a parameter pattern introduces.
fn bindings(pat: &Pat, out: &mut Vec<(Ident, bool)>) {
    match pat {
        Pat::Ident(p) => {
            out.push((p.ident.clone(), p.mutability.is_some()));
            if let Some((_, sub)) = &p.subpat {
                bindings(sub, out);
            }
        }
        Pat::Tuple(p) => p.elems.iter().for_each(|e| bindings(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| bindings(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| bindings(&f.pat, out)),
        Pat::Reference(p) => bindings(&p.pat, out),
        Pat::Slice(p) => p.elems.iter().for_each(|e| bindings(e, out)),
        Pat::Paren(p) => bindings(&p.pat, out),
        Pat::Type(p) => bindings(&p.pat, out),
        _ => {}
    }
}

/// The lifetimes of a type: named ones, and whether it has elided ones.
fn lifetimes(tokens: TokenStream, named: &mut Vec<String>, elided: &mut bool) {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(t) = tokens.next() {
        match t {
            TokenTree::Group(g) => lifetimes(g.stream(), named, elided),
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                if let Some(TokenTree::Ident(id)) = tokens.next() {
                    if id == "_" {
                        *elided = true;
                    } else {
                        named.push(id.to_string());
                    }
                }
            }
            TokenTree::Punct(p) if p.as_char() == '&' => {
                let followed_by_lifetime =
                    matches!(tokens.peek(), Some(TokenTree::Punct(q)) if q.as_char() == '\'');
                if !followed_by_lifetime {
                    *elided = true;
                }
            }
            _ => {}
        }
    }
}

/// The `R` of `Pin<Box<dyn Future<Output = R> + ...>>`.
fn future_output(ty: &Type) -> Option<&Type> {
    fn in_path(path: &syn::Path) -> Option<&Type> {
        path.segments.iter().find_map(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            }),
            _ => None,
        })
    }
    match ty {
        Type::Path(p) => in_path(&p.path),
        Type::TraitObject(o) => o.bounds.iter().find_map(|b| match b {
            TypeParamBound::Trait(t) => in_path(&t.path),
            _ => None,
        }),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

/// The async block of a body rewritten by `#[async_trait]`.
fn async_trait_block(block: &mut Block) -> Option<&mut Block> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last_mut() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let is_pin = func.path.segments.last().is_some_and(|s| s.ident == "pin")
        && func.path.segments.len() >= 2
        && func.path.segments.iter().any(|s| s.ident == "Box");
    if !is_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first_mut() {
        Some(Expr::Async(a)) => Some(&mut a.block),
        _ => None,
    }
}

/// rmcp's extractors that carry the request's context, never its arguments.
const RMCP_CONTEXT_TYPES: &[&str] = &[
    "RequestContext",
    "Peer",
    "Extension",
    "Extensions",
    "RequestMetaObject",
    "RequestId",
    "CancellationToken",
    "ToolName",
    "RequestState",
    "InputResponses",
];

/// `true` for an attribute that is rmcp's `#[tool]` (`#[tool]`, `#[rmcp::tool]`),
/// matched the way rmcp's own `#[tool_router]` finds it.
fn is_tool_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "tool")
}

/// `true` for a parameter type that is one of rmcp's context extractors:
/// named as such in a `#[tool]` function, or spelled with an `rmcp::` path.
fn is_rmcp_context(ty: &Type, in_tool: bool) -> bool {
    let Type::Path(p) = ty else {
        return false;
    };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let rmcp_path = p.path.segments.iter().any(|s| s.ident == "rmcp");
    (in_tool || rmcp_path) && RMCP_CONTEXT_TYPES.iter().any(|n| last.ident == n)
}

/// The path of a type, as tokens without spaces (`::std::pin::Pin<...>`).
fn type_text(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

/// `true` when rmcp's `#[tool]` has already rewritten this `async fn` (the
/// guard was written below it): rmcp turns it into a plain `fn` returning
/// `::std::pin::Pin<Box<dyn ::std::future::Future<Output = R> + Send + '_>>`
/// whose body is `Box::pin(async move { body })`.
fn rewritten_by_rmcp_tool(function: &ItemFn) -> bool {
    let ReturnType::Type(_, ty) = &function.sig.output else {
        return false;
    };
    if function.sig.asyncness.is_some()
        || !type_text(ty).starts_with("::std::pin::Pin<Box<dyn::std::future::Future<Output=")
    {
        return false;
    }
    let [Stmt::Expr(Expr::Call(call), None)] = function.block.stmts.as_slice() else {
        return false;
    };
    let Expr::Path(func) = &*call.func else {
        return false;
    };
    let pin_path = func.path.leading_colon.is_none()
        && func.path.segments.len() == 2
        && func.path.segments[0].ident == "Box"
        && func.path.segments[1].ident == "pin";
    pin_path && matches!(call.args.first(), Some(Expr::Async(a)) if a.capture.is_some())
}

const GUARD_BELOW_TOOL: &str = "put `#[interven::guard]` above `#[tool]`: here rmcp's `#[tool]` ran first and already turned this `async fn` into a boxed future, so the guard would not see the function as written (move the `#[interven::guard(...)]` line up, directly above `#[tool(...)]`)";

fn expand(args: &GuardArgs, mut function: ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    if rewritten_by_rmcp_tool(&function) {
        return Err(syn::Error::new(Span::call_site(), GUARD_BELOW_TOOL));
    }
    let in_tool = function.attrs.iter().any(is_tool_attr);
    let sig = &function.sig;
    if args.tool.is_none() {
        errors.push(GuardArgs::missing_tool());
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "`#[interven::guard]` cannot guard a `const fn`: the scan runs at run time; remove `const`",
        ));
    }

    let shape = if sig.asyncness.is_some() {
        Shape::Async
    } else if async_trait_block(&mut function.block).is_some() {
        Shape::AsyncTrait
    } else {
        Shape::Sync
    };

    // The type the function's body evaluates to.
    let sig = &function.sig;
    let returned: Option<&Type> = match (&sig.output, &shape) {
        (ReturnType::Default, _) => None,
        (ReturnType::Type(_, ty), Shape::AsyncTrait) => future_output(ty),
        (ReturnType::Type(_, ty), _) => Some(ty),
    };
    if matches!(sig.output, ReturnType::Default) {
        errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            "a function with `#[interven::guard]` must return `Result<T, E>` with `E: From<interven::Error>`: add e.g. `-> interven::Result<()>` or `-> anyhow::Result<()>`",
        ));
    }
    let return_span = returned.map_or_else(|| sig.ident.span(), Spanned::span);

    // The parameters to scan.
    let skip = args.skip.clone().unwrap_or_default();
    let mut borrowed_receiver = false;
    let mut params = Vec::new();
    let mut all_names = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                borrowed_receiver = r.reference.is_some() || {
                    let (mut named, mut elided) = (Vec::new(), false);
                    lifetimes(r.ty.to_token_stream(), &mut named, &mut elided);
                    elided || !named.is_empty()
                };
            }
            FnArg::Typed(t) => {
                let mut found = Vec::new();
                bindings(&t.pat, &mut found);
                let cfgs: Vec<Attribute> = t
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("cfg"))
                    .cloned()
                    .collect();
                let top_level =
                    matches!(&*t.pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none());
                let context = is_rmcp_context(&t.ty, in_tool);
                for (ident, mutable) in found {
                    all_names.push(ident.clone());
                    if context || skip.iter().any(|s| s == &ident) {
                        continue;
                    }
                    let kind = match (&*t.ty, top_level) {
                        (Type::Reference(r), true) if r.mutability.is_some() => Kind::RefMut,
                        (Type::Reference(_), true) => Kind::Ref,
                        _ => Kind::Value,
                    };
                    if kind != Kind::Value
                        && let Err(e) =
                            check_not_returned(&ident, &t.ty, returned, borrowed_receiver)
                    {
                        errors.push(e);
                    }
                    params.push(Param {
                        name: name_of(&ident),
                        span: ident.span(),
                        ident,
                        cfgs: cfgs.clone(),
                        kind,
                        mutable,
                    });
                }
            }
        }
    }
    for s in &skip {
        if s == "self" {
            errors.push(syn::Error::new(
                s.span(),
                "the receiver is never scanned: remove `self` from `skip(...)`",
            ));
        } else if !all_names.iter().any(|n| n == s) {
            let names: Vec<String> = all_names.iter().map(|n| format!("`{n}`")).collect();
            let known = if names.is_empty() {
                format!("`{}` has no arguments to skip", sig.ident)
            } else {
                format!("its arguments are {}", names.join(", "))
            };
            errors.push(syn::Error::new(
                s.span(),
                format!(
                    "`skip` names `{s}`, which is not an argument of `{}`: {known}",
                    sig.ident
                ),
            ));
        }
    }
    errors.finish()?;

    let prelude = prelude(args, &function, &params, &shape, return_span);
    match shape {
        Shape::AsyncTrait => {
            if let Some(inner) = async_trait_block(&mut function.block) {
                let stmts: Block = syn::parse_quote!({ #prelude });
                inner.stmts.splice(0..0, stmts.stmts);
            }
            Ok(function.into_token_stream())
        }
        Shape::Async | Shape::Sync => {
            let ItemFn {
                attrs,
                vis,
                sig,
                block,
            } = function;
            Ok(quote! {
                #(#attrs)*
                #vis #sig {
                    #prelude
                    #block
                }
            })
        }
    }
}

/// A reference argument is rebound to an owned local; a return type that
/// borrows from it could not compile (E0515), so say so plainly instead.
fn check_not_returned(
    ident: &Ident,
    ty: &Type,
    returned: Option<&Type>,
    borrowed_receiver: bool,
) -> syn::Result<()> {
    let (Type::Reference(r), Some(returned)) = (ty, returned) else {
        return Ok(());
    };
    let (mut out_named, mut out_elided) = (Vec::new(), false);
    lifetimes(returned.to_token_stream(), &mut out_named, &mut out_elided);
    let shared = match &r.lifetime {
        Some(l) if l.ident != "_" => out_named
            .iter()
            .any(|n| l.ident == n)
            .then(|| format!("`{l}`")),
        _ => (out_elided && !borrowed_receiver).then(|| "an elided lifetime".to_owned()),
    };
    match shared {
        None => Ok(()),
        Some(lifetime) => Err(syn::Error::new_spanned(
            ty,
            format!(
                "`#[interven::guard]` cannot rebind `{ident}`: the return type may borrow from it ({lifetime}), \
                 but a sanitized `{ident}` is an owned value that lives only during the call. \
                 Return owned data, give `{ident}` a lifetime of its own, or leave it out of the scan with `skip({ident})`"
            ),
        )),
    }
}

fn prelude(
    args: &GuardArgs,
    function: &ItemFn,
    params: &[Param],
    shape: &Shape,
    return_span: Span,
) -> TokenStream {
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::interven), ToTokens::to_token_stream);
    let p = quote!(#krate::__private);
    let mixed = Span::mixed_site();
    let error = Ident::new("__interven_error", mixed);
    let cleared = Ident::new("__interven_cleared", mixed);
    let site = Ident::new("__INTERVEN_SITE", mixed);
    let scanned = Ident::new("__interven_args", mixed);
    let request = Ident::new("__interven_request", mixed);
    let e = Ident::new("__interven_e", mixed);
    let v = Ident::new("__interven_v", mixed);

    let fn_name = name_of(&function.sig.ident);
    let tool = args
        .tool
        .clone()
        .unwrap_or_else(|| LitStr::new("", Span::call_site()));
    let operation = args
        .operation
        .clone()
        .unwrap_or_else(|| LitStr::new(&fn_name, function.sig.ident.span()));
    let method = args.method.as_ref().map_or_else(
        || LitStr::new("POST", Span::call_site()),
        |m| LitStr::new(&m.value().trim().to_ascii_uppercase(), m.span()),
    );
    let approval = match args.approval {
        Some(Approval::Error) => quote!(#p::ApprovalMode::Error),
        Some(Approval::Wait) | None => quote!(#p::ApprovalMode::Wait),
    };

    // Serializing each argument through a trait of its own, so that a type
    // that is not `Serialize` gets an error naming the argument.
    let mut scans = TokenStream::new();
    for (i, param) in params.iter().enumerate() {
        let tr = format_ident!("__IntervenScanArg{}", i, span = mixed);
        let Param {
            ident, name, cfgs, ..
        } = param;
        let message = format!(
            "argument `{name}` cannot be scanned: `{{Self}}` does not implement `serde::Serialize`"
        );
        let label = format!("`{name}` is serialized to JSON for the policy engine");
        let note = format!(
            "derive or implement `serde::Serialize` for `{{Self}}`, or leave the argument out of the scan with `#[interven::guard(..., skip({name}))]`"
        );
        // The call is spanned at the parameter, so that an argument that is
        // not `Serialize` is the error's location. (Items named at a mixed
        // site resolve at the call site: this names the same trait.)
        let tr_at_param = Ident::new(&tr.to_string(), param.span);
        let call = quote_spanned! {param.span=>
            #tr_at_param::__interven_scan(&#ident, &mut #scanned, #name);
        };
        scans.extend(quote! {
            #(#cfgs)*
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            trait #tr {
                fn __interven_scan(&self, args: &mut #p::Args, name: &'static str);
            }
            #(#cfgs)*
            impl<T: ?::core::marker::Sized + #p::serde::Serialize> #tr for T {
                fn __interven_scan(&self, args: &mut #p::Args, name: &'static str) {
                    args.push(name, self);
                }
            }
            #(#cfgs)*
            #call
        });
    }

    let url = args.url.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |u| quote!(::core::option::Option::Some(::core::convert::AsRef::<str>::as_ref(&(#u)))),
    );
    let asyncness = !matches!(shape, Shape::Sync);
    let (check, check_keyed, wait) = if asyncness {
        (quote!(check), quote!(check_keyed), quote!(.await))
    } else {
        (
            quote!(check_blocking),
            quote!(check_keyed_blocking),
            quote!(),
        )
    };
    let run = if let Some(client) = &args.client {
        quote!(#p::#check(#p::client(&(#client)), &#site, #request) #wait)
    } else if let Some(key) = &args.api_key {
        quote!(#p::#check_keyed(::core::convert::AsRef::<str>::as_ref(&(#key)), &#site, #request) #wait)
    } else {
        quote!(#p::#check(#krate::Client::global(), &#site, #request) #wait)
    };

    // Sanitized values, then one place that returns the error, then the rebinding.
    let mut rebinds = TokenStream::new();
    let mut shadows = TokenStream::new();
    for (i, param) in params.iter().enumerate() {
        let new = format_ident!("__interven_new{}", i, span = mixed);
        let Param {
            ident,
            name,
            cfgs,
            kind,
            mutable,
            ..
        } = param;
        let (owned, fallback, wrapper, arg) = match kind {
            Kind::Value => (
                quote!(RebindOwned),
                quote!(RebindFallback),
                quote!(Rebind),
                quote!(&#ident),
            ),
            Kind::Ref => (
                quote!(RebindRefOwned),
                quote!(RebindRefFallback),
                quote!(RebindRef),
                quote!(#ident),
            ),
            Kind::RefMut => (
                quote!(RebindMutOwned),
                quote!(RebindMutFallback),
                quote!(RebindMut),
                quote!(&*#ident),
            ),
        };
        let let_new = if *kind == Kind::RefMut {
            quote!(let mut #new)
        } else {
            quote!(let #new)
        };
        rebinds.extend(quote! {
            #(#cfgs)*
            #let_new = {
                use #p::{#owned as _, #fallback as _};
                #p::settle(&mut #error, (&&#p::#wrapper::new(#arg)).__interven_rebind(&#cleared, #name))
            };
        });
        let mut_token = mutable.then(|| quote!(mut));
        if *mutable && *kind != Kind::Value {
            // The parameter's own `mut` stays in use: the body mutates the shadow.
            shadows.extend(quote! {
                #(#cfgs)*
                let _ = &mut #ident;
            });
        }
        shadows.extend(match (kind, mutable) {
            (Kind::Value, true) => quote! {
                #(#cfgs)*
                if let ::core::option::Option::Some(#v) = #new {
                    #ident = #v;
                }
            },
            (Kind::Value, false) => quote! {
                #(#cfgs)*
                let #ident = #p::value_or(#new, #ident);
            },
            (Kind::Ref, _) => quote! {
                #(#cfgs)*
                let #mut_token #ident = #p::borrow_or(&#new, #ident);
            },
            (Kind::RefMut, _) => quote! {
                #(#cfgs)*
                let #mut_token #ident = #p::borrow_mut_or(&mut #new, #ident);
            },
        });
    }
    // Spanned at the return type, so that a return type that is not a
    // `Result`, or an error type without `From<interven::Error>`, is the
    // error's location.
    let fail_path = respan(p.clone(), return_span);
    let fail = quote_spanned! {return_span=>
        #fail_path::fail(#e)
    };

    quote! {
        let mut #error: ::core::option::Option<#krate::Error> = ::core::option::Option::None;
        let #cleared = {
            static #site: #p::Site = #p::Site {
                tool: #tool,
                operation: #operation,
                method: #method,
                function: ::core::concat!(::core::module_path!(), "::", #fn_name),
                file: ::core::file!(),
                line: ::core::line!(),
                approval: #approval,
            };
            #[allow(unused_mut)]
            let mut #scanned = #p::Args::new();
            #scans
            let #request = #p::request(&#site, #url, #scanned);
            #p::settle(&mut #error, #run)
        };
        #rebinds
        if let ::core::option::Option::Some(#e) = #error {
            return #fail;
        }
        #shadows
    }
}

/// The same tokens, every one at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                t = TokenTree::Group(group);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        guard(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn lifetimes_are_found_named_and_elided() {
        let (mut named, mut elided) = (Vec::new(), false);
        let ty: Type = syn::parse_quote!(Result<Cow<'a, str>, &'static E>);
        lifetimes(ty.to_token_stream(), &mut named, &mut elided);
        assert_eq!(named, ["a", "static"]);
        assert!(!elided);
        let ty: Type = syn::parse_quote!(Result<(&str, Foo<'_>)>);
        lifetimes(ty.to_token_stream(), &mut Vec::new(), &mut elided);
        assert!(elided);
    }

    #[test]
    fn a_return_borrowing_a_rebound_argument_is_an_error() {
        let out = expand_str("tool = \"t\"", "fn f(x: &str) -> Result<&str, E> { Ok(x) }");
        assert!(out.contains("cannot rebind `x`"), "{out}");
        // Borrowing from `&self` (elision picks the receiver) or another lifetime is fine.
        let out = expand_str(
            "tool = \"t\"",
            "fn f(&self, x: &str) -> Result<&str, E> { Ok(\"\") }",
        );
        assert!(!out.contains("compile_error"), "{out}");
        let out = expand_str(
            "tool = \"t\", skip(c)",
            "fn f<'a, 'b>(c: &'a C, x: &'b str) -> Result<&'a str, E> { c.get(x) }",
        );
        assert!(!out.contains("compile_error"), "{out}");
        // A skipped argument is not rebound.
        let out = expand_str(
            "tool = \"t\", skip(x)",
            "fn f(x: &str) -> Result<&str, E> { Ok(x) }",
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn on_error_the_original_item_is_still_emitted() {
        let out = expand_str("", "pub fn keep_me(x: u8) -> Result<u8, E> { Ok(x) }");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("pub fn keep_me"), "{out}");
        assert!(!out.contains("__private"), "{out}");
    }

    #[test]
    fn async_trait_bodies_get_the_prelude_inside_their_async_block() {
        let out = expand_str(
            "tool = \"t\"",
            "fn f<'a>(&'a self, x: u8) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + 'a>> {
                 Box::pin(async move { let __self = self; Ok(x) })
             }",
        );
        let pin = out.find("Box :: pin (async move").unwrap();
        let scan = out.find("__private :: check (").unwrap();
        assert!(scan > pin, "{out}");
        assert!(out.contains(". await"), "{out}");
    }

    #[test]
    fn rmcp_context_parameters_are_never_scanned() {
        let out = expand_str(
            "tool = \"mail\"",
            "#[tool(description = \"Send\")]
             async fn send(&self, Parameters(req): Parameters<Req>, ctx: RequestContext<RoleServer>,
                           peer: Peer<RoleServer>, Extension(db): Extension<Db>) -> Result<CallToolResult, ErrorData> { todo!() }",
        );
        assert!(out.contains("\"req\""), "{out}");
        for name in ["\"ctx\"", "\"peer\"", "\"db\""] {
            assert!(!out.contains(name), "{name} scanned: {out}");
        }
        // The attribute is kept, after the guard's own expansion, for rmcp to expand.
        assert!(out.contains("# [tool (description = \"Send\")]"), "{out}");
        // Outside a `#[tool]`, a type of that name is scanned unless spelled `rmcp::...`.
        let out = expand_str(
            "tool = \"t\"",
            "async fn f(peer: Peer, ctx: rmcp::service::RequestContext<R>) -> Result<(), E> { Ok(()) }",
        );
        assert!(
            out.contains("\"peer\"") && !out.contains("\"ctx\""),
            "{out}"
        );
    }

    #[test]
    fn below_rmcp_tool_is_an_error_that_says_to_move_it_up() {
        let out = expand_str(
            "tool = \"mail\"",
            "fn send(&self) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = Result<CallToolResult, ErrorData>> + Send + '_>> {
                 Box::pin(async move { Ok(CallToolResult::success(vec![])) })
             }",
        );
        assert!(
            out.contains("put `#[interven::guard]` above `#[tool]`"),
            "{out}"
        );
        // A hand-written boxed future (as `#[async_trait]` writes it) is still guarded.
        let out = expand_str(
            "tool = \"t\"",
            "fn f(&self) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u8, E>> + ::core::marker::Send + 'async_trait>> {
                 Box::pin(async move { let __self = self; Ok(1) })
             }",
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn generated_paths_are_absolute() {
        let out = expand_str("tool = \"t\"", "fn f(x: u8) -> Result<u8, E> { Ok(x) }");
        let prelude = &out[out.find('{').unwrap()..out.rfind("{ Ok (x) }").unwrap()];
        let tokens: Vec<&str> = prelude.split_whitespace().collect();
        for (i, t) in tokens.iter().enumerate() {
            if [
                "Option", "Some", "None", "Result", "From", "Ok", "Err", "AsRef",
            ]
            .contains(t)
            {
                assert_eq!(tokens[i - 1], "::", "bare `{t}` in {prelude}");
            }
        }
        assert!(
            out.contains(":: interven :: __private :: check_blocking"),
            "{out}"
        );
    }
}
