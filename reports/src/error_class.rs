//! Why a request failed, named once: the keys of a level's `errors` in `run.json`. Each class
//! serializes to the string earlier versions wrote (`http_429`, `stream_broken`, …); a class
//! this build does not know (from another version) reads as [`ErrorClass::Other`] and is kept.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The class of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The connection could not be opened (or its handshake failed).
    Connect,
    /// The target refused the connection.
    ConnectRefused,
    /// The rig ran out of ephemeral ports (the rig's limit, not the target's).
    ConnectEphemeralPortsExhausted,
    /// The rig ran out of file descriptors (the rig's limit, not the target's).
    ConnectFileDescriptorsExhausted,
    /// The connection closed before the response head.
    ResetBeforeHead,
    /// No answer within `[load] timeout_s`.
    Timeout,
    /// Never sent: no connection was free before its deadline, or the backlog was full.
    NotSent,
    /// A response with a non-2xx status.
    Http(u16),
    /// The stream's connection broke after the head.
    StreamBroken,
    /// An SSE frame that does not parse.
    MalformedSse,
    /// The stream ended with an error event.
    StreamError,
    /// The stream ended early: fewer tokens than its usage or its end marker promised.
    Truncated,
    /// A tool call's arguments did not reassemble into the JSON the mock sent.
    ToolCallCorrupt,
    /// A whole (non-streamed) body that does not parse as the protocol's answer.
    MalformedBody,
    /// The request could not be built (an invalid header value).
    RequestBuild,
    /// A class from another gatebench version, kept as written.
    Other(String),
}

impl ErrorClass {
    /// The stream classes: an answer that did not arrive whole (streams sustained excludes a
    /// level where they pass 0.1%), with `timeout`.
    pub const STREAM_BREAKS: [ErrorClass; 6] = [
        ErrorClass::StreamBroken,
        ErrorClass::Truncated,
        ErrorClass::MalformedSse,
        ErrorClass::StreamError,
        ErrorClass::ToolCallCorrupt,
        ErrorClass::Timeout,
    ];

    /// Whether the rig itself ran out of something (ports, descriptors): the rig's failure.
    pub fn is_rig_exhaustion(&self) -> bool {
        matches!(
            self,
            ErrorClass::ConnectEphemeralPortsExhausted
                | ErrorClass::ConnectFileDescriptorsExhausted
        )
    }

    /// The name in `run.json`, for the classes with a fixed one.
    fn fixed_name(&self) -> Option<&'static str> {
        Some(match self {
            ErrorClass::Connect => "connect",
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectEphemeralPortsExhausted => "connect_ephemeral_ports_exhausted",
            ErrorClass::ConnectFileDescriptorsExhausted => "connect_file_descriptors_exhausted",
            ErrorClass::ResetBeforeHead => "reset_before_head",
            ErrorClass::Timeout => "timeout",
            ErrorClass::NotSent => "not_sent",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::MalformedSse => "malformed_sse",
            ErrorClass::StreamError => "stream_error",
            ErrorClass::Truncated => "truncated",
            ErrorClass::ToolCallCorrupt => "tool_call_corrupt",
            ErrorClass::MalformedBody => "malformed_body",
            ErrorClass::RequestBuild => "request_build",
            ErrorClass::Http(_) | ErrorClass::Other(_) => return None,
        })
    }
}

/// Every class with a fixed name, for parsing.
const FIXED: [ErrorClass; 14] = [
    ErrorClass::Connect,
    ErrorClass::ConnectRefused,
    ErrorClass::ConnectEphemeralPortsExhausted,
    ErrorClass::ConnectFileDescriptorsExhausted,
    ErrorClass::ResetBeforeHead,
    ErrorClass::Timeout,
    ErrorClass::NotSent,
    ErrorClass::StreamBroken,
    ErrorClass::MalformedSse,
    ErrorClass::StreamError,
    ErrorClass::Truncated,
    ErrorClass::ToolCallCorrupt,
    ErrorClass::MalformedBody,
    ErrorClass::RequestBuild,
];

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_name(|name| f.write_str(name))
    }
}

impl FromStr for ErrorClass {
    type Err = std::convert::Infallible;
    /// Any string parses: a name this build does not know is [`ErrorClass::Other`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(status) = name.strip_prefix("http_").and_then(|s| s.parse().ok()) {
            return Ok(ErrorClass::Http(status));
        }
        Ok(FIXED
            .iter()
            .find(|c| c.fixed_name() == Some(name))
            .cloned()
            .unwrap_or_else(|| ErrorClass::Other(name.to_string())))
    }
}

impl From<&str> for ErrorClass {
    fn from(name: &str) -> Self {
        name.parse().expect("parsing a class never fails")
    }
}

impl ErrorClass {
    /// Calls `f` with the class's name, without allocating (counting an error is on the load
    /// generator's path).
    fn with_name<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            ErrorClass::Http(status) => {
                let mut buf = [0u8; 16];
                let mut out: &mut [u8] = &mut buf;
                std::io::Write::write_fmt(&mut out, format_args!("http_{status}"))
                    .expect("http_ and five digits fit in 16 bytes");
                let len = 16 - out.len();
                f(std::str::from_utf8(&buf[..len]).expect("ASCII"))
            }
            ErrorClass::Other(name) => f(name),
            fixed => f(fixed.fixed_name().expect("every other class has a name")),
        }
    }
}

/// Ordered by name, so `errors` keeps the order earlier versions wrote.
impl Ord for ErrorClass {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.with_name(|a| other.with_name(|b| a.cmp(b)))
    }
}

impl PartialOrd for ErrorClass {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for ErrorClass {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ErrorClass {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ErrorClass::from(name.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_reads_back_from_its_name() {
        let mut all = FIXED.to_vec();
        all.extend([
            ErrorClass::Http(429),
            ErrorClass::Other("gone_fishing".into()),
        ]);
        for class in all {
            let name = class.to_string();
            assert_eq!(ErrorClass::from(name.as_str()), class, "{name}");
            let json = serde_json::to_string(&class).expect("serializes");
            assert_eq!(json, format!("\"{name}\""));
        }
        assert_eq!(
            ErrorClass::from("http_x"),
            ErrorClass::Other("http_x".into())
        );
    }

    #[test]
    fn a_map_of_classes_keeps_the_written_strings_and_order() {
        let text = r#"{"http_500":2,"not_sent":1,"stream_broken":3}"#;
        let map: std::collections::BTreeMap<ErrorClass, u64> =
            serde_json::from_str(text).expect("reads");
        assert_eq!(map[&ErrorClass::Http(500)], 2);
        assert_eq!(serde_json::to_string(&map).expect("writes"), text);
    }
}
