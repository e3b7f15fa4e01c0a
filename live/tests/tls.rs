//! Mutual TLS over loopback with certificates from `live::certs`: a master and an agent of the same CA exchange frames; an agent (or a master) whose certificate comes from another CA is refused at the handshake, with an error on both sides saying so.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use live::certs::{agent_files, write_certs, CertsConfig, MASTER_CERT, MASTER_KEY};
use live::tls::{accept, connect, TlsFiles};
use live::wire::{write_message, FrameReader, Message, WireError};

fn certs(dir: &Path) {
    write_certs(&CertsConfig {
        out: dir.to_path_buf(),
        master_names: vec!["localhost".into(), "127.0.0.1".into()],
        agents: 1,
    })
    .unwrap();
}

fn master_files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join(MASTER_CERT),
        key: dir.join(MASTER_KEY),
        ca: dir.join("ca.pem"),
    }
}

fn agent_tls(dir: &Path, ca_dir: &Path) -> TlsFiles {
    let (cert, key) = agent_files(0);
    TlsFiles {
        cert: dir.join(cert),
        key: dir.join(key),
        ca: ca_dir.join("ca.pem"),
    }
}

/// What each side saw: the master's handshake-and-first-frame result and the agent's.
fn exchange(
    master: TlsFiles,
    agent: TlsFiles,
) -> (Result<Message, String>, Result<Message, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = master.server_config().unwrap();
    let client = agent.client_config().unwrap();
    let master_side = thread::spawn(move || {
        let (sock, peer) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let peer = peer.to_string();
        let mut s = accept(&server, sock, &peer).map_err(|e| e.to_string())?;
        let mut r = FrameReader::new(peer.clone());
        let first = loop {
            let mut progress = false;
            if let Some(m) = r.poll(&mut s, &mut progress).map_err(|e| e.to_string())? {
                break m;
            }
        };
        write_message(&mut s, &peer, &Message::Registered { agent_id: 7 })
            .map_err(|e| e.to_string())?;
        Ok(first)
    });
    let agent_side = (|| {
        let sock = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut s = connect(&client, "localhost", sock, &addr).map_err(|e| e.to_string())?;
        write_message(&mut s, &addr, &Message::Heartbeat).map_err(|e| e.to_string())?;
        let mut r = FrameReader::new(addr.clone());
        for _ in 0..500 {
            let mut progress = false;
            match r.poll(&mut s, &mut progress) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e @ WireError::Io { .. }) => return Err(e.to_string()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("no answer".to_string())
    })();
    (master_side.join().unwrap(), agent_side)
}

#[test]
fn same_ca_agents_and_master_exchange_frames() {
    let tmp = tempfile::tempdir().unwrap();
    certs(tmp.path());
    let (m, a) = exchange(master_files(tmp.path()), agent_tls(tmp.path(), tmp.path()));
    assert_eq!(m.unwrap(), Message::Heartbeat);
    assert_eq!(a.unwrap(), Message::Registered { agent_id: 7 });
}

#[test]
fn an_agent_certificate_from_another_ca_is_refused_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    certs(&ours);
    certs(&theirs);
    // The agent trusts our CA (so it accepts the master) but presents their cert.
    let (m, a) = exchange(master_files(&ours), agent_tls(&theirs, &ours));
    let m = m.unwrap_err();
    assert!(
        m.starts_with("TLS handshake with 127.0.0.1:")
            && m.ends_with("failed: invalid peer certificate: UnknownIssuer"),
        "{m}"
    );
    let a = a.unwrap_err();
    assert!(a.contains("received fatal alert: UnknownCA"), "{a}");
}

#[test]
fn a_master_certificate_from_another_ca_is_refused_by_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    certs(&ours);
    certs(&theirs);
    let (m, a) = exchange(master_files(&theirs), agent_tls(&ours, &ours));
    let a = a.unwrap_err();
    assert!(
        a.starts_with("TLS handshake with 127.0.0.1:")
            && a.ends_with("failed: invalid peer certificate: UnknownIssuer"),
        "{a}"
    );
    let m = m.unwrap_err();
    assert!(m.contains("received fatal alert: UnknownCA"), "{m}");
}

#[test]
fn a_missing_or_empty_pem_file_names_its_flag() {
    let tmp = tempfile::tempdir().unwrap();
    certs(tmp.path());
    let mut files = master_files(tmp.path());
    files.ca = tmp.path().join("nope.pem");
    let e = files.server_config().unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("--tls-ca {}: ", files.ca.display())),
        "{e}"
    );
    std::fs::write(tmp.path().join("empty.pem"), "").unwrap();
    files.ca = tmp.path().join("ca.pem");
    files.cert = tmp.path().join("empty.pem");
    let e = files.server_config().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "--tls-cert {}: no PEM certificate in the file",
            files.cert.display()
        )
    );
}

/// A client that trickles a never-ending hello, a byte every 5 ms (each read brings
/// data, so the socket's read timeout never fires), is cut off at the handshake
/// deadline instead of holding the master's connection thread for as long as it likes.
#[test]
fn a_trickled_handshake_ends_at_the_deadline() {
    use std::io::Write as _;
    use std::time::Instant;
    let tmp = tempfile::tempdir().unwrap();
    certs(tmp.path());
    let server = master_files(tmp.path()).server_config().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let trickler = thread::spawn(move || {
        let mut sock = TcpStream::connect(addr).unwrap();
        // A handshake record header announcing 16 KiB, then its body byte by byte,
        // for at most 40 s (about 8,000 bytes: the record never completes).
        let _ = sock.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(40) {
            if sock.write_all(&[0]).is_err() {
                return start.elapsed();
            }
            thread::sleep(Duration::from_millis(5));
        }
        start.elapsed()
    });
    let (sock, peer) = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let start = Instant::now();
    let e = accept(&server, sock, &peer.to_string())
        .unwrap_err()
        .to_string();
    let took = start.elapsed();
    assert!(e.ends_with("failed: timed out"), "{e}");
    assert!(
        took >= live::tls::HANDSHAKE_TIMEOUT && took < live::tls::HANDSHAKE_TIMEOUT * 2,
        "{took:?}"
    );
    // The master's side is gone: the trickler's writes fail well before 40 s.
    assert!(trickler.join().unwrap() < Duration::from_secs(39));
}
