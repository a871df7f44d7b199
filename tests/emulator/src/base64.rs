//! Base64 (RFC 4648), standard and URL-safe alphabets: for HTTP Basic
//! credentials and the web UI's JWT, without another dependency.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe, unpadded (as JWTs use).
pub fn encode_url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(URL_SAFE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Standard alphabet with `=` padding (Jackson's `byte[]` and `java.util.Base64`).
pub fn encode_standard(bytes: &[u8]) -> String {
    encode_padded(bytes, STANDARD)
}

/// URL-safe alphabet with `=` padding (`Base64.getUrlEncoder()`).
pub fn encode_url_padded(bytes: &[u8]) -> String {
    encode_padded(bytes, URL_SAFE)
}

fn encode_padded(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes either alphabet, with or without padding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = STANDARD.iter().position(|s| *s == c).or_else(|| URL_SAFE.iter().position(|s| *s == c))? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"alice:", b"\xff\xfe\xfd"] {
            assert_eq!(decode(&encode_url(input)).as_deref(), Some(input));
        }
        assert_eq!(decode("YWxpY2U6").as_deref(), Some(&b"alice:"[..]));
        assert_eq!(decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode("!!"), None);
        assert_eq!(encode_standard(b"testData"), "dGVzdERhdGE=");
        assert_eq!(encode_url_padded(b"\xfb\xff"), "-_8=");
        for input in [&b""[..], b"f", b"fo", b"foo", b"\xff\xfe\xfd\xfc"] {
            assert_eq!(decode(&encode_standard(input)).as_deref(), Some(input));
        }
    }
}
