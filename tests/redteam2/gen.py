#!/usr/bin/env python3
"""Held-out probe generator for interven (redteam2).

Deterministic: `python3 gen.py [--seed N] [--out probes.jsonl]`.
Random bodies are drawn from the vendors' published alphabets and lengths with a
seeded PRNG (the stdlib `secrets` module cannot be seeded, and the set must be
reproducible). No vendor-documented example value is ever used as a positive;
the documented examples appear only in the negative families.
"""
import argparse, base64, binascii, gzip, html, json, random, string, urllib.parse, zlib

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=20261201)
ap.add_argument("--out", default="probes.jsonl")
args = ap.parse_args()
R = random.Random(args.seed)

UP = string.ascii_uppercase
LO = string.ascii_lowercase
DG = string.digits
AN = UP + LO + DG
HEXL = "0123456789abcdef"
B64 = AN + "+/"
B64U = AN + "-_"
B32 = UP + "234567"


def rs(alpha, n):
    return "".join(R.choice(alpha) for _ in range(n))


def pick(xs):
    return R.choice(xs)


PROBES = []
NAMES = set()


def add(name, family, label, values, request, note=None, plain=None):
    base = name
    i = 2
    while name in NAMES:
        name = f"{base}-{i}"
        i += 1
    NAMES.add(name)
    p = {"name": name, "family": family, "label": label, "values": values, "request": request}
    if plain:
        p["plain"] = plain
    if note:
        p["note"] = note
    # sanity: every labelled value must be in the serialized request text
    blob = json.dumps(request, ensure_ascii=False)
    for v in values:
        if json.dumps(v, ensure_ascii=False)[1:-1] not in blob:
            raise SystemExit(f"value not in body: {name}: {v!r}")
    PROBES.append(p)


# ---------------------------------------------------------------- people etc.
FIRST = ["Olivia", "Liam", "Amara", "Mateo", "Sofia", "Noah", "Priya", "Kenji", "Fatima", "Lukas",
         "Chloé", "Diego", "Hannah", "Wei", "Aisha", "Jonas", "Isabella", "Tomasz", "Yuki", "Oluwaseun",
         "Marta", "Ahmed", "Elena", "Rafael", "Ingrid", "Siddharth", "Camille", "Björn", "Lucía", "Daniel"]
LAST = ["Okafor", "Schneider", "Moreau", "García", "Nakamura", "Kowalski", "Patel", "Rossi", "Jensen",
        "Fernandes", "O'Brien", "Van der Berg", "Haddad", "Lindqvist", "Novak", "Chen", "Müller", "Dubois",
        "Silva", "Ivanova", "Kim", "Murphy", "Bianchi", "Yilmaz", "Andersson", "Thompson", "Reyes"]
DOMAINS = ["acme-logistics.io", "brightpath.co.uk", "northwind-traders.com", "fjordbank.no", "helios-med.de",
           "quantaflow.ai", "pinecrest-legal.com", "gmail.com", "outlook.com", "yahoo.co.jp", "proton.me",
           "orbitalworks.fr", "tidewater.com.au", "lumenhealth.org", "kestrel.dev", "web.de", "hey.com"]
ORGS = ["acme", "northwind", "helios-platform", "quantaflow", "kestrel-labs", "orbital"]
REPOS = ["api-gateway", "billing-service", "infra", "web-frontend", "data-pipeline", "mobile-app", "ml-serving"]


def person():
    return pick(FIRST), pick(LAST)


def email_of(f, l, dom=None):
    dom = dom or pick(DOMAINS)
    import unicodedata
    a = unicodedata.normalize("NFKD", f).encode("ascii", "ignore").decode().lower()
    b = unicodedata.normalize("NFKD", l).encode("ascii", "ignore").decode().lower().replace("'", "").replace(" ", "")
    fmt = pick(["{a}.{b}", "{a}{b}", "{a0}{b}", "{a}_{b}", "{a}.{b}{n}"])
    return fmt.format(a=a, b=b, a0=a[0], n=R.randint(1, 99)) + "@" + dom


# ---------------------------------------------------------------- carriers
def gh_issue(text, title=None):
    o, r = pick(ORGS), pick(REPOS)
    return {"method": "POST", "url": f"https://api.github.com/repos/{o}/{r}/issues",
            "body": {"title": title or pick(["Deploy fails on staging", "Flaky test in CI", "Config question",
                                               "Bug: 500 on /checkout", "Runbook update", "Intermittent timeout"]),
                     "body": text, "labels": [pick(["bug", "ops", "question", "infra"])]},
            "tool": "github", "operation": "create_issue"}


def gh_comment(text):
    o, r = pick(ORGS), pick(REPOS)
    return {"method": "POST", "url": f"https://api.github.com/repos/{o}/{r}/issues/{R.randint(10, 4000)}/comments",
            "body": {"body": text}, "tool": "github", "operation": "create_comment"}


def gh_pr(text):
    o, r = pick(ORGS), pick(REPOS)
    return {"method": "POST", "url": f"https://api.github.com/repos/{o}/{r}/pulls",
            "body": {"title": pick(["Fix retry logic", "Bump deps", "Add staging config", "Refactor auth client"]),
                     "head": f"feature/{rs(LO, 6)}", "base": "main", "body": text, "draft": False},
            "tool": "github", "operation": "create_pull_request"}


def gitlab_note(text):
    return {"method": "POST",
            "url": f"https://gitlab.com/api/v4/projects/{R.randint(1000, 99999)}/merge_requests/{R.randint(1, 900)}/notes",
            "body": {"body": text}, "tool": "gitlab", "operation": "create_mr_note"}


def jira_comment(text):
    return {"method": "POST",
            "url": f"https://{pick(ORGS)}.atlassian.net/rest/api/3/issue/{pick(['OPS', 'PLAT', 'SUP', 'BILL'])}-{R.randint(10, 9999)}/comment",
            "body": {"body": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": text}]}]}},
            "tool": "jira", "operation": "add_comment"}


def linear_issue(text):
    return {"method": "POST", "url": "https://api.linear.app/graphql",
            "body": {"query": "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier } } }",
                     "variables": {"input": {"teamId": f"{rs(HEXL, 8)}-{rs(HEXL, 4)}-4{rs(HEXL, 3)}-a{rs(HEXL, 3)}-{rs(HEXL, 12)}",
                                             "title": pick(["Investigate checkout errors", "Rotate creds", "Onboarding doc"]),
                                             "description": text}}},
            "tool": "linear", "operation": "create_issue"}


def slack(text):
    return {"method": "POST", "url": "https://slack.com/api/chat.postMessage",
            "body": {"channel": "C0" + rs(UP + DG, 9), "text": text, "unfurl_links": False},
            "tool": "slack", "operation": "post_message"}


def discord(text):
    return {"method": "POST", "url": f"https://discord.com/api/v10/channels/{R.randint(10**17, 10**18)}/messages",
            "body": {"content": text, "tts": False}, "tool": "discord", "operation": "send_message"}


def teams(text):
    return {"method": "POST",
            "url": f"https://graph.microsoft.com/v1.0/teams/{rs(HEXL, 8)}-{rs(HEXL, 4)}-{rs(HEXL, 4)}-{rs(HEXL, 4)}-{rs(HEXL, 12)}/channels/19:{rs(HEXL, 32)}@thread.tacv2/messages",
            "body": {"body": {"contentType": "text", "content": text}}, "tool": "teams", "operation": "post_message"}


def email_send(text, to=None, subject=None):
    f, l = person()
    return {"method": "POST", "url": "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
            "body": {"to": to or email_of(f, l), "subject": subject or pick(["Re: your request", "Access for the new contractor",
                                                                            "Follow-up", "Quick question", "Handover notes"]),
                     "text": text}, "tool": "gmail", "operation": "send_email"}


def zendesk(text):
    return {"method": "POST", "url": f"https://{pick(ORGS)}.zendesk.com/api/v2/tickets/{R.randint(1000, 99999)}.json",
            "body": {"ticket": {"comment": {"body": text, "public": False}, "status": "open"}},
            "tool": "zendesk", "operation": "update_ticket"}


def llm(text):
    return {"method": "POST", "url": "https://api.openai.com/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "You are a helpful assistant that summarises tool output."},
                {"role": "user", "content": text}]}, "tool": "openai", "operation": "chat_completion"}


def notion(text):
    return {"method": "PATCH", "url": f"https://api.notion.com/v1/blocks/{rs(HEXL, 32)}/children",
            "body": {"children": [{"object": "block", "type": "paragraph",
                                   "paragraph": {"rich_text": [{"type": "text", "text": {"content": text}}]}}]},
            "tool": "notion", "operation": "append_block"}


def write_file(path, content):
    if R.random() < 0.5:
        return {"method": "POST", "url": "mcp://filesystem/tools/write_file",
                "body": {"path": path, "content": content}, "tool": "filesystem", "operation": "write_file"}
    return {"method": "POST", "url": f"https://gitlab.com/api/v4/projects/{R.randint(1000, 99999)}/repository/commits",
            "body": {"branch": pick(["main", "develop", f"agent/{rs(LO, 6)}"]),
                     "commit_message": pick(["Add config", "wip", "Update settings", "chore: scaffold service"]),
                     "actions": [{"action": pick(["create", "update"]), "file_path": path.lstrip("/"), "content": content}]},
            "tool": "gitlab", "operation": "commit_files"}


def shell_out(cmd, output):
    return {"method": "POST", "url": "mcp://shell/tools/run_command",
            "body": {"command": cmd, "stdout": output, "exit_code": 0}, "tool": "shell", "operation": "report_output"}


def ci_log(text):
    return gh_comment("CI failed, log excerpt:\n```\n" + text + "\n```")


def dd_logs(msg):
    return {"method": "POST", "url": "https://http-intake.logs.datadoghq.eu/api/v2/logs",
            "body": [{"ddsource": "python", "service": pick(REPOS), "hostname": f"ip-10-0-{R.randint(0, 255)}-{R.randint(0, 255)}",
                      "message": msg, "status": pick(["info", "error", "warn"])}], "tool": "datadog", "operation": "send_logs"}


def msg_carrier():
    return pick([gh_issue, gh_comment, gh_pr, gitlab_note, jira_comment, linear_issue, slack, discord, teams,
                 email_send, zendesk, llm, notion])


# ---------------------------------------------------------------- secret formats
def crc_b62(s):
    n = zlib.crc32(s.encode()) & 0xFFFFFFFF
    al = DG + UP + LO
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = al[r] + out
    return out.rjust(6, "0")


def gh_tok(prefix):
    body = rs(AN, 30)
    return prefix + body + crc_b62(body)


def b64url_nopad(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def jwt():
    hdr = {"alg": pick(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    if hdr["alg"] != "HS256":
        hdr["kid"] = rs(AN, 16)
    now = 1764600000 + R.randint(-10**6, 10**6)
    pl = {"sub": str(R.randint(10**5, 10**9)), "iss": pick(["https://auth.acme-logistics.io/", "https://login.kestrel.dev",
                                                            "https://securetoken.google.com/quantaflow-prod"]),
          "aud": pick(["api", "web", "billing"]), "iat": now, "exp": now + 3600,
          "scope": pick(["read write", "admin", "orders:read"]), "jti": rs(HEXL, 16)}
    siglen = {"HS256": 32, "RS256": 256, "ES256": 64}[hdr["alg"]]
    sig = bytes(R.getrandbits(8) for _ in range(siglen))
    return ".".join([b64url_nopad(json.dumps(hdr, separators=(",", ":")).encode()),
                     b64url_nopad(json.dumps(pl, separators=(",", ":")).encode()), b64url_nopad(sig)])


def pem_rsa():
    raw = bytes([0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00]) + bytes(R.getrandbits(8) for _ in range(1180))
    b = base64.b64encode(raw).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"


def pem_pkcs8():
    raw = bytes.fromhex("308204bd020100300d06092a864886f70d0101010500048204a7") + bytes(R.getrandbits(8) for _ in range(1190))
    b = base64.b64encode(raw).decode()
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END PRIVATE KEY-----"


def pem_ec():
    raw = bytes.fromhex("30770201010420") + bytes(R.getrandbits(8) for _ in range(32)) + bytes.fromhex("a00a06082a8648ce3d030107a144034200") + bytes(R.getrandbits(8) for _ in range(65))
    b = base64.b64encode(raw).decode()
    return "-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END EC PRIVATE KEY-----"


def openssh_key():
    raw = b"openssh-key-v1\x00" + b"\x00\x00\x00\x04none\x00\x00\x00\x04none\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x003\x00\x00\x00\x0bssh-ed25519\x00\x00\x00 " + bytes(R.getrandbits(8) for _ in range(300))
    b = base64.b64encode(raw).decode()
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(b[i:i + 70] for i in range(0, len(b), 70)) + "\n-----END OPENSSH PRIVATE KEY-----"


def uuid4():
    h = rs(HEXL, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{pick('89ab')}{h[17:20]}-{h[20:]}"


def pw():
    # realistic human-chosen-but-strong passwords
    forms = [lambda: rs(AN, 4) + pick("!@#$%&*") + rs(AN, 7),
             lambda: pick(["Summer", "Winter", "Falcon", "Orbit", "Tango", "Maple", "Cobalt"]) + str(R.randint(10, 99)) + pick("!#$%") + rs(UP + LO, 3),
             lambda: rs(AN + "!#%^*-_", 16),
             lambda: "-".join(rs(LO, R.randint(4, 6)) for _ in range(3)) + str(R.randint(1, 9)),
             lambda: rs(LO, 3) + rs(UP, 2) + rs(DG, 3) + pick("!?.") + rs(LO, 4)]
    return pick(forms)()


VENDORS = [
    # (id, varname, generator, note)
    ("aws_access_key_id", "AWS_ACCESS_KEY_ID", lambda: "AKIA" + rs(UP + "234567", 16)),
    ("aws_sts_key_id", "AWS_ACCESS_KEY_ID", lambda: "ASIA" + rs(UP + "234567", 16)),
    ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", lambda: rs(B64, 40)),
    ("github_pat_classic", "GITHUB_TOKEN", lambda: gh_tok("ghp_")),
    ("github_oauth", "GH_OAUTH_TOKEN", lambda: gh_tok("gho_")),
    ("github_app_server", "GITHUB_APP_TOKEN", lambda: gh_tok("ghs_")),
    ("github_refresh", "GH_REFRESH", lambda: gh_tok("ghr_")),
    ("github_fine_grained", "GITHUB_PAT", lambda: "github_pat_11" + rs(UP + DG, 20) + "_" + rs(AN, 59)),
    ("gitlab_pat", "GITLAB_TOKEN", lambda: "glpat-" + rs(AN + "-_", 20)),
    ("gitlab_runner", "RUNNER_TOKEN", lambda: "glrt-" + rs(AN + "-_", 20)),
    ("gitlab_deploy", "CI_DEPLOY_TOKEN", lambda: "gldt-" + rs(AN + "-_", 20)),
    ("bitbucket_app_pw", "BITBUCKET_APP_PASSWORD", lambda: "ATBB" + rs(AN, 28) + rs(HEXL.upper(), 8)),
    ("slack_bot", "SLACK_BOT_TOKEN", lambda: f"xoxb-{R.randint(10**10, 10**12)}-{R.randint(10**11, 10**13)}-{rs(AN, 24)}"),
    ("slack_user", "SLACK_USER_TOKEN", lambda: f"xoxp-{R.randint(10**10, 10**12)}-{R.randint(10**10, 10**12)}-{R.randint(10**11, 10**13)}-{rs(HEXL, 32)}"),
    ("slack_app", "SLACK_APP_TOKEN", lambda: f"xapp-1-A{rs(UP + DG, 10)}-{R.randint(10**12, 10**13)}-{rs(HEXL, 64)}"),
    ("slack_webhook", "SLACK_WEBHOOK_URL", lambda: f"https://hooks.slack.com/services/T{rs(UP + DG, 8)}/B{rs(UP + DG, 10)}/{rs(AN, 24)}"),
    ("discord_bot", "DISCORD_TOKEN", lambda: b64url_nopad(str(R.randint(10**17, 10**18)).encode()) + "." + rs(B64U, 6) + "." + rs(B64U, 38)),
    ("discord_webhook", "DISCORD_WEBHOOK", lambda: f"https://discord.com/api/webhooks/{R.randint(10**17, 10**18)}/{rs(B64U, 68)}"),
    ("teams_webhook", "TEAMS_WEBHOOK_URL", lambda: f"https://{pick(ORGS)}.webhook.office.com/webhookb2/{uuid4()}@{uuid4()}/IncomingWebhook/{rs(HEXL, 32)}/{uuid4()}"),
    ("telegram_bot", "TELEGRAM_BOT_TOKEN", lambda: f"{R.randint(10**8, 10**10)}:AA{rs(B64U, 33)}"),
    ("stripe_live_secret", "STRIPE_SECRET_KEY", lambda: "sk_live_51" + rs(AN, 96)),
    ("stripe_live_secret_short", "STRIPE_API_KEY", lambda: "sk_live_" + rs(AN, 24)),
    ("stripe_restricted", "STRIPE_RESTRICTED_KEY", lambda: "rk_live_51" + rs(AN, 96)),
    ("stripe_webhook_secret", "STRIPE_WEBHOOK_SECRET", lambda: "whsec_" + rs(AN, 32)),
    ("square_access", "SQUARE_ACCESS_TOKEN", lambda: "EAAA" + rs(B64U, 60)),
    ("square_oauth_secret", "SQUARE_APP_SECRET", lambda: "sq0csp-" + rs(B64U, 43)),
    ("braintree_access", "BRAINTREE_TOKEN", lambda: f"access_token$production${rs(LO + DG, 16)}${rs(HEXL, 32)}"),
    ("adyen_api_key", "ADYEN_API_KEY", lambda: "AQE" + rs(AN, 4) + "Hg" + rs(AN, 30) + "+" + rs(AN, 40) + "=-" + rs(AN, 20)),
    ("openai_project", "OPENAI_API_KEY", lambda: "sk-proj-" + rs(B64U, 74) + "T3BlbkFJ" + rs(B64U, 74)),
    ("openai_legacy", "OPENAI_API_KEY", lambda: "sk-" + rs(AN, 20) + "T3BlbkFJ" + rs(AN, 20)),
    ("openai_svcacct", "OPENAI_KEY", lambda: "sk-svcacct-" + rs(B64U, 74) + "T3BlbkFJ" + rs(B64U, 74)),
    ("anthropic", "ANTHROPIC_API_KEY", lambda: "sk-ant-api03-" + rs(B64U, 93) + "AA"),
    ("anthropic_admin", "ANTHROPIC_ADMIN_KEY", lambda: "sk-ant-admin01-" + rs(B64U, 93) + "AA"),
    ("groq", "GROQ_API_KEY", lambda: "gsk_" + rs(AN, 52)),
    ("huggingface", "HF_TOKEN", lambda: "hf_" + rs(UP + LO, 34)),
    ("google_api_key", "GOOGLE_API_KEY", lambda: "AIza" + rs(B64U, 35)),
    ("replicate", "REPLICATE_API_TOKEN", lambda: "r8_" + rs(AN, 37)),
    ("perplexity", "PERPLEXITY_API_KEY", lambda: "pplx-" + rs(AN, 48)),
    ("xai", "XAI_API_KEY", lambda: "xai-" + rs(AN, 80)),
    ("mistral", "MISTRAL_API_KEY", lambda: rs(AN, 32)),
    ("cohere", "COHERE_API_KEY", lambda: rs(AN, 40)),
    ("deepseek", "DEEPSEEK_API_KEY", lambda: "sk-" + rs(HEXL, 32)),
    ("npm_token", "NPM_TOKEN", lambda: gh_tok("npm_")),
    ("pypi_token", "PYPI_API_TOKEN", lambda: "pypi-AgEIcHlwaS5vcmcCJD" + rs(B64U, 150)),
    ("rubygems", "GEM_HOST_API_KEY", lambda: "rubygems_" + rs(HEXL, 48)),
    ("nuget", "NUGET_API_KEY", lambda: "oy2" + rs(LO + DG, 43)),
    ("cratesio", "CARGO_REGISTRY_TOKEN", lambda: "cio" + rs(AN, 32)),
    ("dockerhub_pat", "DOCKERHUB_TOKEN", lambda: "dckr_pat_" + rs(B64U, 27)),
    ("sendgrid", "SENDGRID_API_KEY", lambda: "SG." + rs(B64U, 22) + "." + rs(B64U, 43)),
    ("mailgun", "MAILGUN_API_KEY", lambda: "key-" + rs(HEXL, 32)),
    ("mailchimp", "MAILCHIMP_API_KEY", lambda: rs(HEXL, 32) + "-us" + str(R.randint(1, 21))),
    ("twilio_auth_token", "TWILIO_AUTH_TOKEN", lambda: rs(HEXL, 32)),
    ("twilio_api_key", "TWILIO_API_KEY_SID", lambda: "SK" + rs(HEXL, 32)),
    ("datadog_api", "DD_API_KEY", lambda: rs(HEXL, 32)),
    ("datadog_app", "DD_APP_KEY", lambda: rs(HEXL, 40)),
    ("newrelic_user", "NEW_RELIC_API_KEY", lambda: "NRAK-" + rs(UP + DG, 27)),
    ("newrelic_license", "NEW_RELIC_LICENSE_KEY", lambda: rs(HEXL, 36) + "NRAL"),
    ("sentry_user", "SENTRY_AUTH_TOKEN", lambda: "sntryu_" + rs(HEXL, 64)),
    ("grafana_sa", "GRAFANA_TOKEN", lambda: "glsa_" + rs(AN, 32) + "_" + rs(HEXL, 8)),
    ("shopify_access", "SHOPIFY_ACCESS_TOKEN", lambda: "shpat_" + rs(HEXL, 32)),
    ("shopify_secret", "SHOPIFY_API_SECRET", lambda: "shpss_" + rs(HEXL, 32)),
    ("atlassian_api", "JIRA_API_TOKEN", lambda: "ATATT3xFfGF0" + rs(B64U, 170) + "=" + rs(HEXL.upper(), 8)),
    ("linear_api", "LINEAR_API_KEY", lambda: "lin_api_" + rs(AN, 40)),
    ("notion", "NOTION_TOKEN", lambda: "ntn_" + rs(DG, 11) + rs(AN, 35)),
    ("notion_legacy", "NOTION_API_KEY", lambda: "secret_" + rs(AN, 43)),
    ("heroku", "HEROKU_API_KEY", lambda: "HRKU-" + uuid4()),
    ("digitalocean", "DIGITALOCEAN_TOKEN", lambda: "dop_v1_" + rs(HEXL, 64)),
    ("cloudflare_api_token", "CLOUDFLARE_API_TOKEN", lambda: rs(B64U, 40)),
    ("vercel", "VERCEL_TOKEN", lambda: rs(AN, 24)),
    ("azure_storage_key", "AZURE_STORAGE_KEY", lambda: base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()),
    ("azure_ad_client_secret", "AZURE_CLIENT_SECRET", lambda: rs(AN, 3) + "8Q~" + rs(AN + "~._-", 34)),
    ("hashicorp_vault", "VAULT_TOKEN", lambda: "hvs." + rs(B64U, 90)),
    ("terraform_cloud", "TFE_TOKEN", lambda: rs(AN, 14) + ".atlasv1." + rs(AN, 67)),
    ("pulumi", "PULUMI_ACCESS_TOKEN", lambda: "pul-" + rs(HEXL, 40)),
    ("doppler", "DOPPLER_TOKEN", lambda: "dp.pt." + rs(AN, 43)),
    ("planetscale", "PLANETSCALE_PASSWORD", lambda: "pscale_pw_" + rs(B64U, 43)),
    ("supabase", "SUPABASE_ACCESS_TOKEN", lambda: "sbp_" + rs(HEXL, 40)),
    ("postman", "POSTMAN_API_KEY", lambda: "PMAK-" + rs(HEXL, 24) + "-" + rs(HEXL, 34)),
    ("age_secret", "SOPS_AGE_KEY", lambda: "AGE-SECRET-KEY-1" + rs("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
    ("alibaba", "ALIBABA_CLOUD_ACCESS_KEY_ID", lambda: "LTAI" + rs(AN, 20)),
    ("figma", "FIGMA_TOKEN", lambda: "figd_" + rs(B64U, 40)),
    ("airtable", "AIRTABLE_TOKEN", lambda: "pat" + rs(AN, 14) + "." + rs(HEXL, 64)),
    ("okta", "OKTA_API_TOKEN", lambda: "00" + rs(B64U, 40)),
    ("firebase_fcm_server", "FCM_SERVER_KEY", lambda: "AAAA" + rs(B64U, 7) + ":APA91b" + rs(B64U, 134)),
    ("mapbox_secret", "MAPBOX_SECRET_TOKEN", lambda: "sk.eyJ1Ijoi" + rs(B64U, 30) + "." + rs(B64U, 22)),
    ("flyio", "FLY_API_TOKEN", lambda: "fo1_" + rs(B64U, 43)),
    ("dropbox", "DROPBOX_TOKEN", lambda: "sl." + rs(B64U, 135)),
    ("contentful", "CONTENTFUL_MANAGEMENT_TOKEN", lambda: "CFPAT-" + rs(B64U, 43)),
    ("snyk", "SNYK_TOKEN", lambda: uuid4()),
    ("circleci", "CIRCLE_TOKEN", lambda: "CCIPAT_" + rs(AN, 22) + "_" + rs(HEXL, 40)),
    ("buildkite", "BUILDKITE_AGENT_TOKEN", lambda: "bkua_" + rs(HEXL, 40)),
    ("pagerduty", "PAGERDUTY_TOKEN", lambda: "u+" + rs(B64U, 18)),
    ("jfrog", "ARTIFACTORY_API_KEY", lambda: "AKCp" + rs(AN, 69)),
    ("gcp_oauth_client_secret", "GOOGLE_CLIENT_SECRET", lambda: "GOCSPX-" + rs(B64U, 28)),
    ("lemonsqueezy/paddle", "PADDLE_API_KEY", lambda: "pdl_live_apikey_" + rs(LO + DG, 26) + "_" + rs(AN, 22) + "_" + rs(AN, 3)),
    ("openrouter", "OPENROUTER_API_KEY", lambda: "sk-or-v1-" + rs(HEXL, 64)),
    ("langsmith", "LANGSMITH_API_KEY", lambda: "lsv2_pt_" + rs(HEXL, 32) + "_" + rs(HEXL, 10)),
    ("pinecone", "PINECONE_API_KEY", lambda: "pcsk_" + rs(AN, 5) + "_" + rs(AN, 62)),
]


def camel(n):
    parts = n.lower().split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


SYNTAXES = {
    "env": (".env", lambda n, v: f"# {pick(['prod', 'staging'])} settings\nNODE_ENV=production\nPORT=8080\n{n}={v}\nLOG_LEVEL=info\n"),
    "env_export": ("scripts/deploy.sh", lambda n, v: f"#!/usr/bin/env bash\nset -euo pipefail\nexport {n}=\"{v}\"\n./bin/deploy --region eu-west-1\n"),
    "yaml": ("config/production.yaml", lambda n, v: f"server:\n  port: 8443\nintegrations:\n  {n.lower()}: {v}\n  timeout_s: 30\n"),
    "json": ("config/secrets.json", lambda n, v: json.dumps({"service": pick(REPOS), "env": "prod", camel(n): v, "retries": 3}, indent=2)),
    "python": ("app/settings.py", lambda n, v: f"import os\n\nDEBUG = False\n{n} = \"{v}\"\nTIMEOUT = 30\n"),
    "js": ("src/config.js", lambda n, v: f"module.exports = {{\n  region: 'us-east-1',\n  {camel(n)}: '{v}',\n  retries: 3,\n}};\n"),
    "ts": ("src/client.ts", lambda n, v: f"import {{ Client }} from './client';\n\nconst {camel(n)} = \"{v}\";\nexport const client = new Client({{ key: {camel(n)} }});\n"),
    "go": ("internal/config/config.go", lambda n, v: f"package config\n\nconst (\n\tRegion = \"eu-central-1\"\n\t{camel(n)[0].upper() + camel(n)[1:]} = \"{v}\"\n)\n"),
    "rust": ("src/config.rs", lambda n, v: f"pub const REGION: &str = \"eu-west-2\";\npub const {n}: &str = \"{v}\";\n"),
    "java": ("src/main/java/com/acme/Config.java", lambda n, v: f"package com.acme;\n\npublic final class Config {{\n    private static final String {n} = \"{v}\";\n    private static final int TIMEOUT = 30;\n}}\n"),
    "csharp": ("Services/ApiClient.cs", lambda n, v: f"namespace Acme.Services;\n\npublic class ApiClient\n{{\n    private const string {camel(n)[0].upper() + camel(n)[1:]} = \"{v}\";\n}}\n"),
    "php": ("config/services.php", lambda n, v: f"<?php\n\nreturn [\n    'region' => 'eu-west-1',\n    '{n.lower()}' => '{v}',\n];\n"),
    "ruby": ("config/initializers/client.rb", lambda n, v: f"Client.configure do |c|\n  c.region = 'us-west-2'\n  c.{n.lower()} = '{v}'\nend\n"),
    "toml": ("config.toml", lambda n, v: f"[service]\nname = \"{pick(REPOS)}\"\n\n[credentials]\n{n.lower()} = \"{v}\"\n"),
    "hcl": ("terraform/main.tf", lambda n, v: f"provider \"acme\" {{\n  region = \"eu-west-1\"\n  {n.lower()} = \"{v}\"\n}}\n"),
    "ini": ("settings.ini", lambda n, v: f"[default]\nregion = eu-north-1\n{n.lower()} = {v}\noutput = json\n"),
    "dockerfile": ("Dockerfile", lambda n, v: f"FROM python:3.12-slim\nWORKDIR /app\nENV {n}={v}\nCOPY . .\nCMD [\"python\", \"main.py\"]\n"),
    "k8s_secret": ("k8s/secret.yaml", lambda n, v: f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\nstringData:\n  {n}: \"{v}\"\n"),
    "compose": ("docker-compose.yml", lambda n, v: f"services:\n  api:\n    image: acme/api:1.4.2\n    environment:\n      - {n}={v}\n      - PORT=8080\n"),
    "gha": (".github/workflows/deploy.yml", lambda n, v: f"name: deploy\non: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    env:\n      {n}: {v}\n    steps:\n      - uses: actions/checkout@v4\n"),
    "makefile": ("Makefile", lambda n, v: f"{n} ?= {v}\n\ndeploy:\n\t./deploy.sh --key $({n})\n"),
}

MSG_FORMS = [
    lambda n, v: f"Here is the {n.lower().replace('_', ' ')} for staging: {v} — please rotate after the demo.",
    lambda n, v: f"can you check why this fails?\n```\n{n}={v}\n```",
    lambda n, v: f"Use `{v}` as {n} until we have Vault set up.",
    lambda n, v: f"Repro:\n```bash\nexport {n}={v}\npython scripts/sync.py --dry-run\n```",
    lambda n, v: f"{n}: {v}",
]

probes_secret = 0


def secret_probe(vid, n, v, syntax=None):
    if syntax == "msg" or (syntax is None and R.random() < 0.35):
        carrier = msg_carrier()
        text = pick(MSG_FORMS)(n, v)
        req = carrier(text)
        add(f"sec-{vid}-msg-{carrier.__name__}", f"secret:{vid}", "secret", [v], req)
    else:
        syn = syntax or pick(list(SYNTAXES))
        path, fn = SYNTAXES[syn]
        add(f"sec-{vid}-{syn}", f"secret:{vid}", "secret", [v], write_file(path, fn(n, v)))


for vid, n, gen in VENDORS:
    k = 4 if vid in ("aws_access_key_id", "github_pat_classic", "stripe_live_secret", "openai_project", "slack_bot",
                     "anthropic", "aws_secret_access_key", "google_api_key") else 3
    for i in range(k):
        secret_probe(vid, n, gen())

VG = {v[0]: v[2] for v in VENDORS}

# JSON API bodies carrying a credential by field name
for vid, fld, gen in [("stripe_live_secret_short", "api_key", VG["stripe_live_secret_short"]), ("sendgrid", "apiKey", VG["sendgrid"]),
                      ("twilio_auth_token", "auth_token", VG["twilio_auth_token"]), ("datadog_api", "dd_api_key", VG["datadog_api"]),
                      ("openai_project", "openai_api_key", VG["openai_project"]), ("github_pat_classic", "token", VG["github_pat_classic"])]:
    v = gen()
    add(f"sec-{vid}-jsonfield", f"secret:{vid}", "secret", [v],
        {"method": "POST", "url": "https://api.n8n.cloud/api/v1/credentials",
         "body": {"name": f"{vid} prod", "type": vid, "data": {fld: v}}, "tool": "n8n", "operation": "create_credential"})

# headers
for i in range(6):
    tok = pick([VG["github_pat_classic"], VG["openai_project"], VG["stripe_live_secret_short"], VG["slack_bot"]])()
    hdr = pick([("Authorization", f"Bearer {tok}"), ("X-Api-Key", tok), ("Authorization", f"token {tok}")])
    add(f"sec-header-{i}", "secret:header_bearer", "secret", [tok],
        {"method": "GET", "url": f"https://api.{pick(['github.com', 'stripe.com', 'openai.com'])}/v1/{rs(LO, 6)}",
         "body": {}, "headers": {hdr[0]: hdr[1], "Accept": "application/json"}, "tool": "http", "operation": "request"},
        note="secret only in a header: scored on decision, and sanitized_headers if present")

# ---------------------------------------------------------------- connection strings
DBH = ["db.internal.acme-logistics.io", "prod-pg-1.cluster-c9xk2.eu-west-1.rds.amazonaws.com", "10.12.4.7",
       "mongo-0.mongo.svc.cluster.local", "redis-master.cache.svc", "mq.northwind-traders.com"]
for i in range(30):
    user = pick(["app", "billing_rw", "admin", "svc_etl", "postgres", "root", "deploy"])
    p = pick([rs(AN, 20), pw(), rs(AN + "-_", 24)]).replace("@", "A").replace("/", "b").replace(":", "c").replace("?", "d").replace("#", "e").replace("%", "f")
    kind = pick(["postgres", "postgresql", "mysql", "mongodb+srv", "mongodb", "redis", "rediss", "amqp", "amqps", "mssql", "jdbc_pg", "dotnet", "sqlalchemy", "kafka_sasl"])
    host = pick(DBH)
    if kind in ("postgres", "postgresql"):
        cs = f"{kind}://{user}:{p}@{host}:5432/{pick(['orders', 'app', 'analytics'])}?sslmode=require"
    elif kind == "mysql":
        cs = f"mysql://{user}:{p}@{host}:3306/shop"
    elif kind.startswith("mongodb"):
        cs = f"{kind}://{user}:{p}@{host}/app?retryWrites=true&w=majority"
    elif kind.startswith("redis"):
        cs = f"{kind}://:{p}@{host}:6379/0" if R.random() < 0.5 else f"{kind}://default:{p}@{host}:6380"
    elif kind.startswith("amqp"):
        cs = f"{kind}://{user}:{p}@{host}:5672/%2f"
    elif kind == "mssql":
        cs = f"Server=tcp:{host},1433;Initial Catalog=crm;User ID={user};Password={p};Encrypt=True;"
    elif kind == "jdbc_pg":
        cs = f"jdbc:postgresql://{host}:5432/app?user={user}&password={p}"
    elif kind == "dotnet":
        cs = f"Host={host};Port=5432;Database=app;Username={user};Password={p}"
    elif kind == "sqlalchemy":
        cs = f"postgresql+psycopg2://{user}:{p}@{host}/warehouse"
    else:
        cs = f"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{p}\";"
    val = p
    ctx = pick(["env", "yaml", "msg", "python", "json", "log"])
    if ctx == "env":
        req = write_file(".env.production", f"DATABASE_URL={cs}\nREDIS_TTL=300\n")
    elif ctx == "yaml":
        req = write_file("helm/values-prod.yaml", f"db:\n  url: \"{cs}\"\n  pool: 20\n")
    elif ctx == "python":
        req = write_file("app/db.py", f"from sqlalchemy import create_engine\n\nengine = create_engine(\"{cs}\")\n")
    elif ctx == "json":
        req = write_file("appsettings.Production.json", json.dumps({"ConnectionStrings": {"Default": cs}, "Logging": {"LogLevel": {"Default": "Warning"}}}, indent=2))
    elif ctx == "log":
        req = dd_logs(f"connecting to {cs} failed: timeout after 30s")
    else:
        req = msg_carrier()(f"prod is down? I can't connect with `{cs}`")
    add(f"sec-connstr-{kind}-{ctx}", f"secret:connstr_{kind.split('_')[0].split('+')[0]}", "secret", [val], req,
        note="value = the password inside the connection string")

# ---------------------------------------------------------------- passwords / generic keys by name
PWFORMS = [
    ("json_field", lambda v: {"username": "svc-backup", "password": v, "host": "sftp.northwind-traders.com"}),
    ("yaml", lambda v: f"database:\n  host: pg.internal\n  user: app\n  password: {v}\n"),
    ("yaml_quoted", lambda v: f"smtp:\n  user: alerts\n  pass: \"{v}\"\n"),
    ("ini", lambda v: f"[mysql]\nhost=127.0.0.1\nuser=root\npassword={v}\n"),
    ("env", lambda v: f"DB_USER=app\nDB_PASSWORD={v}\n"),
    ("env_pwd", lambda v: f"SMTP_PASS={v}\nSMTP_HOST=smtp.mailgun.org\n"),
    ("python_kw", lambda v: f"conn = psycopg2.connect(host='db', user='etl', password='{v}', dbname='dw')\n"),
    ("python_dict", lambda v: f"CREDS = {{'user': 'ops', 'passwd': '{v}'}}\n"),
    ("js_obj", lambda v: f"const pool = new Pool({{ user: 'app', password: '{v}', host: 'db' }});\n"),
    ("go_struct", lambda v: f"cfg := mysql.Config{{User: \"app\", Passwd: \"{v}\", Net: \"tcp\"}}\n"),
    ("java_props", lambda v: f"spring.datasource.username=app\nspring.datasource.password={v}\n"),
    ("xml", lambda v: f"<connection>\n  <user>app</user>\n  <password>{v}</password>\n</connection>\n"),
    ("cli_flag", lambda v: f"mysql -h db.internal -u root -p'{v}' shop < dump.sql"),
    ("cli_flag2", lambda v: f"./manage.py createsuperuser --username admin --password {v}"),
    ("docker_login", lambda v: f"docker login -u deploybot -p {v} registry.acme-logistics.io"),
    ("prose", lambda v: f"The admin password for the staging Grafana is {v} (don't share)."),
    ("prose_de", lambda v: f"Das Passwort für den Testserver lautet: {v}"),
    ("prose_es", lambda v: f"La contraseña del router es {v}"),
    ("prose_fr", lambda v: f"Le mot de passe du compte est {v}"),
    ("kv_body", lambda v: f"username=jsmith&password={v}&remember=1"),
    ("netrc", lambda v: f"machine api.heroku.com\n  login ops@acme-logistics.io\n  password {v}\n"),
    ("pgpass", lambda v: f"db.internal:5432:orders:app:{v}\n"),
    ("php_define", lambda v: f"<?php\ndefine('DB_PASSWORD', '{v}');\ndefine('DB_HOST', 'localhost');\n"),
    ("wp_config", lambda v: f"define( 'DB_USER', 'wp' );\ndefine( 'DB_PASSWORD', '{v}' );\n"),
    ("k8s_envlist", lambda v: f"env:\n  - name: ADMIN_PASSWORD\n    value: \"{v}\"\n"),
    ("name_value", lambda v: {"env": [{"name": "DB_PASSWORD", "value": v}, {"name": "PORT", "value": "8080"}]}),
    ("ansible", lambda v: f"- hosts: db\n  vars:\n    mysql_root_password: {v}\n"),
    ("sql", lambda v: f"CREATE USER 'report'@'%' IDENTIFIED BY '{v}';\nGRANT SELECT ON shop.* TO 'report'@'%';"),
    ("sql_alter", lambda v: f"ALTER ROLE analytics WITH LOGIN PASSWORD '{v}';"),
    ("nginx_basic", lambda v: f"proxy_set_header Authorization \"Basic {base64.b64encode(('admin:' + v).encode()).decode()}\";"),
    ("table", lambda v: f"| service | user | password |\n|---|---|---|\n| jenkins | admin | {v} |\n| nexus | deploy | {pw()} |"),
    ("csv", lambda v: f"system,username,password\nvpn,jdoe,{v}\n"),
    ("toml", lambda v: f"[smtp]\nusername = \"alerts\"\npassword = \"{v}\"\n"),
    ("hcl", lambda v: f"resource \"aws_db_instance\" \"main\" {{\n  username = \"admin\"\n  password = \"{v}\"\n}}\n"),
    ("cs_const", lambda v: f"var cred = new NetworkCredential(\"svc\", \"{v}\");"),
    ("ruby_hash", lambda v: f"config.smtp_settings = {{ user_name: 'alerts', password: '{v}' }}"),
    ("rust_struct", lambda v: f"let opts = PgConnectOptions::new().username(\"app\").password(\"{v}\");"),
    ("redis_cli", lambda v: f"redis-cli -h cache.internal -a {v} PING"),
    ("generic_api_key_json", lambda v: {"integration": "weather", "api_key": v}),
    ("generic_secret_env", lambda v: f"CLIENT_SECRET={v}\nCLIENT_ID=web-portal\n"),
    ("generic_token_yaml", lambda v: f"auth:\n  token: {v}\n"),
    ("generic_apikey_js", lambda v: f"const apiKey = \"{v}\";\nfetch(url, {{ headers: {{ 'x-api-key': apiKey }} }});"),
    ("generic_secret_py", lambda v: f"SECRET_KEY = '{v}'\nALLOWED_HOSTS = ['*']\n"),
    ("generic_access_token_kv", lambda v: f"access_token={v}&token_type=bearer&expires_in=3600"),
]
for i, (form, fn) in enumerate(PWFORMS):
    for j in range(2 if i % 3 else 1):
        if form.startswith("generic"):
            v = pick([rs(AN, 32), rs(HEXL, 40), rs(B64U, 43), "".join(rs(AN, 8) for _ in range(3))])
        else:
            v = pw()
        body = fn(v)
        if isinstance(body, dict):
            req = {"method": "POST", "url": pick(["https://api.render.com/v1/services/srv-" + rs(LO + DG, 20) + "/env-vars",
                                                  "https://hooks.zapier.com/hooks/catch/" + str(R.randint(10**6, 10**7)) + "/" + rs(LO + DG, 6) + "/"]),
                   "body": body, "tool": "http", "operation": "post"}
        elif form.startswith("prose") or form in ("table", "kv_body") and R.random() < 0.5:
            req = msg_carrier()(body)
        elif form.startswith("cli") or form in ("docker_login", "redis_cli"):
            req = pick([lambda b: shell_out(b, ""), lambda b: gh_comment("ran:\n```\n$ " + b + "\n```")])(body)
        else:
            req = write_file(pick(["deploy/" + form + ".txt", "config/" + form + ".cfg", "notes/" + form]), body) if R.random() < 0.4 else msg_carrier()("config:\n```\n" + body + "\n```")
        vals = [base64.b64encode(('admin:' + v).encode()).decode()] if form == "nginx_basic" else [v]
        add(f"sec-pw-{form}", f"secret:password_{form}" if not form.startswith("generic") else f"secret:{form}", "secret", vals, req)

# JWTs, PEMs, basic auth, bearer in code, cookies
for i in range(10):
    t = jwt()
    req = pick([lambda: msg_carrier()(f"this token keeps getting 401: {t}"),
                lambda: {"method": "GET", "url": "https://api.kestrel.dev/v2/me", "body": {}, "headers": {"Authorization": "Bearer " + t}, "tool": "http", "operation": "get"},
                lambda: write_file("tests/fixtures/auth.json", json.dumps({"access_token": t, "token_type": "Bearer"})),
                lambda: dd_logs(f"GET /v1/orders 200 auth=Bearer {t} 34ms")])()
    add(f"sec-jwt-{i}", "secret:jwt", "secret", [t], req)
for i, fn in enumerate([pem_rsa, pem_pkcs8, pem_ec, openssh_key] * 3):
    k = fn()
    req = pick([lambda: write_file(pick(["deploy/id_rsa", "certs/server.key", ".ssh/id_ed25519"]), k + "\n"),
                lambda: msg_carrier()("key for the bastion:\n```\n" + k + "\n```"),
                lambda: write_file("terraform/tls.tf", f"resource \"tls\" \"x\" {{\n  private_key = <<EOF\n{k}\nEOF\n}}\n"),
                lambda: {"method": "POST", "url": "https://api.vercel.com/v10/projects/web/env", "body": {"key": "JWT_PRIVATE_KEY", "value": k, "type": "plain"}, "tool": "vercel", "operation": "create_env"}])()
    add(f"sec-pem-{fn.__name__}", f"secret:{fn.__name__}", "secret", [k], req)
    # also a GCP service account JSON
for i in range(4):
    k = pem_pkcs8()
    sa = {"type": "service_account", "project_id": f"quantaflow-prod-{R.randint(100, 999)}", "private_key_id": rs(HEXL, 40),
          "private_key": k + "\n", "client_email": f"etl-runner@quantaflow-prod.iam.gserviceaccount.com", "client_id": str(R.randint(10**20, 10**21)),
          "token_uri": "https://oauth2.googleapis.com/token"}
    add(f"sec-gcp-sa-{i}", "secret:gcp_service_account", "secret", [k.replace("\n", "\\n")], write_file("secrets/gcp-sa.json", json.dumps(sa, indent=2)))
for i in range(8):
    u, p = pick(["admin", "ci-bot", "jenkins", "deploy"]), pw()
    b = base64.b64encode(f"{u}:{p}".encode()).decode()
    form = i % 4
    if form == 0:
        req = {"method": "GET", "url": "https://jenkins.acme-logistics.io/api/json", "body": {}, "headers": {"Authorization": "Basic " + b}, "tool": "http", "operation": "get"}
        vals = [b]
    elif form == 1:
        req = gh_comment(f"works with:\n```\ncurl -u {u}:{p} https://nexus.northwind-traders.com/service/rest/v1/status\n```")
        vals = [p]
    elif form == 2:
        req = write_file("scripts/check.sh", f"curl -s -H 'Authorization: Basic {b}' https://registry.acme-logistics.io/v2/_catalog\n")
        vals = [b]
    else:
        req = write_file("src/api.py", f"resp = requests.get(URL, auth=('{u}', '{p}'))\n")
        vals = [p]
    add(f"sec-basic-{i}", "secret:basic_auth", "secret", vals, req)
for i in range(10):
    tok = pick([rs(AN, 40), rs(B64U, 48), gh_tok("ghp_"), "sk_live_" + rs(AN, 24)])
    code = pick([f"curl -H \"Authorization: Bearer {tok}\" https://api.kestrel.dev/v1/jobs",
                 f"http GET https://api.kestrel.dev/v1/jobs Authorization:'Bearer {tok}'",
                 f"await fetch('https://api.kestrel.dev/v1/jobs', {{ headers: {{ Authorization: `Bearer {tok}` }} }});",
                 f"requests.post(url, headers={{\"Authorization\": \"Bearer {tok}\"}}, json=payload)",
                 f"req.Header.Set(\"Authorization\", \"Bearer {tok}\")",
                 f"wget --header='Authorization: Bearer {tok}' https://api.kestrel.dev/export.csv"])
    add(f"sec-bearer-code-{i}", "secret:bearer_in_code", "secret", [tok], pick([lambda: write_file("scripts/call.sh", code + "\n"), lambda: msg_carrier()("```\n" + code + "\n```")])())
for i in range(8):
    cv = pick([("sessionid", rs(LO + DG, 32)), ("connect.sid", "s%3A" + rs(B64U, 32) + "." + rs(B64U, 43)),
               ("_session_id", rs(HEXL, 32)), ("laravel_session", "eyJpdiI6" + rs(B64, 120)), ("JSESSIONID", rs(HEXL.upper(), 32)),
               ("__Secure-next-auth.session-token", rs(B64U, 80))])
    form = i % 3
    if form == 0:
        req = {"method": "GET", "url": "https://app.northwind-traders.com/api/account", "body": {}, "headers": {"Cookie": f"{cv[0]}={cv[1]}; theme=dark"}, "tool": "http", "operation": "get"}
    elif form == 1:
        req = msg_carrier()(f"repro with `curl -b '{cv[0]}={cv[1]}' https://app.northwind-traders.com/admin`")
    else:
        req = llm(f"HTTP/1.1 200 OK\nSet-Cookie: {cv[0]}={cv[1]}; Path=/; HttpOnly; Secure\nContent-Type: text/html\n")
    add(f"sec-cookie-{cv[0]}", "secret:session_cookie", "secret", [cv[1]], req)

# ================================================================ PII
def luhn_complete(prefix, length):
    while True:
        body = prefix + rs(DG, length - len(prefix) - 1)
        for d in DG:
            n = body + d
            s = 0
            for i, ch in enumerate(reversed(n)):
                x = int(ch)
                if i % 2 == 1:
                    x *= 2
                    if x > 9:
                        x -= 9
                s += x
            if s % 10 == 0:
                return n


def luhn_ok(n):
    s = 0
    for i, ch in enumerate(reversed(n)):
        x = int(ch)
        if i % 2 == 1:
            x *= 2
            if x > 9:
                x -= 9
        s += x
    return s % 10 == 0


TEST_CARDS = {"4111111111111111", "4242424242424242", "5555555555554444", "378282246310005", "4000056655665556",
              "5105105105105100", "4012888888881881", "6011111111111117", "371449635398431", "4000000000000002"}


def card():
    kind = pick(["visa", "visa", "mc", "mc2", "amex", "disc", "jcb", "diners"])
    pre, ln = {"visa": ("4" + rs(DG, 1), 16), "mc": ("5" + pick("12345"), 16), "mc2": ("2" + pick(["221", "3", "5", "6", "70"]), 16),
               "amex": ("3" + pick("47"), 15), "disc": ("6011", 16), "jcb": ("35" + pick(["28", "4", "6", "8"]), 16),
               "diners": ("36", 14)}[kind]
    while True:
        n = luhn_complete(pre, ln)
        if n not in TEST_CARDS:
            return kind, n


def fmt_card(n, sep):
    if len(n) == 15:
        g = [n[:4], n[4:10], n[10:]]
    elif len(n) == 14:
        g = [n[:4], n[4:10], n[10:]]
    else:
        g = [n[i:i + 4] for i in range(0, 16, 4)]
    return sep.join(g)


def ssn():
    while True:
        a = R.randint(1, 899)
        if a != 666:
            break
    return f"{a:03d}", f"{R.randint(1, 99):02d}", f"{R.randint(1, 9999):04d}"


IBAN_SPEC = {"DE": lambda: rs(DG, 18), "FR": lambda: rs(DG, 10) + rs(AN.upper()[:36], 11).upper() + rs(DG, 2),
             "GB": lambda: rs(UP, 4) + rs(DG, 14), "ES": lambda: rs(DG, 20), "IT": lambda: rs(UP, 1) + rs(DG, 10) + rs(DG, 12),
             "NL": lambda: rs(UP, 4) + rs(DG, 10), "BE": lambda: rs(DG, 12), "CH": lambda: rs(DG, 17), "AT": lambda: rs(DG, 16),
             "PL": lambda: rs(DG, 24), "SE": lambda: rs(DG, 20), "NO": lambda: rs(DG, 11), "DK": lambda: rs(DG, 14),
             "FI": lambda: rs(DG, 14), "PT": lambda: rs(DG, 21), "IE": lambda: rs(UP, 4) + rs(DG, 14)}


def iban(cc=None):
    cc = cc or pick(list(IBAN_SPEC))
    bban = IBAN_SPEC[cc]()
    rearr = bban + cc + "00"
    num = int("".join(str(int(ch, 36)) for ch in rearr))
    ck = 98 - num % 97
    return cc + f"{ck:02d}" + bban


def iban_fmt(i):
    return " ".join(i[k:k + 4] for k in range(0, len(i), 4)) if R.random() < 0.6 else i


MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
MONTHS = {"fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
          "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
          "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
          "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
          "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"],
          "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"],
          "pl": ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września", "października", "listopada", "grudnia"],
          "sv": ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"]}

def ordinal(d):
    return f"{d}{'th' if 10 <= d % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


DOB_FORMS = [
    ("en_us_slash", lambda d, m, y, n: (f"{m:02d}/{d:02d}/{y}", f"Patient: {n}\nDOB: {m:02d}/{d:02d}/{y}\nReason for visit: follow-up")),
    ("en_long", lambda d, m, y, n: (f"{MONTHS_EN[m - 1]} {d:02d}, {y}", f"{n} (born {MONTHS_EN[m - 1]} {d:02d}, {y}) is the new account holder.")),
    ("en_dmy_words", lambda d, m, y, n: (f"{d} {MONTHS_EN[m - 1]} {y}", f"Applicant {n}, date of birth {d} {MONTHS_EN[m - 1]} {y}, nationality: Irish.")),
    ("en_ordinal", lambda d, m, y, n: (f"{ordinal(d)} of {MONTHS_EN[m - 1]} {y}", f"{n} was born on the {ordinal(d)} of {MONTHS_EN[m - 1]} {y} in Leeds.")),
    ("iso_json", lambda d, m, y, n: (f"{y}-{m:02d}-{d:02d}", json.dumps({"full_name": n, "date_of_birth": f"{y}-{m:02d}-{d:02d}", "plan": "premium"}))),
    ("dot", lambda d, m, y, n: (f"{d:02d}.{m:02d}.{y}", f"Name: {n}; Geburtsdatum: {d:02d}.{m:02d}.{y}; Versicherungsnr. folgt")),
    ("dob_abbrev", lambda d, m, y, n: (f"{d:02d}/{m:02d}/{y}", f"{n}, d.o.b. {d:02d}/{m:02d}/{y}, requests a copy of her records")),
    ("fr", lambda d, m, y, n: (f"{d} {MONTHS['fr'][m - 1]} {y}", f"{n}, né le {d} {MONTHS['fr'][m - 1]} {y} à Lyon, demande la clôture du compte.")),
    ("de", lambda d, m, y, n: (f"{d}. {MONTHS['de'][m - 1]} {y}", f"Frau {n}, geboren am {d}. {MONTHS['de'][m - 1]} {y}, hat den Vertrag gekündigt.")),
    ("es", lambda d, m, y, n: (f"{d} de {MONTHS['es'][m - 1]} de {y}", f"La clienta {n}, nacida el {d} de {MONTHS['es'][m - 1]} de {y}, solicita el reembolso.")),
    ("it", lambda d, m, y, n: (f"{d} {MONTHS['it'][m - 1]} {y}", f"Il signor {n}, nato il {d} {MONTHS['it'][m - 1]} {y} a Torino.")),
    ("pt", lambda d, m, y, n: (f"{d} de {MONTHS['pt'][m - 1]} de {y}", f"{n}, nascido em {d} de {MONTHS['pt'][m - 1]} de {y}, CPF em anexo.")),
    ("nl", lambda d, m, y, n: (f"{d} {MONTHS['nl'][m - 1]} {y}", f"Mevrouw {n}, geboren op {d} {MONTHS['nl'][m - 1]} {y} te Utrecht.")),
    ("pl", lambda d, m, y, n: (f"{d} {MONTHS['pl'][m - 1]} {y}", f"Pan {n}, ur. {d} {MONTHS['pl'][m - 1]} {y} r. w Krakowie.")),
    ("sv", lambda d, m, y, n: (f"{d} {MONTHS['sv'][m - 1]} {y}", f"{n}, född {d} {MONTHS['sv'][m - 1]} {y}, bor i Göteborg.")),
    ("ja", lambda d, m, y, n: (f"{y}年{m}月{d}日", f"氏名: {n}\n生年月日: {y}年{m}月{d}日")),
    ("csv", lambda d, m, y, n: (f"{y}-{m:02d}-{d:02d}", f"member_id,name,dob,tier\n{R.randint(10000, 99999)},{n},{y}-{m:02d}-{d:02d},gold\n")),
    ("birthday_field", lambda d, m, y, n: (f"{d:02d}/{m:02d}/{y}", json.dumps({"customer": {"name": n, "birthday": f"{d:02d}/{m:02d}/{y}"}}))),
]
for i in range(40):
    form, fn = DOB_FORMS[i % len(DOB_FORMS)]
    f, l = person()
    d, m, y = R.randint(1, 28), R.randint(1, 12), R.randint(1950, 2004)
    val, text = fn(d, m, y, f"{f} {l}")
    carrier = pick([zendesk, email_send, llm, notion, jira_comment, slack])
    if form in ("iso_json", "birthday_field") and R.random() < 0.6:
        req = {"method": "POST", "url": "https://api.hubapi.com/crm/v3/objects/contacts", "body": {"properties": json.loads(text) if form == "iso_json" else json.loads(text)["customer"]},
               "tool": "hubspot", "operation": "create_contact"}
    else:
        req = carrier(text)
    add(f"pii-dob-{form}", f"pii:dob_{form}", "pii", [val], req)

PHONES = [
    ("us", lambda: f"({pick(['415', '212', '617', '312', '206', '512'])}) {R.randint(201, 989)}-{R.randint(1000, 9999)}"),
    ("us_e164", lambda: f"+1{pick(['646', '720', '404', '503'])}{R.randint(201, 989)}{R.randint(1000, 9999)}"),
    ("us_dots", lambda: f"{pick(['303', '818', '702'])}.{R.randint(201, 989)}.{R.randint(1000, 9999)}"),
    ("uk_mobile", lambda: f"+44 7{R.randint(400, 999)} {R.randint(100000, 999999)}"),
    ("uk_national", lambda: f"07{R.randint(400, 999)} {R.randint(100, 999)} {R.randint(100, 999)}"),
    ("uk_london", lambda: f"+44 20 {R.randint(3000, 8999)} {R.randint(1000, 9999)}"),
    ("fr", lambda: f"+33 6 {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}"),
    ("fr_national", lambda: f"06 {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}"),
    ("de_mobile", lambda: f"+49 15{R.randint(1, 9)} {R.randint(1000000, 99999999)}"),
    ("de_berlin", lambda: f"030 {R.randint(1000000, 99999999)}"),
    ("in", lambda: f"+91 {R.randint(70000, 99999)} {R.randint(10000, 99999)}"),
    ("br", lambda: f"+55 11 9{R.randint(1000, 9999)}-{R.randint(1000, 9999)}"),
    ("jp", lambda: f"+81 90-{R.randint(1000, 9999)}-{R.randint(1000, 9999)}"),
    ("jp_national", lambda: f"090-{R.randint(1000, 9999)}-{R.randint(1000, 9999)}"),
    ("au", lambda: f"+61 4{R.randint(10, 99)} {R.randint(100, 999)} {R.randint(100, 999)}"),
    ("es", lambda: f"+34 6{R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}"),
    ("it", lambda: f"+39 3{R.randint(10, 99)} {R.randint(100, 999)} {R.randint(1000, 9999)}"),
    ("nl", lambda: f"+31 6 {R.randint(10000000, 99999999)}"),
    ("mx", lambda: f"+52 55 {R.randint(1000, 9999)} {R.randint(1000, 9999)}"),
    ("sg", lambda: f"+65 {pick('89')}{R.randint(100, 999)} {R.randint(1000, 9999)}"),
    ("za", lambda: f"+27 8{R.randint(1, 4)} {R.randint(100, 999)} {R.randint(1000, 9999)}"),
    ("ng", lambda: f"+234 80{R.randint(3, 9)} {R.randint(100, 999)} {R.randint(1000, 9999)}"),
    ("cn", lambda: f"+86 13{R.randint(0, 9)} {R.randint(1000, 9999)} {R.randint(1000, 9999)}"),
    ("kr", lambda: f"+82 10-{R.randint(1000, 9999)}-{R.randint(1000, 9999)}"),
    ("ca", lambda: f"+1 (416) {R.randint(201, 989)}-{R.randint(1000, 9999)}"),
]
PHONE_CTX = [
    lambda n, p: f"Hi team, customer {n} asked for a call back on {p} after 5pm.",
    lambda n, p: f"name,phone,city\n{n},{p},Springfield\n",
    lambda n, p: json.dumps({"contact": {"name": n, "phone": p}}),
    lambda n, p: f"Best regards,\n{n}\nSenior Buyer\nMobile: {p}",
    lambda n, p: f"Tel.: {p} — bitte Rückruf an {n}",
]
for i in range(50):
    kind, fn = PHONES[i % len(PHONES)]
    f, l = person()
    p = fn()
    text = pick(PHONE_CTX)(f"{f} {l}", p)
    add(f"pii-phone-{kind}", f"pii:phone_{kind}", "pii", [p], pick([zendesk, email_send, slack, llm, gh_issue, teams])(text))

for i in range(24):
    cc = list(IBAN_SPEC)[i % len(IBAN_SPEC)]
    ib = iban_fmt(iban(cc))
    f, l = person()
    text = pick([f"Please refund to {f} {l}, IBAN {ib}, reference INV-{R.randint(1000, 9999)}.",
                 json.dumps({"beneficiary": f"{f} {l}", "iban": ib, "bic": rs(UP, 6) + rs(UP + DG, 2)}),
                 f"Bankverbindung: {f} {l}\nIBAN: {ib}\n",
                 f"payee;iban;amount\n{f} {l};{ib};{R.randint(10, 999)}.00\n"])
    add(f"pii-iban-{cc}", f"pii:iban_{cc}", "pii", [ib], pick([zendesk, email_send, llm, notion, jira_comment])(text))

for i in range(30):
    kind, n = card()
    sep = pick([" ", "-", "", " "])
    c = fmt_card(n, sep)
    f, l = person()
    text = pick([f"Customer {f} {l} says card {c} exp {R.randint(1, 12):02d}/{R.randint(27, 31)} was charged twice.",
                 f"card_number,holder,exp\n{c},{f} {l},{R.randint(1, 12):02d}/{R.randint(27, 31)}\n",
                 json.dumps({"payment_method": {"card": {"number": c, "name": f"{f} {l}"}}}),
                 f"Hi, my {pick(['Visa', 'Mastercard', 'Amex', 'card'])} number is {c}, please update my billing."])
    add(f"pii-card-{kind}", f"pii:card_{kind}", "pii", [c], pick([zendesk, email_send, llm, slack])(text))

for i in range(18):
    a, g, s = ssn()
    v = f"{a}-{g}-{s}" if i % 3 else f"{a} {g} {s}"
    f, l = person()
    text = pick([f"Employee {f} {l}, SSN {v}, start date Monday.", json.dumps({"employee": {"name": f"{f} {l}", "ssn": v}}),
                 f"name,ssn,dept\n{f} {l},{v},finance\n", f"W-9 for {f} {l}: social security number {v}"])
    add(f"pii-ssn-{i}", "pii:ssn" if "-" in v else "pii:ssn_spaces", "pii", [v], pick([email_send, zendesk, llm, notion])(text))

PASS = [("us", lambda: rs(DG, 9)), ("uk", lambda: rs(DG, 9)), ("de", lambda: pick("CFGHJK") + rs("CFGHJKLMNPRTVWXYZ0123456789", 8)),
        ("fr", lambda: rs(DG, 2) + rs(UP, 2) + rs(DG, 5)), ("in", lambda: rs(UP, 1) + rs(DG, 7)), ("ca", lambda: rs(UP, 2) + rs(DG, 6)),
        ("es", lambda: rs(UP, 3) + rs(DG, 6))]
for i in range(14):
    cc, fn = PASS[i % len(PASS)]
    v = fn()
    f, l = person()
    text = pick([f"Traveller: {f} {l}\nPassport No: {v}\nNationality: {cc.upper()}",
                 f"{f} {l}'s passport number is {v}, expiring 2031.",
                 json.dumps({"traveler": {"name": f"{f} {l}", "passport_number": v, "issuing_country": cc.upper()}}),
                 f"Reisepassnummer: {v} ({f} {l})"])
    add(f"pii-passport-{cc}", f"pii:passport_{cc}", "pii", [v], pick([email_send, llm, zendesk])(text))

for i in range(30):
    f, l = person()
    e = email_of(f, l)
    form = i % 6
    if form == 0:
        f2, l2 = person()
        e2 = email_of(f2, l2)
        text = f"email,first_name,last_name,plan\n{e},{f},{l},pro\n{e2},{f2},{l2},free\n"
        vals = [e, e2]
        req = write_file("exports/contacts.csv", text)
    elif form == 1:
        text = f"Spoke with {f} {l} ({e}); she wants the invoice re-sent."
        vals = [e]
        req = msg_carrier()(text)
    elif form == 2:
        f2, l2 = person()
        e2 = email_of(f2, l2)
        text = f"From: {f} {l} <{e}>\nTo: {f2} {l2} <{e2}>\nSubject: Contract renewal\n\nHi {f2}, see attached."
        vals = [e, e2]
        req = llm("Summarise this email thread:\n" + text)
    elif form == 3:
        vals = [e]
        req = {"method": "POST", "url": "https://api.hubapi.com/crm/v3/objects/contacts",
               "body": {"properties": {"email": e, "firstname": f, "lastname": l, "company": pick(ORGS).title()}}, "tool": "hubspot", "operation": "create_contact"}
    elif form == 4:
        vals = [e]
        req = write_file(f"contacts/{f.lower()}.vcf", f"BEGIN:VCARD\nVERSION:3.0\nFN:{f} {l}\nN:{l};{f};;;\nEMAIL;TYPE=work:{e}\nEND:VCARD\n")
    else:
        f2, l2 = person()
        e2 = email_of(f2, l2)
        vals = [e, e2]
        req = {"method": "POST", "url": "https://api.sendgrid.com/v3/mail/send",
               "body": {"personalizations": [{"to": [{"email": e, "name": f"{f} {l}"}], "cc": [{"email": e2}]}],
                        "from": {"email": "billing@northwind-traders.com"}, "subject": "Your invoice", "content": [{"type": "text/plain", "value": "Attached."}]},
               "tool": "sendgrid", "operation": "send"}
    add(f"pii-email-{form}", f"pii:email_{['csv', 'prose', 'headers', 'crm_json', 'vcard', 'sendgrid'][form]}", "pii", vals, req)

# mixed record (several PII in one call)
for i in range(8):
    f, l = person()
    e = email_of(f, l)
    p = PHONES[i % len(PHONES)][1]()
    a, g, s = ssn()
    sv = f"{a}-{g}-{s}"
    rec = {"id": R.randint(10**5, 10**6), "name": f"{f} {l}", "email": e, "phone": p, "ssn": sv, "created_at": "2026-11-03T10:22:01Z"}
    add(f"pii-dbrow-{i}", "pii:db_query_result", "pii", [e, p, sv],
        llm("Query result from `SELECT * FROM customers WHERE id = ...`:\n" + json.dumps([rec], indent=1)))

# ================================================================ evasions
def ev_base():
    kind = pick(["stripe", "ghp", "aws", "xoxb", "openai", "anthropic", "sendgrid", "pw", "email", "ssn", "card", "gitlab"])
    if kind == "stripe":
        return kind, "STRIPE_SECRET_KEY", "sk_live_" + rs(AN, 24), "secret"
    if kind == "ghp":
        return kind, "GITHUB_TOKEN", gh_tok("ghp_"), "secret"
    if kind == "aws":
        return kind, "AWS_ACCESS_KEY_ID", "AKIA" + rs(UP + "234567", 16), "secret"
    if kind == "xoxb":
        return kind, "SLACK_BOT_TOKEN", VG["slack_bot"](), "secret"
    if kind == "openai":
        return kind, "OPENAI_API_KEY", "sk-proj-" + rs(B64U, 40) + "T3BlbkFJ" + rs(B64U, 40), "secret"
    if kind == "anthropic":
        return kind, "ANTHROPIC_API_KEY", VG["anthropic"](), "secret"
    if kind == "sendgrid":
        return kind, "SENDGRID_API_KEY", VG["sendgrid"](), "secret"
    if kind == "gitlab":
        return kind, "GITLAB_TOKEN", VG["gitlab_pat"](), "secret"
    if kind == "pw":
        return kind, "password", pw(), "secret"
    if kind == "email":
        f, l = person()
        return kind, "email", email_of(f, l), "pii"
    if kind == "ssn":
        a, g, s = ssn()
        return kind, "ssn", f"{a}-{g}-{s}", "pii"
    _, n = card()
    return "card", "card", fmt_card(n, " "), "pii"


def ctx_text(kind, n, enc):
    """wrap an encoded value in a short realistic sentence"""
    if kind in ("email", "ssn", "card"):
        return pick([f"customer record ({n}): {enc}", f"forwarding the {n}: {enc}", f"{n}={enc}"])
    if kind == "pw":
        return pick([f"password={enc}", f"db password: {enc}"])
    return pick([f"{n}={enc}", f"here's the key: {enc}", f"config {{\"{n.lower()}\": \"{enc}\"}}"])


ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
INVIS = ["\u00ad", "\u2061", "\u2062", "\u2063", "\u180e", "\u034f", "\U000e0020"]


def interleave(v, chars, every):
    out = []
    for i, ch in enumerate(v):
        out.append(ch)
        if i % every == every - 1 and i < len(v) - 1:
            out.append(pick(chars))
    return "".join(out)


def fullwidth(v):
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in v)


def math_alnum(v):
    # mathematical sans-serif bold: NFKC-folds back to ASCII
    out = []
    for c in v:
        if "A" <= c <= "Z":
            out.append(chr(0x1D5D4 + ord(c) - 65))
        elif "a" <= c <= "z":
            out.append(chr(0x1D5EE + ord(c) - 97))
        elif "0" <= c <= "9":
            out.append(chr(0x1D7EC + ord(c) - 48))
        else:
            out.append(c)
    return "".join(out)


def enclosed(v):
    # circled letters (NFKC folds them back to ASCII); digits and symbols kept
    return "".join(chr(0x24B6 + ord(c) - 65) if "A" <= c <= "Z" else chr(0x24D0 + ord(c) - 97) if "a" <= c <= "z" else c for c in v)


ENCODERS = [
    ("hex", lambda v: v.encode().hex()),
    ("hex_upper", lambda v: v.encode().hex().upper()),
    ("base64", lambda v: base64.b64encode(v.encode()).decode()),
    ("base64url", lambda v: b64url_nopad(v.encode())),
    ("base64_gzip", lambda v: base64.b64encode(gzip.compress(v.encode(), mtime=0)).decode()),
    ("base64_zlib", lambda v: base64.b64encode(zlib.compress(v.encode())).decode()),
    ("base64_twice", lambda v: base64.b64encode(base64.b64encode(v.encode())).decode()),
    ("url_encode_all", lambda v: "".join(f"%{b:02X}" for b in v.encode())),
    ("url_double", lambda v: "".join(f"%25{b:02X}" for b in v.encode())),
    ("zero_width", lambda v: interleave(v, ZW, 3)),
    ("invisible", lambda v: interleave(v, INVIS, 4)),
    ("fullwidth", fullwidth),
    ("math_alnum", math_alnum),
    ("enclosed_alnum", enclosed),
    ("html_dec", lambda v: "".join(f"&#{ord(c)};" for c in v)),
    ("html_hex", lambda v: "".join(f"&#x{ord(c):x};" for c in v)),
    ("html_mixed", lambda v: "".join(f"&#{ord(c)};" if i % 2 else c for i, c in enumerate(v))),
    ("reversed", lambda v: v[::-1]),
    ("base32", lambda v: base64.b32encode(v.encode()).decode()),
    ("rot13", lambda v: v.translate(str.maketrans(UP + LO, UP[13:] + UP[:13] + LO[13:] + LO[:13]))),
]
enc_counts = {}
for i in range(len(ENCODERS) * 5):
    ename, efn = ENCODERS[i % len(ENCODERS)]
    kind, n, v, label = ev_base()
    enc = efn(v)
    text = ctx_text(kind, n, enc)
    req = pick([slack, gh_comment, llm, email_send, discord, dd_logs])(text)
    add(f"ev-{ename}-{kind}", f"evasion:{ename}", label, [enc], req, plain=[v])

# code escapes
CODE_ESC = [
    ("py_u_escape", "app/keys.py", lambda n, v: (e := "".join(f"\\u{ord(c):04x}" for c in v), f"{n.upper()} = \"{e}\"\n")),
    ("js_x_escape", "src/k.js", lambda n, v: (e := "".join(f"\\x{ord(c):02x}" for c in v), f"const key = \"{e}\";\n")),
    ("c_octal", "src/cfg.c", lambda n, v: (e := "".join(f"\\{ord(c):03o}" for c in v), f"static const char *KEY = \"{e}\";\n")),
    ("rust_u_brace", "src/k.rs", lambda n, v: (e := "".join(f"\\u{{{ord(c):x}}}" for c in v), f"const KEY: &str = \"{e}\";\n")),
    ("java_u_mixed", "src/K.java", lambda n, v: (e := "".join(f"\\u{ord(c):04X}" if i % 2 else c for i, c in enumerate(v)), f"String key = \"{e}\";\n")),
]
for i in range(len(CODE_ESC) * 4):
    ename, path, fn = CODE_ESC[i % len(CODE_ESC)]
    kind, n, v, label = ev_base()
    enc, content = fn(n, v)
    add(f"ev-{ename}-{kind}", f"evasion:{ename}", label, [enc], write_file(path, content), plain=[v])

# splits / concatenation
def split2(v):
    k = R.randint(max(4, len(v) // 3), len(v) - 4)
    return v[:k], v[k:]


def split3(v):
    a = len(v) // 3
    return v[:a], v[a:2 * a], v[2 * a:]


SPLITS = [
    ("split_json_fields", lambda v: (lambda a, b: ({"config": {"key_part1": a, "key_part2": b}}, [a, b]))(*split2(v))),
    ("split_json_array", lambda v: (lambda a, b, c: ({"parts": [a, b, c], "note": "join before use"}, [a, b, c]))(*split3(v))),
    ("concat_js", lambda v: (lambda a, b: (f"const k = \"{a}\" + \"{b}\";", [a, b]))(*split2(v))),
    ("concat_py_implicit", lambda v: (lambda a, b: (f"KEY = (\n    \"{a}\"\n    \"{b}\"\n)", [a, b]))(*split2(v))),
    ("concat_py_plus3", lambda v: (lambda a, b, c: (f"key = '{a}' + '{b}' + '{c}'", [a, b, c]))(*split3(v))),
    ("js_template", lambda v: (lambda a, b: (f"const p1 = '{a}';\nconst key = `${{p1}}{b}`;", [a, b]))(*split2(v))),
    ("join_list", lambda v: (lambda a, b, c: (f"token = ''.join(['{a}', '{b}', '{c}'])", [a, b, c]))(*split3(v))),
    ("js_join", lambda v: (lambda a, b, c: (f"const t = ['{a}', '{b}', '{c}'].join('');", [a, b, c]))(*split3(v))),
    ("php_dot", lambda v: (lambda a, b: (f"$key = '{a}' . '{b}';", [a, b]))(*split2(v))),
    ("java_concat", lambda v: (lambda a, b: (f"String key = \"{a}\"\n    + \"{b}\";", [a, b]))(*split2(v))),
    ("go_concat", lambda v: (lambda a, b: (f"key := \"{a}\" +\n\t\"{b}\"", [a, b]))(*split2(v))),
    ("sql_concat", lambda v: (lambda a, b: (f"UPDATE settings SET value = '{a}' || '{b}' WHERE name = 'api_key';", [a, b]))(*split2(v))),
    ("shell_concat", lambda v: (lambda a, b: (f"A={a}\nB={b}\nexport KEY=\"$A$B\"", [a, b]))(*split2(v))),
]
for i in range(len(SPLITS) * 3):
    ename, fn = SPLITS[i % len(SPLITS)]
    kind, n, v, label = ev_base()
    if kind in ("email", "ssn", "card", "pw"):
        kind, n, v, label = "stripe", "STRIPE_SECRET_KEY", "sk_live_" + rs(AN, 24), "secret"
    body, parts = fn(v)
    if isinstance(body, dict):
        req = {"method": "POST", "url": "https://api.render.com/v1/services/srv-" + rs(LO + DG, 20) + "/env-vars", "body": body, "tool": "render", "operation": "update_env"}
    else:
        req = write_file(pick(["src/keys.txt", "lib/client.src"]), body + "\n") if R.random() < 0.5 else msg_carrier()("```\n" + body + "\n```")
    add(f"ev-{ename}-{kind}", f"evasion:{ename}", label, parts, req, plain=[v])

# obfuscated emails
for i in range(16):
    f, l = person()
    e = email_of(f, l)
    u, d = e.split("@")
    dparts = d.split(".")
    form = i % 8
    if form == 0:
        enc = f"{u} [at] {' [dot] '.join(dparts)}"
    elif form == 1:
        enc = f"{u}(at){'(dot)'.join(dparts)}"
    elif form == 2:
        enc = f"{u} at {' dot '.join(dparts)}"
    elif form == 3:
        enc = f"{u.upper()} AT {' DOT '.join(p.upper() for p in dparts)}"
    elif form == 4:
        enc = f"{u} @ {' . '.join(dparts)}"
    elif form == 5:
        enc = f"{u}{{at}}{'{dot}'.join(dparts)}"
    elif form == 6:
        enc = f"{u}&#64;{d}"
    else:
        enc = f"{u}＠{d}"
    text = pick([f"You can reach {f} at {enc} for the contract.", f"contact: {enc}", f"{f}'s personal mail is {enc}, not the work one."])
    add(f"ev-email-obf-{form}", f"evasion:email_obfuscated_{form}", "pii", [enc], pick([slack, zendesk, llm, gh_issue])(text), plain=[e])

# SSNs / cards / phones with unusual separators
for i in range(18):
    form = i % 9
    f, l = person()
    if form < 4:
        a, g, s = ssn()
        sep = ["." , "/", " – ", "_"][form]
        enc = sep.join([a, g, s])
        plain = f"{a}-{g}-{s}"
        label_f = f"ssn_sep_{['dot', 'slash', 'endash', 'underscore'][form]}"
    elif form < 7:
        _, n = card()
        sep = [".", "–", "  "][form - 4]
        enc = fmt_card(n, sep)
        plain = n
        label_f = f"card_sep_{['dot', 'endash', 'dblspace'][form - 4]}"
    else:
        pn = f"{R.randint(201, 989)}{R.randint(201, 989)}{R.randint(1000, 9999)}"
        enc = ["(" + pn[:3] + ")" + pn[3:6] + "·" + pn[6:], pn[:3] + " / " + pn[3:6] + " / " + pn[6:]][form - 7]
        plain = pn
        label_f = f"phone_sep_{form}"
    text = pick([f"{f} {l}: {enc}", f"Verified identity for {f} {l}, number on file {enc}.", f"please update {f} {l}'s record with {enc}"])
    add(f"ev-{label_f}", f"evasion:{label_f}", "pii", [enc], pick([zendesk, email_send, llm])(text), plain=[plain])

# structure hiding: JSON in a string, YAML block scalars, markdown code fences, nested JSON-in-JSON-in-string
for i in range(24):
    form = i % 4
    kind, n, v, label = ev_base()
    if form == 0:
        inner = json.dumps({"settings": {n.lower(): v, "region": "eu"}})
        req = {"method": "POST", "url": "https://api.n8n.cloud/api/v1/workflows", "body": {"name": "sync", "nodes_json": inner}, "tool": "n8n", "operation": "create_workflow"}
        fam = "json_in_string"
    elif form == 1:
        body = f"config: |\n  # generated\n  {n.lower()}: {v}\n  timeout: 30\n"
        req = write_file("k8s/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  " + body.replace("\n", "\n  "))
        fam = "yaml_block_scalar"
    elif form == 2:
        req = msg_carrier()(f"Output of the script:\n\n```json\n{json.dumps({'result': 'ok', n.lower(): v}, indent=2)}\n```\n")
        fam = "markdown_fence"
    else:
        inner = json.dumps({"event": "sync", "payload": json.dumps({n.lower(): v})})
        req = dd_logs(inner)
        fam = "json_in_json_in_string"
    add(f"ev-{fam}-{kind}", f"evasion:{fam}", label, [v], req)

# double encodings: base64 of url-encoded, hex of base64, url-encoded base64
for i in range(12):
    kind, n, v, label = ev_base()
    form = i % 3
    if form == 0:
        enc = base64.b64encode(urllib.parse.quote(v, safe="").encode()).decode(); fam = "base64_of_urlenc"
    elif form == 1:
        enc = base64.b64encode(v.encode()).hex(); fam = "hex_of_base64"
    else:
        enc = urllib.parse.quote(base64.b64encode(v.encode()).decode(), safe=""); fam = "urlenc_of_base64"
    add(f"ev-{fam}-{kind}", f"evasion:{fam}", label, [enc], pick([slack, llm, dd_logs])(ctx_text(kind, n, enc)), plain=[v])

# ================================================================ hard negatives
NEG = []


def fam(name, n=7, note=None):
    def deco(fn):
        NEG.append((name, n, note, fn))
        return fn
    return deco


def ulid():
    return rs("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26).replace(rs("0", 0), "", 0)


def ts_ms():
    return 1764000000000 + R.randint(0, 10**9)


@fam("uuid_ids")
def _():
    ids = [uuid4() for _ in range(4)]
    return gh_comment(f"Affected orders: {', '.join(ids)}. Retried all of them, they succeeded.") if R.random() < .5 else \
        {"method": "POST", "url": "https://api.segment.io/v1/track", "body": {"userId": ids[0], "anonymousId": ids[1], "event": "Checkout Started", "messageId": ids[2]}, "tool": "segment", "operation": "track"}


@fam("ulid_ids")
def _():
    u = "01J" + rs("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 23)
    return slack(f"job {u} finished in 43s (run 01J{rs('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 23)})")


@fam("ksuid_ids")
def _():
    return dd_logs(f"segment event id={'2' + rs(AN, 26)} processed partition=3 offset={R.randint(10**6, 10**8)}")


@fam("snowflake_ids")
def _():
    return discord(f"Pinned message {R.randint(10**17, 10**19 // 10)} from channel {R.randint(10**17, 10**18)} — see thread {R.randint(10**17, 10**18)}")


@fam("mongo_objectids")
def _():
    return llm("db.orders.find() returned:\n" + json.dumps([{"_id": {"$oid": rs(HEXL, 24)}, "customerId": {"$oid": rs(HEXL, 24)}, "total": R.randint(100, 9999) / 100} for _ in range(3)]))


@fam("stripe_object_ids", 9)
def _():
    ids = {"customer": "cus_" + rs(AN, 14), "payment_intent": "pi_3" + rs(AN, 23), "charge": "ch_3" + rs(AN, 23), "invoice": "in_1" + rs(AN, 23),
           "subscription": "sub_1" + rs(AN, 23), "price": "price_1" + rs(AN, 23), "event": "evt_1" + rs(AN, 23), "balance_transaction": "txn_3" + rs(AN, 23),
           "payment_method": "pm_1" + rs(AN, 23), "setup_intent": "seti_1" + rs(AN, 23)}
    return gh_comment("Webhook replay for " + ", ".join(f"{k}={v}" for k, v in ids.items()) + " — all 200.")


@fam("aws_arns")
def _():
    acct = rs(DG, 12)
    return llm(json.dumps({"Roles": [{"Arn": f"arn:aws:iam::{acct}:role/{pick(['lambda-exec', 'eks-node', 'ci-deployer'])}", "RoleId": "AROA" + rs(UP + "234567", 17),
                                      "CreateDate": "2025-06-01T10:00:00Z"}], "Functions": [f"arn:aws:lambda:eu-west-1:{acct}:function:{pick(REPOS)}"]}))


@fam("aws_request_ids")
def _():
    return dd_logs(json.dumps({"x-amzn-RequestId": uuid4(), "x-amz-id-2": base64.b64encode(bytes(R.getrandbits(8) for _ in range(56))).decode(),
                               "x-amz-request-id": rs(UP + DG, 16), "status": 200}))


@fam("aws_resource_ids")
def _():
    return llm(json.dumps({"Reservations": [{"Instances": [{"InstanceId": "i-0" + rs(HEXL, 16), "ImageId": "ami-0" + rs(HEXL, 16), "SubnetId": "subnet-0" + rs(HEXL, 16),
                                                             "VpcId": "vpc-0" + rs(HEXL, 16), "SecurityGroups": [{"GroupId": "sg-0" + rs(HEXL, 16)}],
                                                             "PrivateDnsName": f"ip-10-0-{R.randint(0, 255)}-{R.randint(0, 255)}.eu-west-1.compute.internal"}]}]}))


@fam("azure_resource_ids")
def _():
    return llm(json.dumps({"id": f"/subscriptions/{uuid4()}/resourceGroups/rg-prod/providers/Microsoft.Web/sites/{pick(REPOS)}", "tenantId": uuid4(),
                           "properties": {"principalId": uuid4(), "clientId": uuid4()}}), )


@fam("gcp_resource_ids")
def _():
    return llm(json.dumps({"name": f"projects/{R.randint(10**11, 10**12)}/locations/europe-west1/operations/operation-{ts_ms()}-{rs(HEXL, 13)}-{rs(HEXL, 8)}-{rs(HEXL, 8)}",
                           "metadata": {"target": f"projects/quantaflow-prod/instances/{pick(REPOS)}"}}))


@fam("git_shas", 8)
def _():
    lines = "\n".join(f"{rs(HEXL, 40)} {pick(['fix: retry', 'feat: add export', 'chore(deps): bump', 'docs: readme'])}" for _ in range(5))
    return pick([lambda: gh_pr("Commits in this PR:\n" + lines), lambda: shell_out("git log --format='%H %s' -5", lines)])()


@fam("sha256_checksums")
def _():
    return write_file("SHA256SUMS", "\n".join(f"{rs(HEXL, 64)}  {pick(REPOS)}-v1.{R.randint(0, 9)}.{R.randint(0, 9)}-{pick(['linux-amd64', 'darwin-arm64'])}.tar.gz" for _ in range(3)) + "\n")


@fam("sha512_digests")
def _():
    return slack(f"release artifact sha512: {rs(HEXL, 128)}")


@fam("npm_lock_integrity", 8)
def _():
    pkgs = {f"node_modules/{p}": {"version": f"{R.randint(1, 9)}.{R.randint(0, 20)}.{R.randint(0, 9)}", "resolved": f"https://registry.npmjs.org/{p}/-/{p}-1.0.0.tgz",
                                  "integrity": "sha512-" + base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()} for p in ["lodash", "react", "zod", "axios"]}
    return write_file("package-lock.json", json.dumps({"name": "web", "lockfileVersion": 3, "packages": pkgs}, indent=2))


@fam("yarn_lock")
def _():
    return write_file("yarn.lock", "".join(f'"{p}@^1.0.0":\n  version "1.{R.randint(0, 9)}.0"\n  resolved "https://registry.yarnpkg.com/{p}/-/{p}-1.0.0.tgz#{rs(HEXL, 40)}"\n  integrity sha512-{base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()}\n\n' for p in ["chalk", "debug", "ms"]))


@fam("docker_digests")
def _():
    return shell_out("docker images --digests", "\n".join(f"acme/{pick(REPOS)}   1.{R.randint(0, 9)}.{R.randint(0, 9)}   sha256:{rs(HEXL, 64)}   {rs(HEXL, 12)}   2 days ago   {R.randint(50, 900)}MB" for _ in range(3)))


@fam("go_sum")
def _():
    return write_file("go.sum", "".join(f"github.com/{pick(['spf13', 'gorilla', 'stretchr'])}/{pick(['cobra', 'mux', 'testify'])} v1.{R.randint(0, 9)}.{R.randint(0, 9)} h1:{base64.b64encode(bytes(R.getrandbits(8) for _ in range(32))).decode()}\n" for _ in range(4)))


@fam("cargo_lock")
def _():
    return write_file("Cargo.lock", "".join(f'[[package]]\nname = "{p}"\nversion = "1.{R.randint(0, 40)}.{R.randint(0, 9)}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{rs(HEXL, 64)}"\n\n' for p in ["serde", "tokio", "regex"]))


@fam("sri_hashes")
def _():
    return write_file("public/index.html", f'<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/js/bootstrap.bundle.min.js" integrity="sha384-{base64.b64encode(bytes(R.getrandbits(8) for _ in range(48))).decode()}" crossorigin="anonymous"></script>\n')


@fam("pagination_cursors", 8)
def _():
    c = base64.b64encode(json.dumps({"id": R.randint(10**5, 10**7), "ts": ts_ms()}).encode()).decode()
    c2 = rs(B64U, 44)
    return llm(json.dumps({"data": [{"id": R.randint(1, 999)}], "has_more": True, "next_cursor": c, "response_metadata": {"next_cursor": "dXNlcjpV" + rs(AN, 12)}, "pageToken": c2}))


@fam("etags")
def _():
    return dd_logs(f"GET /assets/app.js 304 ETag: \"{rs(HEXL, 32)}\" If-None-Match: W/\"{rs(HEXL, 8)}-{rs(B64U, 27)}\"")


@fam("hashed_asset_urls")
def _():
    return write_file("dist/manifest.json", json.dumps({"main.js": f"/static/js/main.{rs(HEXL, 8)}.js", "vendor.css": f"/static/css/vendor.{rs(HEXL, 20)}.css",
                                                       "logo": f"https://res.cloudinary.com/acme/image/upload/v{R.randint(10**9, 2 * 10**9)}/{rs(LO + DG, 20)}.png"}))


@fam("youtube_media_ids")
def _():
    return slack(f"Recording: https://www.youtube.com/watch?v={rs(B64U, 11)} and slides https://docs.google.com/presentation/d/{rs(B64U, 44)}/edit")


@fam("data_uri_images")
def _():
    raw = b"\x89PNG\r\n\x1a\n" + bytes(R.getrandbits(8) for _ in range(R.randint(200, 600)))
    return write_file("src/icons.ts", f"export const logo = \"data:image/png;base64,{base64.b64encode(raw).decode()}\";\n")


@fam("base64_fonts")
def _():
    raw = b"wOF2" + bytes(R.getrandbits(8) for _ in range(700))
    return write_file("src/fonts.css", f"@font-face {{\n  font-family: 'Inter';\n  src: url(data:font/woff2;base64,{base64.b64encode(raw).decode()}) format('woff2');\n}}\n")


@fam("minified_js")
def _():
    vs = [rs(LO, 1) for _ in range(30)]
    js = "!function(e,t){\"object\"==typeof exports?module.exports=t():e.lib=t()}(this,function(){" + ";".join(
        f"var {vs[i]}{i}=function(n){{return n^0x{rs(HEXL, 6)}}}" for i in range(20)) + f";return{{v:\"{rs(AN, 8)}\",h:\"{rs(HEXL, 40)}\"}}}});"
    return write_file("public/vendor.min.js", js)


@fam("minified_css")
def _():
    return write_file("public/app.min.css", "".join(f".c-{rs(LO + DG, 6)}{{color:#{rs(HEXL, 6)};margin:{R.randint(0, 9)}px}}" for _ in range(25)) + "@media (max-width:768px){.nav{display:none}}")


@fam("source_maps")
def _():
    return write_file("dist/app.js.map", json.dumps({"version": 3, "sources": ["src/app.ts"], "names": ["foo", "bar"],
                                                    "mappings": ";".join(",".join(rs("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", R.randint(4, 7)) for _ in range(8)) for _ in range(20))}))


@fam("ssh_public_keys", 8)
def _():
    k = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00 " + bytes(R.getrandbits(8) for _ in range(32))).decode()
    k2 = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa\x00\x00\x00\x03\x01\x00\x01\x00\x00\x01\x01\x00" + bytes(R.getrandbits(8) for _ in range(256))).decode()
    return write_file("ansible/files/authorized_keys", f"ssh-ed25519 {k} deploy@ci\nssh-rsa {k2} ops@bastion\n")


@fam("pem_certificates")
def _():
    raw = bytes.fromhex("308203") + bytes(R.getrandbits(8) for _ in range(700))
    b = base64.b64encode(raw).decode()
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END CERTIFICATE-----"
    return write_file("certs/ca-bundle.crt", pem + "\n")


@fam("pem_public_keys")
def _():
    raw = bytes.fromhex("30820122300d06092a864886f70d01010105000382010f00") + bytes(R.getrandbits(8) for _ in range(270))
    b = base64.b64encode(raw).decode()
    return write_file("config/jwt_public.pem", "-----BEGIN PUBLIC KEY-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END PUBLIC KEY-----\n")


@fam("pgp_public_key")
def _():
    b = base64.b64encode(bytes(R.getrandbits(8) for _ in range(500))).decode()
    return write_file("KEYS", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n=" + rs(B64, 4) + "\n-----END PGP PUBLIC KEY BLOCK-----\n")


DOC_EX = [
    ("aws", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"),
    ("aws_cli", "aws configure\nAWS Access Key ID [None]: AKIAIOSFODNN7EXAMPLE\nAWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"),
    ("stripe", "Stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'\n"),
    ("stripe_pk", "const stripe = Stripe('pk_test_TYooMQauvdEDq54NiTphI7jx');\n"),
    ("jwtio", "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n"),
    ("azurite", "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;\n"),
    ("azurite_short", "UseDevelopmentStorage=true\n"),
    ("slack_docs", "SLACK_BOT_TOKEN=xoxb-not-a-real-token-this-will-not-work\n"),
]


@fam("vendor_documented_examples", 16, note="values published in vendor docs (AWS, Stripe, jwt.io, Azurite, Slack): never a live credential")
def _():
    k, txt = pick(DOC_EX)
    return pick([lambda: write_file(pick(["README.md", "docs/setup.md", ".env.example"]), "## Setup\n\n```\n" + txt + "```\n"),
                 lambda: gh_comment("From the docs, the example looks like:\n```\n" + txt + "```"),
                 lambda: llm("Explain this snippet from the tutorial:\n" + txt)])()


@fam("placeholder_angle", 8)
def _():
    n = pick(["API_KEY", "STRIPE_SECRET_KEY", "OPENAI_API_KEY", "DB_PASSWORD", "GITHUB_TOKEN"])
    v = pick(["<YOUR_API_KEY>", "<your-secret-key>", "<PASTE_TOKEN_HERE>", "YOUR_API_KEY_HERE", "<redacted>", "your-password-here", "sk_live_YOUR_KEY", "INSERT_TOKEN"])
    return write_file("README.md", f"## Configure\n\nCreate a `.env`:\n\n```\n{n}={v}\n```\n")


@fam("gha_secret_refs", 8)
def _():
    return write_file(".github/workflows/release.yml", f"jobs:\n  publish:\n    runs-on: ubuntu-latest\n    env:\n      NPM_TOKEN: ${{{{ secrets.NPM_TOKEN }}}}\n      AWS_SECRET_ACCESS_KEY: ${{{{ secrets.AWS_SECRET_ACCESS_KEY }}}}\n      PASSWORD: ${{{{ secrets.{pick(['DEPLOY_PASSWORD', 'PROD_DB_PASSWORD'])} }}}}\n    steps:\n      - run: npm publish\n")


@fam("helm_template_refs")
def _():
    return write_file("charts/api/templates/secret.yaml", "apiVersion: v1\nkind: Secret\nstringData:\n  password: {{ .Values.db.password | quote }}\n  api_key: {{ required \"apiKey\" .Values.apiKey }}\n  token: \"{{ .Values.token }}\"\n")


@fam("format_string_placeholders")
def _():
    return write_file("app/db.py", pick(["DSN = 'postgresql://%(user)s:%(password)s@%(host)s/%(db)s'\n", "url = f\"postgres://{user}:{password}@{host}/app\"\n",
                                         "conn_str = \"Server={0};User Id={1};Password={2};\".format(host, user, pw)\n", "log.info('password=%s', '***')\n"]))


@fam("env_references", 9)
def _():
    return write_file(pick(["src/config.ts", "app/settings.py", "main.go", "Config.java"]), pick([
        "export const stripeKey = process.env.STRIPE_SECRET_KEY!;\nexport const dbPassword = process.env.DB_PASSWORD ?? '';\n",
        "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDB_PASSWORD = os.getenv('DB_PASSWORD')\n",
        "password := os.Getenv(\"DB_PASSWORD\")\napiKey := os.Getenv(\"API_KEY\")\n",
        "String password = System.getenv(\"DB_PASSWORD\");\n",
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\nAPI_KEY=$API_KEY\n",
        "token = ENV.fetch('GITHUB_TOKEN')\npassword = Rails.application.credentials.db_password\n"]))


@fam("secret_manager_refs")
def _():
    return write_file("deploy/values.yaml", pick(["db:\n  passwordFrom: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf\n",
                                                  "api_key: op://Engineering/Stripe/credential\n", "password: vault:secret/data/prod/db#password\n",
                                                  "token: ${ssm:/prod/api/token}\n", "DB_PASSWORD = get_secret(\"prod/db\")\n"]))


@fam("changeme_defaults", note="obvious placeholders in templates and docker-compose examples; a user would not want these blocked")
def _():
    return write_file("docker-compose.example.yml", f"services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: {pick(['changeme', 'change-me', 'CHANGEME', 'password', 'example', 'secret', 'xxxxxxxx'])}\n")


@fam("masking_markers", 10)
def _():
    return pick([lambda: llm(json.dumps({"api_key": "sk_live_************************1234", "password": "********", "token": "[REDACTED]"})),
                 lambda: slack("Key rotated: old key `sk_live_…4242` disabled, new key `sk_live_****9Xq1` active."),
                 lambda: dd_logs("login ok user=jdoe password=<hidden> token=*****"),
                 lambda: gh_comment("Set `GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx` in your env."),
                 lambda: shell_out("heroku config", "DATABASE_URL: postgres://u:********@host/db\nSTRIPE_KEY:   [hidden]\n")])()


@fam("terraform_sensitive")
def _():
    return shell_out("terraform plan", f"  # aws_db_instance.main will be updated in-place\n  ~ resource \"aws_db_instance\" \"main\" {{\n        id       = \"db-{rs(UP + DG, 26)}\"\n      ~ password = (sensitive value)\n        username = \"admin\"\n    }}\n\nPlan: 0 to add, 1 to change, 0 to destroy.")


@fam("ansible_vault", note="!vault ciphertext is AES-256 encrypted: not the secret")
def _():
    ct = "\n".join("          " + rs(DG + "abcdef", 80) for _ in range(5))
    return write_file("group_vars/prod.yml", f"db_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n{ct}\n")


@fam("sops_encrypted", note="SOPS ENC[...] values are ciphertext")
def _():
    return write_file("secrets.enc.yaml", f"db_password: ENC[AES256_GCM,data:{rs(B64, 24)},iv:{rs(B64, 43)}=,tag:{rs(B64, 22)}==,type:str]\nsops:\n  version: 3.9.0\n")


@fam("order_invoice_numbers", 8)
def _():
    return zendesk(pick([f"Order #{R.randint(10**7, 10**9)} shipped; invoice INV-{R.randint(2024, 2026)}-{R.randint(10000, 99999)}.",
                         f"Your order number is {R.randint(1000, 9999)} {R.randint(1000, 9999)} {R.randint(1000, 9999)} {R.randint(1000, 9999)}".replace("", "") if False else
                         f"Reference {R.randint(100, 999)}-{R.randint(1000000, 9999999)}-{R.randint(1000000, 9999999)} (Amazon order)",
                         f"PO {R.randint(4500000000, 4599999999)} approved"]))


@fam("tracking_numbers")
def _():
    return pick([slack, zendesk, llm])(pick([f"Your parcel 1Z{rs(UP + DG, 6)}{rs(DG, 10)} is out for delivery.", f"FedEx tracking: {rs(DG, 12)}",
                            f"USPS tracking {rs(DG, 22)}", f"DHL waybill {rs(DG, 10)}"]))


@fam("imei_numbers", note="IMEIs are Luhn-valid 15-digit device ids")
def _():
    im = luhn_complete(pick(["35", "86", "01"]) + rs(DG, 6), 15)
    return jira_comment(f"Device IMEI {im} fails to enroll in MDM; serial {rs(UP + DG, 12)}.")


@fam("isbn_numbers")
def _():
    def isbn13():
        d = "978" + rs(DG, 9)
        s = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(d))
        return d + str((10 - s % 10) % 10)
    i = isbn13()
    return llm(f"Book: Designing Data-Intensive Applications, ISBN {i[:3]}-{i[3]}-{i[4:9]}-{i[9:12]}-{i[12]} and ISBN {isbn13()}")


@fam("epoch_timestamps", 8)
def _():
    return dd_logs(json.dumps({"ts": ts_ms(), "start_ns": ts_ms() * 10**6, "duration_ms": R.randint(1, 9999), "build": int(f"2026{R.randint(10, 12)}{R.randint(10, 28)}{R.randint(100000, 235959)}")}))


@fam("non_luhn_digit_groups", 8)
def _():
    while True:
        n = pick("3456") + rs(DG, 15)
        if not luhn_ok(n):
            break
    return zendesk(f"Ticket reference {n[:4]} {n[4:8]} {n[8:12]} {n[12:]} — please quote it when calling.")


@fam("version_numbers")
def _():
    return gh_pr(f"Bumps axios from 1.{R.randint(0, 9)}.{R.randint(0, 9)} to 1.{R.randint(0, 9)}.{R.randint(0, 9)}; kernel 6.{R.randint(1, 9)}.{R.randint(0, 99)}-{R.randint(100, 999)}-generic; build 10.0.{R.randint(10000, 29999)}.{R.randint(100, 9999)}")


@fam("coordinates")
def _():
    return llm(json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(R.uniform(-180, 180), 6), round(R.uniform(-90, 90), 6)]},
                           "properties": {"name": "Depot " + rs(UP, 2), "lat": round(R.uniform(-90, 90), 7), "lon": round(R.uniform(-180, 180), 7)}}))


@fam("prices_amounts")
def _():
    return llm(json.dumps({"line_items": [{"sku": f"SKU-{R.randint(10000, 99999)}", "unit_amount": R.randint(100, 99999), "qty": R.randint(1, 9)}], "total": f"{R.randint(1, 99999)}.{R.randint(10, 99)}", "currency": "EUR"}))


@fam("git_remotes", note="git@host:org/repo is a transport user, not an e-mail address")
def _():
    o, r = pick(ORGS), pick(REPOS)
    return shell_out("git remote -v", f"origin\tgit@github.com:{o}/{r}.git (fetch)\norigin\tgit@github.com:{o}/{r}.git (push)\nupstream\tssh://git@gitlab.com/{o}/{r}.git (fetch)")


@fam("sentry_dsn", note="Sentry DSN public key is designed to ship in client code; it is neither an e-mail nor a secret")
def _():
    return write_file("src/sentry.ts", f"Sentry.init({{ dsn: \"https://{rs(HEXL, 32)}@o{R.randint(10**5, 10**6)}.ingest.sentry.io/{R.randint(10**6, 10**7)}\", tracesSampleRate: 0.1 }});\n")


@fam("noreply_role_addresses", note="debatable: system/role mailboxes of companies (noreply@, notifications@) are not a person's data")
def _():
    return llm(pick(["From: GitHub <noreply@github.com>\nSubject: [acme/api] Run failed: CI", "From: notifications@stripe.com\nSubject: Payout sent",
                     "Reply-To: no-reply@accounts.google.com", "Sender: jira@acme.atlassian.net\nSubject: [JIRA] OPS-1234 updated"]))


@fam("example_domain_emails", note="RFC 2606/6761 reserved domains")
def _():
    f, l = person()
    return write_file("tests/fixtures/users.json", json.dumps([{"name": f"{f} {l}", "email": email_of(f, l, pick(["example.com", "example.org", "test.example", "mail.example.net", "acme.test"]))}]))


@fam("npm_scoped_packages")
def _():
    return write_file("package.json", json.dumps({"name": "@acme/web", "dependencies": {"@types/node": "^20.11.0", "@babel/core": "^7.24.0", "@angular/core": "17.3.0", "@aws-sdk/client-s3": "^3.550.0"}}, indent=2))


@fam("code_decorators")
def _():
    return write_file(pick(["app/routes.py", "src/app.component.ts"]), pick(["@app.route('/login', methods=['POST'])\n@login_required\ndef login():\n    ...\n",
                                                                             "@Component({ selector: 'app-root' })\nexport class AppComponent {\n  @Input() user!: User;\n}\n"]))


@fam("css_at_rules")
def _():
    return write_file("src/styles.css", "@import url('https://fonts.googleapis.com/css2?family=Inter');\n@media (prefers-color-scheme: dark) { body { background: #111; } }\n@supports (display: grid) { .x { display: grid } }\n")


@fam("password_prose", 10, note="talk about passwords without one")
def _():
    return pick([lambda: llm("Draft the reset email: We've received a request to reset your password. Click the link below to choose a new password. If you didn't request this, ignore this email."),
                 lambda: gh_issue("Password policy: minimum 12 characters, at least one number and one symbol. Tokens expire after 90 days; rotate the API key via the dashboard."),
                 lambda: slack("reminder: never paste your password or API token in Slack, use 1Password sharing instead"),
                 lambda: notion("To rotate the database password, run the rotate-db-creds job; the new password is stored in Secrets Manager."),
                 lambda: zendesk("Customer says the password reset email never arrived; resent it. Token field was empty."),
                 lambda: llm("Write a function that validates password strength and returns an error if the password is shorter than 12 characters.")])()


@fam("form_schemas")
def _():
    return write_file("schemas/signup.json", json.dumps({"type": "object", "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 12},
                                                                                        "api_key": {"type": "string", "description": "Your API key"}}, "required": ["email", "password"]}, indent=2))


@fam("password_hashes", 8, note="bcrypt/argon2/crypt hashes are not the password")
def _():
    h = pick([f"$2b$12${rs(B64.replace('+', '.'), 53)}", f"$argon2id$v=19$m=65536,t=3,p=4${rs(B64, 22)}${rs(B64, 43)}", f"$6$rounds=5000${rs(AN, 16)}${rs(AN + './', 86)}",
              f"pbkdf2_sha256$600000${rs(AN, 22)}${rs(B64, 43)}="])
    return llm("SELECT id, email_hash, password_hash FROM users LIMIT 1;\n" + json.dumps({"id": R.randint(1, 9999), "password_hash": h}))


@fam("webhook_signatures", 8, note="per-message HMACs: not a reusable credential")
def _():
    body = {"action": "opened", "number": R.randint(1, 999)}
    if R.random() < 0.5:
        return {"method": "POST", "url": "https://ci.acme-logistics.io/hooks/github", "body": body,
                "headers": {"X-Hub-Signature-256": "sha256=" + rs(HEXL, 64), "X-GitHub-Delivery": uuid4(), "X-GitHub-Event": "pull_request"}, "tool": "http", "operation": "forward_webhook"}
    return {"method": "POST", "url": "https://api.northwind-traders.com/webhooks/stripe", "body": {"id": "evt_1" + rs(AN, 23), "type": "invoice.paid"},
            "headers": {"Stripe-Signature": f"t={1764600000 + R.randint(0, 10**6)},v1={rs(HEXL, 64)}"}, "tool": "http", "operation": "forward_webhook"}


@fam("csp_nonces", note="per-response nonces are public in the page")
def _():
    n = rs(B64, 22) + "=="
    return write_file("templates/base.html", f"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'nonce-{n}' 'strict-dynamic'\">\n<script nonce=\"{n}\">init()</script>\n")


@fam("recaptcha_site_keys", note="site keys are public by design")
def _():
    return write_file("src/Signup.tsx", f"<ReCAPTCHA sitekey=\"6L{rs(B64U, 38)}\" onChange={{onVerify}} />\n")


@fam("firebase_web_config", note="debatable: Firebase web apiKey is public by design (Google docs), shipped in every web client; the detector cannot tell it from a server key without context")
def _():
    pid = f"{pick(ORGS)}-{rs(LO + DG, 5)}"
    return write_file("src/firebase.js", f"const firebaseConfig = {{\n  apiKey: \"AIza{rs(B64U, 35)}\",\n  authDomain: \"{pid}.firebaseapp.com\",\n  projectId: \"{pid}\",\n  storageBucket: \"{pid}.appspot.com\",\n  messagingSenderId: \"{rs(DG, 12)}\",\n  appId: \"1:{rs(DG, 12)}:web:{rs(HEXL, 22)}\"\n}};\n")


@fam("stripe_publishable_keys", note="pk_live_ keys are public by design (Stripe.js)")
def _():
    return write_file("src/checkout.js", f"const stripe = Stripe('pk_live_51{rs(AN, 96)}');\n")


@fam("oauth_public_params", note="client_id, state and PKCE code_challenge are public")
def _():
    return llm(f"Redirecting to https://accounts.google.com/o/oauth2/v2/auth?client_id={rs(DG, 12)}-{rs(LO + DG, 32)}.apps.googleusercontent.com&response_type=code&state={rs(B64U, 32)}&code_challenge={rs(B64U, 43)}&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fapp.kestrel.dev%2Fcallback")


@fam("kubectl_output", 8)
def _():
    return shell_out("kubectl get pods -o wide", "NAME                                READY   STATUS    RESTARTS   AGE   IP            NODE\n" + "\n".join(
        f"{pick(REPOS)}-{rs(LO + DG, 10)}-{rs(LO + DG, 5)}   1/1     Running   0          {R.randint(1, 30)}d   10.244.{R.randint(0, 9)}.{R.randint(2, 250)}   aks-pool-{rs(DG, 8)}-vmss00000{R.randint(0, 9)}" for _ in range(4)))


@fam("k8s_metadata")
def _():
    return llm(json.dumps({"metadata": {"name": pick(REPOS), "uid": uuid4(), "resourceVersion": str(R.randint(10**6, 10**8)), "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "checksum/config": rs(HEXL, 64)}}}))


@fam("terraform_state_ids")
def _():
    return shell_out("terraform show -json", json.dumps({"values": {"root_module": {"resources": [{"address": "aws_s3_bucket.logs", "values": {"id": f"acme-logs-{rs(LO + DG, 8)}", "arn": "arn:aws:s3:::acme-logs", "hosted_zone_id": "Z" + rs(UP + DG, 13)}}]}}}))


@fam("docker_ps_output")
def _():
    return shell_out("docker ps", "CONTAINER ID   IMAGE              COMMAND    STATUS\n" + "\n".join(f"{rs(HEXL, 12)}   acme/{pick(REPOS)}:sha-{rs(HEXL, 7)}   \"/entrypoint\"   Up {R.randint(1, 9)} hours" for _ in range(3)))


@fam("ci_logs_clean", 8)
def _():
    return ci_log(f"Run actions/checkout@{rs(HEXL, 40)}\nSyncing repository: {pick(ORGS)}/{pick(REPOS)}\nrun_id={R.randint(10**9, 10**10)} attempt=1\nCache restored from key: node-cache-Linux-x64-npm-{rs(HEXL, 64)}\n✓ 412 tests passed in 38.2s")


@fam("storage_listings", note="object keys are paths, even under a key named Key")
def _():
    return llm(json.dumps({"Contents": [{"Key": f"exports/{R.randint(2024, 2026)}/{rs(HEXL, 32)}.parquet", "ETag": f"\"{rs(HEXL, 32)}\"", "Size": R.randint(10**3, 10**8)},
                                        {"Key": f"secrets-rotation/logs/{uuid4()}.json", "ETag": f"\"{rs(HEXL, 32)}-{R.randint(2, 9)}\"", "Size": R.randint(100, 10**4)}]}))


@fam("connstr_placeholder_pw")
def _():
    return write_file(".env.example", pick(["DATABASE_URL=postgres://app:PASSWORD@localhost:5432/app\n", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\n",
                                            "MONGO_URI=mongodb+srv://<username>:<password>@cluster0.mongodb.net/test\n", "REDIS_URL=redis://:{{ redis_password }}@cache:6379\n",
                                            "AMQP_URL=amqp://guest:$RABBIT_PASS@mq:5672/\n"]))


@fam("env_example_empty")
def _():
    return write_file(".env.example", "STRIPE_SECRET_KEY=\nOPENAI_API_KEY=\nDB_PASSWORD=\nGITHUB_TOKEN=   # create at https://github.com/settings/tokens\n")


@fam("stripe_docs_test_cards", note="processors' published test card numbers")
def _():
    return write_file("tests/test_checkout.py", f"CARD = '{pick(['4242 4242 4242 4242', '4111111111111111', '5555 5555 5555 4444', '4000 0566 5566 5556', '3782 822463 10005'])}'\nEXP = '12/34'\nCVC = '123'\n")


@fam("trace_ids", 8)
def _():
    return {"method": "POST", "url": "https://otlp.eu01.nr-data.net/v1/traces", "headers": {"traceparent": f"00-{rs(HEXL, 32)}-{rs(HEXL, 16)}-01"},
            "body": {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": rs(HEXL, 32), "spanId": rs(HEXL, 16), "parentSpanId": rs(HEXL, 16), "name": "GET /orders", "startTimeUnixNano": str(ts_ms() * 10**6)}]}]}]},
            "tool": "otel", "operation": "export_spans"}


@fam("request_ids_headers")
def _():
    return dd_logs(f"upstream responded 502 x-request-id={uuid4()} cf-ray={rs(HEXL, 16)}-FRA x-amzn-trace-id=Root=1-{rs(HEXL, 8)}-{rs(HEXL, 24)}")


@fam("api_docs_auth_format")
def _():
    return write_file("docs/api.md", "## Authentication\n\nSend `Authorization: Bearer <token>` with every request. Tokens look like `sk_live_...` and can be created in the dashboard. Use `curl -u YOUR_KEY:` for basic auth.\n")


@fam("go_pseudo_versions")
def _():
    return write_file("go.mod", f"module github.com/acme/api\n\ngo 1.22\n\nrequire (\n\tgolang.org/x/sync v0.0.0-{R.randint(2019, 2025)}{R.randint(10, 12)}{R.randint(10, 28)}{R.randint(100000, 235959)}-{rs(HEXL, 12)}\n\tgithub.com/google/uuid v1.6.0\n)\n")


@fam("base64_public_content")
def _():
    txt = pick(["# API Gateway\n\nThis service routes requests to the backend.\n", "print('hello world')\n", "{\"name\": \"web\", \"private\": true}\n"]) * R.randint(1, 3)
    return {"method": "PUT", "url": f"https://api.github.com/repos/{pick(ORGS)}/{pick(REPOS)}/contents/{pick(['README.md', 'main.py', 'package.json'])}",
            "body": {"message": "update", "content": base64.b64encode(txt.encode()).decode(), "sha": rs(HEXL, 40)}, "tool": "github", "operation": "update_file"}


@fam("high_entropy_filenames")
def _():
    return llm("\n".join(f"/tmp/pytest-of-runner/pytest-{R.randint(1, 99)}/{rs(LO + DG, 8)}/cache_{rs(HEXL, 16)}.bin" for _ in range(4)))


@fam("azure_client_ids", note="app (client) ids and tenant ids are identifiers, not credentials")
def _():
    return write_file("appsettings.json", json.dumps({"AzureAd": {"Instance": "https://login.microsoftonline.com/", "TenantId": uuid4(), "ClientId": uuid4(), "CallbackPath": "/signin-oidc"}}, indent=2))


@fam("twilio_account_sid", note="AC… account SIDs are identifiers that appear in every API URL")
def _():
    return dd_logs(f"POST https://api.twilio.com/2010-04-01/Accounts/AC{rs(HEXL, 32)}/Messages.json 201 sid=SM{rs(HEXL, 32)}")


@fam("uuid_named_token_fields", note="ids under key names like *_token_id / idempotency_key")
def _():
    return {"method": "POST", "url": "https://api.stripe.com/v1/customers", "headers": {"Idempotency-Key": uuid4()},
            "body": {"charge": "ch_3" + rs(AN, 23), "metadata": {"token_id": "tok_" + rs(AN, 24), "request_key": uuid4()}}, "tool": "stripe", "operation": "create_customer"}


@fam("dates_without_birth")
def _():
    f, l = person()
    return jira_comment(f"{f} {l} joined on {pick(MONTHS_EN)} {R.randint(1, 28)}, {R.randint(2015, 2025)}; next review {R.randint(1, 28)} {pick(MONTHS_EN)} 2027.")


@fam("phone_like_ids")
def _():
    return llm(pick([f"Build {R.randint(2020, 2026)}.{R.randint(10, 12)}.{R.randint(10, 28)}.{R.randint(1000, 9999)}", f"Serial: {rs(DG, 4)}-{rs(DG, 3)}-{rs(DG, 4)}-{rs(DG, 2)}",
                     f"case 0{R.randint(100, 999)} {R.randint(1000, 9999)} {R.randint(1000, 9999)} closed", f"port range 30000-32767, pid {R.randint(1000, 99999)}, uptime 1234567s"]))


@fam("hex_colors_and_hashes_in_css")
def _():
    return write_file("tailwind.config.js", "module.exports = { theme: { colors: { " + ", ".join(f"'c{i}': '#{rs(HEXL, 6)}'" for i in range(12)) + " } } };\n")


@fam("wasm_and_binaries_b64")
def _():
    blob = base64.b64encode(b"\x00asm\x01\x00\x00\x00" + bytes(R.getrandbits(8) for _ in range(400))).decode()
    return write_file("src/wasm.ts", f"export const wasm = '{blob}';\n")


@fam("public_ip_free_urls_with_sig", note="public CDN image URLs with cache/signature params (imgix s=) are not credentials")
def _():
    return notion(f"![hero](https://acme.imgix.net/hero.jpg?w=1200&auto=format&s={rs(HEXL, 32)})")


@fam("security_advisory_text")
def _():
    return gh_issue(f"CVE-2024-{R.randint(10000, 99999)}: GHSA-{rs(LO + DG, 4)}-{rs(LO + DG, 4)}-{rs(LO + DG, 4)} — tokens were logged in plain text in versions < 2.3. Upgrade and rotate any token you used.")


@fam("gitleaks_allow_comments")
def _():
    return write_file("tests/test_redact.py", "def test_redacts_keys():\n    assert redact('key=abc') == 'key=[REDACTED]'\n    # gitleaks:allow\n    assert mask('sk_live_****') == 'sk_live_****'\n")


for fname, n, note, fn in NEG:
    for i in range(n):
        add(f"neg-{fname}-{i}", f"neg:{fname}", "negative", [], fn(), note=note)


# ================================================================ more positives: credential files agents touch
for i in range(24):
    form = i % 8
    if form == 0:
        k = base64.b64encode(bytes(R.getrandbits(8) for _ in range(32))).decode()
        add("sec-wireguard-private", "secret:wireguard_private_key", "secret", [k],
            write_file("/etc/wireguard/wg0.conf", f"[Interface]\nAddress = 10.8.0.2/24\nPrivateKey = {k}\nDNS = 1.1.1.1\n\n[Peer]\nPublicKey = {base64.b64encode(bytes(R.getrandbits(8) for _ in range(32))).decode()}\nEndpoint = vpn.acme-logistics.io:51820\nAllowedIPs = 0.0.0.0/0\n"))
    elif form == 1:
        t = gh_tok("npm_")
        add("sec-npmrc", "secret:npmrc_auth_token", "secret", [t], write_file(".npmrc", f"@acme:registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={t}\n"))
    elif form == 2:
        u, p = "deploybot", pw()
        b = base64.b64encode(f"{u}:{p}".encode()).decode()
        add("sec-docker-config-auth", "secret:docker_config_auth", "secret", [b], shell_out("cat ~/.docker/config.json", json.dumps({"auths": {"registry.acme-logistics.io": {"auth": b}}}, indent=1)), plain=[p])
    elif form == 3:
        t = gh_tok("ghp_") if R.random() < .5 else pw()
        add("sec-git-credential-url", "secret:git_credential_url", "secret", [t], shell_out("git remote -v", f"origin\thttps://ci-bot:{t}@github.com/{pick(ORGS)}/{pick(REPOS)}.git (fetch)"))
    elif form == 4:
        kid, sk = "AKIA" + rs(UP + "234567", 16), rs(B64, 40)
        add("sec-aws-credentials-file", "secret:aws_credentials_file", "secret", [kid, sk], shell_out("cat ~/.aws/credentials", f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {sk}\nregion = eu-west-1\n"))
    elif form == 5:
        p = pw()
        b = base64.b64encode(p.encode()).decode()
        add("sec-k8s-secret-data", "evasion:k8s_secret_base64_data", "secret", [b],
            shell_out("kubectl get secret db-creds -o yaml", f"apiVersion: v1\ndata:\n  password: {b}\n  username: {base64.b64encode(b'app').decode()}\nkind: Secret\nmetadata:\n  name: db-creds\n  namespace: prod\ntype: Opaque\n"), plain=[p])
    elif form == 6:
        t = "pypi-AgEIcHlwaS5vcmcCJD" + rs(B64U, 150)
        add("sec-pypirc", "secret:pypirc", "secret", [t], write_file("~/.pypirc", f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {t}\n"))
    else:
        p = pw()
        add("sec-mysql-cnf", "secret:my_cnf", "secret", [p], write_file("~/.my.cnf", f"[client]\nuser=root\npassword=\"{p}\"\nhost=db.internal\n"))

# ================================================================ more negatives
@fam("numeric_ids_json_numbers", 10, note="Shopify-style 13-digit order ids and 16-digit ids sent as JSON integers, drawn at random: about one in ten passes Luhn by chance, as in real traffic")
def _():
    ids = [pick(["4", "5", "6"]) + rs(DG, pick([12, 15])) for _ in range(3)]
    return llm(json.dumps({"orders": [{"id": int(x), "line_items": R.randint(1, 5)} for x in ids], "shop_id": R.randint(10**7, 10**8)}))


@fam("historical_dates_public_figures", 7, note="dates beside famous names in public facts are not a private person's date of birth")
def _():
    return llm(pick(["The Apollo 11 landing was on July 20, 1969; Neil Armstrong stepped out first.",
                     "Ada Lovelace published her notes in 1843; Charles Babbage designed the Analytical Engine.",
                     "Linus Torvalds announced Linux on 25 August 1991.",
                     "Tim Berners-Lee proposed the web on March 12, 1989 at CERN.",
                     "Release notes: v2.0 shipped 3 March 2025 (thanks to Maria Garcia for the patch)."]))


@fam("wireguard_public_keys", note="the [Peer] PublicKey is public")
def _():
    return write_file("docs/vpn.md", f"Add this peer:\n```\n[Peer]\nPublicKey = {base64.b64encode(bytes(R.getrandbits(8) for _ in range(32))).decode()}\nEndpoint = vpn.acme-logistics.io:51820\n```\n")


@fam("llm_token_fields")
def _():
    return {"method": "POST", "url": "https://api.anthropic.com/v1/messages", "body": {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Count tokens in: the password field must not be empty."}],
                                                                                        "metadata": {"user_id": uuid4()}}, "tool": "anthropic", "operation": "messages"}


@fam("i18n_password_strings")
def _():
    return write_file("locales/en.json", json.dumps({"login": {"password": "Password", "password_placeholder": "Enter your password", "forgot_password": "Forgot your password?",
                                                              "api_key_label": "API key", "token_expired": "Your session token has expired"}}, indent=2))


@fam("html_password_inputs")
def _():
    return write_file("templates/login.html", '<form method="post">\n  <input type="email" name="email" autocomplete="username">\n  <input type="password" name="password" placeholder="Password" minlength="12">\n  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">\n</form>\n')


@fam("postman_variables")
def _():
    return write_file("collection.json", json.dumps({"info": {"name": "API"}, "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}]},
                                                    "variable": [{"key": "baseUrl", "value": "https://api.kestrel.dev"}, {"key": "apiKey", "value": "{{API_KEY}}"}]}))


@fam("test_fixture_fake_creds", note="obviously fake values in unit tests (`test`, `dummy`, `fake-token`)")
def _():
    return write_file("tests/test_client.py", pick(["def test_auth():\n    c = Client(api_key='test', password='dummy')\n", "TOKEN = 'fake-token'\nPASSWORD = 'not-a-real-password'\n",
                                                    "mock_settings(api_key='sk_test_dummy', secret='xxx')\n"]))


for fname, n, note, fn in NEG[-8:]:
    for i in range(n):
        add(f"neg-{fname}-{i}", f"neg:{fname}", "negative", [], fn(), note=note)


# long OIDC id/access tokens (Azure AD / Keycloak style: many claims, RS256) as agents see them
for i in range(6):
    hdr = {"typ": "JWT", "alg": "RS256", "x5t": rs(B64U, 27), "kid": rs(B64U, 27)}
    now = 1764600000 + R.randint(0, 10**5)
    pl = {"aud": "api://" + uuid4(), "iss": f"https://sts.windows.net/{uuid4()}/", "iat": now, "nbf": now, "exp": now + 4200,
          "acr": "1", "aio": rs(B64U, 60), "amr": ["pwd", "mfa"], "appid": uuid4(), "appidacr": "0", "idp": "https://sts.windows.net/" + uuid4() + "/",
          "ipaddr": f"203.0.113.{R.randint(1, 254)}", "oid": uuid4(), "rh": rs(B64U, 40), "scp": "User.Read Files.ReadWrite.All Sites.Read.All",
          "sub": rs(B64U, 43), "tid": uuid4(), "uti": rs(B64U, 22), "ver": "1.0", "wids": [uuid4()]}
    t = ".".join([b64url_nopad(json.dumps(hdr, separators=(",", ":")).encode()), b64url_nopad(json.dumps(pl, separators=(",", ":")).encode()),
                  b64url_nopad(bytes(R.getrandbits(8) for _ in range(256)))])
    req = pick([lambda: msg_carrier()(f"Graph returns 403 with this token, can you decode it?\n{t}"),
                lambda: write_file("scripts/graph.sh", f"curl -H 'Authorization: Bearer {t}' https://graph.microsoft.com/v1.0/me\n"),
                lambda: {"method": "GET", "url": "https://graph.microsoft.com/v1.0/me/drive/root/children", "body": {}, "headers": {"Authorization": "Bearer " + t}, "tool": "http", "operation": "get"}])()
    add(f"sec-jwt-long-oidc-{i}", "secret:jwt_long_oidc", "secret", [t], req, note=f"{len(t)}-char RS256 access token, typical of Azure AD")


with open(args.out, "w") as f:
    for p in PROBES:
        f.write(json.dumps(p, ensure_ascii=False) + "\n")
from collections import Counter
c = Counter(p["label"] for p in PROBES)
ev = sum(1 for p in PROBES if p["family"].startswith("evasion:"))
fams = len({p["family"] for p in PROBES if p["label"] == "negative"})
print(f"wrote {len(PROBES)} probes to {args.out}: {dict(c)}; evasions {ev}; negative families {fams}")
