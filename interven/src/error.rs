//! The one error type of interven.

use std::time::Duration;

use crate::types::{ApprovalId, TraceId};

/// A `Result` whose error defaults to [`interven::Error`](Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while guarding a tool call.
///
/// A guarded function returns `Err(E::from(interven::Error))` whenever its
/// body did not run: the call was blocked, an approval did not come, or the
/// engine could not give an answer (interven fails closed). No variant ever
/// carries the scanned body, a finding's value or an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy denied the call; its body did not run.
    #[error(
        "call to {tool}.{operation} was blocked by policy ({}; trace {trace_id})",
        join(reason_codes)
    )]
    Blocked {
        /// The tool that was called.
        tool: String,
        /// The operation that was called.
        operation: String,
        /// Why the call was blocked, e.g. `SECRET_DETECTED`.
        reason_codes: Vec<String>,
        /// Where the engine recorded the call.
        trace_id: TraceId,
    },

    /// The call needs a human's approval, and the caller asked not to wait.
    #[error(
        "call to {tool}.{operation} requires approval {approval_id} ({}; trace {trace_id})",
        join(reason_codes)
    )]
    ApprovalRequired {
        /// The tool that was called.
        tool: String,
        /// The operation that was called.
        operation: String,
        /// The approval to ask a human for, and to wait on.
        approval_id: ApprovalId,
        /// Why approval is needed, e.g. `DESTRUCTIVE_OPERATION`.
        reason_codes: Vec<String>,
        /// Where the engine recorded the call.
        trace_id: TraceId,
    },

    /// The gateway rejected the API key (HTTP 401).
    #[error("the gateway rejected the API key (HTTP 401): check INTERVEN_API_KEY")]
    Authentication,

    /// The gateway is rate limiting this key (HTTP 429).
    #[error("the gateway is rate limiting this client (HTTP 429){}", retry_after.map(|d| format!("; retry after {:.1}s", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        /// How long the gateway asked to wait, from its `Retry-After` header.
        retry_after: Option<Duration>,
    },

    /// The scan request was larger than the gateway accepts (HTTP 413).
    #[error("the scan request is larger than the gateway accepts (HTTP 413): skip large arguments")]
    PayloadTooLarge,

    /// The gateway answered with an error status, or with something that is not a valid answer.
    #[error("the gateway failed (HTTP {status}): {message}")]
    Gateway {
        /// The HTTP status (200 for a malformed answer to a successful request).
        status: u16,
        /// What went wrong, from the gateway's `error` field or from parsing its answer.
        message: String,
    },

    /// The gateway could not be reached (connection refused, reset, DNS, TLS…).
    #[error("could not reach the gateway")]
    Transport {
        /// The underlying network error.
        #[source]
        source: BoxError,
    },

    /// The gateway did not answer in time.
    #[error("the gateway did not answer within {:.1}s", timeout.as_secs_f64())]
    Timeout {
        /// The limit that was hit (the request timeout or the per-call deadline).
        timeout: Duration,
    },

    /// A human denied the approval.
    #[error("approval {approval_id} was denied")]
    ApprovalDenied {
        /// The approval that was denied.
        approval_id: ApprovalId,
    },

    /// Nobody decided before the approval expired.
    #[error("approval {approval_id} expired before anyone decided")]
    ApprovalExpired {
        /// The approval that expired.
        approval_id: ApprovalId,
    },

    /// The caller stopped waiting before anyone decided.
    #[error("gave up waiting for approval {approval_id} after {:.1}s", waited.as_secs_f64())]
    ApprovalTimeout {
        /// The approval that is still pending.
        approval_id: ApprovalId,
        /// How long the caller waited.
        waited: Duration,
    },

    /// An argument (or a body) could not be serialized to JSON for the scan.
    #[error("{} could not be serialized to JSON for the scan", argument.as_deref().map(|a| format!("argument `{a}`")).unwrap_or_else(|| "the request body".to_owned()))]
    Serialize {
        /// The argument's name, when the body was built from arguments.
        argument: Option<String>,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// A sanitized value returned by the engine does not fit the argument's type.
    #[error("the sanitized value of argument `{argument}` does not fit its type")]
    Sanitize {
        /// The argument's name.
        argument: String,
        /// The deserializer's error (about the redacted value, never the original).
        #[source]
        source: serde_json::Error,
    },

    /// The client, a policy or the environment is misconfigured.
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

fn join(codes: &[String]) -> String {
    if codes.is_empty() {
        "no reason given".to_owned()
    } else {
        codes.join(", ")
    }
}

impl Error {
    /// A [`Error::Config`] with a message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }

    /// A [`Error::Gateway`] for an answer that is not valid protocol.
    pub(crate) fn invalid_response(message: impl Into<String>) -> Self {
        Error::Gateway {
            status: 200,
            message: message.into(),
        }
    }

    /// `true` when the policy denied the call.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Error::Blocked { .. })
    }

    /// `true` when a timeout was hit: the gateway's or an approval's.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::ApprovalTimeout { .. })
    }

    /// `true` for the outcomes of human approval: required, denied, expired or timed out.
    pub fn is_approval(&self) -> bool {
        matches!(
            self,
            Error::ApprovalRequired { .. }
                | Error::ApprovalDenied { .. }
                | Error::ApprovalExpired { .. }
                | Error::ApprovalTimeout { .. }
        )
    }

    /// `true` when the engine could not be reached or did not answer properly:
    /// transport faults, timeouts and 5xx answers. These are the errors that
    /// a client configured to fail open or fall back treats as "unreachable".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Gateway { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The reason codes of a blocked call or of a required approval.
    pub fn reason_codes(&self) -> &[String] {
        match self {
            Error::Blocked { reason_codes, .. } | Error::ApprovalRequired { reason_codes, .. } => {
                reason_codes
            }
            _ => &[],
        }
    }

    /// The trace id of a blocked call or of a required approval.
    pub fn trace_id(&self) -> Option<&TraceId> {
        match self {
            Error::Blocked { trace_id, .. } | Error::ApprovalRequired { trace_id, .. } => {
                Some(trace_id)
            }
            _ => None,
        }
    }

    /// The approval id this error is about, if any.
    pub fn approval_id(&self) -> Option<&ApprovalId> {
        match self {
            Error::ApprovalRequired { approval_id, .. }
            | Error::ApprovalDenied { approval_id }
            | Error::ApprovalExpired { approval_id }
            | Error::ApprovalTimeout { approval_id, .. } => Some(approval_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_sentence_and_carries_codes() {
        let e = Error::Blocked {
            tool: "slack".into(),
            operation: "post_message".into(),
            reason_codes: vec!["SECRET_DETECTED".into()],
            trace_id: TraceId::new("tr_1"),
        };
        assert_eq!(
            e.to_string(),
            "call to slack.post_message was blocked by policy (SECRET_DETECTED; trace tr_1)"
        );
        assert!(e.is_blocked());
        assert_eq!(e.reason_codes(), ["SECRET_DETECTED"]);
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            e.to_string(),
            "the gateway is rate limiting this client (HTTP 429); retry after 1.5s"
        );
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn classification() {
        assert!(
            Error::Gateway {
                status: 503,
                message: String::new()
            }
            .is_unavailable()
        );
        assert!(
            !Error::Gateway {
                status: 400,
                message: String::new()
            }
            .is_unavailable()
        );
        assert!(
            Error::Timeout {
                timeout: Duration::from_secs(1)
            }
            .is_timeout()
        );
        assert!(!Error::Authentication.is_unavailable());
        let e = Error::ApprovalExpired {
            approval_id: ApprovalId::new("ap"),
        };
        assert!(e.is_approval());
        assert_eq!(e.approval_id().unwrap().as_str(), "ap");
    }
}
