//! `interven-gateway`: the self-hosted gateway's binary.

use clap::Parser;

/// See the `mimalloc` feature in `Cargo.toml`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = interven_gateway::cli::Cli::parse();
    match interven_gateway::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `policy test|check` chose the code and printed why.
        Err(e)
            if e.downcast_ref::<interven_gateway::policy_cmd::Exit>()
                .is_some() =>
        {
            let code = e
                .downcast_ref::<interven_gateway::policy_cmd::Exit>()
                .map_or(1, |x| x.0);
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
