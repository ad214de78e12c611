//! The console's rules over plain HTTP (no browser): sign-in, cookies,
//! CSRF, tenants, deciding once, sessions ending, the sign-in limit.

use std::time::Duration;

use interven::Decision;
use interven_gateway::Config;
use interven_gateway::console::ConsoleConfig;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use super::{Console, destructive};

/// A browser-like HTTP client without a cookie jar or redirects: every
/// cookie and redirect is checked by hand.
struct Http<'a> {
    gw: &'a Console,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

/// The value of the `name="csrf"` hidden field of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The value of cookie `name` among `Set-Cookie` headers.
fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let (k, rest) = c.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
    })
}

impl<'a> Http<'a> {
    fn new(gw: &'a Console) -> Http<'a> {
        Http {
            gw,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let cookies = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Answer {
            status,
            location,
            cookies,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut r = self.http.get(self.gw.url(path));
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        Self::answer(r.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let mut r = self.http.post(self.gw.url(path)).form(form);
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        Self::answer(r.send().await.unwrap()).await
    }

    /// Signs in with `key` as the sign-in page asks; the answer to the POST.
    async fn try_sign_in(&self, key: &str, headers: &[(&str, &str)]) -> Answer {
        let page = self.get("/console/login", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let login_cookie = cookie_value(&page.cookies, "interven_login_csrf").unwrap();
        let csrf = csrf_of(&page.body);
        assert_eq!(login_cookie, csrf, "double-submit token");
        let mut r = self
            .http
            .post(self.gw.url("/console/login"))
            .header(COOKIE, format!("interven_login_csrf={login_cookie}"))
            .form(&[("key", key), ("csrf", csrf.as_str())]);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::answer(r.send().await.unwrap()).await
    }

    /// Signs in; the `Cookie` header value of the session.
    async fn sign_in(&self, key: &str) -> String {
        let a = self.try_sign_in(key, &[]).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location.as_deref(), Some("/console/approvals"));
        let token = cookie_value(&a.cookies, "interven_session").unwrap();
        format!("interven_session={token}")
    }
}

#[tokio::test]
async fn console_sign_in_csrf_tenants_and_deciding_once() {
    let gw = Console::start(Config::default());
    let web = Http::new(&gw);

    // Nothing without a session; the assets are public and embedded.
    let a = web.get("/console/approvals", None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/console/login"));
    assert_eq!(
        web.get("/console/assets/console.js", None).await.status,
        200
    );
    let login = web.get("/console/login", None).await;
    assert!(
        login.body.contains(r#"type="password" name="key""#),
        "{}",
        login.body
    );
    assert!(login.body.contains(r#"name="viewport""#));

    // An agent key, a wrong key and a forged sign-in are refused, with no session.
    for key in [gw.agent.as_str(), "ivk_nope", ""] {
        let a = web.try_sign_in(key, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{key}");
        assert!(cookie_value(&a.cookies, "interven_session").is_none());
        assert!(a.body.contains("Agent keys cannot sign in"));
    }
    // Forms are small: a large one is refused before it is read.
    let big = "k".repeat(64 * 1024);
    assert_eq!(
        web.post("/console/login", None, &[("key", big.as_str())])
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let forged = web
        .post("/console/login", None, &[("key", gw.admin.as_str())])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(cookie_value(&forged.cookies, "interven_session").is_none());

    // The session cookie: HttpOnly, SameSite=Strict, scoped, expiring;
    // Secure behind TLS.
    let a = web.try_sign_in(&gw.admin, &[]).await;
    let set = a
        .cookies
        .iter()
        .find(|c| c.starts_with("interven_session="))
        .unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let tls = web
        .try_sign_in(&gw.admin, &[("x-forwarded-proto", "https")])
        .await;
    assert!(
        tls.cookies
            .iter()
            .any(|c| c.starts_with("interven_session=") && c.contains("; Secure"))
    );
    let session = web.sign_in(&gw.admin).await;
    // Only the token's hash is stored.
    let token = session.trim_start_matches("interven_session=");
    let raw = std::fs::read(&gw.db).unwrap_or_default();
    let wal = std::fs::read(gw.db.with_extension("db-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }

    // An approval appears on the page with what a person needs.
    let agent = gw.client(&gw.agent);
    let v = agent.scan(&destructive("old-site")).await.unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    let id = v.approval_id.clone().unwrap();
    let page = web.get("/console/approvals", Some(&session)).await;
    assert_eq!(page.status, 200);
    for fact in [
        format!(r#"data-approval-id="{id}""#),
        "github".to_owned(),
        "delete_repo".to_owned(),
        "DELETE".to_owned(),
        "https://api.github.com/repos/acme/old-site".to_owned(),
        "release-bot".to_owned(),
        "&quot;confirm&quot;: true".to_owned(),
        ">Approve<".to_owned(),
        ">Deny<".to_owned(),
        " left".to_owned(),
    ] {
        assert!(page.body.contains(&fact), "{fact} missing");
    }
    for code in &v.reason_codes {
        assert!(page.body.contains(code.as_str()), "{code}");
    }
    let fragment = web.get("/console/approvals/fragment", Some(&session)).await;
    assert!(
        fragment
            .body
            .contains(&format!(r#"data-approval-id="{id}""#))
    );
    assert!(!fragment.body.contains("<html"), "a fragment, not a page");

    // A POST without the CSRF token, or with another session's, is refused.
    let path = format!("/console/approvals/{id}/approve");
    assert_eq!(
        web.post(&path, Some(&session), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let other_session = web.sign_in(&gw.admin).await;
    let other_page = web.get("/console/approvals", Some(&other_session)).await;
    let wrong = csrf_of(&other_page.body);
    assert_eq!(
        web.post(&path, Some(&session), &[("csrf", wrong.as_str())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gw.api_status(&gw.admin, id.as_str()).await["status"],
        "pending"
    );

    // Another tenant's approval is not found, and stays pending.
    let theirs = gw
        .client(&gw.other_agent)
        .scan(&destructive("globex-site"))
        .await
        .unwrap();
    let their_id = theirs.approval_id.unwrap();
    let csrf = csrf_of(&page.body);
    assert_eq!(
        web.get(&format!("/console/approvals/{their_id}"), Some(&session))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        web.post(
            &format!("/console/approvals/{their_id}/approve"),
            Some(&session),
            &[("csrf", csrf.as_str())]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gw.api_status(&gw.other_admin, their_id.as_str()).await["status"],
        "pending"
    );
    assert!(
        !web.get("/console/approvals", Some(&session))
            .await
            .body
            .contains(their_id.as_str())
    );

    // Approve: once. The page records who decided.
    let a = web
        .post(&path, Some(&session), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        gw.api_status(&gw.admin, id.as_str()).await["status"],
        "approved"
    );
    let again = web
        .post(
            &format!("/console/approvals/{id}/deny"),
            Some(&session),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("cannot be decided again"));
    let detail = web
        .get(&format!("/console/approvals/{id}"), Some(&session))
        .await;
    assert!(
        detail
            .body
            .contains("approved by <strong>ops-admin</strong>"),
        "{}",
        detail.body
    );
    assert!(
        !detail.body.contains(">Approve<"),
        "no buttons once decided"
    );
    let allowed = agent.scan(&destructive("old-site")).await.unwrap();
    assert_eq!(allowed.decision, Decision::Allow);

    // Activity: found by id, filtered, verified; another tenant's trace is not found.
    let found = web
        .get(&format!("/console/traces?q={}", v.trace_id), Some(&session))
        .await;
    assert_eq!(found.status, StatusCode::SEE_OTHER);
    let trace_path = format!("/console/traces/{}", v.trace_id);
    assert_eq!(found.location.as_deref(), Some(trace_path.as_str()));
    let t = web.get(&trace_path, Some(&session)).await;
    assert_eq!(t.status, 200);
    for fact in [
        "REQUIRE_APPROVAL",
        "verifies up to this trace",
        id.as_str(),
        "release-bot",
    ] {
        assert!(t.body.contains(fact), "{fact} missing from the trace page");
    }
    let list = web
        .get("/console/traces?decision=ALLOW&tool=github", Some(&session))
        .await;
    assert!(list.body.contains(allowed.trace_id.as_str()));
    assert!(
        !list.body.contains(v.trace_id.as_str()),
        "filtered by decision"
    );
    let none = web
        .get("/console/traces?agent=nobody", Some(&session))
        .await;
    assert!(none.body.contains("No traces match"));
    let bad_time = web
        .get("/console/traces?since=yesterday", Some(&session))
        .await;
    assert!(bad_time.body.contains("expected a UTC time"));
    let future = web
        .get("/console/traces?since=2999-01-01T00:00", Some(&session))
        .await;
    assert!(future.body.contains("No traces match"));
    assert_eq!(
        web.get(
            &format!("/console/traces/{}", theirs.trace_id),
            Some(&session)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let q = web
        .get(
            &format!("/console/traces?q={}", theirs.trace_id),
            Some(&session),
        )
        .await;
    assert_eq!(q.status, 200);
    assert!(q.body.contains("No trace or approval with that id"));

    // Sign-out ends the session on the server, not only in the browser.
    let out = web
        .post(
            "/console/logout",
            Some(&session),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.cookies
            .iter()
            .any(|c| c.starts_with("interven_session=;") && c.contains("Max-Age=0"))
    );
    let after = web.get("/console/approvals", Some(&session)).await;
    assert_eq!(after.location.as_deref(), Some("/console/login"));
    assert_eq!(
        web.get("/console/approvals/fragment", Some(&session))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn console_keys_are_shown_once_and_revoking_ends_sessions() {
    let gw = Console::start(Config::default());
    let web = Http::new(&gw);
    let session = web.sign_in(&gw.admin).await;
    let page = web.get("/console/keys", Some(&session)).await;
    let csrf = csrf_of(&page.body);
    assert!(page.body.contains("ops-admin") && page.body.contains("acme-agent"));
    assert!(!page.body.contains("globex"), "another tenant's keys");
    assert!(!page.body.contains(&gw.admin), "never a key");

    // Without the token: refused, nothing created.
    let forged = web
        .post(
            "/console/keys",
            Some(&session),
            &[("name", "x"), ("role", "admin")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let created = web
        .post(
            "/console/keys",
            Some(&session),
            &[
                ("csrf", csrf.as_str()),
                ("name", "deputy"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(created.status, 200);
    let at = created.body.find("ivk_").expect("the new key, shown once");
    let key = created.body[at..at + 4 + 64].to_owned();
    assert!(
        !web.get("/console/keys", Some(&session))
            .await
            .body
            .contains(&key),
        "shown once"
    );
    // The new key works: as an API key and to sign in.
    gw.client(&key).health().await.unwrap();
    let deputy = web.sign_in(&key).await;
    assert_eq!(web.get("/console/keys", Some(&deputy)).await.status, 200);

    // Revoking it ends its session at once.
    let keys = web.get("/console/keys", Some(&session)).await.body;
    let deputy_id = keys
        .split("/console/keys/")
        .filter_map(|s| s.split('/').next())
        .filter_map(|id| id.parse::<i64>().ok())
        .max()
        .unwrap();
    let revoked = web
        .post(
            &format!("/console/keys/{deputy_id}/revoke"),
            Some(&session),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        web.get("/console/keys", Some(&deputy))
            .await
            .location
            .as_deref(),
        Some("/console/login")
    );
    assert_eq!(
        web.try_sign_in(&key, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Another tenant's key id: not found, not revoked.
    let other = web
        .post(
            "/console/keys/3/revoke",
            Some(&session),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    gw.client(&gw.other_admin).health().await.unwrap();
    let scan = gw
        .client(&gw.other_agent)
        .scan(&destructive("still-works"))
        .await;
    assert!(scan.is_ok(), "globex's keys still work: {scan:?}");
}

#[tokio::test]
async fn console_sessions_expire_and_failed_sign_ins_are_limited() {
    let gw = Console::start(Config {
        approval_ttl: Duration::from_secs(2),
        console: ConsoleConfig {
            // Whole seconds: at least two of life before the first page.
            session_ttl: Duration::from_secs(3),
            login_burst: 3,
            login_refill: Duration::from_secs(60),
            ..ConsoleConfig::default()
        },
        ..Config::default()
    });
    let web = Http::new(&gw);
    let session = web.sign_in(&gw.admin).await;
    let page = web.get("/console/approvals", Some(&session)).await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let v = gw
        .client(&gw.agent)
        .scan(&destructive("short-lived"))
        .await
        .unwrap();
    let id = v.approval_id.unwrap();
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(
        web.get("/console/approvals", Some(&session))
            .await
            .location
            .as_deref(),
        Some("/console/login"),
        "expired"
    );
    // An expired approval leaves the list and cannot be decided.
    let session = web.sign_in(&gw.admin).await;
    let page = web.get("/console/approvals", Some(&session)).await;
    assert!(
        !page.body.contains(id.as_str()),
        "expired approvals are not pending"
    );
    let csrf_now = csrf_of(&page.body);
    assert_ne!(csrf, csrf_now, "a new session, a new token");
    let late = web
        .post(
            &format!("/console/approvals/{id}/approve"),
            Some(&session),
            &[("csrf", csrf_now.as_str())],
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.body.contains("expired"), "{}", late.body);
    let detail = web
        .get(&format!("/console/approvals/{id}"), Some(&session))
        .await;
    assert!(detail.body.contains("Expired undecided"));

    for _ in 0..3 {
        assert_eq!(
            web.try_sign_in(&gw.agent, &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Past the limit even the right key waits: the key is not even checked.
    let limited = web.try_sign_in(&gw.admin, &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.body.contains("Too many failed sign-ins"));
    assert!(cookie_value(&limited.cookies, "interven_session").is_none());
}

#[tokio::test]
async fn the_console_shows_only_redacted_bodies() {
    let gw = Console::start(Config::default());
    let web = Http::new(&gw);
    let session = web.sign_in(&gw.admin).await;
    let email = "jane.doe@acme-corp.com";
    let card = "4929 5310 2287 1648";
    let request = interven::ScanRequest::builder("DELETE", "https://api.github.com/repos/acme/crm")
        .json_body(serde_json::json!({ "notify": email, "card": card, "reason": "cleanup" }))
        .tool("github")
        .build()
        .unwrap();
    let v = gw.client(&gw.agent).scan(&request).await.unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    let id = v.approval_id.unwrap();
    let pages = [
        web.get("/console/approvals", Some(&session)).await.body,
        web.get(&format!("/console/approvals/{id}"), Some(&session))
            .await
            .body,
        web.get(&format!("/console/traces/{}", v.trace_id), Some(&session))
            .await
            .body,
        web.get("/console/traces", Some(&session)).await.body,
    ];
    for (i, page) in pages.iter().enumerate() {
        // The list of traces shows no bodies; the other pages do.
        assert!(i == 3 || page.contains("cleanup"), "the body is shown");
        assert!(
            !page.contains(email) && !page.contains(card),
            "a raw value on a page"
        );
        assert!(!page.contains("jane.doe"), "a raw value on a page");
    }
    assert!(pages[0].contains("PII_DETECTED"));

    // A response scan shows on its trace's page: classes and counts, never values.
    let agent = gw.client(&gw.agent);
    let read = interven::ScanRequest::builder("GET", "https://crm.example.com/contacts/7")
        .tool("crm")
        .build()
        .unwrap();
    let t = agent.scan(&read).await.unwrap();
    let before = web
        .get(&format!("/console/traces/{}", t.trace_id), Some(&session))
        .await;
    assert!(before.body.contains("No response was scanned"));
    let classified = agent
        .scan_response(
            &t.trace_id,
            &serde_json::json!({ "contact": { "email": email } }),
            Some(200),
        )
        .await
        .unwrap();
    let after = web
        .get(&format!("/console/traces/{}", t.trace_id), Some(&session))
        .await;
    assert!(!after.body.contains("No response was scanned"));
    assert!(!classified.data_classes.is_empty());
    for class in &classified.data_classes {
        assert!(
            after.body.contains(class.as_str()),
            "{class} not on the page"
        );
    }
    assert!(after.body.contains(classified.content_fingerprint.as_str()));
    assert!(!after.body.contains(email));
}

#[test]
fn serve_flags_are_documented_and_checked() {
    let help = std::process::Command::new(crate::BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--public-url",
        "--notify-webhook",
        "--notify-format",
        "--notify-secret",
        "json",
        "slack",
    ] {
        assert!(help.contains(flag), "{flag} missing from serve --help");
    }
    let db = std::env::temp_dir().join(format!("interven-console-cli-{}.db", std::process::id()));
    let out = std::process::Command::new(crate::BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(&db)
        .args(["--notify-webhook", "ftp://hooks.example.com/services/tok3n"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&db);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must be an http or https URL"), "{err}");
    assert!(
        !err.contains("tok3n"),
        "a webhook URL may carry a token: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_pages_through_older_traces_and_flashes_are_not_spoofable() {
    let gw = Console::start(Config::default());
    let web = Http::new(&gw);
    let session = web.sign_in(&gw.admin).await;
    let agent = gw.client(&gw.agent);
    let scan = |i: usize| {
        let agent = agent.clone();
        tokio::spawn(async move {
            let r = interven::ScanRequest::builder("POST", "https://api.example.com/notes")
                .json_body(serde_json::json!({ "n": i }))
                .tool("pager")
                .build()
                .unwrap();
            agent.scan(&r).await.unwrap().trace_id
        })
    };
    let first = scan(0).await.unwrap();
    let rest: Vec<_> = (1..=200).map(scan).collect();
    for t in rest {
        t.await.unwrap();
    }
    let page = web.get("/console/traces?tool=pager", Some(&session)).await;
    assert_eq!(
        page.body.matches("<tr>").count(),
        1 + 200,
        "a header row and a page of traces"
    );
    assert!(
        !page.body.contains(first.as_str()),
        "the oldest is on the next page"
    );
    let at = page
        .body
        .find("rel=\"next\"")
        .expect("a link to older traces");
    let href_at = page.body[..at].rfind("href=\"").unwrap() + "href=\"".len();
    let href = page.body[href_at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        href.contains("tool=pager") && href.contains("before=tr_"),
        "{href}"
    );
    let older = web.get(&href, Some(&session)).await;
    assert_eq!(older.body.matches("<tr>").count(), 1 + 1);
    assert!(older.body.contains(first.as_str()));
    assert!(!older.body.contains("rel=\"next\""));

    // The page says "… approved." only of an approval that was.
    let spoof = web
        .get(
            "/console/approvals?decided=Your+account+is+locked&as=approved",
            Some(&session),
        )
        .await;
    assert!(!spoof.body.contains("Your account is locked"));
    assert!(!spoof.body.contains("class=\"flash\""));
}
