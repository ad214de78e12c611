//! The console and the notifications end to end, against a gateway on
//! 127.0.0.1: the console's rules over plain HTTP, the console in a real
//! browser (headless Chromium through WebDriver), and webhook delivery to
//! a local receiver.

mod browser;
mod http;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use interven::engine::Engine;
use interven::{Client, ScanRequest};
use interven_gateway::{AppState, Config, Store, auth};
use serde_json::{Value, json};

/// A gateway with two tenants: acme (admin `ops-admin`, an agent key) and
/// globex (an admin and an agent key).
pub struct Console {
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub admin: String,
    pub agent: String,
    pub other_admin: String,
    pub other_agent: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Console {
    pub fn start(config: Config) -> Console {
        let db = crate::temp_db("console");
        let store = Store::open(&db).unwrap();
        let admin = auth::create_key(&store, "ops-admin", "acme", true).unwrap();
        let agent = auth::create_key(&store, "acme-agent", "acme", false).unwrap();
        let other_admin = auth::create_key(&store, "globex-admin", "globex", true).unwrap();
        let other_agent = auth::create_key(&store, "globex-agent", "globex", false).unwrap();
        let state = AppState::new(Engine::default(), store, config);
        let (addr, stop) = crate::serve_in_thread(state);
        Console {
            addr,
            db,
            admin,
            agent,
            other_admin,
            other_agent,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn client(&self, key: &str) -> Client {
        Client::builder()
            .api_key(key)
            .gateway_url(self.url(""))
            .approval_poll_interval(Duration::from_millis(25))
            .build()
            .unwrap()
    }

    /// The approval API's view of an approval (status), as an admin.
    pub async fn api_status(&self, key: &str, id: &str) -> Value {
        reqwest::Client::new()
            .get(self.url(&format!("/v1/approvals/{id}/status")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A destructive request (DELETE of a repository): REQUIRE_APPROVAL under
/// the default policy.
pub fn destructive(repo: &str) -> ScanRequest {
    ScanRequest::builder(
        "DELETE",
        format!("https://api.github.com/repos/acme/{repo}"),
    )
    .json_body(json!({ "confirm": true }))
    .tool("github")
    .operation("delete_repo")
    .agent_id("release-bot")
    .build()
    .unwrap()
}
