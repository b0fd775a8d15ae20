//! TLS for network inputs (`tcp`, `beats`): server certificate and key from
//! PEM files, optional client-certificate verification against a CA (mutual
//! TLS). TLS 1.2 and 1.3 only (rustls supports nothing older).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;

/// `tls:` of a network input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; when set,
    /// clients must present a certificate (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: also accept clients without a certificate.
    #[serde(default)]
    pub client_cert_optional: bool,
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("tls: cannot read {what} `{}`: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "tls: {what} `{}` is not PEM certificates: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "tls: {what} `{}` holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

impl TlsConfig {
    /// Loads the files and builds the rustls configuration; errors name the file.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        // Idempotent: the first call in the process installs ring as the provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = read_certs(&self.cert_file, "cert_file")?;
        let key_data = std::fs::read(&self.key_file).map_err(|e| {
            format!(
                "tls: cannot read key_file `{}`: {e}",
                self.key_file.display()
            )
        })?;
        let key = PrivateKeyDer::from_pem_slice(&key_data).map_err(|e| {
            format!(
                "tls: key_file `{}` holds no usable PEM private key: {e}",
                self.key_file.display()
            )
        })?;
        let builder = ServerConfig::builder();
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certs(ca, "client_ca_file")? {
                    roots
                        .add(c)
                        .map_err(|e| format!("tls: client_ca_file `{}`: {e}", ca.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
                let verifier = if self.client_cert_optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| format!("tls: client_ca_file `{}`: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "tls: cert_file `{}` and key_file `{}` do not form a usable pair: {e}",
                self.cert_file.display(),
                self.key_file.display()
            )
        })?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_paths_are_named() {
        let c = TlsConfig {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            client_ca_file: None,
            client_cert_optional: false,
        };
        let e = c.server_config().unwrap_err();
        assert!(e.contains("cert_file `/nonexistent/cert.pem`"), "{e}");
    }

    #[test]
    fn loads_a_generated_pair_with_and_without_client_ca() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        let mut c = TlsConfig {
            cert_file: cert_path.clone(),
            key_file: key_path.clone(),
            client_ca_file: None,
            client_cert_optional: false,
        };
        c.server_config().unwrap();
        c.client_ca_file = Some(cert_path.clone());
        c.server_config().unwrap();
        c.key_file = cert_path;
        let e = c.server_config().unwrap_err();
        assert!(e.contains("key_file"), "{e}");
    }
}
