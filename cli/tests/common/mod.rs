//! Helpers shared by the CLI's integration tests: run the built `mesosim` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `mesosim` with `args` in `cwd` and waits for it.
pub fn mesosim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesosim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run mesosim")
}

/// The run's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}
