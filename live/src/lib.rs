//! Live mode: real cgroups and network namespaces driven by the models. See README.md in this crate.
pub mod cgroup;
pub mod clock;
pub mod netns;
pub mod outdir;
pub mod oversubscription;
pub mod process;
pub mod run;
pub mod signals;
pub mod summary;
pub mod usage;
