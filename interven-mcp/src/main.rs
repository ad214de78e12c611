//! `interven-mcp`: a guard proxy for any MCP server.
//!
//! ```sh
//! interven-mcp stdio [OPTIONS] -- <server command> [args...]
//! interven-mcp http --bind 127.0.0.1:8931 [OPTIONS] -- <server command> [args...]
//! interven-mcp http --bind 127.0.0.1:8931 --upstream https://host/mcp [OPTIONS]
//! interven-mcp pins list|accept [TOOL] --pins FILE
//! ```
//!
//! Every `tools/call` is scanned by interven (the embedded engine, or the
//! gateway when `INTERVEN_API_KEY` is set) before the server sees it, every
//! result is scanned and its secrets redacted before the client sees it,
//! and tool definitions are pinned and checked for poisoning. Everything
//! else passes through. Logs go to stderr only.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod guard;
mod http_client;
mod http_wire;
mod pins;
mod poison;
mod proxy;
mod wire;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use interven::Client;
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::guard::{ApprovalMode, Guard, Settings};
use crate::pins::PinFile;
use crate::proxy::{ProxyServer, Upstream};

/// A guard proxy for any MCP server: scans every tool call and result with interven.
#[derive(Debug, Parser)]
#[command(name = "interven-mcp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the MCP client on stdin/stdout; spawn the server command as a child.
    Stdio {
        #[command(flatten)]
        options: Options,
        /// The server command and its arguments, after `--`.
        #[arg(last = true, required = true, num_args = 1..)]
        server: Vec<OsString>,
    },
    /// Serve streamable HTTP on `--bind`, to a server command or an `--upstream` URL.
    Http {
        /// Address to listen on; the endpoint is `/mcp`.
        #[arg(long, default_value = "127.0.0.1:8931")]
        bind: SocketAddr,
        /// A streamable-HTTP MCP server to guard, instead of a command.
        #[arg(long, conflicts_with = "server")]
        upstream: Option<String>,
        #[command(flatten)]
        options: Options,
        /// The server command and its arguments, after `--` (one process per session).
        #[arg(last = true, num_args = 1..)]
        server: Vec<OsString>,
    },
    /// List or accept tool-definition pins.
    Pins {
        #[command(subcommand)]
        action: PinsAction,
    },
}

#[derive(Debug, Subcommand)]
enum PinsAction {
    /// List the pinned tools, and the changed definitions waiting for `accept`.
    List {
        /// The pin file.
        #[arg(long, default_value_os_t = pins::default_path())]
        pins: PathBuf,
    },
    /// Accept the changed definition of TOOL (`name` or `server/name`), or of every tool.
    Accept {
        /// The tool; every changed tool when omitted.
        tool: Option<String>,
        /// The pin file.
        #[arg(long, default_value_os_t = pins::default_path())]
        pins: PathBuf,
    },
}

#[derive(Debug, Args)]
struct Options {
    /// The server's name in scan requests (`mcp://<name>/tools/<tool>`); default: the name in its `initialize` answer.
    #[arg(long)]
    name: Option<String>,
    /// A TOML policy file for the embedded engine (also `INTERVEN_POLICY`).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The tool-definition pin file.
    #[arg(long, default_value_os_t = pins::default_path())]
    pins: PathBuf,
    /// What REQUIRE_APPROVAL does: ask through MCP elicitation, wait for a gateway approval, or deny.
    #[arg(long, value_enum, default_value_t = ApprovalMode::Elicit)]
    approval: ApprovalMode,
}

impl Options {
    fn guard(self) -> anyhow::Result<Arc<Guard>> {
        let mut builder = Client::builder().with_env();
        if let Some(policy) = &self.policy {
            builder = builder.policy(
                interven::engine::Policy::from_file(policy)
                    .with_context(|| format!("cannot load the policy {}", policy.display()))?,
            );
        }
        let client = builder.build().context("cannot configure interven")?;
        tracing::info!(engine = if client.is_remote() { "gateway" } else { "embedded" }, pins = %self.pins.display(), approval = ?self.approval, "interven-mcp starting");
        Ok(Arc::new(Guard::new(Settings {
            client,
            policy: self
                .policy
                .or_else(|| std::env::var_os(interven::env::POLICY).map(PathBuf::from)),
            name: self.name,
            pins: self.pins,
            approval: self.approval,
        })?))
    }
}

fn main() -> ExitCode {
    // Logs on stderr only: stdout is the MCP channel.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("INTERVEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("interven_mcp=info,warn")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("interven-mcp: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("interven-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The upstream HTTPS client uses ring, as the rest of interven does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Stdio { options, server } => {
            let guard = options.guard()?;
            // The proxy owns its stdio: a wire under rmcp relays what rmcp's
            // model does not know (capabilities, tasks; see `wire`).
            let client_wire = wire::Wire::new(wire::Edge::Client);
            let proxy = ProxyServer::with_client_wire(
                guard,
                Arc::new(Upstream::Command(server)),
                Some(client_wire.clone()),
            );
            let session = proxy.session();
            let served = proxy.serve(wire::stdio(client_wire)).await;
            let result = match served {
                Ok(running) => {
                    let reason = running.waiting().await;
                    tracing::info!(?reason, "the MCP client disconnected");
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("the MCP session did not start: {e}")),
            };
            session.close().await;
            result
        }
        Command::Http {
            bind,
            upstream,
            options,
            server,
        } => {
            let upstream = match (upstream, server.is_empty()) {
                (Some(url), _) => Upstream::Url(url),
                (None, false) => Upstream::Command(server),
                (None, true) => {
                    anyhow::bail!("give the server: `-- <command> [args...]` or `--upstream URL`")
                }
            };
            let guard = options.guard()?;
            let upstream = Arc::new(upstream);
            // Each session's messages cross a wire, as on stdio (see `http_wire`).
            let sessions = http_wire::WiredSessions::default();
            let wires = sessions.wires();
            let service = StreamableHttpService::new(
                move || Ok(ProxyServer::new(guard.clone(), upstream.clone())),
                Arc::new(sessions),
                StreamableHttpServerConfig::default(),
            );
            let router = axum::Router::new().nest_service("/mcp", service).layer(
                axum::middleware::from_fn_with_state(wires, http_wire::inbound),
            );
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving streamable HTTP on /mcp");
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .context("the HTTP server failed")
        }
        Command::Pins { action } => match action {
            PinsAction::List { pins } => {
                let file = PinFile::load(&pins)?;
                if file.servers.values().all(|t| t.is_empty()) {
                    println!("no pinned tools in {}", pins.display());
                }
                for (server, tools) in &file.servers {
                    for (tool, pin) in tools {
                        match &pin.pending {
                            Some(p) => println!(
                                "{server}/{tool}  {}  CHANGED to {} (withheld; `interven-mcp pins accept {tool}`)",
                                short(&pin.sha256),
                                short(&p.sha256)
                            ),
                            None => println!("{server}/{tool}  {}", short(&pin.sha256)),
                        }
                    }
                }
                Ok(())
            }
            PinsAction::Accept { tool, pins } => {
                let mut file = PinFile::load(&pins)?;
                let accepted = file.accept(tool.as_deref());
                if accepted.is_empty() {
                    anyhow::bail!(
                        "no changed definition to accept{}",
                        tool.map(|t| format!(" for `{t}`")).unwrap_or_default()
                    );
                }
                file.save(&pins)?;
                for a in accepted {
                    println!("accepted {a}");
                }
                Ok(())
            }
        },
    }
}

fn short(sha: &str) -> &str {
    sha.get(..16).unwrap_or(sha)
}
