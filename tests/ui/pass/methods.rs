//! Methods: every receiver form; the receiver is never scanned.
#![deny(warnings, unused_braces, clippy::pedantic)]

use std::sync::Arc;

use interven::Client;

struct Tool {
    client: Client,
    calls: u32,
}

impl Tool {
    #[interven::guard(tool = "t", client = self.client)]
    fn by_ref(&self, text: &str) -> interven::Result<usize> {
        Ok(text.len() + self.calls as usize)
    }

    #[interven::guard(tool = "t", client = &self.client)]
    fn by_mut(&mut self, n: u32) -> interven::Result<u32> {
        self.calls += n;
        Ok(self.calls)
    }

    #[interven::guard(tool = "t", client = Client::local_default())]
    fn by_value(self, n: u32) -> interven::Result<u32> {
        Ok(self.calls + n)
    }

    #[interven::guard(tool = "t", client = self.client.clone())]
    async fn by_arc(self: Arc<Self>, n: u32) -> interven::Result<u32> {
        Ok(self.calls + n)
    }

    #[interven::guard(tool = "t")]
    fn associated(n: u32) -> interven::Result<u32> {
        Ok(n)
    }
}

#[tokio::main]
async fn main() {
    let mut tool = Tool { client: Client::local_default(), calls: 0 };
    assert_eq!(tool.by_ref("ab").unwrap(), 2);
    assert_eq!(tool.by_mut(2).unwrap(), 2);
    let arc = Arc::new(Tool { client: Client::local_default(), calls: 1 });
    assert_eq!(arc.by_arc(1).await.unwrap(), 2);
    assert_eq!(tool.by_value(1).unwrap(), 3);
    assert_eq!(Tool::associated(5).unwrap(), 5);
}
