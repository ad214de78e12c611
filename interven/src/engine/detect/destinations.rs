//! Risky destinations: paste, webhook-capture and tunnel hosts, raw IP
//! URLs, plain http to non-loopback hosts, and the policy's host lists.

use std::net::IpAddr;

use super::Hit;
use crate::engine::FindingKind;
use crate::engine::policy::glob_match;

/// Hosts (and their subdomains) that receive data for anyone who asks:
/// paste sites, request catchers, tunnels, out-of-band interaction services.
const EXFILTRATION_HOSTS: &[&str] = &[
    "pastebin.com",
    "paste.ee",
    "pastes.io",
    "hastebin.com",
    "ghostbin.com",
    "ghostbin.co",
    "dpaste.com",
    "dpaste.org",
    "rentry.co",
    "rentry.org",
    "termbin.com",
    "ix.io",
    "sprunge.us",
    "0x0.st",
    "transfer.sh",
    "file.io",
    "bashupload.com",
    "paste.rs",
    "controlc.com",
    "justpaste.it",
    "privatebin.net",
    "webhook.site",
    "requestbin.com",
    "requestbin.net",
    "pipedream.net",
    "requestcatcher.com",
    "beeceptor.com",
    "hookbin.com",
    "mockbin.org",
    "postb.in",
    "ptsv2.com",
    "ptsv3.com",
    "webhook.cool",
    "ngrok.io",
    "ngrok-free.app",
    "ngrok.app",
    "ngrok.dev",
    "trycloudflare.com",
    "loca.lt",
    "localtunnel.me",
    "serveo.net",
    "localhost.run",
    "lhr.life",
    "pagekite.me",
    "telebit.cloud",
    "burpcollaborator.net",
    "oastify.com",
    "interact.sh",
    "oast.fun",
    "oast.pro",
    "oast.live",
    "oast.site",
    "oast.online",
    "oast.me",
    "canarytokens.com",
    "dnslog.cn",
    "ceye.io",
];

/// The policy's host lists (globs such as `*.internal.example.com`).
#[derive(Debug, Clone, Default)]
pub(crate) struct HostLists {
    pub(crate) allow: Vec<String>,
    pub(crate) deny: Vec<String>,
}

/// Whether `host` is one of [`EXFILTRATION_HOSTS`] or a subdomain of one:
/// the host and each of its parent domains are looked up in a set.
fn is_exfiltration_host(host: &str) -> bool {
    static HOSTS: std::sync::OnceLock<foldhash::HashSet<&'static str>> = std::sync::OnceLock::new();
    let hosts = HOSTS.get_or_init(|| EXFILTRATION_HOSTS.iter().copied().collect());
    hosts.contains(host)
        || memchr::memchr_iter(b'.', host.as_bytes()).any(|i| hosts.contains(&host[i + 1..]))
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// The URLs in `text`, as the pattern `https?://[^\s"'<>\\]+` finds them
/// (leftmost first, none overlapping): `(start, url)`. Read by hand from each
/// `://`, as a regex search costs more than most texts take to scan.
pub(crate) fn embedded_urls(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut end = 0;
    memchr::memmem::find_iter(bytes, b"://").filter_map(move |colon| {
        let head = &bytes[..colon];
        let start = if head.ends_with(b"https") {
            colon - 5
        } else if head.ends_with(b"http") {
            colon - 4
        } else {
            return None;
        };
        // Inside the last URL (whose characters `http` and `://` all are).
        if start < end {
            return None;
        }
        let rest = &text[colon + 3..];
        let len = rest
            .char_indices()
            .find(|&(_, c)| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        end = colon + 3 + len;
        Some((start, &text[start..end]))
    })
}

/// Checks the request's own URL: every destination rule applies.
/// `parsed` is `url` parsed (once per request, by the caller).
pub(crate) fn check_request_url(
    url: &str,
    parsed: Option<&url::Url>,
    lists: &HostLists,
    hits: &mut Vec<Hit>,
) {
    let Some(parsed) = parsed else {
        return;
    };
    if !matches!(parsed.scheme(), "http" | "https" | "ws" | "wss" | "ftp") {
        return;
    }
    let span = 0..url.len();
    let (host, loopback, ip) = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback(), Some(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback(), Some(IpAddr::V6(ip))),
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            let lo = is_loopback_name(&d);
            (d, lo, None)
        }
        None => return,
    };
    if loopback {
        return;
    }
    if ip.is_some() {
        hits.push(Hit::new(
            FindingKind::Destination,
            "RAW_IP_URL",
            span.clone(),
        ));
    }
    if matches!(parsed.scheme(), "http" | "ws" | "ftp") {
        hits.push(Hit::new(
            FindingKind::Destination,
            "INSECURE_TRANSPORT",
            span.clone(),
        ));
    }
    check_host(&host, lists, span.clone(), hits);
    if !lists.allow.is_empty() && !lists.allow.iter().any(|g| glob_match(g, &host)) {
        hits.push(Hit::new(
            FindingKind::Destination,
            "UNLISTED_DESTINATION",
            span,
        ));
    }
}

/// Checks a URL found inside the body: exfiltration hosts and the deny list only.
pub(crate) fn check_embedded_url(url: &str, start: usize, lists: &HostLists, hits: &mut Vec<Hit>) {
    // The host of an ASCII URL, read without a full parse (a body can hold
    // thousands of URLs); anything unusual goes through the URL parser.
    let b = url.as_bytes();
    let authority = match b.windows(3).position(|w| w == b"://") {
        Some(i) => {
            let rest = &b[i + 3..];
            let n = rest
                .iter()
                .position(|c| matches!(c, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            &rest[..n]
        }
        None => &[][..],
    };
    let host = match memchr::memrchr(b'@', authority) {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    let host = match memchr::memchr(b':', host) {
        Some(i) => &host[..i],
        None => host,
    };
    let simple = !host.is_empty()
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        && host.iter().any(u8::is_ascii_alphabetic)
        && !host.starts_with(b"xn--")
        && memchr::memmem::find(host, b".xn--").is_none();
    if simple {
        // ASCII letters, digits, dots and dashes: a `str` as it is.
        let host = std::str::from_utf8(host).unwrap_or("");
        let lower: std::borrow::Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        check_host(&lower, lists, start..start + url.len(), hits);
        return;
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return;
    };
    if let Some(url::Host::Domain(d)) = parsed.host() {
        check_host(
            &d.to_ascii_lowercase(),
            lists,
            start..start + url.len(),
            hits,
        );
    }
}

fn check_host(host: &str, lists: &HostLists, span: std::ops::Range<usize>, hits: &mut Vec<Hit>) {
    if is_exfiltration_host(host) {
        hits.push(Hit::new(
            FindingKind::Destination,
            "EXFILTRATION_DESTINATION",
            span,
        ));
    } else if lists.deny.iter().any(|g| glob_match(g, host)) {
        hits.push(Hit::new(
            FindingKind::Destination,
            "DENYLISTED_DESTINATION",
            span,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_urls_are_what_the_pattern_finds() {
        let pattern = regex::Regex::new(r#"https?://[^\s"'<>\\]+"#).unwrap();
        let pieces = [
            "http", "https", "s", "://", ":", "/", "a", "é", " ", "\u{a0}", "\u{85}", "\u{b}",
            "\"", "'", "<", ">", "\\", "x.io", "@", "h", "ttp", "\n",
        ];
        let mut rng = fastrand::Rng::with_seed(0x0e4b_ed00);
        for n in 0..20_000 {
            let text: String = (0..n % 17)
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let want: Vec<(usize, &str)> = pattern
                .find_iter(&text)
                .map(|m| (m.start(), m.as_str()))
                .collect();
            assert_eq!(embedded_urls(&text).collect::<Vec<_>>(), want, "{text:?}");
        }
    }

    #[test]
    fn embedded_hosts_are_read_as_the_parser_reads_them() {
        let none = HostLists::default();
        let found = |url: &str| {
            let mut hits = Vec::new();
            check_embedded_url(url, 0, &none, &mut hits);
            hits.iter().map(|h| h.ty.to_string()).collect::<Vec<_>>()
        };
        for url in [
            "https://webhook.site/x",
            "https://WEBHOOK.SITE",
            "https://user:pw@x.ngrok.io:8443/a?b#c",
            "http://pastebin.com?x=1",
            "https://a.b.trycloudflare.com#frag",
            "https://xn--80ak6aa92e.ngrok.io/",
        ] {
            assert_eq!(found(url), ["EXFILTRATION_DESTINATION"], "{url}");
        }
        for url in [
            "https://github.com/webhook.site",
            "https://x.io/?h=pastebin.com",
            "https://:80/",
        ] {
            assert!(found(url).is_empty(), "{url}");
        }
    }

    fn types(url: &str, lists: &HostLists) -> Vec<String> {
        let mut hits = Vec::new();
        check_request_url(url, url::Url::parse(url).ok().as_ref(), lists, &mut hits);
        hits.iter().map(|h| h.ty.to_string()).collect()
    }

    #[test]
    fn destinations() {
        let none = HostLists::default();
        assert_eq!(
            types("https://api.github.com/x", &none),
            Vec::<String>::new()
        );
        assert_eq!(
            types("https://webhook.site/abc", &none),
            ["EXFILTRATION_DESTINATION"]
        );
        assert_eq!(
            types("https://x.ngrok-free.app/", &none),
            ["EXFILTRATION_DESTINATION"]
        );
        assert_eq!(types("https://notngrok.io/", &none), Vec::<String>::new());
        // Any depth of subdomain, not a name that merely ends the same way.
        assert!(is_exfiltration_host("a.b.webhook.site"));
        assert!(!is_exfiltration_host("evilwebhook.site"));
        assert!(!is_exfiltration_host("webhook.site."));
        assert!(!is_exfiltration_host(".."));
        assert_eq!(types("https://203.0.113.9/upload", &none), ["RAW_IP_URL"]);
        assert_eq!(types("http://example.com/", &none), ["INSECURE_TRANSPORT"]);
        assert!(types("http://127.0.0.1:8080/", &none).is_empty());
        assert!(types("http://localhost/", &none).is_empty());
        assert!(types("tool://slack/post", &none).is_empty());
        let lists = HostLists {
            allow: vec!["*.corp.io".into()],
            deny: vec!["evil.com".into()],
        };
        assert_eq!(
            types("https://evil.com/", &lists),
            ["DENYLISTED_DESTINATION", "UNLISTED_DESTINATION"]
        );
        assert!(types("https://api.corp.io/", &lists).is_empty());
    }
}
