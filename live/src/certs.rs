//! `mesosim live certs`: a throw-away CA and the certificates a live master and its agents present to each other (rcgen, ring backend), written atomically with private keys readable by their owner only.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use thiserror::Error;

/// What to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertsConfig {
    /// The directory to write into (created if missing).
    pub out: PathBuf,
    /// The master's subject alternative names: DNS names and IP addresses the agents
    /// reach it by.
    pub master_names: Vec<String>,
    /// Agent certificates to issue (`agent-<i>.pem`).
    pub agents: u32,
}

/// Why certificates could not be made.
#[derive(Debug, Error)]
pub enum CertsError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// rcgen refused (a name that is not a valid DNS name, say).
    #[error("cannot issue {what}: {source}")]
    Issue {
        /// The certificate.
        what: String,
        /// The error.
        source: rcgen::Error,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The files written, relative to the output directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA's key (kept to issue more certificates; mode 0600).
pub const CA_KEY: &str = "ca-key.pem";
/// The master's certificate.
pub const MASTER_CERT: &str = "master.pem";
/// The master's key.
pub const MASTER_KEY: &str = "master-key.pem";

/// Agent `i`'s certificate and key file names.
pub fn agent_files(i: u32) -> (String, String) {
    (format!("agent-{i}.pem"), format!("agent-{i}-key.pem"))
}

fn issue_err(what: &str) -> impl Fn(rcgen::Error) -> CertsError + '_ {
    move |source| CertsError::Issue {
        what: what.to_string(),
        source,
    }
}

/// Writes a CA, a master certificate for `master_names` and `agents` agent
/// certificates into `out`; returns the files written.
pub fn write_certs(config: &CertsConfig) -> Result<Vec<PathBuf>, CertsError> {
    if config.master_names.is_empty() {
        return Err(CertsError::Config(
            "--master-name: at least one name is needed".into(),
        ));
    }
    if let Some(bad) = config.master_names.iter().find(|n| n.trim().is_empty()) {
        return Err(CertsError::Config(format!(
            "--master-name `{bad}` is empty"
        )));
    }
    let ca_key = KeyPair::generate().map_err(issue_err("the CA key"))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(issue_err("the CA"))?;
    // A name of its own (from the key) per CA: a certificate from another run's CA is
    // then refused as from an unknown issuer, not as a bad signature by a namesake.
    let id: String = ca_key
        .public_key_raw()
        .iter()
        .skip(1)
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("mesosim live test CA {id}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(issue_err("the CA"))?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);

    let leaf = |what: &str, names: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().map_err(issue_err(what))?;
        let mut params = CertificateParams::new(names).map_err(issue_err(what))?;
        params.distinguished_name.push(DnType::CommonName, what);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &issuer).map_err(issue_err(what))?;
        Ok::<_, CertsError>((cert.pem(), key.serialize_pem()))
    };

    let mut files: Vec<(String, String, bool)> = vec![
        (CA_CERT.into(), ca_cert.pem(), false),
        (CA_KEY.into(), ca_key.serialize_pem(), true),
    ];
    let (cert, key) = leaf(
        "mesosim master",
        config.master_names.clone(),
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    files.push((MASTER_CERT.into(), cert, false));
    files.push((MASTER_KEY.into(), key, true));
    for i in 0..config.agents {
        let name = format!("agent-{i}");
        let (cert, key) = leaf(
            &name,
            vec![name.clone()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        let (cert_file, key_file) = agent_files(i);
        files.push((cert_file, cert, false));
        files.push((key_file, key, true));
    }
    fs::create_dir_all(&config.out).map_err(|source| CertsError::Write {
        path: config.out.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text, secret) in files {
        let path = config.out.join(name);
        write_atomically(&path, text.as_bytes(), if secret { 0o600 } else { 0o644 })?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `bytes` to a hidden temporary file beside `path` created with `mode`, syncs
/// it and renames it over `path`: readers see the old file or the whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertsError> {
    let err = |p: &Path| {
        let path = p.to_path_buf();
        move |source| CertsError::Write { path, source }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        err(path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_a_ca_master_and_agents_with_private_keys_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        let files = write_certs(&CertsConfig {
            out: out.clone(),
            master_names: vec!["localhost".into(), "127.0.0.1".into()],
            agents: 2,
        })
        .unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "ca.pem",
                "ca-key.pem",
                "master.pem",
                "master-key.pem",
                "agent-0.pem",
                "agent-0-key.pem",
                "agent-1.pem",
                "agent-1-key.pem"
            ]
        );
        for f in &files {
            let mode = fs::metadata(f).unwrap().permissions().mode() & 0o777;
            let text = fs::read_to_string(f).unwrap();
            if f.to_string_lossy().ends_with("-key.pem") {
                assert_eq!(mode, 0o600, "{}", f.display());
                assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
            } else {
                assert_eq!(mode, 0o644, "{}", f.display());
                assert!(text.starts_with("-----BEGIN CERTIFICATE-----"));
            }
        }
        // Nothing but the files: no temporary left behind.
        assert_eq!(fs::read_dir(&out).unwrap().count(), files.len());
    }

    #[test]
    fn an_invalid_master_name_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = write_certs(&CertsConfig {
            out: tmp.path().join("c"),
            master_names: vec!["  ".into()],
            agents: 1,
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "--master-name `  ` is empty");
        assert!(!tmp.path().join("c").exists());
    }
}
