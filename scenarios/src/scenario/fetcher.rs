//! Validation of the `[fetcher]` table and each framework's `uris` list
//! (mesos-semantics.md §5).

use models::fetcher::{CacheKey, DEFAULT_FETCHER_CACHE_SIZE};
use toml::Spanned;

use super::Ctx;
use crate::error::ScenarioError;
use crate::spec::{FetcherSpec, UriSpec};

/// The validated `[fetcher]` table (its defaults when the table is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherDef {
    /// `--fetcher_cache_size` of every agent, bytes.
    pub cache_size: u64,
    /// Download speed from the artifact server without `[network]`, bytes/s.
    pub download_bytes_per_sec: u64,
    /// Cache → sandbox copy speed, bytes/s.
    pub copy_bytes_per_sec: u64,
    /// Archive extraction speed, bytes/s.
    pub extract_bytes_per_sec: u64,
    /// Agents start with every cacheable URI already cached (as far as it fits).
    pub warm: bool,
}

impl Default for FetcherDef {
    fn default() -> FetcherDef {
        FetcherDef {
            cache_size: DEFAULT_FETCHER_CACHE_SIZE,
            download_bytes_per_sec: 125_000_000,
            copy_bytes_per_sec: 500_000_000,
            extract_bytes_per_sec: 200_000_000,
            warm: false,
        }
    }
}

/// One URI a framework's tasks fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriDef {
    /// (user, URI): the cache key.
    pub key: CacheKey,
    /// Size in bytes.
    pub size: u64,
    /// `URI.cache`.
    pub cache: bool,
    /// `URI.extract`.
    pub extract: bool,
}

/// Parses a byte count: a non-negative integer, or a number with a unit `B`, `KB`,
/// `MB`, `GB` or `TB` (binary multiples, as Mesos's `Bytes` parses them).
pub fn parse_bytes(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| format!("must not be negative, found {i}"))
        }
        toml::Value::String(s) => {
            let t = s.trim();
            let split = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let mult: u64 = match unit.trim() {
                "" | "B" => 1,
                "KB" => 1 << 10,
                "MB" => 1 << 20,
                "GB" => 1 << 30,
                "TB" => 1 << 40,
                u => {
                    return Err(format!(
                        "unknown unit `{u}` in `{s}` (use B, KB, MB, GB, TB)"
                    ))
                }
            };
            // Fixed point with 6 decimals, so "1.5GB" is exact and no float decides it.
            let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
            if (whole.is_empty() && frac.is_empty()) || frac.len() > 6 || frac.contains('.') {
                return Err(format!("expected a size such as `600MB`, found `{s}`"));
            }
            let parse = |d: &str| {
                if d.is_empty() {
                    Ok(0u128)
                } else {
                    d.parse::<u128>()
                        .map_err(|_| format!("expected a size such as `600MB`, found `{s}`"))
                }
            };
            let micro =
                parse(whole)? * 1_000_000 + parse(frac)? * 10u128.pow(6 - frac.len() as u32);
            u64::try_from(micro * u128::from(mult) / 1_000_000)
                .map_err(|_| format!("`{s}` is too large"))
        }
        other => Err(format!("expected a size such as `600MB`, found {other}")),
    }
}

fn size(ctx: &Ctx<'_>, v: &Spanned<toml::Value>, field: &str) -> Result<u64, ScenarioError> {
    parse_bytes(v.get_ref()).map_err(|e| ctx.err(v.span(), field, e))
}

/// Validates `[fetcher]`.
pub(super) fn fetcher(ctx: &Ctx<'_>, f: &FetcherSpec) -> Result<FetcherDef, ScenarioError> {
    let d = FetcherDef::default();
    let rate = |v: &Option<Spanned<i64>>, field: &str, default: u64| {
        v.as_ref()
            .map(|s| ctx.positive(s, &format!("fetcher.{field}")))
            .transpose()
            .map(|r| r.unwrap_or(default))
    };
    Ok(FetcherDef {
        cache_size: f
            .cache_size
            .as_ref()
            .map(|v| size(ctx, v, "fetcher.cache_size"))
            .transpose()?
            .unwrap_or(d.cache_size),
        download_bytes_per_sec: rate(
            &f.download_bytes_per_sec,
            "download_bytes_per_sec",
            d.download_bytes_per_sec,
        )?,
        copy_bytes_per_sec: rate(
            &f.copy_bytes_per_sec,
            "copy_bytes_per_sec",
            d.copy_bytes_per_sec,
        )?,
        extract_bytes_per_sec: rate(
            &f.extract_bytes_per_sec,
            "extract_bytes_per_sec",
            d.extract_bytes_per_sec,
        )?,
        warm: f.warm.unwrap_or(false),
    })
}

/// Validates a framework's `uris` list; `user` is the framework's name.
pub(super) fn uris(
    ctx: &Ctx<'_>,
    list: Option<&Vec<UriSpec>>,
    framework_field: &str,
    user: &str,
) -> Result<Vec<UriDef>, ScenarioError> {
    let mut out = Vec::new();
    for (i, u) in list.into_iter().flatten().enumerate() {
        let field = format!("{framework_field}.uris[{i}]");
        if u.uri.get_ref().trim().is_empty() {
            return Err(ctx.err(u.uri.span(), &format!("{field}.uri"), "must not be empty"));
        }
        let size = size(ctx, &u.size, &format!("{field}.size"))?;
        if size == 0 {
            // Mesos needs a Content-Length above 0 to cache; a zero-size fetch is no fetch.
            return Err(ctx.err(u.size.span(), &format!("{field}.size"), "must be above 0"));
        }
        out.push(UriDef {
            key: CacheKey {
                user: Some(u.user.clone().unwrap_or_else(|| user.to_string())),
                uri: u.uri.get_ref().clone(),
            },
            size,
            cache: u.cache.unwrap_or(false),
            extract: u.extract.unwrap_or(false),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse_in_binary_units() {
        let s = |t: &str| parse_bytes(&toml::Value::String(t.to_string()));
        assert_eq!(s("2GB"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(s("600MB"), Ok(600 * 1024 * 1024));
        assert_eq!(s("1.5KB"), Ok(1536));
        assert_eq!(s("10"), Ok(10));
        assert_eq!(parse_bytes(&toml::Value::Integer(42)), Ok(42));
        assert!(s("2XB").is_err());
        assert!(s("GB").is_err());
        assert!(s("1.2.3MB").is_err());
        assert!(parse_bytes(&toml::Value::Integer(-1)).is_err());
    }
}
