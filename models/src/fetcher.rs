//! The Mesos fetcher cache of one agent (mesos-semantics.md §5): entries keyed by
//! (user, URI), a size limit (`--fetcher_cache_size`, 2 GB by default), LRU eviction
//! that skips entries in use, a bypass straight to the sandbox when not enough space
//! can be freed (nothing is evicted then), and concurrent fetches of one key sharing
//! a single download.
//!
//! The cache only decides; the caller moves the bytes (a download is a network flow
//! from the artifact server, a retrieval a copy from the cache into the sandbox) and
//! reports back with [`FetcherCache::download_finished`] and [`FetcherCache::release`].

use std::collections::BTreeMap;

/// `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_FETCHER_CACHE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// A cache key: the URI per user ("no user" is a user of its own).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CacheKey {
    /// `CommandInfo.user`, or the framework's user; `None` when unset.
    pub user: Option<String>,
    /// The URI's value.
    pub uri: String,
}

/// What the fetcher does for one URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchAction {
    /// Copy (or extract) a completed entry into the sandbox.
    RetrieveFromCache,
    /// Download into a new entry, then copy it into the sandbox.
    DownloadAndCache,
    /// Another fetch is downloading this key: wait for it, then copy.
    WaitForDownload,
    /// Download straight into the sandbox (`cache = false`, or no room).
    Bypass,
}

/// Counters for the `fetcher` summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetcherStats {
    /// URIs requested.
    pub requests: u64,
    /// Requests served from a completed entry.
    pub hits: u64,
    /// Cacheable requests that started a download.
    pub misses: u64,
    /// Requests that waited for a download in flight.
    pub waits: u64,
    /// Requests that bypassed the cache (not cacheable, or no room).
    pub bypasses: u64,
    /// Of those, bypasses because not enough unused space could be freed.
    pub no_room: u64,
    /// Entries evicted.
    pub evictions: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    size: u64,
    refs: u32,
    complete: bool,
    last_use: u64,
}

/// One agent's fetcher cache.
#[derive(Clone, Debug)]
pub struct FetcherCache {
    capacity: u64,
    used: u64,
    entries: BTreeMap<CacheKey, Entry>,
    /// Use tick → key, oldest first.
    lru: BTreeMap<u64, CacheKey>,
    tick: u64,
    stats: FetcherStats,
    /// Keys evicted since the last [`FetcherCache::take_evicted`].
    evicted: Vec<CacheKey>,
}

impl FetcherCache {
    /// An empty cache of `capacity` bytes (the cache is empty after every agent start).
    pub fn new(capacity: u64) -> FetcherCache {
        FetcherCache {
            capacity,
            used: 0,
            entries: BTreeMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            stats: FetcherStats::default(),
            evicted: Vec::new(),
        }
    }

    /// Bytes held or reserved by entries.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Number of entries (completed or downloading).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The counters so far.
    pub fn stats(&self) -> FetcherStats {
        self.stats
    }

    /// True when `key` has an entry.
    pub fn contains(&self, key: &CacheKey) -> bool {
        self.entries.contains_key(key)
    }

    fn touch(&mut self, key: &CacheKey) {
        self.tick += 1;
        let e = self.entries.get_mut(key).expect("touching an entry");
        self.lru.remove(&e.last_use);
        e.last_use = self.tick;
        self.lru.insert(self.tick, key.clone());
    }

    /// Decides how to fetch a URI of `size` bytes. Every action but `Bypass` takes a
    /// reference on the entry, to be given back with [`FetcherCache::release`] when the
    /// fetch run ends (successful or not). A hit counts as a use for the LRU order.
    pub fn request(&mut self, key: &CacheKey, size: u64, cache: bool) -> FetchAction {
        self.stats.requests += 1;
        if !cache {
            self.stats.bypasses += 1;
            return FetchAction::Bypass;
        }
        if let Some(e) = self.entries.get_mut(key) {
            e.refs += 1;
            let complete = e.complete;
            self.touch(key);
            return if complete {
                self.stats.hits += 1;
                FetchAction::RetrieveFromCache
            } else {
                self.stats.waits += 1;
                FetchAction::WaitForDownload
            };
        }
        if !self.reserve(size) {
            self.stats.bypasses += 1;
            self.stats.no_room += 1;
            return FetchAction::Bypass;
        }
        self.stats.misses += 1;
        self.entries.insert(
            key.clone(),
            Entry {
                size,
                refs: 1,
                complete: false,
                last_use: 0,
            },
        );
        self.touch(key);
        FetchAction::DownloadAndCache
    }

    /// Makes room for `size` bytes: evicts unreferenced entries from the least recently
    /// used end until enough is free; evicts nothing and returns false when even all
    /// unreferenced entries would not free enough.
    fn reserve(&mut self, size: u64) -> bool {
        let available = self.capacity.saturating_sub(self.used);
        if available >= size {
            self.used += size;
            return true;
        }
        let missing = size - available;
        let mut victims = Vec::new();
        let mut freed = 0;
        for (&tick, key) in &self.lru {
            if freed >= missing {
                break;
            }
            let e = &self.entries[key];
            if e.refs == 0 {
                freed += e.size;
                victims.push(tick);
            }
        }
        if freed < missing {
            return false;
        }
        for tick in victims {
            let key = self.lru.remove(&tick).expect("victim is listed");
            let e = self.entries.remove(&key).expect("victim exists");
            self.used -= e.size;
            self.stats.evictions += 1;
            self.evicted.push(key);
        }
        self.used += size;
        true
    }

    /// The download of `key` ended: a success completes the entry (waiters now copy
    /// it); a failure removes the entry and frees its space (waiters fall back to
    /// downloading straight into their sandboxes).
    pub fn download_finished(&mut self, key: &CacheKey, ok: bool) {
        if ok {
            if let Some(e) = self.entries.get_mut(key) {
                e.complete = true;
            }
        } else if let Some(e) = self.entries.remove(key) {
            self.lru.remove(&e.last_use);
            self.used -= e.size;
        }
    }

    /// The download of `key` brought `actual` bytes: a file smaller than its declared
    /// size gives the unused reservation back (a larger one cannot be kept: the caller
    /// delivers it, then ends the entry with `download_finished(key, false)`).
    pub fn shrink_to(&mut self, key: &CacheKey, actual: u64) {
        if let Some(e) = self.entries.get_mut(key) {
            if actual < e.size {
                self.used -= e.size - actual;
                e.size = actual;
            }
        }
    }

    /// The keys evicted since the last call, in eviction order (for event logs).
    pub fn take_evicted(&mut self) -> Vec<CacheKey> {
        std::mem::take(&mut self.evicted)
    }

    /// A fetch run that referenced `key` ended.
    pub fn release(&mut self, key: &CacheKey) {
        if let Some(e) = self.entries.get_mut(key) {
            e.refs = e.refs.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> CacheKey {
        CacheKey {
            user: Some("alice".to_string()),
            uri: uri.to_string(),
        }
    }

    /// Fetches `uri` to completion as a task would: request, download, release.
    fn fetch(c: &mut FetcherCache, uri: &str, size: u64) -> FetchAction {
        let k = key(uri);
        let a = c.request(&k, size, true);
        if a == FetchAction::DownloadAndCache {
            c.download_finished(&k, true);
        }
        if a != FetchAction::Bypass {
            c.release(&k);
        }
        a
    }

    #[test]
    fn a_miss_downloads_and_the_next_request_hits() {
        let mut c = FetcherCache::new(100);
        assert_eq!(fetch(&mut c, "a", 40), FetchAction::DownloadAndCache);
        assert_eq!(fetch(&mut c, "a", 40), FetchAction::RetrieveFromCache);
        assert_eq!(c.used(), 40);
        let s = c.stats();
        assert_eq!((s.requests, s.hits, s.misses), (2, 1, 1));
        // Another user, or no user, has its own entry.
        let bob = CacheKey {
            user: None,
            uri: "a".to_string(),
        };
        assert_eq!(c.request(&bob, 40, true), FetchAction::DownloadAndCache);
        assert_eq!(c.len(), 2);
        // `cache = false` bypasses whatever is cached.
        assert_eq!(c.request(&key("a"), 40, false), FetchAction::Bypass);
    }

    #[test]
    fn eviction_takes_the_least_recently_used_entry() {
        // Mesos's RemoveLRUCacheEntries: room for two files, fetch 0, 1, 1, 2: 0 goes.
        let mut c = FetcherCache::new(2 * 10);
        for uri in ["0", "1", "1", "2"] {
            fetch(&mut c, uri, 10);
        }
        assert!(!c.contains(&key("0")));
        assert!(c.contains(&key("1")) && c.contains(&key("2")));
        assert_eq!(c.stats().evictions, 1);
        assert_eq!(c.take_evicted(), vec![key("0")]);
        // A hit is a use: after touching 1, fetching 3 evicts 2.
        fetch(&mut c, "1", 10);
        fetch(&mut c, "3", 10);
        assert!(c.contains(&key("1")) && !c.contains(&key("2")));
        assert_eq!(c.take_evicted(), vec![key("2")], "reported once, in order");
        assert!(c.take_evicted().is_empty());
    }

    #[test]
    fn eviction_skips_entries_in_use() {
        let mut c = FetcherCache::new(30);
        // "old" is the least recently used but still referenced by a running fetch.
        assert_eq!(
            c.request(&key("old"), 10, true),
            FetchAction::DownloadAndCache
        );
        c.download_finished(&key("old"), true);
        fetch(&mut c, "mid", 10);
        fetch(&mut c, "new", 10);
        assert_eq!(fetch(&mut c, "next", 10), FetchAction::DownloadAndCache);
        assert!(c.contains(&key("old")), "in use: skipped");
        assert!(!c.contains(&key("mid")), "the oldest unused entry goes");
        assert!(c.contains(&key("new")));
        assert_eq!(c.used(), 30);
    }

    #[test]
    fn no_room_bypasses_to_the_sandbox_and_evicts_nothing() {
        let mut c = FetcherCache::new(30);
        // 20 bytes in use, 10 unused-but-evictable: a 25-byte URI cannot fit.
        assert_eq!(
            c.request(&key("busy"), 20, true),
            FetchAction::DownloadAndCache
        );
        fetch(&mut c, "idle", 10);
        assert_eq!(c.request(&key("big"), 25, true), FetchAction::Bypass);
        assert!(c.contains(&key("idle")), "nothing evicted");
        assert_eq!(c.stats().evictions, 0);
        assert_eq!(c.stats().no_room, 1);
        assert_eq!(c.used(), 30);
        // Larger than the whole cache: always a bypass (a size of 0 disables caching).
        assert_eq!(
            FetcherCache::new(0).request(&key("x"), 1, true),
            FetchAction::Bypass
        );
    }

    #[test]
    fn concurrent_fetches_share_one_download() {
        // Mesos's HttpCachedConcurrent: 5 tasks, one URI, one entry, one download.
        let mut c = FetcherCache::new(100);
        let actions: Vec<FetchAction> = (0..5).map(|_| c.request(&key("u"), 10, true)).collect();
        assert_eq!(actions[0], FetchAction::DownloadAndCache);
        assert!(actions[1..]
            .iter()
            .all(|&a| a == FetchAction::WaitForDownload));
        assert_eq!(c.len(), 1);
        assert_eq!((c.stats().misses, c.stats().waits), (1, 4));
        // While all five hold it, it cannot be evicted.
        c.download_finished(&key("u"), true);
        assert_eq!(c.request(&key("v"), 95, true), FetchAction::Bypass);
        for _ in 0..5 {
            c.release(&key("u"));
        }
        assert_eq!(
            c.request(&key("v"), 95, true),
            FetchAction::DownloadAndCache
        );
        assert!(!c.contains(&key("u")));
    }

    #[test]
    fn a_smaller_download_gives_the_unused_space_back() {
        let mut c = FetcherCache::new(100);
        c.request(&key("u"), 60, true);
        c.shrink_to(&key("u"), 45);
        c.download_finished(&key("u"), true);
        c.release(&key("u"));
        assert_eq!(c.used(), 45);
        // A larger actual size changes nothing here (the caller drops the entry).
        c.shrink_to(&key("u"), 70);
        assert_eq!(c.used(), 45);
        // 55 bytes fit beside it without evicting it.
        assert_eq!(fetch(&mut c, "v", 55), FetchAction::DownloadAndCache);
        assert!(c.contains(&key("u")));
        assert_eq!(c.used(), 100);
    }

    #[test]
    fn a_failed_download_frees_its_entry() {
        let mut c = FetcherCache::new(100);
        c.request(&key("u"), 60, true);
        c.download_finished(&key("u"), false);
        assert_eq!(c.used(), 0);
        assert_eq!(
            c.request(&key("u"), 60, true),
            FetchAction::DownloadAndCache
        );
    }
}
