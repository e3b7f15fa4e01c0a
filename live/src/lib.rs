//! Live mode: real cgroups and network namespaces driven by the models. See README.md in this crate.
pub mod cgroup;
pub mod clock;
pub mod netns;
pub mod process;
pub mod run;
pub mod signals;
pub mod summary;
pub mod certs;
pub mod tls;
pub mod wire;
pub mod agent;
pub mod master;
