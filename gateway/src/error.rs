//! The gateway's one error type: why it could not start. Each variant names the thing at fault
//! (the address, the config file) and what to do about it.

use std::io;
use std::net::SocketAddr;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {cause} ({})", bind_hint(.cause))]
    Bind { addr: SocketAddr, cause: io::Error },
    /// The configuration is unusable; `origin` names the file (or the flag) it came from.
    #[error("gateway config {origin}: {message}")]
    Config { origin: String, message: String },
    /// Reading a file or starting the runtime failed.
    #[error("{what}: {cause}")]
    Io { what: String, cause: io::Error },
}

/// What to do about a failed bind of `--listen` (or `[admin] listen`).
fn bind_hint(cause: &io::Error) -> &'static str {
    match cause.kind() {
        io::ErrorKind::AddrNotAvailable => {
            "that address is not one of this machine's: choose another --listen address"
        }
        _ => "choose another --listen port, or port 0 for any free port",
    }
}

impl GatewayError {
    /// A configuration error from `origin`.
    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> GatewayError {
        GatewayError::Config {
            origin: origin.into(),
            message: message.into(),
        }
    }
}
