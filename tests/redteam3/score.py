#!/usr/bin/env python3
"""Score probes.jsonl with `BIN scan` (built-in policy for decisions; diag_policy.toml for finding types).
Usage: score.py [BIN]  (default: the workspace's debug build; run gen.py first)"""
import base64, binascii, html, json, os, re, subprocess, sys, time, unicodedata, urllib.parse
from collections import defaultdict, Counter
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.environ.get('CARGO_TARGET_DIR', os.path.join(HERE, '..', '..', 'target'))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('BIN', os.path.join(TARGET, 'debug', 'interven-gateway'))
PROBES_PATH = os.environ.get('PROBES', os.path.join(HERE, 'probes.jsonl'))
probes = [json.loads(l) for l in open(PROBES_PATH)]
inp = ''.join(json.dumps(p['request'], ensure_ascii=False) + '\n' for p in probes)
def run(extra):
    t = time.time()
    out = subprocess.run([BIN, 'scan'] + extra, input=inp.encode(), capture_output=True, check=True).stdout.decode().splitlines()
    assert len(out) == len(probes), (len(out), len(probes))
    return [json.loads(l) for l in out], time.time() - t
verd, t1 = run([])
diag, t2 = run(['--policy', os.path.join(HERE, 'diag_policy.toml')])
print('BIN %s  mtime %s UTC  (scan %.1fs built-in, %.1fs diag)' % (BIN, time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(os.path.getmtime(BIN))), t1, t2))
print('probes %d  from %s (gen.py, seeded)   run at %s UTC' % (len(probes), PROBES_PATH, time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())))

def leaves(o, out):
    if isinstance(o, dict):
        for k, v in o.items(): out.append(k); leaves(v, out)
    elif isinstance(o, list):
        for v in o: leaves(v, out)
    elif isinstance(o, str): out.append(o)
    return out
ZW = re.compile('[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]')
def variants(s):
    vs = {s}
    for _ in range(2):
        new = set()
        for v in vs:
            new.add(unicodedata.normalize('NFKC', ZW.sub('', v)))
            new.add(html.unescape(v)); new.add(urllib.parse.unquote(v))
            for m in re.findall(r'[A-Za-z0-9+/_-]{16,}={0,2}', v):
                try: new.add(base64.b64decode(m + '=' * (-len(m) % 4), altchars=b'-_' if ('-' in m or '_' in m) else None).decode('utf-8', 'ignore'))
                except Exception: pass
            for m in re.findall(r'(?:[0-9a-fA-F]{2}){8,}', v):
                try: new.add(binascii.unhexlify(m).decode('utf-8', 'ignore'))
                except Exception: pass
        vs |= new
    return vs
def redacted_types(v):
    txt = json.dumps({k: x for k, x in v.items() if k.startswith('sanitized')}, ensure_ascii=False)
    return sorted(set(re.findall(r'\[REDACTED:([A-Z0-9_]+)\]', txt)))
def surviving(p, v):
    """values (or their plain/decoded form) still present in what SANITIZE lets through."""
    san = []
    for k, x in v.items():
        if k.startswith('sanitized'): leaves(x, san)
    # anything not covered by a sanitized_* field travels as sent
    rq = p['request']
    if 'sanitized_headers' not in v: san += list((rq.get('headers') or {}).values())
    if 'sanitized_url' not in v: san.append(rq['url'])
    out = []
    plain = p.get('plain') or []
    for val in p['values']:
        if any(val in s for s in san): out.append(val)
    if plain:
        allv = set()
        for s in san:
            if len(s) < 200000: allv |= variants(s)
        for val in plain:
            if any(val in s for s in allv): out.append('(decoded) ' + val)
    return out

rows = []
for p, v, d in zip(probes, verd, diag):
    dec = v['decision']; types = redacted_types(d)
    r = {'d': d, 'p': p, 'dec': dec, 'rc': v.get('reason_codes', []), 'types': types, 'diag_rc': d.get('reason_codes', [])}
    if p['label'] == 'negative':
        r['fp'] = dec in ('DENY', 'SANITIZE'); r['approval'] = dec == 'REQUIRE_APPROVAL'
    else:
        sv = surviving(p, v) if dec == 'SANITIZE' else []
        r['surv'] = sv
        r['caught'] = dec == 'DENY' or (dec == 'SANITIZE' and not sv)
    rows.append(r)

def cls(r):
    f = r['p']['family']
    if f.startswith('evasion'): return 'evasion'
    return r['p']['label']
print()
print('== overall ==')
print('%-28s %6s %8s %8s' % ('class', 'calls', 'caught', 'rate'))
for c in ['secret', 'pii', 'evasion']:
    rs_ = [r for r in rows if cls(r) == c]
    k = sum(r['caught'] for r in rs_)
    print('%-28s %6d %8d %7.1f%%' % (c + (' (excl. evasions)' if c != 'evasion' else ' (secret+pii)'), len(rs_), k, 100 * k / len(rs_)))
pos = [r for r in rows if r['p']['label'] != 'negative']
k = sum(r['caught'] for r in pos); print('%-28s %6d %8d %7.1f%%' % ('all positives', len(pos), k, 100 * k / len(pos)))
nv = sum(len(r['p']['values']) for r in pos if r['dec'] == 'SANITIZE')
sv = sum(len(r['surv']) for r in pos)
print('values in SANITIZE verdicts: %d, surviving in sanitized output: %d (%d calls)' % (nv, sv, sum(1 for r in pos if r['surv'])))
tv = sum(len(r['p']['values']) for r in pos); cv = sum(len(r['p']['values']) - len([x for x in r['surv'] if not x.startswith('(decoded)')]) for r in pos if r['dec'] in ('DENY', 'SANITIZE'))
print('per value: %d labelled values, %d blocked (DENY) or removed (SANITIZE) = %.1f%%' % (tv, cv, 100 * cv / tv))
other = [r for r in pos if r['dec'] == 'DENY' and surviving(r['p'], r['d'])]
print('DENY calls whose labelled value is NOT what fired (diag policy leaves it unredacted; decision driven by another finding): %d' % len(other))
for r in other[:15]: print('   ', r['p']['name'], r['types'])
dec_pos = Counter(r['dec'] for r in pos); print('positive decisions:', dict(dec_pos))
neg = [r for r in rows if r['p']['label'] == 'negative']
fp = sum(r['fp'] for r in neg); ap = sum(r['approval'] for r in neg)
negc = [r for r in neg if not r['p'].get('debatable')]; fpc = sum(r['fp'] for r in negc)
negd = [r for r in neg if r['p'].get('debatable')]; fpd = sum(r['fp'] for r in negd)
fams = sorted(set(r['p']['family'] for r in neg))
print('negatives: %d in %d families; false positives (DENY/SANITIZE): %d = %.1f%%; REQUIRE_APPROVAL (destination/operation, not detection): %d' % (len(neg), len(fams), fp, 100 * fp / len(neg), ap))
print('  clear-cut negatives: %d in %d families, FP %d = %.1f%%;  debatable families (note says why): %d calls, flagged %d' % (len(negc), len(set(r['p']['family'] for r in negc)), fpc, 100 * fpc / len(negc), len(negd), fpd))
print('  families with any FP: %d of %d; families over 2%% FP: %d' % (len(set(r['p']['family'] for r in neg if r['fp'])), len(fams), sum(1 for f in fams if sum(r['fp'] for r in neg if r['p']['family'] == f) / sum(1 for r in neg if r['p']['family'] == f) > .02)))
print('negative decisions:', dict(Counter(r['dec'] for r in neg)))
big = [r for r in rows if '-big' in r['p']['family'] or 'big-' in r['p']['family']]
print('big bodies (>=5 KB):', sum(1 for r in rows if len(json.dumps(r['p']['request'])) >= 5000))

def table(title, rs_, key):
    print('\n== %s ==' % title)
    by = defaultdict(list)
    for r in rs_: by[r['p']['family']].append(r)
    for f in sorted(by):
        g = by[f]; k = sum(r[key] for r in g)
        print('%-44s %4d  %s %3d  %5.1f%%%s' % (f, len(g), key, k, 100 * k / len(g), '  (debatable)' if g[0]['p'].get('debatable') else ''))
table('per family: positives (caught rate)', pos, 'caught')
table('per family: negatives (FP rate)', neg, 'fp')

def line(r):
    p = r['p']
    v = (p['values'][0] if p['values'] else '')
    v = v if len(v) < 70 else v[:67] + '...'
    return '%-50s %-34s %-9s rc=%s types=%s diag=%s %s' % (p['name'], p['family'], r['dec'], ','.join(r['rc']) or '-', ','.join(r['types']) or '-', ','.join(r['diag_rc']) or '-', json.dumps(v, ensure_ascii=False))
print('\n== MISSES (%d) ==' % sum(1 for r in pos if not r['caught']))
for r in pos:
    if not r['caught']:
        print(line(r) + ('  SURVIVED=' + json.dumps([s[:60] for s in r['surv']], ensure_ascii=False) if r['surv'] else ''))
print('\n== FALSE POSITIVES (%d) ==' % fp)
for r in neg:
    if r['fp']: print(line(r) + ('  note=' + p_note if (p_note := r['p'].get('note')) else ''))
print('\n== NEGATIVES sent to REQUIRE_APPROVAL (%d, not counted as FP) ==' % ap)
for r in neg:
    if r['approval']: print(line(r))
