//! The labelled corpus generator: tool-call bodies carrying secrets of every
//! supported format in every position and encoding, personal data of every
//! type in prose, CSV and records, and hard negatives in named families.
//!
//! Deterministic: the seed is fixed (`INTERVEN_CORPUS_SEED` tries another).
//! Nothing in the repository holds a value shaped like a live credential:
//! values are generated in the vendors' published formats (checksums
//! included) at test time. Every labelled value carries the JSON path and
//! exact byte span where it sits, so recall is scored per value.

use std::io::Write as _;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// The seed used unless `INTERVEN_CORPUS_SEED` says otherwise.
pub const DEFAULT_SEED: u64 = 0x1a7e_12e7;

/// What a labelled value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Pii,
}

/// One sensitive value placed in a case.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub kind: Kind,
    /// The expected finding type.
    pub ty: String,
    /// JSON pointer into the body, or `headers/<name>`.
    pub path: String,
    /// Byte span of the value (in the form it was sent) in the string at `path`.
    pub span: Range<usize>,
    /// The exact bytes at `span`.
    pub raw: String,
}

/// One tool call of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    /// Position or evasion form for positives, the family for negatives.
    pub group: String,
    pub negative: bool,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub values: Vec<Labelled>,
    /// For an encoded value: the same value sent in plain form.
    pub plain: Option<Box<Case>>,
}

impl Case {
    fn new(group: impl Into<String>, body: Value) -> Case {
        Case {
            group: group.into(),
            negative: false,
            url: "https://api.acme-corp.net/v1/tools/run".to_owned(),
            headers: Vec::new(),
            body,
            values: Vec::new(),
            plain: None,
        }
    }

    fn negative(family: &str, body: Value) -> Case {
        let mut c = Case::new(family, body);
        c.negative = true;
        c
    }

    fn header(mut self, name: &str, value: String) -> Case {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// The text at a path: a string leaf, a number's digits, or a header value.
    pub fn text_at(&self, path: &str) -> Option<String> {
        if let Some(name) = path.strip_prefix("headers/") {
            return self
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
        }
        match self.body.pointer(path)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Labels `raw`, which must occur in the text at `path` (the `nth` occurrence).
    fn label(mut self, kind: Kind, ty: &str, path: &str, raw: &str) -> Case {
        let text = self
            .text_at(path)
            .unwrap_or_else(|| panic!("generator: no text at {path} in {}", self.body));
        let taken: Vec<Range<usize>> = self
            .values
            .iter()
            .filter(|v| v.path == path)
            .map(|v| v.span.clone())
            .collect();
        let start = text
            .match_indices(raw)
            .map(|(i, _)| i)
            .find(|i| !taken.iter().any(|t| t.start < i + raw.len() && *i < t.end))
            .unwrap_or_else(|| panic!("generator: {raw:?} not in {text:?}"));
        self.values.push(Labelled {
            kind,
            ty: ty.to_owned(),
            path: path.to_owned(),
            span: start..start + raw.len(),
            raw: raw.to_owned(),
        });
        self
    }

    fn secret(self, ty: &str, path: &str, raw: &str) -> Case {
        self.label(Kind::Secret, ty, path, raw)
    }

    fn pii(self, ty: &str, path: &str, raw: &str) -> Case {
        self.label(Kind::Pii, ty, path, raw)
    }

    fn with_plain(mut self, plain: Case) -> Case {
        self.plain = Some(Box::new(plain));
        self
    }
}

const AN: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";
const DIGITS: &str = "0123456789";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Seeded random values in published formats.
pub struct Gen(fastrand::Rng);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(fastrand::Rng::with_seed(seed))
    }

    pub fn s(&mut self, alphabet: &str, n: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| a[self.0.usize(..a.len())]).collect()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.usize(..items.len())]
    }

    fn n(&mut self, r: Range<u32>) -> u32 {
        self.0.u32(r)
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
            "{}-{}-4{}-{}{}-{}",
            self.s(HEX, 8),
            self.s(HEX, 4),
            self.s(HEX, 3),
            self.s("89ab", 1),
            self.s(HEX, 3),
            self.s(HEX, 12)
        )
    }

    fn luhn_complete(&mut self, prefix: &str, len: usize) -> String {
        let mut digits: Vec<u32> = prefix.chars().map(|c| c.to_digit(10).unwrap()).collect();
        while digits.len() < len - 1 {
            digits.push(self.0.u32(0..10));
        }
        digits.push(luhn_digit(&digits));
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

    fn word(&mut self) -> &'static str {
        WORDS[self.0.usize(..WORDS.len())]
    }

    fn name(&mut self) -> (String, String) {
        (self.pick(FIRST).to_string(), self.pick(LAST).to_string())
    }

    fn password(&mut self) -> String {
        match self.n(0..5) {
            0 => format!(
                "{}{}!{}",
                self.s(LETTERS, 5),
                self.s(DIGITS, 2),
                self.s(AN, 4)
            ),
            1 => {
                let w = self.word();
                let mut w = w.to_owned();
                w[..1].make_ascii_uppercase();
                format!("{w}{}{}", self.s(DIGITS, 4), self.s("!#$%&*?@", 1))
            }
            2 => format!(
                "{}-{}-{}-{}",
                self.word(),
                self.word(),
                self.word(),
                self.s(DIGITS, 2)
            ),
            3 => self.s(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%^*",
                14,
            ),
            _ => format!(
                "{}{}{}",
                self.s(LOWER, 4),
                self.s(DIGITS, 3),
                self.s(LETTERS, 3)
            ),
        }
    }
}

fn luhn_digit(digits: &[u32]) -> u32 {
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
    (10 - sum % 10) % 10
}

fn luhn_ok(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    let (last, rest) = d.split_last().unwrap();
    luhn_digit(rest) == *last
}

const WORDS: &[&str] = &[
    "orange", "river", "castle", "pencil", "window", "garden", "silver", "rocket", "planet",
    "forest", "bridge", "candle", "marble", "yellow", "winter", "summer", "harbor", "meadow",
    "copper", "falcon", "lantern", "violet", "thunder", "quartz", "saddle", "timber",
];
const FIRST: &[&str] = &[
    "Jane", "Maria", "Ahmed", "Li", "Olga", "Carlos", "Priya", "Tom", "Fatima", "Kenji", "Sofia",
    "Lucas", "Amara", "Noah", "Elena", "Ravi",
];
const LAST: &[&str] = &[
    "Doe", "Lopez", "Khan", "Wei", "Petrova", "Silva", "Patel", "Becker", "Haddad", "Tanaka",
    "Rossi", "Martin", "Okafor", "Smith", "Novak", "Iyer",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A credential format: its type, a value, and for formats recognised only
/// by the name they are assigned to, that name.
struct Format {
    ty: &'static str,
    value: String,
    key: Option<&'static str>,
}

fn f(ty: &'static str, value: String) -> Format {
    Format {
        ty,
        value,
        key: None,
    }
}

fn fk(ty: &'static str, key: &'static str, value: String) -> Format {
    Format {
        ty,
        value,
        key: Some(key),
    }
}

fn formats(g: &mut Gen) -> Vec<Format> {
    let jwt = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","iat":{}}}"#,
            g.s(AN, 12),
            1_700_000_000 + g.n(0..50_000_000)
        )),
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
        f("GITHUB_TOKEN", g.crc_token("ghp_")),
        f("GITHUB_TOKEN", g.crc_token("ghs_")),
        f(
            "GITHUB_FINE_GRAINED_TOKEN",
            format!("github_pat_{}_{}", g.s(AN, 22), g.s(AN, 59)),
        ),
        f("GITLAB_TOKEN", format!("glpat-{}", g.s(URLSAFE, 20))),
        f("BITBUCKET_APP_PASSWORD", format!("ATBB{}", g.s(AN, 32))),
        f(
            "SLACK_TOKEN",
            format!(
                "xoxb-{}-{}-{}",
                g.s(DIGITS, 12),
                g.s(DIGITS, 13),
                g.s(AN, 24)
            ),
        ),
        f(
            "SLACK_TOKEN",
            format!(
                "xoxp-{}-{}-{}-{}",
                g.s(DIGITS, 12),
                g.s(DIGITS, 12),
                g.s(DIGITS, 13),
                g.s(HEX, 32)
            ),
        ),
        f(
            "SLACK_APP_TOKEN",
            format!(
                "xapp-1-A{}-{}-{}",
                g.s(UPNUM, 10),
                g.s(DIGITS, 13),
                g.s(HEX, 64)
            ),
        ),
        f(
            "SLACK_WEBHOOK",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                g.s(UPNUM, 8),
                g.s(UPNUM, 10),
                g.s(AN, 24)
            ),
        ),
        f(
            "DISCORD_WEBHOOK",
            format!(
                "https://discord.com/api/webhooks/{}/{}",
                g.s(DIGITS, 18),
                g.s(URLSAFE, 68)
            ),
        ),
        f(
            "DISCORD_BOT_TOKEN",
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(format!("1{}", g.s(DIGITS, 18))),
                g.s(URLSAFE, 6),
                g.s(URLSAFE, 38)
            ),
        ),
        f(
            "DISCORD_BOT_TOKEN",
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(format!("9{}", g.s(DIGITS, 17))),
                g.s(URLSAFE, 6),
                g.s(URLSAFE, 27)
            ),
        ),
        f(
            "TELEGRAM_BOT_TOKEN",
            format!("{}:AA{}", g.s(DIGITS, 10), g.s(URLSAFE, 33)),
        ),
        f(
            "MICROSOFT_TEAMS_WEBHOOK",
            format!(
                "https://acme.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
                g.uuid(),
                g.uuid(),
                g.s(HEX, 32),
                g.uuid()
            ),
        ),
        f("AWS_ACCESS_KEY_ID", format!("AKIA{}", g.s(B32, 16))),
        f("AWS_ACCESS_KEY_ID", format!("ASIA{}", g.s(B32, 16))),
        fk(
            "AWS_SECRET_ACCESS_KEY",
            "aws_secret_access_key",
            g.s(B64, 40),
        ),
        fk(
            "AWS_SESSION_TOKEN",
            "aws_session_token",
            format!("IQoJb3JpZ2luX2Vj{}", g.s(B64, 220)),
        ),
        f("GOOGLE_API_KEY", format!("AIza{}", g.s(URLSAFE, 35))),
        f(
            "GOOGLE_OAUTH_CLIENT_SECRET",
            format!("GOCSPX-{}", g.s(URLSAFE, 28)),
        ),
        f(
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            format!("ya29.{}", g.s(URLSAFE, 80)),
        ),
        f(
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={}==;EndpointSuffix=core.windows.net",
                g.s(B64, 86)
            ),
        ),
        f(
            "AZURE_SAS_TOKEN",
            format!(
                "https://acmestore.blob.core.windows.net/c/b.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig={}%3D",
                g.s(AN, 43)
            ),
        ),
        f(
            "AZURE_CLIENT_SECRET",
            format!("{}{}Q~{}", g.s(AN, 3), g.s(DIGITS, 1), g.s(AN, 34)),
        ),
        f("DIGITALOCEAN_TOKEN", format!("dop_v1_{}", g.s(HEX, 64))),
        f("HEROKU_API_KEY", format!("HRKU-{}", g.s(URLSAFE, 60))),
        f("ALIBABA_ACCESS_KEY_ID", format!("LTAI{}", g.s(AN, 20))),
        fk("IBM_CLOUD_API_KEY", "ibm_cloud_api_key", g.s(URLSAFE, 44)),
        fk(
            "CLOUDFLARE_API_TOKEN",
            "cloudflare_api_token",
            g.s(URLSAFE, 40),
        ),
        f(
            "OPENAI_API_KEY",
            format!("sk-proj-{}T3BlbkFJ{}", g.s(URLSAFE, 40), g.s(URLSAFE, 40)),
        ),
        f(
            "ANTHROPIC_API_KEY",
            format!("sk-ant-api03-{}AA", g.s(URLSAFE, 93)),
        ),
        f("HUGGINGFACE_TOKEN", format!("hf_{}", g.s(LETTERS, 34))),
        f("GROQ_API_KEY", format!("gsk_{}", g.s(AN, 52))),
        f("REPLICATE_API_TOKEN", format!("r8_{}", g.s(AN, 37))),
        f("PERPLEXITY_API_KEY", format!("pplx-{}", g.s(AN, 48))),
        f("XAI_API_KEY", format!("xai-{}", g.s(AN, 80))),
        f(
            "LANGSMITH_API_KEY",
            format!("lsv2_pt_{}_{}", g.s(HEX, 32), g.s(HEX, 10)),
        ),
        f("STRIPE_SECRET_KEY", format!("sk_live_{}", g.s(AN, 24))),
        f("STRIPE_SECRET_KEY", format!("rk_live_{}", g.s(AN, 99))),
        f("STRIPE_WEBHOOK_SECRET", format!("whsec_{}", g.s(AN, 32))),
        f(
            "SQUARE_ACCESS_TOKEN",
            format!("sq0atp-{}", g.s(URLSAFE, 22)),
        ),
        f(
            "SQUARE_OAUTH_SECRET",
            format!("sq0csp-{}", g.s(URLSAFE, 43)),
        ),
        f(
            "PAYPAL_BRAINTREE_TOKEN",
            format!(
                "access_token$production${}${}",
                g.s(LOWNUM, 16),
                g.s(HEX, 32)
            ),
        ),
        f("SHOPIFY_TOKEN", format!("shpat_{}", g.s(HEX, 32))),
        f("TWILIO_API_KEY", format!("SK{}", g.s(HEX, 32))),
        fk("TWILIO_AUTH_TOKEN", "twilio_auth_token", g.s(HEX, 32)),
        f(
            "SENDGRID_API_KEY",
            format!("SG.{}.{}", g.s(URLSAFE, 22), g.s(URLSAFE, 43)),
        ),
        f("MAILGUN_API_KEY", format!("key-{}", g.s(HEX, 32))),
        f(
            "MAILCHIMP_API_KEY",
            format!("{}-us{}", g.s(HEX, 32), g.n(1..22)),
        ),
        fk("POSTMARK_SERVER_TOKEN", "postmark_server_token", g.uuid()),
        fk("DATADOG_API_KEY", "dd_api_key", g.s(HEX, 32)),
        fk("DATADOG_APP_KEY", "dd_app_key", g.s(HEX, 40)),
        f("NEW_RELIC_KEY", format!("NRAK-{}", g.s(UPNUM, 27))),
        f("SENTRY_TOKEN", format!("sntrys_{}", g.s(AN, 64))),
        f(
            "GRAFANA_TOKEN",
            format!("glsa_{}_{}", g.s(AN, 32), g.s(HEX, 8)),
        ),
        f("HONEYCOMB_API_KEY", format!("hcaik_{}", g.s(LOWNUM, 58))),
        f(
            "DATABASE_URL",
            format!(
                "postgres://app_admin:{}@db.acme-corp.net:5432/orders",
                g.s(AN, 18)
            ),
        ),
        f(
            "DATABASE_URL",
            format!(
                "mongodb+srv://svc:{}@cluster0.acme-corp.net/prod",
                g.s(AN, 16)
            ),
        ),
        f("DATABRICKS_TOKEN", format!("dapi{}", g.s(HEX, 32))),
        f("SUPABASE_TOKEN", format!("sbp_{}", g.s(HEX, 40))),
        f("PLANETSCALE_TOKEN", format!("pscale_tkn_{}", g.s(AN, 43))),
        f(
            "AIRTABLE_TOKEN",
            format!("pat{}.{}", g.s(AN, 14), g.s(HEX, 64)),
        ),
        f("NPM_TOKEN", g.crc_token("npm_")),
        f(
            "PYPI_TOKEN",
            format!("pypi-AgEIcHlwaS5vcmc{}", g.s(URLSAFE, 70)),
        ),
        f("RUBYGEMS_API_KEY", format!("rubygems_{}", g.s(HEX, 48))),
        f("NUGET_API_KEY", format!("oy2{}", g.s(LOWNUM, 43))),
        f("DOCKERHUB_TOKEN", format!("dckr_pat_{}", g.s(URLSAFE, 27))),
        f("CRATES_IO_TOKEN", format!("cio{}", g.s(AN, 32))),
        f("HASHICORP_VAULT_TOKEN", format!("hvs.{}", g.s(URLSAFE, 90))),
        f(
            "TERRAFORM_CLOUD_TOKEN",
            format!("{}.atlasv1.{}", g.s(AN, 14), g.s(URLSAFE, 67)),
        ),
        f("PULUMI_TOKEN", format!("pul-{}", g.s(HEX, 40))),
        f("DOPPLER_TOKEN", format!("dp.pt.{}", g.s(AN, 43))),
        f(
            "POSTMAN_API_KEY",
            format!("PMAK-{}-{}", g.s(HEX, 24), g.s(HEX, 34)),
        ),
        f("LINEAR_API_KEY", format!("lin_api_{}", g.s(AN, 40))),
        f(
            "NOTION_TOKEN",
            format!("ntn_{}{}", g.s(DIGITS, 11), g.s(AN, 35)),
        ),
        f(
            "ATLASSIAN_API_TOKEN",
            format!("ATATT3{}", g.s(URLSAFE, 186)),
        ),
        f("FIGMA_TOKEN", format!("figd_{}", g.s(URLSAFE, 40))),
        f("CONTENTFUL_TOKEN", format!("CFPAT-{}", g.s(URLSAFE, 43))),
        f(
            "MAPBOX_SECRET_TOKEN",
            format!("sk.eyJ{}.{}", g.s(URLSAFE, 60), g.s(URLSAFE, 22)),
        ),
        f(
            "AGE_SECRET_KEY",
            format!(
                "AGE-SECRET-KEY-1{}",
                g.s("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
            ),
        ),
        f(
            "ONEPASSWORD_SERVICE_TOKEN",
            format!("ops_eyJ{}", g.s(URLSAFE, 260)),
        ),
        f(
            "FIREBASE_CLOUD_MESSAGING_KEY",
            format!("AAAA{}:{}", g.s(URLSAFE, 7), g.s(URLSAFE, 140)),
        ),
        f("JWT", jwt),
        f("PRIVATE_KEY", pem),
        f("PRIVATE_KEY", openssh),
        f(
            "URL_CREDENTIALS",
            format!("https://deploy:{}@git.acme-corp.net/infra.git", g.s(AN, 20)),
        ),
        f(
            "BASIC_AUTH",
            format!(
                "Basic {}",
                STANDARD.encode(format!("svc-reporting:{}", g.s(AN, 16)))
            ),
        ),
        f("BEARER_TOKEN", format!("Bearer {}", g.s(AN, 40))),
        fk("PASSWORD", "password", g.password()),
        fk("PASSWORD", "db_password", g.password()),
        fk("PASSWORD", "smtp_pass", g.password()),
        fk("GENERIC_SECRET", "client_secret", g.s(AN, 32)),
        fk("GENERIC_SECRET", "api_key", g.s(AN, 40)),
        fk("GENERIC_SECRET", "auth_token", g.s(URLSAFE, 36)),
        fk("GENERIC_SECRET", "secret_key", g.s(HEX, 48)),
    ]
}

const NEUTRAL_KEYS: &[&str] = &["value", "config", "setting", "note", "data", "arg"];

fn upper(k: &str) -> String {
    k.to_ascii_uppercase().replace('-', "_")
}

fn camel(k: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in k.chars() {
        if c == '_' || c == '-' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A value in the usual places a tool call carries text.
fn positions(g: &mut Gen, fmt: &Format, out: &mut Vec<Case>) {
    let ty = fmt.ty;
    let v = fmt.value.as_str();
    let k = fmt.key.unwrap_or_else(|| *g.pick(NEUTRAL_KEYS));
    let keyed = fmt.key.is_some();
    out.push(Case::new("json value", json!({"config": {k: v}})).secret(
        ty,
        &format!("/config/{k}"),
        v,
    ));
    let prose = if keyed {
        let human = k.replace('_', " ");
        match g.n(0..3) {
            0 => format!(
                "Hi team, the {human} for staging is {v} so please rotate it after the demo."
            ),
            1 => format!("FYI {human}: {v} (do not share)"),
            _ => format!("I set {k}={v} on the build box yesterday."),
        }
    } else {
        format!("use this to deploy: {v} thanks")
    };
    out.push(
        Case::new(
            "prose",
            json!({"messages": [{"role": "user", "content": prose}]}),
        )
        .secret(ty, "/messages/0/content", v),
    );
    if v.contains('\n') {
        // Multi-line values (PEM) go in the text positions only.
        out.push(
            Case::new(
                "file content",
                json!({"path": "id_rsa", "content": format!("{v}\n")}),
            )
            .secret(ty, "/content", v),
        );
        return;
    }
    out.push(Case::new("yaml", json!({"file": format!("service:\n  name: billing\n  {k}: {v}\n  region: eu-west-1\n")})).secret(ty, "/file", v));
    out.push(
        Case::new(
            "ini",
            json!({"file": format!("[default]\nregion = us-east-1\n{k} = {v}\n")}),
        )
        .secret(ty, "/file", v),
    );
    out.push(
        Case::new(
            ".env",
            json!({"content": format!("NODE_ENV=production\n{}={v}\nPORT=8080\n", upper(k))}),
        )
        .secret(ty, "/content", v),
    );
    let code = match g.n(0..3) {
        0 => format!("const {} = \"{v}\";\nclient.init({});", camel(k), camel(k)),
        1 => format!("{} = '{v}'\nclient = Client({}={})", upper(k), k, upper(k)),
        _ => format!("let {k} = \"{v}\".to_string();"),
    };
    out.push(Case::new("code", json!({"code": code})).secret(ty, "/code", v));
    out.push(
        Case::new(
            "key/value body",
            json!({"body": format!("user=svc&{k}={v}&region=eu")}),
        )
        .secret(ty, "/body", v),
    );
    out.push(Case::new("table", json!({"markdown": format!("| setting | value |\n|---|---|\n| region | eu-west-1 |\n| {k} | {v} |\n")})).secret(ty, "/markdown", v));
    if !v.contains("://") {
        let url = format!("https://hooks.acme-corp.net/notify?{k}={}", urlencode(v));
        let raw = urlencode(v);
        out.push(Case::new("url", json!({"callback": url})).secret(ty, "/callback", &raw));
    }
    out.push(
        Case::new(
            "xml",
            json!({"xml": format!("<config><region>eu</region><{k}>{v}</{k}></config>")}),
        )
        .secret(ty, "/xml", v),
    );
    out.push(
        Case::new(
            "command-line flag",
            json!({"argv": format!("deploy --{} {v} --region eu", k.replace('_', "-"))}),
        )
        .secret(ty, "/argv", v),
    );
    out.push(
        Case::new("name/value list", json!({"env": [{"name": "REGION", "value": "eu-west-1"}, {"name": upper(k), "value": v}]}))
            .secret(ty, "/env/1/value", v),
    );
    let hname = if keyed {
        format!("X-{}", camel(&format!("_{k}")))
    } else {
        "X-Tool-Arg".to_owned()
    };
    out.push(
        Case::new("header", json!({}))
            .header(&hname, v.to_owned())
            .secret(ty, &format!("headers/{hname}"), v),
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn insert_every(s: &str, every: usize, what: char) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % every == 0 {
            out.push(what);
        }
        out.push(c);
    }
    out
}

/// The same value hidden the ways an agent under prompt injection hides it.
/// Each case carries its plain twin: the decision must be the same.
fn evasions(g: &mut Gen, fmt: &Format, out: &mut Vec<Case>) {
    let ty = fmt.ty;
    let v = fmt.value.as_str();
    let k = fmt.key.unwrap_or("value");
    let line = format!("{k}: {v}");
    let plain = || {
        Case::new("plain", json!({"text": format!("config:\n  {line}\n")})).secret(ty, "/text", v)
    };
    let b = |s: &[u8]| STANDARD.encode(s);
    let mut push = |c: Case| out.push(c.with_plain(plain()));
    let text = format!("config:\n  {line}\n");
    let t = b(text.as_bytes());
    push(Case::new("base64", json!({"attachment": t.clone()})).secret(ty, "/attachment", &t));
    let t = b(&gzip(text.as_bytes()));
    push(Case::new("gzip+base64", json!({"blob": t.clone()})).secret(ty, "/blob", &t));
    let t = b(&zlib(text.as_bytes()));
    push(Case::new("zlib+base64", json!({"blob": t.clone()})).secret(ty, "/blob", &t));
    let t = b(b(text.as_bytes()).as_bytes());
    push(Case::new("base64 twice", json!({"blob": t.clone()})).secret(ty, "/blob", &t));
    // A value found by its name is hex-encoded with its name; others alone.
    let hv = if fmt.key.is_some() {
        hex(line.as_bytes())
    } else {
        hex(v.as_bytes())
    };
    let body = format!("payload=hex:{hv}");
    push(Case::new("hex", json!({"payload": body})).secret(ty, "/payload", &hv));
    let spaced: Vec<String> = text.bytes().map(|b| format!("{b:02X}")).collect();
    let spaced = spaced.join(" ");
    push(
        Case::new(
            "hex bytes spaced",
            json!({"dump": format!("xxd: {spaced}")}),
        )
        .secret(ty, "/dump", &spaced),
    );
    let zw = insert_every(
        v,
        5,
        *g.pick(&['\u{200B}', '\u{200C}', '\u{2060}', '\u{FEFF}']),
    );
    push(Case::new("zero-width", json!({"text": format!("{k}: {zw}")})).secret(ty, "/text", &zw));
    let inv = insert_every(
        v,
        7,
        *g.pick(&['\u{00AD}', '\u{202E}', '\u{200E}', '\u{2066}']),
    );
    push(Case::new("invisible", json!({"text": format!("{k}: {inv}")})).secret(ty, "/text", &inv));
    let fw = fullwidth(v);
    push(Case::new("fullwidth", json!({"text": format!("{k}: {fw}")})).secret(ty, "/text", &fw));
    let ent: String = v
        .chars()
        .enumerate()
        .map(|(i, c)| match i % 3 {
            0 => format!("&#{};", c as u32),
            1 => format!("&#x{:x};", c as u32),
            _ => c.to_string(),
        })
        .collect();
    push(
        Case::new(
            "html entities",
            json!({"html": format!("<p>{k}: {ent}</p>")}),
        )
        .secret(ty, "/html", &ent),
    );
    if !v.contains('\n') {
        let u: String = v.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        push(
            Case::new(
                "\\u escapes",
                json!({"code": format!("{} = \"{u}\"", camel(k))}),
            )
            .secret(ty, "/code", &u),
        );
        let x: String = v.chars().map(|c| format!("\\x{:02x}", c as u32)).collect();
        push(
            Case::new("\\x escapes", json!({"code": format!("{k} = b\"{x}\"")}))
                .secret(ty, "/code", &x),
        );
        let cut = v.len() / 2;
        let (a, c) = (&v[..cut], &v[cut..]);
        let concat = format!("const {} = \"{a}\" + \"{c}\";", camel(k));
        let raw = format!("{a}\" + \"{c}");
        push(Case::new("concatenation", json!({"code": concat})).secret(ty, "/code", &raw));
        // Variables joined where they are used (a vendor format: the names
        // carry no credential word).
        if fmt.key.is_none() && !v.contains(['"', '\'', '\\', '$', ' ', ';', '`']) {
            let (a, c) = (&v[..v.len() / 2], &v[v.len() / 2..]);
            let (text, raw) = match fmt.ty.len() % 3 {
                0 => (
                    format!("P1={a}\nP2={c}\nexport TOKEN=\"$P1$P2\"\n"),
                    format!("{a}\nP2={c}"),
                ),
                1 => (
                    format!("const p1 = '{a}';\nconst t = `${{p1}}{c}`;"),
                    a.to_owned(),
                ),
                _ => (
                    format!("p1 = \"{a}\"\np2 = \"{c}\"\nclient = Client(p1 + p2)"),
                    format!("{a}\"\np2 = \"{c}"),
                ),
            };
            push(Case::new("variables joined", json!({"code": text})).secret(ty, "/code", &raw));
        }
        // Three parts: Python's implicit concatenation, and a list joined.
        if v.len() >= 12 && !v.contains(['"', '\'', '\\']) {
            let (p, q) = (v.len() / 3, 2 * v.len() / 3);
            let (a, b, c) = (&v[..p], &v[p..q], &v[q..]);
            let implicit = format!("{} = \"{a}\" \"{b}\" \"{c}\"", upper(k));
            let raw = format!("{a}\" \"{b}\" \"{c}");
            push(
                Case::new("implicit concatenation", json!({"code": implicit}))
                    .secret(ty, "/code", &raw),
            );
            // A list's items carry no name: only a format known by its shape.
            if fmt.key.is_none() {
                let joined = format!("token = ''.join(['{a}', '{b}', '{c}'])");
                let raw = format!("{a}', '{b}', '{c}");
                push(Case::new("joined list", json!({"code": joined})).secret(ty, "/code", &raw));
            }
        }
        // A token split in two fields (a password without its name, a URL
        // or a header split at a separator, are two harmless strings).
        if fmt.key.is_none() && !v.contains(['=', ' ', ':']) {
            push(
                Case::new("split fields", json!({"parts": [a, c]}))
                    .secret(ty, "/parts/0", a)
                    .secret(ty, "/parts/1", c),
            );
        }
        let pe = urlencode(&format!("{k}={v}"));
        let raw = urlencode(v);
        push(Case::new("url-encoded", json!({"query": pe})).secret(ty, "/query", &raw));
        let inner = json!({"inner": {k: v}}).to_string();
        push(Case::new("json in a string", json!({"payload": inner})).secret(ty, "/payload", v));
    }
}

fn secret_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    for fmt in formats(g) {
        positions(g, &fmt, &mut out);
        evasions(g, &fmt, &mut out);
    }
    // Basic auth credentials in plain text.
    for i in 0..24 {
        let user = format!("{}{}", g.pick(&["admin", "deploy", "svc-ci", "ops"]), i);
        let pw = g.password();
        let (text, raw) = match i % 4 {
            0 => (
                format!("curl -u {user}:{pw} https://ci.acme-corp.net/api/json"),
                format!("{user}:{pw}"),
            ),
            1 => (
                format!("curl --user '{user}:{pw}' https://nexus.acme-corp.net/repo"),
                format!("{user}:{pw}"),
            ),
            2 => (
                format!("basic auth is {user}:{pw} for the staging proxy"),
                format!("{user}:{pw}"),
            ),
            _ => (
                format!(
                    "wget --http-user={user} --http-password={pw} https://files.acme-corp.net/x"
                ),
                pw.clone(),
            ),
        };
        out.push(
            Case::new("basic auth in text", json!({"command": text})).secret(
                if i % 4 == 3 { "PASSWORD" } else { "BASIC_AUTH" },
                "/command",
                &raw,
            ),
        );
    }
    out
}

fn date_forms(g: &mut Gen, year: u32) -> String {
    let (m, d) = (g.n(1..13), g.n(1..29));
    match g.n(0..6) {
        0 => format!("{year}-{m:02}-{d:02}"),
        1 => format!("{m:02}/{d:02}/{year}"),
        2 => format!("{} {d:02}, {year}", MONTHS[m as usize - 1]),
        3 => format!("{d} {} {year}", MONTHS[m as usize - 1]),
        4 => format!("{d}.{m:02}.{year}"),
        _ => format!("{} {d}, {year}", &MONTHS[m as usize - 1][..3]),
    }
}

/// Personal data of every type, in prose, CSV and structured records.
fn pii_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    let mut values: Vec<(&str, String)> = Vec::new();
    for i in 0..14 {
        let (fi, la) = g.name();
        let dom = format!(
            "{}.{}",
            g.s(LOWER, 6),
            g.pick(&["com", "io", "co.uk", "de", "org", "net"])
        );
        values.push((
            "EMAIL",
            match i % 4 {
                0 => format!("{}.{}@{dom}", fi.to_lowercase(), la.to_lowercase()),
                1 => format!("{}+{}@mail.{dom}", fi.to_lowercase(), g.word()),
                2 => format!("{}{}@{dom}", la.to_uppercase(), g.s(DIGITS, 2)),
                _ => format!("{}_{}@{dom}", &fi[..1].to_lowercase(), la.to_lowercase()),
            },
        ));
    }
    for i in 0..16 {
        values.push((
            "PHONE_NUMBER",
            match i % 8 {
                0 => format!("+1 415 555 {}", g.s(DIGITS, 4)),
                1 => format!("+44 20 7946 {}", g.s(DIGITS, 4)),
                2 => format!("+49 30 {}", g.s(DIGITS, 8)),
                3 => format!("(212) 555-{}", g.s(DIGITS, 4)),
                4 => format!("+33 1 42 68 {} {}", g.s(DIGITS, 2), g.s(DIGITS, 2)),
                5 => format!("+1415555{}", g.s(DIGITS, 4)),
                6 => format!("646-555-{}", g.s(DIGITS, 4)),
                _ => format!("+91 98{} {}", g.s(DIGITS, 3), g.s(DIGITS, 5)),
            },
        ));
    }
    for (prefix, len) in [
        ("4", 16),
        ("51", 16),
        ("55", 16),
        ("37", 15),
        ("6011", 16),
        ("2221", 16),
        ("35", 16),
        ("4", 19),
    ] {
        let n = g.luhn_complete(prefix, len);
        let spaced = if len == 16 {
            format!("{} {} {} {}", &n[..4], &n[4..8], &n[8..12], &n[12..])
        } else if len == 15 {
            format!("{}-{}-{}", &n[..4], &n[4..10], &n[10..])
        } else {
            n.clone()
        };
        let dashed = spaced.replace(' ', "-");
        values.push(("PAYMENT_CARD", n));
        values.push(("PAYMENT_CARD", spaced));
        values.push(("PAYMENT_CARD", dashed));
    }
    for i in 0..12 {
        let area = loop {
            let a = g.n(1..900);
            if a != 666 {
                break a;
            }
        };
        let (gr, se) = (g.n(1..100), g.n(1..10000));
        let sep = ["-", " ", ".", "-"][i % 4];
        values.push(("US_SSN", format!("{area:03}{sep}{gr:02}{sep}{se:04}")));
    }
    for i in 0..4 {
        let de = Gen::iban("DE", g.s(DIGITS, 18));
        let spaced: Vec<String> = de
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        values.push((
            "IBAN",
            if i % 2 == 0 {
                de.clone()
            } else {
                spaced.join(" ")
            },
        ));
        values.push(("IBAN", Gen::iban("GB", format!("NWBK{}", g.s(DIGITS, 14)))));
        values.push(("IBAN", Gen::iban("FR", g.s(DIGITS, 23))));
        values.push(("IBAN", Gen::iban("NL", format!("ABNA{}", g.s(DIGITS, 10)))));
    }
    let mut out_values = Vec::new();
    for (ty, v) in values {
        out_values.push((ty, v));
    }
    for (ty, v) in &out_values {
        let (fi, la) = g.name();
        out.push(Case::new("prose", json!({"text": format!("Customer {fi} {la} wrote in; their details: {v}. Please follow up.")})).pii(ty, "/text", v));
        out.push(
            Case::new(
                "record",
                json!({"ticket": {"fields": [{"name": "contact", "value": v}]}}),
            )
            .pii(ty, "/ticket/fields/0/value", v),
        );
        let col = match *ty {
            "EMAIL" => "email",
            "PHONE_NUMBER" => "phone",
            "PAYMENT_CARD" => "card_number",
            "US_SSN" => "ssn",
            _ => "iban",
        };
        let csv = format!("id,name,{col},city\n17,{fi} {la},{v},Lyon\n");
        out.push(Case::new("csv", json!({"csv": csv})).pii(ty, "/csv", v));
        out.push(Case::new("array item", json!({"notes": ["first", v]})).pii(ty, "/notes/1", v));
    }
    // Cards as JSON numbers and beside a lone digit (issue 15, item 21).
    for i in 0..12 {
        let n = g.luhn_complete(
            ["4", "51", "6011", "37"][i % 4],
            if i % 4 == 3 { 15 } else { 16 },
        );
        let num: Value = serde_json::from_str(&n).unwrap();
        out.push(
            Case::new("card as JSON number", json!({"payment": {"card": num}})).pii(
                "PAYMENT_CARD",
                "/payment/card",
                &n,
            ),
        );
        let fl: Value = serde_json::from_str(&format!("{n}.0")).unwrap();
        out.push(Case::new("card as JSON float", json!({"pan": fl})).pii(
            "PAYMENT_CARD",
            "/pan",
            &n,
        ));
        let t = if i % 2 == 0 {
            format!("qty 1 {n} ok")
        } else {
            format!("card {n} 7 exp 09/29")
        };
        out.push(
            Case::new("card beside a lone digit", json!({"text": t})).pii(
                "PAYMENT_CARD",
                "/text",
                &n,
            ),
        );
    }
    // Dates of birth: in context, written out beside names, in CSV columns and records.
    for i in 0..40 {
        let (fi, la) = g.name();
        let year = 1940 + g.n(0..66);
        let d = date_forms(g, year);
        let (group, body, path) = match i % 8 {
            0 => (
                "dob in context",
                json!({"text": format!("Patient {fi} {la}, DOB: {d}, allergic to penicillin.")}),
                "/text",
            ),
            1 => (
                "dob beside a name",
                json!({"text": format!("{fi} {la} ({d}) joined the programme in 2021.")}),
                "/text",
            ),
            2 => (
                "dob beside a name",
                json!({"text": format!("Name: {fi} {la}\nBirth date {d}\nMember since 2019")}),
                "/text",
            ),
            3 => (
                "dob csv column",
                json!({"csv": format!("name,date_of_birth,plan\n{fi} {la},{d},gold\n")}),
                "/csv",
            ),
            4 => (
                "dob record",
                json!({"person": {"name": format!("{fi} {la}"), "born": d}}),
                "/person/born",
            ),
            5 => (
                "dob record",
                json!({"person": {"full_name": format!("{fi} {la}"), "birthDate": d}}),
                "/person/birthDate",
            ),
            6 => (
                "dob beside a name",
                json!({"text": format!("{fi} {la}, born {d}, lives in Porto.")}),
                "/text",
            ),
            _ => (
                "dob beside a name",
                json!({"text": format!("- {fi} {la} — {d} — Porto")}),
                "/text",
            ),
        };
        let d2 = d.clone();
        out.push(Case::new(group, body).pii("DATE_OF_BIRTH", path, &d2));
    }
    for i in 0..16 {
        let p = match i % 4 {
            0 => format!("X{}", g.s(DIGITS, 8)),
            1 => format!("{}{}", g.s("ABCDEFGHJKLMNPRSTUVWXYZ", 2), g.s(DIGITS, 7)),
            2 => g.s(DIGITS, 9),
            _ => format!("C{}", g.s(UPNUM, 8)),
        };
        let (fi, la) = g.name();
        let (body, path) = match i % 3 {
            0 => (
                json!({"text": format!("Traveller {fi} {la}, passport no. {p}, seat 14C")}),
                "/text",
            ),
            1 => (
                json!({"traveller": {"name": format!("{fi} {la}"), "passport_number": p}}),
                "/traveller/passport_number",
            ),
            _ => (
                json!({"csv": format!("name,passport,nationality\n{fi} {la},{p},PT\n")}),
                "/csv",
            ),
        };
        out.push(Case::new("passport", body).pii("PASSPORT_NUMBER", path, &p));
    }
    // A record with several kinds at once.
    for _ in 0..20 {
        let (fi, la) = g.name();
        let email = format!(
            "{}.{}@{}.com",
            fi.to_lowercase(),
            la.to_lowercase(),
            g.s(LOWER, 5)
        );
        let phone = format!("+1 646 555 {}", g.s(DIGITS, 4));
        let y = 1950 + g.n(0..50);
        let d = date_forms(g, y);
        let text = format!("{fi} {la} <{email}>, tel {phone}, date of birth {d}");
        out.push(
            Case::new("mixed prose", json!({"text": text}))
                .pii("EMAIL", "/text", &email)
                .pii("PHONE_NUMBER", "/text", &phone)
                .pii("DATE_OF_BIRTH", "/text", &d),
        );
    }
    // PII evasions, each with its plain twin.
    for i in 0..40 {
        let (fi, la) = g.name();
        let email = format!(
            "{}.{}@{}.io",
            fi.to_lowercase(),
            la.to_lowercase(),
            g.s(LOWER, 6)
        );
        let card = g.luhn_complete("4", 16);
        let (group, raw, text, ty, plain_value) = match i % 8 {
            0 => {
                let (l, d) = email.split_once('@').unwrap();
                let (h, t) = d.rsplit_once('.').unwrap();
                let o = format!("{l} [at] {h} [dot] {t}");
                (
                    "obfuscated email",
                    o.clone(),
                    format!("write to {o} please"),
                    "EMAIL",
                    email.clone(),
                )
            }
            1 => {
                let (l, d) = email.split_once('@').unwrap();
                let (h, t) = d.rsplit_once('.').unwrap();
                let o = format!("{l}(at){h}(dot){t}");
                (
                    "obfuscated email",
                    o.clone(),
                    format!("contact: {o}"),
                    "EMAIL",
                    email.clone(),
                )
            }
            2 => {
                let s = format!(
                    "{:03}.{:02}.{:04}",
                    g.n(100..600),
                    g.n(10..99),
                    g.n(1000..9999)
                );
                (
                    "ssn with dots",
                    s.clone(),
                    format!("SSN {s} on file"),
                    "US_SSN",
                    s.replace('.', "-"),
                )
            }
            3 => {
                let f = fullwidth(&email);
                (
                    "fullwidth email",
                    f.clone(),
                    format!("mail {f}"),
                    "EMAIL",
                    email.clone(),
                )
            }
            4 => {
                let z = insert_every(&card, 4, '\u{200B}');
                (
                    "zero-width card",
                    z.clone(),
                    format!("card {z}"),
                    "PAYMENT_CARD",
                    card.clone(),
                )
            }
            5 => {
                let e: String = email
                    .chars()
                    .map(|c| {
                        if c == '@' {
                            "&#64;".to_owned()
                        } else if c == '.' {
                            "&period;".to_owned()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                (
                    "html entities email",
                    e.clone(),
                    format!("<a>{e}</a>"),
                    "EMAIL",
                    email.clone(),
                )
            }
            6 => {
                let h = hex(format!("email={email}").as_bytes());
                (
                    "hex email",
                    h.clone(),
                    format!("data {h}"),
                    "EMAIL",
                    email.clone(),
                )
            }
            _ => {
                let b = STANDARD.encode(gzip(format!("customer: {email}\n").as_bytes()));
                (
                    "gzip+base64 email",
                    b.clone(),
                    b.clone(),
                    "EMAIL",
                    email.clone(),
                )
            }
        };
        let plain = Case::new(
            "plain",
            json!({"text": format!("value {plain_value} here")}),
        )
        .pii(ty, "/text", &plain_value);
        out.push(
            Case::new(group, json!({"text": text}))
                .pii(ty, "/text", &raw)
                .with_plain(plain),
        );
    }
    out
}

/// Makes the `i`-th body of a negative family.
type Family = Box<dyn Fn(&mut Gen, usize) -> Value>;

/// Hard negatives: harmless values that look like something. Family name, case.
fn negative_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    let per = 50;
    let fams: Vec<(&str, Family)> = vec![
        (
            "uuid",
            Box::new(
                |g, _| json!({"request_id": g.uuid(), "trace": format!("run {} finished", g.uuid())}),
            ),
        ),
        (
            "ulid",
            Box::new(
                |g, _| json!({"id": format!("01{}", g.s("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24)), "event": format!("evt_01{}", g.s("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24))}),
            ),
        ),
        (
            "snowflake ids",
            Box::new(|g, i| {
                let id: u64 = 1_100_000_000_000_000_000 + g.0.u64(0..800_000_000_000_000_000);
                if i % 2 == 0 {
                    json!({"tweet_id": id, "channel_id": id.to_string()})
                } else {
                    json!({"text": format!("message {id} in channel {}", id + 12345)})
                }
            }),
        ),
        (
            "git sha",
            Box::new(
                |g, _| json!({"commit": g.s(HEX, 40), "message": format!("Merge {} into main", g.s(HEX, 7)), "parents": [g.s(HEX, 40)]}),
            ),
        ),
        (
            "sha256 digest",
            Box::new(
                |g, _| json!({"checksum": format!("sha256:{}", g.s(HEX, 64)), "sha256sum": format!("{}  release.tar.gz", g.s(HEX, 64))}),
            ),
        ),
        (
            "md5 and etag",
            Box::new(
                |g, _| json!({"etag": format!("\"{}\"", g.s(HEX, 32)), "md5": g.s(HEX, 32), "Content-MD5": STANDARD.encode(g.s(HEX, 16))}),
            ),
        ),
        (
            "docker digest",
            Box::new(|g, _| json!({"image": format!("ghcr.io/acme/api@sha256:{}", g.s(HEX, 64))})),
        ),
        (
            "pagination cursor",
            Box::new(|g, i| {
                let c = STANDARD.encode(format!(
                    "{{\"offset\":{},\"sort\":\"created_at\",\"id\":\"{}\"}}",
                    g.n(0..10000),
                    g.s(AN, 10)
                ));
                let key = [
                    "next_cursor",
                    "cursor",
                    "next_page_token",
                    "continuation_token",
                    "after",
                ][i % 5];
                json!({key: c, "has_more": true})
            }),
        ),
        (
            "hmac signature",
            Box::new(|g, i| match i % 3 {
                0 => {
                    json!({"headers": {"X-Hub-Signature-256": format!("sha256={}", g.s(HEX, 64))}})
                }
                1 => {
                    json!({"stripe_signature": format!("t={},v1={}", 1_700_000_000 + g.n(0..9_000_000), g.s(HEX, 64))})
                }
                _ => json!({"signature": STANDARD.encode(g.s(AN, 32)), "algorithm": "HMAC-SHA256"}),
            }),
        ),
        (
            "ssh public key",
            Box::new(|g, i| {
                let k = if i % 2 == 0 {
                    format!(
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} deploy@ci",
                        g.s(B64, 43)
                    )
                } else {
                    format!(
                        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ{} ops@bastion",
                        g.s(B64, 300)
                    )
                };
                json!({"authorized_keys": k})
            }),
        ),
        (
            "certificate and public key",
            Box::new(|g, i| {
                let lines: Vec<String> = (0..8).map(|_| g.s(B64, 64)).collect();
                let kind = [
                    "CERTIFICATE",
                    "PUBLIC KEY",
                    "RSA PUBLIC KEY",
                    "CERTIFICATE REQUEST",
                ][i % 4];
                json!({"pem": format!("-----BEGIN {kind}-----\nMIIB{}\n-----END {kind}-----\n", lines.join("\n"))})
            }),
        ),
        (
            "documented vendor examples",
            Box::new(|_, i| {
                let ex = [
                    ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
                    (
                        "aws_secret_access_key",
                        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    ),
                    (
                        "token",
                        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
                    ),
                    ("stripe_key", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
                    ("stripe_key", "sk_test_BQokikJOvBiI2HlWgH4olfQ2"),
                    (
                        "connection",
                        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
                    ),
                    (
                        "webhook",
                        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                    ),
                    ("publishable_key", "pk_test_TYooMQauvdEDq54NiTphI7jx"),
                ];
                let (k, v) = ex[i % ex.len()];
                json!({"docs": {"example": {k: v}}, "text": format!("From the docs: {k} = {v}")})
            }),
        ),
        (
            "placeholders",
            Box::new(|g, i| {
                let p = [
                    "<your-api-key>",
                    "YOUR_API_KEY",
                    "xxxxxxxxxxxxxxxxxxxx",
                    "changeme",
                    "<token>",
                    "REPLACE_ME",
                    "your-secret-here",
                    "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
                    "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                    "AKIAXXXXXXXXXXXXXXXX",
                    "TODO",
                    "none",
                    "null",
                    "...",
                    "<redacted>",
                ][i % 15];
                let k = [
                    "api_key",
                    "password",
                    "token",
                    "client_secret",
                    "auth_token",
                ][g.0.usize(..5)];
                json!({"config": {k: p}, "readme": format!("Set {k} to {p} before running.")})
            }),
        ),
        (
            "env references",
            Box::new(|g, i| {
                let name = [
                    "DB_PASSWORD",
                    "API_KEY",
                    "STRIPE_SECRET",
                    "GITHUB_TOKEN",
                    "AWS_SECRET_ACCESS_KEY",
                ][g.0.usize(..5)];
                let r = match i % 8 {
                    0 => format!("${{{name}}}"),
                    1 => format!("${name}"),
                    2 => format!("process.env.{name}"),
                    3 => format!("os.environ[\"{name}\"]"),
                    4 => format!("{{{{ secrets.{name} }}}}"),
                    5 => format!("%{name}%"),
                    6 => format!("env(\"{name}\")"),
                    _ => format!("$({name})"),
                };
                json!({"password": r.clone(), "code": format!("password = {r}\napi_key: {r}"), "yaml": format!("env:\n  - name: {name}\n    value: {r}\n")})
            }),
        ),
        (
            "secret manager references",
            Box::new(|g, i| {
                let r = match i % 5 {
                    0 => format!(
                        "arn:aws:secretsmanager:us-east-1:{}:secret:prod/db-{}",
                        g.s(DIGITS, 12),
                        g.s(AN, 6)
                    ),
                    1 => "vault:secret/data/prod/db#password".to_owned(),
                    2 => format!("op://Engineering/{}/credential", g.word()),
                    3 => format!(
                        "projects/{}/secrets/db-password/versions/latest",
                        g.n(100000..999999)
                    ),
                    _ => format!("https://{}.vault.azure.net/secrets/api-key", g.word()),
                };
                json!({"db_password": r.clone(), "api_key_ref": r})
            }),
        ),
        (
            "masking markers",
            Box::new(|g, i| {
                let t = match i % 6 {
                0 => "  # aws_db_instance.main will be updated in-place\n  ~ resource \"aws_db_instance\" \"main\" {\n      ~ password = (sensitive value)\n        username = \"admin\"\n    }".to_owned(),
                1 => format!("db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  {}\n  {}\n", g.s(DIGITS, 64), g.s(HEX, 64)),
                2 => "password: ********".to_owned(),
                3 => "api_key = \"••••••••••••\"".to_owned(),
                4 => "secret: [REDACTED]\ntoken: [hidden]".to_owned(),
                _ => "Password: (sensitive)\nclient_secret = <sensitive>".to_owned(),
            };
                json!({"output": t})
            }),
        ),
        (
            "digit groups",
            Box::new(|g, i| {
                let t = match i % 4 {
                    0 => format!(
                        "order {} {} {}",
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4)
                    ),
                    1 => format!(
                        "Invoice no. {}-{}-{}",
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4)
                    ),
                    2 => format!(
                        "tracking {} {} {} {}",
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 2)
                    ),
                    _ => format!(
                        "ref 0{} {} {}",
                        g.s(DIGITS, 3),
                        g.s(DIGITS, 4),
                        g.s(DIGITS, 4)
                    ),
                };
                json!({"text": t})
            }),
        ),
        (
            "luhn-failing card numbers",
            Box::new(|g, i| {
                let mut n = g.luhn_complete(
                    ["4", "51", "37", "6011"][i % 4],
                    if i % 4 == 2 { 15 } else { 16 },
                );
                let last = n.pop().unwrap().to_digit(10).unwrap();
                n.push(char::from_digit((last + 1 + g.n(0..8)) % 10, 10).unwrap());
                assert!(!luhn_ok(&n));
                let spaced = if n.len() == 16 {
                    format!("{} {} {} {}", &n[..4], &n[4..8], &n[8..12], &n[12..])
                } else {
                    n.clone()
                };
                json!({"ref": n, "text": format!("account {spaced}")})
            }),
        ),
        (
            "base64 image",
            Box::new(|g, _| {
                let png: Vec<u8> = [
                    &[0x89u8, b'P', b'N', b'G', 13, 10, 26, 10][..],
                    &(0..600).map(|_| g.0.u8(..)).collect::<Vec<u8>>(),
                ]
                .concat();
                json!({"avatar": format!("data:image/png;base64,{}", STANDARD.encode(&png)), "raw": STANDARD.encode(&png)})
            }),
        ),
        (
            "minified code",
            Box::new(|g, _| {
                let v = g.s(LETTERS, 2);
                json!({"js": format!("!function(e,t){{\"object\"==typeof exports?module.exports=t():e.{v}=t()}}(this,function(){{var n={{token:function(e){{return e.split(\".\")}},key:\"{}\",apiKey:void 0,secret:null}};return n}});var a=\"{}\";", g.s(LOWER, 12), g.s(LETTERS, 20))})
            }),
        ),
        (
            "storage listing",
            Box::new(|g, _| {
                let items: Vec<Value> = (0..4).map(|_| json!({"Key": format!("{}/secrets/{}-token-{}.json", g.word(), g.word(), g.n(2019..2026)), "Size": g.n(100..99999), "ETag": format!("\"{}\"", g.s(HEX, 32)), "StorageClass": "STANDARD"})).collect();
                json!({"ListBucketResult": {"Contents": items, "KeyCount": 4}})
            }),
        ),
        (
            "sentry dsn",
            Box::new(
                |g, _| json!({"dsn": format!("https://{}@o{}.ingest.sentry.io/{}", g.s(HEX, 32), g.s(DIGITS, 6), g.s(DIGITS, 7)), "SENTRY_DSN": format!("https://{}@sentry.acme-corp.net/{}", g.s(HEX, 32), g.n(1..99))}),
            ),
        ),
        (
            "placeholder connection strings",
            Box::new(|g, i| {
                let p = [
                    "PASSWORD",
                    "${DB_PASSWORD}",
                    "<password>",
                    "****",
                    "password",
                    "%s",
                    "{password}",
                    "$(PG_PASS)",
                    "YOUR_PASSWORD",
                    "xxxxxx",
                ][i % 10];
                let scheme = ["postgres", "mysql", "mongodb", "redis", "amqp"][g.0.usize(..5)];
                json!({"database_url": format!("{scheme}://app:{p}@db.internal:5432/app"), "docs": format!("Use {scheme}://user:{p}@localhost/db")})
            }),
        ),
        (
            "version strings",
            Box::new(
                |g, _| json!({"version": format!("{}.{}.{}-rc.{}+build.{}", g.n(0..30), g.n(0..100), g.n(0..300), g.n(1..9), g.s(HEX, 7)), "text": format!("upgraded from v{}.{}.{} to v{}.{}.{}", g.n(0..9), g.n(0..40), g.n(0..20), g.n(0..9), g.n(0..40), g.n(0..20))}),
            ),
        ),
        (
            "timestamps",
            Box::new(|g, _| {
                let ms = 1_600_000_000_000u64 + g.0.u64(0..200_000_000_000);
                json!({"created_at": format!("2024-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z", g.n(1..13), g.n(1..29), g.n(0..24), g.n(0..60), g.n(0..60), g.s(DIGITS, 6)), "ts": ms, "epoch": (ms / 1000).to_string(), "log": format!("{} {} INFO started", ms, ms + 17)})
            }),
        ),
        (
            "ip-like versions",
            Box::new(
                |g, _| json!({"build": format!("{}.{}.{}.{}", g.n(1..20), g.n(0..10), g.n(10000..30000), g.n(100..9999)), "text": format!("Windows 10.0.{}.{} and server 192.168.{}.{}", g.n(17000..22000), g.n(1..4000), g.n(0..255), g.n(1..255))}),
            ),
        ),
        (
            "password policy prose",
            Box::new(|g, i| {
                let t = [
                    "The password must be at least 12 characters and include a symbol.",
                    "Reset your password using the link we sent; the token expires in 24 hours.",
                    "Our API key rotation policy: keys older than 90 days are revoked.",
                    "Store the secret in Vault, never in the repository.",
                    "Password: required. Username: required.",
                    "Forgot password? Click here to receive a reset token by email.",
                    "The token limit for this model is 128000 tokens.",
                    "Enter your password below and press Continue.",
                ][i % 8];
                json!({"text": format!("{t} ({})", g.word())})
            }),
        ),
        (
            "code reading secrets",
            Box::new(|g, i| {
                let c = [
                    "password = getpass.getpass(\"Password: \")",
                    "api_key = os.getenv(\"OPENAI_API_KEY\")",
                    "const token = await secrets.get('github-token');",
                    "let secret = settings.SECRET_KEY.clone();",
                    "client_secret = config['oauth']['client_secret']",
                    "password: String,\n    token: Option<String>,",
                    "if (password.length < 12) throw new Error('weak password');",
                    "auth_token = request.headers.get('Authorization')",
                ][i % 8];
                json!({"diff": format!("+    {c}\n+    # {}", g.word())})
            }),
        ),
        (
            "kubernetes secret refs",
            Box::new(
                |g, _| json!({"manifest": format!("env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: {}-db\n        key: password\n  - name: API_TOKEN\n    valueFrom:\n      secretKeyRef: {{name: api, key: token}}\n", g.word())}),
            ),
        ),
        (
            "css and colors",
            Box::new(
                |g, _| json!({"css": format!(".btn{{color:#{};background:#{};border:1px solid #{}}}", g.s(HEX, 6), g.s(HEX, 6), g.s(HEX, 3))}),
            ),
        ),
        (
            "tracking numbers",
            Box::new(
                |g, i| json!({"tracking": if i % 2 == 0 { format!("1Z{}{}", g.s(UPNUM, 6), g.s(DIGITS, 10)) } else { g.s(DIGITS, 12) }}),
            ),
        ),
        (
            "isbn and product codes",
            Box::new(
                |g, _| json!({"isbn": format!("978-{}-{}-{}-{}", g.n(0..9), g.s(DIGITS, 2), g.s(DIGITS, 6), g.n(0..9)), "sku": format!("SKU-{}-{}", g.s(UPNUM, 4), g.s(DIGITS, 6)), "ean": g.s(DIGITS, 13)}),
            ),
        ),
        (
            "dates that are not birth dates",
            Box::new(|g, i| {
                let y = 2015 + g.n(0..11);
                let d = date_forms(g, y);
                let t = [
                    format!("Released on {d} by the platform team."),
                    format!("Invoice date: {d}"),
                    format!("Meeting with Ana Lima on {d} at 10:00"),
                    format!("expires {d}"),
                ][i % 4]
                    .clone();
                json!({"text": t, "created": d})
            }),
        ),
        (
            "iban look-alikes",
            Box::new(|g, _| {
                let iban = Gen::iban("DE", g.s(DIGITS, 18));
                let check: u32 = iban[2..4].parse().unwrap();
                json!({"ref": format!("DE{:02}{}", (check + 1 + g.n(0..90)) % 100, &iban[4..]), "code": format!("AB12 {} {}", g.s(UPNUM, 4), g.s(UPNUM, 4))})
            }),
        ),
        (
            "ssn look-alikes",
            Box::new(|g, i| {
                let t = match i % 4 {
                    0 => format!("000-{:02}-{:04}", g.n(1..99), g.n(1..9999)),
                    1 => format!("666-{:02}-{:04}", g.n(1..99), g.n(1..9999)),
                    2 => format!("9{:02}-{:02}-{:04}", g.n(0..99), g.n(1..99), g.n(1..9999)),
                    _ => format!("{:03}-00-{:04}", g.n(1..899), g.n(1..9999)),
                };
                json!({"part": t})
            }),
        ),
        (
            "trace and span ids",
            Box::new(
                |g, _| json!({"traceparent": format!("00-{}-{}-01", g.s(HEX, 32), g.s(HEX, 16)), "log": format!("trace_id={} span_id={} request_id=req_{}", g.s(HEX, 32), g.s(HEX, 16), g.s(AN, 24))}),
            ),
        ),
        (
            "cloud resource ids",
            Box::new(
                |g, _| json!({"instance": format!("i-0{}", g.s(HEX, 16)), "sg": format!("sg-0{}", g.s(HEX, 16)), "arn": format!("arn:aws:iam::{}:role/{}-deployer", g.s(DIGITS, 12), g.word()), "subscription": g.uuid()}),
            ),
        ),
        (
            "package integrity hashes",
            Box::new(
                |g, _| json!({"lock": format!("\"integrity\": \"sha512-{}==\",\n\"resolved\": \"https://registry.npmjs.org/{}/-/{}-1.2.3.tgz\"", g.s(B64, 86), g.word(), g.word())}),
            ),
        ),
        (
            "dotted non-jwt",
            Box::new(
                |g, _| json!({"file": format!("{}.{}.{}", g.s(LETTERS, 12), g.s(LETTERS, 10), g.s(LOWER, 3)), "host": format!("eyJ{}.cdn.acme-corp.net", g.s(LOWER, 8))}),
            ),
        ),
        (
            "email look-alikes",
            Box::new(|g, i| {
                let t = [
                    "logo@2x.png and icon@3x.webp".to_owned(),
                    format!("npm i @{}/{}", g.word(), g.word()),
                    format!("git@github.com:acme/{}.git", g.word()),
                    format!("docker pull {}@sha256:{}", g.word(), g.s(HEX, 64)),
                    format!("@{} mentioned you", g.word()),
                    "user@localhost".to_owned(),
                ][i % 6]
                    .clone();
                json!({"text": t})
            }),
        ),
        (
            "slugs and words",
            Box::new(
                |g, _| json!({"slug": format!("{}-{}-{}-{}", g.word(), g.word(), g.word(), g.s(HEX, 6)), "title": format!("{} {} {}", g.word(), g.word(), g.word())}),
            ),
        ),
        (
            "measurements and money",
            Box::new(
                |g, _| json!({"text": format!("Total: EUR {}.{:02}, weight {} kg, lat {}.{} lon -{}.{}", g.n(1000..999999), g.n(0..100), g.n(1..999), g.n(10..60), g.s(DIGITS, 6), g.n(1..120), g.s(DIGITS, 6))}),
            ),
        ),
        (
            "hex-encoded binary",
            Box::new(|g, _| {
                let bytes: Vec<u8> = (0..48).map(|_| g.0.u8(..)).collect();
                json!({"payload": hex(&bytes), "nonce": g.s(HEX, 24)})
            }),
        ),
        (
            "compressed harmless text",
            Box::new(|g, i| {
                let text = format!(
                    "{} {} report for week {}: all checks passed",
                    g.word(),
                    g.word(),
                    g.n(1..53)
                );
                let b = if i % 2 == 0 {
                    STANDARD.encode(gzip(text.as_bytes()))
                } else {
                    STANDARD.encode(zlib(text.as_bytes()))
                };
                json!({"blob": b})
            }),
        ),
        (
            "html with entities",
            Box::new(
                |g, _| json!({"html": format!("<p>Tom &amp; Jerry&#39;s {} &copy; 2024 &mdash; &#x2192; next</p>", g.word())}),
            ),
        ),
        (
            "code with escapes",
            Box::new(
                |g, _| json!({"code": format!("printf(\"\\x1b[31m{}\\x1b[0m\\n\"); let s = \"caf\\u00e9 {}\";", g.word(), g.word())}),
            ),
        ),
        (
            "nonces and csrf",
            Box::new(|g, i| {
                let k = [
                    "csrf_token",
                    "nonce",
                    "state",
                    "xsrf_token",
                    "idempotency_key",
                    "session_state",
                ][i % 6];
                json!({k: g.s(URLSAFE, 32)})
            }),
        ),
        (
            "public client ids",
            Box::new(|g, i| match i % 3 {
                0 => {
                    json!({"client_id": format!("{}-{}.apps.googleusercontent.com", g.s(DIGITS, 12), g.s(LOWNUM, 32))})
                }
                1 => json!({"publishable_key": format!("pk_live_{}", g.s(AN, 24))}),
                _ => json!({"app_id": format!("amzn1.application-oa2-client.{}", g.s(HEX, 32))}),
            }),
        ),
        (
            "high-entropy file names",
            Box::new(
                |g, _| json!({"path": format!("/var/cache/build/{}/{}.o", g.s(HEX, 2), g.s(HEX, 38)), "url": format!("https://cdn.acme-corp.net/assets/app.{}.js", g.s(HEX, 20))}),
            ),
        ),
        (
            "phone-like numbers",
            Box::new(
                |g, i| json!({"text": match i % 4 { 0 => format!("build 2024.{}.{}", g.s(DIGITS, 4), g.s(DIGITS, 4)), 1 => format!("port range 10000-{}", g.n(20000..65000)), 2 => format!("lot {}-{}-{}", g.s(DIGITS, 3), g.s(DIGITS, 3), g.s(DIGITS, 3)), _ => format!("pages {}-{} of {}", g.n(100..400), g.n(400..900), g.n(900..2000)) }}),
            ),
        ),
    ];
    for (family, make) in &fams {
        for i in 0..per {
            out.push(Case::negative(family, make(g, i)));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Personal data by context and separator (issue 10, second held-out round):
// separators people type (slashes, underscores, typographic dashes, middle
// dots, double spaces), birth dates in many languages and written forms,
// passports in many languages and places, national phone numbers under a
// phone word, octal and `\u{…}` escapes; and the hard negatives beside them
// (events near names, Luhn-valid ids and snowflakes, mixed separators,
// passport and phone words without one).

const MONTHS_PL: &[&str] = &[
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
];
const MONTHS_NL: &[&str] = &[
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_IT: &[&str] = &[
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];
const MONTHS_PT: &[&str] = &[
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];
const MONTHS_SV: &[&str] = &[
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_TR: &[&str] = &[
    "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim",
    "Kasım", "Aralık",
];
const MONTHS_RU: &[&str] = &[
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

fn ordinal(d: u32) -> String {
    let suffix = match (d % 10, d % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{d}{suffix}")
}

/// `\NNN` for every byte (C, Python).
fn octal_escaped(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:03o}")).collect()
}

/// `\u{XX}` for every character (Rust).
fn rust_escaped(s: &str) -> String {
    s.chars()
        .map(|c| format!("\\u{{{:x}}}", c as u32))
        .collect()
}

/// An SSN with a valid area, group and serial.
fn ssn_parts(g: &mut Gen) -> (u32, u32, u32) {
    let area = loop {
        let a = g.n(1..900);
        if a != 666 {
            break a;
        }
    };
    (area, g.n(1..100), g.n(1..10000))
}

/// A passport number in one country's published format.
fn passport_number(g: &mut Gen, i: usize) -> String {
    const UP: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match i % 8 {
        0 => format!("{}{}", g.s("123456789", 1), g.s(DIGITS, 8)), // US
        1 => format!(
            "C{}{}",
            g.s(DIGITS, 1),
            g.s("CFGHJKLMNPRTVWXYZ0123456789", 7)
        ), // DE
        2 => format!("{}{}{}", g.s(DIGITS, 2), g.s(UP, 2), g.s(DIGITS, 5)), // FR
        3 => format!("{}{}", g.s(UP, 3), g.s(DIGITS, 6)),          // ES
        4 => format!("{}{}", g.s(UP, 2), g.s(DIGITS, 7)),          // IT
        5 => format!("{}{}{}", g.s(UP, 2), g.s(UPNUM, 6), g.s(DIGITS, 1)), // NL
        6 => format!("{}{}", g.s(UP, 2), g.s(DIGITS, 6)),          // CA
        _ => format!("{}{}", g.s("ABCDEFGHJKLMNPRSTUVWXYZ", 1), g.s(DIGITS, 7)), // IN
    }
}

/// Personal data found by its context or written with unusual separators.
fn pii_context_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    let prose = |g: &mut Gen, v: &str| -> String {
        let (fi, la) = g.name();
        match g.n(0..3) {
            0 => format!("{fi} {la}: {v}"),
            1 => format!("please update {fi} {la}'s record with {v}"),
            _ => format!("Verified identity for {fi} {la}, number on file {v}."),
        }
    };
    // SSNs, cards and phones with the separators people type; the
    // typographic ones carry their plain twin.
    for i in 0..36 {
        let (ty, value, plain) = match i % 12 {
            0..=4 => {
                let (a, gr, se) = ssn_parts(g);
                let sep = ["/", "_", " \u{2013} ", " / ", "\u{2212}"][i % 12];
                (
                    "US_SSN",
                    format!("{a:03}{sep}{gr:02}{sep}{se:04}"),
                    format!("{a:03}-{gr:02}-{se:04}"),
                )
            }
            5..=8 => {
                let n = g.luhn_complete(["4", "51", "2221", "6011"][i % 4], 16);
                let sep = ["\u{2013}", "\u{2014}", "  ", " - "][i % 12 - 5];
                let groups = [&n[..4], &n[4..8], &n[8..12], &n[12..]];
                ("PAYMENT_CARD", groups.join(sep), groups.join("-"))
            }
            9 => {
                let n = g.luhn_complete(["34", "37"][i % 2], 15);
                let groups = [&n[..4], &n[4..10], &n[10..]];
                ("PAYMENT_CARD", groups.join("  "), groups.join(" "))
            }
            _ => {
                let (a, b, c) = (g.n(201..989), g.n(201..999), g.s(DIGITS, 4));
                if i % 12 == 10 {
                    (
                        "PHONE_NUMBER",
                        format!("({a}){b}\u{00B7}{c}"),
                        format!("({a}) {b}-{c}"),
                    )
                } else {
                    (
                        "PHONE_NUMBER",
                        format!("{a} / {b} / {c}"),
                        format!("{a}-{b}-{c}"),
                    )
                }
            }
        };
        let text = prose(g, &value);
        let plain_case =
            Case::new("plain", json!({"text": prose(g, &plain)})).pii(ty, "/text", &plain);
        out.push(
            Case::new("typed separators", json!({"text": text}))
                .pii(ty, "/text", &value)
                .with_plain(plain_case),
        );
    }
    // Birth dates in many languages and written forms, with their keyword.
    for i in 0..48 {
        let (fi, la) = g.name();
        let (y, m, d) = (1940 + g.n(0..66), g.n(1..13), g.n(1..29));
        let mi = m as usize - 1;
        let (date, text) = match i % 12 {
            0 => {
                let v = format!("{y}年{m}月{d}日");
                (v.clone(), format!("氏名: {fi} {la}\n生年月日: {v}"))
            }
            1 => {
                let v = format!("{y}年{m}月{d}日");
                (v.clone(), format!("姓名：{fi} {la}\n出生日期：{v}"))
            }
            2 => {
                let v = format!("{y}년 {m}월 {d}일");
                (v.clone(), format!("이름: {fi} {la}\n생년월일: {v}"))
            }
            3 => {
                let v = format!("{d} {} {y}", MONTHS_PL[mi]);
                (v.clone(), format!("Pan {fi} {la}, ur. {v} r. w Krakowie."))
            }
            4 => {
                let v = format!("{d} {} {y}", MONTHS_NL[mi]);
                (v.clone(), format!("{fi} {la}, geboren op {v} te Utrecht"))
            }
            5 => {
                let v = format!("{d} {} {y}", MONTHS_IT[mi]);
                (v.clone(), format!("{fi} {la}, nata il {v} a Bologna"))
            }
            6 => {
                let v = format!("{d} de {} de {y}", MONTHS_PT[mi]);
                (v.clone(), format!("{fi} {la}, nascida em {v}, Lisboa"))
            }
            7 => {
                let v = format!("{d} {} {y}", MONTHS_SV[mi]);
                (v.clone(), format!("{fi} {la}, född den {v} i Malmö"))
            }
            8 => {
                let v = format!("{d} {} {y}", MONTHS_TR[mi]);
                (v.clone(), format!("Ad: {fi} {la}\nDoğum tarihi: {v}"))
            }
            9 => {
                let v = format!("{d} {} {y}", MONTHS_RU[mi]);
                (v.clone(), format!("{fi} {la}, дата рождения: {v} г."))
            }
            10 => {
                let v = format!("{} of {} {y}", ordinal(d), MONTHS[mi]);
                (
                    v.clone(),
                    format!("{fi} {la} was born on the {v} in Leeds."),
                )
            }
            _ => {
                let v = format!("{} {}, {y}", MONTHS[mi], ordinal(d));
                (v.clone(), format!("{fi} {la} (born {v}) joined"))
            }
        };
        out.push(
            Case::new("birth date in many languages", json!({"text": text})).pii(
                "DATE_OF_BIRTH",
                "/text",
                &date,
            ),
        );
    }
    // Passports: many languages, prose, JSON text, CSV columns and keys.
    for i in 0..48 {
        let p = passport_number(g, i);
        let (fi, la) = g.name();
        let (body, path) = match i % 12 {
            0 => (
                json!({"text": format!("Traveller: {fi} {la}\nPassport No: {p}\nNationality: US")}),
                "/text",
            ),
            1 => (
                json!({"text": format!("Reisepassnummer: {p} ({fi} {la})")}),
                "/text",
            ),
            2 => (
                json!({"text": format!("{fi} {la}, numéro de passeport : {p}")}),
                "/text",
            ),
            3 => (
                json!({"text": format!("{fi} {la}, pasaporte n.º {p}")}),
                "/text",
            ),
            4 => (
                json!({"text": format!("{fi} {la}, passaporto numero {p}")}),
                "/text",
            ),
            5 => (
                json!({"text": format!("paspoortnummer {p} van {fi} {la}")}),
                "/text",
            ),
            6 => (
                json!({"text": format!("{fi} {la}'s passport number is {p}, expiring 2031.")}),
                "/text",
            ),
            7 => (
                json!({"text": format!("Copy of passport ({p}) attached for {fi}.")}),
                "/text",
            ),
            8 => (
                json!({"comment": format!("{{\"traveler\": {{\"name\": \"{fi} {la}\", \"passport_number\": \"{p}\"}}}}")}),
                "/comment",
            ),
            9 if i % 24 < 12 => (
                json!({"csv": format!("name,passport_no,country\n{fi} {la},{p},CA\n")}),
                "/csv",
            ),
            9 => (
                json!({"csv": format!("nom;prénom;passeport\n{la};{fi};{p}\n")}),
                "/csv",
            ),
            10 => (
                json!({"traveller": {"name": format!("{fi} {la}"), "pasaporte": p}}),
                "/traveller/pasaporte",
            ),
            _ => (
                json!({"guest": {"name": format!("{fi} {la}"), "Reisepass": p}}),
                "/guest/Reisepass",
            ),
        };
        out.push(Case::new("passport in many languages", body).pii("PASSPORT_NUMBER", path, &p));
    }
    // National numbers with a trunk 0 under a phone word, column or key.
    for i in 0..24 {
        let (fi, la) = g.name();
        let v = match i % 4 {
            0 => format!("030 {}", g.s(DIGITS, 8)),
            1 => format!("089/{}", g.s(DIGITS, 7)),
            2 => format!("040-{}", g.s(DIGITS, 8)),
            _ => format!("0{}{}", g.s("23456789", 1), g.s(DIGITS, 9)),
        };
        let (body, path) = match i % 6 {
            0 => (
                json!({"csv": format!("name,phone,city\n{fi} {la},{v},Berlin\n")}),
                "/csv",
            ),
            1 => {
                // A short local number: only the column name tells.
                let local = format!("{} {}", g.s("2345678", 3), g.s(DIGITS, 4));
                let csv = format!("Name\tHandy\tOrt\n{fi} {la}\t{local}\tBerlin\n");
                out.push(
                    Case::new("national phone under a phone word", json!({"csv": csv})).pii(
                        "PHONE_NUMBER",
                        "/csv",
                        &local,
                    ),
                );
                (
                    json!({"csv": format!("name,phone,city\n{fi} {la},{v},Berlin\n")}),
                    "/csv",
                )
            }
            2 => (
                json!({"comment": format!("{{\"contact\": {{\"name\": \"{fi} {la}\", \"phone\": \"{v}\"}}}}")}),
                "/comment",
            ),
            3 => (json!({"text": format!("{fi} {la}, Tel.: {v}")}), "/text"),
            4 => (
                json!({"contact": {"name": format!("{fi} {la}"), "mobile": v}}),
                "/contact/mobile",
            ),
            _ => (
                json!({"kunde": {"name": format!("{fi} {la}"), "Telefon": v}}),
                "/kunde/Telefon",
            ),
        };
        out.push(Case::new("national phone under a phone word", body).pii(
            "PHONE_NUMBER",
            path,
            &v,
        ));
    }
    // Octal (C, Python) and `\u{…}` (Rust) escapes inside code strings.
    for i in 0..16 {
        let (fi, la) = g.name();
        let (ty, plain) = if i % 2 == 0 {
            let (a, gr, se) = ssn_parts(g);
            ("US_SSN", format!("{a:03}-{gr:02}-{se:04}"))
        } else {
            (
                "EMAIL",
                format!(
                    "{}.{}@{}.io",
                    fi.to_lowercase(),
                    la.to_lowercase(),
                    g.s(LOWER, 6)
                ),
            )
        };
        let escaped = if i % 4 < 2 {
            octal_escaped(&plain)
        } else {
            rust_escaped(&plain)
        };
        let code = if i % 4 < 2 {
            format!("static const char *K = \"{escaped}\";\n")
        } else {
            format!("const K: &str = \"{escaped}\";\n")
        };
        let plain_case = Case::new("plain", json!({"text": format!("value {plain} here")}))
            .pii(ty, "/text", &plain);
        out.push(
            Case::new(
                "octal and brace escapes",
                json!({"path": "src/k.c", "content": code}),
            )
            .pii(ty, "/content", &escaped)
            .with_plain(plain_case),
        );
    }
    out
}

/// Hard negatives for the section above, 50 cases per family.
fn pii_context_negatives(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    let fams: Vec<(&str, Family)> = vec![
        (
            "events beside names",
            Box::new(|g, i| {
                let (fi, la) = g.name();
                let year = 1950 + g.n(0..60);
                let d = date_forms(g, year);
                let w = g.word();
                json!({"text": match i % 4 {
                    0 => format!("{fi} {la} announced {w} on {d}."),
                    1 => format!("{fi} {la} joined on {d}; next review in spring."),
                    2 => format!("On {d}, {fi} {la} released version 2 of {w}."),
                    _ => format!("The {w} launch was on {d}; {fi} {la} gave the keynote."),
                }})
            }),
        ),
        (
            "luhn-valid ids",
            Box::new(|g, i| {
                let prefix = *g.pick(&["4", "51", "55", "6011"]);
                let n = g.luhn_complete(prefix, [13, 16][i % 2]);
                let num: Value = serde_json::from_str(&n).unwrap();
                match i % 5 {
                    0 => json!({"orders": [{"id": num, "line_items": 3}], "shop_id": 56317940}),
                    1 => {
                        json!({"text": format!("{{\"orders\": [{{\"id\": {n}, \"line_items\": 4}}]}}")})
                    }
                    2 if i % 10 == 2 => json!({"order_id": n}),
                    2 => json!({"csv": format!("id,name,total\n{n},{},12.50\n", g.word())}),
                    3 => {
                        json!({"text": format!("order {n} shipped, tracking {}", g.s(DIGITS, 12))})
                    }
                    _ => json!({"events": [{"seq": num, "timestamp": 1700000000}]}),
                }
            }),
        ),
        (
            "luhn-valid snowflakes",
            Box::new(|g, i| {
                let prefix = *g.pick(&["4", "5", "6"]);
                let a = g.luhn_complete(prefix, 18);
                let b = g.luhn_complete("1", 19);
                json!({"content": match i % 3 {
                    0 => format!("Pinned message {a} from channel {b}"),
                    1 => format!("<@{a}> replied in <#{b}>"),
                    _ => format!("see {a} and {b}"),
                }})
            }),
        ),
        (
            "mixed or path separators",
            Box::new(|g, i| {
                let (a, gr, se) = ssn_parts(g);
                let n = g.luhn_complete("4", 16);
                json!({"text": match i % 4 {
                    0 => format!("ref {a:03}/{gr:02}-{se:04} filed"),
                    1 => format!("GET /v1/{a:03}/{gr:02}/{se:04}/items"),
                    2 => format!("ids {}-{} {}.{}", &n[..4], &n[4..8], &n[8..12], &n[12..]),
                    _ => format!("ratio {}/{}/{}", g.n(200..999), g.n(200..999), g.s(DIGITS, 4)),
                }})
            }),
        ),
        (
            "passport and phone words without one",
            Box::new(|g, i| {
                json!({"text": match i % 6 {
                    0 => "Passport photo requirements for 2024 applications".to_owned(),
                    1 => "renew your passport at GOV.UK before travel".to_owned(),
                    2 => format!("Passport expires {}-04-01", 2026 + g.n(0..9)),
                    3 => format!("phone case order 0{} shipped", g.s(DIGITS, 9)),
                    4 => format!("mobile build 0{} passed", g.s(DIGITS, 9)),
                    _ => format!("Reisepass beantragen: {} Wochen", g.n(2..9)),
                }})
            }),
        ),
    ];
    for (family, make) in &fams {
        for i in 0..50 {
            out.push(Case::negative(family, make(g, i)));
        }
    }
    out
}

/// The whole corpus for a seed.
pub fn corpus_with_seed(seed: u64) -> Vec<Case> {
    let mut g = Gen::new(seed);
    let mut all = secret_cases(&mut g);
    all.extend(pii_cases(&mut g));
    all.extend(negative_cases(&mut g));
    all.extend(syntax_cases(&mut g));
    all.extend(pii_context_cases(&mut g));
    all.extend(pii_context_negatives(&mut g));
    all
}

/// The seed from `INTERVEN_CORPUS_SEED` (decimal or `0x` hex), or the default.
pub fn seed() -> u64 {
    std::env::var("INTERVEN_CORPUS_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(DEFAULT_SEED)
}

/// Credential syntaxes and hard negatives found by the second held-out
/// evaluation (`tests/redteam2/`): session cookies, WireGuard and registry
/// logins, typed constants, SQL, credentials passed to calls, the value
/// written before its name; and `.env` templates, `change-me` defaults,
/// Firebase web configs, URL placeholders, YAML tags, role mailboxes.
fn syntax_cases(g: &mut Gen) -> Vec<Case> {
    let mut out = Vec::new();
    let cookie_names = [
        "sessionid",
        "JSESSIONID",
        "laravel_session",
        "__Secure-next-auth.session-token",
        "PHPSESSID",
        "_shop_session",
        "ASP.NET_SessionId",
        "connect.sid",
    ];
    for i in 0..32 {
        let name = cookie_names[i % cookie_names.len()];
        let v = match name {
            "connect.sid" => format!("s%3A{}.{}", g.s(URLSAFE, 32), g.s(URLSAFE, 43)),
            "JSESSIONID" => g.s("0123456789ABCDEF", 32),
            "laravel_session" => format!("{}%3D", g.s(AN, 180)),
            _ => g.s(LOWNUM, 32),
        };
        let text = match i % 4 {
            0 => format!("HTTP/1.1 200 OK\nSet-Cookie: {name}={v}; Path=/; HttpOnly; Secure\n"),
            1 => format!("repro: curl -b '{name}={v}' https://app.acme-corp.net/admin"),
            2 => format!("Cookie: theme=dark; {name}={v}; lang=en"),
            _ => format!("document.cookie = \"{name}={v}; path=/\";"),
        };
        out.push(Case::new("session cookie", json!({"output": text})).secret(
            "SESSION_COOKIE",
            "/output",
            &v,
        ));
    }
    for i in 0..12 {
        let key = STANDARD.encode(g.s(AN, 32).as_bytes());
        let (field, text) = if i % 2 == 0 {
            (
                "PrivateKey",
                format!("[Interface]\nAddress = 10.8.0.2/24\nPrivateKey = {key}\nDNS = 1.1.1.1\n"),
            )
        } else {
            (
                "PresharedKey",
                format!(
                    "[Peer]\nPublicKey = {}\nPresharedKey = {key}\n",
                    STANDARD.encode(g.s(AN, 32))
                ),
            )
        };
        let _ = field;
        out.push(
            Case::new(
                "wireguard config",
                json!({"path": "/etc/wireguard/wg0.conf", "content": text}),
            )
            .secret("WIREGUARD_PRIVATE_KEY", "/content", &key),
        );
    }
    for i in 0..12 {
        let auth = STANDARD.encode(format!("deploy{i}:{}", g.password()));
        let text = format!(
            "{{\n \"auths\": {{\n  \"registry.acme-corp.net\": {{\n   \"auth\": \"{auth}\"\n  }}\n }}\n}}"
        );
        out.push(
            Case::new(
                "docker config.json",
                json!({"command": "cat ~/.docker/config.json", "stdout": text}),
            )
            .secret("DOCKER_REGISTRY_AUTH", "/stdout", &auth),
        );
    }
    for i in 0..16 {
        let (ty, v) = match i % 2 {
            0 => ("JFROG_TOKEN", format!("AKCp{}", g.s(AN, 69))),
            _ => ("NEW_RELIC_KEY", format!("{}NRAL", g.s(HEX, 36))),
        };
        let text = match i % 4 {
            0 | 1 => format!("pub const SERVICE_KEY: &str = \"{v}\";"),
            _ => format!("private static final String LICENSE = \"{v}\";"),
        };
        out.push(
            Case::new("vendor key in code", json!({"content": text})).secret(ty, "/content", &v),
        );
    }
    // A credential by its name, in the syntaxes code and chat really use.
    for i in 0..60 {
        let token = g.s(AN, 32);
        let pw = match i % 3 {
            0 => format!("!{}", g.password()),
            1 => format!("${}", g.s(AN, 14)),
            _ => g.password(),
        };
        let (ty, text, raw) = match i % 15 {
            0 => (
                "GENERIC_SECRET",
                format!("pub const SERVICE_API_KEY: &str = \"{token}\";"),
                token,
            ),
            1 => (
                "GENERIC_SECRET",
                format!("const apiToken: string = \"{token}\";"),
                token,
            ),
            2 => (
                "GENERIC_SECRET",
                format!("API_TOKEN: str = \"{token}\""),
                token,
            ),
            3 => (
                "GENERIC_SECRET",
                format!("var apiToken string = \"{token}\""),
                token,
            ),
            4 => (
                "GENERIC_SECRET",
                format!("SERVICE_TOKEN ?= {token}\n\ndeploy:\n\t./deploy.sh"),
                token,
            ),
            5 => (
                "PASSWORD",
                format!("CREATE USER 'report'@'%' IDENTIFIED BY '{pw}';"),
                pw,
            ),
            6 => (
                "PASSWORD",
                format!("ALTER ROLE analytics WITH LOGIN PASSWORD '{pw}';"),
                pw,
            ),
            7 => (
                "PASSWORD",
                format!("let opts = PgConnectOptions::new().username(\"app\").password(\"{pw}\");"),
                pw,
            ),
            8 => (
                "PASSWORD",
                format!("var cred = new NetworkCredential(\"svc\", \"{pw}\");"),
                pw,
            ),
            9 => (
                "PASSWORD",
                format!("resp = requests.get(URL, auth=('jenkins', '{pw}'))"),
                pw,
            ),
            10 => (
                "PASSWORD",
                format!(
                    "$ redis-cli -h cache.internal -a {} PING",
                    pw.trim_start_matches(['!', '$'])
                ),
                pw.trim_start_matches(['!', '$']).to_owned(),
            ),
            11 => (
                "GENERIC_SECRET",
                format!("Use `{token}` as BILLING_API_TOKEN until we have Vault set up."),
                token,
            ),
            12 => (
                "PASSWORD",
                format!(
                    "The admin password for the staging Grafana is {}x7Q (don't share).",
                    g.s(AN, 10)
                ),
                String::new(),
            ),
            13 => (
                "PASSWORD",
                format!("Das Passwort für den Testserver lautet: {}x7Q", g.s(AN, 12)),
                String::new(),
            ),
            _ => (
                "GENERIC_SECRET",
                format!(
                    "Here is the azure storage key for staging: {}== please rotate it.",
                    g.s(B64, 86)
                ),
                String::new(),
            ),
        };
        // The prose forms end their value with a fixed tail: label what is there.
        let raw = if raw.is_empty() {
            let start = text
                .rfind(": ")
                .map(|p| p + 2)
                .or_else(|| text.find(" is ").map(|p| p + 4))
                .unwrap_or(0);
            text[start..]
                .split([' ', '\n'])
                .next()
                .unwrap_or("")
                .to_owned()
        } else {
            raw
        };
        out.push(
            Case::new("credential syntax", json!({"content": text})).secret(ty, "/content", &raw),
        );
    }
    // An identity provider's JWT runs to kilobytes.
    for i in 0..8 {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
        let groups: Vec<String> = (0..40).map(|_| g.uuid()).collect();
        let claims =
            json!({"sub": g.uuid(), "iss": "https://login.acme-corp.net/", "groups": groups});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let jwt = format!("{header}.{payload}.{}", g.s(URLSAFE, 342));
        let text = if i % 2 == 0 {
            format!("Authorization: Bearer {jwt}")
        } else {
            format!("this token keeps getting 401: {jwt}")
        };
        out.push(Case::new("long jwt", json!({"content": text})).secret("JWT", "/content", &jwt));
    }
    let fams: Vec<(&str, Family)> = vec![
        (
            "env template with empty values",
            Box::new(|_, i| {
                let names = [
                    "DB_PASSWORD",
                    "GITHUB_TOKEN",
                    "API_KEY",
                    "SECRET_KEY",
                    "SMTP_PASS",
                ];
                let a = names[i % names.len()];
                let b = names[(i + 1) % names.len()];
                json!({"path": ".env.example", "content": format!("{a}=\n{b}=\nPORT=8080\n")})
            }),
        ),
        (
            "change-me defaults",
            Box::new(|_, i| {
                let v = [
                    "change-me",
                    "changeit",
                    "Change.Me",
                    "replace-me",
                    "CHANGE_ME_NOW",
                ][i % 5];
                json!({"path": "docker-compose.example.yml", "content": format!("services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {v}\n")})
            }),
        ),
        (
            "firebase web config",
            Box::new(|g, _| {
                let project = format!("app-{}", g.s(LOWNUM, 5));
                json!({"path": "src/firebase.js", "content": format!(
                    "const firebaseConfig = {{\n  apiKey: \"AIza{}\",\n  authDomain: \"{project}.firebaseapp.com\",\n  projectId: \"{project}\",\n  appId: \"1:{}:web:{}\"\n}};\n",
                    g.s(URLSAFE, 35), g.s(DIGITS, 12), g.s(HEX, 22))})
            }),
        ),
        (
            "url placeholder credentials",
            Box::new(|_, i| {
                let url = [
                    "mongodb+srv://<username>:<password>@cluster0.mongodb.net/test",
                    "postgres://<user>:<password>@db.internal:5432/app",
                    "amqp://{user}:{password}@mq.internal:5672/",
                    "redis://:<password>@cache.internal:6379/0",
                ][i % 4];
                json!({"content": format!("MONGO_URI={url}\n")})
            }),
        ),
        (
            "yaml tags aliases and sigils",
            Box::new(|_, i| {
                let v = [
                    "!vault |\n  $ANSIBLE_VAULT;1.1;AES256",
                    "*default_password",
                    "!Ref DbPassword",
                    "$DB_PASS",
                    "%(password)s",
                    "&db_password hunter",
                ][i % 6];
                json!({"content": format!("database:\n  password: {v}\n")})
            }),
        ),
        (
            "role mailboxes",
            Box::new(|_, i| {
                let a = [
                    "support@acme-corp.net",
                    "noreply@github.com",
                    "billing@acme-corp.net",
                    "postmaster@acme-corp.net",
                    "bounces+8812@mail.acme-corp.net",
                ][i % 5];
                json!({"text": format!("From: {a}\nSubject: your ticket was updated")})
            }),
        ),
        (
            "credentials by variable",
            Box::new(|_, i| {
                let v = [
                    "var cred = new NetworkCredential(user, pass);",
                    "PgConnectOptions::new().username(&cfg.user).password(&cfg.password)",
                    "CREATE USER 'report'@'%' IDENTIFIED WITH auth_socket;",
                    "resp = requests.get(URL, auth=(user, password))",
                    "client.setPassword(System.getenv(\"DB_PASSWORD\"));",
                    "Set-Cookie: sessionid=; Max-Age=0; Path=/",
                ][i % 6];
                json!({"content": v})
            }),
        ),
    ];
    for (family, make) in &fams {
        for i in 0..40 {
            out.push(Case::negative(family, make(g, i)));
        }
    }
    out
}
