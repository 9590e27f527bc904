//! Every WGSL file weft compiles, embedded at build time from `shaders/`.
//!
//! A [`Shader`] is its body file preceded by the shared snippets it includes
//! (grid helpers, precision prelude, activation functions). Bodies written
//! against the storage alias `T` are compiled twice, with the f32 and the native
//! f16 prelude ([`Typed`]); packed-f16 bodies (`*_f16p.wgsl`) stand alone.
//! Adding a kernel variant is one `.wgsl` file and one row in its op's table,
//! which names the file with `typed_source!` (docs/KERNELS.md).

use weft_device::{Shader, ShaderFile};

use crate::precision::Typed;

/// A `ShaderFile` for a path under `shaders/`, embedded at build time.
macro_rules! wgsl {
    ($path:literal) => {
        weft_device::ShaderFile {
            path: $path,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shaders/",
                $path
            )),
        }
    };
}
pub(crate) use wgsl;

/// Flat workgroup index of a folded grid; included by every kernel.
pub const GRID: ShaderFile = wgsl!("common/grid.wgsl");
pub const ELEM_F32: ShaderFile = wgsl!("common/elem_f32.wgsl");
pub const ELEM_F16: ShaderFile = wgsl!("common/elem_f16.wgsl");
pub const ACTIVATION: ShaderFile = wgsl!("common/activation.wgsl");
/// Scratch element type `S` = `T` (scratch in the tensors' precision).
pub const SCRATCH_TYPED: ShaderFile = wgsl!("common/scratch_typed.wgsl");
/// Scratch element type `S` = f32 at every precision.
pub const SCRATCH_F32: ShaderFile = wgsl!("common/scratch_f32.wgsl");
pub const GEMM_PARAMS: ShaderFile = wgsl!("gemm/params.wgsl");
pub const GEMM_EPILOGUE: ShaderFile = wgsl!("gemm/epilogue.wgsl");
pub const A_ROWS: ShaderFile = wgsl!("gemm/a_rows.wgsl");
pub const A_ROWS_OWN: ShaderFile = wgsl!("gemm/a_rows_own.wgsl");
pub const A_ROWS_SUBGROUP: ShaderFile = wgsl!("gemm/a_rows_subgroup.wgsl");

/// A body compiled with the grid helpers and the listed includes only.
macro_rules! plain {
    ($name:ident, [$($inc:expr),*], $path:literal) => {
        pub static $name: weft_device::Shader = weft_device::Shader {
            includes: &[$crate::shaders::GRID, $($inc),*],
            body: $crate::shaders::wgsl!($path),
        };
    };
}
#[allow(unused_imports)]
pub(crate) use plain;

/// The [`Typed`] pair of a body: compiled once with each precision prelude.
macro_rules! typed_pair {
    ([$($inc:expr),*], $path:literal) => {
        $crate::precision::Typed {
            f32: &weft_device::Shader {
                includes: &[$crate::shaders::ELEM_F32, $crate::shaders::GRID, $($inc),*],
                body: $crate::shaders::wgsl!($path),
            },
            // `enable f16;` must precede every declaration: the prelude goes first.
            f16: &weft_device::Shader {
                includes: &[$crate::shaders::ELEM_F16, $crate::shaders::GRID, $($inc),*],
                body: $crate::shaders::wgsl!($path),
            },
        }
    };
}
#[allow(unused_imports)]
pub(crate) use typed_pair;

/// A body compiled once per precision prelude, exposed as a [`Typed`] pair.
macro_rules! typed {
    ($name:ident, [$($inc:expr),*], $path:literal) => {
        pub static $name: $crate::precision::Typed =
            $crate::shaders::typed_pair!([$($inc),*], $path);
    };
}
#[allow(unused_imports)]
pub(crate) use typed;

/// The [`Source`](crate::registry::Source) of a typed body, written where a
/// table row names its shaders, so that the row is the one place that
/// declares the file: `shaders: &[typed_source!([ACTIVATION], "gemm/x.wgsl")]`.
#[allow(unused_macros)]
macro_rules! typed_source {
    ([$($inc:expr),*], $path:literal) => {
        $crate::registry::Source::Typed(&$crate::shaders::typed_pair!([$($inc),*], $path))
    };
}
#[allow(unused_imports)]
pub(crate) use typed_source;

// Device probes.
plain!(PEAK_FMA, [], "peak/fma.wgsl");

// Elementwise.
typed!(
    ACTIVATION_FORWARD,
    [ACTIVATION],
    "elementwise/activation_forward.wgsl"
);
typed!(
    ACTIVATION_BACKWARD,
    [ACTIVATION],
    "elementwise/activation_backward.wgsl"
);
plain!(
    ACTIVATION_FORWARD_F16P,
    [ACTIVATION],
    "elementwise/activation_forward_f16p.wgsl"
);
plain!(
    ACTIVATION_BACKWARD_F16P,
    [ACTIVATION],
    "elementwise/activation_backward_f16p.wgsl"
);
const BINARY_OPS: ShaderFile = wgsl!("elementwise/binary_ops.wgsl");
typed!(BINARY, [BINARY_OPS], "elementwise/binary.wgsl");
typed!(
    BINARY_BROADCAST,
    [BINARY_OPS],
    "elementwise/binary_broadcast.wgsl"
);
plain!(BINARY_F16P, [BINARY_OPS], "elementwise/binary_f16p.wgsl");
typed!(SCALE, [], "elementwise/scale.wgsl");
typed!(ACCUMULATE, [], "elementwise/accumulate.wgsl");
plain!(SCALE_F16P, [], "elementwise/scale_f16p.wgsl");
plain!(FILL, [], "elementwise/fill.wgsl");
plain!(CONVERT, [], "elementwise/convert.wgsl");

// GEMM.
typed!(
    GEMM_NAIVE,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE],
    "gemm/gemm_naive.wgsl"
);
typed!(
    GEMM_TILED,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE],
    "gemm/gemm_tiled.wgsl"
);
typed!(
    GEMM_REGISTER,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE],
    "gemm/gemm_register.wgsl"
);
typed!(
    GEMM_VEC4,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE, A_ROWS, A_ROWS_OWN],
    "gemm/gemm_vec4.wgsl"
);
// The same body with A's rows shared across a subgroup.
typed!(
    GEMM_VEC4_SG,
    [
        ACTIVATION,
        GEMM_PARAMS,
        GEMM_EPILOGUE,
        A_ROWS,
        A_ROWS_SUBGROUP
    ],
    "gemm/gemm_vec4.wgsl"
);
// x·Wᵀ with both operands along K, A's rows loaded per invocation or shared.
typed!(
    GEMM_VEC4_NT,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE, A_ROWS, A_ROWS_OWN],
    "gemm/gemm_vec4_nt.wgsl"
);
typed!(
    GEMM_VEC4_NT_SG,
    [
        ACTIVATION,
        GEMM_PARAMS,
        GEMM_EPILOGUE,
        A_ROWS,
        A_ROWS_SUBGROUP
    ],
    "gemm/gemm_vec4_nt.wgsl"
);
typed!(
    GEMM_SUBGROUP,
    [ACTIVATION, GEMM_PARAMS, GEMM_EPILOGUE],
    "gemm/gemm_subgroup.wgsl"
);
plain!(GEMM_F16P, [ACTIVATION, GEMM_PARAMS], "gemm/gemm_f16p.wgsl");

/// Every shader declared here and by the op modules beside their launchers
/// (each module lists all it declares). [`crate::registry::all_shaders`] adds
/// the tables' rows and removes repeats.
pub(crate) fn helpers() -> Vec<&'static Shader> {
    let mut all = common();
    for module in [
        crate::augment::shaders,
        crate::conv::shaders,
        crate::pool::shaders,
        crate::upsample::shaders,
        crate::concat::shaders,
        crate::batch_norm::shaders,
        crate::reduce::shaders,
        crate::softmax::shaders,
        crate::loss::shaders,
        crate::dropout::shaders,
        crate::gather::shaders,
        crate::prelu::shaders,
        crate::lrn::shaders,
        crate::pad::shaders,
        crate::label::shaders,
        crate::filter::shaders,
        crate::permute::shaders,
        crate::optim::shaders,
    ] {
        all.extend(module());
    }
    all
}

/// Flattens typed pairs and plain shaders into one list (for modules' `shaders()`).
pub(crate) fn list(typed: &[&'static Typed], plain: &[&'static Shader]) -> Vec<&'static Shader> {
    typed
        .iter()
        .flat_map(|t| [t.f32, t.f16])
        .chain(plain.iter().copied())
        .collect()
}

fn common() -> Vec<&'static Shader> {
    let typed = [
        &ACTIVATION_FORWARD,
        &ACTIVATION_BACKWARD,
        &BINARY,
        &BINARY_BROADCAST,
        &SCALE,
        &ACCUMULATE,
        &GEMM_NAIVE,
        &GEMM_TILED,
        &GEMM_REGISTER,
        &GEMM_VEC4,
        &GEMM_VEC4_SG,
        &GEMM_VEC4_NT,
        &GEMM_VEC4_NT_SG,
        &GEMM_SUBGROUP,
    ];
    let plain = [
        &PEAK_FMA,
        &ACTIVATION_FORWARD_F16P,
        &ACTIVATION_BACKWARD_F16P,
        &BINARY_F16P,
        &SCALE_F16P,
        &FILL,
        &CONVERT,
        &GEMM_F16P,
    ];
    list(&typed, &plain)
}
