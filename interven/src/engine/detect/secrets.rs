//! Credential formats, each with its published structure, a literal
//! keyword for the prefilter, and a validator where the format has one.

#[cfg(test)]
use aho_corasick::AhoCorasickBuilder;

use super::keywords::Keywords;
use base64::Engine as _;
use regex::Regex;

use super::text::{
    self, Features, bounded, char_classes, crc32_tail_valid, entropy, is_placeholder, is_reference,
    is_word,
};
use std::ops::Range;
use std::sync::OnceLock;

use super::Hit;
use crate::engine::{Confidence, FindingKind as Kind};

/// How a match is checked after the regex matched.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// The structure is enough.
    Structure,
    /// GitHub's CRC32 tail over the 30 random characters.
    GithubCrc,
    /// npm's CRC32 tail over the 30 random characters.
    NpmCrc,
    /// A JWT whose header decodes to JSON naming an `alg`.
    Jwt,
    /// A password in a URL that is not a placeholder.
    UrlPassword,
    /// `Basic` credentials that decode to `user:password`.
    Basic,
    /// A bearer token with enough entropy.
    Bearer,
    /// Value with at least this entropy (bits per byte) and two character classes.
    Entropy(f64),
    /// `user:password` whose password is not a placeholder or reference.
    UserPass,
    /// A Discord bot token: its first part is the base64 of a numeric id.
    Discord,
}

struct Rule {
    ty: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
    check: Check,
    /// How far after its keyword a match may end.
    reach: usize,
}

/// What separates a name from its value: `=`, `:`, `=>`, `:=`, a table's
/// `|`, an XML tag's `>`, prose's ` is `, or a command-line flag's space,
/// with optional quotes (the value patterns of named rules are strict).
macro_rules! sep {
    () => {
        r#"(?:(?:\s+(?:for|of|on|in)\s+[\w\-]{1,32})?["'`]?\s*(?:=>|:=|[:=|>]|\s+is\s+|\s)\s*(?:[bBrRuUfF]{0,2}["'`])?)"#
    };
}

/// The rules. A pattern's capture group `v`, when present, is the secret
/// itself (and what is redacted); otherwise the whole match is.
const RULES: &[Rule] = &[
    // Source hosting
    Rule {
        ty: "GITHUB_TOKEN",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"gh[pousr]_(?P<v_tail>[A-Za-z0-9]{36})",
        check: Check::GithubCrc,
        reach: 512,
    },
    Rule {
        ty: "GITHUB_FINE_GRAINED_TOKEN",
        keywords: &["github_pat_"],
        pattern: r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "GITLAB_TOKEN",
        keywords: &[
            "glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "gloas-", "glsoat-", "glffct-",
        ],
        pattern: r"gl(?:pat|dt|rt|cbt|soat|ffct)-[A-Za-z0-9_\-]{20,}|glptt-[0-9a-f]{40}|gloas-[0-9a-f]{64}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "BITBUCKET_APP_PASSWORD",
        keywords: &["atbb"],
        pattern: r"ATBB[A-Za-z0-9_=.\-]{32,40}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    // Chat
    Rule {
        ty: "SLACK_TOKEN",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe"],
        pattern: r"xox(?:[bpars]|e\.xox[bp]|e)-[0-9]{1,13}-[A-Za-z0-9\-]{10,}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "SLACK_APP_TOKEN",
        keywords: &["xapp-"],
        pattern: r"xapp-[0-9]-[A-Z0-9]{8,}-[0-9]{8,}-[a-f0-9]{32,}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "SLACK_WEBHOOK",
        keywords: &["hooks.slack.com"],
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,12}/[A-Za-z0-9]{20,}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "DISCORD_WEBHOOK",
        keywords: &["/api/webhooks/"],
        pattern: r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "DISCORD_BOT_TOKEN",
        // Found by its shape (see `SecretRules::scan`), not by a keyword.
        keywords: &[],
        pattern: r"(?P<v_id>[MNO][A-Za-z0-9_\-]{23,25})\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}",
        check: Check::Discord,
        reach: 512,
    },
    Rule {
        ty: "TELEGRAM_BOT_TOKEN",
        keywords: &[":aa"],
        pattern: r"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "MICROSOFT_TEAMS_WEBHOOK",
        keywords: &["webhook.office.com"],
        pattern: r"https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@\-]{30,}/IncomingWebhook/[A-Za-z0-9]{32}/[A-Za-z0-9\-]{36}",
        check: Check::Structure,
        reach: 512,
    },
    // Cloud
    Rule {
        ty: "AWS_ACCESS_KEY_ID",
        keywords: &["akia", "asia", "abia", "acca", "a3t"],
        pattern: r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "AWS_SECRET_ACCESS_KEY",
        keywords: &[
            "aws_secret",
            "secret_access_key",
            "secretaccesskey",
            "aws secret",
            "secret access key",
            "aws-secret",
        ],
        pattern: concat!(
            r"(?i:aws[_\-\s]?secret[_\-\s]?(?:access[_\-\s]?)?key|secret[_\-\s]?access[_\-\s]?key)",
            sep!(),
            r"(?P<v>[A-Za-z0-9/+]{40})"
        ),
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "AWS_SESSION_TOKEN",
        keywords: &[
            "session_token",
            "sessiontoken",
            "security_token",
            "x-amz-security-token",
        ],
        pattern: concat!(
            r"(?i:aws[_\-\s]?session[_\-\s]?token|session[_\-\s]?token|security[_\-\s]?token|x-amz-security-token)",
            sep!(),
            r"(?P<v>[A-Za-z0-9/+=]{100,})"
        ),
        check: Check::Entropy(4.0),
        reach: 4096,
    },
    Rule {
        ty: "GOOGLE_API_KEY",
        keywords: &["aiza"],
        pattern: r"AIza[0-9A-Za-z_\-]{35}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "GOOGLE_OAUTH_CLIENT_SECRET",
        keywords: &["gocspx-"],
        pattern: r"GOCSPX-[A-Za-z0-9_\-]{28}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "GOOGLE_OAUTH_ACCESS_TOKEN",
        keywords: &["ya29."],
        pattern: r"ya29\.[0-9A-Za-z_\-]{30,}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "AZURE_STORAGE_CONNECTION_STRING",
        keywords: &["accountkey="],
        pattern: r"(?i:AccountKey)=(?P<v>[A-Za-z0-9+/]{86}==)",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "AZURE_SAS_TOKEN",
        keywords: &["sig="],
        pattern: r"(?:sv|se|sp|sr)=[^&\s]+(?:&[a-z]{2,4}=[^&\s]*)*&sig=(?P<v>[A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "AZURE_CLIENT_SECRET",
        keywords: &["q~"],
        pattern: r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "DIGITALOCEAN_TOKEN",
        keywords: &["dop_v1_", "doo_v1_", "dor_v1_"],
        pattern: r"do[opr]_v1_[a-f0-9]{64}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "HEROKU_API_KEY",
        keywords: &["hrku-"],
        pattern: r"HRKU-[A-Za-z0-9_\-]{60}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "ALIBABA_ACCESS_KEY_ID",
        keywords: &["ltai"],
        pattern: r"LTAI[A-Za-z0-9]{20}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "IBM_CLOUD_API_KEY",
        keywords: &["ibm"],
        pattern: concat!(
            r"(?i:ibm[_\-\s]?(?:cloud[_\-\s]?)?api[_\-\s]?key)",
            sep!(),
            r"(?P<v>[A-Za-z0-9_\-]{44})"
        ),
        check: Check::Entropy(4.0),
        reach: 512,
    },
    Rule {
        ty: "CLOUDFLARE_API_TOKEN",
        keywords: &["cloudflare", "cf_api"],
        pattern: concat!(
            r"(?i:cloudflare[_\-\s]?api[_\-\s]?(?:token|key)|cf_api_(?:token|key))",
            sep!(),
            r"(?P<v>[A-Za-z0-9_\-]{37,40})"
        ),
        check: Check::Entropy(3.5),
        reach: 512,
    },
    // AI providers
    Rule {
        ty: "OPENAI_API_KEY",
        keywords: &["t3blbkfj"],
        pattern: r"sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "ANTHROPIC_API_KEY",
        keywords: &["sk-ant-"],
        pattern: r"sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_\-]{80,100}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "HUGGINGFACE_TOKEN",
        keywords: &["hf_"],
        pattern: r"hf_[A-Za-z]{34}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "GROQ_API_KEY",
        keywords: &["gsk_"],
        pattern: r"gsk_[A-Za-z0-9]{52}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "REPLICATE_API_TOKEN",
        keywords: &["r8_"],
        pattern: r"r8_[A-Za-z0-9]{37}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "PERPLEXITY_API_KEY",
        keywords: &["pplx-"],
        pattern: r"pplx-[A-Za-z0-9]{48}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "XAI_API_KEY",
        keywords: &["xai-"],
        pattern: r"xai-[A-Za-z0-9]{80}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "LANGSMITH_API_KEY",
        keywords: &["lsv2_"],
        pattern: r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
        check: Check::Structure,
        reach: 512,
    },
    // Payments
    Rule {
        ty: "STRIPE_SECRET_KEY",
        keywords: &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        pattern: r"[sr]k_(?:live|test)_[0-9A-Za-z]{24,99}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "STRIPE_WEBHOOK_SECRET",
        keywords: &["whsec_"],
        pattern: r"whsec_[A-Za-z0-9+/]{32,}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "SQUARE_ACCESS_TOKEN",
        keywords: &["sq0atp-", "eaaa"],
        pattern: r"sq0atp-[0-9A-Za-z_\-]{22}|EAAA[A-Za-z0-9_\-]{60}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "SQUARE_OAUTH_SECRET",
        keywords: &["sq0csp-"],
        pattern: r"sq0csp-[0-9A-Za-z_\-]{43}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "PAYPAL_BRAINTREE_TOKEN",
        keywords: &["access_token$production$", "access_token$sandbox$"],
        pattern: r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "SHOPIFY_TOKEN",
        keywords: &["shpat_", "shpca_", "shppa_", "shpss_"],
        pattern: r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        check: Check::Structure,
        reach: 512,
    },
    // Messaging and email
    Rule {
        ty: "TWILIO_API_KEY",
        keywords: &["sk"],
        pattern: r"SK[0-9a-f]{32}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "TWILIO_AUTH_TOKEN",
        keywords: &["twilio"],
        pattern: concat!(
            r"(?i:twilio[_\-\s]?(?:auth[_\-\s]?)?token)",
            sep!(),
            r"(?P<v>[a-f0-9]{32})"
        ),
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "SENDGRID_API_KEY",
        keywords: &["sg."],
        pattern: r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "MAILGUN_API_KEY",
        keywords: &["key-"],
        pattern: r"key-[0-9a-f]{32}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "MAILCHIMP_API_KEY",
        keywords: &["-us"],
        pattern: r"[0-9a-f]{32}-us[0-9]{1,2}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "POSTMARK_SERVER_TOKEN",
        keywords: &["postmark"],
        pattern: concat!(
            r"(?i:postmark[_\-\s]?(?:server[_\-\s]?)?(?:api[_\-\s]?)?token)",
            sep!(),
            r"(?P<v>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
        ),
        check: Check::Structure,
        reach: 512,
    },
    // Observability
    Rule {
        ty: "DATADOG_API_KEY",
        keywords: &[
            "dd_api_key",
            "datadog",
            "dd-api-key",
            "ddapikey",
            "dd api key",
        ],
        pattern: concat!(
            r"(?i:dd[_\-\s]?api[_\-\s]?key|datadog[_\-\s]?api[_\-\s]?key)",
            sep!(),
            r"(?P<v>[a-f0-9]{32})"
        ),
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "DATADOG_APP_KEY",
        keywords: &[
            "dd_app",
            "dd-app",
            "ddapp",
            "dd app",
            "datadog",
            "application_key",
            "application-key",
        ],
        pattern: concat!(
            r"(?i:dd[_\-\s]?app(?:lication)?[_\-\s]?key|datadog[_\-\s]?app(?:lication)?[_\-\s]?key|dd[_\-\s]?application[_\-\s]?key)",
            sep!(),
            r"(?P<v>[a-f0-9]{40})"
        ),
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "NEW_RELIC_KEY",
        keywords: &["nrak-", "nrjs-", "nrii-", "nral"],
        // User keys (`NRAK-…`), browser and insights keys, and the 40-character
        // ingest license key that ends in `NRAL`.
        pattern: r"NR(?:AK|JS|II)-[A-Z0-9]{19,27}|[a-f0-9]{36}NRAL",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "SENTRY_TOKEN",
        keywords: &["sntrys_", "sntryu_"],
        pattern: r"sntry[su]_[A-Za-z0-9+/=_]{40,}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "GRAFANA_TOKEN",
        keywords: &["glsa_", "glc_"],
        pattern: r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "HONEYCOMB_API_KEY",
        keywords: &["hcaik_", "hcxik_"],
        pattern: r"hc[ax]ik_[a-z0-9]{58}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    // Databases and data platforms
    Rule {
        ty: "DATABASE_URL",
        keywords: &["://"],
        pattern: r"(?i:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|clickhouse|cockroachdb|neo4j(?:\+s)?)(?:\+[a-z0-9]{2,16})?://[^:/\s@]*:(?P<v>[^@\s/]{3,})@[^\s/]+",
        check: Check::UrlPassword,
        reach: 512,
    },
    Rule {
        ty: "DATABRICKS_TOKEN",
        keywords: &["dapi"],
        pattern: r"dapi[a-f0-9]{32}(?:-[0-9])?",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "SUPABASE_TOKEN",
        keywords: &["sbp_"],
        pattern: r"sbp_[a-f0-9]{40}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "PLANETSCALE_TOKEN",
        keywords: &["pscale_"],
        pattern: r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.\-]{32,64}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "AIRTABLE_TOKEN",
        keywords: &["pat"],
        pattern: r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}",
        check: Check::Structure,
        reach: 512,
    },
    // Package registries and developer platforms
    Rule {
        ty: "NPM_TOKEN",
        keywords: &["npm_"],
        pattern: r"npm_(?P<v_tail>[A-Za-z0-9]{36})",
        check: Check::NpmCrc,
        reach: 512,
    },
    Rule {
        ty: "PYPI_TOKEN",
        keywords: &["pypi-ageichlwas5vcmc"],
        pattern: r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "RUBYGEMS_API_KEY",
        keywords: &["rubygems_"],
        pattern: r"rubygems_[a-f0-9]{48}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "NUGET_API_KEY",
        keywords: &["oy2"],
        pattern: r"oy2[a-z0-9]{43}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "DOCKERHUB_TOKEN",
        keywords: &["dckr_pat_"],
        pattern: r"dckr_pat_[A-Za-z0-9_\-]{27}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "CRATES_IO_TOKEN",
        keywords: &["cio"],
        pattern: r"cio[A-Za-z0-9]{32}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "HASHICORP_VAULT_TOKEN",
        keywords: &["hvs.", "hvb."],
        pattern: r"hv[sb]\.[A-Za-z0-9_\-]{24,}",
        check: Check::Entropy(3.5),
        reach: 1024,
    },
    Rule {
        ty: "TERRAFORM_CLOUD_TOKEN",
        keywords: &[".atlasv1."],
        pattern: r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "PULUMI_TOKEN",
        keywords: &["pul-"],
        pattern: r"pul-[a-f0-9]{40}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "DOPPLER_TOKEN",
        keywords: &["dp.pt.", "dp.st.", "dp.sa."],
        pattern: r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "POSTMAN_API_KEY",
        keywords: &["pmak-"],
        pattern: r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "LINEAR_API_KEY",
        keywords: &["lin_api_"],
        pattern: r"lin_api_[A-Za-z0-9]{40}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "NOTION_TOKEN",
        keywords: &["ntn_", "secret_"],
        pattern: r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "ATLASSIAN_API_TOKEN",
        keywords: &["atatt3"],
        pattern: r"ATATT3[A-Za-z0-9_=\-]{150,260}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "FIGMA_TOKEN",
        keywords: &["figd_"],
        pattern: r"figd_[A-Za-z0-9_\-]{40}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "CONTENTFUL_TOKEN",
        keywords: &["cfpat-"],
        pattern: r"CFPAT-[A-Za-z0-9_\-]{43}",
        check: Check::Entropy(3.5),
        reach: 512,
    },
    Rule {
        ty: "MAPBOX_SECRET_TOKEN",
        keywords: &["sk.eyj"],
        pattern: r"sk\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "AGE_SECRET_KEY",
        keywords: &["age-secret-key-1"],
        pattern: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        check: Check::Structure,
        reach: 512,
    },
    Rule {
        ty: "ONEPASSWORD_SERVICE_TOKEN",
        keywords: &["ops_eyj"],
        pattern: r"ops_eyJ[A-Za-z0-9+/=_\-]{200,}",
        check: Check::Structure,
        reach: 4096,
    },
    Rule {
        ty: "FIREBASE_CLOUD_MESSAGING_KEY",
        keywords: &["aaaa"],
        pattern: r"AAAA[A-Za-z0-9_\-]{7}:[A-Za-z0-9_\-]{140}",
        check: Check::Structure,
        reach: 512,
    },
    // Generic structures
    Rule {
        ty: "JWT",
        keywords: &["eyj"],
        pattern: r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}",
        check: Check::Jwt,
        // An identity provider's token (Entra ID, Okta) runs to kilobytes.
        reach: MAX_TOKEN,
    },
    Rule {
        ty: "PRIVATE_KEY",
        // The END marker of a large key can be far from BEGIN.
        keywords: &["private key-----", "private key block-----"],
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?:(?s:.*?)-----END [A-Z ]{0,16}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\\\s]{64,})",
        check: Check::Structure,
        reach: 65_536,
    },
    Rule {
        ty: "URL_CREDENTIALS",
        keywords: &["://"],
        pattern: r"(?i:https?|ftp|sftp|ssh|git|smtp)://[^:/\s@]{1,64}:(?P<v>[^@\s/]{3,128})@[A-Za-z0-9.\-]+",
        check: Check::UrlPassword,
        reach: 512,
    },
    Rule {
        ty: "BASIC_AUTH",
        keywords: &["basic "],
        pattern: r"(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})",
        check: Check::Basic,
        reach: 512,
    },
    Rule {
        ty: "BASIC_AUTH",
        keywords: &[
            "-u ",
            "--user",
            "basic auth",
            "basic_auth",
            "basic-auth",
            "basicauth",
        ],
        pattern: r#"(?i:(?:^|\s)(?:-u|--user)(?:\s+|=)|basic[_\-\s]?auth(?:entication)?(?:\s+(?:is|=|:)\s*|\s*[:=]\s*))['"]?(?P<v>[A-Za-z0-9._\-@]{1,64}:[^\s'"]{3,128})"#,
        check: Check::UserPass,
        reach: 512,
    },
    Rule {
        // `Set-Cookie: sessionid=…`, `JSESSIONID`, `connect.sid`,
        // `laravel_session`, `__Secure-next-auth.session-token`, `curl -b`:
        // whoever holds the cookie is logged in.
        ty: "SESSION_COOKIE",
        keywords: &[
            "sessionid=",
            "session_id=",
            "session=",
            ".sid=",
            "session-token=",
            "session_token=",
            "sessid=",
        ],
        pattern: r"(?i:(?:__(?:secure|host)-)?[a-z0-9_.\-]*(?:sess(?:ion)?(?:[_\-.]?(?:id|token|key))?|\.sid))=(?P<v>[A-Za-z0-9%._~+/\-]{16,4096}={0,2})",
        check: Check::Entropy(3.0),
        reach: MAX_TOKEN,
    },
    Rule {
        // A WireGuard interface's `PrivateKey` (or a peer's `PresharedKey`):
        // 32 bytes in base64.
        ty: "WIREGUARD_PRIVATE_KEY",
        keywords: &["privatekey", "presharedkey"],
        pattern: r"(?i:(?:private|preshared)key)\s*=\s*(?P<v>[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=)",
        check: Check::Structure,
        reach: 128,
    },
    Rule {
        // A registry login in `~/.docker/config.json`: `"auth": base64(user:password)`.
        ty: "DOCKER_REGISTRY_AUTH",
        keywords: &["\"auth\""],
        pattern: r#""auth"\s*:\s*"(?P<v>[A-Za-z0-9+/]{8,}={0,2})""#,
        check: Check::Basic,
        reach: 1024,
    },
    Rule {
        // JFrog Artifactory API keys and reference tokens (`cmVmdGtu` is
        // base64 of `reftkn`).
        ty: "JFROG_TOKEN",
        keywords: &["akcp", "cmvmdgtu"],
        pattern: r"AKCp[A-Za-z0-9]{69}|cmVmdGtuOjAxOj[A-Za-z0-9]{40,}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "TAILSCALE_KEY",
        keywords: &["tskey-"],
        pattern: r"tskey-(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{8,}-[A-Za-z0-9]{16,}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "FLY_IO_TOKEN",
        keywords: &["fm1r_", "fm1a_", "fm2_", "fo1_"],
        pattern: r"(?:FlyV1 )?(?:fm1[ar]|fm2)_[A-Za-z0-9+/=_\-]{40,}(?:,(?:fm1[ar]|fm2)_[A-Za-z0-9+/=_\-]{40,})*|fo1_[A-Za-z0-9_\-]{43}",
        check: Check::Entropy(3.5),
        reach: MAX_TOKEN,
    },
    Rule {
        ty: "ADAFRUIT_IO_KEY",
        keywords: &["aio_"],
        pattern: r"aio_[A-Za-z0-9]{28}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "TENCENT_CLOUD_SECRET_ID",
        keywords: &["akid"],
        pattern: r"AKID[A-Za-z0-9]{32}",
        check: Check::Entropy(3.0),
        reach: 512,
    },
    Rule {
        ty: "BEARER_TOKEN",
        keywords: &["bearer "],
        pattern: r"(?i:bearer)\s+(?P<v>[A-Za-z0-9._~+/\-]{16,}={0,2})",
        check: Check::Bearer,
        reach: MAX_TOKEN,
    },
];

// The issue asks for at least fifty credential formats with a structure of their own.
const _: () = assert!(RULES.len() >= 50);

/// The type of every vendor rule (for `policy check`'s unknown-type lint).
pub(crate) fn rule_types() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.ty)
}

/// What a prefilter keyword triggers.
#[derive(Debug, Clone, Copy)]
enum Target {
    Rule(usize),
    Generic,
    Ssn,
    /// A context word of personal data (card, phone, birth…).
    Pii(super::pii::Word),
}

/// A rule's pattern, compiled the first time a keyword sends a text to it.
///
/// Most bodies wake few rules, and compiling all of them (Unicode classes,
/// case folding) took 0.3 s and 40 MB at start-up, longer than scanning a
/// 10 MB body. [`SecretRules::compile_all`] compiles them up front, for a
/// server's start.
pub(crate) struct LazyRegex {
    pattern: &'static str,
    what: &'static str,
    compiled: OnceLock<Regex>,
}

impl LazyRegex {
    fn new(what: &'static str, pattern: &'static str) -> LazyRegex {
        LazyRegex {
            pattern,
            what,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled pattern (compiled now, once, if it was not). A thread
    /// that asks while another compiles it waits for that one.
    fn get(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            // The patterns are constants of this file; `all_rules_compile` tests each.
            Regex::new(self.pattern).unwrap_or_else(|e| panic!("rule {}: {e}", self.what))
        })
    }
}

pub(crate) struct SecretRules {
    regexes: Vec<LazyRegex>,
    prefilter: Keywords,
    /// The vendor rules' keywords alone, for a yes-or-no search.
    vendor_keywords: Keywords,
    /// Prefilter pattern index → what it triggers.
    keyword_target: Vec<Target>,
    generic: LazyRegex,
    /// `--password Hunter2!`: a command-line flag and its value.
    flag: LazyRegex,
    /// Credential syntaxes whose key is implied by their shape
    /// (`.netrc`, `-u user -p pass`, container env lists).
    /// With whether each implies a password (rather than naming its key).
    syntaxes: Vec<(LazyRegex, bool)>,
    /// `.pgpass` lines: `host:port:database:user:password`.
    pgpass: LazyRegex,
}

/// The combined search's keywords, each with what it triggers.
fn keyword_list() -> (Vec<&'static str>, Vec<Target>) {
    let mut keywords = Vec::new();
    let mut keyword_target = Vec::new();
    for (i, rule) in RULES.iter().enumerate() {
        for k in rule.keywords {
            keywords.push(*k);
            keyword_target.push(Target::Rule(i));
        }
    }
    for k in GENERIC_KEYWORDS {
        keywords.push(k);
        keyword_target.push(Target::Generic);
    }
    // Context words of personal data ride along in the same pass (birth
    // and passport words among them: `pii::context_words`).
    for k in ["ssn", "social security", "social_security"] {
        keywords.push(k);
        keyword_target.push(Target::Ssn);
    }
    for (k, word) in super::pii::context_words() {
        keywords.push(k);
        keyword_target.push(Target::Pii(word));
    }
    (keywords, keyword_target)
}

impl SecretRules {
    pub(crate) fn new() -> SecretRules {
        let regexes = RULES
            .iter()
            .map(|r| LazyRegex::new(r.ty, r.pattern))
            .collect();
        let (keywords, keyword_target) = keyword_list();
        let vendor: Vec<&str> = RULES.iter().flat_map(|r| r.keywords).copied().collect();
        let vendor_keywords =
            Keywords::new(&vendor).unwrap_or_else(|e| panic!("vendor keywords: {e}"));
        let prefilter = Keywords::new(&keywords).unwrap_or_else(|e| panic!("secret keywords: {e}"));
        let generic = LazyRegex::new("generic", GENERIC_ASSIGNMENT);
        SecretRules {
            regexes,
            prefilter,
            vendor_keywords,
            keyword_target,
            generic,
            flag: LazyRegex::new("flag", GENERIC_FLAG),
            syntaxes: CREDENTIAL_SYNTAXES
                .iter()
                .map(|(p, implied)| (LazyRegex::new("syntax", p), *implied == Implied::Password))
                .collect(),
            pgpass: LazyRegex::new("pgpass", PGPASS),
        }
    }

    /// Compiles every rule now, on the threads of rayon's pool.
    pub(crate) fn compile_all(&self) {
        use rayon::prelude::*;
        let all: Vec<&LazyRegex> = self
            .regexes
            .iter()
            .chain(self.syntaxes.iter().map(|(re, _)| re))
            .chain([&self.generic, &self.flag, &self.pgpass])
            .collect();
        all.par_iter().for_each(|re| {
            re.get();
        });
    }

    /// Whether a name (a JSON key, a header) holds a keyword of a vendor rule
    /// that is recognised by its name (`dd_api_key`, `twilio_auth_token`).
    pub(crate) fn names_a_vendor(&self, key: &str) -> bool {
        let mut named = false;
        self.prefilter.for_each(key.as_bytes(), |m| {
            named |= matches!(self.keyword_target.get(m.pattern().as_usize()),
                Some(Target::Rule(i)) if RULES[*i].pattern.contains("(?P<v>"));
        });
        named
    }

    /// Whether `text` holds a vendor rule's keyword, or dots as a Discord token has.
    pub(crate) fn may_hold_vendor_secret(&self, text: &[u8]) -> bool {
        self.vendor_keywords.is_match(text) || discord_dots_in(text).next().is_some()
    }

    /// Every secret in `text`. The prefilter decides which rules run at all.
    pub(crate) fn scan(&self, text: &str, f: &Features, hits: &mut Vec<Hit>) -> Context {
        // (slot, window) per keyword hit; slot RULES.len() is the generic rule.
        let mut windows: Vec<(usize, Range<usize>)> = Vec::new();
        let mut context = Context::default();
        self.prefilter.for_each(text.as_bytes(), |m| {
            let (slot, after) = match self.keyword_target.get(m.pattern().as_usize()) {
                // A password in a URL is in its authority, before an `@`:
                // most URLs have none, and their rules need not run.
                Some(Target::Rule(_))
                    if &text.as_bytes()[m.range()] == b"://"
                        && !at_in_authority(&text.as_bytes()[m.end()..]) =>
                {
                    return;
                }
                Some(Target::Rule(rule)) => (*rule, RULES[*rule].reach),
                Some(Target::Generic) => (RULES.len(), 512),
                Some(Target::Ssn) => {
                    context.ssn = true;
                    return;
                }
                Some(Target::Pii(word)) => {
                    context.seen.saw(*word, m.start());
                    return;
                }
                None => return,
            };
            let w = window(
                text,
                m.start().saturating_sub(WINDOW_BEFORE),
                m.end() + after,
            );
            // Merged into the last window of its rule when they overlap (the
            // merge below would join them): a keyword on every line of a
            // long text makes one window, not a vector of them.
            match windows.last_mut() {
                Some((s, last)) if *s == slot && last.start <= w.start && w.start <= last.end => {
                    last.end = last.end.max(w.end);
                }
                _ => windows.push((slot, w)),
            }
        });
        // Discord bot tokens have no literal: `.xxxxxx.` between token characters.
        if f.any(text::DOT)
            && let Some(slot) = *DISCORD_SLOT
        {
            for i in discord_dots(text) {
                windows.push((slot, window(text, i.saturating_sub(32), i + 48)));
            }
        }
        // `.pgpass` lines name no credential: their shape does (four
        // colons, and no white space before the line's end).
        if f.any(text::COLON)
            && four_colons_unbroken(text.as_bytes())
            && text.lines().any(|l| {
                let l = l.trim_end_matches([' ', '\t', '\r']);
                l.bytes().filter(|&b| b == b':').count() >= 4 && !l.contains(char::is_whitespace)
            })
        {
            for caps in self.pgpass.get().captures_iter(text) {
                if let Some(v) = caps.name("v")
                    && let Some((ty, confidence)) = secret_for_key("password", v.as_str(), true)
                {
                    hits.push(Hit::new(Kind::Secret, ty, v.range()).with_confidence(confidence));
                }
            }
        }
        if windows.is_empty() {
            return context;
        }
        windows.sort_by_key(|(slot, w)| (*slot, w.start));
        let mut merged: Vec<(usize, Range<usize>)> = Vec::with_capacity(windows.len());
        for (slot, w) in windows {
            match merged.last_mut() {
                Some((s, last)) if *s == slot && w.start <= last.end => {
                    last.end = last.end.max(w.end)
                }
                _ => merged.push((slot, w)),
            }
        }
        for (slot, win) in &merged {
            if hits.len() > super::MAX_FINDINGS {
                break;
            }
            if *slot == RULES.len() {
                let assignments = captures_in(self.generic.get(), text, win);
                let syntaxes = self.syntaxes.iter().flat_map(|(re, implied)| {
                    captures_in(re.get(), text, win).map(|c| (c, *implied))
                });
                for (caps, implied) in assignments
                    .chain(captures_in(self.flag.get(), text, win))
                    .map(|c| (c, false))
                    .chain(syntaxes)
                {
                    let (Some(key), Some(value)) = (caps.name("k"), caps.name("v")) else {
                        continue;
                    };
                    // `password Orbit-tango-sunny2` in prose, with no `:`, `=` or
                    // `is`: only a value that mixes letters and digits with an
                    // upper-case letter or a symbol (not `password reset`).
                    let between = text.get(key.end()..value.start()).unwrap_or("");
                    let bare = key.start() > 0
                        && key.end() <= value.start()
                        && text.as_bytes()[key.start() - 1] != b'-'
                        && between.trim().is_empty();
                    // `>` separates an XML element's name from its text: only
                    // inside `<password>…</password>`, not in a URL's
                    // `<user>:<password>@host` placeholder.
                    if between.trim_matches(['"', '\'', '`', ' ', '\t']) == ">"
                        && (key.start() == 0
                            || text.as_bytes()[key.start() - 1] != b'<'
                            || !text[value.end()..].trim_start().starts_with("</"))
                    {
                        continue;
                    }
                    // A syntax that implies a password (`-p` after `-u user`,
                    // `redis-cli -a`, SQL's `IDENTIFIED BY`, a credential
                    // constructor's second argument) names it so.
                    let key = if implied { "password" } else { key.as_str() };
                    let (mut start, mut raw) = (value.start(), value.as_str());
                    // A string prefix (`b"…"`, `r'…'`) is not part of the value.
                    let prefix = raw.bytes().take_while(u8::is_ascii_alphabetic).count();
                    if prefix <= 2
                        && matches!(raw.as_bytes().get(prefix), Some(b'"' | b'\'' | b'`'))
                    {
                        raw = &raw[prefix..];
                        start += prefix;
                    }
                    let quoted = raw.starts_with(['"', '\'', '`']);
                    if let Some(q) = raw.chars().next().filter(|c| matches!(c, '"' | '\'' | '`')) {
                        raw = raw.trim_start_matches(q).trim_end_matches(q);
                        start += q.len_utf8();
                    } else {
                        // A function call or an index (`get_secret("prod/db")`,
                        // `vault.read(…)`, `secrets["db"]`) fetches the secret
                        // at run time: the code holds no credential.
                        if matches!(text.as_bytes().get(value.end()), Some(b'(' | b'[')) {
                            continue;
                        }
                        // …and so does a command given arguments
                        // (`$pw = ConvertTo-SecureString "…"`).
                        let after = &text[value.end()..];
                        let args = after.trim_start_matches([' ', '\t']);
                        if args.len() < after.len() && args.starts_with(['"', '\'']) {
                            continue;
                        }
                        // A sentence's full stop is not part of the value.
                        raw = raw.trim_end_matches(['.', ',', ';', ':']);
                    }
                    if bare && !quoted && !mixed_password(raw) {
                        continue;
                    }
                    if raw.starts_with("AIza")
                        && firebase_web_config(text, start..start + raw.len())
                    {
                        continue;
                    }
                    if let Some((ty, confidence)) = secret_for_key(key, raw, true) {
                        hits.push(
                            Hit::new(Kind::Secret, ty, start..start + raw.len())
                                .with_confidence(confidence),
                        );
                    }
                }
                continue;
            }
            let rule = &RULES[*slot];
            for caps in captures_in(self.regexes[*slot].get(), text, win) {
                let Some(whole) = caps.get(0) else { continue };
                // A named value (`dd_api_key=…`) is bounded at the value; a format, at its match.
                let edge = caps.name("v").unwrap_or(whole);
                if !bounded(text, edge.start(), edge.end())
                    && !matches!(
                        rule.check,
                        Check::UrlPassword | Check::Basic | Check::Bearer | Check::UserPass
                    )
                {
                    continue;
                }
                let value = caps.name("v").unwrap_or(whole);
                if is_placeholder(value.as_str())
                    || !check(
                        rule.check,
                        whole.as_str(),
                        value.as_str(),
                        caps.name("v_tail")
                            .or_else(|| caps.name("v_id"))
                            .map(|m| m.as_str()),
                    )
                {
                    continue;
                }
                // A Firebase web app's `apiKey` is public by design: Google
                // documents that it identifies the project and is shipped in
                // every client (access is governed by security rules).
                if rule.ty == "GOOGLE_API_KEY" && firebase_web_config(text, value.range()) {
                    continue;
                }
                hits.push(
                    Hit::new(Kind::Secret, rule.ty, value.start()..value.end())
                        .with_confidence(confidence(rule)),
                );
            }
        }
        context
    }
}

/// What the keyword pass saw besides secrets: context words for personal data.
#[derive(Debug, Default, Clone)]
pub(crate) struct Context {
    /// The context words of personal data and where they are.
    pub(crate) seen: super::pii::Seen,
    /// "SSN", "social security".
    pub(crate) ssn: bool,
}

/// Whether the key at `span` sits in a Firebase web configuration
/// (`apiKey` beside `authDomain: "….firebaseapp.com"` and `projectId`).
fn firebase_web_config(text: &str, span: Range<usize>) -> bool {
    let near = window(text, span.start.saturating_sub(512), span.end + 512);
    let near = &text[near];
    near.contains("firebaseapp.com") || (near.contains("authDomain") && near.contains("projectId"))
}

/// How far after its keyword a token may reach: an identity provider's
/// JWT (claims, groups, an RS512 signature) is a few kilobytes.
const MAX_TOKEN: usize = 16 * 1024;

/// The Discord bot token rule's index in [`RULES`].
static DISCORD_SLOT: std::sync::LazyLock<Option<usize>> =
    std::sync::LazyLock::new(|| RULES.iter().position(|r| r.ty == "DISCORD_BOT_TOKEN"));

/// Where a Discord bot token's first dot may be: `.` six token characters `.`.
fn discord_dots(text: &str) -> impl Iterator<Item = usize> + '_ {
    discord_dots_in(text.as_bytes())
}

/// [`discord_dots`] in bytes.
fn discord_dots_in(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let token = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    // From dot to dot (a byte search), not byte by byte.
    let mut dots = memchr::memchr_iter(b'.', b);
    let mut next_free = 0;
    std::iter::from_fn(move || {
        for i in dots.by_ref() {
            if i < next_free {
                continue;
            }
            // The pattern's shape around the dots: at least 24 token
            // characters before the first, six between, 27 after the second.
            if b.get(i + 7) == Some(&b'.')
                && b[i + 1..i + 7].iter().all(|&c| token(c))
                && i >= 24
                && b[i - 24..i].iter().all(|&c| token(c))
                && b.get(i + 8..i + 35)
                    .is_some_and(|t| t.iter().all(|&c| token(c)))
            {
                next_free = i + 7;
                return Some(i);
            }
        }
        None
    })
}

/// How far before its keyword a match may start (a SAS query, a database URL scheme).
const WINDOW_BEFORE: usize = 256;

/// `start..end` clamped to `text` and widened to character boundaries.
fn window(text: &str, mut start: usize, end: usize) -> Range<usize> {
    let mut end = end.min(text.len());
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// The captures of every match inside `window` (positions into `text`).
fn captures_in<'t>(
    re: &'t Regex,
    text: &'t str,
    window: &Range<usize>,
) -> impl Iterator<Item = regex::Captures<'t>> + 't {
    let hay = &text[..window.end];
    let mut at = window.start;
    std::iter::from_fn(move || {
        while at <= hay.len() {
            let m = re.find_at(hay, at)?;
            at = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            if let Some(caps) = re.captures_at(&hay[..m.end()], m.start()) {
                return Some(caps);
            }
        }
        None
    })
}

/// How sure a rule's match is: a checksum or a decodable structure, or a
/// fixed vendor prefix and length, is verified; a format checked by entropy
/// or found by its name, high.
fn confidence(rule: &Rule) -> Confidence {
    match rule.check {
        Check::GithubCrc | Check::NpmCrc | Check::Jwt | Check::Discord => Confidence::Verified,
        Check::Structure if !rule.pattern.contains("(?P<v>") => Confidence::Verified,
        _ => Confidence::High,
    }
}

fn check(check: Check, whole: &str, value: &str, tail: Option<&str>) -> bool {
    match check {
        Check::UserPass => value.split_once(':').is_some_and(|(user, pass)| {
            !user.is_empty()
                && pass.len() >= 3
                && !is_placeholder(pass)
                && !is_reference(pass)
                && !is_word(pass)
        }),
        Check::Discord => tail.is_some_and(|id| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id.trim_end_matches('='))
                .ok()
                .is_some_and(|b| (17..=20).contains(&b.len()) && b.iter().all(u8::is_ascii_digit))
        }),
        Check::Structure => true,
        Check::GithubCrc | Check::NpmCrc => tail.is_some_and(crc32_tail_valid),
        Check::Jwt => jwt_header_valid(whole),
        Check::UrlPassword => !is_reference(value) && !is_placeholder(value) && !is_word(value),
        Check::Basic => base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|s| s.contains(':') && s.len() >= 3 && !s.chars().any(char::is_control)),
        Check::Bearer => entropy(value) >= 3.0 && char_classes(value) >= 2,
        Check::Entropy(min) => entropy(value) >= min && char_classes(value) >= 2,
    }
}

fn jwt_header_valid(token: &str) -> bool {
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("alg").is_some())
}

const GENERIC_KEYWORDS: &[&str] = &[
    "pass",
    "pwd",
    "pw",
    "kennwort",
    "contrase",
    "senha",
    "wachtwoord",
    "пароль",
    "Пароль",
    "ПАРОЛЬ",
    "パスワード",
    "hasło",
    "haslo",
    "lösenord",
    "losenord",
    "salasana",
    "şifre",
    "sifre",
    "密码",
    "密碼",
    "비밀번호",
    "machine ",
    " -p",
    "secret",
    "api_key",
    "app_key",
    "appkey",
    "application_key",
    "apikey",
    "api-key",
    "api key",
    "token",
    "access_key",
    "access key",
    "private_key",
    "credential",
    "license",
    "admin_key",
    "adminkey",
    "write_key",
    "writekey",
    "_pat",
    "securestring",
    "redis-cli",
    "auth=(",
    "auth = (",
    "identified",
    "basicauth",
    "storage key",
    "account key",
    "license key",
    "storagekey",
    "storage_key",
    "accountkey",
    "account_key",
];

/// Whether an `@` comes before the end of the authority that `rest` (the
/// text after a `://`) starts with: a `/` or white space. Every rule woken
/// by `://` (a password in a URL) matches only then.
fn at_in_authority(rest: &[u8]) -> bool {
    rest.iter()
        .take_while(|&&b| b != b'/' && !b.is_ascii_whitespace())
        .any(|&b| b == b'@')
}

/// Whether four colons follow each other with no ASCII white space
/// between them: what a `.pgpass` line needs (a line of four colons and no
/// white space), found without splitting the text into lines.
fn four_colons_unbroken(bytes: &[u8]) -> bool {
    let mut run = 0;
    let mut last: Option<usize> = None;
    for i in memchr::memchr_iter(b':', bytes) {
        run = match last {
            Some(j) if !bytes[j + 1..i].iter().any(u8::is_ascii_whitespace) => run + 1,
            _ => 1,
        };
        if run == 4 {
            return true;
        }
        last = Some(i);
    }
    false
}

/// `password=…`, `api_key: …`, `"secret": "…"`, `| token | … |`, `the db
/// password for staging is …`, `let apiKey = "…"` inside free text. The
/// value is a quoted string or a run without spaces.
const GENERIC_ASSIGNMENT: &str = r#"(?i)(?P<k>[a-z0-9_.\-]*(?:pass(?:word|wd|wort|phrase|code)?|pwd|pw|kennwort|contrase[ñn]a|mot de passe|senha|wachtwoord|пароль|パスワード|has[łl]o|l[öo]senord|salasana|[şs]ifre|密码|密碼|비밀번호|secret[_\-\s]?key|client[_\-\s]?secret|secret|api[_\-\s]?key|access[_\-\s]?key|private[_\-\s]?key|licen[cs]e[_\-\s]?key|storage[_\-\s]?key|admin[_\-\s]?key|write[_\-\s]?key|_pat\b|account[_\-\s]?key|(?:auth|access|api|bot)[_\-\s]?token|token|credentials?)[a-z0-9_.\-]*)(?:\s+(?:for|of|on|to|in|für|fur|pour|para|voor|van|de|du|del|da|do|dla|för|til|zu|von)(?:\s+(?:the|this|our|my|your|den|die|das|der|dem|le|la|les|el|los|o|a|het|de|mon|ma|mi|il))?(?:\s+[a-z0-9_.\-]{1,32}){1,4})?(?:["'`][ \t]*,|["'`]?[ \t]*(?:=>|:=|\?=|:[ \t]*&?(?:'static[ \t]+)?(?:str|String|string)[ \t]*=|[ \t]+(?:string|String|str)[ \t]*=|>\s*|[:=|>：]|\s+(?:is|was|ist|lautet|est|es|é|är|er|era|war|è|jest|on)(?:\s*:)?\s+))[ \t]*(?P<v>[bBrRuUfF]{0,2}"[^"\n]{1,256}"|[bBrRuUfF]{0,2}'[^'\n]{1,256}'|`[^`\n]{1,256}`|[^\s"'`,;}{)(\]\[<>|]{2,256})"#;

/// What a credential syntax's `k` group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Implied {
    /// The credential's own name (`password`, `api_key`…).
    Named,
    /// A marker of a shape that holds a password (`-p`, `IDENTIFIED`, a
    /// credential constructor).
    Password,
}

/// Credential syntaxes whose shape names the password: `.netrc`
/// (`machine h login u password p`), `-u user … -p pass` / `-p'pass'`
/// (docker login, mysql), and container env lists in YAML where the name
/// and the value are on separate lines (`- name: X_API_KEY` / `value: "…"`).
const CREDENTIAL_SYNTAXES: &[(&str, Implied)] = &[
    // SQL: `CREATE USER … IDENTIFIED BY '…'`, `ALTER ROLE … PASSWORD '…'`.
    (
        r#"(?i)\b(?P<k>identified)(?:\s+with\s+\w+)?\s+by\s+(?P<v>'[^'\n]{1,256}'|"[^"\n]{1,256}")"#,
        Implied::Password,
    ),
    // A credential passed to a call: `.password("…")`, `setPassword("…")`,
    // `withApiKey('…')`, `new NetworkCredential("user", "…")`,
    // `auth=("user", "…")` (Python requests), `PasswordAuthentication("u", "…")`.
    (
        r#"(?i)(?:\.|\bset_?|\bwith_?)(?P<k>password|passwd|pwd|secret|api_?key|access_?key|token)\s*\(\s*(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}')\s*[,)]"#,
        Implied::Named,
    ),
    (
        r#"(?i)\b(?P<k>NetworkCredential|PasswordAuthentication|UsernamePasswordCredentials|BasicAuth|HTTPBasicAuth|auth\s*=)\s*\(\s*(?:"[^"\n]{1,128}"|'[^'\n]{1,128}')\s*,\s*(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}')"#,
        Implied::Password,
    ),
    // The value before its name: "use `…` as CLOUDFLARE_API_TOKEN".
    (
        r#"(?i)(?P<v>`[^`\s]{16,256}`|"[^"\s]{16,256}"|'[^'\s]{16,256}')\s+(?:as|for)\s+(?:(?:the|our|your|my)\s+)?(?P<k>[a-z0-9_.\-]*(?:key|token|secret|password|passwd|credentials?))\b"#,
        Implied::Named,
    ),
    // PowerShell: `ConvertTo-SecureString "…" -AsPlainText`.
    (
        r#"(?i)\b(?P<k>ConvertTo-SecureString)\s+(?:-String\s+)?(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}')\s+-AsPlainText"#,
        Implied::Password,
    ),
    // `redis-cli -a …` (and `--pass`, found by the flag rule).
    (
        r#"\bredis-cli\b[^\n]*?\s(?P<k>-a)\s+(?P<v>'[^'\n]{1,256}'|"[^"\n]{1,256}"|[^\s"'`\-][^\s"'`]{1,255})"#,
        Implied::Password,
    ),
    (
        r#"(?i)\bmachine\s+\S+\s+login\s+\S+\s+(?P<k>password)\s+(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}'|\S{1,256})"#,
        Implied::Named,
    ),
    (
        r#"(?:^|\s)-u\s*\S+\s+(?:[^\s-]\S*\s+|--?[a-z][a-z\-]*(?:=\S+|\s+[^\s-]\S*)?\s+)*?(?P<k>-p)(?:\s+|=)?(?P<v>'[^'\n]{1,256}'|"[^"\n]{1,256}"|[^\s"'`\-][^\s"'`]{1,255})"#,
        Implied::Password,
    ),
    (
        r#"(?i)\b(?P<k>password|passwort|passwd|pwd)[ \t]+(?P<v>'[^'\n]{6,128}'|"[^"\n]{6,128}"|[^\s"'`,;()\[\]]{8,128})"#,
        Implied::Named,
    ),
    (
        r#"(?m)^[ \t]*-[ \t]+name:[ \t]*["']?(?P<k>[A-Za-z0-9_.\-]{2,64})["']?[ \t]*\r?\n[ \t]+value:[ \t]*(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}'|[^\s"'#\[\]()]{2,256})"#,
        Implied::Named,
    ),
];

/// A password written after its keyword with only a space between: letters
/// and digits mixed with an upper-case letter or a symbol, eight or more.
fn mixed_password(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 8
        && b.iter().any(u8::is_ascii_alphabetic)
        && b.iter().any(u8::is_ascii_digit)
        && b.iter()
            .any(|c| c.is_ascii_uppercase() || !c.is_ascii_alphanumeric())
}

/// A `.pgpass` line: `hostname:port:database:username:password`.
const PGPASS: &str = r"(?m)^[A-Za-z0-9.\-*]{1,253}:(?:[0-9]{1,5}|\*):[^:\s]{1,64}:[^:\s]{1,64}:(?P<v>[^:\s]{6,256})[ \t]*\r?$";

/// `--password Hunter2!`, `-token abc…`: a flag naming a credential, then its value.
const GENERIC_FLAG: &str = r#"(?i)(?:^|\s)--?(?P<k>[a-z0-9_\-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|access[_\-]?key|credentials?)[a-z0-9_\-]*)\s+(?P<v>"[^"\n]{1,256}"|'[^'\n]{1,256}'|[^\s"'`-][^\s"'`]{1,255})"#;

/// Whether a type is a generic (name-based) credential rather than a vendor format.
pub(crate) fn is_generic(ty: &str) -> bool {
    matches!(ty, "PASSWORD" | "GENERIC_SECRET")
}

/// Normalizes a key: lower case, without `_`, `-`, `.` and spaces.
fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The words of a key, lower case: split at `_`, `-`, `.`, spaces and
/// camel-case humps (`nextPageToken` → `next`, `page`, `token`).
fn key_words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            prev_lower = false;
            words.push(String::new());
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(String::new());
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        match words.last_mut() {
            Some(w) => w.extend(c.to_lowercase()),
            None => words.push(c.to_lowercase().collect()),
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// Whether a key names a credential, and how strong the evidence must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    /// `password`, `passwd`, `pwd`, `passphrase`: any real-looking value is a secret.
    Password,
    /// `secret`, `token`, `api_key`…: the value must look random.
    Token,
}

/// Classifies a key (a JSON key, a header name, `key=` in text).
pub(crate) fn classify_key(key: &str) -> Option<KeyClass> {
    thread_local! {
        static MEMO: super::KeyMemo<Option<KeyClass>> = Default::default();
    }
    super::memoized(&MEMO, key, classify_key_now)
}

/// [`classify_key`], worked out.
fn classify_key_now(key: &str) -> Option<KeyClass> {
    let k = normalize_key(key);
    // Every ASCII word below holds one of these stems (the test
    // `key_stems_cover_every_key_word` checks it): a key with none of them
    // (`author`, `title`) is no credential, without fifty substring searches.
    if key.is_ascii() && !KEY_STEMS.iter().any(|s| k.contains(s)) {
        return None;
    }
    const NOT_SECRETS: &[&str] = &[
        "page",
        "next",
        "cursor",
        "type",
        "count",
        "limit",
        "max",
        "usage",
        "csrf",
        "xsrf",
        "expir",
        "url",
        "uri",
        "endpoint",
        "name",
        "length",
        "hint",
        "path",
        "file",
        "policy",
        "reset",
        "forgot",
        "prompt",
        "field",
        "label",
        "required",
        "enabled",
        "strength",
        "used",
        "total",
        "rotation",
        "manager",
        "tokenizer",
        "tokens",
        "sync",
        "continuation",
        "idempotency",
        "version",
        "format",
        "ttl",
        "header",
        "scope",
        "description",
        "id",
        "valid",
        "at",
        "hash",
    ];
    let raw = key.trim().to_ascii_lowercase();
    // Unicode lower case differs from ASCII lower case only past ASCII.
    let unicode_lower = (!key.is_ascii()).then(|| key.to_lowercase());
    let lower = unicode_lower.as_deref().unwrap_or(&raw);
    let password = ["password", "passwd", "passphrase", "passcode"]
        .iter()
        .any(|p| k.contains(p))
        || k == "pwd"
        || k.ends_with("pwd")
        || k == "pass"
        || ["_pass", "-pass", ".pass", " pass"]
            .iter()
            .any(|p| raw.ends_with(p))
        || key.trim().ends_with("Pass")
        || k == "pw"
        || ["_pw", "-pw", ".pw", " pw"]
            .iter()
            .any(|p| raw.ends_with(p))
        || [
            "passwort",
            "kennwort",
            "contraseña",
            "contrasena",
            "mot de passe",
            "senha",
            "wachtwoord",
            "пароль",
            "パスワード",
            "hasło",
            "haslo",
            "lösenord",
            "losenord",
            "salasana",
            "şifre",
            "sifre",
            "密码",
            "密碼",
            "비밀번호",
        ]
        .iter()
        .any(|p| lower.contains(p));
    let token = [
        "secret",
        "apikey",
        "accesskey",
        "privatekey",
        "token",
        "credential",
        "authorization",
        "authkey",
        "signingkey",
        "encryptionkey",
        "masterkey",
        "clientkey",
        "sharedkey",
        "xapikey",
        "appkey",
        "applicationkey",
        "licensekey",
        "adminkey",
        "writekey",
        "secretid",
        "apitoken",
        "storagekey",
        "accountkey",
        "webhookkey",
    ]
    .iter()
    .any(|p| k.contains(p))
        || k == "auth"
        || k == "key"
        // A personal access token: `AZURE_DEVOPS_EXT_PAT`, `gitlab_pat`.
        || (k.ends_with("pat") && key_words(key).last().is_some_and(|w| w == "pat"));
    if !password && !token {
        return None;
    }
    let words = key_words(key);
    // `next_page_token`, `tokenExpiresAt`: a word of the key says what it
    // is. Whole words, so that `PAGERDUTY_TOKEN` is not a `page`.
    if NOT_SECRETS.iter().any(|n| {
        words.last().is_some_and(|w| w == n)
            || (n.len() > 3 && (k.ends_with(n) || words.iter().any(|w| w == n)))
    }) {
        return None;
    }
    Some(if password {
        KeyClass::Password
    } else {
        KeyClass::Token
    })
}

/// What every ASCII credential word of [`classify_key`] contains, lower
/// case and without separators.
const KEY_STEMS: &[&str] = &[
    "pass",
    "pw",
    "secret",
    "key",
    "token",
    "cred",
    "auth",
    "pat",
    "kennwort",
    "contrasen",
    "senha",
    "wachtwoord",
    "haslo",
    "losenord",
    "salasana",
    "sifre",
];

/// The secret type of `value` held under `key`, if it is one, and how sure
/// that is. `free_text`: the pair was found in prose or code (where a bare
/// word after `password:` is more often a type or a label than a password).
pub(crate) fn secret_for_key(
    key: &str,
    value: &str,
    free_text: bool,
) -> Option<(&'static str, Confidence)> {
    let class = classify_key(key)?;
    let value = value.trim();
    if value.is_empty()
        || is_placeholder(value)
        || is_reference(value)
        || value.starts_with("[REDACTED:")
        || value.contains(char::is_whitespace)
    {
        return None;
    }
    match class {
        KeyClass::Password => {
            if value.chars().count() < 6 || (free_text && is_word(value)) {
                return None;
            }
            // A form's label or its translation (`"password": "Contraseña"`,
            // `"Пароль"`): the value names a password rather than being one.
            if value.chars().all(char::is_alphabetic)
                && classify_key(value) == Some(KeyClass::Password)
            {
                return None;
            }
            // Ciphertext or an encoding (a SealedSecret's `encryptedData`,
            // a vault blob) is not the password: no one types 100 base64
            // characters. A base64 password inside is found by the decoder.
            if value.len() >= 100
                && value.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                })
            {
                return None;
            }
            Some(("PASSWORD", Confidence::High))
        }
        KeyClass::Token => {
            let looks_random = value.len() >= 16
                && value.len() <= 4096
                && entropy(value) >= 3.0
                && char_classes(value) >= 2;
            if !looks_random {
                // A password-like value under `*_secret` (`"Maple!2020QP"`).
                if mixed_password(value) && !is_word(value) && value.len() <= 64 {
                    return Some(("GENERIC_SECRET", Confidence::Low));
                }
                return None;
            }
            // A bare `key` or `auth` names many things (cache keys, object keys).
            let k = normalize_key(key);
            let weak = matches!(k.as_str(), "key" | "auth" | "credential" | "credentials");
            // Under a bare `key`, a cache key (`user:42:profile`) or an object
            // name is far more likely than a credential: only a value that
            // mixes all three classes, with no separators, is one.
            if weak
                && (char_classes(value) < 3 || value.len() < 20 || value.contains([':', '/', '.']))
            {
                return None;
            }
            // Publishable keys are public by design (Stripe's `pk_live_…`,
            // Mapbox's `pk.eyJ…` access tokens).
            if value.starts_with("pk_live_")
                || value.starts_with("pk_test_")
                || value.starts_with("pk.eyJ")
            {
                return None;
            }
            let strong_value = value.len() >= 20 && entropy(value) >= 3.5;
            let confidence = if !weak && strong_value {
                Confidence::High
            } else {
                Confidence::Low
            };
            Some(("GENERIC_SECRET", confidence))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_dots_are_where_every_token_match_has_its_first_dot() {
        let re = Regex::new(RULES[DISCORD_SLOT.unwrap()].pattern).unwrap();
        let id = "MTk4NjIyNDgzNDcxOTI1MjQ4"; // 24 characters
        let mut texts = vec![
            "https://api.github.com/repos/acme/shop".to_owned(),
            "see docs.github.io and www.google.com/search".to_owned(),
        ];
        for extra in ["", "A", "Ab"] {
            for tail in [27, 30, 38] {
                let token = format!("{id}{extra}.Cl2FMQ.{}", "Z".repeat(tail));
                for (before, after) in [
                    ("", ""),
                    ("token ", " end"),
                    ("x.abcdef.", ".y"),
                    ("a.b.", "."),
                ] {
                    texts.push(format!("{before}{token}{after}"));
                    texts.push(format!("{before}{token}\n{before}{token}{after}"));
                }
            }
        }
        let mut matches = 0;
        for text in &texts {
            let dots: Vec<usize> = discord_dots(text).collect();
            for m in re.find_iter(text) {
                matches += 1;
                let first_dot = m.start() + m.as_str().find('.').unwrap();
                assert!(
                    dots.contains(&first_dot),
                    "{text:?}: {dots:?} lacks {first_dot}"
                );
            }
        }
        // Not vacuous: every text but the first two holds tokens.
        assert!(matches >= texts.len() - 2, "{matches} matches");
        assert_eq!(discord_dots(&texts[0]).count(), 0);
        assert_eq!(discord_dots(&texts[1]).count(), 0);
    }

    #[test]
    fn the_keyword_search_finds_what_an_overlapping_search_finds() {
        let (keywords, _) = keyword_list();
        let reference = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&keywords)
            .unwrap();
        let ours = Keywords::new(&keywords).unwrap();
        // Keywords and their pieces, overlapping and in any case, among
        // prose, separators and bytes of other scripts.
        let filler = [
            " ", "_", ".", "=", ":", "://", "\n", "\u{e9}", "\u{416}", "the ", "passport", "a",
            "ss", "on", "e", "-", "@", "\t", "0", "xy",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5eed_0f0b_5e55_ed00);
        let mut texts: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        texts.push(String::new());
        for n in 0..6000 {
            let mut t = String::new();
            for _ in 0..rng.usize(1..12) {
                let piece = if rng.bool() {
                    let k = keywords[rng.usize(..keywords.len())];
                    let cut: Vec<char> = k.chars().collect();
                    // The whole keyword, or its head or tail.
                    let (a, b) = match rng.usize(..4) {
                        0 => (0, rng.usize(..=cut.len())),
                        1 => (rng.usize(..=cut.len()), cut.len()),
                        _ => (0, cut.len()),
                    };
                    cut[a..b].iter().collect::<String>()
                } else {
                    filler[rng.usize(..filler.len())].to_owned()
                };
                for c in piece.chars() {
                    if n % 2 == 0 && rng.bool() {
                        t.push(c.to_ascii_uppercase());
                    } else {
                        t.push(c);
                    }
                }
            }
            texts.push(t);
        }
        texts.push(include_str!("../../../../benches/engine.rs").to_owned());
        // All of them in one text: many matches held and given in order.
        texts.push(texts.concat());
        let mut found = 0;
        for t in &texts {
            let want: Vec<_> = reference.find_overlapping_iter(t).collect();
            found += want.len();
            assert_eq!(ours.find_all(t.as_bytes()), want, "{t:?}");
            assert_eq!(ours.is_match(t.as_bytes()), !want.is_empty(), "{t:?}");
        }
        assert_eq!(ours.patterns_len(), keywords.len());
        assert!(found > 15_000, "{found}");
    }

    #[test]
    fn the_colon_gate_passes_every_pgpass_shaped_line() {
        // What the scan checks line by line once the gate passes.
        let line_check = |t: &str| {
            t.lines().any(|l| {
                let l = l.trim_end_matches([' ', '\t', '\r']);
                l.bytes().filter(|&b| b == b':').count() >= 4 && !l.contains(char::is_whitespace)
            })
        };
        for t in [
            "db.internal:5432:app:admin:S3cr3t!",
            "note\n*:*:*:postgres:hunter2 \r\nnext",
            "a:b:c:d:e",
            "::::",
            ":::",
            "a:b c:d:e:f",
            "2024-11-24T19:20:24Z ERROR orders::create failed",
            "h:p:d:u:\u{0b}x",
            "x:y:z:w:v\u{2003}tail",
            "",
        ] {
            if line_check(t) {
                assert!(four_colons_unbroken(t.as_bytes()), "{t:?}");
            }
        }
        assert!(!four_colons_unbroken(b"time 10:20:30 and 11:22"));
        assert!(four_colons_unbroken(b"h:5432:db:user:pw"));
    }

    #[test]
    fn passwords_in_urls_are_found_past_urls_without_one() {
        let rules = SecretRules::new();
        let types = |text: &str| {
            let mut hits = Vec::new();
            rules.scan(text, &Features::of(text), &mut hits);
            hits.iter().map(|h| h.ty.to_string()).collect::<Vec<_>>()
        };
        assert!(types("see https://x.io/a?b=c and https://api.example.com/").is_empty());
        let text = "docs at https://x.io/a, then postgres://app:Tr0ub4dor3x@db.internal:5432/app";
        assert_eq!(types(text), ["DATABASE_URL"]);
        let text = "https://x.io/ https://deploy:Zq8vR2mK7pLx@git.corp.example/repo.git";
        assert_eq!(types(text), ["URL_CREDENTIALS"]);
        // The scan skips `://` hits without an `@` in the authority: right
        // for these two rules only. A new rule woken by `://` must be added
        // here once it is known to need the `@` too.
        let woken: Vec<&str> = RULES
            .iter()
            .filter(|r| r.keywords.contains(&"://"))
            .map(|r| r.ty)
            .collect();
        assert_eq!(woken, ["DATABASE_URL", "URL_CREDENTIALS"]);
        assert!(at_in_authority(b"u:p@h/x"));
        assert!(!at_in_authority(b"h/x@y"));
        assert!(!at_in_authority(b"h x@y"));
    }

    #[test]
    fn key_stems_cover_every_key_word() {
        // The words `classify_key` looks for, read from its source: from the
        // lower-casing to the verdict (NOT_SECRETS comes before).
        let source = include_str!("secrets.rs");
        let body = &source[source.find("pub(crate) fn classify_key").unwrap()..];
        let body =
            &body[body.find("let raw =").unwrap()..body.find("if !password && !token").unwrap()];
        let words: Vec<String> = body
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|w| w.is_ascii())
            .map(normalize_key)
            .filter(|w| !w.is_empty())
            .collect();
        assert!(words.len() > 30, "{words:?}");
        for w in &words {
            assert!(KEY_STEMS.iter().any(|s| w.contains(s)), "{w} has no stem");
        }
        for key in ["author", "title", "run_id", "commit"] {
            assert_eq!(classify_key(key), None, "{key}");
        }
        assert_eq!(classify_key("DB_PASS"), Some(KeyClass::Password));
        assert_eq!(classify_key("gitlab_pat"), Some(KeyClass::Token));
        assert_eq!(classify_key("Contraseña"), Some(KeyClass::Password));
    }

    #[test]
    fn all_rules_compile() {
        SecretRules::new().compile_all();
    }

    #[test]
    fn key_classes() {
        assert_eq!(classify_key("password"), Some(KeyClass::Password));
        assert_eq!(classify_key("DB_PASSWORD"), Some(KeyClass::Password));
        assert_eq!(classify_key("api_key"), Some(KeyClass::Token));
        assert_eq!(classify_key("X-Api-Key"), Some(KeyClass::Token));
        assert_eq!(classify_key("client_secret"), Some(KeyClass::Token));
        assert_eq!(classify_key("PAGERDUTY_TOKEN"), Some(KeyClass::Token));
        assert_eq!(classify_key("NEW_RELIC_LICENSE_KEY"), Some(KeyClass::Token));
        assert_eq!(classify_key("AzureStorageKey"), Some(KeyClass::Token));
        assert_eq!(key_words("nextPageToken"), ["next", "page", "token"]);
        assert_eq!(key_words("X-API-KEY"), ["x", "api", "key"]);
        for not in [
            "next_page_token",
            "token_type",
            "max_tokens",
            "password_reset_url",
            "request_id",
            "username",
            "keyboard",
            "nextPageToken",
            "page_token",
        ] {
            assert_eq!(classify_key(not), None, "{not}");
        }
    }
}
