//! Byte encodings that Solana puts on the wire (base58 for keys and signatures, base64 for
//! account data and event logs) and the seeded hash stream every simulated key is derived from.
//!
//! Written here rather than pulled in as crates because the sim needs only a few dozen lines of
//! each, and the derivation must stay bit-for-bit stable across dependency upgrades so that a
//! seed always names the same chain.

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

const BASE58_INDEX: [u8; 128] = {
    let mut table = [0xFF_u8; 128];
    let mut i = 0;
    while i < 58 {
        table[BASE58_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Encodes bytes as base58 (Bitcoin alphabet, as Solana uses for pubkeys and signatures).
///
/// Hot path (every signature in a 1000-entry `getSignaturesForAddress` page): the arithmetic
/// runs on limbs of 58⁵ fed 3 bytes at a time, ~15× fewer divisions than digit-by-digit.
pub fn base58_encode(input: &[u8]) -> String {
    const LIMB: u64 = 58 * 58 * 58 * 58 * 58; // < 2^30, so limb << 24 fits a u64 comfortably
    let zeros = input.iter().take_while(|&&b| b == 0).count();
    let rest = &input[zeros..];
    // Little-endian limbs in base 58^5.
    let mut limbs: Vec<u32> = Vec::with_capacity(rest.len() / 3 + 2);
    for chunk in rest.chunks(3) {
        let shift = 8 * chunk.len() as u32;
        let mut carry = chunk
            .iter()
            .fold(0_u64, |acc, &b| (acc << 8) | u64::from(b));
        for limb in limbs.iter_mut() {
            carry += u64::from(*limb) << shift;
            *limb = (carry % LIMB) as u32;
            carry /= LIMB;
        }
        while carry > 0 {
            limbs.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }
    let mut digits: Vec<u8> = Vec::with_capacity(limbs.len() * 5);
    for mut limb in limbs {
        for _ in 0..5 {
            digits.push((limb % 58) as u8);
            limb /= 58;
        }
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(
        digits
            .iter()
            .rev()
            .map(|&d| BASE58_ALPHABET[d as usize] as char),
    );
    out
}

/// Decodes base58; `None` when a character is outside the alphabet.
pub(crate) fn base58_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let zeros = bytes.iter().take_while(|&&c| c == b'1').count();
    let mut le: Vec<u8> = Vec::with_capacity(bytes.len());
    for &c in &bytes[zeros..] {
        let value = *BASE58_INDEX.get(c as usize)?;
        if value == 0xFF {
            return None;
        }
        let mut carry = u32::from(value);
        for b in le.iter_mut() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xFF) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            le.push((carry & 0xFF) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0_u8; zeros];
    out.extend(le.iter().rev());
    Some(out)
}

/// Why a base58 key or signature parameter was refused, worded as agave words it
/// (`Invalid param: WrongSize` / `Invalid param: Invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyParseError {
    /// Not base58.
    Invalid,
    /// Base58, but not the expected number of bytes.
    WrongSize,
}

impl KeyParseError {
    /// The agave error message for this failure.
    pub(crate) fn message(self) -> &'static str {
        match self {
            KeyParseError::Invalid => "Invalid param: Invalid",
            KeyParseError::WrongSize => "Invalid param: WrongSize",
        }
    }
}

/// Parses a base58 string of exactly `N` bytes (32 for a pubkey, 64 for a signature).
pub(crate) fn decode_fixed<const N: usize>(input: &str) -> Result<[u8; N], KeyParseError> {
    // Reject absurd lengths before doing quadratic work on them.
    if input.len() > N * 2 {
        return Err(KeyParseError::WrongSize);
    }
    let bytes = base58_decode(input).ok_or(KeyParseError::Invalid)?;
    bytes.try_into().map_err(|_| KeyParseError::WrongSize)
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes bytes as standard, padded base64 (what `"encoding":"base64"` returns).
pub(crate) fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(BASE64_ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(BASE64_ALPHABET[(n >> 12) as usize & 63] as char);
        if chunk.len() > 1 {
            out.push(BASE64_ALPHABET[(n >> 6) as usize & 63] as char);
        } else {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(BASE64_ALPHABET[n as usize & 63] as char);
        } else {
            out.push('=');
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any other character.
pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0_u32;
    let mut bits = 0_u32;
    for &c in trimmed.as_bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// SplitMix64: a tiny, well-mixed, platform-independent stream. Every simulated signature, key,
/// blockhash and per-slot transaction count is drawn from one of these, seeded with
/// `(cluster seed, domain, index)`, so the same seed always produces the same chain.
#[derive(Debug, Clone)]
pub(crate) struct SeedStream(u64);

impl SeedStream {
    /// A stream keyed by several words (e.g. seed, domain tag, slot).
    pub(crate) fn new(parts: &[u64]) -> Self {
        let mut state = 0x243F_6A88_85A3_08D3_u64;
        for &part in parts {
            state = mix(state ^ part);
        }
        SeedStream(state)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A uniform float in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Fills `buf` with random bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `N` random bytes.
    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0_u8; N];
        self.fill(&mut out);
        out
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a string to a word, e.g. to give each endpoint name its own RNG stream.
pub(crate) fn hash_str(s: &str) -> u64 {
    // FNV-1a, then mixed: stable across Rust versions, unlike `DefaultHasher`.
    let mut h = 0xCBF2_9CE4_8422_2325_u64;
    for &b in s.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_round_trips_known_values() {
        // The system program is 32 zero bytes.
        assert_eq!(
            base58_encode(&[0_u8; 32]),
            "11111111111111111111111111111111"
        );
        let token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
        let bytes = decode_fixed::<32>(token).unwrap();
        assert_eq!(base58_encode(&bytes), token);
        assert_eq!(decode_fixed::<32>("0OIl"), Err(KeyParseError::Invalid));
        assert_eq!(decode_fixed::<32>("abc"), Err(KeyParseError::WrongSize));
    }

    /// Digit-by-digit reference encoder.
    fn base58_reference(input: &[u8]) -> String {
        let zeros = input.iter().take_while(|&&b| b == 0).count();
        let mut digits: Vec<u8> = Vec::new();
        for &byte in &input[zeros..] {
            let mut carry = u32::from(byte);
            for d in digits.iter_mut() {
                carry += u32::from(*d) << 8;
                *d = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits.push((carry % 58) as u8);
                carry /= 58;
            }
        }
        let mut out = "1".repeat(zeros);
        out.extend(
            digits
                .iter()
                .rev()
                .map(|&d| BASE58_ALPHABET[d as usize] as char),
        );
        out
    }

    #[test]
    fn fast_base58_matches_reference() {
        let mut s = SeedStream::new(&[11]);
        for len in 0..80 {
            for _ in 0..20 {
                let mut bytes = vec![0_u8; len];
                s.fill(&mut bytes);
                // Exercise leading zeros and small values too.
                let cut = (s.next_u64() % (len as u64 + 1)) as usize;
                if s.next_f64() < 0.3 {
                    bytes[..cut].fill(0);
                }
                let enc = base58_encode(&bytes);
                assert_eq!(enc, base58_reference(&bytes), "{bytes:?}");
                assert_eq!(base58_decode(&enc).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = base64_encode(&data);
            assert_eq!(enc.len() % 4, 0);
            assert_eq!(base64_decode(&enc).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn seed_stream_is_deterministic() {
        let a: [u8; 64] = SeedStream::new(&[1, 2, 3]).bytes();
        let b: [u8; 64] = SeedStream::new(&[1, 2, 3]).bytes();
        let c: [u8; 64] = SeedStream::new(&[1, 2, 4]).bytes();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
