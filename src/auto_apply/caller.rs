//! Who made an archive-rule change, from the CloudTrail record's `userIdentity` (SPEC §9.2 step 2),
//! and whether that caller may have its changes applied. Matching only; no calls.
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html>

use serde_json::Value;

/// The caller's ARN: the role (path included) behind an assumed-role session, the user or the
/// root for `IAMUser` and `Root`. Any other identity type has no ARN a pattern can match.
pub fn caller_arn(user_identity: &Value) -> Option<String> {
    let text = |value: &Value| value.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    match user_identity.get("type").and_then(Value::as_str)? {
        "AssumedRole" => text(&user_identity["sessionContext"]["sessionIssuer"]["arn"]),
        "IAMUser" | "Root" => text(&user_identity["arn"]),
        _ => None,
    }
}

/// A caller may have its changes applied when no patterns are set, or its ARN matches one.
pub fn is_allowed(caller: Option<&str>, patterns: &[String]) -> bool {
    if patterns.is_empty() {
        return true;
    }
    caller.is_some_and(|arn| patterns.iter().any(|p| glob_matches(p, arn)))
}

/// `*` matches any run of characters, `/` included; every other character only itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, swallowed)) = backtrack {
            pi = star + 1;
            ti = swallowed + 1;
            backtrack = Some((star, swallowed + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_caller_is_the_role_behind_a_session_or_the_user() {
        let assumed = json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/terraform/session-1",
            "sessionContext": {"sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::123456789012:role/pipelines/terraform"
            }}
        });
        assert_eq!(
            caller_arn(&assumed).as_deref(),
            Some("arn:aws:iam::123456789012:role/pipelines/terraform")
        );
        let user = json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"});
        assert_eq!(
            caller_arn(&user).as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
        let root = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root"});
        assert_eq!(
            caller_arn(&root).as_deref(),
            Some("arn:aws:iam::123456789012:root")
        );
        for other in [
            "AWSService",
            "FederatedUser",
            "IdentityCenterUser",
            "Unknown",
        ] {
            assert_eq!(
                caller_arn(&json!({"type": other, "arn": "arn:x"})),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn patterns_are_globs_over_the_whole_arn() {
        let ci = "arn:aws:iam::123456789012:role/pipelines/terraform";
        assert!(glob_matches(ci, ci));
        assert!(glob_matches("arn:aws:iam::*:role/pipelines/*", ci));
        assert!(glob_matches("*terraform", ci));
        assert!(
            glob_matches("arn:aws:iam::123456789012:role/*", ci),
            "* crosses /"
        );
        assert!(!glob_matches(
            "arn:aws:iam::123456789012:role/pipelines",
            ci
        ));
        assert!(!glob_matches("arn:aws:iam::*:role/other/*", ci));
        assert!(glob_matches("a*b*c", "aXbYbc"));
        assert!(!glob_matches("a*b*c", "aXbYd"));
    }

    #[test]
    fn no_pattern_allows_anyone_and_a_caller_without_arn_matches_none() {
        assert!(is_allowed(None, &[]));
        let patterns = vec!["arn:aws:iam::*:role/ci".to_owned()];
        assert!(!is_allowed(None, &patterns));
        assert!(is_allowed(Some("arn:aws:iam::1:role/ci"), &patterns));
        assert!(!is_allowed(Some("arn:aws:iam::1:user/ci"), &patterns));
    }
}
