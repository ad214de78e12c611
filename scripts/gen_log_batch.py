#!/usr/bin/env python3
"""Writes a log-batch scan request: one JSON Lines line for `interven-gateway
scan`, whose body is {"records": [...]} with N log records (a log query's
result). Deterministic (seeded). About 500 bytes a record: 200,000 records
make 100 MB. One record in 5,000 carries an e-mail address and one in 50,000
a cloud access key, as real log exports do; the rest is clean.

usage: gen_log_batch.py OUT [RECORDS]
"""
import json
import random
import sys

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
rng = random.Random(0x10C5)
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HEX = "0123456789abcdef"
SERVICES = ["api", "orders", "billing", "search", "auth-proxy", "worker"]
PATHS = ["/api/v2/orders", "/api/v2/carts", "/api/v1/search", "/healthz", "/api/v2/users/me"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "okhttp/4.12.0"]

with open(out, "w", encoding="utf-8") as f:
    f.write('{"method":"POST","url":"https://logs.acme-corp.net/api/query","tool":"logs","operation":"query","body":{"records":[')
    for i in range(n):
        msg = f"{rng.choice(['GET', 'POST', 'PUT'])} {rng.choice(PATHS)}/{rng.randrange(10**6)} -> {rng.choice([200, 200, 200, 201, 404, 500])} in {rng.randrange(1, 900)} ms"
        if i % 5000 == 2500:
            msg += f"; notified jane.doe{i}@acme-corp.net"
        if i % 50000 == 25000:
            msg += " using AKIA" + "".join(rng.choice(B32) for _ in range(16))
        rec = {
            "ts": f"2026-11-24T19:{i // 3600 % 60:02}:{i // 60 % 60:02}.{i % 1000:03}Z",
            "level": rng.choice(["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"]),
            "service": rng.choice(SERVICES),
            "host": f"web-{rng.randrange(40)}.eu-west-1.internal",
            "message": msg,
            "request_id": "req_" + "".join(rng.choice(B32) for _ in range(26)),
            "trace_id": "".join(rng.choice(HEX) for _ in range(32)),
            "span_id": "".join(rng.choice(HEX) for _ in range(16)),
            "user_id": f"u{rng.randrange(10**6)}",
            "http": {"method": "GET", "status": 200, "latency_ms": rng.randrange(900),
                     "bytes": rng.randrange(10**6), "user_agent": rng.choice(AGENTS)},
            "tags": ["prod", "eu-west-1", rng.choice(SERVICES)],
            "attempt": rng.randrange(4),
            "env": "production",
            "region": "eu-west-1",
            "version": f"2.{rng.randrange(20)}.{rng.randrange(10)}",
        }
        if i:
            f.write(",")
        f.write(json.dumps(rec, separators=(",", ":")))
    f.write("]}}\n")
