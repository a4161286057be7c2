//! The checks a `dxos:` link passes before the app shows it (`dxos open`). A link may come
//! from anyone (a chat, a web page): it only ever fills in the join dialog, which says what
//! it admits to and who offers it, and joins only when the person says so.

use dxos_client::ClientError;

/// The longest link accepted (an invitation is at most this long).
pub const MAX_LINK: usize = 300;

/// `uri` if it is a `dxos:` link (the scheme in any case) of at most [`MAX_LINK`] characters
/// whose body is base32 (letters and digits only), trimmed; else why not.
pub fn check(uri: &str) -> Result<String, ClientError> {
    let uri = uri.trim();
    if uri.chars().count() > MAX_LINK {
        return Err(ClientError::InvalidInput(format!(
            "the link is too long ({} characters; an invitation is at most {MAX_LINK})",
            uri.chars().count()
        )));
    }
    let scheme = uri.get(..5).filter(|s| s.eq_ignore_ascii_case("dxos:"));
    let Some(scheme) = scheme else {
        return Err(ClientError::InvalidInput("not a DXOS link (it should start with \"dxos:\")".into()));
    };
    let body = &uri[scheme.len()..];
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ClientError::InvalidInput(
            "not a DXOS invitation link (after \"dxos:\" come only letters and digits)".into(),
        ));
    }
    Ok(uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_dxos_links_of_letters_and_digits_pass() {
        assert_eq!(check(" dxos:ABC234 ").ok().as_deref(), Some("dxos:ABC234"));
        assert!(check("DXOS:abc234").is_ok());
        for bad in [
            "https://example.com",
            "dxos",
            "dxos:",
            "dxos:abc def",
            "dxos:abc/../x",
            "dxos:abc?x=1",
            "dxos:é",
            "xdxos:abc",
            "file:///etc/passwd",
        ] {
            assert!(matches!(check(bad), Err(ClientError::InvalidInput(_))), "{bad}");
        }
        let long = format!("dxos:{}", "A".repeat(MAX_LINK));
        let e = check(&long).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("too long"), "{e}");
        assert!(check(&format!("dxos:{}", "A".repeat(MAX_LINK - 5))).is_ok());
    }
}
