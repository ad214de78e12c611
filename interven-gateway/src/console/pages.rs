//! The console's pages (maud templates: every value is escaped).

use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use interven::engine::rfc3339;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::{Session, TracesQuery};
use crate::store::{ApprovalRow, KeyRow};
use crate::store_console::{ChainCheck, DecisionRow, TraceSummary};

/// An approval with what a person needs to decide on it.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    /// The approval.
    pub approval: ApprovalRow,
    /// The trace that asked for it, when found.
    pub trace: Option<TraceSummary>,
    /// Who decided it in the console.
    pub decision: Option<DecisionRow>,
    /// The time of rendering, Unix seconds.
    pub now: i64,
}

impl ApprovalView {
    /// A view of `approval` at `now`.
    pub fn new(
        approval: ApprovalRow,
        trace: Option<TraceSummary>,
        decision: Option<DecisionRow>,
        now: i64,
    ) -> ApprovalView {
        ApprovalView {
            approval,
            trace,
            decision,
            now,
        }
    }

    fn field(&self, k: &str) -> Option<&str> {
        self.trace.as_ref()?.record.get(k)?.as_str()
    }
}

fn at(secs: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

/// "12 min 5 s", "1 h 3 min", "expired".
pub fn time_left(secs: i64) -> String {
    match secs {
        s if s <= 0 => "expired".to_owned(),
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("—")
}

fn reasons(v: &Value) -> Vec<&str> {
    v.get("reason_codes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn risk(v: &Value) -> Markup {
    let band = text(v, "risk_band");
    let score = v.get("risk_score").and_then(Value::as_f64);
    html! {
        span class={ "risk risk-" (band.to_ascii_lowercase()) } {
            (band)
            @if let Some(s) = score { " " span class="muted" { (format!("{s:.2}")) } }
        }
    }
}

fn decision_badge(d: &str) -> Markup {
    html! { span class={ "badge badge-" (d.to_ascii_lowercase()) } { (d) } }
}

/// `tr_1a2b3c4d5e6f…`: enough to tell traces apart in a list.
fn short_id(id: &str) -> String {
    match id.char_indices().nth(16) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_owned(),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn layout(title: &str, session: Option<&Session>, active: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · interven console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "interven" }
                    @if let Some(s) = session {
                        nav aria-label="Console" {
                            @for (href, label) in [("/console/approvals", "Approvals"), ("/console/traces", "Activity"), ("/console/keys", "Keys")] {
                                @if label == active {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        div class="who" {
                            span class="muted" { (s.row.key_name) " · " (s.row.tenant) }
                            form method="post" action="/console/logout" class="inline" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" class=[(active == "Activity").then_some("wide")] { (body) }
            }
        }
    }
}

fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// An error page.
pub fn error(
    status: StatusCode,
    title: &str,
    message: &str,
    session: Option<&Session>,
) -> Response {
    let body = html! {
        h1 { (title) }
        p { (message) }
        p { a href="/console/approvals" { "Back to the approvals" } }
    };
    respond(status, layout(title, session, "", &body))
}

/// The sign-in page.
pub fn login(csrf: &str, message: Option<&str>) -> Response {
    let body = html! {
        section class="card narrow" {
            h1 { "Sign in" }
            p class="muted" { "Sign in with an admin API key of your tenant (" code { "interven-gateway keys create --admin" } ")." }
            @if let Some(m) = message { p class="alert" role="alert" { (m) } }
            form method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="key" { "Admin key" }
                input id="key" type="password" name="key" autocomplete="current-password" required autofocus;
                button type="submit" class="primary" { "Sign in" }
            }
        }
    };
    respond(StatusCode::OK, layout("Sign in", None, "", &body))
}

fn approval_card(s: &Session, v: &ApprovalView) -> Markup {
    let a = &v.approval;
    let rec = v.trace.as_ref().map(|t| &t.record);
    let left = a.expires_at - v.now;
    html! {
        article class="card approval" data-approval-id=(a.approval_id) {
            header class="row" {
                h2 {
                    a href={ "/console/approvals/" (a.approval_id) } {
                        (v.field("tool").unwrap_or("(no tool named)"))
                        @if let Some(op) = v.field("operation") { " · " (op) }
                    }
                }
                span class="time-left" data-expires-at=(a.expires_at) title={ "expires " (at(a.expires_at)) } {
                    (time_left(left)) " left"
                }
            }
            @if let Some(r) = rec {
                p class="request" {
                    span class="method" { (text(r, "method")) } " " code class="url" { (text(r, "url")) }
                }
                dl class="facts" {
                    dt { "Agent" } dd { (text(r, "agent_id")) }
                    dt { "Risk" } dd { (risk(r)) }
                    dt { "Reasons" } dd {
                        @for code in reasons(r) { span class="reason" { (code) } " " }
                    }
                    dt { "Asked" } dd { (text(r, "created_at")) }
                }
                details {
                    summary { "Request body (redacted)" }
                    pre class="body" { (pretty(r.get("body").unwrap_or(&Value::Null))) }
                }
            } @else {
                p class="muted" { "The request's trace was not found in the store." }
            }
            @if a.status == "pending" {
                div class="actions" {
                    form method="post" action={ "/console/approvals/" (a.approval_id) "/approve" } {
                        input type="hidden" name="csrf" value=(s.csrf);
                        button type="submit" class="approve" { "Approve" }
                    }
                    form method="post" action={ "/console/approvals/" (a.approval_id) "/deny" } {
                        input type="hidden" name="csrf" value=(s.csrf);
                        button type="submit" class="deny" { "Deny" }
                    }
                    span class="muted small" { code { (a.approval_id) } }
                }
            }
        }
    }
}

/// The list of pending approvals alone (the page's live part).
pub fn approval_list(s: &Session, cards: &[ApprovalView]) -> Response {
    respond(StatusCode::OK, list_markup(s, cards))
}

fn list_markup(s: &Session, cards: &[ApprovalView]) -> Markup {
    html! {
        @if cards.is_empty() {
            p class="empty" { "No approvals are waiting. New requests appear here on their own." }
        }
        @for c in cards { (approval_card(s, c)) }
    }
}

/// A short digest of which approvals a list holds, in order.
pub fn list_digest(cards: &[ApprovalView]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for c in cards {
        h.update(c.approval.approval_id.as_bytes());
        h.update(b",");
    }
    crate::store::hex(&h.finalize()[..12])
}

/// The approvals page.
pub fn approvals(s: &Session, cards: &[ApprovalView], flash: Option<&str>) -> Response {
    let ids = list_digest(cards);
    let body = html! {
        h1 { "Pending approvals" }
        @if let Some(f) = flash { p class="flash" role="status" { (f) } }
        div id="approvals" aria-live="polite" data-ids=(ids) data-fragment="/console/approvals/fragment" {
            (list_markup(s, cards))
        }
    };
    respond(
        StatusCode::OK,
        layout("Approvals", Some(s), "Approvals", &body),
    )
}

fn history(v: &ApprovalView) -> Markup {
    let a = &v.approval;
    html! {
        ol class="history" {
            li { "Pending since " (at(a.created_at)) ", expires " (at(a.expires_at)) }
            @if let Some(d) = &v.decision {
                li { (d.decision) " by " strong { (d.decided_by) } " at " (at(d.decided_at)) }
            } @else if let Some(t) = a.decided_at {
                li { "Decided at " (at(t)) " (outside the console)" }
            }
            @if a.status == "executed" { li { "Executed: the approved request was allowed once" } }
            @if a.status == "expired" { li { "Expired undecided" } }
        }
    }
}

/// One approval, any status, with its history.
pub fn approval(s: &Session, v: &ApprovalView, traces: &[TraceSummary]) -> Response {
    let a = &v.approval;
    let body = html! {
        p { a href="/console/approvals" { "← Pending approvals" } }
        h1 { "Approval " code { (a.approval_id) } }
        p { "Status: " span class={ "badge badge-" (a.status) } { (a.status) } }
        (approval_card(s, v))
        section class="card" {
            h2 { "History" }
            (history(v))
            @if !traces.is_empty() {
                h3 { "Traces of this request" }
                ul {
                    @for t in traces {
                        li { a href={ "/console/traces/" (t.trace_id) } { code { (t.trace_id) } } " " (decision_badge(text(&t.record, "decision"))) " " (text(&t.record, "created_at")) }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout("Approval", Some(s), "Approvals", &body),
    )
}

/// The activity page.
pub fn traces(
    s: &Session,
    q: &TracesQuery,
    traces: &[TraceSummary],
    problems: &[String],
) -> Response {
    let val = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        h1 { "Activity" }
        form method="get" action="/console/traces" class="search" role="search" {
            label for="q" { "Find a trace by id" }
            div class="row" {
                input id="q" name="q" type="search" placeholder="tr_…" value=(val(&q.q));
                button type="submit" { "Find" }
            }
        }
        form method="get" action="/console/traces" class="filters" {
            div { label for="decision" { "Decision" }
                select id="decision" name="decision" {
                    option value="" { "any" }
                    @for d in ["ALLOW", "SANITIZE", "DENY", "REQUIRE_APPROVAL"] {
                        option value=(d) selected[q.decision.as_deref() == Some(d)] { (d) }
                    }
                }
            }
            div { label for="tool" { "Tool" } input id="tool" name="tool" value=(val(&q.tool)); }
            div { label for="agent" { "Agent" } input id="agent" name="agent" value=(val(&q.agent)); }
            div { label for="since" { "From (UTC)" } input id="since" name="since" type="datetime-local" value=(val(&q.since)); }
            div { label for="until" { "Until (UTC)" } input id="until" name="until" type="datetime-local" value=(val(&q.until)); }
            div class="end" { button type="submit" { "Filter" } " " a href="/console/traces" { "Clear" } }
        }
        @for p in problems { p class="alert" role="alert" { (p) } }
        @if traces.is_empty() {
            p class="empty" { "No traces match." }
        } @else {
            div class="scroll" {
                table class="traces" {
                    thead { tr { th { "Time" } th { "Decision" } th { "Tool" } th { "Agent" } th { "Request" } th { "Risk" } th { "Trace" } } }
                    tbody {
                        @for t in traces {
                            tr {
                                td class="nowrap" { (text(&t.record, "created_at").replacen('T', " ", 1)) }
                                td { (decision_badge(text(&t.record, "decision"))) }
                                td { (text(&t.record, "tool")) }
                                td { (text(&t.record, "agent_id")) }
                                td { span class="method" { (text(&t.record, "method")) } " " code class="url" { (text(&t.record, "url")) } }
                                td { (risk(&t.record)) }
                                td { a href={ "/console/traces/" (t.trace_id) } title=(t.trace_id) { code { (short_id(&t.trace_id)) } } }
                            }
                        }
                    }
                }
            }
            @if traces.len() >= super::TRACES_PER_PAGE {
                @if let Some(last) = traces.last() {
                    p { a href=(older_link(q, &last.trace_id)) rel="next" { "Older traces →" } }
                }
            } @else {
                p class="muted small" { (traces.len()) @if traces.len() == 1 { " trace." } @else { " traces." } }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout("Activity", Some(s), "Activity", &body),
    )
}

/// The activity list's next page: the same filters, older than `last`.
fn older_link(q: &TracesQuery, last: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("decision", &q.decision),
        ("tool", &q.tool),
        ("agent", &q.agent),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            query.append_pair(k, v);
        }
    }
    query.append_pair("before", last);
    format!("/console/traces?{}", query.finish())
}

/// One trace.
pub fn trace(
    s: &Session,
    id: &str,
    t: &Value,
    chain: Option<&ChainCheck>,
    approval: Option<&ApprovalView>,
) -> Response {
    let response = t.get("response").filter(|r| !r.is_null());
    let body = html! {
        p { a href="/console/traces" { "← Activity" } }
        h1 { "Trace " code class="trace-id" { (id) } }
        section class="card" {
            dl class="facts" {
                dt { "Decision" } dd { (decision_badge(text(t, "decision"))) }
                dt { "Time" } dd { (text(t, "created_at")) }
                dt { "Tool" } dd { (text(t, "tool")) @if let Some(op) = t.get("operation").and_then(Value::as_str) { " · " (op) } }
                dt { "Agent" } dd { (text(t, "agent_id")) }
                dt { "Request" } dd { span class="method" { (text(t, "method")) } " " code class="url" { (text(t, "url")) } }
                dt { "Risk" } dd { (risk(t)) }
                dt { "Reasons" } dd { @for code in reasons(t) { span class="reason" { (code) } " " } }
                dt { "Chain" } dd {
                    @match chain {
                        Some(ChainCheck::Intact { traces }) => span class="ok" { "✓ verifies up to this trace (" (traces) @if *traces == 1 { " trace" } @else { " traces" } " checked)" },
                        Some(ChainCheck::Broken(p)) => span class="bad" { "✗ " (p) },
                        None => span class="muted" { "—" },
                    }
                }
                dt { "Hash" } dd { code class="small" { (text(t, "hash")) } }
            }
        }
        section class="card" {
            h2 { "Request body (redacted)" }
            pre class="body" { (pretty(t.get("body").unwrap_or(&Value::Null))) }
        }
        section class="card" {
            h2 { "Response" }
            @if let Some(r) = response {
                dl class="facts" {
                    dt { "Data classes" } dd {
                        @for c in r.get("data_classes").and_then(Value::as_array).into_iter().flatten() {
                            span class="reason" { (c.as_str().unwrap_or("?")) } " "
                        }
                    }
                    dt { "Fields redacted" } dd { (r.get("fields_redacted_count").map(ToString::to_string).unwrap_or_default()) }
                    dt { "Fingerprint" } dd { code class="small" { (text(r, "content_fingerprint")) } }
                }
            } @else {
                p class="muted" { "No response was scanned for this trace." }
            }
        }
        @if let Some(a) = approval {
            section class="card" {
                h2 { "Approval " a href={ "/console/approvals/" (a.approval.approval_id) } { code { (a.approval.approval_id) } } }
                p { "Status: " span class={ "badge badge-" (a.approval.status) } { (a.approval.status) } }
                (history(a))
            }
        }
    };
    respond(StatusCode::OK, layout("Trace", Some(s), "Activity", &body))
}

/// The keys page; `created` is a key just made, shown this once.
pub fn keys(
    status: StatusCode,
    s: &Session,
    keys: &[KeyRow],
    created: Option<&(String, String)>,
    problem: Option<&str>,
) -> Response {
    let body = html! {
        h1 { "API keys" }
        @if let Some((name, key)) = created {
            section class="card created" role="status" {
                h2 { "Key “" (name) "” created" }
                p { "Copy it now: it is shown once and is not stored." }
                pre class="key" { (key) }
            }
        }
        @if let Some(p) = problem { p class="alert" role="alert" { (p) } }
        div class="scroll" {
            table {
                thead { tr { th { "Id" } th { "Name" } th { "Role" } th { "State" } th { span class="sr" { "Actions" } } } }
                tbody {
                    @for k in keys {
                        tr {
                            td { (k.id) }
                            td { (k.name) @if k.id == s.row.key_id { " " span class="muted" { "(you)" } } }
                            td { @if k.admin { "admin" } @else { "agent" } }
                            td { @if k.revoked { span class="bad" { "revoked" } } @else { span class="ok" { "active" } } }
                            td {
                                @if !k.revoked {
                                    form method="post" action={ "/console/keys/" (k.id) "/revoke" } class="inline" data-confirm={ "Revoke the key “" (k.name) "”? Agents using it stop at once." } {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        button type="submit" class="deny small" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card narrow" {
            h2 { "New key" }
            form method="post" action="/console/keys" {
                input type="hidden" name="csrf" value=(s.csrf);
                label for="name" { "Name" }
                input id="name" name="name" required maxlength="100";
                label for="role" { "Role" }
                select id="role" name="role" {
                    option value="agent" { "agent (scans only)" }
                    option value="admin" { "admin (approves, reads traces, signs in here)" }
                }
                button type="submit" class="primary" { "Create key" }
            }
        }
    };
    respond(status, layout("Keys", Some(s), "Keys", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_well() {
        assert_eq!(time_left(-5), "expired");
        assert_eq!(time_left(42), "42 s");
        assert_eq!(time_left(725), "12 min 5 s");
        assert_eq!(time_left(3780), "1 h 3 min");
    }
}
