//! The web UI's form login (insecure mode: a user name, no password) and its
//! `Trino-UI-Token` cookie: an HS256 JWT signed with a per-coordinator key, so
//! a cookie from one coordinator is worthless on another (as in Trino without
//! `web-ui.shared-secret`).

use crate::base64;
use crate::ids::unix_seconds;
use crate::reply::Reply;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::{json, Value as Json};
use sha2::Sha256;

pub const UI_COOKIE: &str = "Trino-UI-Token";
const AUDIENCE: &str = "trino-ui";
/// web-ui.session-timeout default: 1 day.
const SESSION_SECONDS: u64 = 86_400;

pub struct WebUi {
    key: [u8; 32],
}

impl WebUi {
    pub fn new() -> WebUi {
        WebUi { key: crate::ids::random_bytes() }
    }

    fn sign(&self, data: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(data.as_bytes());
        base64::encode_url(&mac.finalize().into_bytes())
    }

    pub fn token(&self, user: &str) -> String {
        let header = base64::encode_url(json!({"alg": "HS256"}).to_string().as_bytes());
        let claims = json!({"sub": user, "aud": AUDIENCE, "exp": unix_seconds() + SESSION_SECONDS});
        let payload = base64::encode_url(claims.to_string().as_bytes());
        let signed = format!("{header}.{payload}");
        let signature = self.sign(&signed);
        format!("{signed}.{signature}")
    }

    /// The user of a valid, unexpired token.
    fn verify(&self, token: &str) -> Option<String> {
        let (signed, signature) = token.rsplit_once('.')?;
        if self.sign(signed) != signature {
            return None;
        }
        let (_, payload) = signed.split_once('.')?;
        let claims: Json = serde_json::from_slice(&base64::decode(payload)?).ok()?;
        if claims["aud"] != AUDIENCE || claims["exp"].as_u64()? < unix_seconds() {
            return None;
        }
        claims["sub"].as_str().map(str::to_string)
    }

    pub fn user(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(name, _)| *name == UI_COOKIE)
            .find_map(|(_, value)| self.verify(value))
    }

    /// `POST /ui/login` with `username`, `password`, `redirectPath`: always a 303.
    pub fn login(&self, form: &str, base_uri: &str) -> Reply {
        let field = |name: &str| {
            form.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
                .filter(|v| !v.is_empty())
        };
        let (username, password) = (field("username"), field("password"));
        let Some(username) = username.filter(|_| password.is_none()) else {
            return Reply::empty(303).header("Location", format!("{base_uri}/ui/login.html"));
        };
        let location = field("redirectPath").unwrap_or_else(|| "/ui/".into());
        let location = if location.starts_with('/') { format!("{base_uri}{location}") } else { location };
        Reply::empty(303)
            .header("Location", location)
            .header("Set-Cookie", format!("{UI_COOKIE}={};Version=1;Path=/ui;HttpOnly", self.token(&username)))
    }

    /// Unauthenticated `/ui/api/*` calls.
    pub fn unauthorized() -> Reply {
        Reply::with_body(401, "text/plain; charset=utf-8", "Unauthorized")
            .header("WWW-Authenticate", "Trino-Form-Login")
    }
}

impl Default for WebUi {
    fn default() -> Self {
        WebUi::new()
    }
}

/// `application/x-www-form-urlencoded` and query-string decoding.
pub fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'+' => Some((b' ', 1)),
            b'%' => bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map(|b| (b, 3)),
            _ => None,
        };
        let (byte, width) = decoded.unwrap_or((bytes[i], 1));
        out.push(byte);
        i += width;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `java.net.URLDecoder.decode`: `+` is a space, `%XX` a byte; a `%` without
/// two hex digits is refused (Java throws); malformed UTF-8 becomes U+FFFD.
pub fn percent_decode_strict(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let Some(hex) = bytes.get(i + 1..i + 3) else {
                    return Err("Incomplete trailing escape (%) pattern".into());
                };
                let byte =
                    std::str::from_utf8(hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                        format!(
                            "Illegal hex characters in escape (%) pattern - Error at index 0 in: \"{}\"",
                            String::from_utf8_lossy(hex)
                        )
                    })?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    // Java replaces malformed UTF-8 rather than refusing it.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_sets_a_cookie_only_this_coordinator_accepts() {
        let ui = WebUi::new();
        let reply = ui.login("username=alice&password=", "http://h:1");
        assert_eq!(reply.status, 303);
        let cookie = reply.headers.iter().find(|(n, _)| n == "Set-Cookie").map(|(_, v)| v.clone()).unwrap_or_default();
        let token = cookie.trim_start_matches("Trino-UI-Token=").split(';').next().unwrap_or_default().to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            format!("other=1; {UI_COOKIE}={token}").parse().unwrap_or(http::HeaderValue::from_static("")),
        );
        assert_eq!(ui.user(&headers), Some("alice".into()));
        assert_eq!(WebUi::new().user(&headers), None);
    }

    #[test]
    fn password_or_missing_user_is_refused() {
        let ui = WebUi::new();
        for form in ["username=alice&password=secret", "password=", ""] {
            let reply = ui.login(form, "http://h:1");
            assert!(reply.headers.iter().any(|(n, v)| n == "Location" && v.ends_with("/ui/login.html")), "{form}");
            assert!(!reply.headers.iter().any(|(n, _)| n == "Set-Cookie"), "{form}");
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(percent_decode("%2Fui%2F"), "/ui/");
    }
}
