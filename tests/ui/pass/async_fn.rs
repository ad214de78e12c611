//! An async free fn: borrowed and owned arguments, `?`, early `return`, `.await`, every key.
#![deny(warnings, unused_braces, clippy::pedantic)]

use interven::Client;

#[derive(Debug)]
pub struct MyError(String);

impl From<interven::Error> for MyError {
    fn from(e: interven::Error) -> Self {
        MyError(e.to_string())
    }
}

/// Posts a message.
#[interven::guard(tool = "slack", operation = "post_message")]
pub async fn send_slack(channel: &str, text: String) -> Result<usize, MyError> {
    if text.is_empty() {
        return Ok(0);
    }
    tokio::task::yield_now().await;
    let n: usize = "3".parse().map_err(|_| MyError("parse".into()))?;
    Ok(channel.len() + text.len() + n)
}

#[interven::guard(
    tool = "github",
    operation = "create_pull",
    method = "post",
    url = format!("https://api.github.com/repos/{repo}/pulls"),
    skip(token),
    client = Client::local_default(),
    approval = "wait",
)]
async fn create_pull(repo: &str, title: String, token: String) -> interven::Result<String> {
    Ok(format!("{repo}:{title}:{}", token.len()))
}

#[interven::guard(tool = "jobs", approval = "error")]
async fn no_arguments() -> interven::Result<()> {
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), MyError> {
    assert_eq!(send_slack("#ops", "hello".into()).await?, 12);
    assert_eq!(send_slack("#ops", String::new()).await?, 0);
    assert_eq!(create_pull("o/r", "Fix".into(), "t".into()).await.unwrap(), "o/r:Fix:1");
    no_arguments().await.unwrap();
    Ok(())
}
