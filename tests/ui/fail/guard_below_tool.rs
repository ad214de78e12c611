use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};

struct Mailer;

#[tool_router]
impl Mailer {
    #[tool(description = "Send an email")]
    #[interven::guard(tool = "mail", operation = "send")]
    async fn send_email(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("sent")]))
    }
}

fn main() {
    let _ = Mailer::tool_router();
}
