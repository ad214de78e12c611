//! The labelled corpus: tool-call bodies carrying secrets of every supported
//! format in varied positions, personal data, and hard negatives.
//!
//! Secrets are generated at test time from a fixed seed (so no file in the
//! repository holds anything shaped like a live credential), following each
//! format's published structure, checksums included. The hand-written hard
//! negatives live in `tests/corpus/hard_negatives.jsonl`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// What a corpus entry should be found to contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Secret,
    Pii,
    Negative,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub label: Label,
    /// The expected finding type (empty for negatives).
    pub ty: String,
    /// How the value is placed, for failure messages.
    pub position: &'static str,
    pub url: String,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

const AN: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &str = "0123456789abcdef";
const DIGITS: &str = "0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct Gen(fastrand::Rng);

impl Gen {
    fn s(&mut self, alphabet: &str, n: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| a[self.0.usize(..a.len())]).collect()
    }

    fn base62(mut n: u32) -> String {
        let a = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut out = Vec::new();
        while n > 0 {
            out.push(a[(n % 62) as usize]);
            n /= 62;
        }
        while out.len() < 6 {
            out.push(b'0');
        }
        out.reverse();
        String::from_utf8(out).unwrap()
    }

    fn crc_token(&mut self, prefix: &str) -> String {
        let body = self.s(AN, 30);
        let tail = Gen::base62(crc32fast::hash(body.as_bytes()));
        format!("{prefix}{body}{tail}")
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.s(HEX, 8),
            self.s(HEX, 4),
            self.s(HEX, 3),
            self.s(HEX, 3),
            self.s(HEX, 12)
        )
    }

    fn luhn_complete(&mut self, prefix: &str, len: usize) -> String {
        let mut digits: Vec<u32> = prefix.chars().map(|c| c.to_digit(10).unwrap()).collect();
        while digits.len() < len - 1 {
            digits.push(self.0.u32(0..10));
        }
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                if i % 2 == 0 {
                    let v = d * 2;
                    if v > 9 { v - 9 } else { v }
                } else {
                    d
                }
            })
            .sum();
        digits.push((10 - sum % 10) % 10);
        digits
            .iter()
            .map(|d| char::from_digit(*d, 10).unwrap())
            .collect()
    }

    fn iban(country: &str, bban: String) -> String {
        let rearranged = format!("{bban}{country}00");
        let mut rem = 0u32;
        for c in rearranged.chars() {
            let v = c.to_digit(36).unwrap();
            rem = if v >= 10 {
                (rem * 100 + v) % 97
            } else {
                (rem * 10 + v) % 97
            };
        }
        format!("{country}{:02}{bban}", 98 - rem)
    }
}

/// (type, value, key): a value and, for formats recognised by their key, the key.
fn secrets(g: &mut Gen) -> Vec<(&'static str, String, Option<&'static str>)> {
    let jwt = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{}","iat":1732400000}}"#, g.s(AN, 12))),
        g.s(URLSAFE, 43)
    );
    let pem_lines: Vec<String> = (0..6).map(|_| g.s(B64, 64)).collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        pem_lines.join("\n")
    );
    let openssh = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----",
        pem_lines[..3].join("\n")
    );
    vec![
        ("GITHUB_TOKEN", g.crc_token("ghp_"), None),
        ("GITHUB_TOKEN", g.crc_token("ghs_"), None),
        (
            "GITHUB_FINE_GRAINED_TOKEN",
            format!("github_pat_{}_{}", g.s(AN, 22), g.s(AN, 59)),
            None,
        ),
        ("GITLAB_TOKEN", format!("glpat-{}", g.s(URLSAFE, 20)), None),
        (
            "BITBUCKET_APP_PASSWORD",
            format!("ATBB{}", g.s(AN, 32)),
            None,
        ),
        (
            "SLACK_TOKEN",
            format!(
                "xoxb-{}-{}-{}",
                g.s(DIGITS, 12),
                g.s(DIGITS, 13),
                g.s(AN, 24)
            ),
            None,
        ),
        (
            "SLACK_APP_TOKEN",
            format!(
                "xapp-1-A{}-{}-{}",
                g.s(UPNUM, 10),
                g.s(DIGITS, 13),
                g.s(HEX, 64)
            ),
            None,
        ),
        (
            "SLACK_WEBHOOK",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                g.s(UPNUM, 8),
                g.s(UPNUM, 10),
                g.s(AN, 24)
            ),
            None,
        ),
        (
            "DISCORD_WEBHOOK",
            format!(
                "https://discord.com/api/webhooks/{}/{}",
                g.s(DIGITS, 18),
                g.s(URLSAFE, 68)
            ),
            None,
        ),
        (
            "DISCORD_BOT_TOKEN",
            format!(
                "Bot M{}.{}.{}",
                g.s(AN, 23),
                g.s(URLSAFE, 6),
                g.s(URLSAFE, 27)
            ),
            None,
        ),
        (
            "TELEGRAM_BOT_TOKEN",
            format!("{}:AA{}", g.s(DIGITS, 9), g.s(URLSAFE, 33)),
            None,
        ),
        (
            "MICROSOFT_TEAMS_WEBHOOK",
            format!(
                "https://acme.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
                g.uuid(),
                g.uuid(),
                g.s(HEX, 32),
                g.uuid()
            ),
            None,
        ),
        (
            "AWS_ACCESS_KEY_ID",
            format!("AKIA{}", g.s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
            None,
        ),
        (
            "AWS_ACCESS_KEY_ID",
            format!("ASIA{}", g.s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
            None,
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            format!("aws_secret_access_key={}", g.s(B64, 40)),
            None,
        ),
        (
            "AWS_SESSION_TOKEN",
            format!("aws_session_token={}", g.s(B64, 220)),
            None,
        ),
        ("GOOGLE_API_KEY", format!("AIza{}", g.s(URLSAFE, 35)), None),
        (
            "GOOGLE_OAUTH_CLIENT_SECRET",
            format!("GOCSPX-{}", g.s(URLSAFE, 28)),
            None,
        ),
        (
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            format!("ya29.{}", g.s(URLSAFE, 80)),
            None,
        ),
        (
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={}==;EndpointSuffix=core.windows.net",
                g.s(B64, 86)
            ),
            None,
        ),
        (
            "AZURE_SAS_TOKEN",
            format!(
                "https://acmestore.blob.core.windows.net/c/b.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig={}%3D",
                g.s(AN, 43)
            ),
            None,
        ),
        (
            "AZURE_CLIENT_SECRET",
            format!("{}{}Q~{}", g.s(AN, 3), g.s(DIGITS, 1), g.s(AN, 34)),
            None,
        ),
        (
            "DIGITALOCEAN_TOKEN",
            format!("dop_v1_{}", g.s(HEX, 64)),
            None,
        ),
        ("HEROKU_API_KEY", format!("HRKU-{}", g.s(URLSAFE, 60)), None),
        (
            "ALIBABA_ACCESS_KEY_ID",
            format!("LTAI{}", g.s(AN, 20)),
            None,
        ),
        (
            "IBM_CLOUD_API_KEY",
            format!("ibm_api_key={}", g.s(URLSAFE, 44)),
            None,
        ),
        (
            "CLOUDFLARE_API_TOKEN",
            format!("cloudflare_api_token={}", g.s(URLSAFE, 40)),
            None,
        ),
        (
            "OPENAI_API_KEY",
            format!("sk-proj-{}T3BlbkFJ{}", g.s(URLSAFE, 40), g.s(URLSAFE, 40)),
            None,
        ),
        (
            "ANTHROPIC_API_KEY",
            format!("sk-ant-api03-{}AA", g.s(URLSAFE, 93)),
            None,
        ),
        (
            "HUGGINGFACE_TOKEN",
            format!("hf_{}", g.s(LETTERS, 34)),
            None,
        ),
        ("GROQ_API_KEY", format!("gsk_{}", g.s(AN, 52)), None),
        ("REPLICATE_API_TOKEN", format!("r8_{}", g.s(AN, 37)), None),
        ("PERPLEXITY_API_KEY", format!("pplx-{}", g.s(AN, 48)), None),
        ("XAI_API_KEY", format!("xai-{}", g.s(AN, 80)), None),
        (
            "LANGSMITH_API_KEY",
            format!("lsv2_pt_{}_{}", g.s(HEX, 32), g.s(HEX, 10)),
            None,
        ),
        (
            "STRIPE_SECRET_KEY",
            format!("sk_live_{}", g.s(AN, 24)),
            None,
        ),
        (
            "STRIPE_SECRET_KEY",
            format!("rk_test_{}", g.s(AN, 32)),
            None,
        ),
        (
            "STRIPE_WEBHOOK_SECRET",
            format!("whsec_{}", g.s(AN, 32)),
            None,
        ),
        (
            "SQUARE_ACCESS_TOKEN",
            format!("sq0atp-{}", g.s(URLSAFE, 22)),
            None,
        ),
        (
            "SQUARE_OAUTH_SECRET",
            format!("sq0csp-{}", g.s(URLSAFE, 43)),
            None,
        ),
        (
            "PAYPAL_BRAINTREE_TOKEN",
            format!(
                "access_token$production${}${}",
                g.s("abcdefghijklmnopqrstuvwxyz0123456789", 16),
                g.s(HEX, 32)
            ),
            None,
        ),
        ("SHOPIFY_TOKEN", format!("shpat_{}", g.s(HEX, 32)), None),
        ("TWILIO_API_KEY", format!("SK{}", g.s(HEX, 32)), None),
        (
            "SENDGRID_API_KEY",
            format!("SG.{}.{}", g.s(URLSAFE, 22), g.s(URLSAFE, 43)),
            None,
        ),
        ("MAILGUN_API_KEY", format!("key-{}", g.s(HEX, 32)), None),
        ("MAILCHIMP_API_KEY", format!("{}-us14", g.s(HEX, 32)), None),
        (
            "POSTMARK_SERVER_TOKEN",
            format!("postmark_server_token={}", g.uuid()),
            None,
        ),
        (
            "DATADOG_API_KEY",
            format!("dd_api_key={}", g.s(HEX, 32)),
            None,
        ),
        ("NEW_RELIC_KEY", format!("NRAK-{}", g.s(UPNUM, 27)), None),
        ("SENTRY_TOKEN", format!("sntrys_{}", g.s(AN, 64)), None),
        (
            "GRAFANA_TOKEN",
            format!("glsa_{}_{}", g.s(AN, 32), g.s(HEX, 8)),
            None,
        ),
        (
            "HONEYCOMB_API_KEY",
            format!("hcaik_{}", g.s("abcdefghijklmnopqrstuvwxyz0123456789", 58)),
            None,
        ),
        (
            "DATABASE_URL",
            format!(
                "postgres://app_admin:{}@db.acme-corp.net:5432/orders",
                g.s(AN, 18)
            ),
            None,
        ),
        (
            "DATABASE_URL",
            format!(
                "mongodb+srv://svc:{}@cluster0.acme-corp.net/prod",
                g.s(AN, 16)
            ),
            None,
        ),
        ("DATABRICKS_TOKEN", format!("dapi{}", g.s(HEX, 32)), None),
        ("SUPABASE_TOKEN", format!("sbp_{}", g.s(HEX, 40)), None),
        (
            "PLANETSCALE_TOKEN",
            format!("pscale_tkn_{}", g.s(AN, 43)),
            None,
        ),
        (
            "AIRTABLE_TOKEN",
            format!("pat{}.{}", g.s(AN, 14), g.s(HEX, 64)),
            None,
        ),
        ("NPM_TOKEN", g.crc_token("npm_"), None),
        (
            "PYPI_TOKEN",
            format!("pypi-AgEIcHlwaS5vcmc{}", g.s(URLSAFE, 70)),
            None,
        ),
        (
            "RUBYGEMS_API_KEY",
            format!("rubygems_{}", g.s(HEX, 48)),
            None,
        ),
        (
            "NUGET_API_KEY",
            format!("oy2{}", g.s("abcdefghijklmnopqrstuvwxyz0123456789", 43)),
            None,
        ),
        (
            "DOCKERHUB_TOKEN",
            format!("dckr_pat_{}", g.s(URLSAFE, 27)),
            None,
        ),
        ("CRATES_IO_TOKEN", format!("cio{}", g.s(AN, 32)), None),
        (
            "HASHICORP_VAULT_TOKEN",
            format!("hvs.{}", g.s(URLSAFE, 90)),
            None,
        ),
        (
            "TERRAFORM_CLOUD_TOKEN",
            format!("{}.atlasv1.{}", g.s(AN, 14), g.s(URLSAFE, 67)),
            None,
        ),
        ("PULUMI_TOKEN", format!("pul-{}", g.s(HEX, 40)), None),
        ("DOPPLER_TOKEN", format!("dp.pt.{}", g.s(AN, 43)), None),
        (
            "POSTMAN_API_KEY",
            format!("PMAK-{}-{}", g.s(HEX, 24), g.s(HEX, 34)),
            None,
        ),
        ("LINEAR_API_KEY", format!("lin_api_{}", g.s(AN, 40)), None),
        (
            "NOTION_TOKEN",
            format!("ntn_{}{}", g.s(DIGITS, 11), g.s(AN, 35)),
            None,
        ),
        (
            "ATLASSIAN_API_TOKEN",
            format!("ATATT3{}", g.s(URLSAFE, 186)),
            None,
        ),
        ("FIGMA_TOKEN", format!("figd_{}", g.s(URLSAFE, 40)), None),
        (
            "CONTENTFUL_TOKEN",
            format!("CFPAT-{}", g.s(URLSAFE, 43)),
            None,
        ),
        (
            "MAPBOX_SECRET_TOKEN",
            format!("sk.eyJ{}.{}", g.s(URLSAFE, 60), g.s(URLSAFE, 22)),
            None,
        ),
        (
            "AGE_SECRET_KEY",
            format!(
                "AGE-SECRET-KEY-1{}",
                g.s("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
            ),
            None,
        ),
        (
            "ONEPASSWORD_SERVICE_TOKEN",
            format!("ops_eyJ{}", g.s(URLSAFE, 260)),
            None,
        ),
        (
            "FIREBASE_CLOUD_MESSAGING_KEY",
            format!("AAAA{}:{}", g.s(URLSAFE, 7), g.s(URLSAFE, 140)),
            None,
        ),
        ("JWT", jwt, None),
        ("PRIVATE_KEY", pem, None),
        ("PRIVATE_KEY", openssh, None),
        (
            "URL_CREDENTIALS",
            format!("https://deploy:{}@git.acme-corp.net/infra.git", g.s(AN, 20)),
            None,
        ),
        (
            "BASIC_AUTH",
            format!(
                "Authorization: Basic {}",
                STANDARD.encode(format!("svc-reporting:{}", g.s(AN, 16)))
            ),
            None,
        ),
        (
            "BEARER_TOKEN",
            format!("Authorization: Bearer {}", g.s(AN, 40)),
            None,
        ),
        (
            "PASSWORD",
            format!("Zq{}!k{}", g.s(AN, 6), g.s(DIGITS, 2)),
            Some("password"),
        ),
        (
            "PASSWORD",
            format!("Tr{}#3x", g.s(LETTERS, 7)),
            Some("db_passwd"),
        ),
        ("GENERIC_SECRET", g.s(AN, 32), Some("client_secret")),
        ("GENERIC_SECRET", g.s(AN, 40), Some("api_key")),
    ]
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn case(label: Label, ty: &str, position: &'static str, body: Value) -> Case {
    Case {
        label,
        ty: ty.to_owned(),
        position,
        url: "https://api.acme-corp.net/v1/tools/run".to_owned(),
        body,
        headers: Vec::new(),
    }
}

/// Every secret in six positions: nested value, free text, base64, JSON in
/// a string, URL-encoded, header; key-recognised ones under their key.
fn secret_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    for (ty, value, key) in secrets(g) {
        if let Some(key) = key {
            out.push(case(
                Label::Secret,
                ty,
                "under its key",
                json!({ "db": { key: value.clone() } }),
            ));
            out.push(case(
                Label::Secret,
                ty,
                "key=value in text",
                json!({ "script": format!("export {}={value}", key.to_uppercase()) }),
            ));
            out.push(case(
                Label::Secret,
                ty,
                "key in JSON text",
                json!({ "payload": json!({ key: value }).to_string() }),
            ));
            continue;
        }
        out.push(case(
            Label::Secret,
            ty,
            "nested value",
            json!({ "config": { "credentials": [{ "value": value.clone() }] } }),
        ));
        out.push(case(Label::Secret, ty, "free text", json!({ "messages": [{ "role": "user", "content": format!("use this to deploy: {value} thanks") }] })));
        out.push(case(
            Label::Secret,
            ty,
            "base64",
            json!({ "attachment": STANDARD.encode(format!("config:\n  key: {value}\n")) }),
        ));
        out.push(case(
            Label::Secret,
            ty,
            "JSON in a string",
            json!({ "payload": json!({ "inner": { "note": value.clone() } }).to_string() }),
        ));
        out.push(case(
            Label::Secret,
            ty,
            "URL-encoded",
            json!({ "query": percent_encode(&format!("k={value}")) }),
        ));
        let mut c = case(Label::Secret, ty, "header", json!({}));
        c.headers.push(("X-Tool-Arg".to_owned(), value));
        out.push(c);
    }
    out
}

fn pii_cases(g: &mut Gen) -> Vec<Case> {
    let mut values: Vec<(&str, String)> = Vec::new();
    for i in 0..6 {
        values.push((
            "EMAIL",
            format!(
                "{}.{}{i}@{}.com",
                g.s("abcdefghijklmnopqrstuvwxyz", 5),
                g.s("abcdefghijklmnopqrstuvwxyz", 7),
                g.s("abcdefghijklmnopqrstuvwxyz", 6)
            ),
        ));
    }
    values.push(("PHONE_NUMBER", format!("+1 415 555 {}", g.s(DIGITS, 4))));
    values.push(("PHONE_NUMBER", format!("+44 20 7946 {}", g.s(DIGITS, 4))));
    values.push(("PHONE_NUMBER", format!("+49 30 {}", g.s(DIGITS, 8))));
    values.push(("PHONE_NUMBER", format!("(212) 555-{}", g.s(DIGITS, 4))));
    values.push((
        "PHONE_NUMBER",
        format!("+33 1 42 68 {} {}", g.s(DIGITS, 2), g.s(DIGITS, 2)),
    ));
    values.push(("PHONE_NUMBER", format!("+14155550{}", g.s(DIGITS, 3))));
    for (prefix, len) in [
        ("4", 16),
        ("51", 16),
        ("55", 16),
        ("37", 15),
        ("6011", 16),
        ("2221", 16),
    ] {
        let n = g.luhn_complete(prefix, len);
        let spaced = if len == 16 {
            format!("{} {} {} {}", &n[..4], &n[4..8], &n[8..12], &n[12..])
        } else {
            format!("{}-{}-{}", &n[..4], &n[4..10], &n[10..])
        };
        values.push(("PAYMENT_CARD", n));
        values.push(("PAYMENT_CARD", spaced));
    }
    for _ in 0..6 {
        let area = loop {
            let a = g.0.u32(1..900);
            if a != 666 {
                break a;
            }
        };
        values.push((
            "US_SSN",
            format!("{area:03}-{:02}-{:04}", g.0.u32(1..100), g.0.u32(1..10000)),
        ));
    }
    for _ in 0..3 {
        let de = Gen::iban("DE", g.s(DIGITS, 18));
        values.push(("IBAN", de.clone()));
        let spaced: Vec<String> = de
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        values.push(("IBAN", spaced.join(" ")));
        values.push(("IBAN", Gen::iban("GB", format!("NWBK{}", g.s(DIGITS, 14)))));
    }
    values.push((
        "DATE_OF_BIRTH",
        format!(
            "DOB: 19{}-0{}-1{}",
            g.s(DIGITS, 2),
            g.0.u32(1..10),
            g.s(DIGITS, 1)
        ),
    ));
    values.push((
        "DATE_OF_BIRTH",
        format!("born on 12/0{}/198{}", g.0.u32(1..10), g.s(DIGITS, 1)),
    ));
    values.push((
        "DATE_OF_BIRTH",
        format!("date of birth: 14 March 19{}", g.s(DIGITS, 2)),
    ));
    values.push((
        "PASSPORT_NUMBER",
        format!("passport no. X{}", g.s(DIGITS, 8)),
    ));
    values.push((
        "PASSPORT_NUMBER",
        format!(
            "Passport number: {}{}",
            g.s("ABCDEFGHJKLMNPRSTUVWXYZ", 2),
            g.s(DIGITS, 7)
        ),
    ));

    let mut out = Vec::new();
    for (ty, v) in values {
        out.push(case(
            Label::Pii,
            ty,
            "free text",
            json!({ "text": format!("Customer record: {v}. Please follow up.") }),
        ));
        out.push(case(
            Label::Pii,
            ty,
            "nested value",
            json!({ "ticket": { "fields": [{ "name": "contact", "value": v.clone() }] } }),
        ));
        out.push(case(
            Label::Pii,
            ty,
            "array item",
            json!({ "notes": ["first", v] }),
        ));
    }
    out
}

/// Failed-checksum look-alikes, generated: they must not be findings.
fn generated_negatives(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    for _ in 0..15 {
        let mut bad = g.crc_token("ghp_");
        let last = bad.pop().unwrap();
        bad.push(if last == 'a' { 'b' } else { 'a' });
        out.push(case(
            Label::Negative,
            "",
            "bad GitHub CRC",
            json!({ "note": format!("token {bad}") }),
        ));
        let mut npm = g.crc_token("npm_");
        let last = npm.pop().unwrap();
        npm.push(if last == 'Z' { 'Y' } else { 'Z' });
        out.push(case(
            Label::Negative,
            "",
            "bad npm CRC",
            json!({ "note": npm }),
        ));
        let card = g.luhn_complete("4", 16);
        let last = card.chars().last().unwrap().to_digit(10).unwrap();
        let bad_card = format!("{}{}", &card[..15], (last + 1) % 10);
        out.push(case(
            Label::Negative,
            "",
            "bad Luhn",
            json!({ "order": { "ref": bad_card } }),
        ));
        let iban = Gen::iban("DE", g.s(DIGITS, 18));
        let check: u32 = iban[2..4].parse().unwrap();
        let bad_iban = format!("DE{:02}{}", (check + 1) % 100, &iban[4..]);
        out.push(case(
            Label::Negative,
            "",
            "bad IBAN",
            json!({ "ref": bad_iban }),
        ));
        out.push(case(
            Label::Negative,
            "",
            "uuid",
            json!({ "request_id": g.uuid(), "trace": g.uuid() }),
        ));
        out.push(case(
            Label::Negative,
            "",
            "sha256",
            json!({ "checksum": g.s(HEX, 64), "etag": format!("\"{}\"", g.s(HEX, 32)) }),
        ));
        out.push(case(Label::Negative, "", "git sha", json!({ "commit": g.s(HEX, 40), "message": format!("Merge {} into main", g.s(HEX, 7)) })));
        out.push(case(
            Label::Negative,
            "",
            "docker digest",
            json!({ "image": format!("ghcr.io/acme/api@sha256:{}", g.s(HEX, 64)) }),
        ));
        let png: Vec<u8> = (0..600).map(|_| g.0.u8(..)).collect();
        out.push(case(
            Label::Negative,
            "",
            "base64 image",
            json!({ "avatar": format!("data:image/png;base64,{}", STANDARD.encode(&png)) }),
        ));
        let blob: Vec<u8> = (0..300).map(|_| g.0.u8(..)).collect();
        out.push(case(
            Label::Negative,
            "",
            "base64 binary",
            json!({ "blob": STANDARD.encode(&blob) }),
        ));
    }
    out
}

fn file_negatives() -> Vec<Case> {
    include_str!("../corpus/hard_negatives.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad corpus line {l}: {e}"));
            let mut c = case(Label::Negative, "", "hard negative file", v["body"].clone());
            if let Some(url) = v["url"].as_str() {
                c.url = url.to_owned();
            }
            c
        })
        .collect()
}

/// The whole corpus, deterministic.
pub fn corpus() -> Vec<Case> {
    let mut g = Gen(fastrand::Rng::with_seed(0x1a7e_12e7));
    let mut all = secret_cases(&mut g);
    all.extend(pii_cases(&mut g));
    all.extend(generated_negatives(&mut g));
    all.extend(file_negatives());
    all
}
