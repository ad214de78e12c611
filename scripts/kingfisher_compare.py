#!/usr/bin/env python3
"""Joins Kingfisher's JSON findings with the corpus manifest written by
`INTERVEN_CORPUS_DUMP=<dir> cargo test --test integration corpus_dump`.

Prints: what Kingfisher finds that interven misses, the negatives interven
flags that Kingfisher leaves alone (each one a bug until explained), and
both scanners' per-value recall and false-positive rates on the corpus.

usage: kingfisher_compare.py <dump dir> <kingfisher json>
"""
import collections
import json
import os
import sys


def load_findings(path):
    """Kingfisher writes one JSON document per line (a summary and the findings)."""
    by_file = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            doc = json.loads(line)
            items = doc.get("findings") if isinstance(doc.get("findings"), list) else []
            for item in items:
                finding = item.get("finding", {})
                rule = item.get("rule", {})
                by_file[os.path.basename(finding.get("path", ""))].append(
                    (rule.get("id", "?"), finding.get("snippet", ""))
                )
    return by_file


def covers(snippet, raw):
    """A Kingfisher snippet matches a labelled value when one holds the other
    (also as written in the JSON file, escaped)."""
    if not snippet or not raw:
        return False
    forms = {raw, json.dumps(raw)[1:-1]}
    return any(s in snippet or (len(snippet) >= 8 and snippet in s) for s in forms)


def main():
    dump, kf_json = sys.argv[1], sys.argv[2]
    found = load_findings(kf_json)
    kf_only, ours_only, both_missed = [], [], []
    fp_ours_only = []
    tally = collections.Counter()
    by_group = collections.defaultdict(lambda: [0, 0, 0])
    with open(os.path.join(dump, "manifest.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            name = os.path.basename(case["file"])
            kf = found.get(name, [])
            if case["negative"]:
                tally["negatives"] += 1
                tally["kf_fp"] += bool(kf)
                tally["our_fp"] += case["we_flag"]
                if case["we_flag"] and not kf:
                    fp_ours_only.append(f'{name} [{case["group"]}]')
                continue
            for v in case["values"]:
                if v["kind"] != "Secret":
                    continue
                tally["secrets"] += 1
                theirs = any(covers(snippet, v["raw"]) for _, snippet in kf)
                tally["kf_found"] += theirs
                tally["we_found"] += v["ours"]
                g = by_group[case["group"]]
                g[0] += 1
                g[1] += v["ours"]
                g[2] += theirs
                if theirs and not v["ours"]:
                    kf_only.append(f'{name} {v["ty"]} [{case["group"]}] {v["raw"][:60]!r}')
                if not theirs and not v["ours"]:
                    both_missed.append(f'{name} {v["ty"]} [{case["group"]}]')
    s, n = tally["secrets"], tally["negatives"]
    print(f"secret values: {s}; interven finds {tally['we_found']} ({100 * tally['we_found'] / max(s, 1):.1f} %), "
          f"Kingfisher finds {tally['kf_found']} ({100 * tally['kf_found'] / max(s, 1):.1f} %)")
    print(f"hard negatives: {n}; interven flags {tally['our_fp']} ({100 * tally['our_fp'] / max(n, 1):.2f} %), "
          f"Kingfisher flags {tally['kf_fp']} ({100 * tally['kf_fp'] / max(n, 1):.2f} %)")
    print(f"\n== values Kingfisher finds that interven misses: {len(kf_only)}")
    for e in kf_only:
        print("  " + e)
    print(f"\n== negatives interven flags that Kingfisher leaves alone: {len(fp_ours_only)}")
    for e in fp_ours_only:
        print("  " + e)
    print(f"\n== values both miss: {len(both_missed)}")
    for e in both_missed[:50]:
        print("  " + e)
    print("\n== secret values found, per position or encoding: | position | values | interven | Kingfisher |")
    for group, (n_, ours, theirs) in sorted(by_group.items()):
        print(f"  | {group} | {n_} | {ours} | {theirs} |")
    kf_fp_families = collections.Counter()
    with open(os.path.join(dump, "manifest.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            if case["negative"] and found.get(os.path.basename(case["file"])):
                kf_fp_families[case["group"]] += 1
    print("\n== negative families Kingfisher flags (for reference)")
    for fam, k in kf_fp_families.most_common():
        print(f"  {fam}: {k}")


if __name__ == "__main__":
    main()
