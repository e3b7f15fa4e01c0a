//! Every thread `live::master::run_master` starts (the acceptor, one per connection) has ended when it returns, whichever way it returns: after an error right after it began listening, and after a run that ends while a connection is still in its TLS handshake. Alone in its test binary, so the threads it counts are the master's.

mod common;

use common::{master_config, wait_for_address};
use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use live::certs::{agent_files, write_certs, CertsConfig};
use live::master::{run_master, MasterConfig, MasterError};
use live::tls::{connect, TlsFiles, HANDSHAKE_TIMEOUT};
use live::wire::{write_message, FrameReader, Message, TaskState, PROTOCOL_VERSION};

/// The names of this process's threads that the master started.
fn master_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        // A thread may end between the listing and the read.
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            let name = name.trim().to_string();
            if name.starts_with("mesosim-accept") || name.starts_with("mesosim-conn") {
                names.push(name);
            }
        }
    }
    names
}

/// Fails unless the master's threads are gone (the kernel may list an ended, joined
/// thread for a moment).
fn assert_no_master_threads(when: &str) {
    let start = Instant::now();
    while !master_threads().is_empty() && start.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(master_threads(), Vec::<String>::new(), "{when}");
}

fn config(certs: &Path, listen_file: &Path, out: &Path) -> MasterConfig {
    master_config(certs, listen_file, out, 1, 1)
}

#[test]
fn the_masters_threads_end_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    write_certs(&CertsConfig {
        out: certs.clone(),
        master_names: vec!["localhost".into()],
        agents: 1,
    })
    .unwrap();

    // The listen file cannot be written: an error once the acceptor runs.
    let unwritable = tmp.path().join("no-such-dir/addr");
    let e = run_master(&config(&certs, &unwritable, &tmp.path().join("out0"))).unwrap_err();
    assert!(matches!(e, MasterError::Output { .. }), "{e}");
    assert_no_master_threads("after an error writing the listen file");

    // A run that ends while a connection is still in its handshake.
    let listen_file = tmp.path().join("addr");
    let cfg = config(&certs, &listen_file, &tmp.path().join("out1"));
    let master = std::thread::spawn(move || run_master(&cfg));
    let addr = wait_for_address(&listen_file);
    // A connection that never says a word: its thread waits in the TLS handshake.
    let mut mute = TcpStream::connect(&addr).unwrap();
    let muted = Instant::now();
    let (cert, key) = agent_files(0);
    let tls = TlsFiles {
        cert: certs.join(cert),
        key: certs.join(key),
        ca: certs.join("ca.pem"),
    };
    let sock = TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut agent = connect(&tls.client_config().unwrap(), "localhost", sock, &addr).unwrap();
    let mut reader = FrameReader::new(addr.clone());
    let register = Message::Register {
        version: PROTOCOL_VERSION,
        agent: "agent-0".into(),
        resources: "cpus:1;mem:256".into(),
        cgroup_version: "v2".into(),
        cgroup: vec!["/nowhere/agent-0".into()],
    };
    write_message(&mut agent, &addr, &register).unwrap();
    let start = Instant::now();
    loop {
        let mut progress = false;
        match reader.poll(&mut agent, &mut progress).unwrap() {
            Some(Message::LaunchTask { task_id, .. }) => {
                let done = Message::StatusUpdate {
                    task_id,
                    state: TaskState::Finished,
                    exit_code: Some(0),
                    signal: None,
                    message: String::new(),
                };
                write_message(&mut agent, &addr, &done).unwrap();
            }
            Some(Message::Shutdown { .. }) => break,
            _ => {}
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no Shutdown");
    }
    let shutdown_at = muted.elapsed();
    let summary = master.join().unwrap().unwrap();
    let returned_at = muted.elapsed();
    assert_eq!(summary.tasks.finished, 1);
    // The master did not wait for the mute connection's handshake deadline (checked
    // when the run itself left time to tell, as it does unless the machine crawls).
    if shutdown_at + Duration::from_secs(3) < HANDSHAKE_TIMEOUT {
        assert!(
            returned_at < HANDSHAKE_TIMEOUT,
            "returned {returned_at:?} after the mute connection, Shutdown at {shutdown_at:?}"
        );
    } else {
        eprintln!("the run took {shutdown_at:?}: too long to check the handshake's end");
    }
    assert_no_master_threads("after a run that ended during a handshake");
    // The mute connection was closed, not left to its handshake deadline.
    mute.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    match mute.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}
