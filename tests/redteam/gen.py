#!/usr/bin/env python3
"""Held-out probe generator for the interven detector (red team).

Writes probes.jsonl. Values are random (Python `secrets`), in the vendors'
published formats; documented example values appear only as negatives.
"""
import base64, gzip, json, secrets, string, zlib, random, urllib.parse, html

R = secrets.SystemRandom()
UP = string.ascii_uppercase
LO = string.ascii_lowercase
DG = string.digits
AN = UP + LO + DG
HEX = "0123456789abcdef"
B64 = AN + "+/"
B64U = AN + "-_"
B32 = UP + "234567"


def rs(alpha, n):
    return "".join(secrets.choice(alpha) for _ in range(n))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


PROBES = []


def add(name, family, label, values, body, url="https://api.internal.example.com/v1/tools/run",
        tool=None, operation=None, method="POST"):
    req = {"method": method, "url": url, "body": body}
    if tool:
        req["tool"] = tool
    if operation:
        req["operation"] = operation
    leaves = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                leaves.append(k)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, str):
            leaves.append(o)
    walk(body)
    for v in values:
        assert any(v in s for s in leaves), (name, v)
    if label == "negative":
        assert values == []
    PROBES.append({"name": f"{family}-{len(PROBES):04d}-{name}", "family": family,
                   "label": label, "values": values, "request": req})


# ---------------------------------------------------------------- carriers
FIRST = ["Jane", "Marco", "Aisha", "Tomasz", "Priya", "Lukas", "Sofia", "Kenji", "Olu", "Chloe",
         "Diego", "Hannah", "Rahul", "Ingrid", "Mateo", "Yuki", "Fatima", "Noah", "Elena", "Samir"]
LAST = ["Doe", "Rossi", "Khan", "Nowak", "Patel", "Berger", "Almeida", "Tanaka", "Adeyemi", "Martin",
        "Garcia", "Schmidt", "Iyer", "Larsen", "Fernandez", "Sato", "Haddad", "Miller", "Popescu", "Farouk"]
DOMAINS = ["acme.io", "globex.com", "initech.co.uk", "umbrella-corp.de", "hooli.dev", "wayne.org",
           "piedpiper.net", "example-clinic.fr", "northwind.com.au", "contoso.nl"]


def person():
    return R.choice(FIRST), R.choice(LAST)


def email(f=None, l=None):
    f, l = (f, l) if f else person()
    return f"{f.lower()}.{l.lower()}{R.choice(['', str(R.randint(1, 99))])}@{R.choice(DOMAINS)}"


def slack(text):
    return dict(url="https://slack.com/api/chat.postMessage", tool="slack", operation="chat.postMessage",
                body={"channel": "C0" + rs(UP + DG, 9), "text": text})


def gh_comment(text):
    return dict(url=f"https://api.github.com/repos/acme/{R.choice(['web','api','infra','ml-platform'])}/issues/{R.randint(10,4000)}/comments",
                tool="github", operation="create_issue_comment", body={"body": text})


def write_file(path, content):
    return dict(url="mcp://filesystem/tools/write_file", tool="filesystem", operation="write_file",
                body={"path": path, "content": content})


def chat(text):
    return dict(url="https://api.openai.com/v1/chat/completions", tool="llm", operation="chat",
                body={"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                                           {"role": "user", "content": text}]})


def notion(text):
    return dict(url="https://api.notion.com/v1/pages", tool="notion", operation="create_page",
                body={"parent": {"database_id": rs(HEX, 32)},
                      "properties": {"title": [{"text": {"content": "Notes"}}]},
                      "children": [{"object": "block", "type": "paragraph",
                                    "paragraph": {"rich_text": [{"type": "text", "text": {"content": text}}]}}]})


def jira(text):
    return dict(url="https://acme.atlassian.net/rest/api/3/issue", tool="jira", operation="create_issue",
                body={"fields": {"project": {"key": "OPS"}, "summary": "Deploy failing",
                                 "description": text, "issuetype": {"name": "Bug"}}})


def log_ship(lines):
    return dict(url="https://logs.internal.example.com/api/v1/ingest", tool="logger", operation="ship",
                body={"service": "billing-worker", "level": "info", "lines": lines})


def email_send(to, subject, text):
    return dict(url="https://api.sendmail.example.com/v3/mail/send", tool="email", operation="send",
                body={"to": to, "subject": subject, "text": text})


def shell(cmd):
    return dict(url="mcp://shell/tools/run_command", tool="shell", operation="run_command",
                body={"command": cmd, "cwd": "/srv/app"})


def kv(d):
    return dict(url="https://api.internal.example.com/v1/config", tool="config", operation="put", body=d)


def carriers(text):
    return R.choice([slack, gh_comment, chat, notion, jira])(text)


def place(name, family, label, values, spec):
    add(name, family, label, values, spec["body"], url=spec["url"], tool=spec.get("tool"),
        operation=spec.get("operation"))


# ---------------------------------------------------------------- vendor generators
def aws_pair():
    return "AKIA" + rs(B32, 16), rs(B64, 40)


B62 = DG + UP + LO


def crc_token(prefix):
    """GitHub/npm style: 30 random base62 chars + base62(crc32(random)) padded to 6."""
    body = rs(AN, 30)
    c = zlib.crc32(body.encode()) & 0xffffffff
    out = ""
    while c:
        c, r = divmod(c, 62)
        out = B62[r] + out
    return prefix + body + out.rjust(6, "0")


def ghp():
    return crc_token(R.choice(["ghp_", "ghp_", "gho_", "ghs_", "ghu_"]))


def gh_fine():
    return "github_pat_11" + rs(UP + DG, 20) + "_" + rs(AN, 59)


def glpat():
    return "glpat-" + rs(AN + "-_", 20)


def xoxb():
    return f"xoxb-{R.randint(10**10, 10**12)}-{R.randint(10**11, 10**13)}-{rs(AN, 24)}"


def xoxp():
    return f"xoxp-{R.randint(10**10, 10**12)}-{R.randint(10**10, 10**12)}-{R.randint(10**11, 10**13)}-{rs(HEX, 32)}"


def slack_hook():
    return f"https://hooks.slack.com/services/T{rs(UP+DG, 8)}/B{rs(UP+DG, 10)}/{rs(AN, 24)}"


def sk_live():
    return "sk_live_" + rs(AN, R.choice([24, 99]))


def rk_live():
    return "rk_live_" + rs(AN, R.choice([24, 99]))


def openai():
    return "sk-proj-" + rs(B64U, 74) + "T3BlbkFJ" + rs(B64U, 74)


def anthropic():
    return "sk-ant-api03-" + rs(B64U, 93) + "AA"


def google():
    return "AIza" + rs(B64U, 35)


def twilio_sk():
    return "SK" + rs(HEX, 32)


def twilio_ac():
    return "AC" + rs(HEX, 32)


def sendgrid():
    return "SG." + rs(B64U, 22) + "." + rs(B64U, 43)


def discord():
    uid = str(R.randint(10**17, 1.3 * 10**18))
    return b64u(uid.encode()) + "." + rs(B64U, 6) + "." + rs(B64U, 38)


def telegram():
    return f"{R.randint(10**8, 8*10**9)}:AA{rs(B64U, 33)}"


def npm():
    return crc_token("npm_")


def pypi():
    return "pypi-AgEIcHlwaS5vcmc" + rs(B64U, R.choice([50, 70, 130]))


def shpat():
    return R.choice(["shpat_", "shpca_", "shppa_", "shpss_"]) + rs(HEX, 32)


def vault():
    return "hvs." + R.choice([rs(AN, 24), "CAESI" + rs(B64U, 86)])


def azure_key():
    return base64.b64encode(secrets.token_bytes(64)).decode()


def heroku():
    return R.choice(["HRKU-AA" + rs(B64U, 58), None])


def mailgun():
    return "key-" + rs(HEX, 32)


def dop():
    return "dop_v1_" + rs(HEX, 64)


def linear():
    return "lin_api_" + rs(AN, 40)


def notion_tok():
    return R.choice(["secret_" + rs(AN, 43), "ntn_" + rs(DG, 11) + rs(AN, 35)])


def hf():
    return "hf_" + rs(UP + LO, 34)


def uuid4():
    h = rs(HEX, 32)
    h = h[:12] + "4" + h[13:16] + R.choice("89ab") + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def jwt():
    hdr = b64u(json.dumps({"alg": R.choice(["HS256", "RS256"]), "typ": "JWT"}, separators=(",", ":")).encode())
    pl = b64u(json.dumps({"sub": uuid4(), "iss": "https://auth.acme.io/", "aud": "api", "iat": 1764500000 + R.randint(0, 9999),
                          "exp": 1764600000 + R.randint(0, 9999), "scope": "read write"}, separators=(",", ":")).encode())
    return f"{hdr}.{pl}.{b64u(secrets.token_bytes(R.choice([32, 256])))}"


DER_PREFIX = {
    "RSA PRIVATE KEY": bytes.fromhex("308204a40201000282010100"),
    "PRIVATE KEY": bytes.fromhex("308204be020100300d06092a864886f70d0101010500048204a8"),
    "EC PRIVATE KEY": bytes.fromhex("307702010104"),
    "OPENSSH PRIVATE KEY": b"openssh-key-v1\x00\x00\x00\x00\x04none\x00\x00\x00\x04none",
    "ENCRYPTED PRIVATE KEY": bytes.fromhex("308205253057") + bytes.fromhex("06092a864886f70d01050d"),
    "DSA PRIVATE KEY": bytes.fromhex("308201bb02010002818100"),
    "PUBLIC KEY": bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100"),
    "RSA PUBLIC KEY": bytes.fromhex("3082010a0282010100"),
    "CERTIFICATE": bytes.fromhex("308203") + secrets.token_bytes(1) + bytes.fromhex("a003020102"),
    "CERTIFICATE REQUEST": bytes.fromhex("308202") + secrets.token_bytes(1) + bytes.fromhex("020100"),
}


def pem(kind):
    if kind == "PGP PRIVATE KEY BLOCK":
        body = base64.b64encode(b"\x95\x07\x46\x04" + secrets.token_bytes(1100)).decode()
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        return f"-----BEGIN {kind}-----\n\n{lines}\n={base64.b64encode(secrets.token_bytes(3)).decode()}\n-----END {kind}-----"
    n = {"EC PRIVATE KEY": 112, "PUBLIC KEY": 260, "RSA PUBLIC KEY": 260}.get(kind, R.choice([900, 1190]))
    body = base64.b64encode(DER_PREFIX[kind] + secrets.token_bytes(n)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----"


def password():
    words = ["Falcon", "river", "Tango", "maple", "Orbit", "quartz", "Sunny", "violet", "Kestrel", "ember"]
    return R.choice([
        rs(AN + "!@#%^*", R.randint(12, 20)),
        R.choice(words) + R.choice(words) + str(R.randint(10, 9999)) + R.choice("!#$%?"),
        rs(AN, 16),
        R.choice(words) + "-" + R.choice(words).lower() + "-" + R.choice(words).lower() + str(R.randint(1, 99)),
    ])


def urlsafe(p):
    return "".join(c for c in p if c.isalnum() or c in "-_.!*~")


def generic_key():
    return R.choice([rs(AN, 32), rs(HEX, 40), rs(B64U, 43), rs(AN, 48)])


# vendor: (name, generator, env var name, context word)
VENDORS = [
    ("aws", None, None, None),
    ("github_pat", ghp, "GITHUB_TOKEN", "GitHub"),
    ("github_fine", gh_fine, "GH_TOKEN", "GitHub"),
    ("gitlab", glpat, "GITLAB_TOKEN", "GitLab"),
    ("slack_bot", xoxb, "SLACK_BOT_TOKEN", "Slack"),
    ("slack_user", xoxp, "SLACK_USER_TOKEN", "Slack"),
    ("slack_webhook", slack_hook, "SLACK_WEBHOOK_URL", "Slack webhook"),
    ("stripe_sk", sk_live, "STRIPE_SECRET_KEY", "Stripe"),
    ("stripe_rk", rk_live, "STRIPE_RESTRICTED_KEY", "Stripe"),
    ("openai", openai, "OPENAI_API_KEY", "OpenAI"),
    ("anthropic", anthropic, "ANTHROPIC_API_KEY", "Anthropic"),
    ("google", google, "GOOGLE_API_KEY", "Google Maps"),
    ("twilio_sk", twilio_sk, "TWILIO_API_KEY", "Twilio"),
    ("twilio_auth", lambda: rs(HEX, 32), "TWILIO_AUTH_TOKEN", "Twilio auth token"),
    ("sendgrid", sendgrid, "SENDGRID_API_KEY", "SendGrid"),
    ("discord", discord, "DISCORD_BOT_TOKEN", "Discord bot"),
    ("telegram", telegram, "TELEGRAM_BOT_TOKEN", "Telegram bot"),
    ("datadog_api", lambda: rs(HEX, 32), "DD_API_KEY", "Datadog API key"),
    ("datadog_app", lambda: rs(HEX, 40), "DD_APP_KEY", "Datadog application key"),
    ("npm", npm, "NPM_TOKEN", "npm"),
    ("pypi", pypi, "PYPI_TOKEN", "PyPI"),
    ("shopify", shpat, "SHOPIFY_ACCESS_TOKEN", "Shopify"),
    ("vault", vault, "VAULT_TOKEN", "Vault"),
    ("azure_storage", None, None, None),
    ("azure_sas", None, None, None),
    ("heroku", lambda: "HRKU-AA" + rs(B64U, 58), "HEROKU_API_KEY", "Heroku"),
    ("heroku_uuid", uuid4, "HEROKU_API_KEY", "Heroku API key"),
    ("mailgun", mailgun, "MAILGUN_API_KEY", "Mailgun"),
    ("digitalocean", dop, "DIGITALOCEAN_TOKEN", "DigitalOcean"),
    ("linear", linear, "LINEAR_API_KEY", "Linear"),
    ("notion", notion_tok, "NOTION_TOKEN", "Notion"),
    ("huggingface", hf, "HF_TOKEN", "Hugging Face"),
]


def vendor_value(v):
    name, gen, env, ctx = v
    if name == "aws":
        a, s = aws_pair()
        return [a, s], "AWS_ACCESS_KEY_ID", "AWS"
    if name == "azure_storage":
        acct = "st" + rs(LO + DG, 10)
        k = azure_key()
        return [k], "AZURE_STORAGE_CONNECTION_STRING", f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={k};EndpointSuffix=core.windows.net"
    if name == "azure_sas":
        sig = base64.b64encode(secrets.token_bytes(32)).decode()
        enc = urllib.parse.quote(sig, safe="")
        url = (f"https://st{rs(LO+DG,8)}.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=sco&sp=rwdlac"
               f"&se=2026-12-31T23:59:59Z&st=2026-11-01T00:00:00Z&spr=https&sig={enc}")
        return [enc], "AZURE_SAS_URL", url
    return [gen()], env, ctx


def render_secret(vname, vals, env, ctx):
    """Return (family_suffix, spec) embedding vals in a realistic place."""
    if vname == "aws":
        a, s = vals
        forms = [
            ("env", write_file(".env", f"# prod\nAWS_ACCESS_KEY_ID={a}\nAWS_SECRET_ACCESS_KEY={s}\nAWS_REGION=eu-west-1\n")),
            ("ini", write_file("/home/dev/.aws/credentials", f"[default]\naws_access_key_id = {a}\naws_secret_access_key = {s}\n")),
            ("python", write_file("upload.py", f"import boto3\ns3 = boto3.client('s3', aws_access_key_id='{a}',\n    aws_secret_access_key='{s}')\n")),
            ("terraform", write_file("main.tf", f'provider "aws" {{\n  region     = "us-east-1"\n  access_key = "{a}"\n  secret_key = "{s}"\n}}\n')),
            ("slack", slack(f"can someone check why the deploy fails? using {a} / {s}")),
        ]
        return R.choice(forms)
    if vname == "azure_storage":
        return R.choice([("env", write_file(".env", f"AZURE_STORAGE_CONNECTION_STRING=\"{ctx}\"\n")),
                         ("json", kv({"storage": {"connectionString": ctx}, "container": "uploads"})),
                         ("chat", chat(f"Why does this connection string fail? {ctx}"))])
    if vname == "azure_sas":
        return R.choice([("slack", slack(f"here's the backup link, valid till end of year: {ctx}")),
                         ("curl", shell(f"curl -o db.bak '{ctx}'"))])
    v = vals[0]
    forms = [
        ("env", write_file(".env", f"NODE_ENV=production\nPORT=8080\n{env}={v}\nLOG_LEVEL=info\n")),
        ("dotenv_quoted", write_file("deploy/.env.production", f'{env}="{v}"\n')),
        ("python", write_file("client.py", f"import os\nimport requests\n\n{env} = \"{v}\"\n\ndef call():\n    return requests.get(URL, headers={{'Authorization': f'Bearer {{{env}}}'}})\n")),
        ("js", write_file("src/config.js", f"export const config = {{\n  apiBase: 'https://api.acme.io',\n  token: '{v}',\n}};\n")),
        ("go", write_file("cmd/main.go", f"package main\n\nconst apiToken = \"{v}\"\n\nfunc main() {{ run(apiToken) }}\n")),
        ("yaml", write_file("k8s/secret-values.yaml", f"app:\n  replicas: 3\n  env:\n    - name: {env}\n      value: \"{v}\"\n")),
        ("docker", write_file("Dockerfile", f"FROM python:3.12-slim\nENV {env}={v}\nCOPY . /app\nCMD [\"python\", \"app.py\"]\n")),
        ("shell_export", shell(f"export {env}={v} && ./deploy.sh --prod")),
        ("slack", slack(f"here's the {ctx} token for the staging bot: {v} (rotate after the demo pls)")),
        ("issue", gh_comment(f"Repro: set `{env}={v}` and run `make e2e`. It 401s.")),
        ("chat", chat(f"My {ctx} key {v} keeps returning 403, what am I doing wrong?")),
        ("json_field", kv({"integration": ctx, "enabled": True, "credentials": {"token": v}})),
        ("log", log_ship([f"2026-11-30T10:1{R.randint(0,9)}:03Z DEBUG init client with token={v}", "2026-11-30T10:12:04Z INFO ready"])),
        ("jira", jira(f"Integration broke after rotation. Current value in vault: {v}")),
        ("gh_actions", write_file(".github/workflows/ci.yml", f"jobs:\n  build:\n    runs-on: ubuntu-latest\n    env:\n      {env}: {v}\n    steps:\n      - run: make test\n")),
    ]
    if vname in ("slack_webhook",):
        forms = [("slack", slack(f"post alerts here: {v}")), ("env", write_file(".env", f"{env}={v}\n")),
                 ("python", write_file("alert.py", f"requests.post('{v}', json={{'text': msg}})\n")),
                 ("curl", shell(f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"hi\"}}' {v}"))]
    if vname in ("twilio_auth", "datadog_api", "datadog_app", "heroku_uuid", "mailgun"):
        forms = [f for f in forms if f[0] in ("env", "dotenv_quoted", "python", "yaml", "docker", "shell_export", "json_field", "gh_actions")]
        forms.append(("prose", slack(f"{ctx}: {v}")))
        if vname == "twilio_auth":
            sid = twilio_ac()
            forms.append(("curl", shell(f"curl -X POST https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json -u {sid}:{v} -d To=+15017122661")))
        if vname.startswith("datadog"):
            forms.append(("curl", shell(f"curl -X GET https://api.datadoghq.eu/api/v1/validate -H 'DD-API-KEY: {v}'")))
    if vname == "openai":
        forms.append(("curl", shell(f"curl https://api.openai.com/v1/models -H \"Authorization: Bearer {v}\"")))
    if vname == "github_pat":
        forms.append(("git_url", shell(f"git clone https://x-access-token:{v}@github.com/acme/infra.git")))
    return R.choice(forms)


def gen_secrets():
    # vendor tokens: ~ 6 each across 32 vendors => ~190
    for v in VENDORS:
        for _ in range(6 if v[0] not in ("heroku_uuid", "azure_sas") else 3):
            vals, env, ctx = vendor_value(v)
            fam, spec = render_secret(v[0], vals, env, ctx)
            place(f"{v[0]}-{fam}", f"secret_{v[0]}", "secret", vals, spec)
    # JWTs
    for _ in range(8):
        t = jwt()
        fam, spec = R.choice([
            ("header_text", carriers(f"Request failed:\nGET /v2/accounts\nAuthorization: Bearer {t}\n-> 500")),
            ("curl", shell(f"curl -H 'Authorization: Bearer {t}' https://api.acme.io/v2/me")),
            ("json", kv({"session": {"access_token": t, "token_type": "Bearer", "expires_in": 3600}})),
            ("log", log_ship([f"auth ok user=42 jwt={t}"])),
        ])
        place(f"jwt-{fam}", "secret_jwt", "secret", [t], spec)
    # PEM private keys
    for kind in ["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK", "RSA PRIVATE KEY"]:
        k = pem(kind)
        fam, spec = R.choice([
            ("file", write_file("/home/deploy/.ssh/id_rsa", k + "\n")),
            ("yaml", write_file("values.yaml", "tls:\n  key: |\n    " + k.replace("\n", "\n    ") + "\n")),
            ("json", kv({"ssh_private_key": k, "host": "10.0.3.7"})),
            ("slack", slack(f"use this key for the bastion:\n```\n{k}\n```")),
        ])
        # value = the base64 body (the part that must go); use the first body line too
        ls_ = k.split("\n")
        vals = [ls_[1], ls_[len(ls_) // 2]]
        place(f"pem-{kind.replace(' ', '_').lower()}-{fam}", "secret_private_key", "secret", vals, spec)
    # DB connection strings
    for _ in range(12):
        pw = password().replace("@", "#").replace(":", "!").replace("/", "x")
        user = R.choice(["app", "admin", "postgres", "billing_rw", "svc_orders"])
        host = R.choice(["db.prod.acme.internal", "10.2.0.14", "orders.cluster-ro-c9x.eu-west-1.rds.amazonaws.com", "mongo0.globex.com"])
        url = R.choice([f"postgres://{user}:{pw}@{host}:5432/orders",
                        f"postgresql://{user}:{pw}@{host}/app?sslmode=require",
                        f"mysql://{user}:{pw}@{host}:3306/shop",
                        f"mongodb+srv://{user}:{pw}@cluster0.{rs(LO+DG,5)}.mongodb.net/prod?retryWrites=true",
                        f"redis://:{pw}@{host}:6379/0",
                        f"amqp://{user}:{pw}@{host}:5672/%2f"])
        fam, spec = R.choice([("env", write_file(".env", f"DATABASE_URL={url}\n")),
                              ("log", log_ship([f"connecting to {url}", "connection refused"])),
                              ("chat", chat(f"psql can't connect with {url} - any idea?")),
                              ("yaml", write_file("docker-compose.yml", f"services:\n  api:\n    environment:\n      - DATABASE_URL={url}\n"))])
        place(f"connstr-{fam}", "secret_connection_string", "secret", [pw], spec)
    # Basic auth
    for _ in range(8):
        u, p = R.choice(["deploy", "admin", "ci-bot", "jenkins"]), password()
        b = base64.b64encode(f"{u}:{p}".encode()).decode()
        fam, spec, vals = R.choice([
            ("header_text", carriers(f"the call works with\nAuthorization: Basic {b}\nbut not from the lambda"), [b]),
            ("curl_u", shell(f"curl -u {u}:{p} https://registry.acme.io/v2/_catalog"), [p]),
            ("url_userinfo", slack(f"grafana is at https://{u}:{urlsafe(p)}@grafana.acme.io/d/abc"), [urlsafe(p)]),
            ("json", kv({"headers": {"Authorization": f"Basic {b}"}, "url": "https://jenkins.acme.io"}), [b]),
        ])
        place(f"basic-{fam}", "secret_basic_auth", "secret", vals, spec)
    # passwords in many places
    for i in range(26):
        p = password()
        u = R.choice(["svc_backup", "root", "admin", "jenkins", "alice"])
        fam, spec = R.choice([
            ("prose", slack(f"the wifi password for the office is {p}")),
            ("prose2", carriers(f"Login for the staging admin panel: user {u}, password {p}. Don't share.")),
            ("yaml", write_file("config/database.yml", f"production:\n  adapter: postgresql\n  username: {u}\n  password: {p}\n  host: db.internal\n")),
            ("ini", write_file("my.cnf", f"[client]\nuser={u}\npassword={p}\nhost=127.0.0.1\n")),
            ("python", write_file("settings.py", f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.postgresql', 'USER': '{u}', 'PASSWORD': '{p}'}}}}\n")),
            ("js", write_file("db.js", f"const pool = new Pool({{ user: '{u}', password: '{p}', host: 'db' }});\n")),
            ("kv", kv({"username": u, "password": p, "remember": True})),
            ("kv_pwd", kv({"db_user": u, "db_pass": p})),
            ("env", write_file(".env", f"DB_USER={u}\nDB_PASSWORD={p}\n")),
            ("shell", shell(f"mysql -u {u} -p'{p}' -h db.internal shop < dump.sql")),
            ("xml", write_file("settings.xml", f"<server>\n  <id>nexus</id>\n  <username>{u}</username>\n  <password>{p}</password>\n</server>\n")),
            ("email", email_send("it@acme.io", "new hire", f"Hi, your temporary password is {p} - please change it on first login.")),
            ("docker_login", shell(f"docker login -u {u} -p {p} registry.acme.io")),
        ])
        place(f"password-{fam}", "secret_password", "secret", [p], spec)
    # credentials in more file formats
    for i in range(30):
        p = password()
        if R.random() < 0.25:
            p = "".join(c for c in p if c.isalnum() or c in "-_.!*") or rs(AN, 14)
        u = R.choice(["app", "deploy", "sa", "backup", "wp_user"])
        h = R.choice(["db.internal", "10.0.4.12", "sql01.corp.acme.io"])
        fam, spec = R.choice([
            ("netrc", write_file("/home/ci/.netrc", f"machine api.acme.io\n  login {u}\n  password {p}\n")),
            ("pgpass", write_file("/home/ci/.pgpass", f"{h}:5432:orders:{u}:{p}\n")),
            ("toml", write_file("config.toml", f"[database]\nuser = \"{u}\"\npassword = \"{p}\"\nhost = \"{h}\"\n")),
            ("properties", write_file("application.properties", f"spring.datasource.url=jdbc:postgresql://{h}:5432/app\nspring.datasource.username={u}\nspring.datasource.password={p}\n")),
            ("mssql", kv({"ConnectionStrings": {"Default": f"Server={h};Database=Shop;User Id={u};Password={p};TrustServerCertificate=True"}})),
            ("jdbc_query", write_file("db.conf", f"url=jdbc:mysql://{h}:3306/shop?user={u}&password={urllib.parse.quote(p)}\n")),
            ("php", write_file("wp-config.php", f"define( 'DB_USER', '{u}' );\ndefine( 'DB_PASSWORD', '{p}' );\ndefine( 'DB_HOST', 'localhost' );\n")),
            ("cli_flag", shell(f"./migrate --db-host {h} --db-user {u} --db-password='{p}'")),
            ("pgpassword", shell(f"PGPASSWORD='{p}' pg_dump -h {h} -U {u} orders > orders.sql")),
            ("k8s_stringdata", write_file("secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  username: {u}\n  password: \"{p}\"\n")),
            ("git_credentials", write_file("/home/ci/.git-credentials", f"https://{u}:{urlsafe(p)}@git.acme.io\n")),
            ("pip_conf", write_file("/etc/pip.conf", f"[global]\nindex-url = https://{u}:{urlsafe(p)}@pypi.acme.io/simple\n")),
            ("smtp", kv({"smtp": {"host": "smtp.acme.io", "port": 587, "user": f"{u}@acme.io", "pass": p}})),
            ("chat_spanish", slack(f"la contraseña del servidor es {p}")),
            ("chat_german", slack(f"Das Passwort für den Admin ist {p}")),
            ("pw_colon_prose", carriers(f"creds -> {u} / pw: {p}")),
        ])
        vals = [urllib.parse.quote(p)] if fam == "jdbc_query" else [urlsafe(p)] if fam in ("git_credentials", "pip_conf") else [p]
        place(f"cred-{fam}", "secret_password_formats", "secret", vals, spec)
    # letters-only and passphrase passwords
    WL = ["anchor", "bistro", "cobalt", "dune", "fennel", "gravel", "harbor", "island", "jigsaw", "lantern", "meadow", "nickel", "oyster", "pepper", "quiver", "ribbon"]
    for i in range(10):
        p = rs(UP + LO, 16) if i % 2 == 0 else "-".join(R.choice(WL) for _ in range(4))
        fam, spec = R.choice([("env", write_file(".env", f"DB_USER=app\nDB_PASSWORD={p}\n")),
                              ("yaml", write_file("config.yml", f"db:\n  user: app\n  password: {p}\n")),
                              ("kv", kv({"username": "app", "password": p})),
                              ("prose", slack(f"vpn password is {p}"))])
        place(f"pw_letters-{fam}", "secret_password_letters_only", "secret", [p], spec)
    # k8s env list form (name/value on separate lines) for vendor tokens
    for gen_, env in [(twilio_sk, "TWILIO_API_KEY"), (lambda: rs(HEX, 32), "TWILIO_AUTH_TOKEN"), (npm, "NPM_TOKEN"), (lambda: rs(HEX, 32), "DD_API_KEY"),
                      (ghp, "GITHUB_TOKEN"), (sk_live, "STRIPE_SECRET_KEY"), (lambda: rs(AN, 40), "API_SECRET"), (telegram, "TELEGRAM_TOKEN")]:
        v = gen_()
        place("k8s_env", "secret_k8s_env_list", "secret", [v], write_file("deployment.yaml",
              f"spec:\n  containers:\n    - name: app\n      env:\n        - name: {env}\n          value: \"{v}\"\n        - name: LOG_LEVEL\n          value: info\n"))
    # generic API keys
    for i in range(16):
        k = generic_key()
        name = R.choice(["api_key", "apiKey", "API_SECRET", "client_secret", "x-api-key", "access_token", "secret_key", "auth_token"])
        fam, spec = R.choice([
            ("code_py", write_file("svc.py", f"{name} = '{k}'\nclient = Client({name})\n")),
            ("code_js", write_file("index.js", f"const {name.replace('-', '_')} = \"{k}\";\nfetch(url, {{ headers: {{ 'x-api-key': {name.replace('-', '_')} }} }});\n")),
            ("env", write_file(".env", f"VENDOR_{name.upper().replace('-', '_')}={k}\n")),
            ("table", carriers(f"| service | key |\n|---|---|\n| geocoder | {k} |\n| weather | (pending) |")),
            ("header_text", carriers(f"send it with header `X-Api-Key: {k}`")),
            ("json", kv({"vendor": "geocodr", name: k})),
        ])
        place(f"generic-{fam}", "secret_generic_api_key", "secret", [k], spec)


# ---------------------------------------------------------------- evasions
def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in s)


ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def zw_insert(s):
    out = []
    for i, c in enumerate(s):
        out.append(c)
        if i % R.randint(3, 6) == 2:
            out.append(R.choice(ZW))
    return "".join(out)


def html_ent(s, mode):
    if mode == "first":
        return f"&#{ord(s[0])};" + s[1:]
    if mode == "dec":
        return "".join(f"&#{ord(c)};" for c in s)
    if mode == "hexent":
        return "".join(f"&#x{ord(c):x};" for c in s)
    return "".join(f"&#{ord(c)};" if i % 2 == 0 else c for i, c in enumerate(s))


def strong_tokens():
    vals = [sk_live, ghp, openai, anthropic, xoxb, glpat, npm, dop, sendgrid, google, hf, linear, lambda: aws_pair()[0],
            twilio_sk, telegram, discord, jwt, shpat, vault]
    return R.choice(vals)()


def gen_evasions():
    n = 0
    # hex
    for _ in range(10):
        t = strong_tokens()
        h = t.encode().hex()
        spec = R.choice([carriers(f"decoded config blob: {h}"), kv({"payload_hex": h}),
                         write_file("blob.txt", h + "\n"), shell(f"echo {h} | xxd -r -p > /tmp/k")])
        place("hex", "evasion_hex", "secret", [h], spec)
    # base64 (plain) of a token in env-like text
    for _ in range(6):
        t = strong_tokens()
        b = base64.b64encode(f"TOKEN={t}\n".encode()).decode()
        place("b64_plain", "evasion_base64", "secret", [b], kv({"attachment": {"filename": "env.txt", "content_b64": b}}))
    # gzip/zlib in base64
    for i in range(12):
        t = strong_tokens()
        raw = f"export API_TOKEN={t}\nexport REGION=eu\n".encode()
        comp = gzip.compress(raw) if i % 2 == 0 else zlib.compress(raw)
        b = base64.b64encode(comp).decode()
        place("gzip_b64" if i % 2 == 0 else "zlib_b64", "evasion_compressed_b64", "secret", [b],
              R.choice([kv({"data": b, "encoding": "gzip+base64" if i % 2 == 0 else "zlib+base64"}),
                        carriers(f"blob: {b}")]))
    # base64 of URL-encoded (double encoding)
    for _ in range(6):
        t = strong_tokens()
        ue = urllib.parse.quote(f"token={t}&user=ops", safe="")
        b = base64.b64encode(ue.encode()).decode()
        place("b64_of_urlenc", "evasion_double_encoding", "secret", [b], kv({"state": b}))
    # URL-encoded every char
    for _ in range(4):
        t = strong_tokens()
        u = "".join(f"%{ord(c):02X}" for c in t)
        place("pct_all", "evasion_url_encoding", "secret", [u], carriers(f"callback?k={u}"))
    # zero width
    for _ in range(12):
        t = strong_tokens()
        z = zw_insert(t)
        place("zero_width", "evasion_zero_width", "secret", [z], carriers(f"use {z} for the deploy"))
    # fullwidth
    for _ in range(10):
        t = strong_tokens()
        f = fullwidth(t)
        place("fullwidth", "evasion_fullwidth", "secret", [f], carriers(f"key: {f}"))
    # html entities
    for mode in ["first", "first", "first", "dec", "dec", "hexent", "hexent", "alt", "alt", "first"]:
        t = strong_tokens()
        e = html_ent(t, mode)
        place(f"html_{mode}", "evasion_html_entities", "secret", [e],
              R.choice([kv({"html": f"<p>token: <code>{e}</code></p>"}), notion(f"token {e}")]))
    # \u and \x escapes inside code strings
    for i in range(10):
        t = strong_tokens()
        if i % 2 == 0:
            esc = "".join(f"\\u{ord(c):04x}" for c in t)
            code = f"const k = \"{esc}\";\nfetch(u, {{headers: {{Authorization: 'Bearer ' + k}}}});\n"
            path = "x.js"
        else:
            esc = "".join(f"\\x{ord(c):02x}" for c in t)
            code = f"k = \"{esc}\"\nrequests.get(u, headers={{'Authorization': 'Bearer ' + k}})\n"
            path = "x.py"
        place("u_escape" if i % 2 == 0 else "x_escape", "evasion_code_escapes", "secret", [esc], write_file(path, code))
    # partial escapes (only prefix escaped)
    for _ in range(4):
        t = sk_live()
        esc = "".join(f"\\x{ord(c):02x}" for c in t[:8]) + t[8:]
        place("x_escape_prefix", "evasion_code_escapes", "secret", [esc], write_file("pay.py", f"stripe.api_key = \"{esc}\"\n"))
    # split across adjacent JSON fields
    for _ in range(8):
        t = strong_tokens()
        cut = R.randint(len(t) // 3, 2 * len(t) // 3)
        a, b = t[:cut], t[cut:]
        place("split_fields", "evasion_split_fields", "secret", [a, b],
              kv({"note": "reassemble", "part1": a, "part2": b}))
    # string concatenation in code
    for i in range(10):
        t = R.choice([sk_live, ghp, openai, xoxb, anthropic, npm, glpat])()
        pref = t.split("_")[0] + "_" if "_" in t[:12] else t[:8]
        if t.startswith("sk_live_"):
            pref = "sk_live_"
        if t.startswith("xoxb-"):
            pref = "xoxb-"
        if t.startswith("sk-proj-") or t.startswith("sk-ant-"):
            pref = t[:8]
        rest = t[len(pref):]
        mid = len(rest) // 2
        style = i % 3
        if style == 0:
            code = f'key = "{pref}" + "{rest}"\n'
            vals = [rest]
        elif style == 1:
            code = f"const key = '{pref}' + '{rest[:mid]}' + '{rest[mid:]}';\n"
            vals = [rest[:mid], rest[mid:]]
        else:
            code = f'token := "{pref}" +\n\t"{rest}"\n'
            vals = [rest]
        place(f"concat{style}", "evasion_concat", "secret", vals, write_file("k.src", code))
    # emails obfuscated
    for form in ["{u} [at] {d} [dot] {t}", "{u} (at) {d} (dot) {t}", "{u} at {d} dot {t}", "{u}[at]{d}[dot]{t}",
                 "{u} AT {d} DOT {t}", "{u} @ {d} . {t}", "{u}&#64;{d}.{t}", "{u}＠{d}．{t}",
                 "{u} [at] {d} [dot] {t}", "{u}{{at}}{d}{{dot}}{t}"]:
        f, l = person()
        u = f"{f.lower()}.{l.lower()}"
        d, t = R.choice([("acme", "io"), ("globex", "com"), ("hooli", "dev"), ("gmail", "com")])
        e = form.format(u=u, d=d, t=t)
        place("email_obf", "evasion_email_obfuscated", "pii", [e], carriers(f"you can reach {f} {l} at {e} for the contract"))
    # SSN dots / spaces
    for sep in [".", ".", ".", " ", " ", " ", "", "/"]:
        s = ssn(sep)
        place("ssn_sep", "evasion_ssn_separators", "pii", [s], carriers(f"{' '.join(person())}, SSN {s}, start date Monday"))
    # card evasions: zero width and fullwidth of a card
    for _ in range(4):
        c = luhn_card(sep=" ")
        z = zw_insert(c) if R.random() < 0.5 else fullwidth(c)
        place("card_obf", "evasion_card", "pii", [z], carriers(f"charge card {z} exp 09/28"))


def gen_evasions_hard():
    """Evasions of context-dependent secrets and nested / multi-part encodings."""
    for i in range(6):
        p = password()
        line = f"DB_PASSWORD={p}\n"
        enc = R.choice(["hex", "b64", "zw", "fw"])
        if enc == "hex":
            v = line.encode().hex()
            spec = kv({"env_hex": v})
        elif enc == "b64":
            v = base64.b64encode(line.encode()).decode()
            spec = kv({"env_file_b64": v})
        elif enc == "zw":
            v = zw_insert(p)
            spec = write_file(".env", f"DB_PASSWORD={v}\n")
        else:
            v = fullwidth(p)
            spec = write_file(".env", f"DB_PASSWORD={v}\n")
        place(f"pw_{enc}", "evasion_hard_password", "secret", [v], spec)
    for i in range(4):
        a, s_ = aws_pair()
        v = zw_insert(s_) if i % 2 == 0 else fullwidth(s_)
        place("aws_secret_obf", "evasion_hard_aws_secret", "secret", [v],
              write_file(".aws/credentials", f"[default]\naws_access_key_id = {a}\naws_secret_access_key = {v}\n"))
    for i in range(4):
        k = pem("RSA PRIVATE KEY")
        v = base64.b64encode(gzip.compress(k.encode())).decode()
        place("pem_gzip_b64", "evasion_hard_pem", "secret", [v], kv({"file": "id_rsa.gz", "data": v}))
    # nested encodings
    for i in range(8):
        t = strong_tokens()
        kind = ["b64b64", "hex_of_b64", "b64_of_hex", "b64_of_gzip_of_b64"][i % 4]
        if kind == "b64b64":
            v = base64.b64encode(base64.b64encode(t.encode())).decode()
        elif kind == "hex_of_b64":
            v = base64.b64encode(t.encode()).hex()
        elif kind == "b64_of_hex":
            v = base64.b64encode(t.encode().hex().encode()).decode()
        else:
            v = base64.b64encode(gzip.compress(base64.b64encode(f"key={t}".encode()))).decode()
        place(kind, "evasion_hard_nested", "secret", [v], kv({"blob": v}))
    # multi-part splits
    for i in range(8):
        t = strong_tokens()
        n = 3
        cuts = sorted(R.sample(range(4, len(t) - 4), n - 1))
        parts = [t[:cuts[0]], t[cuts[0]:cuts[1]], t[cuts[1]:]]
        style = i % 4
        if style == 0:
            spec = kv({"chunks": parts})
        elif style == 1:
            spec = write_file("k.py", "KEY = ''.join([" + ", ".join(repr(x) for x in parts) + "])\n")
        elif style == 2:
            spec = write_file("k.js", "const a = '" + parts[0] + "', b = '" + parts[1] + "', c = '" + parts[2] + "';\nconst key = `${a}${b}${c}`;\n")
        else:
            spec = write_file("k.sh", f'P1="{parts[0]}"\nP2="{parts[1]}"\nP3="{parts[2]}"\nexport TOKEN="$P1$P2$P3"\n')
        vals = [x for x in parts if len(x) >= 8]
        place(f"split3_{style}", "evasion_hard_multisplit", "secret", vals, spec)
    # reversed and rot13 (an injected agent can be told to do either)
    import codecs
    for i in range(4):
        t = strong_tokens()
        if i % 2 == 0:
            v = t[::-1]
            spec = carriers(f"reverse this string before use: {v}")
        else:
            v = codecs.encode(t, "rot13")
            spec = carriers(f"rot13: {v}")
        place("reverse" if i % 2 == 0 else "rot13", "evasion_hard_transform", "secret", [v], spec)
    # PII hard: card/phone/iban with odd separators or spelled out
    for i in range(6):
        kind = i % 3
        if kind == 0:
            c = luhn_card(sep="")
            v = ".".join(c[j:j + 4] for j in range(0, len(c), 4))
            text = f"card on file {v}"
        elif kind == 1:
            ib = iban("DE")
            v = "-".join(ib[j:j + 4] for j in range(0, len(ib), 4))
            text = f"IBAN {v}"
        else:
            s_ = ssn("")
            words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
            v = " ".join(words[int(c)] for c in s_)
            text = f"my social is {v}"
        place(["card_dots", "iban_dashes", "ssn_words"][kind], "evasion_hard_pii", "pii", [v], carriers(text))


# ---------------------------------------------------------------- PII
def luhn_complete(prefix, length):
    d = prefix + "".join(R.choice(DG) for _ in range(length - len(prefix) - 1))
    s = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        s += n
    return d + str((10 - s % 10) % 10)


def luhn_ok(d):
    s = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        s += n
    return s % 10 == 0


def luhn_card(sep=" ", brand=None):
    brand = brand or R.choice(["visa", "mc", "amex", "disc", "mc2"])
    pre, ln = {"visa": ("4", 16), "mc": ("5" + R.choice("12345"), 16), "mc2": ("22" + str(R.randint(21, 70)), 16),
               "amex": (R.choice(["34", "37"]), 15), "disc": ("6011", 16)}[brand]
    d = luhn_complete(pre, ln)
    assert luhn_ok(d)
    if ln == 15:
        return sep.join([d[:4], d[4:10], d[10:]])
    return sep.join(d[i:i + 4] for i in range(0, 16, 4))


def ssn(sep="-"):
    while True:
        a = R.randint(1, 899)
        if a != 666:
            break
    return f"{a:03d}{sep}{R.randint(1, 99):02d}{sep}{R.randint(1, 9999):04d}"


def iban(cc):
    spec = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c",
            "CH": "5n12c", "BE": "12n", "PL": "24n", "AT": "16n"}[cc]
    bban = ""
    i = 0
    while i < len(spec):
        j = i
        while spec[j].isdigit():
            j += 1
        n, t = int(spec[i:j]), spec[j]
        alpha = {"n": DG, "a": UP, "c": UP + DG}[t]
        bban += rs(alpha, n)
        i = j + 1
    rearr = bban + cc + "00"
    num = int("".join(str(int(c, 36)) for c in rearr))
    chk = 98 - num % 97
    return f"{cc}{chk:02d}{bban}"


def iban_fmt(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def gen_pii():
    # DOB with name
    for i in range(16):
        f, l = person()
        y, m, d = R.randint(1950, 2005), R.randint(1, 12), R.randint(1, 28)
        form, val = R.choice([
            ("born {v}", f"{MONTHS[m-1]} {d:02d}, {y}"),
            ("DOB: {v}", f"{d} {MONTHS[m-1]} {y}"),
            ("d.o.b {v}", f"{y}-{m:02d}-{d:02d}"),
            ("date of birth {v}", f"{m:02d}/{d:02d}/{y}"),
            ("Geburtsdatum: {v}", f"{d:02d}.{m:02d}.{y}"),
            ("né le {v}", f"{d} {['janvier','février','mars','avril','mai','juin','juillet','août','septembre','octobre','novembre','décembre'][m-1]} {y}"),
            ("birthday {v}", f"{MONTHS[m-1][:3]} {d}, {y}"),
            ("DOB {v}", f"{d}/{m}/{y}"),
        ])
        text = f"Patient {f} {l}, " + form.format(v=val) + ", presented with mild fever."
        e = email(f, l)
        if i % 2 == 0:
            place("dob_with_email", "pii_dob", "pii", [val, e], carriers(text + f" Contact: {e}"))
        else:
            place("dob", "pii_dob", "pii", [val], R.choice([carriers(text), kv({"name": f"{f} {l}", "dob": val, "plan": "gold"})]) if "dob" not in form.lower() or True else None)
    # phones
    phones = [
        lambda: f"+1 ({R.randint(201, 989)}) {R.randint(200, 999)}-{R.randint(1000, 9999)}",
        lambda: f"({R.randint(201, 989)}) {R.randint(200, 999)}-{R.randint(1000, 9999)}",
        lambda: f"{R.randint(201, 989)}.{R.randint(200, 999)}.{R.randint(1000, 9999)}",
        lambda: f"+44 20 7{R.randint(100, 999)} {R.randint(1000, 9999)}",
        lambda: f"07{R.randint(100, 999)} {R.randint(100000, 999999)}",
        lambda: f"+49 30 {R.randint(1000000, 99999999)}",
        lambda: f"+49 151 {R.randint(10000000, 99999999)}",
        lambda: f"+33 6 {R.randint(10,99)} {R.randint(10,99)} {R.randint(10,99)} {R.randint(10,99)}",
        lambda: f"06 {R.randint(10,99)} {R.randint(10,99)} {R.randint(10,99)} {R.randint(10,99)}",
        lambda: f"+91 98{R.randint(100, 999)} {R.randint(10000, 99999)}",
        lambda: f"+81 3-{R.randint(1000, 9999)}-{R.randint(1000, 9999)}",
        lambda: f"+55 11 9{R.randint(1000, 9999)}-{R.randint(1000, 9999)}",
        lambda: f"+61 4{R.randint(10, 99)} {R.randint(100, 999)} {R.randint(100, 999)}",
        lambda: f"+31 6 {R.randint(10000000, 99999999)}",
        lambda: f"+34 6{R.randint(10, 99)} {R.randint(100, 999)} {R.randint(100, 999)}",
        lambda: f"+1{R.randint(201, 989)}{R.randint(200, 999)}{R.randint(1000, 9999)}",
    ]
    for i, pf in enumerate(phones * 1 + phones[:6]):
        p = pf()
        f, l = person()
        place("phone", "pii_phone", "pii", [p], R.choice([
            carriers(f"Call {f} {l} on {p} tomorrow about the refund."),
            kv({"customer": {"name": f"{f} {l}", "phone": p}}),
            write_file("contacts.csv", f"name,phone\n{f} {l},{p}\n"),
        ]))
    # IBAN
    for cc in ["DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE", "PL", "AT", "DE", "GB", "FR", "NL"]:
        ib = iban(cc)
        v = iban_fmt(ib) if R.random() < 0.5 else ib
        f, l = person()
        place(f"iban_{cc}", "pii_iban", "pii", [v], R.choice([
            carriers(f"Please wire the deposit to {f} {l}, IBAN {v}, ref INV-{R.randint(1000,9999)}"),
            kv({"payee": f"{f} {l}", "iban": v, "amount": "1200.00"}),
            email_send("ap@acme.io", "bank details", f"Hi, my new bank account is {v}. Thanks, {f}")]))
    # cards
    for i in range(14):
        c = luhn_card(sep=R.choice([" ", "-", ""]))
        place("card", "pii_card", "pii", [c], R.choice([
            carriers(f"customer read me their card {c} exp 11/27 cvv {R.randint(100,999)}"),
            kv({"payment": {"card_number": c, "exp": "04/29"}}),
            log_ship([f"charge failed card={c} amount=49.00"])]))
    # SSN
    for i in range(10):
        s = ssn("-")
        f, l = person()
        place("ssn", "pii_ssn", "pii", [s], R.choice([
            carriers(f"Employee {f} {l} SSN: {s}"),
            kv({"employee": f"{f} {l}", "ssn": s}),
            write_file("payroll.csv", f"name,ssn,salary\n{f} {l},{s},88000\n")]))
    # passports
    for i in range(10):
        num, ctx = R.choice([
            (str(R.randint(100000000, 999999999)), "US passport number"),
            (str(R.randint(100000000, 999999999)), "UK passport no."),
            ("C" + rs("CFGHJKLMNPRTVWXYZ0123456789", 8), "Reisepass Nr."),
            (f"{R.randint(10,99)}{rs(UP,2)}{R.randint(10000,99999)}", "French passport"),
            (rs(UP, 1) + str(R.randint(1000000, 9999999)), "Indian passport number"),
            (rs(UP, 2) + str(R.randint(1000000, 9999999)), "passport #"),
        ])
        f, l = person()
        place("passport", "pii_passport", "pii", [num], R.choice([
            carriers(f"Booking for {f} {l}, {ctx} {num}, expires 2031-05-02"),
            kv({"traveller": {"name": f"{f} {l}", "passport_number": num, "nationality": "GB"}})]))
    # emails in CSV rows and prose
    for i in range(12):
        rows = [(person(), None) for _ in range(3)]
        es = [email(*p) for p, _ in rows]
        if i % 2 == 0:
            csv = "id,name,email,plan\n" + "\n".join(f"{j+1},{p[0]} {p[1]},{e},pro" for j, ((p, _), e) in enumerate(zip(rows, es)))
            place("email_csv", "pii_email", "pii", es, write_file("export/customers.csv", csv))
        else:
            place("email_prose", "pii_email", "pii", [es[0]], carriers(f"Forwarding from {rows[0][0][0]} ({es[0]}): they want to cancel."))
    # mixed record
    for i in range(6):
        f, l = person()
        e, p, s = email(f, l), phones[0](), ssn()
        place("mixed_record", "pii_mixed", "pii", [e, p, s], kv({"applicant": {"first": f, "last": l, "email": e, "phone": p, "ssn": s}}))


# ---------------------------------------------------------------- negatives
def neg(name, fam, spec):
    place(name, f"neg_{fam}", "negative", [], spec)


def ulid():
    return rs("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)


def gen_negatives():
    for _ in range(6):
        neg("uuid", "uuid", kv({"request_id": uuid4(), "trace": uuid4(), "status": "ok"}))
    for _ in range(5):
        neg("ulid", "ulid", log_ship([f"order {ulid()} created", f"event_id={ulid()}"]))
    for _ in range(6):
        sha = rs(HEX, 40)
        neg("git_sha", "git_sha", R.choice([gh_comment(f"Fixed in {sha}, please re-test."),
                                            shell(f"git checkout {sha} && make"),
                                            kv({"ref": "refs/heads/main", "after": sha, "before": rs(HEX, 40)})]))
    for _ in range(6):
        d = rs(HEX, 64)
        neg("sha256", "sha256_digest", R.choice([write_file("SHA256SUMS", f"{d}  app-linux-amd64.tar.gz\n{rs(HEX,64)}  app-darwin-arm64.tar.gz\n"),
                                                 carriers(f"checksum sha256:{d} matches the release")]))
    for _ in range(4):
        neg("md5", "md5_digest", kv({"file": "report.pdf", "md5": rs(HEX, 32), "etag": f"\"{rs(HEX,32)}\""}))
    for _ in range(6):
        integ = "sha512-" + base64.b64encode(secrets.token_bytes(64)).decode()
        neg("npm_integrity", "npm_integrity", write_file("package-lock.json", json.dumps({"packages": {"node_modules/lodash": {
            "version": "4.17.21", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz", "integrity": integ}}}, indent=2)))
    for _ in range(5):
        dg = "sha256:" + rs(HEX, 64)
        neg("docker_digest", "docker_digest", R.choice([write_file("Dockerfile", f"FROM python:3.12-slim@{dg}\nRUN pip install -r req.txt\n"),
                                                        kv({"image": f"ghcr.io/acme/api@{dg}"})]))
    for _ in range(6):
        contents = [{"Key": f"uploads/2026/11/{uuid4()}/{R.choice(['invoice','avatar','export'])}-{rs(AN,20)}.{R.choice(['pdf','png','csv'])}",
                     "LastModified": "2026-11-29T10:00:00.000Z", "ETag": f"\"{rs(HEX,32)}\"", "Size": R.randint(100, 10**6),
                     "StorageClass": "STANDARD"} for _ in range(3)]
        neg("s3_listing", "s3_listing", kv({"Name": "acme-uploads", "Prefix": "uploads/", "KeyCount": 3, "Contents": contents,
                                            "NextContinuationToken": base64.b64encode(secrets.token_bytes(48)).decode()}))
    for _ in range(6):
        cur = R.choice([b64u(json.dumps({"id": R.randint(1, 10**9), "ts": 1764500000}).encode()),
                        base64.b64encode(secrets.token_bytes(24)).decode(), "eyJwYWdlIjo" + rs(B64U, 20)])
        neg("cursor", "pagination_cursor", kv({"data": [{"id": 1}, {"id": 2}], "has_more": True, "next_cursor": cur}))
    for _ in range(5):
        neg("request_id", "request_id", log_ship([f"req_id=req_{rs(AN,24)} status=200 dur=12ms",
                                                   f"x-amzn-RequestId: {uuid4()}", f"cf-ray: {rs(HEX,16)}-FRA"]))
    for _ in range(5):
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(R.randint(80, 300))).decode()
        neg("data_uri", "base64_image", kv({"html": f"<img alt=\"logo\" src=\"data:image/png;base64,{png}\">"}))
    for _ in range(5):
        names = [rs(LO, 1) for _ in range(8)]
        js = ("!function(e,t){\"object\"==typeof exports?module.exports=t():e.lib=t()}(this,function(){var " +
              ",".join(f"{n}={R.randint(0,999)}" for n in names) + f";function {rs(LO,2)}(e){{return e.replace(/[A-Za-z0-9+/=]{{4}}/g,\"\")}}" +
              f"var k=\"{rs(AN,12)}\";return{{v:\"3.{R.randint(0,9)}.1\",h:\"{rs(HEX,8)}\"}}}});")
        neg("minified_js", "minified_js", write_file("dist/lib.min.js", js))
    for _ in range(5):
        neg("ssh_pub", "ssh_public_key", write_file("/home/deploy/.ssh/authorized_keys",
                                                    f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rs(B64, 43)} deploy@ci\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ{rs(B64, 300)} ops@laptop\n"))
    for kind in ["PUBLIC KEY", "CERTIFICATE", "CERTIFICATE", "RSA PUBLIC KEY", "CERTIFICATE REQUEST"]:
        neg("pem_public", "pem_public", write_file("certs/tls.pem", pem(kind) + "\n"))
    # documented examples
    docs = [
        ("aws_example", write_file(".env.example", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")),
        ("aws_example_doc", carriers("In the docs they use AKIAIOSFODNN7EXAMPLE and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY as the sample pair.")),
        ("aws_example_py", write_file("README.md", "```python\nboto3.client('s3', aws_access_key_id='AKIAIOSFODNN7EXAMPLE', aws_secret_access_key='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')\n```\n")),
        ("stripe_doc_test", write_file("docs/payments.md", "Set `STRIPE_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc` to run against test mode.\n")),
        ("stripe_doc_test2", carriers("curl https://api.stripe.com/v1/charges -u sk_test_4eC39HqLyjWDarjtT1zdp7dc:")),
        ("stripe_doc_test3", write_file("test_pay.py", "stripe.api_key = 'sk_test_BQokikJOvBiI2HlWgH4olfQ2'\n")),
        ("jwt_io", carriers("the jwt.io sample is eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")),
        ("jwt_io2", write_file("tests/fixtures/auth.json", json.dumps({"token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"}))),
        ("azurite", write_file("local.settings.json", json.dumps({"Values": {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}}))),
        ("azurite2", carriers("Azurite's well-known key is Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw== for devstoreaccount1")),
        ("azurite3", write_file(".env", "AZURE_STORAGE_CONNECTION_STRING=UseDevelopmentStorage=true\n")),
        ("aws_example_tf", write_file("examples/main.tf", 'provider "aws" {\n  access_key = "AKIAIOSFODNN7EXAMPLE"\n  secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n}\n')),
    ]
    for n_, s_ in docs:
        neg(n_, "documented_example", s_)
    # stripe publishable keys (public by design)
    for _ in range(4):
        neg("stripe_pk", "stripe_publishable", write_file("public/checkout.js", f"const stripe = Stripe('pk_live_{rs(AN, 99)}');\n"))
    # placeholders
    ph = [
        "API_KEY=<YOUR_API_KEY>", "OPENAI_API_KEY=sk-...", "export GITHUB_TOKEN=${GITHUB_TOKEN}", "DB_PASSWORD=${DB_PASSWORD}",
        "password: \"{{ .Values.db.password }}\"", "token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"", "STRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key: YOUR_API_KEY_HERE", "password = \"<password>\"", "Authorization: Bearer <token>", "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY",
        "DATABASE_URL=postgres://user:password@localhost:5432/db", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
        "mysql://root:PASSWORD@127.0.0.1/test", "client_secret: {{ secrets.CLIENT_SECRET }}", "SLACK_BOT_TOKEN=xoxb-your-token",
        "password: %(DB_PASS)s", "secret_key = os.environ[\"SECRET_KEY\"]", "token: process.env.API_TOKEN", "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    ]
    for i, p in enumerate(ph):
        neg(f"placeholder{i}", "placeholder", R.choice([write_file(".env.example", p + "\n"), carriers(f"set it like this:\n```\n{p}\n```")]))
    for i, p in enumerate(["password: changeme", "DB_PASSWORD=changeme", "admin / changeme (default, you'll be asked to change it)"]):
        neg(f"changeme{i}", "placeholder_changeme", R.choice([write_file("config.example.yml", p + "\n"), carriers(p)]))
    # masking markers
    masks = [
        "  + password = (sensitive value)\n  + username = \"admin\"", "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  " + rs(DG + "abcdef", 64) + "\n  " + rs(DG + "abcdef", 64),
        "password=********", "token: [REDACTED]", "API key: sk_live_••••••••4242", "password: <redacted>", "SECRET_KEY=***",
        "Authorization: Bearer ***REDACTED***", "password: \"\"", "aws_secret_access_key = ****************************************",
    ]
    for i, m in enumerate(masks):
        neg(f"mask{i}", "masking_marker", R.choice([log_ship([m]), carriers(f"plan output:\n{m}"), write_file("out.txt", m + "\n")]))
    # look-alike numbers
    for i in range(6):
        g = f"{R.randint(0,9999):04d} {R.randint(1000,9999)} {R.randint(1000,9999)}"
        neg("order_digits", "digit_groups", carriers(R.choice([f"Order {g} shipped today.", f"Ticket #{g} resolved", f"Your confirmation code is {g}"])))
    for i in range(6):
        neg("tracking", "tracking_number", carriers(R.choice([
            f"UPS tracking 1Z{rs(UP+DG, 6)}{R.randint(10**9, 10**10-1)}", f"USPS tracking {R.choice(['9400','9205','9361'])} {R.randint(1000,9999)} {R.randint(1000,9999)} {R.randint(1000,9999)} {R.randint(1000,9999)} {R.randint(10,99)}",
            f"FedEx {R.randint(10**11, 10**12-1)}", f"DHL waybill {R.randint(10**9, 10**10-1)}"])))
    for i in range(8):
        while True:
            d = "4" + "".join(R.choice(DG) for _ in range(15))
            if not luhn_ok(d):
                break
        g = " ".join(d[j:j + 4] for j in range(0, 16, 4))
        neg("luhn_fail", "card_luhn_fail", kv({"invoice": g if i % 2 else d, "note": "internal invoice reference"}))
    for i in range(5):
        neg("version", "version_strings", write_file("versions.txt", f"kernel 5.15.0-{R.randint(10,99)}-generic\nchrome 120.0.{R.randint(1000,9999)}.{R.randint(10,199)}\nwindows 10.0.19045.{R.randint(1000,4000)}\nnode v20.{R.randint(1,18)}.1\n"))
    for i in range(5):
        neg("timestamps", "timestamps", log_ship([f"2026-11-{R.randint(1,30):02d}T{R.randint(0,23):02d}:{R.randint(0,59):02d}:12.{R.randint(100,999)}Z started",
                                                  f"epoch={R.randint(1600000000,1800000000)} ms={R.randint(10**12, 2*10**12)}"]))
    for i in range(5):
        neg("ip_like", "ip_and_ports", carriers(f"the pod 10.{R.randint(0,255)}.{R.randint(0,255)}.{R.randint(0,255)}:8080 talks to 192.168.1.{R.randint(2,254)} over 6443"))
    # dates without DOB context
    for i in range(5):
        y, m, d = 2026, R.randint(1, 12), R.randint(1, 28)
        neg("date_plain", "dates_non_dob", carriers(R.choice([f"Invoice date: {MONTHS[m-1]} {d:02d}, {y}. Due in 30 days.",
                                                              f"Release 4.2 shipped on {d} {MONTHS[m-1]} {y}.",
                                                              f"Meeting moved to {y}-{m:02d}-{d:02d}."])))
    # sentry DSN (public key by design)
    for i in range(5):
        dsn = f"https://{rs(HEX,32)}@o{R.randint(10000,999999)}.ingest.{R.choice(['','us.','de.'])}sentry.io/{R.randint(10**15, 10**16)}"
        neg("sentry_dsn", "sentry_dsn", R.choice([write_file("src/sentry.js", f"Sentry.init({{ dsn: \"{dsn}\", tracesSampleRate: 0.1 }});\n"),
                                                  write_file(".env", f"SENTRY_DSN={dsn}\n")]))
    # prose about secrets
    prose = [
        "Password reset link sent to the user; they should receive it in a few minutes.",
        "Rotate your API tokens every 90 days and never commit them to git.",
        "Passwords must be at least 12 characters and include a number and a symbol.",
        "The access token expires after one hour; use the refresh token to get a new one.",
        "We store only the SHA-256 of each API key, never the key itself.",
        "If you see 'invalid_grant', your refresh token was revoked.",
        "To create a personal access token, go to Settings > Developer settings > Tokens.",
        "The secret key field was renamed to signing_key in v3.",
        "Forgot password? Click here to reset it.",
        "Token budget: 128k tokens per request, 4k output tokens.",
        "Your one-time password will be sent via SMS.",
        "Set the password policy: min_length=14, require_symbols=true, max_age_days=90.",
    ]
    for i, p in enumerate(prose):
        neg(f"prose{i}", "prose_about_secrets", carriers(p))
    for i, p in enumerate(["API_KEY=", "SECRET_KEY=\nDB_PASSWORD=\nTOKEN=", "export OPENAI_API_KEY=", "password:", "token: null", "api_key: ~"]):
        neg(f"empty{i}", "empty_env_var", write_file(".env.template", p + "\n"))
    for i in range(5):
        salt = rs("./" + AN, 53)
        neg("bcrypt", "password_hash", R.choice([kv({"user": "alice", "password_hash": f"$2b$12${salt}"}),
                                                 write_file("htpasswd", f"admin:$2y$10${salt}\n"),
                                                 kv({"hash": f"$argon2id$v=19$m=65536,t=3,p=4${b64u(secrets.token_bytes(16))}${b64u(secrets.token_bytes(32))}"})]))
    commits = ["fix: stop logging the auth token in debug mode", "chore: rotate leaked key (already revoked)",
               "feat(auth): add password strength meter", "refactor: move secrets to vault", "Revert \"add api key to config\""]
    for i, c in enumerate(commits):
        neg(f"commit{i}", "commit_message", kv({"message": c, "sha": rs(HEX, 40), "author": {"name": "ci-bot"}}))
    for i in range(5):
        tb = (f"Traceback (most recent call last):\n  File \"/srv/app/auth/tokens.py\", line {R.randint(10,300)}, in verify_token\n"
              f"    payload = jwt.decode(token, key, algorithms=['RS256'])\njwt.exceptions.InvalidSignatureError: Signature verification failed\n"
              f"  at 0x7f{rs(HEX,10)} thread={R.randint(1000,9999)}")
        neg("stacktrace", "stack_trace", log_ship(tb.split("\n")))
    # config that names secrets but holds references
    refs = [
        ("deploy.yaml", "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-creds\n        key: password\n  - name: API_TOKEN\n    valueFrom:\n      secretKeyRef: {name: api, key: token}\n"),
        (".github/workflows/release.yml", "env:\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"),
        ("main.tf", "resource \"aws_db_instance\" \"db\" {\n  username = \"app\"\n  password = var.db_password\n}\nresource \"random_password\" \"db\" { length = 24 }\n"),
        (".npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nalways-auth=true\n"),
        ("docker-compose.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n    secrets: [db_password]\n"),
        ("app.env", "DB_PASSWORD=op://Production/postgres/password\nSTRIPE_KEY=op://Production/stripe/credential\n"),
        ("secrets.enc.yaml", "db:\n  password: ENC[AES256_GCM,data:" + base64.b64encode(secrets.token_bytes(18)).decode() + ",iv:" + base64.b64encode(secrets.token_bytes(32)).decode() + ",tag:" + base64.b64encode(secrets.token_bytes(16)).decode() + ",type:str]\nsops:\n  version: 3.8.1\n"),
        ("config.py", "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDB_PASSWORD = get_secret(\"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf\")\n"),
        ("vault.hcl", "path \"secret/data/prod/db\" {\n  capabilities = [\"read\"]\n}\n"),
        ("run.sh", "curl -u \"$API_USER:$API_PASS\" https://api.acme.io/v1/export\nPGPASSWORD=\"$DB_PASS\" psql -h db -U app\n"),
    ]
    for i, (path, c) in enumerate(refs):
        neg(f"secret_ref{i}", "secret_reference", write_file(path, c))
    for i in range(4):
        neg("aws_arn", "aws_identifiers", kv({"role": f"arn:aws:iam::{R.randint(10**11, 10**12-1)}:role/deploy", "kms": f"arn:aws:kms:eu-west-1:{R.randint(10**11,10**12-1)}:key/{uuid4()}",
                                              "account": str(R.randint(10**11, 10**12 - 1)), "instance": "i-0" + rs(HEX, 16)}))
    for i in range(4):
        neg("hmac_sig", "webhook_signature", kv({"headers": {"X-Hub-Signature-256": "sha256=" + rs(HEX, 64), "Stripe-Signature": f"t=1764500000,v1={rs(HEX,64)}"}, "event": "push"}))
    for i in range(4):
        neg("css_colors", "css_and_hex_ids", write_file("theme.css", f":root {{ --brand: #{rs(HEX,6)}; --bg: #{rs(HEX,6)}; }}\n.a{{background:url(/static/img/hero.{rs(HEX,20)}.webp)}}\n"))
    for i in range(4):
        neg("asset_hash", "asset_fingerprints", write_file("dist/manifest.json", json.dumps({"main.js": f"main.{rs(HEX,20)}.js", "vendor.js": f"vendor.{rs(LO+DG,8)}.chunk.js",
                                                                                         "styles": f"styles.{rs(HEX,32)}.css"})))
    for i in range(4):
        neg("oauth_public", "oauth_public_ids", write_file("auth.ts", f"const googleClientId = '{R.randint(10**11,10**12)}-{rs(LO+DG,32)}.apps.googleusercontent.com';\nconst redirect = 'https://app.acme.io/callback';\n"))
    for i in range(4):
        neg("role_emails", "non_personal_email", carriers(R.choice(["Send questions to support@acme.io.", "Reply to noreply@github.com is not monitored.",
                                                                    "abuse reports: abuse@globex.com", "billing@hooli.dev handles invoices"])))
    for i, e in enumerate(["user@example.com", "jane.doe@example.org", "alice@example.net", "test@test.invalid", "bob@localhost.localdomain"]):
        neg("example_email", "example_domain_email", R.choice([write_file("docs/api.md", f"POST /users {{\"email\": \"{e}\", \"name\": \"Jane Doe\"}}\n"),
                                                               carriers(f"In the sample request, replace {e} with your address.")]))
    for i in range(4):
        neg("lorem_b64", "base64_nonsecret", kv({"content_b64": base64.b64encode(("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 3).encode()).decode(), "filename": "readme.txt"}))
    for i, c in enumerate(["4242 4242 4242 4242", "4000 0566 5566 5556", "5555 5555 5555 4444", "3782 822463 10005", "4111 1111 1111 1111"]):
        neg("test_cards", "documented_test_card", write_file("docs/testing.md", f"In Stripe test mode use {c} with any future expiry and any CVC.\n"))
    for i in range(4):
        neg("isbn_ids", "product_ids", carriers(f"ISBN 978-{R.randint(0,9)}-{R.randint(100,999)}-{R.randint(10000,99999)}-{R.randint(0,9)}, SKU {rs(UP,3)}-{R.randint(10000,99999)}, GTIN {R.randint(10**12, 10**13-1)}"))
    # invalid-checksum IBAN look-alikes
    for cc in ["DE", "GB", "FR", "NL", "ES"]:
        good = iban(cc)
        bad = good[:2] + f"{(int(good[2:4]) + R.randint(1, 9)) % 100:02d}" + good[4:]
        neg("iban_bad_checksum", "iban_mod97_fail", kv({"reference": bad, "note": "internal ledger reference"}))
    # invalid SSNs (area 000/666, group 00)
    for s_ in [f"000-{R.randint(10,99)}-{R.randint(1000,9999)}", f"666-{R.randint(10,99)}-{R.randint(1000,9999)}",
               f"{R.randint(100,599)}-00-{R.randint(1000,9999)}", f"{R.randint(100,599)}-{R.randint(10,99)}-0000"]:
        neg("ssn_invalid", "ssn_invalid", carriers(f"part number {s_} is back-ordered"))
    # JWK public keys
    for i in range(4):
        n = b64u(secrets.token_bytes(256))
        neg("jwks", "jwks_public", kv({"keys": [{"kty": "RSA", "use": "sig", "kid": rs(AN, 16), "alg": "RS256", "n": n, "e": "AQAB"}]}))
    # crypto public identifiers
    for i in range(4):
        neg("crypto_addr", "blockchain_public", carriers(R.choice([f"send to 0x{rs(HEX,40)} (tx 0x{rs(HEX,64)})",
                                                                  f"pinned CID Qm{rs('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz',44)}",
                                                                  f"donations: bc1q{rs('qpzry9x8gf2tvdw0s3jn54khce6mua7l',38)}"])))
    # ssh host key fingerprints / gpg ids
    for i in range(4):
        neg("fingerprint", "key_fingerprints", carriers(R.choice([f"ED25519 key fingerprint is SHA256:{rs(B64,43)}.",
                                                                 f"gpg: using RSA key {rs(HEX.upper(),40)}", f"Signed-off-by key {rs(HEX.upper(),16)}"])))
    # form / schema fields named password
    forms = ['<form><input type="password" name="password" autocomplete="current-password"></form>',
             json.dumps({"type": "object", "properties": {"password": {"type": "string", "format": "password", "minLength": 12}}}),
             "UPDATE users SET password_hash = $1, password_changed_at = now() WHERE id = $2;",
             "def check_password(self, raw_password):\n    return bcrypt.checkpw(raw_password.encode(), self.password_hash)\n",
             "password_field = forms.CharField(widget=forms.PasswordInput)",
             "if (!token) { throw new Error('missing token'); }"]
    for i, f_ in enumerate(forms):
        neg(f"code_about_pw{i}", "code_about_secrets", write_file("src/auth.txt", f_))
    # config booleans / counts named like secrets
    for i, d_ in enumerate([{"secret": False, "token_count": 18342, "max_tokens": 4096},
                            {"password_required": True, "password_min_length": 14, "api_key_rotation_days": 90},
                            {"auth": {"type": "oauth2", "token_url": "https://auth.acme.io/oauth/token", "client_id": uuid4()}},
                            {"idempotency_key": uuid4(), "cache_key": "user:42:profile:v3"},
                            {"subscription_id": uuid4(), "tenant_id": uuid4(), "client_id": uuid4()}]):
        neg(f"cfg{i}", "config_named_like_secret", kv(d_))
    # code that obtains a password at run time (no value present)
    for i, c in enumerate(["password = getpass.getpass('Password: ')", "DB_PASSWORD = get_secret(\"prod/db\")",
                           "const password = await vault.read('secret/data/db').then(r => r.data.password);",
                           "password := os.Getenv(\"DB_PASSWORD\")", "token = keyring.get_password('acme', user)",
                           "api_key = settings.API_KEY or load_key_from_file(path)"]):
        neg(f"runtime_secret{i}", "secret_fetched_at_runtime", write_file("src/db.py", c + "\n"))
    # numbers that look like phones/cards
    for i in range(5):
        neg("numbers", "numeric_lookalikes", carriers(R.choice([f"coords {R.uniform(-90,90):.6f}, {R.uniform(-180,180):.6f}",
                                                               f"Total: $1,{R.randint(100,999)},{R.randint(100,999)}.{R.randint(10,99)}",
                                                               f"build {2026}{R.randint(1000,1231)}.{R.randint(1,9)} on runner {R.randint(100000,999999)}",
                                                               f"ZIP 94{R.randint(100,199)}-{R.randint(1000,9999)}, PO Box {R.randint(100,9999)}",
                                                               f"message id {R.randint(10**17, 10**18)} in channel {R.randint(10**17, 10**18)}"])))
    # Firebase/Algolia style public web config (designed to ship to browsers) -- skipped: debatable
    # high-entropy test fixtures that are clearly random nonces, not credentials
    for i in range(4):
        neg("nonce", "csp_nonce_and_salts", write_file("index.html", f'<script nonce="{base64.b64encode(secrets.token_bytes(16)).decode()}" src="/app.js" integrity="sha384-{base64.b64encode(secrets.token_bytes(48)).decode()}" crossorigin="anonymous"></script>'))
    for i in range(4):
        neg("k8s_ids", "k8s_generated_names", log_ship([f"pod/api-{rs(LO+DG,10)}-{rs(LO+DG,5)} Running", f"replicaset api-{rs(LO+DG,10)}", f"containerID containerd://{rs(HEX,64)}"]))


if __name__ == "__main__" and "--append-hard" in __import__("sys").argv:
    base = [json.loads(l) for l in open("probes.jsonl")]
    assert not any(p["family"].startswith("evasion_hard") for p in base), "already appended"
    PROBES.extend(base)
    n0 = len(PROBES)
    gen_evasions_hard()
    with open("probes.jsonl", "a") as f:
        for p in PROBES[n0:]:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    print("appended", len(PROBES) - n0, "total", len(PROBES))
    raise SystemExit(0)

if __name__ == "__main__":
    gen_secrets()
    gen_evasions()
    gen_evasions_hard()
    gen_pii()
    gen_negatives()
    import os, sys
    if os.path.exists("probes.jsonl") and "--force" not in sys.argv:
        raise SystemExit("probes.jsonl exists (frozen held-out set); pass --force to regenerate")
    with open("probes.jsonl", "w") as f:
        for p in PROBES:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    from collections import Counter
    c = Counter(p["label"] for p in PROBES)
    ev = sum(1 for p in PROBES if p["family"].startswith("evasion"))
    print(len(PROBES), dict(c), "evasions:", ev, "families:", len(set(p["family"] for p in PROBES)))
