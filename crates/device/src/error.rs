//! The one error type of the device layer.
//!
//! Every failure a caller can cause or cannot anticipate comes back as a value of
//! [`Error`]; nothing is left to wgpu's default handler, which panics. Sizes are
//! checked against the device's limits before wgpu is called, so most of these
//! errors are raised by weft itself with the numbers that explain them.

use std::fmt;

/// Result alias used throughout weft.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong on the device.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the request (backend, name filter) or none exists.
    #[error("no GPU adapter found{}", fmt_detail(.0))]
    NoAdapter(String),

    /// The adapter could not create a device with the requested features and limits.
    #[error("could not create a device on adapter \"{adapter}\": {reason}")]
    RequestDevice { adapter: String, reason: String },

    /// An optional feature that this operation needs is not enabled on the device.
    #[error(
        "{op}: needs the device feature {feature}, which adapter \"{adapter}\" does not provide"
    )]
    MissingFeature {
        op: String,
        feature: crate::Feature,
        adapter: String,
    },

    /// A buffer larger than `max_buffer_size`.
    #[error(
        "{op}: buffer of {requested} bytes exceeds the device's max_buffer_size of {limit} bytes"
    )]
    BufferTooLarge {
        op: String,
        requested: u64,
        limit: u64,
    },

    /// A single binding larger than `max_storage_buffer_binding_size`, for an op that
    /// cannot split its binding into windows.
    #[error(
        "{op}: binding of {bytes} bytes exceeds the device's max_storage_buffer_binding_size of {limit} bytes \
         (split the batch or tensor, or use an op that binds through windows)"
    )]
    BindingTooLarge { op: String, bytes: u64, limit: u64 },

    /// A dispatch that needs more workgroups than the device can address even when
    /// folded into three dimensions.
    #[error(
        "{op}: {workgroups} workgroups exceed what the device can dispatch ({limit} per dimension, 3 dimensions)"
    )]
    GridTooLarge {
        op: String,
        workgroups: u64,
        limit: u32,
    },

    /// A step or an allocation that would hold more device memory than the
    /// device's memory budget allows.
    #[error(
        "{what}: needs {} of device memory, above the memory budget of {}{}",
        fmt_bytes(*.needed),
        fmt_bytes(*.budget),
        fmt_detail(.detail)
    )]
    OverBudget {
        what: String,
        needed: u64,
        budget: u64,
        detail: String,
    },

    /// The device ran out of memory.
    #[error("out of device memory{}", fmt_detail(.0))]
    OutOfMemory(String),

    /// wgpu rejected a call; carries wgpu's own message.
    #[error("wgpu validation error: {0}")]
    Validation(String),

    /// The device was lost (driver reset, `destroy()`, hang).
    #[error("device lost: {0}")]
    DeviceLost(String),

    /// The GPU completed none of its submitted work for the configured
    /// `gpu_timeout` (a hung device; long queues that keep completing work
    /// never time out).
    #[error(
        "the GPU completed no work for {seconds:.1} s ({what}); it looks hung (raise the limit with DeviceOptions::gpu_timeout, --gpu-timeout or WEFT_GPU_TIMEOUT)"
    )]
    Timeout { what: String, seconds: f64 },

    /// A call that waits for the GPU was made where nothing may block (a
    /// browser page, whose event loop delivers the GPU's answers).
    #[error(
        "{what} waits for the GPU, which a browser page cannot do; use the async form ({instead})"
    )]
    Blocking { what: String, instead: String },

    /// A WGSL shader failed to compile.
    #[error("{}", .0)]
    Shader(ShaderError),

    /// A tensor argument has the wrong shape, dtype, or size.
    #[error("{op}: {message}")]
    Shape { op: String, message: String },

    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io { path: String, message: String },

    /// A file's contents are not what they should be (corrupt, truncated,
    /// mismatched names/shapes/dtypes).
    #[error("{path}: {message}")]
    Format { path: String, message: String },

    /// Training diverged: the loss (or another value that must stay finite)
    /// became NaN or infinite.
    #[error("the loss became {value} at {what}; lower the learning rate (or check the data)")]
    Diverged { what: String, value: f64 },

    /// Something well-formed that weft does not implement (an imported
    /// model's operator or attribute), named where it occurs.
    #[error("{op}: not supported: {message}")]
    Unsupported { op: String, message: String },

    /// An argument outside its valid range (zero stride, negative padding, ...).
    #[error("{op}: invalid {param}: {message}")]
    InvalidArgument {
        op: String,
        param: String,
        message: String,
    },
}

/// Bytes with their binary-prefixed size: `73400320 bytes (70.0 MiB)`.
pub fn fmt_bytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{bytes} bytes ({:.2} GiB)", mib / 1024.0)
    } else {
        format!("{bytes} bytes ({mib:.1} MiB)")
    }
}

fn fmt_detail(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

/// A WGSL compilation failure with its location in the `.wgsl` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaderError {
    /// Path of the shader relative to `shaders/`.
    pub file: String,
    /// 1-based line within `file`, when the compiler reported one.
    pub line: Option<u32>,
    /// 1-based column within the line.
    pub column: Option<u32>,
    /// The compiler's message.
    pub message: String,
}

impl fmt::Display for ShaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shader {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, " failed to compile: {}", self.message.trim())
    }
}

impl Error {
    /// Shorthand for a shape error.
    pub fn shape(op: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Shape {
            op: op.into(),
            message: message.into(),
        }
    }

    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, err: impl fmt::Display) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            message: err.to_string(),
        }
    }

    /// Shorthand for a file-format error on `path`.
    pub fn format(path: impl AsRef<std::path::Path>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }

    /// Shorthand for an unsupported-feature error.
    pub fn unsupported(op: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unsupported {
            op: op.into(),
            message: message.into(),
        }
    }

    /// Shorthand for an invalid-argument error.
    pub fn invalid(
        op: impl Into<String>,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::InvalidArgument {
            op: op.into(),
            param: param.into(),
            message: message.into(),
        }
    }

    /// Converts an error caught by a wgpu error scope or handler.
    pub(crate) fn from_wgpu(err: wgpu::Error) -> Self {
        match err {
            wgpu::Error::OutOfMemory { source } => Error::OutOfMemory(source.to_string()),
            wgpu::Error::Validation { description, .. } => Error::Validation(description),
            wgpu::Error::Internal { description, .. } => Error::Validation(description),
        }
    }
}
