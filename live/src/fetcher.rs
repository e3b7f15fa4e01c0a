//! The live agent's fetcher (mesos-semantics.md §5): before a task starts, the URIs it names are copied (a `file://` URI or an absolute path) or downloaded (`http://`) into its sandbox, through an on-disk cache whose every decision (the key, LRU eviction that skips entries in use, the bypass when no room can be made) is the simulator's [`FetcherCache`]. Archives are extracted with `tar`, `unzip` or `gzip`, as `mesos-fetcher` does.
//!
//! Fetches run one after another (on the caller's thread in `live run`, on a
//! [`FetchWorker`] thread in `live agent`), so two tasks never wait on one download
//! here: the second finds the entry complete.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use models::fetcher::{CacheKey, FetchAction, FetcherCache};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `--fetcher_stall_timeout`: a download that brings no byte for this long is aborted.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Redirects followed, as `mesos-fetcher`'s curl does.
const MAX_REDIRECTS: u32 = 5;

/// The longest HTTP status line or header line accepted.
const MAX_HEAD_LINE: usize = 8 * 1024;

/// The most header lines accepted in one response.
const MAX_HEADERS: usize = 100;

/// Cache file names keep this many characters of each end of the URI's basename, as
/// Mesos's `c<serial>-<basename>` does.
const BASENAME_KEEP: usize = 10;

/// One URI of a task (Mesos's `CommandInfo.URI`), given on the command line as
/// `VALUE[,cache][,executable][,no-extract]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskUri {
    /// A `file://` or `http://` URI, or an absolute path.
    pub value: String,
    /// Go through the cache (Mesos's default is `false`: download every time).
    pub cache: bool,
    /// Make the fetched file executable (and do not extract it).
    pub executable: bool,
    /// Extract an archive into the sandbox (Mesos's default is `true`).
    pub extract: bool,
}

impl TaskUri {
    /// Parses `VALUE[,cache][,executable][,no-extract]`; the options are read from the
    /// end, so a comma inside the URI itself stays part of it.
    pub fn parse(spec: &str) -> Result<TaskUri, String> {
        let mut uri = TaskUri {
            value: spec.to_string(),
            cache: false,
            executable: false,
            extract: true,
        };
        while let Some((head, option)) = uri.value.rsplit_once(',') {
            match option {
                "cache" => uri.cache = true,
                "executable" => uri.executable = true,
                "no-extract" => uri.extract = false,
                _ => break,
            }
            uri.value = head.to_string();
        }
        if uri.value.chars().any(char::is_control) {
            return Err(format!(
                "`{}` holds control characters",
                uri.value.escape_debug()
            ));
        }
        Source::parse(&uri.value)?;
        Ok(uri)
    }
}

/// `VALUE[,cache][,executable][,no-extract]`, as [`TaskUri::parse`] reads it.
impl std::fmt::Display for TaskUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)?;
        for (on, option) in [
            (self.cache, ",cache"),
            (self.executable, ",executable"),
            (!self.extract, ",no-extract"),
        ] {
            if on {
                f.write_str(option)?;
            }
        }
        Ok(())
    }
}

/// Where a URI's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Http(HttpUrl),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    /// The request target: the path and query, starting with `/`.
    target: String,
}

impl HttpUrl {
    fn parse(rest: &str) -> Result<HttpUrl, String> {
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // A fragment is not sent to the server.
        let target = target.split('#').next().unwrap_or("/");
        if authority.contains('@') {
            return Err("user names in URIs are not supported".into());
        }
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("`{p}` is not a port"));
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("the URI's host opens `[` but does not close it")?;
            match after.strip_prefix(':') {
                Some(p) => (host, port(p)?),
                None if after.is_empty() => (host, 80),
                None => return Err(format!("`{after}` follows the URI's host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, p)) => (host, port(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err("the URI names no host".into());
        }
        if target.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err("the URI's path holds spaces or control characters".into());
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            target: target.to_string(),
        })
    }
}

impl Source {
    fn parse(value: &str) -> Result<Source, String> {
        let source = if let Some(rest) = value.strip_prefix("http://") {
            Source::Http(HttpUrl::parse(rest)?)
        } else if value.starts_with("https://") {
            return Err(
                "https URIs are not supported by the live fetcher (use http:// or file://)".into(),
            );
        } else {
            let path = value.strip_prefix("file://").unwrap_or(value);
            if !path.starts_with('/') {
                return Err(format!(
                    "`{value}` is neither an absolute path, a file:// URI nor an http:// URI"
                ));
            }
            Source::File(PathBuf::from(path))
        };
        if matches!(source.basename().as_str(), "" | "." | "..") {
            return Err(format!(
                "`{value}` names no file (its path ends in `/`, `.` or `..`)"
            ));
        }
        Ok(source)
    }

    /// The last path component: the name the file gets in the sandbox.
    fn basename(&self) -> String {
        let path = match self {
            Source::File(p) => p.to_string_lossy().into_owned(),
            Source::Http(u) => u.target.split('?').next().unwrap_or("").to_string(),
        };
        path.rsplit('/').next().unwrap_or("").to_string()
    }
}

/// Why a URI could not be fetched; the task does not start.
#[derive(Debug, Error)]
#[error("fetching `{uri}`: {detail}")]
pub struct FetchError {
    /// The URI as given.
    pub uri: String,
    /// What went wrong.
    pub detail: String,
}

/// What the fetchers of a run did (`fetcher` in `summary.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetcherSummary {
    /// URIs fetched.
    pub requests: u64,
    /// Served from a cache entry (a copy or an extraction, no download).
    pub hits: u64,
    /// Cacheable URIs that were downloaded into a new entry.
    pub misses: u64,
    /// Fetched straight into the sandbox (not cacheable, size unknown, or no room).
    pub bypasses: u64,
    /// Of those, bypasses because not enough unused cache space could be freed.
    pub no_room: u64,
    /// Entries evicted (their files deleted).
    pub evictions: u64,
    /// Bytes read from `http://` servers or source files.
    pub bytes_downloaded: u64,
    /// Each agent's cache size, bytes (`--fetcher-cache-size`).
    pub cache_size: u64,
}

impl FetcherSummary {
    /// Adds another agent's counts.
    pub fn add(&mut self, other: &FetcherSummary) {
        self.requests += other.requests;
        self.hits += other.hits;
        self.misses += other.misses;
        self.bypasses += other.bypasses;
        self.no_room += other.no_room;
        self.evictions += other.evictions;
        self.bytes_downloaded += other.bytes_downloaded;
        self.cache_size = other.cache_size;
    }
}

/// One agent's fetcher and its cache directory.
#[derive(Debug)]
pub struct Fetcher {
    dir: PathBuf,
    cache: FetcherCache,
    capacity: u64,
    /// The file of every completed entry.
    files: BTreeMap<CacheKey, PathBuf>,
    serial: u64,
    bytes_downloaded: u64,
}

impl Fetcher {
    /// A fetcher with an empty cache of `capacity` bytes in `dir`, which is wiped first
    /// (Mesos's cache is empty after every agent start).
    pub fn new(dir: PathBuf, capacity: u64) -> io::Result<Fetcher> {
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::create_dir_all(&dir)?;
        Ok(Fetcher {
            dir,
            cache: FetcherCache::new(capacity),
            capacity,
            files: BTreeMap::new(),
            serial: 0,
            bytes_downloaded: 0,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What this fetcher did so far.
    pub fn summary(&self) -> FetcherSummary {
        let s = self.cache.stats();
        FetcherSummary {
            requests: s.requests,
            hits: s.hits,
            misses: s.misses,
            bypasses: s.bypasses,
            no_room: s.no_room,
            evictions: s.evictions,
            bytes_downloaded: self.bytes_downloaded,
            cache_size: self.capacity,
        }
    }

    /// Fetches `uri` for `user` into `sandbox`.
    pub fn fetch(
        &mut self,
        user: Option<&str>,
        uri: &TaskUri,
        sandbox: &Path,
    ) -> Result<(), FetchError> {
        let err = |detail: String| FetchError {
            uri: uri.value.clone(),
            detail,
        };
        let source = Source::parse(&uri.value).map_err(err)?;
        let key = CacheKey {
            user: user.map(str::to_string),
            uri: uri.value.clone(),
        };
        // The size is learned only for a new entry; an unknown size bypasses the cache.
        let size = if uri.cache && !self.cache.contains(&key) {
            size_of(&source).map_err(|e| err(e.to_string()))?
        } else {
            None
        };
        let cacheable = uri.cache && (size.is_some() || self.cache.contains(&key));
        let action = self.cache.request(&key, size.unwrap_or(0), cacheable);
        let result = match action {
            FetchAction::Bypass => self.bypass(&source, uri, sandbox),
            FetchAction::DownloadAndCache => {
                self.download_and_cache(&key, &source, size.unwrap_or(0), uri, sandbox)
            }
            FetchAction::RetrieveFromCache | FetchAction::WaitForDownload => {
                self.retrieve(&key, uri, &source, sandbox)
            }
        };
        if action != FetchAction::Bypass {
            self.cache.release(&key);
        }
        for evicted in self.cache.take_evicted() {
            if let Some(file) = self.files.remove(&evicted) {
                // A file that cannot be deleted only costs disk: its space is free in
                // the cache's accounting either way.
                let _ = fs::remove_file(file);
            }
        }
        result.map_err(|e| err(e.to_string()))
    }

    fn bypass(&mut self, source: &Source, uri: &TaskUri, sandbox: &Path) -> io::Result<()> {
        let dest = sandbox.join(source.basename());
        self.bytes_downloaded += download(source, &dest)?;
        deliver(&dest, uri, sandbox, false)
    }

    fn download_and_cache(
        &mut self,
        key: &CacheKey,
        source: &Source,
        declared: u64,
        uri: &TaskUri,
        sandbox: &Path,
    ) -> io::Result<()> {
        self.serial += 1;
        let dir = match &key.user {
            Some(user) => self.dir.join(user),
            None => self.dir.clone(),
        };
        let file = dir.join(format!(
            "c{}-{}",
            self.serial,
            shortened(&source.basename())
        ));
        let partial = file.with_extension("partial");
        let downloaded = fs::create_dir_all(&dir)
            .and_then(|()| download(source, &partial))
            .and_then(|n| fs::rename(&partial, &file).map(|()| n));
        let actual = match downloaded {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_file(&partial);
                self.cache.download_finished(key, false);
                return Err(e);
            }
        };
        self.bytes_downloaded += actual;
        if actual <= declared {
            self.cache.shrink_to(key, actual);
            self.cache.download_finished(key, true);
            self.files.insert(key.clone(), file.clone());
            return deliver(&file, uri, sandbox, true);
        }
        // Larger than declared: delivered once, then dropped, so the cache's capacity
        // is overrun only while it is copied.
        let delivered = deliver(&file, uri, sandbox, true);
        self.cache.download_finished(key, false);
        let _ = fs::remove_file(&file);
        delivered
    }

    fn retrieve(
        &mut self,
        key: &CacheKey,
        uri: &TaskUri,
        source: &Source,
        sandbox: &Path,
    ) -> io::Result<()> {
        match self.files.get(key) {
            Some(file) if file.is_file() => deliver(&file.clone(), uri, sandbox, true),
            _ => {
                // The file went missing behind the cache's back: the entry goes, and
                // the URI is fetched as a miss.
                self.files.remove(key);
                self.cache.download_finished(key, false);
                let size = size_of(source)?;
                let action = self.cache.request(key, size.unwrap_or(0), size.is_some());
                let result = match action {
                    FetchAction::DownloadAndCache => {
                        self.download_and_cache(key, source, size.unwrap_or(0), uri, sandbox)
                    }
                    _ => self.bypass(source, uri, sandbox),
                };
                if action != FetchAction::Bypass {
                    self.cache.release(key);
                }
                result
            }
        }
    }
}

/// One task's URIs for a [`FetchWorker`].
#[derive(Clone, Debug)]
pub struct FetchJob {
    /// The task.
    pub task_id: String,
    /// Its URIs, fetched in order.
    pub uris: Vec<TaskUri>,
    /// Its sandbox.
    pub sandbox: PathBuf,
}

/// How a [`FetchJob`] ended.
#[derive(Debug)]
pub struct FetchDone {
    /// The task.
    pub task_id: String,
    /// The first URI that could not be fetched, if one could not.
    pub result: Result<(), FetchError>,
}

/// A [`Fetcher`] on a thread of its own, so that its owner (an agent) keeps answering
/// its master while a download runs. Jobs run in the order submitted.
pub struct FetchWorker {
    jobs: mpsc::Sender<FetchJob>,
    done: mpsc::Receiver<FetchDone>,
    stop: Arc<AtomicBool>,
    /// What the fetcher did, as of its last finished job.
    summary: Arc<Mutex<FetcherSummary>>,
}

impl FetchWorker {
    /// Starts the thread, which owns `fetcher`.
    pub fn start(mut fetcher: Fetcher) -> io::Result<FetchWorker> {
        let (jobs, incoming) = mpsc::channel::<FetchJob>();
        let (report, done) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let summary = Arc::new(Mutex::new(fetcher.summary()));
        let (stopped, summary_out) = (Arc::clone(&stop), Arc::clone(&summary));
        thread::Builder::new()
            .name("mesosim-fetcher".into())
            .spawn(move || {
                for job in incoming {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let result = job
                        .uris
                        .iter()
                        .try_for_each(|u| fetcher.fetch(None, u, &job.sandbox));
                    if let Ok(mut s) = summary_out.lock() {
                        *s = fetcher.summary();
                    }
                    let reply = FetchDone {
                        task_id: job.task_id,
                        result,
                    };
                    if report.send(reply).is_err() {
                        break;
                    }
                }
            })?;
        Ok(FetchWorker {
            jobs,
            done,
            stop,
            summary,
        })
    }

    /// Queues a job.
    pub fn submit(&self, job: FetchJob) {
        // The thread ends only after `stop`, so the send succeeds until then.
        let _ = self.jobs.send(job);
    }

    /// A finished job, if one finished.
    pub fn try_done(&self) -> Option<FetchDone> {
        self.done.try_recv().ok()
    }

    /// Tells the thread to take no further job and returns what the fetcher did so far.
    /// It is not waited for: a download in progress ends by itself (at worst after
    /// [`STALL_TIMEOUT`] without a byte), and its result goes nowhere.
    pub fn finish(self) -> FetcherSummary {
        self.stop.store(true, Ordering::SeqCst);
        let summary = self.summary.lock().map(|s| s.clone()).unwrap_or_default();
        summary
    }
}

/// `first10...last10` of a long basename, as Mesos names its cache files.
fn shortened(basename: &str) -> String {
    let chars: Vec<char> = basename.chars().collect();
    if chars.len() <= 2 * BASENAME_KEEP {
        return basename.to_string();
    }
    let head: String = chars[..BASENAME_KEEP].iter().collect();
    let tail: String = chars[chars.len() - BASENAME_KEEP..].iter().collect();
    format!("{head}{tail}")
}

/// The archive kinds `mesos-fetcher` extracts, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Archive {
    Tar,
    Zip,
    Gzip,
}

fn archive_kind(name: &str) -> Option<Archive> {
    const TARS: [&str; 7] = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ];
    if TARS.iter().any(|s| name.ends_with(s)) {
        Some(Archive::Tar)
    } else if name.ends_with(".zip") {
        Some(Archive::Zip)
    } else if name.ends_with(".gz") {
        Some(Archive::Gzip)
    } else {
        None
    }
}

/// Puts `file` (a cache file when `from_cache`, else already the sandbox's copy) into
/// `sandbox` as the URI asks: made executable, extracted, or copied.
fn deliver(file: &Path, uri: &TaskUri, sandbox: &Path, from_cache: bool) -> io::Result<()> {
    let name = Source::parse(&uri.value)
        .map(|s| s.basename())
        .map_err(io::Error::other)?;
    let archive = archive_kind(&name).filter(|_| uri.extract && !uri.executable);
    if let Some(kind) = archive {
        // A hit extracts straight from the cache; every hit still costs this work.
        return extract(kind, file, &name, sandbox);
    }
    let dest = sandbox.join(&name);
    if from_cache {
        fs::copy(file, &dest)?;
    }
    if uri.executable {
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn extract(kind: Archive, file: &Path, name: &str, sandbox: &Path) -> io::Result<()> {
    let mut command = match kind {
        Archive::Tar => {
            let mut c = Command::new("tar");
            c.arg("-C").arg(sandbox).arg("-xf").arg(file);
            c
        }
        Archive::Zip => {
            let mut c = Command::new("unzip");
            c.arg("-o").arg("-q").arg(file).arg("-d").arg(sandbox);
            c
        }
        Archive::Gzip => {
            let out = File::create(sandbox.join(name.trim_end_matches(".gz")))?;
            let mut c = Command::new("gzip");
            c.arg("-dc").arg(file).stdout(out);
            c
        }
    };
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{program}`: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!(
            "`{program}` could not extract {name} ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(())
}

/// The size of what `source` holds, when it can be learned without fetching it: `stat`
/// for a file, a positive `Content-Length` for HTTP (else `None`: bypass).
fn size_of(source: &Source) -> io::Result<Option<u64>> {
    match source {
        Source::File(path) => fs::metadata(path)
            .map(|m| Some(m.len()))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        Source::Http(url) => {
            let response = request("HEAD", url)?;
            Ok(response.content_length()?.filter(|&n| n > 0))
        }
    }
}

/// Copies or downloads `source` into `dest`; returns the bytes written.
fn download(source: &Source, dest: &Path) -> io::Result<u64> {
    let mut out = File::create(dest)?;
    let n = match source {
        Source::File(path) => {
            let mut input = File::open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            io::copy(&mut input, &mut out)?
        }
        Source::Http(url) => {
            let mut response = request("GET", url)?;
            response.copy_body(&mut out)?
        }
    };
    out.sync_all()?;
    Ok(n)
}

/// An HTTP/1.1 response whose head has been read.
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: BufReader<TcpStream>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> io::Result<Option<u64>> {
        self.header("content-length")
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("Content-Length `{v}` is not a number")))
            })
            .transpose()
    }

    /// Copies the body to `out`, by its length, in chunks, or to the end of the stream.
    fn copy_body(&mut self, out: &mut impl Write) -> io::Result<u64> {
        let chunked = self
            .header("transfer-encoding")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        if chunked {
            return self.copy_chunked(out);
        }
        match self.content_length()? {
            Some(length) => {
                let n = io::copy(&mut (&mut self.body).take(length), out)?;
                if n < length {
                    return Err(bad(format!(
                        "the server closed the connection after {n} of {length} bytes"
                    )));
                }
                Ok(n)
            }
            None => io::copy(&mut self.body, out),
        }
    }

    fn copy_chunked(&mut self, out: &mut impl Write) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            let line = read_line(&mut self.body)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| bad(format!("chunk size `{size}` is not hexadecimal")))?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(&mut self.body)?.is_empty() {}
                return Ok(total);
            }
            let n = io::copy(&mut (&mut self.body).take(size), out)?;
            if n < size {
                return Err(bad(format!(
                    "the server closed the connection inside a chunk, after {} bytes",
                    total + n
                )));
            }
            total += n;
            if !read_line(&mut self.body)?.is_empty() {
                return Err(bad("a chunk does not end with CRLF".into()));
            }
        }
    }
}

fn bad(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

/// One line of a response head, without its CRLF; bounded by [`MAX_HEAD_LINE`].
fn read_line(r: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_HEAD_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(bad("the server closed the connection".into()));
    }
    if line.last() != Some(&b'\n') {
        return Err(bad(format!(
            "a response line is longer than {MAX_HEAD_LINE} bytes"
        )));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("a response line is not UTF-8".into()))
}

/// Sends `method` for `url`, following redirects, and reads the response head; any
/// status but 200 is an error.
fn request(method: &str, url: &HttpUrl) -> io::Result<Response> {
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = send(method, &url)?;
        match response.status {
            200 => return Ok(response),
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .header("location")
                    .ok_or_else(|| bad(format!("HTTP {} without a Location", response.status)))?;
                url = if location.starts_with('/') {
                    HttpUrl {
                        target: location.to_string(),
                        ..url
                    }
                } else if let Some(rest) = location.strip_prefix("http://") {
                    HttpUrl::parse(rest).map_err(bad)?
                } else {
                    return Err(bad(format!(
                        "redirected to `{location}`, which is not an http:// URI"
                    )));
                };
            }
            status => {
                return Err(bad(format!(
                    "HTTP {status} {} from {}:{}",
                    response.reason, url.host, url.port
                )))
            }
        }
    }
    Err(bad(format!("more than {MAX_REDIRECTS} redirects")))
}

fn send(method: &str, url: &HttpUrl) -> io::Result<Response> {
    let at = format!("{}:{}", url.host, url.port);
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {at}: {e}")))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{at} has no address"));
    let mut sock = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, STALL_TIMEOUT) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = io::Error::new(e.kind(), format!("cannot connect to {at}: {e}")),
        }
    }
    let mut sock = sock.ok_or(last)?;
    sock.set_read_timeout(Some(STALL_TIMEOUT))?;
    sock.set_write_timeout(Some(STALL_TIMEOUT))?;
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    write!(
        sock,
        "{method} {} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: mesosim-fetcher\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target, url.port
    )?;
    let mut body = BufReader::new(sock);
    let status_line = read_line(&mut body)?;
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!(
            "`{}` is not an HTTP/1 status line",
            status_line.escape_debug()
        )));
    }
    let status = code
        .parse::<u16>()
        .map_err(|_| bad(format!("`{}` is not a status code", code.escape_debug())))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut body)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(bad(format!("more than {MAX_HEADERS} header lines")));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("`{}` is not a header", line.escape_debug())))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_options_are_read_from_the_end() {
        let u = TaskUri::parse("http://h:8080/a,b.tgz,cache,no-extract").unwrap();
        assert_eq!(u.value, "http://h:8080/a,b.tgz");
        assert!(u.cache && !u.extract && !u.executable);
        let u = TaskUri::parse("/opt/tool,executable").unwrap();
        assert_eq!(
            (u.value.as_str(), u.executable, u.cache),
            ("/opt/tool", true, false)
        );
        let u = TaskUri::parse("file:///x/y.tar.gz").unwrap();
        assert!(u.extract && !u.cache);
        // What the master sends an agent reads back the same.
        for spec in ["/a/b.tgz", "http://h/x,y,cache,executable,no-extract"] {
            assert_eq!(TaskUri::parse(spec).unwrap().to_string(), spec);
        }
    }

    #[test]
    fn unusable_uris_say_why() {
        for (spec, want) in [
            ("relative/path", "is neither an absolute path"),
            ("https://h/x", "https URIs are not supported"),
            ("http:///x", "names no host"),
            ("http://h:99999/x", "`99999` is not a port"),
            ("http://u@h/x", "user names"),
            ("http://h/dir/", "names no file"),
            ("http://h/dir/..", "names no file"),
            ("/tmp/.", "names no file"),
            ("ftp://h/x", "is neither an absolute path"),
            ("/tmp/a\nb", "holds control characters"),
        ] {
            let e = TaskUri::parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn http_urls_split_into_host_port_and_target() {
        let u = HttpUrl::parse("127.0.0.1:8080/a/b.tgz?v=2#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8080, "/a/b.tgz?v=2")
        );
        assert_eq!(Source::Http(u).basename(), "b.tgz");
        let u = HttpUrl::parse("[::1]:81/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 81));
        let u = HttpUrl::parse("[::1]/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert!(HttpUrl::parse("[::1/x").is_err());
        let u = HttpUrl::parse("example.org").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
    }

    #[test]
    fn cache_file_names_keep_both_ends_of_long_basenames() {
        assert_eq!(shortened("short.tgz"), "short.tgz");
        assert_eq!(
            shortened("abcdefghij-middle-part-0123456789"),
            "abcdefghij0123456789"
        );
    }

    #[test]
    fn archives_are_known_by_their_names() {
        assert_eq!(archive_kind("a.tar.gz"), Some(Archive::Tar));
        assert_eq!(archive_kind("a.txz"), Some(Archive::Tar));
        assert_eq!(archive_kind("a.zip"), Some(Archive::Zip));
        assert_eq!(archive_kind("a.csv.gz"), Some(Archive::Gzip));
        assert_eq!(archive_kind("a.jar"), None);
    }
}
