//! Runtime support for the code that `#[interven::guard]` and `gate!` generate.
//!
//! **Not public API.** Everything here may change in any release without
//! notice; use [`guard`](crate::guard), [`gate!`](crate::gate) and
//! [`Client`] instead. The macros stay thin: they parse, check misuse, and
//! call into this module, where all behaviour lives and is unit-tested
//! without macros.

use std::borrow::{Borrow, BorrowMut};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::Client;
use crate::error::{Error, Result};
use crate::types::{Decision, ScanRequest, Verdict};

pub use serde;
pub use serde_json;

pub use crate::gate::GateBuilder;

/// What a guarded function does on `REQUIRE_APPROVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalMode {
    /// Wait for a human (the client's timeout and poll interval), re-scan, then run or fail.
    Wait,
    /// Return [`Error::ApprovalRequired`] at once.
    Error,
}

/// A guarded function or a `gate!` call site, as the macro saw it.
#[derive(Debug)]
pub struct Site {
    /// The tool (`tool = "..."`); empty for a `gate!` without one.
    pub tool: &'static str,
    /// The operation (`operation = "..."`, default the function's name).
    pub operation: &'static str,
    /// The HTTP method, upper case (`method = "..."`, default `POST`).
    pub method: &'static str,
    /// `module_path!()` of the call site, plus `::name` for a guarded function.
    pub function: &'static str,
    /// `file!()` of the call site.
    pub file: &'static str,
    /// `line!()` of the call site.
    pub line: u32,
    /// What to do on `REQUIRE_APPROVAL`.
    pub approval: ApprovalMode,
}

impl Site {
    /// The URL of a request without an explicit one: `tool://<tool>/<operation>`.
    fn default_url(&self) -> String {
        format!("tool://{}/{}", self.tool, self.operation)
    }

    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "interven.guard",
            tool = self.tool,
            operation = self.operation,
            function = self.function,
            file = self.file,
            line = self.line,
        )
    }
}

/// The scanned arguments of a guarded call: name → JSON value.
#[derive(Default)]
pub struct Args {
    values: Map<String, Value>,
    error: Option<Error>,
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the values may be secrets.
        f.debug_struct("Args")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("error", &self.error)
            .finish()
    }
}

impl Args {
    /// No arguments yet.
    pub fn new() -> Args {
        Args::default()
    }

    /// Adds one argument. A serialization failure is kept (the first one
    /// wins) and reported when the request is built.
    pub fn push<T: ?Sized + Serialize>(&mut self, name: &'static str, value: &T) {
        if self.error.is_some() {
            return;
        }
        match serde_json::to_value(value) {
            Ok(v) => {
                self.values.insert(name.to_owned(), v);
            }
            Err(source) => {
                self.error = Some(Error::Serialize {
                    argument: Some(name.to_owned()),
                    source,
                });
            }
        }
    }
}

/// The scan request of a guarded call.
///
/// # Errors
/// [`Error::Serialize`] naming the first argument that could not be serialized.
pub fn request(site: &Site, url: Option<&str>, args: Args) -> Result<ScanRequest> {
    if let Some(e) = args.error {
        return Err(e);
    }
    let url = url.map_or_else(|| site.default_url(), str::to_owned);
    ScanRequest::builder(site.method, url)
        .json_body(Value::Object(args.values))
        .tool(site.tool)
        .operation(site.operation)
        .build()
}

/// The client named by `client = <expr>`: a `Client`, `&Client`, `Arc<Client>`…
pub fn client<C: ?Sized + Borrow<Client>>(client: &C) -> &Client {
    client.borrow()
}

/// The client for `api_key = <expr>`: a gateway client with that key and the
/// rest of the environment, built once per key and then reused.
///
/// # Errors
/// [`Error::Config`] when the client cannot be built (e.g. an invalid
/// `INTERVEN_GATEWAY_URL`) or the key is empty.
pub fn keyed_client(key: &str) -> Result<Client> {
    use sha2::Digest;
    static CLIENTS: OnceLock<Mutex<HashMap<[u8; 32], Client>>> = OnceLock::new();
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::config(
            "the `api_key` given to #[interven::guard] is empty",
        ));
    }
    // Only a hash of the key is kept as the cache's key.
    let id: [u8; 32] = sha2::Sha256::digest(key.as_bytes()).into();
    let clients = CLIENTS.get_or_init(Mutex::default);
    let mut clients = clients
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(client) = clients.get(&id) {
        return Ok(client.clone());
    }
    let client = Client::builder().with_env().api_key(key).build()?;
    clients.insert(id, client.clone());
    Ok(client)
}

/// What a guarded call may run with, once the engine cleared it.
#[derive(Default)]
pub struct Cleared {
    /// For `SANITIZE`: the scanned body and the engine's sanitized body.
    sanitized: Option<(Value, Map<String, Value>)>,
}

impl fmt::Debug for Cleared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the original values.
        f.debug_struct("Cleared")
            .field("sanitized", &self.sanitized.is_some())
            .finish()
    }
}

impl Cleared {
    /// The sanitized value of argument `name`, when the engine changed it.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when the sanitized body has no value for a scanned argument.
    pub fn changed(&self, name: &str) -> Result<Option<&Value>> {
        let Some((original, sanitized)) = &self.sanitized else {
            return Ok(None);
        };
        let Some(original) = original.get(name) else {
            // Not scanned (skipped): never rebound.
            return Ok(None);
        };
        match sanitized.get(name) {
            Some(value) if value == original => Ok(None),
            Some(value) => Ok(Some(value)),
            None => Err(sanitize_error(
                name,
                "the engine's sanitized body has no value for it",
            )),
        }
    }
}

fn sanitize_error(argument: &str, why: &str) -> Error {
    Error::Sanitize {
        argument: argument.to_owned(),
        source: <serde_json::Error as serde::de::Error>::custom(why),
    }
}

/// Enforces a verdict: `Ok` when the call may run, the error to return otherwise.
pub(crate) fn enforce(site: &Site, request: ScanRequest, verdict: Verdict) -> Result<Cleared> {
    match verdict.decision {
        Decision::Allow => Ok(Cleared::default()),
        // A guarded function cannot change its URL or headers: when the
        // engine redacted there, the call does not run.
        Decision::Sanitize
            if verdict.sanitized_url().is_some() || verdict.sanitized_headers().is_some() =>
        {
            Err(Error::invalid_response(
                "the engine redacted the URL or headers of a guarded function, which cannot send them changed",
            ))
        }
        Decision::Sanitize => match verdict.sanitized_body {
            Some(Value::Object(sanitized)) => Ok(Cleared {
                sanitized: Some((request.body().clone(), sanitized)),
            }),
            _ => Err(Error::invalid_response(
                "a SANITIZE verdict for a guarded function must carry the arguments as a JSON object",
            )),
        },
        Decision::Deny => Err(Error::Blocked {
            tool: site.tool.to_owned(),
            operation: site.operation.to_owned(),
            reason_codes: verdict.reason_codes,
            trace_id: verdict.trace_id,
        }),
        Decision::RequireApproval => Err(approval_required(site.tool, site.operation, verdict)),
    }
}

pub(crate) fn approval_required(tool: &str, operation: &str, verdict: Verdict) -> Error {
    match verdict.approval_id {
        Some(approval_id) => Error::ApprovalRequired {
            tool: tool.to_owned(),
            operation: operation.to_owned(),
            approval_id,
            reason_codes: verdict.reason_codes,
            trace_id: verdict.trace_id,
        },
        None => Error::invalid_response("REQUIRE_APPROVAL verdict without an approval_id"),
    }
}

/// Waits for the approval a verdict asks for, then scans the request again.
pub(crate) async fn approve_and_rescan(
    client: &Client,
    request: &ScanRequest,
    verdict: &Verdict,
) -> Result<Verdict> {
    let id = approval_id(verdict)?;
    client
        .wait_for_approval(
            id,
            client.approval_timeout(),
            client.approval_poll_interval(),
        )
        .await?;
    client.scan(request).await
}

/// Blocking twin of [`approve_and_rescan`].
pub(crate) fn approve_and_rescan_blocking(
    client: &Client,
    request: &ScanRequest,
    verdict: &Verdict,
) -> Result<Verdict> {
    let id = approval_id(verdict)?;
    client.wait_for_approval_blocking(
        id,
        client.approval_timeout(),
        client.approval_poll_interval(),
    )?;
    client.scan_blocking(request)
}

fn approval_id(verdict: &Verdict) -> Result<&crate::ApprovalId> {
    verdict
        .approval_id
        .as_ref()
        .ok_or_else(|| Error::invalid_response("REQUIRE_APPROVAL verdict without an approval_id"))
}

fn waits(site: &Site, verdict: &Verdict) -> bool {
    site.approval == ApprovalMode::Wait && verdict.decision == Decision::RequireApproval
}

/// Scans a guarded call and enforces the verdict (async functions).
///
/// # Errors
/// Whatever kept the call from running: a denial, an approval that did not come, a sanitized value that does not fit, or any error of [`Client::scan`].
pub async fn check(client: &Client, site: &Site, request: Result<ScanRequest>) -> Result<Cleared> {
    async {
        let request = request?;
        let mut verdict = client.scan(&request).await?;
        if waits(site, &verdict) {
            verdict = approve_and_rescan(client, &request, &verdict).await?;
        }
        enforce(site, request, verdict)
    }
    .instrument(site.span())
    .await
}

/// [`check`] with the client of `api_key = <expr>`.
///
/// # Errors
/// As [`keyed_client`] and [`check`].
pub async fn check_keyed(key: &str, site: &Site, request: Result<ScanRequest>) -> Result<Cleared> {
    let client = keyed_client(key)?;
    check(&client, site, request).await
}

/// Blocking twin of [`check`] (sync functions); safe inside a tokio runtime.
///
/// # Errors
/// As [`check`].
pub fn check_blocking(
    client: &Client,
    site: &Site,
    request: Result<ScanRequest>,
) -> Result<Cleared> {
    let _span = site.span().entered();
    let request = request?;
    let mut verdict = client.scan_blocking(&request)?;
    if waits(site, &verdict) {
        verdict = approve_and_rescan_blocking(client, &request, &verdict)?;
    }
    enforce(site, request, verdict)
}

/// Blocking twin of [`check_keyed`].
///
/// # Errors
/// As [`check_keyed`].
pub fn check_keyed_blocking(
    key: &str,
    site: &Site,
    request: Result<ScanRequest>,
) -> Result<Cleared> {
    let client = keyed_client(key)?;
    check_blocking(&client, site, request)
}

/// Unwraps a step of the guard: on error, keeps the first error in `error`
/// and goes on with the default (a call that changes nothing), so that the
/// generated code has a single place that returns the error.
pub fn settle<T: Default>(error: &mut Option<Error>, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            error.get_or_insert(e);
            T::default()
        }
    }
}

/// The argument's sanitized value, or the original when it did not change.
pub fn value_or<T>(sanitized: Option<T>, original: T) -> T {
    sanitized.unwrap_or(original)
}

/// A reference argument: the owned sanitized value when there is one, the
/// caller's reference otherwise. The caller's value is never written to.
pub fn borrow_or<'s, B: ?Sized, O: Borrow<B>>(sanitized: &'s Option<O>, original: &'s B) -> &'s B {
    match sanitized {
        Some(owned) => owned.borrow(),
        None => original,
    }
}

/// Mutable twin of [`borrow_or`]: the body then mutates the owned sanitized
/// value, never the caller's.
pub fn borrow_mut_or<'s, B: ?Sized, O: BorrowMut<B>>(
    sanitized: &'s mut Option<O>,
    original: &'s mut B,
) -> &'s mut B {
    match sanitized {
        Some(owned) => owned.borrow_mut(),
        None => original,
    }
}

fn deserialize<T: DeserializeOwned>(name: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|source| Error::Sanitize {
        argument: name.to_owned(),
        source,
    })
}

fn unsupported(name: &str, type_name: &str) -> Error {
    sanitize_error(
        name,
        &format!(
            "`{type_name}` does not implement `serde::de::DeserializeOwned` (for a reference, its owned form), so the sanitized value cannot be rebound; the call fails closed"
        ),
    )
}

/// A by-value argument to rebind (see [`RebindOwned`] and [`RebindFallback`]).
#[derive(Debug)]
pub struct Rebind<'a, T: ?Sized>(PhantomData<&'a T>);

impl<'a, T: ?Sized> Rebind<'a, T> {
    /// Wraps the argument.
    pub fn new(_value: &'a T) -> Self {
        Rebind(PhantomData)
    }
}

/// Rebinding through `Deserialize`, chosen by method resolution (autoref
/// specialization) when the argument's type allows it.
pub trait RebindOwned<T> {
    /// The argument's sanitized value, `None` when the engine did not change it.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when the sanitized value does not fit the type.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<T>>;
}

impl<T: DeserializeOwned> RebindOwned<T> for &Rebind<'_, T> {
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<T>> {
        rebind_changed(cleared, name)
    }
}

/// The fallback for a type that cannot be deserialized (`impl Trait`, a
/// generic without the bound): a changed value fails closed.
pub trait RebindFallback<T> {
    /// `None` when the engine did not change the argument.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when it did: the value cannot be rebound.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<T>>;
}

impl<T> RebindFallback<T> for Rebind<'_, T> {
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<T>> {
        fallback_changed(cleared, name, std::any::type_name::<T>())
    }
}

/// A `&B` or `&mut B` argument to rebind to an owned `B::Owned`.
#[derive(Debug)]
pub struct RebindRef<'a, B: ?Sized>(PhantomData<&'a B>);

impl<'a, B: ?Sized> RebindRef<'a, B> {
    /// Wraps the argument.
    pub fn new(_value: &'a B) -> Self {
        RebindRef(PhantomData)
    }
}

/// Rebinding a reference through `ToOwned` + `Deserialize`.
pub trait RebindRefOwned<O> {
    /// The argument's owned sanitized value, `None` when the engine did not change it.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when the sanitized value does not fit the type.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<O>>;
}

impl<B> RebindRefOwned<B::Owned> for &RebindRef<'_, B>
where
    B: ?Sized + ToOwned,
    B::Owned: DeserializeOwned,
{
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<B::Owned>> {
        rebind_changed(cleared, name)
    }
}

/// The fallback for a reference whose target has no deserializable owned form.
pub trait RebindRefFallback<B: ?Sized> {
    /// `None` when the engine did not change the argument.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when it did: the value cannot be rebound.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<Box<B>>>;
}

impl<B: ?Sized> RebindRefFallback<B> for RebindRef<'_, B> {
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<Box<B>>> {
        fallback_changed(cleared, name, std::any::type_name::<B>())
    }
}

/// A `&mut B` argument to rebind to an owned `B::Owned` that the body may mutate.
#[derive(Debug)]
pub struct RebindMut<'a, B: ?Sized>(PhantomData<&'a B>);

impl<'a, B: ?Sized> RebindMut<'a, B> {
    /// Wraps the argument (reborrowed shared: it is only read here).
    pub fn new(_value: &'a B) -> Self {
        RebindMut(PhantomData)
    }
}

/// Rebinding a mutable reference through `ToOwned` + `Deserialize` + `BorrowMut`.
pub trait RebindMutOwned<O> {
    /// The argument's owned sanitized value, `None` when the engine did not change it.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when the sanitized value does not fit the type.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<O>>;
}

impl<B> RebindMutOwned<B::Owned> for &RebindMut<'_, B>
where
    B: ?Sized + ToOwned,
    B::Owned: DeserializeOwned + BorrowMut<B>,
{
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<B::Owned>> {
        rebind_changed(cleared, name)
    }
}

/// The fallback for a mutable reference without a suitable owned form.
pub trait RebindMutFallback<B: ?Sized> {
    /// `None` when the engine did not change the argument.
    ///
    /// # Errors
    /// [`Error::Sanitize`] when it did: the value cannot be rebound.
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<Box<B>>>;
}

impl<B: ?Sized> RebindMutFallback<B> for RebindMut<'_, B> {
    fn __interven_rebind(&self, cleared: &Cleared, name: &str) -> Result<Option<Box<B>>> {
        fallback_changed(cleared, name, std::any::type_name::<B>())
    }
}

fn rebind_changed<T: DeserializeOwned>(cleared: &Cleared, name: &str) -> Result<Option<T>> {
    cleared
        .changed(name)?
        .map(|v| deserialize(name, v))
        .transpose()
}

fn fallback_changed<T>(cleared: &Cleared, name: &str, type_name: &str) -> Result<Option<T>> {
    match cleared.changed(name)? {
        None => Ok(None),
        Some(_) => Err(unsupported(name, type_name)),
    }
}

/// The return type of a guarded function: a `Result`.
#[diagnostic::on_unimplemented(
    message = "a function with `#[interven::guard]` must return a `Result`, not `{Self}`",
    label = "the guard returns its error through this `Result`",
    note = "return `Result<T, E>` where `E: From<interven::Error>`, e.g. `interven::Result<T>`, `anyhow::Result<T>` or `Result<T, Box<dyn std::error::Error>>`"
)]
pub trait GuardReturn {
    /// The success type.
    type Ok;
    /// The error type.
    type Err;
    /// The `Result` itself.
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> GuardReturn for ::core::result::Result<T, E> {
    type Ok = T;
    type Err = E;
    fn from_result(result: Result<T, E>) -> Self {
        result
    }
}

/// The error type of a guarded function: it can hold an [`Error`].
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a function with `#[interven::guard]` cannot hold an `interven::Error`",
    label = "the guard returns `interven::Error` through this type",
    note = "implement `From<interven::Error>` for `{Self}` (e.g. a `#[from]` variant with thiserror), or return `interven::Result`, `anyhow::Result` or `Box<dyn std::error::Error>`"
)]
///
/// `T` is the function's success type: with the `rmcp` feature, an rmcp
/// tool returning `Result<CallToolResult, ErrorData>` answers a denial with
/// `Ok` (a tool result with `isError: true`), see `interven::rmcp`.
pub trait GuardError<T>: Sized {
    /// What the guarded function returns instead of running.
    fn fail(error: Error) -> Result<T, Self>;
}

impl<T, E: From<Error>> GuardError<T> for E {
    fn fail(error: Error) -> Result<T, E> {
        Err(E::from(error))
    }
}

/// `Err(E::from(error))` in the guarded function's own `Result` type (or
/// what its [`GuardError`] impl answers instead).
pub fn fail<R>(error: Error) -> R
where
    R: GuardReturn,
    R::Err: GuardError<R::Ok>,
{
    R::from_result(<R::Err as GuardError<R::Ok>>::fail(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceId;
    use serde_json::json;

    fn trace(id: &str) -> TraceId {
        TraceId::new(id)
    }

    static SITE: Site = Site {
        tool: "slack",
        operation: "post_message",
        method: "POST",
        function: "tests::post_message",
        file: file!(),
        line: line!(),
        approval: ApprovalMode::Error,
    };

    fn args(pairs: &[(&'static str, Value)]) -> Args {
        let mut a = Args::new();
        for (k, v) in pairs {
            a.push(k, v);
        }
        a
    }

    fn sanitize(original: Value, sanitized: Value) -> Cleared {
        let req = ScanRequest::builder("POST", "tool://slack/post_message")
            .json_body(original)
            .build()
            .unwrap();
        let mut v = Verdict::new(Decision::Sanitize, trace("t1"));
        v.sanitized_body = Some(sanitized);
        enforce(&SITE, req, v).unwrap()
    }

    #[test]
    fn request_names_tool_and_operation_without_a_url() {
        let req = request(&SITE, None, args(&[("channel", json!("#ops"))])).unwrap();
        assert_eq!(req.url(), "tool://slack/post_message");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.tool(), Some("slack"));
        assert_eq!(req.operation(), Some("post_message"));
        assert_eq!(req.body(), &json!({"channel": "#ops"}));
        let req = request(&SITE, Some("https://x.io/a"), Args::new()).unwrap();
        assert_eq!(req.url(), "https://x.io/a");
        assert_eq!(req.body(), &json!({}));
    }

    #[test]
    fn serialization_failure_names_the_argument() {
        let mut a = Args::new();
        let mut bad = std::collections::HashMap::new();
        bad.insert((1, 2), 3); // tuple keys are not JSON object keys
        a.push("ok", &1);
        a.push("bad", &bad);
        a.push("later", &std::collections::HashMap::from([((0, 0), 0)]));
        let err = request(&SITE, None, a).unwrap_err();
        assert!(
            matches!(&err, Error::Serialize { argument: Some(n), .. } if n == "bad"),
            "{err:?}"
        );
    }

    #[test]
    fn deny_and_approval_become_errors_with_codes_and_trace() {
        let req = ScanRequest::new("POST", "x");
        let mut v = Verdict::new(Decision::Deny, trace("tr_9"));
        v.reason_codes = vec!["SECRET_DETECTED".into()];
        let err = enforce(&SITE, req.clone(), v).unwrap_err();
        assert!(err.is_blocked());
        assert_eq!(err.reason_codes(), ["SECRET_DETECTED"]);
        assert_eq!(err.trace_id().unwrap().as_str(), "tr_9");
        assert!(err.to_string().contains("slack.post_message"));

        let mut v = Verdict::new(Decision::RequireApproval, trace("tr_8"));
        v.approval_id = Some("ap_1".into());
        v.reason_codes = vec!["DESTRUCTIVE_OPERATION".into()];
        let err = enforce(&SITE, req.clone(), v).unwrap_err();
        assert!(matches!(&err, Error::ApprovalRequired { .. }));
        assert_eq!(err.approval_id().unwrap().as_str(), "ap_1");
        assert_eq!(err.trace_id().unwrap().as_str(), "tr_8");

        // Never a silent allow on a malformed verdict.
        let v = Verdict::new(Decision::RequireApproval, trace("t"));
        assert!(enforce(&SITE, req.clone(), v).is_err());
        let v = Verdict::new(Decision::Sanitize, trace("t"));
        assert!(enforce(&SITE, req.clone(), v).is_err());
        let mut v = Verdict::new(Decision::Sanitize, trace("t"));
        v.sanitized_body = Some(json!("not an object"));
        assert!(enforce(&SITE, req.clone(), v).is_err());
        // A guarded function cannot send a redacted URL or headers: an error, never a run.
        for field in ["sanitized_url", "sanitized_headers"] {
            let mut v = Verdict::new(Decision::Sanitize, trace("t"));
            v.sanitized_body = Some(json!({}));
            let value = if field == "sanitized_url" {
                json!("https://x.io/[REDACTED:EMAIL]")
            } else {
                json!({"X-To": "[REDACTED:EMAIL]"})
            };
            v.extra.insert(field.into(), value);
            assert!(enforce(&SITE, req.clone(), v).is_err(), "{field}");
        }
    }

    #[test]
    fn debug_never_shows_argument_values() {
        let a = args(&[("password", json!("hunter2"))]);
        let c = sanitize(json!({"p": "hunter2"}), json!({"p": "[REDACTED:SECRET]"}));
        let dbg = format!("{a:?} {c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("password"), "{dbg}");
    }

    #[test]
    fn allow_changes_nothing() {
        let c = enforce(
            &SITE,
            ScanRequest::new("POST", "x"),
            Verdict::new(Decision::Allow, trace("t")),
        )
        .unwrap();
        assert_eq!(c.changed("anything").unwrap(), None);
    }

    #[test]
    fn only_changed_arguments_are_reported() {
        let c = sanitize(
            json!({"a": "x@y.io", "b": 1}),
            json!({"a": "[REDACTED:EMAIL]", "b": 1}),
        );
        assert_eq!(c.changed("a").unwrap(), Some(&json!("[REDACTED:EMAIL]")));
        assert_eq!(c.changed("b").unwrap(), None);
        assert_eq!(c.changed("skipped").unwrap(), None);
        let c = sanitize(json!({"a": "x"}), json!({}));
        assert!(matches!(c.changed("a"), Err(Error::Sanitize { .. })));
    }

    #[test]
    // `&&` is the autoref specialization the generated code relies on.
    #[allow(clippy::needless_borrow)]
    fn rebind_by_value_deserializes_or_fails_closed() {
        let c = sanitize(
            json!({"s": "x@y.io", "n": 1}),
            json!({"s": "[R]", "n": "oops"}),
        );
        let s = String::from("x@y.io");
        assert_eq!(
            (&&Rebind::new(&s)).__interven_rebind(&c, "s").unwrap(),
            Some("[R]".to_owned())
        );
        let n = 1_u32;
        let err = (&&Rebind::new(&n)).__interven_rebind(&c, "n").unwrap_err();
        assert!(matches!(&err, Error::Sanitize { argument, .. } if argument == "n"));

        // A type without Deserialize takes the fallback: fails closed when changed.
        #[derive(Debug, Serialize)]
        struct OnlySer(String);
        let o = OnlySer("x@y.io".into());
        let err = (&&Rebind::new(&o)).__interven_rebind(&c, "s").unwrap_err();
        assert!(err.to_string().contains("`s`"), "{err}");
        let unchanged = Cleared::default();
        assert!(
            (&&Rebind::new(&o))
                .__interven_rebind(&unchanged, "s")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rebind_references_to_owned_values_without_writing_through() {
        let c = sanitize(
            json!({"s": "x@y.io", "v": ["x@y.io"], "m": ["keep"]}),
            json!({"s": "[R]", "v": ["[R]"], "m": ["[R]"]}),
        );
        let s: &str = "x@y.io";
        let owned = (&&RebindRef::new(s)).__interven_rebind(&c, "s").unwrap();
        assert_eq!(borrow_or(&owned, s), "[R]");
        let v: &[String] = &["x@y.io".to_owned()];
        let owned = (&&RebindRef::new(v)).__interven_rebind(&c, "v").unwrap();
        assert_eq!(borrow_or(&owned, v), ["[R]"]);

        let mut caller = vec!["keep".to_owned()];
        let m: &mut Vec<String> = &mut caller;
        let mut owned = (&&RebindMut::new(&*m)).__interven_rebind(&c, "m").unwrap();
        let rebound = borrow_mut_or(&mut owned, m);
        rebound.push("added".into());
        assert_eq!(rebound, &["[R]", "added"]);
        assert_eq!(caller, ["keep"]);

        let none: Option<String> = None;
        assert_eq!(borrow_or(&none, "orig"), "orig");
    }

    #[test]
    fn settle_keeps_the_first_error() {
        let mut e = None;
        let a: Option<u8> = settle(&mut e, Ok(Some(1)));
        assert_eq!(a, Some(1));
        let b: Option<u8> = settle(&mut e, Err(Error::config("first")));
        let _: Option<u8> = settle(&mut e, Err(Error::config("second")));
        assert_eq!(b, None);
        assert!(e.unwrap().to_string().contains("first"));
    }

    #[test]
    fn fail_converts_into_the_functions_error_type() {
        let r: Result<(), Box<dyn std::error::Error>> = fail(Error::config("x"));
        assert!(r.unwrap_err().to_string().contains("x"));
        let r: Result<u8> = fail(Error::config("y"));
        assert!(matches!(r, Err(Error::Config { .. })));
    }

    #[test]
    fn client_accepts_owned_borrowed_and_shared_clients() {
        let c = Client::local_default();
        let _: &Client = client(&c);
        let r = &c;
        let _: &Client = client(&r);
        let a = std::sync::Arc::new(c.clone());
        let _: &Client = client(&a);
    }

    #[test]
    fn keyed_clients_are_cached_per_key_and_empty_keys_fail() {
        assert!(keyed_client("  ").is_err());
        let a = keyed_client("k-1").unwrap();
        assert!(a.is_remote());
        let b = keyed_client("k-1").unwrap();
        let dbg = format!("{a:?} {b:?}");
        assert!(!dbg.contains("k-1"), "{dbg}");
    }

    #[tokio::test]
    async fn check_scans_on_the_embedded_engine_and_the_future_is_send() {
        fn assert_send<T: Send>(t: T) -> T {
            t
        }
        let client = Client::local_default();
        let req = request(&SITE, None, args(&[("text", json!("hi"))]));
        let cleared = assert_send(check(&client, &SITE, req)).await.unwrap();
        assert_eq!(cleared.changed("text").unwrap(), None);
        let req = request(&SITE, None, Args::new());
        assert!(check_blocking(&client, &SITE, req).is_ok());
        // A request that failed to build fails the check.
        let err = check(&client, &SITE, Err(Error::config("bad")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bad"));
    }
}
