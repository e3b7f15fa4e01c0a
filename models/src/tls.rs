//! What TLS costs on a control connection (mesos-semantics.md §7): handshake CPU on
//! both ends and extra round trips, cheaper session resumption, per-byte AES-GCM
//! encryption and decryption, and the bytes each record adds. Integer arithmetic only
//! (nanoseconds, picoseconds per byte, bytes).
//!
//! Mesos publishes no SSL overhead figures, so the defaults come from published
//! measurements of named stacks:
//!
//! * **AES-GCM bulk cost: 0.64 cycles/byte** for OpenSSL's AES-GCM on recent Intel
//!   cores (Drucker, Gueron, Krasnov, "Making AES great again: the forthcoming
//!   vectorized AES instruction", 2018, abstract:
//!   <https://docslib.org/doc/10300858/the-forthcoming-vectorized-aes-instruction>).
//!   At an assumed 3 GHz core that is 0.2133 ns/byte, rounded to
//!   [`DEFAULT_CRYPTO_PS_PER_BYTE`] = 213 ps/byte (about 4.7 GB/s per core).
//! * **RSA-2048 handshake cost**: `openssl speed rsa2048` with LibreSSL 2.8.3 did 5,771
//!   private-key operations in 9.96 s (579/s, 1,726 µs each: the server's signature)
//!   and 128,433 public-key operations in 9.96 s (12,895/s, 78 µs each: the client's
//!   verification) (<https://abhilash.dev/how-slow-is-public-key-cryptography/>).
//!   [`DEFAULT_SERVER_HANDSHAKE_NS`] and [`DEFAULT_CLIENT_HANDSHAKE_NS`] are these two
//!   figures; the ECDHE share of the handshake is not included (no figure found).
//! * **Session resumption**: OpenSSL's `test/times` (SSLeay `ssltest`) made 1,000
//!   SSLv3 RC4-MD5 connections with 1024-bit RSA in 51.93 s with full handshakes and in
//!   1.62 s with one full handshake and session-id reuse for the rest: a resumed
//!   handshake costs about 1/32 of a full one ([`RESUMPTION_DIVISOR`]).
//! * **Round trips**: a full TLS 1.2 handshake adds 2 RTT before application data, an
//!   abbreviated (resumed) one 1 RTT; TLS 1.3 adds 1 RTT, and 0 on resumption with early
//!   data is not used by libprocess, so resumption stays at 1 RTT (RFC 5246 §7.3,
//!   RFC 8446 §2). Mesos enables only TLS 1.2 (MESOS-9730).
//! * **Record overhead**: TLS 1.2 AES-GCM: 5-byte header + 8-byte explicit nonce +
//!   16-byte tag = 29 bytes per record; TLS 1.3: 5-byte header + 16-byte tag + 1 inner
//!   content-type byte = 22 bytes. Records carry at most 16,384 bytes of plaintext
//!   (RFC 5288 §3, RFC 8446 §5.2).

/// Picoseconds of CPU per byte encrypted or decrypted with AES-128-GCM
/// (0.64 cycles/byte at 3 GHz; see the module docs).
pub const DEFAULT_CRYPTO_PS_PER_BYTE: u64 = 213;
/// Server CPU of a full handshake: one RSA-2048 private-key operation, ns.
pub const DEFAULT_SERVER_HANDSHAKE_NS: u64 = 1_726_000;
/// Client CPU of a full handshake: one RSA-2048 public-key operation, ns.
pub const DEFAULT_CLIENT_HANDSHAKE_NS: u64 = 78_000;
/// A resumed handshake costs this fraction (1/N) of a full one.
pub const RESUMPTION_DIVISOR: u64 = 32;
/// Largest plaintext of one TLS record, bytes.
pub const MAX_RECORD_PLAINTEXT: u64 = 16_384;

/// The protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (the only version Mesos enables).
    V1_2,
    /// TLS 1.3.
    V1_3,
}

impl TlsVersion {
    /// Parses `"1.2"` or `"1.3"`.
    pub fn parse(text: &str) -> Option<TlsVersion> {
        match text {
            "1.2" => Some(TlsVersion::V1_2),
            "1.3" => Some(TlsVersion::V1_3),
            _ => None,
        }
    }

    /// Bytes each record adds to its plaintext with AES-GCM.
    pub fn record_overhead(self) -> u64 {
        match self {
            TlsVersion::V1_2 => 5 + 8 + 16,
            TlsVersion::V1_3 => 5 + 16 + 1,
        }
    }

    /// Round trips a handshake adds before the first application byte.
    pub fn handshake_rtts(self, resumed: bool) -> u64 {
        match (self, resumed) {
            (TlsVersion::V1_2, false) => 2,
            (TlsVersion::V1_2, true) | (TlsVersion::V1_3, _) => 1,
        }
    }
}

/// The cost model of TLS on one kind of connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCosts {
    /// Protocol version.
    pub version: TlsVersion,
    /// Whether reconnecting peers resume their session.
    pub session_resumption: bool,
    /// Server CPU of a full handshake, ns.
    pub server_handshake_ns: u64,
    /// Client CPU of a full handshake, ns.
    pub client_handshake_ns: u64,
    /// CPU per byte encrypted or decrypted, ps.
    pub crypto_ps_per_byte: u64,
}

impl Default for TlsCosts {
    fn default() -> Self {
        TlsCosts {
            version: TlsVersion::V1_2,
            session_resumption: false,
            server_handshake_ns: DEFAULT_SERVER_HANDSHAKE_NS,
            client_handshake_ns: DEFAULT_CLIENT_HANDSHAKE_NS,
            crypto_ps_per_byte: DEFAULT_CRYPTO_PS_PER_BYTE,
        }
    }
}

/// What one handshake costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Server CPU, ns.
    pub server_ns: u64,
    /// Client CPU, ns.
    pub client_ns: u64,
    /// Extra round trips before application data.
    pub rtts: u64,
}

impl TlsCosts {
    /// A handshake; `resumed` only takes effect when session resumption is on.
    pub fn handshake(&self, resumed: bool) -> Handshake {
        let resumed = resumed && self.session_resumption;
        let div = if resumed { RESUMPTION_DIVISOR } else { 1 };
        Handshake {
            server_ns: self.server_handshake_ns / div,
            client_ns: self.client_handshake_ns / div,
            rtts: self.version.handshake_rtts(resumed),
        }
    }

    /// Records needed for a message of `bytes` (at least one).
    pub fn records(&self, bytes: u64) -> u64 {
        bytes.div_ceil(MAX_RECORD_PLAINTEXT).max(1)
    }

    /// Bytes TLS adds to a message of `bytes`.
    pub fn overhead_bytes(&self, bytes: u64) -> u64 {
        self.records(bytes) * self.version.record_overhead()
    }

    /// CPU to encrypt (or to decrypt) `bytes`, ns, rounded up.
    pub fn crypto_ns(&self, bytes: u64) -> u64 {
        (u128::from(bytes) * u128::from(self.crypto_ps_per_byte)).div_ceil(1000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_overheads_follow_the_rfcs() {
        assert_eq!(TlsVersion::V1_2.record_overhead(), 29);
        assert_eq!(TlsVersion::V1_3.record_overhead(), 22);
        let c = TlsCosts::default();
        // 40,000 bytes: ceil(40000/16384) = 3 records of 29 bytes.
        assert_eq!(c.records(40_000), 3);
        assert_eq!(c.overhead_bytes(40_000), 87);
        // An empty message is still one record.
        assert_eq!(c.overhead_bytes(0), 29);
        assert_eq!(c.overhead_bytes(16_384), 29);
        assert_eq!(c.overhead_bytes(16_385), 58);
        let c13 = TlsCosts {
            version: TlsVersion::V1_3,
            ..TlsCosts::default()
        };
        assert_eq!(c13.overhead_bytes(40_000), 66);
    }

    #[test]
    fn crypto_cost_is_bytes_times_rate() {
        let c = TlsCosts::default();
        // 1,000 bytes * 213 ps = 213,000 ps = 213 ns.
        assert_eq!(c.crypto_ns(1_000), 213);
        // 1 byte: 213 ps rounds up to 1 ns.
        assert_eq!(c.crypto_ns(1), 1);
        assert_eq!(c.crypto_ns(0), 0);
        // 1 GB: 213 ms, i.e. about 4.7 GB/s.
        assert_eq!(c.crypto_ns(1_000_000_000), 213_000_000);
    }

    #[test]
    fn handshakes_full_and_resumed() {
        let c = TlsCosts::default();
        let full = c.handshake(false);
        assert_eq!(full.server_ns, 1_726_000);
        assert_eq!(full.client_ns, 78_000);
        assert_eq!(full.rtts, 2);
        // Without session resumption a reconnect is a full handshake again.
        assert_eq!(c.handshake(true), full);
        let r = TlsCosts {
            session_resumption: true,
            ..TlsCosts::default()
        };
        let resumed = r.handshake(true);
        // 1,726,000 / 32 = 53,937 (integer division); 78,000 / 32 = 2,437.
        assert_eq!(resumed.server_ns, 53_937);
        assert_eq!(resumed.client_ns, 2_437);
        assert_eq!(resumed.rtts, 1);
        let v13 = TlsCosts {
            version: TlsVersion::V1_3,
            ..TlsCosts::default()
        };
        assert_eq!(v13.handshake(false).rtts, 1);
        assert_eq!(TlsVersion::parse("1.3"), Some(TlsVersion::V1_3));
        assert_eq!(TlsVersion::parse("1.1"), None);
    }
}
