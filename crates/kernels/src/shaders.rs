//! Every WGSL file weft compiles, embedded at build time from `shaders/`.
//!
//! A [`Shader`] is its body file preceded by the shared snippets it includes
//! (the grid helpers, the precision prelude). Adding a kernel variant is one
//! `.wgsl` file, one entry here, and one row in [`crate::registry`].

use weft_device::{Shader, ShaderFile};

macro_rules! wgsl {
    ($path:literal) => {
        ShaderFile {
            path: $path,
            text: include_str!(concat!("../../../shaders/", $path)),
        }
    };
}

/// Flat workgroup index of a folded grid; included by every kernel.
pub const GRID: ShaderFile = wgsl!("common/grid.wgsl");

/// Shorthand for a kernel that includes only the grid helpers.
macro_rules! kernel {
    ($path:literal) => {
        Shader {
            includes: &[GRID],
            body: wgsl!($path),
        }
    };
}

pub static PEAK_FMA: Shader = kernel!("peak/fma.wgsl");
