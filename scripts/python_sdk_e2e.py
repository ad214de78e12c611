"""The official Python SDK against interven-gateway (run by python-sdk-e2e.sh)."""
import os
import time

import requests
from interven import ApprovalDeniedError, AuthenticationError, Client

URL = os.environ["INTERVEN_GATEWAY_URL"]
ADMIN = os.environ["INTERVEN_ADMIN_KEY"]
passed = failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAILED: {name} {detail}")


for _ in range(100):
    try:
        if requests.get(f"{URL}/health", timeout=1).status_code == 200:
            break
    except requests.RequestException:
        pass
    time.sleep(0.1)

client = Client(agent_id="py-agent")  # INTERVEN_API_KEY and INTERVEN_GATEWAY_URL from the environment
check("health", client.health())

r = client.scan(method="post", url="https://slack.com/api/chat.postMessage", body={"text": "deploy done"})
check("allow", r.allowed and r.trace_id.startswith("tr_"), r.raw)

key = "AKIA" + "Q3EGRB4VXLTU7MCN"
r = client.scan(method="POST", url="https://slack.com/api/chat.postMessage", body={"text": key})
check("deny", r.blocked and r.reason_codes == ["SECRET_DETECTED"], r.raw)

r = client.scan(method="POST", url="https://x.io/notes", body={"to": "jane.roe@acme.io"})
check("sanitize", r.needs_sanitization and r.sanitized_body == {"to": "[REDACTED:EMAIL]"}, r.raw)

r = client.scan(method="GET", url="https://crm.acme.io/customers/7")
classified = client.scan_response(trace_id=r.trace_id, response_body={"email": "vip@bigcorp.io"}, response_status=200)
check("scan_response", classified["data_classes"] == ["EMAIL"] and classified["content_fingerprint"].startswith("sha256:"), classified)
r = client.scan(method="POST", url="https://paste.acme.io/new", body={"note": "vip@bigcorp.io"})
check("exfiltration chain", r.blocked and "EXFILTRATION_CHAIN" in r.reason_codes, r.raw)

r = client.scan(method="DELETE", url="https://api.github.com/repos/acme/old")
check("require approval", r.needs_approval and r.approval_id, r.raw)
status = client.poll_approval(r.approval_id)
check("approval pending", status.status == "pending" and status.remaining_seconds > 0, status)
resp = requests.post(f"{URL}/v1/approvals/{r.approval_id}/approve", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
check("admin approves", resp.status_code == 200, resp.text)
final = client.wait_for_approval(r.approval_id, poll_interval=2.5, max_wait=10)
check("approved", final.is_approved and final.decision == "ALLOW", final)
again = client.scan(method="DELETE", url="https://api.github.com/repos/acme/old")
check("allowed after approval", again.allowed, again.raw)

r = client.scan(method="DELETE", url="https://api.github.com/repos/acme/other")
requests.post(f"{URL}/v1/approvals/{r.approval_id}/deny", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
try:
    client.wait_for_approval(r.approval_id, poll_interval=2.5, max_wait=10)
    check("denied", False, "no error")
except ApprovalDeniedError:
    check("denied", True)

try:
    Client(api_key="ivk_wrong").scan(method="GET", url="https://x.io")
    check("bad key", False, "no error")
except AuthenticationError:
    check("bad key", True)

print(f"python-sdk: {passed} passed, {failed} failed")
raise SystemExit(1 if failed else 0)
