#!/usr/bin/env python3
"""Score the interven detector on the held-out probes via `interven-gateway scan`.

usage: score.py [--bin PATH] [--probes probes.jsonl] [--json out.json]
"""
import argparse, collections, json, os, subprocess, sys, time

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BINS = [
    os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(_ROOT, "target")), "debug", "interven-gateway"),
]
CAUGHT = {"DENY", "SANITIZE"}
# beyond what issue 10 asks for (reported, but also shown excluded)
STRETCH_FAMILIES = {"evasion_hard_transform"}
STRETCH_NAMES = ("ssn_words",)
# negatives a reasonable user might want flagged; FP rate also shown without them
DEBATABLE_NEG = {"neg_non_personal_email", "neg_placeholder_changeme"}


def stretch(p):
    return p["family"] in STRETCH_FAMILIES or any(x in p["name"] for x in STRETCH_NAMES)


def leaves(o, out):
    if isinstance(o, dict):
        for k, v in o.items():
            out.append(str(k))
            leaves(v, out)
    elif isinstance(o, list):
        for v in o:
            leaves(v, out)
    elif o is not None:
        out.append(o if isinstance(o, str) else json.dumps(o))
    return out


def survives(v, texts):
    return any(v in t for t in texts)


def partial(v, texts):
    """Longest fragment of v (>= 12 chars and >= half of v) still present."""
    L = max(12, len(v) // 2)
    if len(v) < L:
        return False
    for i in range(0, len(v) - L + 1):
        frag = v[i:i + L]
        if any(frag in t for t in texts):
            return True
    return False


def run(bin_, reqs):
    inp = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reqs)
    p = subprocess.run([bin_, "scan"], input=inp.encode(), capture_output=True, timeout=600)
    lines = p.stdout.decode().splitlines()
    if p.returncode != 0 or len(lines) != len(reqs):
        sys.stderr.write(p.stderr.decode()[-2000:])
        raise SystemExit(f"scan failed: rc={p.returncode} lines={len(lines)} expected={len(reqs)}")
    return [json.loads(l) for l in lines]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--probes", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "probes.jsonl"))
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true", help="table only, no miss list")
    a = ap.parse_args()
    bin_ = a.bin or next((b for b in DEFAULT_BINS if os.path.exists(b)), None)
    if not bin_:
        raise SystemExit("no gateway binary found")
    st = os.stat(bin_)
    print(f"binary: {bin_}  mtime: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(st.st_mtime))}  size: {st.st_size}")
    probes = [json.loads(l) for l in open(a.probes) if l.strip()]
    print(f"probes: {a.probes} ({len(probes)})")

    # destination control: same url/tool/operation with a harmless body must ALLOW
    ctl_keys = sorted({(p["request"]["url"], p["request"].get("tool"), p["request"].get("operation")) for p in probes}, key=str)
    ctl_reqs = [{"method": "POST", "url": u, "body": {"text": "hello, the build passed"}, **({"tool": t} if t else {}),
                 **({"operation": o} if o else {})} for u, t, o in ctl_keys]
    bad_ctl = [(k, v["decision"]) for k, v in zip(ctl_keys, run(bin_, ctl_reqs)) if v["decision"] != "ALLOW"]
    print(f"destination control: {len(ctl_keys)} url/tool combos, {len(bad_ctl)} not ALLOW on a harmless body")
    for k, d in bad_ctl[:10]:
        print("   ", d, k)

    t0 = time.time()
    verdicts = run(bin_, [p["request"] for p in probes])
    dt = time.time() - t0
    print(f"scan time: {dt:.2f}s for {len(probes)} calls")

    fam = collections.defaultdict(lambda: {"n": 0, "hit": 0, "label": None})
    tot = collections.Counter()
    misses, fps, leaks, partials = [], [], [], []
    for p, v in zip(probes, verdicts):
        d = v.get("decision")
        f = fam[p["family"]]
        f["n"] += 1
        f["label"] = p["label"]
        texts = leaves(v.get("sanitized_body"), []) if d == "SANITIZE" else []
        if p["label"] == "negative":
            tot["neg"] += 1
            deb = p["family"] in DEBATABLE_NEG
            if not deb:
                tot["neg_firm"] += 1
            if d in CAUGHT:
                f["hit"] += 1
                tot["fp"] += 1
                if not deb:
                    tot["fp_firm"] += 1
                fps.append((p, v))
            continue
        kind = p["label"]
        ev = p["family"].startswith("evasion")
        tot[kind] += 1
        tot[kind + "_values"] += len(p["values"])
        if ev:
            tot[kind + "_ev"] += 1
        surv = [x for x in p["values"] if d == "SANITIZE" and survives(x, texts)]
        part = [x for x in p["values"] if d == "SANITIZE" and x not in surv and partial(x, texts)]
        if d == "SANITIZE":
            tot[kind + "_sanitize_values"] += len(p["values"])
        tot[kind + "_survive"] += len(surv)
        tot[kind + "_partial"] += len(part)
        if part:
            partials.append((p, v, part))
        ok = d in CAUGHT and not surv
        if d in CAUGHT:
            tot[kind + "_values_caught"] += len(p["values"]) - len(surv)
        if not stretch(p):
            tot[kind + "_core"] += 1
            if ok:
                tot[kind + "_core_caught"] += 1
        if ok:
            f["hit"] += 1
            tot[kind + "_caught"] += 1
            if ev:
                tot[kind + "_ev_caught"] += 1
        else:
            misses.append((p, v, surv))
            if surv:
                leaks.append((p, v, surv))
        if d == "REQUIRE_APPROVAL":
            tot["approval"] += 1

    def pct(a, b):
        return f"{100.0 * a / b:5.1f}%" if b else "  n/a"

    print()
    print("== summary ==")
    print(f"secret calls caught : {tot['secret_caught']}/{tot['secret']} = {pct(tot['secret_caught'], tot['secret'])}"
          f"   (evasions {tot['secret_ev_caught']}/{tot['secret_ev']} = {pct(tot['secret_ev_caught'], tot['secret_ev'])})")
    print(f"pii calls caught    : {tot['pii_caught']}/{tot['pii']} = {pct(tot['pii_caught'], tot['pii'])}"
          f"   (evasions {tot['pii_ev_caught']}/{tot['pii_ev']} = {pct(tot['pii_ev_caught'], tot['pii_ev'])})")
    for k in ("secret", "pii"):
        print(f"{k} values caught   : {tot[k + '_values_caught']}/{tot[k + '_values']} = {pct(tot[k + '_values_caught'], tot[k + '_values'])}"
              f"   calls excluding stretch probes (rot13/reverse/spelled-out SSN): {tot[k + '_core_caught']}/{tot[k + '_core']} = {pct(tot[k + '_core_caught'], tot[k + '_core'])}")
    sv = tot["secret_survive"] + tot["pii_survive"]
    sn = tot["secret_sanitize_values"] + tot["pii_sanitize_values"]
    print(f"values surviving SANITIZE verbatim: {sv} of {sn} values in SANITIZE verdicts "
          f"(secret {tot['secret_survive']}, pii {tot['pii_survive']}); partially surviving (>=half, >=12 chars): {tot['secret_partial'] + tot['pii_partial']}")
    print(f"REQUIRE_APPROVAL on positives (counted as miss): {tot['approval']}")
    print(f"false positives     : {tot['fp']}/{tot['neg']} = {pct(tot['fp'], tot['neg'])}"
          f"   excluding debatable families {sorted(DEBATABLE_NEG)}: {tot['fp_firm']}/{tot['neg_firm']} = {pct(tot['fp_firm'], tot['neg_firm'])}")
    nfam = [k for k in fam if fam[k]["label"] == "negative"]
    bad = [k for k in nfam if fam[k]["hit"] * 50 > fam[k]["n"]]
    print(f"negative families   : {len(nfam)}; with FP rate > 2%: {len(bad)} {sorted(bad)}")
    print()
    print(f"{'family':38} {'label':8} {'n':>4} {'caught/FP':>10}")
    for name in sorted(fam, key=lambda k: (fam[k]["label"], k)):
        f = fam[name]
        mark = "FP " if f["label"] == "negative" else "   "
        print(f"{name:38} {f['label']:8} {f['n']:4} {mark}{pct(f['hit'], f['n'])}")

    if not a.quiet:
        print()
        print(f"== misses ({len(misses)}) ==")
        for p, v, surv in misses:
            why = f"SURVIVED {[s[:40] for s in surv]}" if surv else ""
            print(f"MISS {p['name']:52} {v['decision']:16} {','.join(v.get('reason_codes', []))} {why}")
        print()
        print(f"== false positives ({len(fps)}) ==")
        for p, v in fps:
            print(f"FP   {p['name']:52} {v['decision']:16} {','.join(v.get('reason_codes', []))}")
        if partials:
            print()
            print(f"== caught but partially surviving ({len(partials)}) ==")
            for p, v, part in partials:
                print(f"PART {p['name']:52} {v['decision']:16} {[s[:30] for s in part]}")
    if a.json:
        out = [{"name": p["name"], "family": p["family"], "label": p["label"], "decision": v["decision"],
                "reason_codes": v.get("reason_codes"), "sanitized_body": v.get("sanitized_body")} for p, v in zip(probes, verdicts)]
        json.dump({"binary": bin_, "mtime": st.st_mtime, "results": out}, open(a.json, "w"), ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
