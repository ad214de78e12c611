//! The console in a real browser: headless Chromium driven through
//! WebDriver (chromedriver, started here on 127.0.0.1).
//!
//! Runs when `chromedriver` is on the PATH (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver` and sets `INTERVEN_BROWSER_TESTS=1`,
//! which makes a missing browser a failure instead of a skip). Every page
//! visited is saved as a screenshot under
//! `$CARGO_TARGET_TMPDIR/console-artifacts/`, kept as the artefact of a
//! failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use interven::{ApprovalStatus, Decision, Error};
use interven_gateway::Config;
use serde_json::{Value, json};

use super::{Console, destructive};

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

async fn start_driver(exe: &PathBuf) -> Driver {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = format!("http://127.0.0.1:{port}/status");
    loop {
        if let Ok(r) = reqwest::get(&status).await
            && r.status().is_success()
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_browser(driver: &Driver, profile: &std::path::Path) -> Browser {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--window-size=1100,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.sort();
    let mut options = json!({ "args": args });
    if let Some(bin) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        options["binary"] = json!(bin);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".to_owned(), json!("chrome"));
    caps.insert("goog:chromeOptions".to_owned(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("cannot open a WebDriver session")
}

/// The browser, the gateway, and a screenshot of every step.
struct Run<'a> {
    b: &'a Browser,
    gw: &'a Console,
    step: u32,
}

impl Run<'_> {
    async fn shot(&mut self, name: &str) {
        self.step += 1;
        if let Ok(png) = self.b.screenshot().await {
            let _ = std::fs::write(
                artifacts().join(format!("{:02}-{name}.png", self.step)),
                png,
            );
        }
    }

    async fn goto(&mut self, path: &str, name: &str) {
        self.b.goto(&self.gw.url(path)).await.unwrap();
        self.shot(name).await;
    }

    async fn path(&self) -> String {
        self.b.current_url().await.unwrap().path().to_owned()
    }

    async fn sign_in(&mut self, key: &str, name: &str) {
        self.goto("/console/login", name).await;
        let field = self.b.find(Locator::Css("input[name=key]")).await.unwrap();
        field.send_keys(key).await.unwrap();
        self.b
            .find(Locator::Css(
                "form[action='/console/login'] button[type=submit]",
            ))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.shot(&format!("{name}-after")).await;
    }

    /// Waits (without reloading the page) for the card of approval `id`.
    async fn wait_for_card(&mut self, id: &str) -> fantoccini::elements::Element {
        let el = self
            .b
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!("[data-approval-id='{id}']")))
            .await
            .unwrap_or_else(|e| panic!("approval {id} did not appear: {e}"));
        self.shot("approval-appeared").await;
        el
    }

    /// `fetch` from inside the page (same origin, with its cookie): the status.
    async fn fetch_status(&self, method: &str, path: &str, body: Option<&str>) -> u16 {
        let script = r"
            const [method, path, body, done] = arguments;
            const init = { method, credentials: 'same-origin', redirect: 'manual' };
            if (body !== null) {
                init.body = body;
                init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
            }
            fetch(path, init).then(r => done(r.status), e => done(String(e)));
        ";
        let v = self
            .b
            .execute_async(script, vec![json!(method), json!(path), json!(body)])
            .await
            .unwrap();
        v.as_u64().unwrap_or_else(|| panic!("fetch failed: {v}")) as u16
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium() {
    let required = std::env::var_os("INTERVEN_BROWSER_TESTS").is_some_and(|v| v == "1");
    let Some(exe) = find_on_path("chromedriver") else {
        assert!(
            !required,
            "INTERVEN_BROWSER_TESTS=1 but chromedriver is not on the PATH (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: no chromedriver on the PATH (.ci/run installs it)");
        return;
    };
    // This run's screenshots only.
    let _ = std::fs::remove_dir_all(artifacts());
    let driver = start_driver(&exe).await;
    let profile = std::env::temp_dir().join(format!(
        "interven-chromium-{}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let b = open_browser(&driver, &profile).await;
    let gw = Console::start(Config::default());
    let mut run = Run {
        b: &b,
        gw: &gw,
        step: 0,
    };
    let result = scenario(&mut run).await;
    if result.is_err() {
        run.shot("failure").await;
    }
    let _ = b.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

async fn scenario(run: &mut Run<'_>) -> Result<(), Box<dyn std::any::Any + Send>> {
    use futures_like::CatchUnwind;
    CatchUnwind(Box::pin(steps(run))).await
}

/// The scenario of the issue, step by step.
async fn steps(run: &mut Run<'_>) {
    let gw = run.gw;
    // An agent key cannot sign in.
    run.sign_in(&gw.agent, "agent-sign-in").await;
    assert_eq!(run.path().await, "/console/login");
    let alert = run.b.find(Locator::Css("[role=alert]")).await.unwrap();
    assert!(
        alert
            .text()
            .await
            .unwrap()
            .contains("Agent keys cannot sign in")
    );

    // The admin signs in and lands on the (empty) approvals.
    run.sign_in(&gw.admin, "admin-sign-in").await;
    assert_eq!(run.path().await, "/console/approvals");
    assert!(
        run.b
            .source()
            .await
            .unwrap()
            .contains("No approvals are waiting")
    );

    // A client scans a destructive request and waits; the approval
    // appears on the open page without a reload; Approve.
    let agent = gw.client(&gw.agent);
    let request = destructive("old-site");
    let v = agent.scan(&request).await.unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    let id = v.approval_id.clone().unwrap();
    let waiter = {
        let (agent, id) = (agent.clone(), id.clone());
        tokio::spawn(async move {
            agent
                .wait_for_approval(&id, Duration::from_secs(30), Duration::from_millis(50))
                .await
        })
    };
    let card = run.wait_for_card(id.as_str()).await;
    let text = card.text().await.unwrap();
    for fact in ["github", "delete_repo", "DELETE", "release-bot", "left"] {
        assert!(text.contains(fact), "{fact} not on the card: {text}");
    }
    // With the keyboard: focus Approve; a new request arriving meanwhile
    // leaves the focus where it was; Enter approves.
    let approve = card
        .find(Locator::XPath(".//button[normalize-space()='Approve']"))
        .await
        .unwrap();
    run.b
        .execute(
            "arguments[0].focus();",
            vec![serde_json::to_value(&approve).unwrap()],
        )
        .await
        .unwrap();
    let newer = agent.scan(&destructive("staging-db")).await.unwrap();
    run.wait_for_card(newer.approval_id.as_ref().unwrap().as_str())
        .await;
    let focused = run
        .b
        .execute(
            "const a = document.activeElement; const c = a.closest('[data-approval-id]'); \
             return [a.textContent.trim(), c && c.getAttribute('data-approval-id')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!(["Approve", id.as_str()]), "the focus moved");
    let cards = run
        .b
        .find_all(Locator::Css("[data-approval-id]"))
        .await
        .unwrap();
    assert_eq!(
        cards[0].attr("data-approval-id").await.unwrap().as_deref(),
        newer.approval_id.as_ref().map(|i| i.as_str()),
        "newest first"
    );
    approve.send_keys("\u{E007}").await.unwrap();
    run.shot("approved").await;
    assert_eq!(
        waiter.await.unwrap().unwrap().status,
        ApprovalStatus::Approved
    );
    let again = agent.scan(&request).await.unwrap();
    assert_eq!(again.decision, Decision::Allow);
    assert!(again.has_reason("APPROVED"));
    let flash = run.b.find(Locator::Css(".flash")).await.unwrap();
    assert!(flash.text().await.unwrap().contains("approved"));

    // The same with Deny.
    let denied = agent.scan(&destructive("prod-db")).await.unwrap();
    let deny_id = denied.approval_id.clone().unwrap();
    let waiter = {
        let (agent, id) = (agent.clone(), deny_id.clone());
        tokio::spawn(async move {
            agent
                .wait_for_approval(&id, Duration::from_secs(30), Duration::from_millis(50))
                .await
        })
    };
    let card = run.wait_for_card(deny_id.as_str()).await;
    card.find(Locator::XPath(".//button[normalize-space()='Deny']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    run.shot("denied").await;
    let err = waiter.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ApprovalDenied { .. }), "{err:?}");
    assert_eq!(
        agent.scan(&destructive("prod-db")).await.unwrap().decision,
        Decision::RequireApproval,
        "a denied request is not allowed on re-scan"
    );

    // Search by trace id finds the trace.
    run.goto("/console/traces", "activity").await;
    let q = run.b.find(Locator::Css("input[name=q]")).await.unwrap();
    q.send_keys(v.trace_id.as_str()).await.unwrap();
    q.send_keys("\u{E007}").await.unwrap(); // Enter: the keyboard submits the form.
    run.shot("trace").await;
    assert_eq!(run.path().await, format!("/console/traces/{}", v.trace_id));
    let page = run.b.source().await.unwrap();
    assert!(page.contains("verifies up to this trace"));
    assert!(page.contains(id.as_str()), "the trace's approval");

    // Keys: create one (shown once), then revoke it through the confirmation.
    run.goto("/console/keys", "keys").await;
    run.b
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("ci-agent")
        .await
        .unwrap();
    run.b
        .find(Locator::XPath("//button[normalize-space()='Create key']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    run.shot("key-created").await;
    let key = run
        .b
        .find(Locator::Css("pre.key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("ivk_") && key.len() == 68, "{key}");
    gw.client(&key).health().await.unwrap();
    let row = run
        .b
        .find(Locator::XPath("//tr[td[contains(., 'ci-agent')]]"))
        .await
        .unwrap();
    row.find(Locator::XPath(".//button[normalize-space()='Revoke']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(run.b.get_alert_text().await.unwrap().contains("ci-agent"));
    run.b.accept_alert().await.unwrap();
    let row = run
        .b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//tr[td[contains(., 'ci-agent')] and td[contains(., 'revoked')]]",
        ))
        .await
        .unwrap();
    run.shot("key-revoked").await;
    assert!(!row.text().await.unwrap().contains("Revoke"));
    assert!(!run.b.source().await.unwrap().contains(&key), "shown once");

    // A forged POST without the CSRF token is refused, from the signed-in page.
    let pending = agent.scan(&destructive("legacy-api")).await.unwrap();
    let pending_id = pending.approval_id.clone().unwrap();
    assert_eq!(
        run.fetch_status(
            "POST",
            &format!("/console/approvals/{pending_id}/approve"),
            Some("")
        )
        .await,
        403
    );
    assert_eq!(
        run.fetch_status(
            "POST",
            &format!("/console/approvals/{pending_id}/approve"),
            Some("csrf=forged")
        )
        .await,
        403
    );
    assert_eq!(
        gw.api_status(&gw.admin, pending_id.as_str()).await["status"],
        Value::from("pending")
    );

    // Another tenant's approval id answers 404.
    let theirs = gw
        .client(&gw.other_agent)
        .scan(&destructive("globex"))
        .await
        .unwrap()
        .approval_id
        .unwrap();
    run.goto(&format!("/console/approvals/{theirs}"), "other-tenant")
        .await;
    assert!(
        run.b
            .source()
            .await
            .unwrap()
            .contains("Nothing with that id exists in your tenant")
    );
    assert_eq!(
        run.fetch_status("GET", &format!("/console/approvals/{theirs}"), None)
            .await,
        404
    );

    // The approvals page as a person sees it (the README's screenshot)…
    run.goto("/console/approvals", "approvals").await;
    run.wait_for_card(pending_id.as_str()).await;
    // …and on a phone: nothing wider than the screen.
    run.b.set_window_size(390, 844).await.unwrap();
    run.goto("/console/approvals", "approvals-phone").await;
    let overflow = run
        .b
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page scrolls sideways on a phone: {overflow}"
    );
    run.b.set_window_size(1100, 900).await.unwrap();

    // Sign-out ends the session.
    run.b
        .find(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    run.shot("signed-out").await;
    assert_eq!(run.path().await, "/console/login");
    run.goto("/console/approvals", "after-sign-out").await;
    assert_eq!(run.path().await, "/console/login");
}

/// `catch_unwind` for a future, so that a failed step still leaves a
/// screenshot and closes the browser (no extra dependency for it).
mod futures_like {
    use std::any::Any;
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct CatchUnwind<F>(pub Pin<Box<F>>);

    impl<F: Future<Output = ()>> Future for CatchUnwind<F> {
        type Output = Result<(), Box<dyn Any + Send>>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let fut = self.0.as_mut();
            match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
                Err(e) => Poll::Ready(Err(e)),
            }
        }
    }
}
