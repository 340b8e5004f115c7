//! Client tokens: deterministic, so that a redelivered event repeats its calls idempotently, and
//! distinct per call, so that no two calls of one event share a token (SPEC §3).
//! Only the hash lives here; which parts make a token is the caller's choice.

/// A 32-hex-digit token that depends on `parts` alone. The SDK would otherwise fill in a random
/// token per attempt.
pub fn stable_token(parts: &[&str]) -> String {
    let mut hash = Fnv128::new();
    for part in parts {
        hash.write(part.as_bytes());
        // A separator that cannot occur in the parts keeps ("ab","c") apart from ("a","bc").
        hash.write(&[0]);
    }
    format!("{:032x}", hash.finish())
}

/// FNV-1a, 128-bit: a stable, dependency-free hash. Tokens need to be deterministic and distinct,
/// not secret.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn new() -> Self {
        Fnv128(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u128::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_the_parts_and_their_boundaries() {
        let token = stable_token(&["stack", "request", "CreateArchiveRule"]);
        assert_eq!(
            token,
            stable_token(&["stack", "request", "CreateArchiveRule"])
        );
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(
            token,
            stable_token(&["stack", "request", "ApplyArchiveRule"])
        );
        assert_ne!(stable_token(&["ab", "c"]), stable_token(&["a", "bc"]));
    }
}
