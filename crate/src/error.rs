//! The crate's error type: every failure a user can cause says what is wrong and what to do.

/// Everything that can go wrong in SSS, with a message meant for the person using it.
#[derive(Debug, thiserror::Error)]
pub enum SssError {
    /// A scan or label file could not be read or is not a usable volume.
    #[error("cannot read the scan: {0}")]
    Scan(String),
    /// Weights or their manifest are missing, corrupt or do not match the model.
    #[error("cannot use these weights: {0}")]
    Weights(String),
    /// An argument is out of range or inconsistent (sizes, prompts, indices).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The compute device could not be initialised or failed while running.
    #[error("compute device: {0}")]
    Device(String),
    /// Training diverged (a non-finite loss), caught before the weights changed.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// The user stopped a running segmentation.
    #[error("stopped before the end ({0})")]
    Stopped(String),
    /// A file system error, with the path where known.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SssError {
    /// Wraps an I/O error with the path or action it came from.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, SssError>;
