//! Live mode: real cgroups and network namespaces driven by the models. See README.md in this crate.
pub mod agent;
pub mod batch;
pub mod certs;
pub mod cgroup;
pub mod clock;
pub mod fetcher;
pub mod master;
pub mod netns;
pub mod outdir;
pub mod oversubscription;
pub mod process;
pub mod run;
pub mod signals;
pub mod summary;
pub mod tls;
pub mod usage;
pub mod wire;
