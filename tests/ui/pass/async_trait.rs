//! `async fn` in trait impls, native and inside `#[async_trait]`.
#![deny(warnings, unused_braces, clippy::pedantic)]

use interven::Client;

trait Native {
    async fn call(&self, text: &str) -> interven::Result<usize>;
}

struct Impl {
    client: Client,
}

impl Native for Impl {
    #[interven::guard(tool = "native", client = self.client)]
    async fn call(&self, text: &str) -> interven::Result<usize> {
        tokio::task::yield_now().await;
        Ok(text.len())
    }
}

#[async_trait::async_trait]
trait Boxed {
    async fn call(&self, text: &str, n: u32) -> anyhow::Result<usize>;
}

#[async_trait::async_trait]
impl Boxed for Impl {
    #[interven::guard(tool = "boxed", client = self.client)]
    async fn call(&self, text: &str, n: u32) -> anyhow::Result<usize> {
        if n == 0 {
            return Ok(0);
        }
        tokio::task::yield_now().await;
        Ok(text.len() + n as usize)
    }
}

#[tokio::main]
async fn main() {
    let i = Impl { client: Client::local_default() };
    assert_eq!(Native::call(&i, "abc").await.unwrap(), 3);
    assert_eq!(Boxed::call(&i, "abc", 1).await.unwrap(), 4);
    assert_eq!(Boxed::call(&i, "abc", 0).await.unwrap(), 0);
    // The boxed future is Send, as #[async_trait] requires.
    let handle = tokio::spawn(async move { Boxed::call(&i, "x", 1).await.unwrap() });
    assert_eq!(handle.await.unwrap(), 2);
}
