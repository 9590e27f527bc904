//! Not implemented yet.

use weft_device::Shader;

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    Vec::new()
}
