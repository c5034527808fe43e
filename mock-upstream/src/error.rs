//! The mock's one error type: why it could not load its configuration or start. Each variant
//! names the file or address at fault and what to do about it.

use std::io;
use std::net::SocketAddr;

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {cause} ({})", bind_hint(.cause))]
    Bind { addr: SocketAddr, cause: io::Error },
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {cause}")]
    Read { path: String, cause: io::Error },
    /// The file is not valid TOML or the `[mock]` table has a bad field.
    #[error("scenario {path}: {message}")]
    Parse { path: String, message: String },
    /// Values parse but make no sense together.
    #[error("scenario {path}: {message}")]
    Invalid { path: String, message: String },
    /// The runtime could not start.
    #[error("{what}: {cause}")]
    Io { what: String, cause: io::Error },
}

/// What to do about a failed bind: a taken port wants another `--port`, an address this
/// machine does not have wants another `--host`.
pub fn bind_hint(cause: &io::Error) -> &'static str {
    match cause.kind() {
        io::ErrorKind::AddrInUse => "the port is in use: choose another --port, or --port 0 for any free port",
        io::ErrorKind::AddrNotAvailable => {
            "that address is not one of this machine's: choose another --host (127.0.0.1 by default)"
        }
        io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: choose another --port, or --port 0"
        }
        _ => "choose another --host or --port",
    }
}

impl MockError {
    /// Whether the fault is in what the user gave (a file, a flag, a port), not in the machine.
    pub fn is_input(&self) -> bool {
        !matches!(self, MockError::Io { .. })
    }
}
