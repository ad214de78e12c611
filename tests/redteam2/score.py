#!/usr/bin/env python3
"""Score probes.jsonl with the gateway's offline `scan` command.

usage: python3 score.py [--bin BIN] [--probes probes.jsonl] [--json results.json]

Two passes over the same requests:
  1. the built-in policy      -> the decision that is scored;
  2. diag_policy.toml         -> every finding SANITIZEd, so `[REDACTED:TYPE]`
                                 markers and per-confidence reason codes tell
                                 which finding types fired (the built-in DENY
                                 verdict carries no body to read them from).
A secret/pii probe is caught when the decision is DENY or SANITIZE and, on
SANITIZE, no labelled value (nor its decoded plain form) survives verbatim in
the sanitized body, headers or URL. A negative is a false positive when the
decision is DENY or SANITIZE and a secret/pii finding caused it; DENY or
REQUIRE_APPROVAL from destination/transport rules alone is reported apart.
"""
import argparse, collections, datetime, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
# Default: the workspace's debug build (`cargo build -p interven-gateway`).
DEFAULT_BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "..", "target")), "debug", "interven-gateway")
ap.add_argument("--bin", default=os.environ.get("BIN", DEFAULT_BIN))
ap.add_argument("--probes", default=os.path.join(HERE, "probes.jsonl"))
ap.add_argument("--json", default=None, help="write per-probe results here")
a = ap.parse_args()

probes = [json.loads(l) for l in open(a.probes, encoding="utf-8")]
reqs = "".join(json.dumps(p["request"], ensure_ascii=False) + "\n" for p in probes).encode()


def run(extra):
    out = subprocess.run([a.bin, "scan", *extra], input=reqs, capture_output=True, check=True).stdout.decode()
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    if len(lines) != len(probes):
        sys.exit(f"scan returned {len(lines)} verdicts for {len(probes)} requests")
    return lines


verdicts = run([])
diag = run(["--policy", os.path.join(HERE, "diag_policy.toml")])

st = os.stat(a.bin)
print(f"binary: {a.bin}  mtime {datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC  size {st.st_size}")
print(f"probes: {a.probes}  ({len(probes)})   scored at {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
print()

MARK = re.compile(r"\[REDACTED:([A-Za-z0-9_]+)\]")


def strings(x, out):
    if isinstance(x, str):
        out.append(x)
    elif isinstance(x, dict):
        for k, v in x.items():
            out.append(k)
            strings(v, out)
    elif isinstance(x, list):
        for v in x:
            strings(v, out)
    return out


def types_of(d):
    s = strings(d.get("sanitized_body"), []) + strings(d.get("sanitized_headers"), [])
    t = collections.Counter()
    for x in s:
        for m in MARK.findall(x):
            t[m] += 1
    return t


DET = {"SECRET_VERIFIED", "SECRET_HIGH", "SECRET_LOW", "PII_VERIFIED", "PII_HIGH", "PII_LOW"}
results = []
for p, v, d in zip(probes, verdicts, diag):
    dec = v["decision"]
    det_codes = sorted(set(d.get("reason_codes", [])) & DET)
    other_codes = sorted(set(d.get("reason_codes", [])) - DET)
    ftypes = types_of(d)
    r = {"name": p["name"], "family": p["family"], "label": p["label"], "decision": dec, "reason_codes": v.get("reason_codes", []),
         "detections": det_codes, "other": other_codes, "types": dict(ftypes)}
    if p["label"] != "negative":
        req = p["request"]
        if dec == "SANITIZE":
            hay = strings(v.get("sanitized_body"), [])
            hay += strings(v.get("sanitized_headers") if "sanitized_headers" in v else req.get("headers", {}), [])
            hay.append(req.get("url", ""))
            blob = "\x00".join(hay)
            surv = [x for x in p["values"] if x in blob]
            surv += [x for x in p.get("plain", []) if x in blob and x not in surv]
        elif dec == "DENY":
            surv = []
        else:
            surv = list(p["values"])
        r["surviving"] = surv
        r["caught"] = dec in ("DENY", "SANITIZE") and not surv
        r["values_total"] = len(p["values"])
        r["values_leaked"] = len([x for x in p["values"] if x in surv]) if dec != "DENY" else 0
        if dec not in ("DENY", "SANITIZE"):
            r["values_leaked"] = len(p["values"])
        r["by_destination_only"] = dec in ("DENY", "SANITIZE") and not det_codes
    else:
        r["fp"] = dec in ("DENY", "SANITIZE") and bool(det_codes)
        r["non_detection_block"] = dec in ("DENY", "REQUIRE_APPROVAL", "SANITIZE") and not det_codes
    results.append(r)


def pct(n, d):
    return f"{100.0 * n / d:6.2f} %" if d else "   n/a"


def is_ev(r):
    return r["family"].startswith("evasion:")


groups = [("secrets (plain, in context)", [r for r in results if r["label"] == "secret" and not is_ev(r)]),
          ("PII (plain, in context)", [r for r in results if r["label"] == "pii" and not is_ev(r)]),
          ("evasions (secret+pii)", [r for r in results if is_ev(r)]),
          ("  evasions: secret", [r for r in results if is_ev(r) and r["label"] == "secret"]),
          ("  evasions: pii", [r for r in results if is_ev(r) and r["label"] == "pii"]),
          ("all positives", [r for r in results if r["label"] != "negative"])]
print("== overall ==")
print(f"{'group':34s} {'calls':>6s} {'caught':>7s} {'call rate':>10s} {'values':>7s} {'v.caught':>8s} {'value rate':>10s} {'left in SANITIZE':>16s}")
for g, rs_ in groups:
    n = len(rs_)
    c = sum(r["caught"] for r in rs_)
    vt = sum(r["values_total"] for r in rs_)
    vl = sum(r["values_leaked"] for r in rs_)
    vs = sum(r["values_leaked"] for r in rs_ if r["decision"] == "SANITIZE")
    print(f"{g:34s} {n:6d} {c:7d} {pct(c, n):>10s} {vt:7d} {vt - vl:8d} {pct(vt - vl, vt):>10s} {vs:16d}")
negs = [r for r in results if r["label"] == "negative"]
fp = sum(r["fp"] for r in negs)
nd = sum(r["non_detection_block"] for r in negs)
print(f"{'hard negatives':34s} {len(negs):6d}   false positives {fp} = {pct(fp, len(negs)).strip()}   "
      f"(blocked or held by destination/transport/operation rules only, not counted: {nd})")
fams_neg = collections.defaultdict(list)
for r in negs:
    fams_neg[r["family"]].append(r)
deb = {p["family"] for p in probes if p["label"] == "negative" and "debatable" in (p.get("note") or "")}
nd_negs = [r for r in negs if r["family"] not in deb]
fp_nd = sum(r["fp"] for r in nd_negs)
print(f"{'  excluding debatable families':34s} {len(nd_negs):6d}   false positives {fp_nd} = {pct(fp_nd, len(nd_negs)).strip()}   (debatable: {', '.join(sorted(deb))})")
bad_fams = sum(1 for f, rs_ in fams_neg.items() if sum(x["fp"] for x in rs_) / len(rs_) > 0.02)
print(f"negative families: {len(fams_neg)}, with FP rate > 2 %: {bad_fams}")
dec_c = collections.Counter((r["label"], r["decision"]) for r in results)
print("decisions: " + ", ".join(f"{l}/{d}={n}" for (l, d), n in sorted(dec_c.items())))
bydest = [r for r in results if r["label"] != "negative" and r.get("by_destination_only")]
if bydest:
    print(f"positives blocked only by a destination/transport rule (counted caught per the brief): {len(bydest)}")
print()

print("== per family: positives (calls, caught, rate, values left after SANITIZE) ==")
fams = collections.defaultdict(list)
for r in results:
    if r["label"] != "negative":
        fams[r["family"]].append(r)
for f in sorted(fams, key=lambda f: (sum(x["caught"] for x in fams[f]) / len(fams[f]), f)):
    rs_ = fams[f]
    c = sum(x["caught"] for x in rs_)
    left = sum(x["values_leaked"] for x in rs_ if x["decision"] == "SANITIZE")
    print(f"  {f:44s} {len(rs_):4d} {c:4d} {pct(c, len(rs_))}  left={left}")
print()
print("== per family: negatives (calls, FPs, FP rate) ==")
for f in sorted(fams_neg, key=lambda f: (-sum(x["fp"] for x in fams_neg[f]) / len(fams_neg[f]), f)):
    rs_ = fams_neg[f]
    n_fp = sum(x["fp"] for x in rs_)
    print(f"  {f:44s} {len(rs_):4d} {n_fp:4d} {pct(n_fp, len(rs_))}")
print()


def short(s, n=48):
    s = s.replace("\n", "\\n")
    return s if len(s) <= n else s[:n] + "…"


def tstr(r):
    return ",".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(r["types"].items())) or "-"


print("== misses (positives not caught) ==")
for r in sorted((r for r in results if r["label"] != "negative" and not r["caught"]), key=lambda r: (r["family"], r["name"])):
    why = "ALLOWED" if r["decision"] not in ("DENY", "SANITIZE") else f"LEFT {len(r['surviving'])} value(s): " + " | ".join(short(x, 40) for x in r["surviving"][:2])
    print(f"  {r['name']:40s} {r['family']:36s} {r['decision']:9s} codes={','.join(r['reason_codes']) or '-'} det={','.join(r['detections']) or '-'} types={tstr(r)}  {why}")
print()
print("== false positives (negatives DENIED or SANITIZED by a detection) ==")
for r in sorted((r for r in results if r["label"] == "negative" and r["fp"]), key=lambda r: (r["family"], r["name"])):
    print(f"  {r['name']:40s} {r['family']:36s} {r['decision']:9s} codes={','.join(r['reason_codes'])} det={','.join(r['detections'])} types={tstr(r)}")
print()
print("== negatives blocked by destination/transport/operation rules only (not detection FPs) ==")
for r in (r for r in results if r["label"] == "negative" and r["non_detection_block"]):
    print(f"  {r['name']:40s} {r['family']:36s} {r['decision']:9s} codes={','.join(r['reason_codes'])}")
print()
print("== redaction completeness under diag_policy.toml (every finding SANITIZEd, as a user policy that redacts instead of denying would) ==")
print("   a labelled value (or a 12-character window of it, not all digits) still present after SANITIZE, although a finding fired in the call")


def partial(val, blob, W=12):
    for i in range(0, len(val) - W + 1):
        w = val[i:i + W]
        if w in blob and not w.isdigit():
            return w
    return None


n_full = n_part = 0
for p, d in zip(probes, diag):
    if p["label"] == "negative" or d.get("decision") != "SANITIZE" or "sanitized_body" not in d:
        continue
    hay = strings(d.get("sanitized_body"), []) + strings(d.get("sanitized_headers") if "sanitized_headers" in d else p["request"].get("headers", {}), [])
    blob = "\x00".join(hay)
    for val in p["values"] + p.get("plain", []):
        if val in blob:
            n_full += 1
            continue
        w = partial(val, blob)
        if w:
            n_part += 1
            ctx = next(x for x in hay if w in x)
            i = ctx.find(w)
            print(f"  PARTIAL {p['name']:40s} {p['family']:30s} value len {len(val)}, left e.g. …{short(ctx[max(0, i - 30):i + 20], 60)}")
print(f"  values left whole (incl. ones no finding covered): {n_full}; values left in part: {n_part}")
if a.json:
    json.dump(results, open(a.json, "w"), indent=1, ensure_ascii=False)
