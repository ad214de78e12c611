"""The shared policy cases (tests/policy/*.jsonl) through the official Python
SDK against a gateway serving the case file's policy (run by
python-sdk-e2e.sh, one gateway per policy).

The Python SDK cannot send a tool or an operation, so cases that name one
are skipped, and counted as skipped.
"""
import json
import os
import sys
import time

import requests
from interven import Client

URL = os.environ["INTERVEN_GATEWAY_URL"]
cases_file = sys.argv[1]

for _ in range(100):
    try:
        if requests.get(f"{URL}/health", timeout=1).status_code == 200:
            break
    except requests.RequestException:
        pass
    time.sleep(0.1)

client = Client()  # INTERVEN_API_KEY and INTERVEN_GATEWAY_URL from the environment
passed = failed = skipped = 0
with open(cases_file) as f:
    for line in f:
        if not line.strip():
            continue
        case = json.loads(line)
        req, want = case["request"], case["expect"]
        if req.get("tool") or req.get("operation"):
            skipped += 1
            continue
        r = client.scan(method=req["method"], url=req["url"], body=req.get("body"),
                        headers=req.get("headers"), agent_id=req.get("agent_id"))
        ok = r.decision == want["decision"]
        if "reason_codes" in want:
            ok = ok and set(r.reason_codes) == set(want["reason_codes"])
        if "monitor" in want:
            got = r.raw.get("monitor")
            if want["monitor"] is None:
                ok = ok and got is None
            else:
                ok = ok and got is not None and got["decision"] == want["monitor"]["decision"]
                if "reason_codes" in want["monitor"]:
                    ok = ok and set(got["reason_codes"]) == set(want["monitor"]["reason_codes"])
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {cases_file}: {case['name']}: expected {want}, got {r.raw}")

print(f"python-sdk policy cases {os.path.basename(cases_file)}: {passed} passed, {failed} failed, {skipped} skipped (tool or operation)")
raise SystemExit(1 if failed or passed == 0 else 0)
