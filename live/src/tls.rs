//! Mutual TLS between the live master and its agents (rustls with the ring provider, blocking streams): the master accepts only client certificates signed by the run's CA, the agent only a master certificate signed by it.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::StreamOwned;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use thiserror::Error;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a side that refused the handshake waits for its peer to read the alert.
const ALERT_LINGER: Duration = Duration::from_millis(500);

/// The three PEM files of `--tls-cert`, `--tls-key` and `--tls-ca`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// This side's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA that signs the peer's certificate.
    pub ca: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{flag} {path}: {detail}")]
    File {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the configuration (a key that does not match its certificate,
    /// say).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The handshake failed.
    #[error("TLS handshake with {peer} failed: {detail}")]
    Handshake {
        /// The peer's address.
        peer: String,
        /// rustls's reason.
        detail: String,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(flag: &'static str, path: &Path, detail: impl fmt::Display) -> TlsError {
    TlsError::File {
        flag,
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

fn certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(flag, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(flag, path, e))?;
    if certs.is_empty() {
        return Err(file_err(flag, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err("--tls-key", path, e))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs("--tls-ca", path)? {
        roots
            .add(c)
            .map_err(|e| file_err("--tls-ca", path, format!("not a usable CA: {e}")))?;
    }
    Ok(roots)
}

fn config_err(e: rustls::Error) -> TlsError {
    TlsError::Config(e.to_string())
}

impl TlsFiles {
    /// The master's configuration: its certificate, and client certificates required
    /// and verified against the CA.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&self.ca)?), provider())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs("--tls-cert", &self.cert)?, key(&self.key)?)
            .map_err(config_err)?;
        Ok(Arc::new(config))
    }

    /// An agent's configuration: the master verified against the CA, and this agent's
    /// certificate presented.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_root_certificates(roots(&self.ca)?)
            .with_client_auth_cert(certs("--tls-cert", &self.cert)?, key(&self.key)?)
            .map_err(config_err)?;
        Ok(Arc::new(config))
    }
}

impl TlsFiles {
    /// The DNS names of this side's own certificate (the first of `--tls-cert`): the
    /// names the master lets an agent holding it register under.
    pub fn own_dns_names(&self) -> Result<Vec<String>, TlsError> {
        let chain = certs("--tls-cert", &self.cert)?;
        Ok(chain.first().map_or_else(Vec::new, dns_names))
    }
}

/// The DNS names among a certificate's subject alternative names; none when it does
/// not parse.
fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(cert) => cert.valid_dns_names().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// The master's side of a connection.
pub type ServerStream = StreamOwned<ServerConnection, TcpStream>;
/// An agent's side of a connection.
pub type ClientStream = StreamOwned<ClientConnection, TcpStream>;

/// A socket whose reads fail with `TimedOut` once `deadline` has passed or `stop` is
/// set.
///
/// rustls's `complete_io` keeps reading while the handshake is unfinished and each
/// read brings a byte, so the socket's read timeout alone never ends it: a peer
/// trickling its hello a byte at a time would hold a connection thread for minutes.
struct Deadlined<'a> {
    sock: &'a mut TcpStream,
    deadline: Instant,
    stop: &'a AtomicBool,
}

impl io::Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline || self.stop.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.sock.read(buf)
    }
}

impl io::Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.sock.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Runs the handshake to its end within [`HANDSHAKE_TIMEOUT`], giving up once `stop`
/// is set.
fn handshake<D>(
    conn: &mut rustls::ConnectionCommon<D>,
    sock: &mut TcpStream,
    peer: &str,
    stop: &AtomicBool,
) -> Result<(), TlsError> {
    let err = |detail: String| TlsError::Handshake {
        peer: peer.to_string(),
        detail,
    };
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut sock = Deadlined {
        sock,
        deadline,
        stop,
    };
    while conn.is_handshaking() {
        if Instant::now() >= deadline {
            return Err(err("timed out".into()));
        }
        if stop.load(Ordering::SeqCst) {
            return Err(err("stopped: this side is ending".into()));
        }
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(err("the peer closed the connection".into()))
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                // rustls has queued the alert saying why; its last-gasp write may
                // have sent only part of what was queued.
                while conn.wants_write() {
                    if !matches!(conn.write_tls(&mut sock), Ok(n) if n > 0) {
                        break;
                    }
                }
                linger_after_alert(sock.sock);
                return Err(err(e.to_string()));
            }
            Err(e) => return Err(err(e.to_string())),
        }
    }
    // Flush what the handshake left to send (the client's Finished).
    while conn.wants_write() {
        if conn.write_tls(&mut sock).map_err(|e| err(e.to_string()))? == 0 {
            return Err(err("the connection accepts no more bytes".into()));
        }
    }
    Ok(())
}

/// Half-closes `sock` and reads until the peer closes too (or [`ALERT_LINGER`] passes).
///
/// Closing a socket that still holds unread bytes (the rest of the peer's flight) makes
/// the kernel send a reset and drop what is still queued to send, so the peer would see
/// "the peer closed the connection" instead of the alert that says why it was refused.
fn linger_after_alert(sock: &mut TcpStream) {
    if sock.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + ALERT_LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match io::Read::read(sock, &mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

/// Accepts a TLS connection on `sock` (whose read timeout is set) as the master.
pub fn accept(
    config: &Arc<ServerConfig>,
    sock: TcpStream,
    peer: &str,
) -> Result<ServerStream, TlsError> {
    accept_until(config, sock, peer, &AtomicBool::new(false))
}

/// As [`accept`], giving up within a read timeout once `stop` is set.
pub fn accept_until(
    config: &Arc<ServerConfig>,
    mut sock: TcpStream,
    peer: &str,
    stop: &AtomicBool,
) -> Result<ServerStream, TlsError> {
    let mut conn = ServerConnection::new(config.clone()).map_err(config_err)?;
    handshake(&mut conn, &mut sock, peer, stop)?;
    Ok(StreamOwned::new(conn, sock))
}

/// Opens a TLS connection to the master named `server_name` on `sock`.
pub fn connect(
    config: &Arc<ClientConfig>,
    server_name: &str,
    mut sock: TcpStream,
    peer: &str,
) -> Result<ClientStream, TlsError> {
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| TlsError::Handshake {
        peer: peer.to_string(),
        detail: format!("`{server_name}` is not a server name: {e}"),
    })?;
    let mut conn = ClientConnection::new(config.clone(), name).map_err(config_err)?;
    handshake(&mut conn, &mut sock, peer, &AtomicBool::new(false))?;
    Ok(StreamOwned::new(conn, sock))
}

/// Reads a TLS stream's plaintext with at most one read of its socket per call:
/// `Err(WouldBlock)` while no whole record has arrived.
///
/// `StreamOwned`'s own `read` keeps reading for as long as bytes arrive and no whole
/// record has, so a peer sending a record a byte at a time, each byte within the socket's
/// read timeout, would hold the reading thread (and all it tends: its outbox, heartbeats,
/// the peer's silence) until the record ends, up to 16 KiB later.
pub struct ReadOnce<'a, C>(pub &'a mut StreamOwned<C, TcpStream>);

impl<C, D> io::Read for ReadOnce<'_, C>
where
    C: std::ops::DerefMut + std::ops::Deref<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &mut *self.0;
        // What rustls queued to send (a key update's answer, say) goes first.
        while s.conn.wants_write() {
            if s.conn.write_tls(&mut s.sock)? == 0 {
                break;
            }
        }
        match s.conn.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
        // Nothing buffered: one read, whose end rustls's reader reports (close_notify
        // as 0, an end without it as UnexpectedEof).
        s.conn.read_tls(&mut s.sock)?;
        if let Err(e) = s.conn.process_new_packets() {
            // Tell the peer why, as far as it listens.
            while s.conn.wants_write() {
                if !matches!(s.conn.write_tls(&mut s.sock), Ok(n) if n > 0) {
                    break;
                }
            }
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        s.conn.reader().read(buf)
    }
}

/// The DNS names among the subject alternative names of the peer's certificate (the
/// first of its chain, which rustls verified against the CA during the handshake):
/// the names the peer may go by. Empty when it presented none or they do not parse.
pub fn peer_dns_names(conn: &rustls::CommonState) -> Vec<String> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map_or_else(Vec::new, dns_names)
}

/// Sends the TLS close_notify alert and shuts the socket, ignoring errors (the
/// connection is ending).
pub fn close<C, D>(s: &mut StreamOwned<C, TcpStream>)
where
    C: std::ops::DerefMut + std::ops::Deref<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    s.conn.send_close_notify();
    while s.conn.wants_write() {
        if !matches!(s.conn.write_tls(&mut s.sock), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = s.sock.shutdown(std::net::Shutdown::Both);
}
