//! The harness's one error type. Every variant carries its message with the context a user needs
//! (which file, target, port, and what to do), and [`Error::exit_code`] maps it to the exit codes
//! README documents, so no command picks a code by hand.

/// Why a gatebench command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a scenario, flag, target name, gateway definition, port in use. Exit 2.
    #[error("{0}")]
    Input(String),
    /// A check failed: the gate found a regression, a gateway does not serve. Exit 1.
    #[error("{0}")]
    Check(String),
    /// The gate could not judge a gateway level (its trials were rig-, pool- or mock-limited)
    /// and found no regression elsewhere: neither pass nor fail. Exit [`EXIT_INCONCLUSIVE`].
    #[error("{0}")]
    Inconclusive(String),
    /// Something failed while running: a process would not start, results could not be
    /// written. Exit 3.
    #[error("{0}")]
    Failed(String),
    /// Stopped by Ctrl-C or SIGTERM; finished work was kept. Exit 130.
    #[error("{0}")]
    Interrupted(String),
}

impl Error {
    /// The process exit code for this error (README: "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Check(_) => 1,
            Error::Input(_) => 2,
            Error::Failed(_) => 3,
            Error::Inconclusive(_) => EXIT_INCONCLUSIVE,
            Error::Interrupted(_) => EXIT_INTERRUPTED,
        }
    }

    /// Bad input, with `context` (the flag, file or target) before the message.
    pub fn input(context: impl std::fmt::Display, message: impl std::fmt::Display) -> Error {
        Error::Input(format!("{context}: {message}"))
    }

    /// A failure while running, with `context` before the message.
    pub fn failed(context: impl std::fmt::Display, message: impl std::fmt::Display) -> Error {
        Error::Failed(format!("{context}: {message}"))
    }
}

impl From<gateway::GatewayError> for Error {
    fn from(error: gateway::GatewayError) -> Error {
        match error {
            gateway::GatewayError::Io { .. } => Error::Failed(error.to_string()),
            _ => Error::Input(error.to_string()),
        }
    }
}

/// The exit code of a gate that could not judge a level and found no regression: not 0, so CI
/// never reads it as a pass, and not 1, so it is not mistaken for a regression.
pub const EXIT_INCONCLUSIVE: i32 = 4;

/// The exit code of an interrupted command (Ctrl-C / SIGTERM); finished levels are kept.
pub const EXIT_INTERRUPTED: i32 = 130;

impl From<mock_upstream::MockError> for Error {
    fn from(error: mock_upstream::MockError) -> Error {
        if error.is_input() {
            Error::Input(error.to_string())
        } else {
            Error::Failed(error.to_string())
        }
    }
}

impl From<crate::scenario::ScenarioError> for Error {
    fn from(error: crate::scenario::ScenarioError) -> Error {
        Error::Input(error.to_string())
    }
}

impl From<reports::Error> for Error {
    fn from(error: reports::Error) -> Error {
        match error {
            reports::Error::Write { .. } => Error::Failed(error.to_string()),
            _ => Error::Input(error.to_string()),
        }
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
