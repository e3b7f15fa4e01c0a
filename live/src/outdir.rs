//! The output directory of a live run: built as a hidden sibling of `--out` and renamed into place once complete, replacing only an earlier live output.
//!
//! A live run owns its whole output directory (it holds the tasks' sandboxes), so
//! unlike `mesosim run`, which writes its files one by one into whatever directory it
//! is given and never deletes anything, it replaces the directory as a whole. It only
//! ever replaces what it wrote itself: a directory carrying the [`MARKER`] file (which
//! only a live run writes) or an empty one. Anything else, a symbolic link included,
//! is refused with an error (a `summary.json` alone proves nothing: `mesosim run`
//! writes one too, and so may a user).
//!
//! Replacing swaps the new directory with the old one in one step (`renameat2` with
//! `RENAME_EXCHANGE`), then deletes the old one: a reader sees the whole old output or
//! the whole new one. Where the file system cannot exchange, it takes two renames (the
//! old directory aside, the new one into place); if the second fails the old one is
//! moved back, and an [`OutputDir`] dropped before it was committed does the same, so
//! an error never loses the previous output. `mesosim live certs` writes its
//! certificates through the same type.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::run::LiveError;

/// The file that marks a directory as a live run's output (and so replaceable by the
/// next run with the same `--out`).
pub const MARKER: &str = ".mesosim-live";

const MARKER_TEXT: &str = "Written by `mesosim live` (run, master or certs): a later one \
with this directory as its --out replaces it while this file is in it.\n";

/// What is at the `--out` path now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Absent,
    /// An empty directory.
    Empty,
    /// An earlier live run's output (it holds [`MARKER`]).
    Previous,
}

fn refuse(out: &Path, why: &str) -> LiveError {
    LiveError::Config(format!(
        "--out {} {why}; give a new path, or remove it yourself",
        out.display()
    ))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LiveError {
    let path = path.to_path_buf();
    move |source| LiveError::Output { path, source }
}

/// Whether `out` may be (re)placed by a live run's output: absent, an empty directory,
/// or an earlier live output; anything else is an error naming the path and why.
pub fn check_target(out: &Path) -> Result<Existing, LiveError> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(io_error(out)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            out,
            "is a symbolic link (a live run replaces its output directory as a whole \
             and does not follow links)",
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(out, "exists and is not a directory"));
    }
    if fs::symlink_metadata(out.join(MARKER)).is_ok_and(|m| m.is_file()) {
        return Ok(Existing::Previous);
    }
    let mut entries = fs::read_dir(out).map_err(io_error(out))?;
    if entries.next().is_none() {
        return Ok(Existing::Empty);
    }
    Err(refuse(
        out,
        &format!(
            "exists and is not a mesosim live output directory (no {MARKER} file), \
             so it is not replaced"
        ),
    ))
}

/// `error` with its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    line
}

/// The output directory under construction: a hidden sibling of the target, removed on
/// drop unless committed.
#[derive(Debug)]
pub struct OutputDir {
    tmp: PathBuf,
    out: PathBuf,
    /// Where the previous output sits while the new one is moved into place.
    aside: Option<PathBuf>,
    committed: bool,
}

impl OutputDir {
    /// Checks `out` ([`check_target`]) and creates the hidden sibling
    /// `.<name>.tmp-<random>` (unique, so runs in one process or a stale leftover never
    /// collide) with the [`MARKER`] in it.
    pub fn create(out: &Path) -> Result<OutputDir, LiveError> {
        check_target(out)?;
        let name = out
            .file_name()
            .ok_or_else(|| refuse(out, "does not name a directory"))?
            .to_string_lossy()
            .to_string();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(&parent)
            .map_err(io_error(&parent))?
            .keep();
        let dir = OutputDir {
            tmp,
            out: out.to_path_buf(),
            aside: None,
            committed: false,
        };
        let marker = dir.tmp.join(MARKER);
        fs::write(&marker, MARKER_TEXT).map_err(io_error(&marker))?;
        Ok(dir)
    }

    /// The directory being built.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Writes `summary.json` and moves the directory into place ([`OutputDir::publish`]).
    pub fn commit<T: serde::Serialize>(self, summary: &T) -> Result<(), LiveError> {
        self.write_summary(summary)?;
        self.publish()
    }

    /// Writes `summary.json` into the directory being built, synced before anything
    /// publishes it: a crash never leaves an empty file.
    fn write_summary<T: serde::Serialize>(&self, summary: &T) -> Result<(), LiveError> {
        let file = self.tmp.join("summary.json");
        let mut json = serde_json::to_string_pretty(summary)
            .map_err(|e| io_error(&file)(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        json.push('\n');
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&file)?;
            f.write_all(json.as_bytes())?;
            f.sync_all()
        };
        write().map_err(io_error(&file))
    }

    /// Moves the finished directory into place. A previous output is swapped with it
    /// in one step (`renameat2` with `RENAME_EXCHANGE`), so a reader of `out` sees the
    /// whole old directory or the whole new one, never a mix and never nothing, and is
    /// then deleted. Where the file system cannot exchange (NFS, say) the previous
    /// output is moved aside, the new one into place (the old one moved back if that
    /// fails), and the old one deleted.
    pub fn publish(self) -> Result<(), LiveError> {
        self.publish_with(exchange, |from, to| fs::rename(from, to))
    }

    /// [`OutputDir::publish`] with the exchange of a new directory with a previous one,
    /// and the rename that moves the new directory into place, given (tests make them
    /// fail).
    pub(crate) fn publish_with(
        mut self,
        swap: impl FnOnce(&Path, &Path) -> io::Result<()>,
        place: impl FnOnce(&Path, &Path) -> io::Result<()>,
    ) -> Result<(), LiveError> {
        sync_dir(&self.tmp).map_err(io_error(&self.tmp))?;
        // Checked again: the target may have changed since the directory was created.
        if check_target(&self.out)? != Existing::Absent {
            match swap(&self.tmp, &self.out) {
                Ok(()) => {
                    // The previous output now sits at the temporary path.
                    self.committed = true;
                    let old = self.tmp.clone();
                    self.sync_parent();
                    return remove_previous(&old);
                }
                Err(e) if exchange_unsupported(&e) => {}
                Err(e) => return Err(io_error(&self.out)(e)),
            }
            let mut aside = self.tmp.clone().into_os_string();
            aside.push(".old");
            let aside = PathBuf::from(aside);
            fs::rename(&self.out, &aside).map_err(io_error(&self.out))?;
            self.aside = Some(aside);
        }
        if let Err(e) = place(&self.tmp, &self.out) {
            let err = io_error(&self.out)(e);
            return match self.restore() {
                Ok(()) => Err(err),
                Err(restore) => Err(LiveError::Config(format!(
                    "{}; and moving the previous output back failed: {}",
                    chain(&err),
                    chain(&restore)
                ))),
            };
        }
        self.committed = true;
        self.sync_parent();
        match self.aside.take() {
            Some(aside) => remove_previous(&aside),
            None => Ok(()),
        }
    }

    /// Makes the renames durable (best effort: the data is in place either way).
    fn sync_parent(&self) {
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = sync_dir(parent);
        }
    }

    /// Moves the previous output back to `out` (if it was moved aside).
    fn restore(&mut self) -> Result<(), LiveError> {
        match self.aside.take() {
            Some(aside) => fs::rename(&aside, &self.out).map_err(|source| LiveError::Output {
                path: aside.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

/// Swaps the directories at `a` and `b` in one step (both must exist).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE).map_err(io::Error::from)
}

/// The file system (or kernel) cannot exchange two names in one step.
fn exchange_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EINVAL | nix::libc::ENOSYS | nix::libc::EOPNOTSUPP)
    )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Deletes the previous output once the new one is in place.
fn remove_previous(old: &Path) -> Result<(), LiveError> {
    fs::remove_dir_all(old).map_err(|source| LiveError::Output {
        path: old.to_path_buf(),
        source: io::Error::new(
            source.kind(),
            format!("the new output is in place, but the previous one, moved here, could not be removed: {source}"),
        ),
    })
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = self.restore() {
                eprintln!("warning: the previous output was left at: {e}");
            }
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    /// `out` holding an earlier output whose summary is "old", and a new output for it
    /// whose summary is "new", built but not yet published.
    fn old_output_and_a_new_one() -> (tempfile::TempDir, PathBuf, OutputDir) {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        OutputDir::create(&out)
            .unwrap()
            .commit(&serde_json::json!("old"))
            .unwrap();
        let dir = OutputDir::create(&out).unwrap();
        dir.write_summary(&serde_json::json!("new")).unwrap();
        (tmp, out, dir)
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn a_new_output_is_built_aside_and_committed_with_its_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("nested/out");
        let dir = OutputDir::create(&out).unwrap();
        assert!(dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".out.tmp-"));
        fs::write(dir.path().join("task"), "t").unwrap();
        dir.commit(&serde_json::json!({"n": 1})).unwrap();
        assert_eq!(names(&out), [MARKER, "summary.json", "task"]);
        assert_eq!(read(&out.join("summary.json")), "{\n  \"n\": 1\n}\n");
        assert_eq!(names(&tmp.path().join("nested")), ["out"]);
    }

    #[test]
    fn a_previous_live_output_and_an_empty_directory_are_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        OutputDir::create(&out)
            .unwrap()
            .commit(&serde_json::json!(1))
            .unwrap();
        fs::write(out.join("old-only"), "").unwrap();
        OutputDir::create(&out)
            .unwrap()
            .commit(&serde_json::json!(2))
            .unwrap();
        assert_eq!(read(&out.join("summary.json")), "2\n");
        assert!(!out.join("old-only").exists());
        assert_eq!(names(tmp.path()), ["out"]);
    }

    /// Finding 1: a `summary.json` (as `mesosim run` writes, or a user's own file) does
    /// not make a directory replaceable; only the marker does.
    #[test]
    fn a_directory_without_the_marker_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("sim-output");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("summary.json"), "{\"mode\": \"sim\"}").unwrap();
        fs::write(out.join("report.md"), "keep me").unwrap();
        let err = OutputDir::create(&out).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a mesosim live output directory (no .mesosim-live file)"),
            "{err}"
        );
        assert!(err.to_string().contains("sim-output"), "{err}");
        assert_eq!(names(&out), ["report.md", "summary.json"]);
        assert_eq!(names(tmp.path()), ["sim-output"]);
    }

    #[test]
    fn a_symlink_or_a_file_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        // A link to a previous live output: replacing the link's target through it
        // would surprise; the link is refused.
        let target = tmp.path().join("target");
        OutputDir::create(&target)
            .unwrap()
            .commit(&serde_json::json!(1))
            .unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = OutputDir::create(&link).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(names(&target), [MARKER, "summary.json"]);
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = OutputDir::create(&file).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
        assert_eq!(read(&file), "x");
        assert_eq!(names(tmp.path()), ["file", "link", "target"]);
    }

    /// Finding 2: when moving the new directory into place fails, the previous output is
    /// moved back and nothing else is left. Here the file system cannot exchange two
    /// directories, so the fallback of two renames runs and its second one fails.
    #[test]
    fn a_failed_replacement_puts_the_previous_output_back() {
        let (tmp, out, dir) = old_output_and_a_new_one();
        let err = dir
            .publish_with(
                |_, _| Err(io::Error::from_raw_os_error(nix::libc::EINVAL)),
                |_, _| Err(io::Error::other("injected")),
            )
            .unwrap_err();
        assert!(chain(&err).contains("injected"), "{err}");
        assert_eq!(read(&out.join("summary.json")), "\"old\"\n");
        assert_eq!(names(tmp.path()), ["out"]);
    }

    /// Where the file system cannot exchange, the two renames replace the output.
    #[test]
    fn without_an_exchange_two_renames_replace_the_output() {
        let (tmp, out, dir) = old_output_and_a_new_one();
        dir.publish_with(
            |_, _| Err(io::Error::from_raw_os_error(nix::libc::ENOSYS)),
            |from, to| fs::rename(from, to),
        )
        .unwrap();
        assert_eq!(read(&out.join("summary.json")), "\"new\"\n");
        assert_eq!(names(tmp.path()), ["out"]);
    }

    /// A previous output is swapped with the new one in one step: whoever holds the old
    /// directory open sees it whole until it is deleted, and `out` is never missing.
    /// A failed exchange leaves the previous output as it was.
    #[test]
    fn a_previous_output_is_exchanged_in_one_step() {
        let (tmp, out, dir) = old_output_and_a_new_one();
        let err = dir
            .publish_with(
                |_, _| Err(io::Error::other("exchange refused")),
                |_, _| panic!("no fallback after a real error"),
            )
            .unwrap_err();
        assert!(chain(&err).contains("exchange refused"), "{err}");
        assert_eq!(read(&out.join("summary.json")), "\"old\"\n");
        assert_eq!(names(tmp.path()), ["out"]);
        // The real exchange: `out` exists at every moment (checked from the swap).
        let dir = OutputDir::create(&out).unwrap();
        dir.write_summary(&serde_json::json!("new")).unwrap();
        dir.publish_with(
            |a, b| {
                exchange(a, b)?;
                assert_eq!(read(&b.join("summary.json")), "\"new\"\n");
                assert_eq!(read(&a.join("summary.json")), "\"old\"\n");
                Ok(())
            },
            |_, _| panic!("the exchange placed it"),
        )
        .unwrap();
        assert_eq!(read(&out.join("summary.json")), "\"new\"\n");
        assert_eq!(names(tmp.path()), ["out"]);
    }

    /// Finding 3: two outputs under construction in one process (or a stale one left
    /// by a crashed run) do not share a temporary directory.
    #[test]
    fn concurrent_outputs_for_one_target_do_not_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let first = OutputDir::create(&out).unwrap();
        let second = OutputDir::create(&out).unwrap();
        assert_ne!(first.path(), second.path());
        fs::write(first.path().join("from"), "first").unwrap();
        first.commit(&serde_json::json!(1)).unwrap();
        second.commit(&serde_json::json!(2)).unwrap();
        assert_eq!(read(&out.join("summary.json")), "2\n");
        assert!(!out.join("from").exists());
        assert_eq!(names(tmp.path()), ["out"]);
    }

    #[test]
    fn dropping_an_uncommitted_output_removes_only_its_own_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        OutputDir::create(&out)
            .unwrap()
            .commit(&serde_json::json!(1))
            .unwrap();
        let building = OutputDir::create(&out).unwrap();
        fs::write(building.path().join("x"), "").unwrap();
        drop(building);
        assert_eq!(names(tmp.path()), ["out"]);
        assert_eq!(read(&out.join("summary.json")), "1\n");
    }
}
