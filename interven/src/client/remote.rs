//! The gateway over HTTP: requests, classification of answers, retries.

use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode, Url, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::RetryPolicy;
use crate::error::{Error, Result};
use crate::types::{Approval, ApprovalId, ResponseScan, ScanRequest, TraceId, Verdict};

/// The longest error message kept from a gateway's answer.
const MAX_ERROR_MESSAGE: usize = 300;

pub(super) struct Remote {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
}

/// What one attempt came to.
enum Attempt {
    /// A 2xx answer's body.
    Done(bytes::Bytes),
    /// A transient failure: retry after the backoff, or after the server's delay.
    Retry(Error, Option<Duration>),
    /// A failure that retrying cannot fix.
    Fatal(Error),
}

impl Remote {
    pub(super) fn new(
        url: &str,
        api_key: SecretString,
        http: Option<reqwest::Client>,
        timeout: Duration,
        connect_timeout: Duration,
        deadline: Duration,
        retry: RetryPolicy,
    ) -> Result<Remote> {
        let mut base = Url::parse(url.trim()).map_err(|e| Error::Config {
            message: format!("INTERVEN_GATEWAY_URL `{url}` is not a valid URL"),
            source: Some(Box::new(e)),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::config(format!(
                "INTERVEN_GATEWAY_URL `{url}` must be an http:// or https:// URL with a host"
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::config(
                "INTERVEN_GATEWAY_URL must not carry credentials; set INTERVEN_API_KEY instead",
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if api_key
            .expose_secret()
            .chars()
            .any(|c| c.is_control() || c == ' ')
        {
            return Err(Error::config(
                "INTERVEN_API_KEY contains spaces or control characters",
            ));
        }
        let http = match http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .user_agent(concat!("interven-rust/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config {
                    message: "could not build the HTTP client".to_owned(),
                    source: Some(Box::new(e)),
                })?,
        };
        Ok(Remote {
            http,
            base,
            api_key,
            timeout,
            deadline,
            retry,
        })
    }

    pub(super) fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub(super) async fn scan(&self, request: &ScanRequest) -> Result<Verdict> {
        let bytes = self
            .call(Method::POST, self.url(&["v1", "scan"]), Some(request))
            .await?;
        Verdict::from_json(&bytes)
    }

    pub(super) async fn scan_response(
        &self,
        trace_id: &TraceId,
        body: &Value,
        status: Option<u16>,
    ) -> Result<ResponseScan> {
        let mut payload = json!({ "trace_id": trace_id, "response_body": body });
        if let Some(status) = status {
            payload["response_status"] = json!(status);
        }
        let bytes = self
            .call(
                Method::POST,
                self.url(&["v1", "scan", "response"]),
                Some(&payload),
            )
            .await?;
        parse(&bytes, "response scan")
    }

    pub(super) async fn approval_status(&self, id: &ApprovalId) -> Result<Approval> {
        let url = self.url(&["v1", "approvals", id.as_str(), "status"]);
        let bytes = self.call::<()>(Method::GET, url, None).await?;
        parse(&bytes, "approval status")
    }

    pub(super) async fn health(&self) -> Result<()> {
        self.call::<()>(Method::GET, self.url(&["health"]), None)
            .await
            .map(drop)
    }

    /// The base URL with path segments appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One call with retries, bounded by the deadline.
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<bytes::Bytes> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|source| Error::Serialize {
                argument: None,
                source,
            })?;
        let retries = async {
            let mut retry = 0;
            loop {
                let (error, delay) = match self
                    .attempt(method.clone(), url.clone(), body.clone())
                    .await
                {
                    Attempt::Done(bytes) => return Ok(bytes),
                    Attempt::Fatal(error) => return Err(error),
                    Attempt::Retry(error, delay) => (error, delay),
                };
                if retry + 1 >= self.retry.attempts() {
                    return Err(error);
                }
                let delay = match (&error, delay) {
                    (Error::RateLimited { .. }, Some(d)) if d > self.retry.retry_after_cap() => {
                        return Err(error);
                    }
                    (_, Some(d)) => d,
                    (_, None) => self.retry.backoff(retry),
                };
                tracing::debug!(error = %error, retry = retry + 1, delay_ms = delay.as_millis() as u64, "retrying gateway call");
                tokio::time::sleep(delay).await;
                retry += 1;
            }
        };
        tokio::time::timeout(self.deadline, retries)
            .await
            .unwrap_or(Err(Error::Timeout {
                timeout: self.deadline,
            }))
    }

    async fn attempt(&self, method: Method, url: Url, body: Option<Vec<u8>>) -> Attempt {
        let mut request = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header(header::ACCEPT, "application/json")
            .bearer_auth(self.api_key.expose_secret());
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Retry(self.network_error(e), None),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Attempt::Retry(self.network_error(e), None),
        };
        if status.is_success() {
            return Attempt::Done(bytes);
        }
        let message = error_message(status, &bytes);
        match status {
            StatusCode::UNAUTHORIZED => Attempt::Fatal(Error::Authentication),
            StatusCode::PAYLOAD_TOO_LARGE => Attempt::Fatal(Error::PayloadTooLarge),
            StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry(Error::RateLimited { retry_after }, retry_after)
            }
            StatusCode::REQUEST_TIMEOUT => Attempt::Retry(
                Error::Gateway {
                    status: status.as_u16(),
                    message,
                },
                None,
            ),
            s if s.is_server_error() => Attempt::Retry(
                Error::Gateway {
                    status: s.as_u16(),
                    message,
                },
                None,
            ),
            s => Attempt::Fatal(Error::Gateway {
                status: s.as_u16(),
                message,
            }),
        }
    }

    fn network_error(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                timeout: self.timeout,
            }
        } else {
            Error::Transport {
                source: Box::new(e.without_url()),
            }
        }
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid_response(format!("malformed {what}: {e}")))
}

/// The gateway's `{"error": "..."}` message, or a short, printable prefix of its body.
fn error_message(status: StatusCode, bytes: &[u8]) -> String {
    let from_json =
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| match v.get("error") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => {
                    o.get("message").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    let mut text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_MESSAGE)
        .collect();
    if text.trim().is_empty() {
        text = status.canonical_reason().unwrap_or("no message").to_owned();
    }
    text
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(header::RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(header::RETRY_AFTER, "-3".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert(header::RETRY_AFTER, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_messages_are_bounded_and_printable() {
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, br#"{"error":"bad body"}"#),
            "bad body"
        );
        assert_eq!(error_message(StatusCode::BAD_REQUEST, b""), "Bad Request");
        let long = "x\n".repeat(1000);
        let m = error_message(StatusCode::BAD_GATEWAY, long.as_bytes());
        assert_eq!(m.len(), MAX_ERROR_MESSAGE);
        assert!(!m.contains('\n'));
    }

    #[test]
    fn gateway_url_validation() {
        let new = |u: &str| {
            Remote::new(
                u,
                SecretString::from("k"),
                None,
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(1),
                RetryPolicy::default(),
            )
        };
        assert!(new("not a url").is_err());
        assert!(new("ftp://x").is_err());
        assert!(new("https://user:pw@x").is_err());
        let r = new("http://127.0.0.1:9/base").unwrap();
        assert_eq!(
            r.url(&["v1", "approvals", "a/b c", "status"]).as_str(),
            "http://127.0.0.1:9/base/v1/approvals/a%2Fb%20c/status"
        );
    }
}
