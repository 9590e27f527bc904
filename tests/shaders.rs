//! Every WGSL file compiles (naga parses and validates it, the driver accepts it)
//! with each precision prelude it is used with.

mod common;

use weft::device::Feature;

#[test]
fn every_shader_compiles() {
    let dev = common::device();
    let mut compiled = 0;
    for shader in weft::kernels::registry::all_shaders() {
        if shader.uses_native_f16() && !dev.has(Feature::ShaderF16) {
            continue;
        }
        dev.compile(shader)
            .unwrap_or_else(|e| panic!("{}: {e}", shader.key()));
        compiled += 1;
    }
    eprintln!("{compiled} shaders compiled");
    assert!(compiled > 10);
}
