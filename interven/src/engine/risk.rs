//! The risk scorer: a deterministic score in `[0, 1]` from the findings and the operation.
//!
//! Each finding has a weight by type (a private key 0.95, most credentials
//! 0.9, a generic password 0.75, an exfiltration host 0.85, a card or SSN
//! 0.5, an email 0.3, plain http 0.3…); a destructive operation weighs 0.5.
//! The first finding of a type counts fully, further ones a quarter, at most
//! five per type. The weights combine as independent risks,
//! `1 - Π(1 - w)`, rounded to three decimals. The band follows
//! [`RiskBand::from_score`](crate::RiskBand::from_score).

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use super::FindingKind;
use crate::types::ScanRequest;

/// Words that make an operation destructive.
pub(crate) const DESTRUCTIVE_WORDS: &[&str] = &[
    "delete",
    "drop",
    "destroy",
    "truncate",
    "purge",
    "wipe",
    "erase",
    "force_push",
    "force-push",
    "transfer",
    "payment",
    "payout",
    "refund",
    "withdraw",
];

fn weight(kind: FindingKind, ty: &str) -> f64 {
    match (kind, ty) {
        (FindingKind::Exfiltration, _) => 0.95,
        (FindingKind::Secret, "PRIVATE_KEY") => 0.95,
        (FindingKind::Secret, "PASSWORD" | "GENERIC_SECRET") => 0.75,
        (FindingKind::Secret, _) => 0.9,
        (FindingKind::Destination, "EXFILTRATION_DESTINATION") => 0.85,
        (FindingKind::Destination, "DENYLISTED_DESTINATION") => 0.8,
        (FindingKind::Destination, "RAW_IP_URL") => 0.6,
        (FindingKind::Destination, "UNLISTED_DESTINATION") => 0.5,
        (FindingKind::Destination, _) => 0.3,
        (FindingKind::Pii, "PAYMENT_CARD" | "US_SSN" | "IBAN" | "PASSPORT_NUMBER") => 0.5,
        (FindingKind::Pii, _) => 0.3,
    }
}

/// `true` when the method or operation name says the call destroys or
/// moves something: it holds one of [`DESTRUCTIVE_WORDS`], in any ASCII case.
pub(crate) fn is_destructive(request: &ScanRequest) -> bool {
    static WORDS: OnceLock<AhoCorasick> = OnceLock::new();
    request.method() == "DELETE"
        || request.operation().is_some_and(|op| {
            WORDS
                .get_or_init(|| {
                    AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .build(DESTRUCTIVE_WORDS)
                        .unwrap_or_else(|e| panic!("destructive words: {e}"))
                })
                .is_match(op)
        })
}

/// The score of a request with these findings.
pub(crate) fn score(findings: &[(FindingKind, &str)], request: &ScanRequest) -> f64 {
    // Per type, how many were seen: a few distinct types, so a short list.
    let mut seen: Vec<(&str, u32)> = Vec::new();
    let mut safe = 1.0_f64;
    for &(kind, ty) in findings {
        let i = match seen.iter().position(|(t, _)| *t == ty) {
            Some(i) => i,
            None => {
                seen.push((ty, 0));
                seen.len() - 1
            }
        };
        seen[i].1 += 1;
        let n = &seen[i].1;
        if *n > 5 {
            continue;
        }
        let w = if *n == 1 {
            weight(kind, ty)
        } else {
            weight(kind, ty) / 4.0
        };
        safe *= 1.0 - w;
    }
    if is_destructive(request) {
        safe *= 0.5;
    }
    ((1.0 - safe) * 1000.0).round().clamp(0.0, 1000.0) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let req = ScanRequest::new("POST", "https://x.io");
        assert_eq!(score(&[], &req), 0.0);
        assert_eq!(score(&[(FindingKind::Pii, "EMAIL")], &req), 0.3);
        let many: Vec<_> = (0..50)
            .map(|_| (FindingKind::Secret, "PRIVATE_KEY"))
            .collect();
        let s = score(&many, &req);
        assert!(s > 0.95 && s <= 1.0);
        assert_eq!(s, score(&many, &req));
        let del = ScanRequest::new("DELETE", "https://x.io");
        assert_eq!(score(&[], &del), 0.5);
        // A destructive word anywhere in the operation, in any case.
        for (op, destructive) in [
            ("Force-Push_branch", true),
            ("bulkDELETEusers", true),
            ("refunds", true),
            ("create_issue", false),
            ("dro_p", false),
        ] {
            let req = ScanRequest::builder("POST", "https://x.io")
                .operation(op)
                .build()
                .unwrap();
            assert_eq!(is_destructive(&req), destructive, "{op}");
        }
    }
}
