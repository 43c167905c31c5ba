//! The policy language's wildcards: `*` matches any run of characters (the
//! empty one too, and across `/` and `:`), `?` exactly one character. There
//! is no escape: a literal `*` or `?` in a name is matched by the wildcard.

/// Whether `text` matches `pattern` as a whole (case-sensitive: callers
/// lower-case both sides where the language is case-insensitive).
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    // Linear-time matching with one backtrack point (the last `*`): a later
    // `*` can absorb everything an earlier one could, so only the most
    // recent star ever needs to retry.
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_and_question_mark() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at:all"));
        assert!(matches("oss:*", "oss:GetObject"));
        assert!(matches("oss:Get*", "oss:GetObject"));
        assert!(!matches("oss:Get*", "oss:PutObject"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches(
            "acs:oss:*:*:bucket/*",
            "acs:oss:cn-hangzhou:1234:bucket/a/b.txt"
        ));
        assert!(!matches(
            "acs:oss:*:*:bucket/*",
            "acs:oss:cn-hangzhou:1234:bucket"
        ));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
        assert!(matches("**?", "x"));
        assert!(!matches("", "x"));
        assert!(matches("", ""));
        assert!(!matches("abc", "ABC"));
    }
}
