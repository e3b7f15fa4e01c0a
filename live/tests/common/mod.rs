//! What the master's protocol and thread tests share: a master configuration on loopback, and waiting for its address.

use std::path::Path;
use std::time::{Duration, Instant};

use live::certs::{MASTER_CERT, MASTER_KEY};
use live::master::MasterConfig;
use live::tls::TlsFiles;
use models::resources::Resources;
use sim_core::SimDuration;

/// A master on `127.0.0.1:0` that writes its address to `listen_file`, with the
/// certificates in `certs`, running `tasks` tasks of `cpus:0.5;mem:64` (`true`) once
/// `min_agents` registered, its output in `out`.
pub fn master_config(
    certs: &Path,
    listen_file: &Path,
    out: &Path,
    tasks: u32,
    min_agents: u32,
) -> MasterConfig {
    MasterConfig {
        listen: "127.0.0.1:0".into(),
        listen_file: Some(listen_file.to_path_buf()),
        tls: TlsFiles {
            cert: certs.join(MASTER_CERT),
            key: certs.join(MASTER_KEY),
            ca: certs.join("ca.pem"),
        },
        policy: "hdrf".into(),
        seed: 1,
        allocation_interval: SimDuration::from_millis(50),
        tasks,
        task_resources: Resources::parse("cpus:0.5;mem:64").unwrap(),
        task_command: "true".into(),
        min_agents,
        timeout: SimDuration::from_secs(60),
        out: out.to_path_buf(),
        task_uris: Vec::new(),
    }
}

/// The address a master started with [`master_config`] wrote to `listen_file`.
pub fn wait_for_address(listen_file: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(a) = std::fs::read_to_string(listen_file) {
            return a.trim().to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
}
