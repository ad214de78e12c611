"""An MCP server with tasks (2025-11-25, SEP-1686) for interven-mcp's tests:
raw JSON-RPC over stdio (no SDK: PyPI `mcp` 2.3.0 has no tasks API, and its
models would drop what the tests check).

It advertises `capabilities.tasks` and serves two tools:

- `fetch_record` (`execution.taskSupport: "optional"`): called with a `task`,
  it answers a CreateTaskResult, and the task completes at once. The
  record it returns (through `tasks/result`, and embedded SEP-2663-style as
  `result` in its `tasks/get` answer and its completed status
  notification) holds an AWS access key and an email address.
- `send_message`: "sends" its `body` to `to`.

With TASK_CALLS set to a file, every request that reaches the server is
appended to it as {"method", "params"}, so a test can check what the proxy
forwarded (the client's raw capabilities, the `task` parameter) and what it
never did. With TASK_DESCRIPTION set, `fetch_record` has that description
(a changed or poisoned definition).

With TASK_HTTP_PORT set, it serves streamable HTTP on 127.0.0.1 at `/mcp`
instead: a JSON body answers each request, except a `tools/call`, whose
answer (and a task's status notification) comes as an SSE stream; a
notification gets 202, a GET 405 (no server stream).
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = "AKIAZ7QWERTYUIOP4ZXC"
EMAIL = "jane.doe@acme.io"
NOW = "2026-01-01T00:00:00Z"

TOOLS = [
    {
        "name": "fetch_record",
        "description": "Fetch a customer record by id.",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        "execution": {"taskSupport": "optional"},
    },
    {
        "name": "send_message",
        "description": "Send a message.",
        "inputSchema": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
            "required": ["to", "body"],
        },
    },
]

if os.environ.get("TASK_DESCRIPTION"):
    TOOLS[0]["description"] = os.environ["TASK_DESCRIPTION"]

tasks = {}


outbox = []


def write(msg):
    outbox.append(msg)


def answer(msg_id, result=None, error=None):
    out = {"jsonrpc": "2.0", "id": msg_id}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    write(out)


def record(method, params):
    if os.environ.get("TASK_CALLS"):
        with open(os.environ["TASK_CALLS"], "a") as f:
            f.write(json.dumps({"method": method, "params": params}) + "\n")


def fetch(record_id):
    text = f"record {record_id}: owner {EMAIL}, aws_access_key_id = {SECRET}"
    return {"content": [{"type": "text", "text": text}], "isError": False}


def task_view(task_id, with_result=False):
    t = tasks[task_id]
    view = {
        "taskId": task_id,
        "status": t["status"],
        "ttl": 60000,
        "createdAt": NOW,
        "lastUpdatedAt": NOW,
        "pollInterval": 100,
    }
    if with_result and t["status"] == "completed":
        view["result"] = t["result"]
    return view


def handle(msg):
    method, msg_id, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
    if msg_id is None:
        return  # a notification
    record(method, params)
    if method == "initialize":
        answer(msg_id, {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {
                "tools": {},
                "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
            },
            "serverInfo": {"name": "records", "version": "1.0.0"},
        })
    elif method == "tools/list":
        answer(msg_id, {"tools": TOOLS})
    elif method == "tools/call":
        name, args = params.get("name"), params.get("arguments") or {}
        if name == "fetch_record":
            result = fetch(args.get("id", "?"))
            if "task" in params:
                task_id = f"task-{len(tasks) + 1}"
                tasks[task_id] = {"status": "working", "result": result}
                answer(msg_id, {"task": task_view(task_id)})
                tasks[task_id]["status"] = "completed"
                status = task_view(task_id, with_result=True)
                write({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": status})
            else:
                answer(msg_id, result)
        elif name == "send_message":
            answer(msg_id, {"content": [{"type": "text", "text": f"sent to {args.get('to')}"}], "isError": False})
        else:
            answer(msg_id, error={"code": -32602, "message": f"unknown tool {name}"})
    elif method == "tasks/get":
        task_id = params.get("taskId")
        if task_id in tasks:
            answer(msg_id, task_view(task_id, with_result=True))
        else:
            answer(msg_id, error={"code": -32602, "message": f"no task {task_id}"})
    elif method == "tasks/result":
        task_id = params.get("taskId")
        if task_id in tasks:
            result = dict(tasks[task_id]["result"])
            result["_meta"] = {"io.modelcontextprotocol/related-task": {"taskId": task_id}}
            answer(msg_id, result)
        else:
            answer(msg_id, error={"code": -32602, "message": f"no task {task_id}"})
    elif method == "tasks/list":
        answer(msg_id, {"tasks": [task_view(t, with_result=True) for t in tasks]})
    elif method == "tasks/cancel":
        answer(msg_id, error={"code": -32602, "message": "Cannot cancel task in terminal status: completed"})
    elif method == "ping":
        answer(msg_id, {})
    else:
        answer(msg_id, error={"code": -32601, "message": f"unknown method {method}"})


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        outbox.clear()
        handle(msg)
        if msg.get("id") is None or not outbox:
            self.send_response(202)
            self.end_headers()
            return
        if msg.get("method") == "tools/call":
            body = b"".join(b"data: " + json.dumps(m).encode() + b"\n\n" for m in outbox)
            kind = "text/event-stream"
        else:
            body = json.dumps(outbox[0]).encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Mcp-Session-Id", "records-1")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(405)
        self.end_headers()

    def do_DELETE(self):
        self.send_response(405)
        self.end_headers()

    def log_message(self, *args):
        pass


if os.environ.get("TASK_HTTP_PORT"):
    HTTPServer(("127.0.0.1", int(os.environ["TASK_HTTP_PORT"])), Http).serve_forever()
else:
    for line in sys.stdin:
        if not line.strip():
            continue
        outbox.clear()
        handle(json.loads(line))
        for out in outbox:
            sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
