//! `mesosim live certs`: a throw-away CA and the certificates a live master and its agents present to each other (rcgen, ring backend), written atomically as a set with private keys readable by their owner only.
//!
//! The whole set is written into a fresh hidden directory beside `--out` and swapped
//! into place with [`crate::outdir::OutputDir`] (the same marker and replacement rules
//! as a run's output): a reader sees the old complete set or the new one, never a CA
//! from one run with keys from another, and a failure midway leaves the old set as it
//! was. An existing `--out` is replaced only when it is an earlier output of `mesosim
//! live` (it holds the `.mesosim-live` marker) or empty.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use thiserror::Error;

use crate::outdir::OutputDir;
use crate::run::LiveError;

/// What to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertsConfig {
    /// The directory to write (created, or replaced when it is an earlier output or
    /// empty).
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
    /// The output directory could not be created, is not one to replace, or could not
    /// be moved into place.
    #[error(transparent)]
    Output(#[from] LiveError),
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
/// certificates into `out` as one set (see the module doc); returns the files written.
pub fn write_certs(config: &CertsConfig) -> Result<Vec<PathBuf>, CertsError> {
    write_certs_with(config, write_new_file, OutputDir::publish)
}

/// Creates `path` with `mode` and syncs `bytes` to it.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// [`write_certs`] with the writing of each file and the publishing of the finished
/// directory given (tests make them fail).
fn write_certs_with(
    config: &CertsConfig,
    mut write: impl FnMut(&Path, &[u8], u32) -> io::Result<()>,
    publish: impl FnOnce(OutputDir) -> Result<(), LiveError>,
) -> Result<Vec<PathBuf>, CertsError> {
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
    // Refuses a directory that is neither an earlier output nor empty, before writing.
    let dir = OutputDir::create(&config.out)?;
    let mut written = Vec::new();
    for (name, text, secret) in files {
        let path = dir.path().join(&name);
        write(&path, text.as_bytes(), if secret { 0o600 } else { 0o644 }).map_err(|source| {
            CertsError::Write {
                path: config.out.join(&name),
                source,
            }
        })?;
        written.push(config.out.join(name));
    }
    publish(dir)?;
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
        let written: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            written,
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
        // Nothing but the files and the marker: no temporary left behind.
        assert_eq!(fs::read_dir(&out).unwrap().count(), files.len() + 1);
        assert!(out.join(crate::outdir::MARKER).is_file());
        assert_eq!(names(tmp.path()), ["certs"]);
    }

    fn config(out: &Path) -> CertsConfig {
        CertsConfig {
            out: out.to_path_buf(),
            master_names: vec!["localhost".into()],
            agents: 2,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    /// Every file of a set, by name, with its contents and mode.
    fn snapshot(dir: &Path) -> Vec<(String, String, u32)> {
        names(dir)
            .into_iter()
            .map(|n| {
                let p = dir.join(&n);
                let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                (n, fs::read_to_string(&p).unwrap(), mode)
            })
            .collect()
    }

    /// A failure while the new set is being written (the fifth file, an agent's
    /// certificate, here) leaves the old set whole: no new CA beside old keys.
    #[test]
    fn a_failure_midway_leaves_the_old_set_intact() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        write_certs(&config(&out)).unwrap();
        let before = snapshot(&out);
        let mut n = 0;
        let err = write_certs_with(
            &config(&out),
            |path, bytes, mode| {
                n += 1;
                if n == 5 {
                    return Err(io::Error::other("injected"));
                }
                write_new_file(path, bytes, mode)
            },
            OutputDir::publish,
        )
        .unwrap_err();
        assert!(err.to_string().contains("agent-0.pem"), "{err}");
        assert_eq!(snapshot(&out), before);
        assert_eq!(names(tmp.path()), ["certs"]);
    }

    /// A failure to move the finished set into place leaves the old set whole too.
    #[test]
    fn a_failure_to_publish_leaves_the_old_set_intact() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        write_certs(&config(&out)).unwrap();
        let before = snapshot(&out);
        let err = write_certs_with(&config(&out), write_new_file, |dir| {
            dir.publish_with(
                |_, _| Err(io::Error::other("injected")),
                |_, _| Err(io::Error::other("injected")),
            )
        })
        .unwrap_err();
        assert!(matches!(err, CertsError::Output(_)), "{err}");
        assert_eq!(snapshot(&out), before);
        assert_eq!(names(tmp.path()), ["certs"]);
    }

    /// A second run replaces the whole set (a new CA), keys still 0600.
    #[test]
    fn a_previous_set_is_replaced_as_a_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        write_certs(&config(&out)).unwrap();
        let before = snapshot(&out);
        write_certs(&config(&out)).unwrap();
        let after = snapshot(&out);
        assert_eq!(
            after.iter().map(|f| &f.0).collect::<Vec<_>>(),
            before.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for ((name, old, _), (_, new, mode)) in before.iter().zip(&after) {
            if name.ends_with(".pem") {
                assert_ne!(old, new, "{name} was not replaced");
            }
            let want = if name.ends_with("-key.pem") {
                0o600
            } else {
                0o644
            };
            assert_eq!(*mode, want, "{name}");
        }
        assert_eq!(names(tmp.path()), ["certs"]);
    }

    /// A directory that is not an earlier output (no marker) is refused and left as it
    /// was, a half-written set from an older mesosim included; an empty one is used.
    #[test]
    fn a_foreign_directory_is_refused_and_an_empty_one_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        fs::create_dir(&out).unwrap();
        fs::write(out.join(CA_CERT), "an old CA").unwrap();
        let err = write_certs(&config(&out)).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a mesosim live output directory (no .mesosim-live file)"),
            "{err}"
        );
        assert_eq!(names(&out), [CA_CERT]);
        assert_eq!(fs::read_to_string(out.join(CA_CERT)).unwrap(), "an old CA");
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let files = write_certs(&config(&empty)).unwrap();
        assert!(files.iter().all(|f| f.starts_with(&empty) && f.is_file()));
        assert_eq!(names(tmp.path()), ["certs", "empty"]);
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
