//! The live fetcher against real files and a loopback HTTP server: cached URIs are downloaded once and copied to every sandbox (Mesos's `HttpCachedSerialized`), LRU eviction deletes the evicted file (`RemoveLRUCacheEntries`), archives are extracted, a missing cache file is fetched again, and failed downloads say why and leave nothing behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use live::fetcher::{Fetcher, TaskUri};

/// What the test server answers for a path.
#[derive(Clone)]
enum Route {
    /// 200 with a Content-Length.
    Body(Vec<u8>),
    /// 200 in chunks of 7 bytes, without a Content-Length.
    Chunked(Vec<u8>),
    /// 302 to another path.
    Redirect(&'static str),
    /// 200 declaring more bytes than it sends, then closing.
    Short { declared: usize, body: Vec<u8> },
}

/// A loopback HTTP/1.1 server counting the requests it answers.
struct Server {
    addr: String,
    gets: Arc<AtomicUsize>,
    heads: Arc<AtomicUsize>,
}

impl Server {
    fn start(routes: BTreeMap<&'static str, Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (gets, heads): (Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let counts = (Arc::clone(&gets), Arc::clone(&heads));
        // The thread lives as long as the test process; each test has its own server.
        thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { continue };
                let mut reader = BufReader::new(sock.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut words = line.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() <= 2 {
                        break;
                    }
                }
                let head = method == "HEAD";
                if head { &counts.1 } else { &counts.0 }.fetch_add(1, Ordering::SeqCst);
                let response: Vec<u8> = match routes.get(path) {
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    Some(Route::Body(b)) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len())
                                .into_bytes();
                        if !head {
                            r.extend_from_slice(b);
                        }
                        r
                    }
                    Some(Route::Chunked(b)) => {
                        let mut r =
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                        if !head {
                            for chunk in b.chunks(7) {
                                r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                                r.extend_from_slice(chunk);
                                r.extend_from_slice(b"\r\n");
                            }
                            r.extend_from_slice(b"0\r\n\r\n");
                        }
                        r
                    }
                    Some(Route::Redirect(to)) => {
                        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
                            .into_bytes()
                    }
                    Some(Route::Short { declared, body }) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n")
                                .into_bytes();
                        if !head {
                            r.extend_from_slice(body);
                        }
                        r
                    }
                };
                let _ = sock.write_all(&response);
            }
        });
        Server { addr, gets, heads }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.gets.load(Ordering::SeqCst),
            self.heads.load(Ordering::SeqCst),
        )
    }
}

fn uri(spec: &str) -> TaskUri {
    TaskUri::parse(spec).unwrap()
}

/// A fresh sandbox directory under `root`.
fn sandbox(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The names of the files in the cache directory (and its user directories).
fn cache_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_cached_uri_is_downloaded_once_and_copied_to_every_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let server = Server::start(BTreeMap::from([("/tool.bin", Route::Body(body.clone()))]));
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let u = uri(&format!("{},cache", server.url("/tool.bin")));
    for task in ["t0", "t1", "t2"] {
        let sb = sandbox(tmp.path(), task);
        f.fetch(None, &u, &sb).unwrap();
        assert_eq!(fs::read(sb.join("tool.bin")).unwrap(), body, "{task}");
    }
    // One HEAD (the size of the new entry) and one GET, for three tasks.
    assert_eq!(server.counts(), (1, 1));
    let s = f.summary();
    assert_eq!((s.requests, s.misses, s.hits, s.bypasses), (3, 1, 2, 0));
    assert_eq!(s.bytes_downloaded, 5000);
    assert_eq!(cache_files(f.dir()), vec!["c1-tool.bin"]);
    // Another user has an entry of its own, in its own directory.
    f.fetch(Some("alice"), &u, &sandbox(tmp.path(), "t3"))
        .unwrap();
    assert_eq!(server.counts(), (2, 2));
    assert_eq!(cache_files(&f.dir().join("alice")), vec!["c2-tool.bin"]);
}

#[test]
fn uncached_uris_are_downloaded_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(BTreeMap::from([("/a.txt", Route::Body(b"abc".to_vec()))]));
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    for task in ["t0", "t1"] {
        f.fetch(
            None,
            &uri(&server.url("/a.txt")),
            &sandbox(tmp.path(), task),
        )
        .unwrap();
    }
    assert_eq!(server.counts(), (2, 0));
    assert_eq!(f.summary().bypasses, 2);
    assert!(cache_files(f.dir()).is_empty());
}

#[test]
fn the_least_recently_used_entry_is_evicted_and_its_file_deleted() {
    // Mesos's RemoveLRUCacheEntries: room for two files, fetch 0, 1, 1, 2: 0 goes.
    let tmp = tempfile::tempdir().unwrap();
    let src = sandbox(tmp.path(), "src");
    for name in ["0", "1", "2"] {
        fs::write(src.join(name), [b'x'; 10]).unwrap();
    }
    let mut f = Fetcher::new(tmp.path().join("cache"), 20).unwrap();
    for (i, name) in ["0", "1", "1", "2"].into_iter().enumerate() {
        let spec = format!("file://{}/{name},cache", src.display());
        f.fetch(None, &uri(&spec), &sandbox(tmp.path(), &format!("t{i}")))
            .unwrap();
    }
    assert_eq!(cache_files(f.dir()), vec!["c2-1", "c3-2"]);
    assert_eq!(f.summary().evictions, 1);
    // A URI larger than the cache bypasses it and evicts nothing.
    fs::write(src.join("big"), [b'y'; 30]).unwrap();
    let sb = sandbox(tmp.path(), "t9");
    f.fetch(None, &uri(&format!("{}/big,cache", src.display())), &sb)
        .unwrap();
    assert_eq!(fs::read(sb.join("big")).unwrap().len(), 30);
    assert_eq!(cache_files(f.dir()), vec!["c2-1", "c3-2"]);
    assert_eq!(f.summary().no_room, 1);
}

#[test]
fn archives_are_extracted_and_executables_made_so() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sandbox(tmp.path(), "src");
    fs::create_dir_all(src.join("tool")).unwrap();
    fs::write(src.join("tool/run.sh"), "echo hi\n").unwrap();
    let tar = Command::new("tar")
        .args(["-czf", "tool.tgz", "tool"])
        .current_dir(&src)
        .status()
        .unwrap();
    assert!(tar.success());
    fs::write(src.join("script.sh"), "#!/bin/sh\necho ok\n").unwrap();
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let archive = uri(&format!("file://{}/tool.tgz,cache", src.display()));
    // A miss and then a hit: both extract (a hit straight from the cache file).
    for task in ["t0", "t1"] {
        let sb = sandbox(tmp.path(), task);
        f.fetch(None, &archive, &sb).unwrap();
        assert_eq!(
            fs::read_to_string(sb.join("tool/run.sh")).unwrap(),
            "echo hi\n"
        );
    }
    assert_eq!(f.summary().hits, 1);
    // `no-extract` copies the archive as it is.
    let sb = sandbox(tmp.path(), "t2");
    let kept = uri(&format!("{}/tool.tgz,no-extract", src.display()));
    f.fetch(None, &kept, &sb).unwrap();
    assert!(sb.join("tool.tgz").is_file() && !sb.join("tool").exists());
    // `executable` sets the mode (and never extracts).
    let sb = sandbox(tmp.path(), "t3");
    f.fetch(
        None,
        &uri(&format!("{}/script.sh,executable", src.display())),
        &sb,
    )
    .unwrap();
    let mode = fs::metadata(sb.join("script.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // A gzip file that is not a tarball is decompressed beside itself.
    fs::write(src.join("data.csv"), "a,b\n1,2\n").unwrap();
    assert!(Command::new("gzip")
        .arg(src.join("data.csv"))
        .status()
        .unwrap()
        .success());
    let sb = sandbox(tmp.path(), "t4");
    f.fetch(None, &uri(&format!("{}/data.csv.gz", src.display())), &sb)
        .unwrap();
    assert_eq!(
        fs::read_to_string(sb.join("data.csv")).unwrap(),
        "a,b\n1,2\n"
    );
}

#[test]
fn redirects_and_chunked_bodies_are_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let body = b"a body sent in chunks of seven bytes".to_vec();
    let server = Server::start(BTreeMap::from([
        ("/old/x.txt", Route::Redirect("/new/x.txt")),
        ("/new/x.txt", Route::Chunked(body.clone())),
    ]));
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let sb = sandbox(tmp.path(), "t0");
    // Cacheable, but a chunked HEAD tells no size: it bypasses the cache.
    f.fetch(
        None,
        &uri(&format!("{},cache", server.url("/old/x.txt"))),
        &sb,
    )
    .unwrap();
    assert_eq!(fs::read(sb.join("x.txt")).unwrap(), body);
    let s = f.summary();
    assert_eq!((s.bypasses, s.misses, s.no_room), (1, 0, 0));
    assert!(cache_files(f.dir()).is_empty());
}

#[test]
fn a_cache_file_deleted_behind_its_back_is_fetched_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(BTreeMap::from([("/a.bin", Route::Body(vec![7; 64]))]));
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let u = uri(&format!("{},cache", server.url("/a.bin")));
    f.fetch(None, &u, &sandbox(tmp.path(), "t0")).unwrap();
    fs::remove_file(f.dir().join("c1-a.bin")).unwrap();
    let sb = sandbox(tmp.path(), "t1");
    f.fetch(None, &u, &sb).unwrap();
    assert_eq!(fs::read(sb.join("a.bin")).unwrap(), vec![7; 64]);
    assert_eq!(server.counts().0, 2, "downloaded again");
    assert_eq!(cache_files(f.dir()), vec!["c2-a.bin"]);
}

#[test]
fn failed_downloads_say_why_and_leave_no_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(BTreeMap::from([(
        "/short.bin",
        Route::Short {
            declared: 100,
            body: vec![1; 10],
        },
    )]));
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let sb = sandbox(tmp.path(), "t0");
    let missing = server.url("/missing.bin");
    let e = f.fetch(None, &uri(&missing), &sb).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "fetching `{missing}`: HTTP 404 Not Found from {}",
            server.addr
        )
    );
    let short = server.url("/short.bin");
    let e = f
        .fetch(None, &uri(&format!("{short},cache")), &sb)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("fetching `{short}`: the server closed the connection after 10 of 100 bytes")
    );
    // No entry and no partial file: the next request is a miss again.
    assert!(cache_files(f.dir()).is_empty());
    let _ = f.fetch(None, &uri(&format!("{short},cache")), &sb);
    assert_eq!(f.summary().misses, 2);
    let gone = tmp.path().join("nope.tgz");
    let e = f
        .fetch(None, &uri(&format!("{},cache", gone.display())), &sb)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "fetching `{0}`: {0}: No such file",
            gone.display()
        )),
        "{e}"
    );
}

#[test]
fn the_cache_directory_is_wiped_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    fs::create_dir_all(dir.join("old-user")).unwrap();
    fs::write(dir.join("c9-left-over"), "x").unwrap();
    let f = Fetcher::new(dir.clone(), 100).unwrap();
    assert!(cache_files(f.dir()).is_empty());
}

/// Responses from a hostile or broken server, pieced together from fragments of HTTP
/// and garbage: every fetch ends with Ok or an error (the server closes after
/// writing, so none can wait), never a panic.
#[test]
fn random_server_responses_never_panic_the_fetcher() {
    use rand::{Rng, SeedableRng};
    use std::net::TcpListener;
    const PIECES: [&[u8]; 16] = [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 302 Found\r\nLocation: /x\r\n",
        b"HTTP/2 200\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 18446744073709551615\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Location: https://elsewhere/\r\n",
        b"\r\n",
        b"ffffffffffffffff\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"zz\r\n",
        b"no colon here\r\n",
        b"\xff\xfe\x00\x01",
        b"hello",
        b"\n",
    ];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rounds = 300;
    let server = thread::spawn(move || {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xfe7c);
        for sock in listener.incoming().take(rounds * 2) {
            let mut sock = sock.unwrap();
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut sock, &mut request);
            let mut response = Vec::new();
            for _ in 0..rng.random_range(0..8) {
                response.extend_from_slice(PIECES[rng.random_range(0..PIECES.len())]);
            }
            let _ = sock.write_all(&response);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Fetcher::new(tmp.path().join("cache"), 1 << 20).unwrap();
    let sb = sandbox(tmp.path(), "t");
    let mut errors = 0;
    for i in 0..rounds {
        // Odd rounds cache, so a HEAD comes first and takes a response of its own.
        let spec = if i % 2 == 1 {
            format!("http://{addr}/x,cache")
        } else {
            format!("http://{addr}/x")
        };
        if f.fetch(None, &uri(&spec), &sb).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0, "the fragments make broken responses");
    drop(server);
}
