#![deny(warnings)]
//! An rmcp tool: the guard above `#[tool]`, rmcp's return type without any
//! `From` impl, context parameters that are never scanned.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Peer, RoleServer, tool, tool_router};

#[derive(serde::Serialize, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct SendReq {
    to: String,
    body: String,
}

struct Mailer;

#[tool_router]
impl Mailer {
    #[interven::guard(tool = "mail", operation = "send")]
    #[tool(description = "Send an email")]
    async fn send_email(
        &self,
        Parameters(req): Parameters<SendReq>,
        ctx: RequestContext<RoleServer>,
        _peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let _ = ctx.id;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("{}: {}", req.to, req.body))]))
    }

    /// A sync tool.
    #[interven::guard(tool = "mail")]
    #[tool]
    fn count(&self, params: Parameters<SendReq>) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(params.0.body.len().to_string())]))
    }
}

fn main() {
    let _ = Mailer::tool_router();
}
