//! The WebRTC certificate, kept in the profile: its hash is part of our webrtc-direct
//! addresses, so a new one at every start would break every address a peer has stored.

use std::path::Path;

use libp2p_webrtc::tokio::Certificate;

use super::NetError;

/// Loads the certificate at `path`, or makes one and stores it there (private to the user).
pub fn load_or_create(path: &Path) -> Result<Certificate, NetError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => Certificate::from_pem(&pem)
            .map_err(|e| NetError::Certificate(format!("{} is not a certificate: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cert = generate()?;
            write_private(path, cert.serialize_pem().as_bytes())
                .map_err(|e| NetError::Certificate(format!("cannot write {}: {e}", path.display())))?;
            Ok(cert)
        }
        Err(e) => Err(NetError::Certificate(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A fresh certificate (kept in memory only).
pub fn generate() -> Result<Certificate, NetError> {
    // The RNG argument is ignored by libp2p-webrtc (it uses rcgen's own).
    Certificate::generate(&mut rand::rng()).map_err(|e| NetError::Certificate(e.to_string()))
}

/// Writes a file readable by its owner only, atomically (a temporary file renamed over),
/// making its folder if needed. Also the relay's key file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_survives_a_restart() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("webrtc.pem");
        let a = load_or_create(&path)?;
        let b = load_or_create(&path)?;
        assert_eq!(a.fingerprint(), b.fingerprint());
        std::fs::write(&path, "not a pem")?;
        assert!(matches!(load_or_create(&path), Err(NetError::Certificate(_))));
        Ok(())
    }
}
