//! The master–agent wire protocol of `mesosim live master` / `mesosim live agent`: length-prefixed JSON frames over a mutually authenticated TLS stream.
//!
//! # Framing
//!
//! Every message is one frame: a `u32` big-endian length `n` (1 ≤ n ≤ [`MAX_FRAME`])
//! followed by `n` bytes of UTF-8 JSON, an object whose `"type"` field names the
//! message. A length of 0 or above [`MAX_FRAME`] is refused as soon as the four length
//! bytes arrive, before any body is buffered.
//!
//! # Conversation
//!
//! ```text
//! agent                                  master
//!   ── TLS handshake (both present certificates signed by the run's CA) ──
//!   Register{version, agent, resources, cgroup_version}  →
//!                                        ←  Registered{agent_id} | Refused{reason}
//!                                        ←  LaunchTask{task_id, resources, command, uris}
//!   StatusUpdate{task_id, state: TASK_RUNNING, ...}      →
//!   StatusUpdate{task_id, state: TASK_FINISHED, exit_code: 0, ...} →
//!                                        ←  KillTask{task_id}
//!   StatusUpdate{task_id, state: TASK_KILLED, ...}        →
//!   Heartbeat  ↔  Heartbeat      (each side every heartbeat interval)
//!                                        ←  Shutdown{reason}
//! ```
//!
//! `Register` must be the first frame and carries [`PROTOCOL_VERSION`]; a master
//! answers any other version with `Refused` and closes, as it does an `agent` name that
//! is not one of the DNS names of the certificate the agent presented. Either side sends `Heartbeat`
//! every [`HEARTBEAT_INTERVAL`] and treats a peer that sent nothing for
//! [`PEER_TIMEOUT`] as lost: the master marks the agent's running tasks `TASK_LOST`
//! and removes its resources from the allocator; the agent kills its tasks, removes
//! its cgroups and exits.
//!
//! # Untrusted input
//!
//! Decoding never panics and never waits without bound (sockets carry read
//! timeouts). An oversized or zero length, a stream that ends inside a frame, a body
//! that is not JSON, an unknown `"type"`, a wrong version and a task id the receiver
//! does not know each produce a [`WireError`] naming the peer's address and what was
//! wrong, and the connection is dropped. So does a frame still incomplete
//! [`FRAME_TIMEOUT`] after its first byte arrived.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The protocol version this build speaks (in `Register`).
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame body accepted, bytes.
pub const MAX_FRAME: u32 = 1 << 20;

/// How often each side sends a heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);

/// A peer silent this long is lost.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one frame may take to arrive once its first byte has (a whole
/// [`MAX_FRAME`] in this time needs 100 KiB/s): a peer trickling a frame is dropped
/// rather than kept alive by its trickle.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// How a task ended (or that it runs), with the Mesos state names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Started.
    #[serde(rename = "TASK_RUNNING")]
    Running,
    /// Exited with status 0.
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    /// Exited otherwise, or could not start.
    #[serde(rename = "TASK_FAILED")]
    Failed,
    /// Killed on the master's request.
    #[serde(rename = "TASK_KILLED")]
    Killed,
    /// Its agent was lost.
    #[serde(rename = "TASK_LOST")]
    Lost,
}

impl TaskState {
    /// The Mesos name (`TASK_FINISHED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "TASK_RUNNING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Lost => "TASK_LOST",
        }
    }

    /// True for every state but `TASK_RUNNING`.
    pub fn is_terminal(self) -> bool {
        self != TaskState::Running
    }
}

/// One message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Message {
    /// Agent → master, first frame: who the agent is and what it offers.
    Register {
        /// The protocol version the agent speaks.
        version: u32,
        /// The agent's name (its hostname unless given).
        agent: String,
        /// Its resources, Mesos text notation (`cpus:2;mem:1024`).
        resources: String,
        /// `v1` or `v2`: its cgroup hierarchy.
        cgroup_version: String,
        /// Its cgroup directories (tasks run in `<dir>/<task id>`).
        cgroup: Vec<String>,
    },
    /// Master → agent: registration accepted.
    Registered {
        /// The id the master gave the agent.
        agent_id: u32,
    },
    /// Master → agent: registration refused; the master closes the connection.
    Refused {
        /// Why.
        reason: String,
    },
    /// Master → agent: start a task.
    LaunchTask {
        /// The task id (`task-<i>`), unique in the run.
        task_id: String,
        /// Its resources, Mesos text notation.
        resources: String,
        /// The `/bin/sh -c` command line.
        command: String,
        /// URIs to fetch into its sandbox before it starts (`VALUE[,cache]...`, as
        /// `--task-uri`); absent when none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uris: Vec<String>,
    },
    /// Master → agent: kill a running task (answered by `TASK_KILLED`).
    KillTask {
        /// The task id.
        task_id: String,
    },
    /// Agent → master: a task's state changed.
    StatusUpdate {
        /// The task id.
        task_id: String,
        /// The new state.
        state: TaskState,
        /// The exit status, when it exited.
        exit_code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
        /// A human-readable detail (empty when there is none).
        message: String,
    },
    /// Either way: the sender is alive.
    Heartbeat,
    /// Master → agent: kill everything, clean up and exit.
    Shutdown {
        /// Why.
        reason: String,
    },
}

/// The `"type"` names of [`Message`], to tell an unknown message from a malformed one.
const MESSAGE_TYPES: [&str; 8] = [
    "Register",
    "Registered",
    "Refused",
    "LaunchTask",
    "KillTask",
    "StatusUpdate",
    "Heartbeat",
    "Shutdown",
];

impl Message {
    /// The message's `"type"` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Register { .. } => "Register",
            Message::Registered { .. } => "Registered",
            Message::Refused { .. } => "Refused",
            Message::LaunchTask { .. } => "LaunchTask",
            Message::KillTask { .. } => "KillTask",
            Message::StatusUpdate { .. } => "StatusUpdate",
            Message::Heartbeat => "Heartbeat",
            Message::Shutdown { .. } => "Shutdown",
        }
    }
}

/// What went wrong on a connection; each names the peer's address.
#[derive(Debug, Error)]
pub enum WireError {
    /// The length prefix is 0 or above [`MAX_FRAME`].
    #[error("peer {peer}: frame length {len} is outside 1..={max} bytes")]
    BadLength {
        /// The peer.
        peer: String,
        /// The length it sent.
        len: u32,
        /// [`MAX_FRAME`].
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("peer {peer}: connection closed inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// The peer.
        peer: String,
        /// Bytes of the frame (prefix included) that arrived.
        got: usize,
        /// Bytes the frame needed (prefix included; 4 while the prefix was incomplete).
        expected: usize,
    },
    /// The body is not JSON, or not a valid message of its type.
    #[error("peer {peer}: bad message: {detail}")]
    BadJson {
        /// The peer.
        peer: String,
        /// The parser's error.
        detail: String,
    },
    /// The body's `"type"` is not a message of this protocol.
    #[error("peer {peer}: unknown message type `{kind}`")]
    UnknownMessage {
        /// The peer.
        peer: String,
        /// The type it sent.
        kind: String,
    },
    /// `Register` carried another protocol version.
    #[error("peer {peer}: protocol version {got} is not supported (this build speaks {want})")]
    WrongVersion {
        /// The peer.
        peer: String,
        /// The version it sent.
        got: u32,
        /// [`PROTOCOL_VERSION`].
        want: u32,
    },
    /// A message named a task the receiver does not know.
    #[error("peer {peer}: unknown task id `{task}` in {kind}")]
    UnknownTask {
        /// The peer.
        peer: String,
        /// The task id.
        task: String,
        /// The message type.
        kind: String,
    },
    /// A message arrived where the conversation does not allow it.
    #[error("peer {peer}: unexpected {kind} ({detail})")]
    Unexpected {
        /// The peer.
        peer: String,
        /// The message type.
        kind: String,
        /// What was expected instead.
        detail: String,
    },
    /// The peer closed the connection between frames.
    #[error("peer {peer}: connection closed")]
    Closed {
        /// The peer.
        peer: String,
    },
    /// A frame began but did not end within [`FRAME_TIMEOUT`].
    #[error(
        "peer {peer}: a frame took more than {limit_secs:.1} s to arrive \
         ({got} of {expected} bytes came)"
    )]
    SlowFrame {
        /// The peer.
        peer: String,
        /// Bytes of the frame (prefix included) that arrived.
        got: usize,
        /// Bytes the frame needs (prefix included; 4 while the prefix is incomplete).
        expected: usize,
        /// The limit.
        limit_secs: f64,
    },
    /// Nothing arrived for too long.
    #[error("peer {peer}: silent for {secs:.1} s (limit {limit_secs:.1} s)")]
    Silent {
        /// The peer.
        peer: String,
        /// How long it was silent.
        secs: f64,
        /// The limit.
        limit_secs: f64,
    },
    /// Reading or writing failed (TLS errors land here).
    #[error("peer {peer}: {source}")]
    Io {
        /// The peer.
        peer: String,
        /// The error.
        source: io::Error,
    },
}

/// Encodes `message` as one frame (prefix and body).
pub fn encode(message: &Message) -> Vec<u8> {
    let body = serde_json::to_vec(message).expect("messages serialize");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Writes `message` as one frame and flushes.
pub fn write_message(w: &mut impl Write, peer: &str, message: &Message) -> Result<(), WireError> {
    let io = |source| WireError::Io {
        peer: peer.to_string(),
        source,
    };
    w.write_all(&encode(message)).map_err(io)?;
    w.flush().map_err(io)
}

/// Decodes one frame body.
pub fn decode_body(peer: &str, body: &[u8]) -> Result<Message, WireError> {
    let bad = |detail: String| WireError::BadJson {
        peer: peer.to_string(),
        detail,
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let kind = match value.get("type") {
        Some(serde_json::Value::String(k)) => k.clone(),
        Some(_) => return Err(bad("`type` is not a string".into())),
        None => return Err(bad("no `type` field".into())),
    };
    if !MESSAGE_TYPES.contains(&kind.as_str()) {
        return Err(WireError::UnknownMessage {
            peer: peer.to_string(),
            kind,
        });
    }
    serde_json::from_value(value).map_err(|e| bad(format!("{kind}: {e}")))
}

/// Reassembles frames from a stream whose reads may time out: bytes read so far are
/// kept across timeouts, so a timeout never loses part of a frame.
#[derive(Debug)]
pub struct FrameReader {
    peer: String,
    buf: Vec<u8>,
    /// When the first buffered byte arrived (`None` while nothing is buffered).
    since: Option<Instant>,
    frame_timeout: Duration,
}

impl FrameReader {
    /// A reader for the connection to `peer` (its address, for errors).
    pub fn new(peer: impl Into<String>) -> FrameReader {
        FrameReader {
            peer: peer.into(),
            buf: Vec::new(),
            since: None,
            frame_timeout: FRAME_TIMEOUT,
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Restarts the deadline of the frame under way: for a caller that chose not to
    /// read for a while (holding the peer back), which is no slowness of the peer's.
    pub fn excuse_wait(&mut self) {
        if self.since.is_some() {
            self.since = Some(Instant::now());
        }
    }

    /// The next message: from what is buffered, else after at most one read. `Ok(None)`
    /// when no whole frame is there yet (the read timed out, would block, or brought
    /// only part of a frame); call again later. `progress` is set when any byte arrived.
    /// A frame whose first byte came more than [`FRAME_TIMEOUT`] ago and that is still
    /// incomplete is an error.
    pub fn poll(
        &mut self,
        r: &mut impl Read,
        progress: &mut bool,
    ) -> Result<Option<Message>, WireError> {
        if let Some(m) = self.take()? {
            return Ok(Some(m));
        }
        if let Some(since) = self.since {
            if since.elapsed() > self.frame_timeout {
                return Err(WireError::SlowFrame {
                    peer: self.peer.clone(),
                    got: self.buf.len(),
                    expected: self.expected(),
                    limit_secs: self.frame_timeout.as_secs_f64(),
                });
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match r.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof && self.buf.is_empty() => {
                    return Err(self.closed())
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(self.truncated()),
                Err(source) => {
                    return Err(WireError::Io {
                        peer: self.peer.clone(),
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Err(if self.buf.is_empty() {
                self.closed()
            } else {
                self.truncated()
            });
        }
        *progress = true;
        if self.buf.is_empty() {
            self.since = Some(Instant::now());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        self.take()
    }

    /// A whole buffered frame, if there is one; checks the length as soon as it is known.
    fn take(&mut self) -> Result<Option<Message>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len == 0 || len > MAX_FRAME {
            return Err(WireError::BadLength {
                peer: self.peer.clone(),
                len,
                max: MAX_FRAME,
            });
        }
        let end = 4 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let message = decode_body(&self.peer, &self.buf[4..end]);
        self.buf.drain(..end);
        // What is left began the next frame with the last read.
        self.since = (!self.buf.is_empty()).then(Instant::now);
        message.map(Some)
    }

    fn closed(&self) -> WireError {
        WireError::Closed {
            peer: self.peer.clone(),
        }
    }

    /// The bytes the buffered frame needs, prefix included (4 until the prefix is in).
    fn expected(&self) -> usize {
        if self.buf.len() < 4 {
            4
        } else {
            4 + u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
        }
    }

    fn truncated(&self) -> WireError {
        WireError::Truncated {
            peer: self.peer.clone(),
            got: self.buf.len(),
            expected: self.expected(),
        }
    }
}

/// Checks the version of a first frame, which must be `Register`.
pub fn check_register(peer: &str, first: &Message) -> Result<(), WireError> {
    match first {
        Message::Register { version, .. } if *version == PROTOCOL_VERSION => Ok(()),
        Message::Register { version, .. } => Err(WireError::WrongVersion {
            peer: peer.to_string(),
            got: *version,
            want: PROTOCOL_VERSION,
        }),
        other => Err(WireError::Unexpected {
            peer: peer.to_string(),
            kind: other.kind().into(),
            detail: "the first message must be Register".into(),
        }),
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const PEER: &str = "10.0.0.1:5050";

    /// Reads every message from `bytes`, ending with the error that stopped it.
    fn read_all(bytes: &[u8]) -> (Vec<Message>, WireError) {
        let mut r = FrameReader::new(PEER);
        let mut src = bytes;
        let mut got = Vec::new();
        let mut progress = false;
        loop {
            match r.poll(&mut src, &mut progress) {
                Ok(Some(m)) => got.push(m),
                // Part of a frame arrived: read on.
                Ok(None) => {}
                Err(e) => return (got, e),
            }
        }
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn register(version: u32) -> Message {
        Message::Register {
            version,
            agent: "host-a".into(),
            resources: "cpus:2;mem:1024".into(),
            cgroup_version: "v2".into(),
            cgroup: vec!["/sys/fs/cgroup/x".into()],
        }
    }

    #[test]
    fn messages_round_trip_and_end_with_a_clean_close() {
        let msgs = vec![
            register(PROTOCOL_VERSION),
            Message::Registered { agent_id: 3 },
            Message::LaunchTask {
                task_id: "task-0".into(),
                resources: "cpus:0.5;mem:64".into(),
                command: "sleep 1".into(),
                uris: Vec::new(),
            },
            Message::LaunchTask {
                task_id: "task-1".into(),
                resources: "cpus:0.5;mem:64".into(),
                command: "./tool".into(),
                uris: vec!["http://h/tool,cache,executable".into()],
            },
            Message::StatusUpdate {
                task_id: "task-0".into(),
                state: TaskState::Finished,
                exit_code: Some(0),
                signal: None,
                message: String::new(),
            },
            Message::Heartbeat,
            Message::Shutdown {
                reason: "done".into(),
            },
        ];
        let bytes: Vec<u8> = msgs.iter().flat_map(encode).collect();
        let (got, end) = read_all(&bytes);
        assert_eq!(got, msgs);
        assert_eq!(end.to_string(), "peer 10.0.0.1:5050: connection closed");
    }

    #[test]
    fn the_wire_format_is_a_big_endian_length_and_tagged_json() {
        let f = encode(&Message::KillTask {
            task_id: "task-1".into(),
        });
        let body = br#"{"type":"KillTask","task_id":"task-1"}"#;
        assert_eq!(f[..4], (body.len() as u32).to_be_bytes());
        assert_eq!(&f[4..], body);
    }

    #[test]
    fn an_oversized_or_empty_length_is_refused_before_the_body() {
        let (_, e) = read_all(&(MAX_FRAME + 1).to_be_bytes());
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: frame length 1048577 is outside 1..=1048576 bytes"
        );
        let (_, e) = read_all(&[0, 0, 0, 0]);
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: frame length 0 is outside 1..=1048576 bytes"
        );
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated() {
        let f = encode(&Message::Heartbeat);
        let (_, e) = read_all(&f[..f.len() - 3]);
        assert_eq!(
            e.to_string(),
            format!(
                "peer 10.0.0.1:5050: connection closed inside a frame ({} of {} bytes)",
                f.len() - 3,
                f.len()
            )
        );
        let (_, e) = read_all(&[0, 0]);
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: connection closed inside a frame (2 of 4 bytes)"
        );
    }

    #[test]
    fn a_body_that_is_not_a_message_is_bad_json() {
        let (_, e) = read_all(&frame(b"{not json"));
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: bad message: key must be a string at line 1 column 2"
        );
        let (_, e) = read_all(&frame(br#"{"task_id":"x"}"#));
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: bad message: no `type` field"
        );
        let (_, e) = read_all(&frame(br#"{"type":"KillTask"}"#));
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: bad message: KillTask: missing field `task_id`"
        );
        let (_, e) = read_all(&frame(br#"{"type":"StatusUpdate","task_id":"t","state":"TASK_GONE","exit_code":null,"signal":null,"message":""}"#));
        assert!(
            e.to_string().starts_with(
                "peer 10.0.0.1:5050: bad message: StatusUpdate: unknown variant `TASK_GONE`"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_type_is_named() {
        let (_, e) = read_all(&frame(br#"{"type":"Reboot"}"#));
        assert_eq!(
            e.to_string(),
            "peer 10.0.0.1:5050: unknown message type `Reboot`"
        );
    }

    #[test]
    fn the_first_message_must_be_register_with_this_version() {
        assert!(check_register(PEER, &register(PROTOCOL_VERSION)).is_ok());
        assert_eq!(
            check_register(PEER, &register(PROTOCOL_VERSION + 1))
                .unwrap_err()
                .to_string(),
            "peer 10.0.0.1:5050: protocol version 2 is not supported (this build speaks 1)"
        );
        assert_eq!(
            check_register(PEER, &Message::Heartbeat)
                .unwrap_err()
                .to_string(),
            "peer 10.0.0.1:5050: unexpected Heartbeat (the first message must be Register)"
        );
    }

    /// A reader that times out after every byte: partial frames survive timeouts.
    struct Trickle<'a>(&'a [u8], bool);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = !self.1;
            if self.1 {
                return Err(io::Error::new(ErrorKind::WouldBlock, "later"));
            }
            match self.0.split_first() {
                Some((b, rest)) => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                None => Ok(0),
            }
        }
    }

    #[test]
    fn timeouts_inside_a_frame_lose_nothing() {
        let bytes: Vec<u8> = [Message::Heartbeat, register(1)]
            .iter()
            .flat_map(encode)
            .collect();
        let mut src = Trickle(&bytes, false);
        let mut r = FrameReader::new(PEER);
        let mut got = Vec::new();
        let mut polls = 0;
        let end = loop {
            polls += 1;
            let mut progress = false;
            match r.poll(&mut src, &mut progress) {
                Ok(Some(m)) => got.push(m),
                Ok(None) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(got, vec![Message::Heartbeat, register(1)]);
        assert!(matches!(end, WireError::Closed { .. }), "{end}");
        assert!(polls > bytes.len(), "every byte came after a timeout");
    }

    /// A reader that brings one byte per read, each after `gap`.
    struct Slow<'a>(&'a [u8], Duration);

    impl Read for Slow<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.1);
            match self.0.split_first() {
                Some((b, rest)) => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                None => Err(io::Error::new(ErrorKind::WouldBlock, "later")),
            }
        }
    }

    #[test]
    fn a_frame_trickled_past_the_frame_timeout_is_an_error() {
        let bytes = encode(&register(1));
        let mut r = FrameReader::new(PEER);
        r.frame_timeout = Duration::from_millis(200);
        // A byte every 20 ms: the whole frame would take seconds.
        let mut src = Slow(&bytes, Duration::from_millis(20));
        let start = Instant::now();
        let end = loop {
            let mut progress = false;
            match r.poll(&mut src, &mut progress) {
                Ok(Some(m)) => panic!("the whole frame arrived: {m:?}"),
                Ok(None) => assert!(progress, "every read brings a byte"),
                Err(e) => break e,
            }
        };
        assert!(start.elapsed() >= Duration::from_millis(200));
        let WireError::SlowFrame { got, expected, .. } = end else {
            panic!("{end}");
        };
        assert!(got >= 4 && got < bytes.len(), "{got}");
        assert_eq!(expected, bytes.len());
        assert_eq!(
            end.to_string(),
            format!(
                "peer 10.0.0.1:5050: a frame took more than 0.2 s to arrive \
                 ({got} of {expected} bytes came)"
            )
        );
        // A wait its reader excuses (it held the peer back) does not count.
        let bytes = encode(&Message::Heartbeat);
        let mut r = FrameReader::new(PEER);
        r.frame_timeout = Duration::from_millis(200);
        let (mut head, mut tail) = (&bytes[..3], &bytes[3..]);
        let mut progress = false;
        assert!(r.poll(&mut head, &mut progress).unwrap().is_none());
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(60));
            r.excuse_wait();
        }
        let m = r.poll(&mut tail, &mut progress).unwrap();
        assert_eq!(m, Some(Message::Heartbeat));
        // Each frame has its own deadline: a stream longer than one (40 frames of 22
        // bytes, a byte every 2 ms) is no error while each frame arrives in time.
        let bytes: Vec<u8> = (0..40).flat_map(|_| encode(&Message::Heartbeat)).collect();
        let mut r = FrameReader::new(PEER);
        r.frame_timeout = Duration::from_secs(1);
        let mut src = Slow(&bytes, Duration::from_millis(2));
        let start = Instant::now();
        let mut got = 0;
        while got < 40 {
            let mut progress = false;
            if r.poll(&mut src, &mut progress).unwrap().is_some() {
                got += 1;
            }
        }
        assert!(start.elapsed() > r.frame_timeout);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let valid = encode(&register(1));
        for case in 0..5000 {
            let bytes: Vec<u8> = match case % 3 {
                // Pure noise.
                0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
                // A small length prefix and noise.
                1 => {
                    let n = rng.random_range(0..48u32);
                    let mut b = n.to_be_bytes().to_vec();
                    b.extend((0..rng.random_range(0..64)).map(|_| rng.random::<u8>()));
                    b
                }
                // A valid frame with a few bytes flipped.
                _ => {
                    let mut b = valid.clone();
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..b.len());
                        b[i] = rng.random();
                    }
                    b
                }
            };
            // Each outcome is a message or an error naming the peer, never a panic.
            let (_, e) = read_all(&bytes);
            assert!(e.to_string().starts_with("peer 10.0.0.1:5050: "), "{e}");
        }
    }
}
