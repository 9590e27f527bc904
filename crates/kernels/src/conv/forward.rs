//! conv2d forward: `y = act(conv2d(x, w) + bias)` with PyTorch's semantics
//! (NCHW input, OIHW weights, stride, explicit / `"same"` / `"valid"` padding
//! including asymmetric, dilation, groups including depthwise).
//!
//! Variants: the rows of [`VARIANTS`] (`weft bench --list` prints them with
//! their constraints), each correct on every problem it accepts: the direct
//! baseline, im2col + GEMM, the implicit GEMM, 1x1 as a plain GEMM, and
//! Winograd F(2x2, 3x3). [`TABLE`]'s automatic choice is measured on lavapipe
//! (see `auto`).
//!
//! Every variant runs on f32 and native f16 storage (f32 accumulation; the
//! Winograd intermediates are stored in the tensors' type); packed f16 has the
//! direct form.
//!
//! Large batches are processed in chunks of images: each launch binds windows
//! of x and y (so no binding exceeds `max_storage_buffer_binding_size`) and the
//! scratch buffers of the im2col and Winograd variants stay within
//! [`SCRATCH_BUDGET`] (at least one image at a time). Scratch tensors come from
//! the device pool and are released when the call returns; [`Table::scratch_bytes`]
//! (each row's `scratch`) reports their exact size for memory planning.

use weft_device::{
    Binding, BufferRange, Caps, ComputeLimits, DType, Device, Error, Kernel, Result, Shader, Tensor,
};

use super::params::{Conv2dGeometry, Conv2dParams};
use crate::Activation;
use crate::binding::{align_elems, vec4_alias, window};
use crate::gemm::{self, BiasMode, GemmArgs, GemmDims, GemmProblem};
use crate::precision::{Precision, Typed};
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
use crate::shaders::{ACTIVATION, SCRATCH_F32, SCRATCH_TYPED, plain, typed, wgsl};
use crate::tune;

const OP: &str = "conv2d";

/// Default bound on the scratch memory (im2col columns, Winograd transforms) one
/// launch chunk may use, in bytes. A chunk always holds at least one image.
pub const SCRATCH_BUDGET: u64 = 16 << 20;

const CONV_PARAMS: weft_device::ShaderFile = wgsl!("conv/params.wgsl");
const CONV_EPILOGUE: weft_device::ShaderFile = wgsl!("conv/epilogue.wgsl");
const CONV_DIRECT_COMMON: weft_device::ShaderFile = wgsl!("conv/direct_common.wgsl");

typed!(
    CONV_DIRECT,
    [ACTIVATION, CONV_PARAMS, CONV_DIRECT_COMMON],
    "conv/conv_direct.wgsl"
);
plain!(
    CONV_DIRECT_F16P,
    [ACTIVATION, CONV_PARAMS, CONV_DIRECT_COMMON],
    "conv/conv_direct_f16p.wgsl"
);
const IMPLICIT_WEIGHTS_OIHW: weft_device::ShaderFile = wgsl!("conv/implicit_weights_oihw.wgsl");
const IMPLICIT_WEIGHTS_TAPS: weft_device::ShaderFile = wgsl!("conv/implicit_weights_taps.wgsl");
typed!(
    CONV_IMPLICIT,
    [
        ACTIVATION,
        CONV_PARAMS,
        CONV_EPILOGUE,
        IMPLICIT_WEIGHTS_OIHW
    ],
    "conv/conv_implicit.wgsl"
);
typed!(
    CONV_IMPLICIT_TAPS,
    [
        ACTIVATION,
        CONV_PARAMS,
        CONV_EPILOGUE,
        IMPLICIT_WEIGHTS_TAPS
    ],
    "conv/conv_implicit.wgsl"
);
const IMPLICIT_WEIGHTS_TAPS_UNIFORM: weft_device::ShaderFile =
    wgsl!("conv/implicit_weights_taps_uniform.wgsl");
typed!(
    CONV_IMPLICIT_TAPS_UNIFORM,
    [
        ACTIVATION,
        CONV_PARAMS,
        CONV_EPILOGUE,
        IMPLICIT_WEIGHTS_TAPS_UNIFORM
    ],
    "conv/conv_implicit.wgsl"
);
typed!(CONV_WEIGHTS_TAPS, [CONV_PARAMS], "conv/weights_taps.wgsl");
typed!(
    CONV_IM2COL,
    [CONV_PARAMS, SCRATCH_TYPED],
    "conv/conv_im2col.wgsl"
);
// The same bodies writing f32 scratch from f32 or f16 tensors: the weight
// gradient's GEMM operands.
typed!(
    CONV_IM2COL_F32,
    [CONV_PARAMS, SCRATCH_F32],
    "conv/conv_im2col.wgsl"
);
typed!(
    CONV_WINOGRAD_INPUT_F32,
    [CONV_PARAMS, SCRATCH_F32],
    "conv/winograd_input.wgsl"
);
typed!(
    CONV_WEIGHTS_PADDED,
    [CONV_PARAMS],
    "conv/weights_padded.wgsl"
);
typed!(
    CONV_COLUMNS_TO_IMAGES,
    [CONV_PARAMS],
    "conv/columns_to_images.wgsl"
);
typed!(
    CONV_GEMM,
    [ACTIVATION, CONV_PARAMS, CONV_EPILOGUE],
    "conv/conv_gemm.wgsl"
);
typed!(
    CONV_WINOGRAD_WEIGHTS,
    [CONV_PARAMS],
    "conv/winograd_weights.wgsl"
);
typed!(
    CONV_WINOGRAD_INPUT,
    [CONV_PARAMS, SCRATCH_TYPED],
    "conv/winograd_input.wgsl"
);
typed!(
    CONV_WINOGRAD_OUTPUT,
    [ACTIVATION, CONV_PARAMS, CONV_EPILOGUE],
    "conv/winograd_output.wgsl"
);
typed!(
    CONV_WINOGRAD_OUTPUT_GRAD,
    [CONV_PARAMS],
    "conv/winograd_output_grad.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(
        &[
            &CONV_DIRECT,
            &CONV_IMPLICIT,
            &CONV_IMPLICIT_TAPS,
            &CONV_IMPLICIT_TAPS_UNIFORM,
            &CONV_WEIGHTS_TAPS,
            &CONV_IM2COL,
            &CONV_IM2COL_F32,
            &CONV_WINOGRAD_INPUT_F32,
            &CONV_COLUMNS_TO_IMAGES,
            &CONV_WEIGHTS_PADDED,
            &CONV_GEMM,
            &CONV_WINOGRAD_WEIGHTS,
            &CONV_WINOGRAD_INPUT,
            &CONV_WINOGRAD_OUTPUT,
            &CONV_WINOGRAD_OUTPUT_GRAD,
        ],
        &[&CONV_DIRECT_F16P],
    )
}

/// Options of a conv2d call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Conv2dSpec {
    /// Stride, padding, dilation, groups.
    pub params: Conv2dParams,
    /// Activation fused after the bias.
    pub activation: Activation,
    /// Kernel variant (a row of [`VARIANTS`]); `None`: the tuner's choice
    /// or the default.
    pub variant: Option<&'static ConvVariant>,
    /// Storage precision; `None` follows the tensors' dtype.
    pub precision: Option<Precision>,
}

/// A convolution as its variants see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dProblem {
    pub geo: Conv2dGeometry,
    /// Whether a bias is added.
    pub bias: bool,
    /// Activation fused after the bias.
    pub activation: Activation,
    pub precision: Precision,
}

/// The tensors of a conv2d launch: x `[N, C_in, H, W]`, w OIHW, bias
/// `[C_out]`, y `[N, C_out, OH, OW]`.
pub struct Conv2dArgs<'a> {
    pub x: &'a Tensor,
    pub w: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub y: &'a Tensor,
}

impl Problem for Conv2dProblem {
    type Args<'a> = Conv2dArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        shape_class(&self.geo)
    }

    fn is_empty(&self) -> bool {
        self.geo.out_shape().iter().product::<usize>() == 0
    }
}

/// A conv2d kernel variant: a row of [`VARIANTS`].
pub type ConvVariant = Variant<Conv2dProblem>;

/// Every conv2d variant, the baseline first.
pub const VARIANTS: &[ConvVariant] = &[
    Variant {
        name: "direct",
        idea: "one output per invocation walking its receptive field",
        requires: "every problem; the only packed-f16 form",
        shaders: &[
            Source::Typed(&CONV_DIRECT),
            Source::Plain(&CONV_DIRECT_F16P),
        ],
        constants: &[],
        tile: Tile::PerProblem("64 outputs per workgroup (packed f16: 64 words)"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: registry::no_scratch,
        launch: |_, p, a| run(p, a, |r| r.direct()),
    },
    Variant {
        name: "im2col_gemm",
        idea: "receptive fields unrolled into columns [groups, K, P] of a batch chunk, \
               then one register-blocked GEMM over all groups with vec4 loads of both operands",
        requires: "a non-empty input; the columns of one image within the binding limit",
        shaders: &[
            Source::Typed(&CONV_IM2COL),
            Source::Typed(&CONV_GEMM),
            Source::Typed(&CONV_COLUMNS_TO_IMAGES),
            Source::Typed(&CONV_WEIGHTS_PADDED),
        ],
        constants: &[],
        tile: Tile::PerProblem("TM rows (1-8, the group's channels) x 512 columns per workgroup"),
        precisions: registry::TYPED,
        supports: |p, caps| {
            non_empty(&p.geo)?;
            fits_one_image(caps, &p.geo, Scratch::Columns, p.precision)
        },
        scratch: |p, dev| scratch_of(dev, p, Scratch::Columns),
        launch: |_, p, a| run(p, a, |r| r.im2col()),
    },
    Variant {
        name: "implicit_gemm",
        idea: "the im2col GEMM with indices computed on the fly: TM x TN register blocks, \
               a sliding input-row window at unit stride, weights reordered per tap for vec4 \
               loads (a uniform block when small)",
        requires: "a non-empty input",
        shaders: &[
            Source::Typed(&CONV_IMPLICIT),
            Source::Typed(&CONV_IMPLICIT_TAPS),
            Source::Typed(&CONV_IMPLICIT_TAPS_UNIFORM),
            Source::Typed(&CONV_WEIGHTS_TAPS),
        ],
        constants: &[],
        tile: Tile::PerProblem(
            "TM channels (1-8) x 64 segments of TN (4 or 8) pixels per workgroup",
        ),
        precisions: registry::TYPED,
        supports: |p, _| non_empty(&p.geo),
        scratch: |p, _| ImplicitWeights::of(&p.geo, p.precision).scratch_bytes(&p.geo, p.precision),
        launch: |_, p, a| run(p, a, |r| r.implicit()),
    },
    Variant {
        name: "one_by_one",
        idea: "1x1, stride 1, no padding: the input already is the GEMM's B operand",
        requires: "a 1x1 kernel, stride 1, no padding, dilation 1",
        shaders: &[Source::Typed(&CONV_GEMM)],
        constants: &[],
        tile: Tile::PerProblem("TM rows (1-8) x 512 columns per workgroup"),
        precisions: registry::TYPED,
        supports: |p, _| {
            non_empty(&p.geo)?;
            let g = &p.geo;
            registry::require(
                g.kh == 1
                    && g.kw == 1
                    && g.stride == [1, 1]
                    && g.pad == [0; 4]
                    && g.dilation == [1, 1],
                || {
                    format!(
                        "needs a 1x1 kernel with stride 1, no padding and dilation 1, got {}x{} \
                         stride {:?} padding {:?} dilation {:?}",
                        g.kh, g.kw, g.stride, g.pad, g.dilation
                    )
                },
            )
        },
        scratch: registry::no_scratch,
        launch: |_, p, a| run(p, a, |r| r.one_by_one()),
    },
    Variant {
        name: "winograd",
        idea: "F(2x2, 3x3): weight and input transforms, 16 batched GEMMs, output transform \
               with bias and activation",
        requires: "a 3x3 kernel, stride 1, dilation 1, groups 1; one image's transforms within \
                   the binding limit",
        shaders: &[
            Source::Typed(&CONV_WINOGRAD_WEIGHTS),
            Source::Typed(&CONV_WINOGRAD_INPUT),
            Source::Typed(&CONV_WINOGRAD_OUTPUT),
            Source::Typed(&CONV_GEMM),
        ],
        constants: &[],
        tile: Tile::PerProblem("16 batched GEMMs of TM x 512 blocks"),
        precisions: registry::TYPED,
        supports: |p, caps| {
            non_empty(&p.geo)?;
            let g = &p.geo;
            registry::require(
                g.kh == 3 && g.kw == 3 && g.stride == [1, 1] && g.dilation == [1, 1],
                || {
                    format!(
                        "F(2x2, 3x3) needs a 3x3 kernel with stride 1 and dilation 1, got {}x{} \
                         stride {:?} dilation {:?}",
                        g.kh, g.kw, g.stride, g.dilation
                    )
                },
            )?;
            registry::require(g.groups == 1, || {
                format!("needs groups = 1, got {}", g.groups)
            })?;
            fits_one_image(caps, g, Scratch::Winograd, p.precision)
        },
        scratch: |p, dev| scratch_of(dev, p, Scratch::Winograd),
        launch: |_, p, a| run(p, a, |r| r.winograd()),
    },
];

/// Rows the automatic choice (and the data gradient) names.
pub const DIRECT: &ConvVariant = registry::named(VARIANTS, "direct");
pub const IM2COL_GEMM: &ConvVariant = registry::named(VARIANTS, "im2col_gemm");
pub const IMPLICIT_GEMM: &ConvVariant = registry::named(VARIANTS, "implicit_gemm");
pub const ONE_BY_ONE: &ConvVariant = registry::named(VARIANTS, "one_by_one");
pub const WINOGRAD: &ConvVariant = registry::named(VARIANTS, "winograd");

/// The conv2d table.
pub static TABLE: Table<Conv2dProblem> = Table {
    op: OP,
    variants: VARIANTS,
    auto,
};

/// Every variant but the direct one needs at least one input element.
fn non_empty(geo: &Conv2dGeometry) -> std::result::Result<(), Unsupported> {
    registry::require(geo.h != 0 && geo.w != 0 && geo.c_in != 0, || {
        format!(
            "needs a non-empty input, got {:?} (use direct)",
            geo.in_shape()
        )
    })
}

/// One image's windows and scratch fit the binding limit.
fn fits_one_image(
    caps: &Caps,
    geo: &Conv2dGeometry,
    scratch: Scratch,
    precision: Precision,
) -> std::result::Result<(), Unsupported> {
    plan_chunk(&caps.limits, geo, scratch, precision, 1)
        .map_err(|e| Unsupported::new(format!("one image does not fit: {e}")))
}

/// The default choice for a problem: the fastest variant that accepts it,
/// as measured on lavapipe (see the comment in the body).
fn auto(p: &Conv2dProblem, caps: &Caps) -> &'static ConvVariant {
    let geo = &p.geo;
    // Measured on lavapipe (llvmpipe 22.3 / LLVM 15, 2 cores, 8-wide
    // AVX2) with dev-side timing around a sync, best of 2-5 runs started
    // on an idle machine, f32, GFLOP/s counted as the direct convolution's
    // 2*N*C_out*OH*OW*K (native f16 measures within noise of these). The
    // repo's vec4_8x8 GEMM does 8.8-9.6 GFLOP/s at 1024^3 on this machine.
    //
    // | problem (N, C_in -> C_out, size)       | im2col | implicit | 1x1  | winograd |
    // |----------------------------------------|--------|----------|------|----------|
    // | 3x3 N8 64 -> 64, 56x56                 |   7.8  |   10.0   |  -   |   16.2   |
    // | 3x3 N8 256 -> 256, 14x14               |   6.8  |    8.0   |  -   |   29.3   |
    // | 3x3 N8 512 -> 512, 7x7                 |  12.2  |    9.2   |  -   |   21.6   |
    // | 3x3 N8 128 -> 128, 28x28               |  10.0  |    9.1   |  -   |   21.6   |
    // | 3x3 N8 32 -> 32, 16x16                 |   3.6  |    5.9   |  -   |    7.1   |
    // | 3x3 N8 16 -> 16, 32x32                 |   2.3  |    8.5   |  -   |    8.1   |
    // | 3x3 N8 3 -> 16, 32x32                  |   1.5  |    3.3   |  -   |    1.5   |
    // | 3x3 N1 3 -> 64, 224x224                |   3.1  |    5.3   |  -   |    3.1   |
    // | 3x3 s2 N8 128 -> 128, 28x28            |   8.7  |    6.7   |  -   |    -     |
    // | 7x7 s2 stem N8 3 -> 64, 224x224        |   7.1  |    8.7   |  -   |    -     |
    // | 5x5 N64 1 -> 6, 28x28 (LeNet)          |   1.2  |    3.8   |  -   |    -     |
    // | 5x5 N64 6 -> 16, 14x14 (LeNet)         |   2.7  |    3.4   |  -   |    -     |
    // | 5x5 N8 32 -> 64, 28x28                 |   5.7  |    8.3   |  -   |    -     |
    // | 1x1 N8 256 -> 64, 56x56                |   6.3  |    4.8   | 13.4 |    -     |
    // | 1x1 N8 64 -> 256, 56x56                |  10.3  |    5.2   | 11.3 |    -     |
    // | 1x1 N8 1024 -> 256, 14x14              |   8.5  |    4.0   | 11.6 |    -     |
    // | 1x1 N8 512 -> 2048, 7x7 (H*W % 4 != 0) |  12.6  |    5.3   | 11.4 |    -     |
    // | 1x1 s2 N8 256 -> 512, 56x56            |  10.5  |    3.7   |  -   |    -     |
    // | 1x1 N8 32 -> 64, 112x112               |   6.1  |    5.0   |  8.2 |    -     |
    // | 3x3 depthwise N8 256, 28x28            |   0.2  |    1.2   |  -   |    -     |
    // | 3x3 groups 32 N8 128, 28x28            |   0.8  |    4.5   |  -   |    -     |
    // (direct, the baseline, runs at 0.2-0.5 GFLOP/s on these.) The
    // implicit column predates its per-tap vec4/uniform weights and
    // sliding row window, which made it 1.5-2.5x faster at unit stride
    // (LeNet 5x5: 4.8 and 7.5 GFLOP/s; docs/PERFORMANCE.md); the rows above
    // are not re-measured (3x3 C64 56x56: implicit 12.5, Winograd 16.2).
    //
    // Every storage load costs tens of cycles per SIMD group there and
    // FMAs are nearly free, so: Winograd (2.25x fewer multiplies, vec4
    // GEMM) wins on 3x3 stride 1 once there are enough channels to
    // amortise its transforms; the 1x1 GEMM wins when its columns load as
    // vec4 (H*W % 4 == 0), im2col otherwise and for strided 1x1; im2col
    // (vec4 loads of both operands) beats the implicit GEMM on long
    // reductions over tiny images or with strides; the implicit GEMM
    // (input rows reused across the kernel width, no scratch) wins
    // everywhere else: few channels, large images, grouped and depthwise.
    //
    // Winograd's 16 GEMMs have one column per 2x2 tile of the chunk: with
    // fewer than 64 tiles (7x7 images at N < 4, 14x14 at N = 1) they fill
    // under half of a 128-column GEMM tile and im2col's GEMM over all the
    // chunk's pixels wins (3x3 512 -> 512, 7x7, N2: im2col 21.5, Winograd
    // 11.1 GFLOP/s; N4: 23.0 and 23.1; N8: 22.3 and 45.0, when Winograd's
    // chunk holds the batch: its transformed weights no longer count against
    // the scratch budget).
    let fits = |v: &ConvVariant| v.check(p, caps).is_ok();
    let k = geo.patch_len();
    let one_by_one = geo.kh == 1 && geo.kw == 1;
    let long_small =
        k.is_multiple_of(4) && k >= 256 && (geo.oh * geo.ow <= 64 || geo.stride != [1, 1]);
    let im2col = fits(IM2COL_GEMM) && geo.cout_g() >= 8;
    let winograd_tiles = geo.n * geo.oh.div_ceil(2) * geo.ow.div_ceil(2);
    if im2col && long_small && geo.oh * geo.ow <= 64 && winograd_tiles < 64 {
        return IM2COL_GEMM;
    }
    if fits(WINOGRAD) && geo.c_in >= 24 && geo.c_out >= 16 {
        return WINOGRAD;
    }
    if fits(ONE_BY_ONE) && (geo.h * geo.w).is_multiple_of(4) {
        return ONE_BY_ONE;
    }
    // With one group of at least 64 output channels, im2col's GEMM runs on
    // full 64-row tiles of the vector kernels (patches padded to a multiple
    // of 4) and beats the implicit GEMM whatever the reduction: 7x7 s2 stem
    // 3 -> 64, N8 224x224: 18.1 against 10.5 GFLOP/s; 3x3 3 -> 64, 224x224:
    // 14.1 / 9.9; 5x5 32 -> 64, 28x28: 18.3 / 14.5. With 16-32 channels the
    // tiles run part-empty and the implicit GEMM wins (3x3 16 -> 32, 32x32:
    // 7.6 / 12.2).
    if im2col && (one_by_one || long_small || (geo.groups == 1 && geo.c_out >= 64)) {
        return IM2COL_GEMM;
    }
    if fits(IMPLICIT_GEMM) {
        IMPLICIT_GEMM
    } else {
        DIRECT
    }
}

/// The parameter block of every conv kernel (`shaders/conv/params.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    kh: u32,
    kw: u32,
    groups: u32,
    oh: u32,
    ow: u32,
    stride_h: u32,
    stride_w: u32,
    pad_t: u32,
    pad_l: u32,
    dil_h: u32,
    dil_w: u32,
    cin_g: u32,
    cout_g: u32,
    patch_len: u32,
    has_bias: u32,
    x_off: u32,
    y_off: u32,
    tiles_m: u32,
    tiles_p: u32,
    a: [u32; 12],
}

impl ConvParams {
    /// The geometry part for a launch over `imgs` images.
    fn new(geo: &Conv2dGeometry, imgs: usize, has_bias: bool) -> Self {
        ConvParams {
            n: imgs as u32,
            c_in: geo.c_in as u32,
            h: geo.h as u32,
            w: geo.w as u32,
            c_out: geo.c_out as u32,
            kh: geo.kh as u32,
            kw: geo.kw as u32,
            groups: geo.groups as u32,
            oh: geo.oh as u32,
            ow: geo.ow as u32,
            stride_h: geo.stride[0] as u32,
            stride_w: geo.stride[1] as u32,
            pad_t: geo.pad[0] as u32,
            pad_l: geo.pad[1] as u32,
            dil_h: geo.dilation[0] as u32,
            dil_w: geo.dilation[1] as u32,
            cin_g: geo.cin_g() as u32,
            cout_g: geo.cout_g() as u32,
            patch_len: geo.patch_len() as u32,
            has_bias: has_bias as u32,
            ..Default::default()
        }
    }
}

/// y = act(conv2d(x, w) + bias) into a new tensor; x `[N, C_in, H, W]`,
/// w `[C_out, C_in/groups, KH, KW]` (OIHW), bias `[C_out]`.
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, spec: &Conv2dSpec) -> Result<Tensor> {
    let geo = check(x, w, bias, spec)?;
    let y = x.device().empty(&geo.out_shape(), x.dtype())?;
    conv2d_into(x, w, bias, spec, &y)?;
    Ok(y)
}

/// [`conv2d`] into an existing output tensor `[N, C_out, OH, OW]` of x's dtype.
pub fn conv2d_into(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &Conv2dSpec,
    out: &Tensor,
) -> Result<()> {
    let geo = check(x, w, bias, spec)?;
    let dev = x.device();
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    crate::check_output(OP, out, &geo.out_shape(), x.dtype(), &inputs)?;
    if !out.device().same(dev) {
        return Err(Error::invalid(
            OP,
            "output",
            "is on another device than the input",
        ));
    }
    let problem = Conv2dProblem {
        geo,
        bias: bias.is_some(),
        activation: spec.activation,
        precision: Precision::resolve(OP, dev, x.dtype(), spec.precision)?,
    };
    let args = Conv2dArgs { x, w, bias, y: out };
    TABLE.run(dev, &problem, spec.variant, &args)
}

/// Validates dtypes, shapes and parameters; resolves the geometry.
fn check(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &Conv2dSpec,
) -> Result<Conv2dGeometry> {
    if !x.dtype().is_float() || w.dtype() != x.dtype() {
        return Err(Error::shape(
            OP,
            format!(
                "input and weight must share a float dtype, got {} and {}",
                x.dtype(),
                w.dtype()
            ),
        ));
    }
    if !w.device().same(x.device()) {
        return Err(Error::invalid(
            OP,
            "weight",
            "is on another device than the input",
        ));
    }
    let geo = Conv2dGeometry::new(OP, x.shape(), w.shape(), &spec.params)?;
    if let Some(b) = bias {
        if b.shape() != [geo.c_out] || b.dtype() != x.dtype() {
            return Err(Error::shape(
                OP,
                format!(
                    "bias: expected [{}] {} (one value per output channel), got {:?} {}",
                    geo.c_out,
                    x.dtype(),
                    b.shape(),
                    b.dtype()
                ),
            ));
        }
        if !b.device().same(x.device()) {
            return Err(Error::invalid(
                OP,
                "bias",
                "is on another device than the input",
            ));
        }
    }
    // Kernels index within a binding window with u32 arithmetic.
    let too_big = |what: &str, n: usize| -> Result<()> {
        if n > u32::MAX as usize / 2 {
            return Err(Error::invalid(
                OP,
                what,
                format!("{n} elements exceed 32-bit indexing"),
            ));
        }
        Ok(())
    };
    too_big("weight", w.numel())?;
    too_big("input", geo.c_in * geo.h * geo.w)?;
    too_big("output", geo.c_out * geo.oh * geo.ow)?;
    Ok(geo)
}

/// Elements of one image of x and of y.
fn image_elems(geo: &Conv2dGeometry) -> (usize, usize) {
    (geo.c_in * geo.h * geo.w, geo.c_out * geo.oh * geo.ow)
}

/// The scratch a variant's chunks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scratch {
    /// None beyond the windows of x and y.
    None,
    /// im2col columns of the chunk.
    Columns,
    /// Winograd's transformed weights, inputs and products.
    Winograd,
}

impl Scratch {
    fn name(self) -> &'static str {
        match self {
            Scratch::None => "direct",
            Scratch::Columns => "im2col_gemm",
            Scratch::Winograd => "winograd",
        }
    }
}

/// Elements of every scratch tensor a chunk of `imgs` images needs, in
/// allocation order.
fn scratch_sizes(geo: &Conv2dGeometry, scratch: Scratch, imgs: usize) -> Vec<usize> {
    match scratch {
        Scratch::Columns => {
            let cols = round4(imgs * geo.oh * geo.ow);
            let rows = im2col_rows(geo);
            let mut sizes = vec![rows * cols];
            if merged_columns(geo) {
                sizes.push(geo.c_out * cols);
            }
            if rows != geo.groups * geo.patch_len() {
                sizes.push(geo.c_out * rows);
            }
            sizes
        }
        Scratch::Winograd => {
            let (th, tw) = (geo.oh.div_ceil(2), geo.ow.div_ceil(2));
            let p4 = round4(imgs * th * tw);
            vec![
                16 * geo.c_out * geo.c_in,
                16 * geo.c_in * p4,
                16 * geo.c_out * p4,
            ]
        }
        Scratch::None => Vec::new(),
    }
}

/// Whether the im2col GEMM runs over all of a chunk's columns at once, into a
/// scratch `[C_out, P4]` that `columns_to_images.wgsl` copies to NCHW, rather
/// than as one GEMM per image writing y directly. Per image, a small output
/// (7x7: 49 columns) fills a fraction of the GEMM's 128-column tiles and, when
/// OH*OW is not a multiple of 4, cannot use the vector kernels at all; the
/// copy costs two passes over y. Chosen where per-image tiles would waste
/// over 5% and the merged GEMM runs on the vector kernels (K a multiple of 4,
/// one group of at least 16 channels).
fn merged_columns(geo: &Conv2dGeometry) -> bool {
    let ohw = geo.oh * geo.ow;
    let tiles = ohw.div_ceil(128) * 128;
    geo.groups == 1 && geo.c_out >= 16 && ohw > 0 && tiles * 20 > ohw * 21
}

/// Rows of the im2col columns: the groups' patches, and with one group of at
/// least 16 channels the patch rounded up to a multiple of 4 (zero rows, and
/// weights copied with zero columns: `weights_padded.wgsl`) so that the GEMM
/// runs on the vector kernels (a 7x7 stem on 3 channels: 147 -> 148).
fn im2col_rows(geo: &Conv2dGeometry) -> usize {
    let k = geo.patch_len();
    if geo.groups == 1 && geo.c_out >= 16 {
        round4(k)
    } else {
        geo.groups * k
    }
}

/// Bytes of the chunked scratch of `p` (the largest chunk), exactly as the
/// pool accounts them.
fn scratch_of(dev: &Device, p: &Conv2dProblem, scratch: Scratch) -> u64 {
    if p.geo.n == 0 {
        return 0;
    }
    match images_per_chunk(dev.limits(), &p.geo, scratch, p.precision) {
        Ok(imgs) => scratch_sizes(&p.geo, scratch, imgs)
            .iter()
            .map(|&n| p.precision.dtype().storage_bytes(n))
            .sum(),
        Err(_) => 0,
    }
}

/// Unrolls the receptive fields of `imgs` images of x (bound as `xw`, the
/// first image at element `x_off` of the binding) into `cols`, laid out
/// `[groups, patch_len, width]` with zero padding columns from `imgs·OH·OW`
/// on (`width` a multiple of 4; `conv_im2col.wgsl`). The weight gradient's
/// GEMM form uses it too.
pub(crate) fn im2col_into(
    geo: &Conv2dGeometry,
    precision: Precision,
    imgs: usize,
    width: usize,
    x: (BufferRange<'_>, u32),
    cols: &Tensor,
) -> Result<()> {
    let rows = geo.groups * geo.patch_len();
    im2col_rows_into(geo, precision, imgs, width, rows, x, cols)
}

/// [`im2col_into`] followed by zero rows up to `rows` (one group).
fn im2col_rows_into(
    geo: &Conv2dGeometry,
    precision: Precision,
    imgs: usize,
    width: usize,
    rows: usize,
    (xw, x_off): (BufferRange<'_>, u32),
    cols: &Tensor,
) -> Result<()> {
    debug_assert!(rows == geo.groups * geo.patch_len() || geo.groups == 1);
    // Columns in their own dtype: the tensors' (the forward GEMM's), or f32
    // (the weight gradient's).
    let typed = if cols.dtype() == DType::F32 {
        &CONV_IM2COL_F32
    } else {
        &CONV_IM2COL
    };
    let shader = typed
        .get(precision)
        .ok_or_else(|| Error::invalid(OP, "precision", "im2col has no packed-f16 form"))?;
    let p = imgs * geo.oh * geo.ow;
    debug_assert!(width >= p && width.is_multiple_of(4));
    let p4 = width;
    let mut params = ConvParams::new(geo, imgs, false);
    params.x_off = x_off;
    params.a[0] = p as u32;
    params.a[1] = (p4 / 4) as u32;
    params.a[2] = rows as u32;
    // One invocation per (row, output row) run.
    let runs = rows * imgs * geo.oh;
    cols.device().dispatch(
        &Kernel::new(OP, shader, "main"),
        bytemuck::bytes_of(&params),
        &[Binding::Read(xw), Binding::ReadWrite(cols.binding())],
        runs.div_ceil(64) as u64,
    )
}

/// The tensor a Winograd tile transform reads: x (the input transform) or
/// dy (the adjoint of the output transform).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WinogradSide {
    /// `winograd_input.wgsl`: `Bᵀ d B` of every 4x4 input tile into 16
    /// matrices `[C_in, p4]` in the tensors' precision (the forward).
    Input,
    /// The same in f32 (the weight gradient's B operands), into 16 matrices
    /// `[p4, C_in]` when `tile_major` (row-major for the vector GEMM).
    GradInput { tile_major: bool },
    /// `winograd_output_grad.wgsl`: `A dy Aᵀ` of every 2x2 output-gradient
    /// tile into 16 f32 matrices `[C_out, p4]`, laid out as the forward's
    /// GEMM products (the Winograd weight gradient's A operands).
    OutputGrad,
}

/// A Winograd tile transform of `imgs` images (bound as `src`, the first
/// image at element offset `.1`) into `dst`: one column per 2x2 tile of the
/// output grid, zero columns from the chunk's tile count up to `p4`. The
/// forward runs the input side; the Winograd weight gradient runs both.
#[allow(clippy::too_many_arguments)]
pub(crate) fn winograd_transform_into(
    dev: &Device,
    side: WinogradSide,
    geo: &Conv2dGeometry,
    precision: Precision,
    imgs: usize,
    p4: usize,
    (src, src_off): (BufferRange<'_>, u32),
    dst: BufferRange<'_>,
) -> Result<()> {
    let (typed, channels) = match side {
        WinogradSide::Input => (&CONV_WINOGRAD_INPUT, geo.c_in),
        WinogradSide::GradInput { .. } => (&CONV_WINOGRAD_INPUT_F32, geo.c_in),
        WinogradSide::OutputGrad => (&CONV_WINOGRAD_OUTPUT_GRAD, geo.c_out),
    };
    let shader = typed
        .get(precision)
        .ok_or_else(|| Error::invalid(OP, "precision", "Winograd has no packed-f16 form"))?;
    let (th, tw) = (geo.oh.div_ceil(2), geo.ow.div_ceil(2));
    let p = imgs * th * tw;
    debug_assert!(p4 >= p && p4.is_multiple_of(4));
    let mut params = ConvParams::new(geo, imgs, false);
    match side {
        WinogradSide::Input | WinogradSide::GradInput { .. } => params.x_off = src_off,
        WinogradSide::OutputGrad => params.y_off = src_off,
    }
    params.a[0] = th as u32;
    params.a[1] = tw as u32;
    params.a[2] = p as u32;
    params.a[3] = p4 as u32;
    let tile_major = side == WinogradSide::GradInput { tile_major: true };
    let tile_major = [("TILE_MAJOR", tile_major as u8 as f64)];
    let constants: &[_] = match side {
        WinogradSide::OutputGrad => &[],
        _ => &tile_major,
    };
    dev.dispatch(
        &Kernel::new(OP, shader, "main").with_constants(constants),
        bytemuck::bytes_of(&params),
        &[Binding::Read(src), Binding::ReadWrite(dst)],
        (channels * p4).div_ceil(64) as u64,
    )
}

pub(crate) fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Checks that a chunk of `imgs` images fits the device's binding limit (x and
/// y windows, every scratch buffer) and, beyond one image, the scratch budget.
fn plan_chunk(
    limits: &ComputeLimits,
    geo: &Conv2dGeometry,
    scratch: Scratch,
    precision: Precision,
    imgs: usize,
) -> std::result::Result<(), String> {
    let dtype = precision.dtype();
    let limit = limits.max_storage_buffer_binding_size;
    let slack = align_elems(limits, dtype);
    let (xi, yi) = image_elems(geo);
    let bytes = |n: usize| dtype.storage_bytes(n);
    let xb = bytes(imgs * xi + slack);
    if xb > limit {
        return Err(format!(
            "input window of {xb} bytes exceeds the binding limit of {limit}"
        ));
    }
    let yb = bytes(imgs * yi + slack);
    if yb > limit {
        return Err(format!(
            "output window of {yb} bytes exceeds the binding limit of {limit}"
        ));
    }
    let sizes = scratch_sizes(geo, scratch, imgs);
    // What does not grow with the chunk (Winograd's transformed weights)
    // is paid once, whatever the chunk: only the rest counts against the budget.
    let fixed: u64 = scratch_sizes(geo, scratch, 0).into_iter().map(bytes).sum();
    let mut total = 0;
    for n in sizes {
        let b = bytes(n);
        if b > limit {
            return Err(format!(
                "scratch buffer of {b} bytes exceeds the binding limit of {limit}"
            ));
        }
        total += b;
    }
    if imgs > 1 && total - fixed > SCRATCH_BUDGET {
        return Err(format!(
            "scratch of {} bytes per chunk exceeds the budget of {SCRATCH_BUDGET}",
            total - fixed
        ));
    }
    Ok(())
}

/// The most images one launch may cover (the first and largest chunk).
fn images_per_chunk(
    limits: &ComputeLimits,
    geo: &Conv2dGeometry,
    scratch: Scratch,
    precision: Precision,
) -> Result<usize> {
    let n = geo.n.max(1);
    if let Err(why) = plan_chunk(limits, geo, scratch, precision, 1) {
        let limit = limits.max_storage_buffer_binding_size;
        return Err(Error::BindingTooLarge {
            op: format!("{OP} ({}: {why})", scratch.name()),
            bytes: limit + 1,
            limit,
        });
    }
    // Largest fitting count by bisection: fits(lo) holds, fits(hi + 1) fails or hi = n.
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if plan_chunk(limits, geo, scratch, precision, mid).is_ok() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let (_, yi) = image_elems(geo);
    // Packed f16 owns whole words: every chunk but the last must end on an even
    // element of y.
    if precision == Precision::F16Packed && yi % 2 == 1 && lo < n && lo > 1 {
        lo -= lo % 2;
    }
    Ok(lo)
}

/// The chunks `(first image, images)` covering the batch.
fn chunks(
    limits: &ComputeLimits,
    geo: &Conv2dGeometry,
    scratch: Scratch,
    precision: Precision,
) -> Result<Vec<(usize, usize)>> {
    let per = images_per_chunk(limits, geo, scratch, precision)?;
    let (_, yi) = image_elems(geo);
    if precision == Precision::F16Packed && yi % 2 == 1 && per % 2 == 1 && per < geo.n {
        let limit = limits.max_storage_buffer_binding_size;
        return Err(Error::BindingTooLarge {
            op: format!("{OP} (packed f16 with an odd image size needs two images per launch)"),
            bytes: limit + 1,
            limit,
        });
    }
    Ok((0..geo.n)
        .step_by(per)
        .map(|i| (i, per.min(geo.n - i)))
        .collect())
}

/// One conv2d call, resolved.
struct Run<'a> {
    dev: &'a Device,
    geo: &'a Conv2dGeometry,
    x: &'a Tensor,
    w: &'a Tensor,
    bias: Option<&'a Tensor>,
    y: &'a Tensor,
    act: Activation,
    precision: Precision,
    /// w holds the weights of the convolution whose data gradient this is
    /// (`[C_out, C_in, 3, 3]` of that one), read rotated by 180° with the
    /// channels swapped (Winograd only).
    flipped: bool,
}

/// Runs one of [`Run`]'s variant methods on `p` (nothing when y is empty).
fn run(
    p: &Conv2dProblem,
    a: &Conv2dArgs<'_>,
    variant: impl FnOnce(&Run<'_>) -> Result<()>,
) -> Result<()> {
    run_with(p, a, false, variant)
}

fn run_with(
    p: &Conv2dProblem,
    a: &Conv2dArgs<'_>,
    flipped: bool,
    variant: impl FnOnce(&Run<'_>) -> Result<()>,
) -> Result<()> {
    if a.y.numel() == 0 {
        return Ok(());
    }
    variant(&Run {
        dev: a.x.device(),
        geo: &p.geo,
        x: a.x,
        w: a.w,
        bias: a.bias,
        y: a.y,
        act: p.activation,
        precision: p.precision,
        flipped,
    })
}

/// The Winograd variant on `p` with `a.w` holding the weights of the
/// convolution whose data gradient `p` is (OIHW of that one): the weight
/// transform reads them rotated by 180° with input and output channels
/// swapped, so no flipped copy is made. Preconditions as [`WINOGRAD`]'s.
pub(crate) fn winograd_of_flipped(p: &Conv2dProblem, a: &Conv2dArgs<'_>) -> Result<()> {
    WINOGRAD
        .check(p, a.x.device().caps())
        .map_err(|why| Error::invalid(OP, "variant", format!("winograd: {}", why.0)))?;
    run_with(p, a, true, |r| r.winograd())
}

impl Run<'_> {
    /// The f32 or native-f16 form of a typed body.
    fn shader(&self, typed: &Typed) -> Result<&'static Shader> {
        typed.get(self.precision).ok_or_else(|| {
            Error::invalid(
                OP,
                "precision",
                format!("this kernel has no {} form", self.precision.name()),
            )
        })
    }

    fn align(&self) -> usize {
        align_elems(self.dev.limits(), self.precision.dtype())
    }

    fn bias_binding(&self) -> BufferRange<'_> {
        self.bias.unwrap_or(self.w).binding()
    }

    /// Chunks of the batch with their x and y windows and offsets.
    fn for_chunks(
        &self,
        scratch: Scratch,
        mut launch: impl FnMut(
            usize,
            usize,
            (BufferRange<'_>, u32),
            (BufferRange<'_>, u32),
        ) -> Result<()>,
    ) -> Result<()> {
        let (xi, yi) = image_elems(self.geo);
        let align = self.align();
        for (img0, imgs) in chunks(self.dev.limits(), self.geo, scratch, self.precision)? {
            let xw = window(self.x, img0 * xi, imgs * xi, align)?;
            let yw = window(self.y, img0 * yi, imgs * yi, align)?;
            launch(img0, imgs, xw, yw)?;
        }
        Ok(())
    }

    fn direct(&self) -> Result<()> {
        let constants = self.act.constants();
        let shader = match self.precision {
            Precision::F16Packed => &CONV_DIRECT_F16P,
            _ => self.shader(&CONV_DIRECT)?,
        };
        let kernel = Kernel::new(OP, shader, "main").with_constants(&constants);
        let (_, yi) = image_elems(self.geo);
        self.for_chunks(Scratch::None, |_, imgs, (xw, x_off), (yw, y_off)| {
            let mut params = ConvParams::new(self.geo, imgs, self.bias.is_some());
            params.x_off = x_off;
            params.y_off = y_off;
            let total = imgs * yi;
            let units = match self.precision {
                // Words of the window from the chunk's first (even) element on.
                Precision::F16Packed => (y_off as usize + total).div_ceil(2) - y_off as usize / 2,
                _ => total,
            };
            self.dev.dispatch(
                &kernel,
                bytemuck::bytes_of(&params),
                &[
                    Binding::Read(xw),
                    Binding::Read(self.w.binding()),
                    Binding::Read(self.bias_binding()),
                    Binding::ReadWrite(yw),
                ],
                units.div_ceil(64) as u64,
            )
        })
    }

    fn implicit(&self) -> Result<()> {
        let geo = self.geo;
        let tm = implicit_rows(geo.cout_g());
        let tn = if geo.ow > 4 { 8 } else { 4 };
        let (kw_c, sw_c, dw_c) = implicit_specialisation(geo, tn);
        let mut constants = vec![
            ("TM", tm as f64),
            ("TN", tn as f64),
            ("KW_C", kw_c as f64),
            ("SW_C", sw_c as f64),
            ("DW_C", dw_c as f64),
        ];
        constants.extend(self.act.constants());
        let layout = ImplicitWeights::of(geo, self.precision);
        let shader = match layout {
            ImplicitWeights::Oihw => &CONV_IMPLICIT,
            ImplicitWeights::Taps { uniform: false, .. } => &CONV_IMPLICIT_TAPS,
            ImplicitWeights::Taps { uniform: true, .. } => &CONV_IMPLICIT_TAPS_UNIFORM,
        };
        let kernel = Kernel::new(OP, self.shader(shader)?, "main").with_constants(&constants);
        let w_taps = match layout {
            ImplicitWeights::Oihw => None,
            ImplicitWeights::Taps { cpad, uniform } => Some(self.weights_taps(cpad, uniform)?),
        };
        let weights = match (&w_taps, layout) {
            (Some(t), ImplicitWeights::Taps { uniform: true, .. }) => Binding::Uniform(t.binding()),
            (Some(t), _) => Binding::Read(t.binding()),
            (None, _) => Binding::Read(self.w.binding()),
        };
        let cpad = match layout {
            ImplicitWeights::Taps { cpad, .. } => cpad,
            ImplicitWeights::Oihw => 0,
        };
        let segs_per_row = geo.ow.div_ceil(tn);
        let m_tiles = geo.cout_g().div_ceil(tm);
        self.for_chunks(Scratch::None, |_, imgs, (xw, x_off), (yw, y_off)| {
            let mut params = ConvParams::new(geo, imgs, self.bias.is_some());
            params.x_off = x_off;
            params.y_off = y_off;
            let segs = imgs * geo.oh * segs_per_row;
            params.tiles_m = (geo.groups * m_tiles) as u32;
            params.tiles_p = segs.div_ceil(64) as u32;
            params.a[0] = segs_per_row as u32;
            params.a[1] = segs as u32;
            params.a[2] = m_tiles as u32;
            params.a[3] = cpad as u32;
            self.dev.dispatch(
                &kernel,
                bytemuck::bytes_of(&params),
                &[
                    Binding::Read(xw),
                    weights,
                    Binding::Read(self.bias_binding()),
                    Binding::ReadWrite(yw),
                ],
                (params.tiles_m as u64) * (params.tiles_p as u64),
            )
        })
    }

    /// The weights reordered to [groups, K, cpad] (conv/weights_taps.wgsl), in
    /// a tensor of [`UNIFORM_TABLE_BYTES`] when `uniform`.
    fn weights_taps(&self, cpad: usize, uniform: bool) -> Result<Tensor> {
        let geo = self.geo;
        let len = geo.groups * geo.patch_len() * cpad;
        let out = if uniform {
            self.dev.empty(&[UNIFORM_TABLE_BYTES / 4], DType::F32)?
        } else {
            self.dev.empty(&[len], self.precision.dtype())?
        };
        let mut params = ConvParams::new(geo, 0, false);
        params.a[0] = cpad as u32;
        params.a[1] = len as u32;
        self.dev.dispatch(
            &Kernel::new(OP, self.shader(&CONV_WEIGHTS_TAPS)?, "main"),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(self.w.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            len.div_ceil(64) as u64,
        )?;
        Ok(out)
    }

    fn one_by_one(&self) -> Result<()> {
        let geo = self.geo;
        let hw = geo.h * geo.w;
        self.for_chunks(Scratch::None, |_, imgs, (xw, x_off), (yw, y_off)| {
            let gemm = GemmLaunch {
                groups: geo.groups,
                rows: geo.cout_g(),
                k: geo.cin_g(),
                cols: imgs * hw,
                b_off: x_off,
                b_gs: geo.cin_g() * hw,
                b_ks: hw,
                b_img: hw,
                b_is: geo.c_in * hw,
                c_off: y_off,
                c_img: hw,
                c_is: geo.c_out * hw,
                c_ms: hw,
                bias: self.bias.is_some(),
                act: self.act,
            };
            self.gemm(&gemm, self.w.binding(), xw, yw)
        })
    }

    fn im2col(&self) -> Result<()> {
        let geo = self.geo;
        let dtype = self.precision.dtype();
        let per = images_per_chunk(self.dev.limits(), geo, Scratch::Columns, self.precision)?;
        let sizes = scratch_sizes(geo, Scratch::Columns, per);
        let cols = self.dev.empty(&sizes[..1], dtype)?;
        let merged = if merged_columns(geo) {
            Some(self.dev.empty(&[sizes[1]], dtype)?)
        } else {
            None
        };
        // The patch padded to `rows` needs weights padded alike.
        let rows = im2col_rows(geo);
        let k = rows / geo.groups;
        let padded = if rows != geo.groups * geo.patch_len() {
            let wp = self.dev.empty(&[geo.c_out * rows], dtype)?;
            let mut params = ConvParams::new(geo, 0, false);
            params.a[2] = rows as u32;
            self.dev.dispatch(
                &Kernel::new(OP, self.shader(&CONV_WEIGHTS_PADDED)?, "main"),
                bytemuck::bytes_of(&params),
                &[
                    Binding::Read(self.w.binding()),
                    Binding::ReadWrite(wp.binding()),
                ],
                (geo.c_out * rows).div_ceil(64) as u64,
            )?;
            Some(wp)
        } else {
            None
        };
        let w = padded.as_ref().unwrap_or(self.w);
        let ohw = geo.oh * geo.ow;
        self.for_chunks(Scratch::Columns, |_, imgs, xw, (yw, y_off)| {
            let p = imgs * ohw;
            let p4 = round4(p);
            im2col_rows_into(geo, self.precision, imgs, p4, rows, xw, &cols)?;
            if let Some(s) = &merged {
                return self.merged_gemm(imgs, p4, w, &cols, s, (yw, y_off));
            }
            let gemm = GemmLaunch {
                groups: geo.groups,
                rows: geo.cout_g(),
                k,
                cols: p,
                b_off: 0,
                b_gs: k * p4,
                b_ks: p4,
                b_img: p4,
                b_is: 0,
                c_off: y_off,
                c_img: ohw,
                c_is: geo.c_out * ohw,
                c_ms: ohw,
                bias: self.bias.is_some(),
                act: self.act,
            };
            self.gemm(&gemm, w.binding(), cols.binding(), yw)
        })
    }

    /// The chunk's GEMM over all its columns into `s` (see [`merged_columns`]),
    /// then the copy to y's images.
    fn merged_gemm(
        &self,
        imgs: usize,
        p4: usize,
        w: &Tensor,
        cols: &Tensor,
        s: &Tensor,
        (yw, y_off): (BufferRange<'_>, u32),
    ) -> Result<()> {
        let geo = self.geo;
        let k = im2col_rows(geo);
        let problem = GemmProblem {
            dims: GemmDims {
                batch: 1,
                m: geo.c_out,
                n: p4,
                k,
                a_bs: 0,
                a_rs: k,
                a_cs: 1,
                b_bs: 0,
                b_rs: p4,
                b_cs: 1,
                batched_out: false,
                a_off: 0,
                b_off: 0,
                c_off: 0,
                c_rs: p4,
            },
            bias: if self.bias.is_some() {
                BiasMode::PerRow
            } else {
                BiasMode::None
            },
            activation: self.act,
            precision: self.precision,
        };
        let args = GemmArgs {
            device: self.dev,
            a: w.binding(),
            b: cols.binding(),
            bias: self.bias.map(Tensor::binding),
            c: s.binding(),
        };
        gemm::TABLE.run(self.dev, &problem, None, &args)?;
        let mut params = ConvParams::new(geo, imgs, false);
        params.y_off = y_off;
        params.a[0] = p4 as u32;
        self.dev.dispatch(
            &Kernel::new(OP, self.shader(&CONV_COLUMNS_TO_IMAGES)?, "main"),
            bytemuck::bytes_of(&params),
            &[Binding::Read(s.binding()), Binding::ReadWrite(yw)],
            (imgs * geo.c_out * geo.oh * geo.ow).div_ceil(64) as u64,
        )
    }

    fn winograd(&self) -> Result<()> {
        let geo = self.geo;
        let dtype = self.precision.dtype();
        let per = images_per_chunk(self.dev.limits(), geo, Scratch::Winograd, self.precision)?;
        let sizes = scratch_sizes(geo, Scratch::Winograd, per);
        let u = self.dev.empty(&[sizes[0]], dtype)?;
        let v = self.dev.empty(&[sizes[1]], dtype)?;
        let m = self.dev.empty(&[sizes[2]], dtype)?;
        let flipped = [("FLIPPED", self.flipped as u8 as f64)];
        let v_kernel =
            Kernel::new(OP, self.shader(&CONV_WINOGRAD_WEIGHTS)?, "main").with_constants(&flipped);
        let params = ConvParams::new(geo, 0, false);
        self.dev.dispatch(
            &v_kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(self.w.binding()),
                Binding::ReadWrite(u.binding()),
            ],
            (geo.c_out * geo.c_in).div_ceil(64) as u64,
        )?;
        let constants = self.act.constants();
        let out_kernel =
            Kernel::new(OP, self.shader(&CONV_WINOGRAD_OUTPUT)?, "main").with_constants(&constants);
        let (th, tw) = (geo.oh.div_ceil(2), geo.ow.div_ceil(2));
        self.for_chunks(Scratch::Winograd, |_, imgs, (xw, x_off), (yw, y_off)| {
            let p = imgs * th * tw;
            let p4 = round4(p);
            let mut params = ConvParams::new(geo, imgs, self.bias.is_some());
            params.x_off = x_off;
            params.y_off = y_off;
            params.a[0] = th as u32;
            params.a[1] = tw as u32;
            params.a[2] = p as u32;
            params.a[3] = p4 as u32;
            winograd_transform_into(
                self.dev,
                WinogradSide::Input,
                geo,
                self.precision,
                imgs,
                p4,
                (xw, x_off),
                v.binding(),
            )?;
            let gemm = GemmLaunch {
                groups: 16,
                rows: geo.c_out,
                k: geo.c_in,
                cols: p,
                b_off: 0,
                b_gs: geo.c_in * p4,
                b_ks: p4,
                b_img: p4,
                b_is: 0,
                c_off: 0,
                c_img: p,
                c_is: 0,
                c_ms: p4,
                bias: false,
                act: Activation::None,
            };
            self.gemm(&gemm, u.binding(), v.binding(), m.binding())?;
            self.dev.dispatch(
                &out_kernel,
                bytemuck::bytes_of(&params),
                &[
                    Binding::Read(m.binding()),
                    Binding::Read(self.bias_binding()),
                    Binding::ReadWrite(yw),
                ],
                (geo.c_out * p).div_ceil(64) as u64,
            )
        })
    }

    /// Runs a conv GEMM: by the GEMM table's vector kernels where the layout
    /// is one of theirs (16x16 register blocks: up to twice conv_gemm's FMAs
    /// per load), by conv_gemm.wgsl otherwise.
    fn gemm(
        &self,
        g: &GemmLaunch,
        a: BufferRange<'_>,
        b: BufferRange<'_>,
        c: BufferRange<'_>,
    ) -> Result<()> {
        if let Some(dims) = g.as_batched_gemm() {
            let problem = GemmProblem {
                dims,
                bias: if g.bias {
                    BiasMode::PerRow
                } else {
                    BiasMode::None
                },
                activation: g.act,
                precision: self.precision,
            };
            if g.rows >= 16 && gemm::VEC4_8X8.check(&problem, self.dev.caps()).is_ok() {
                let args = GemmArgs {
                    device: self.dev,
                    a,
                    b,
                    bias: self.bias.map(Tensor::binding),
                    c,
                };
                return gemm::TABLE.run(self.dev, &problem, None, &args);
            }
        }
        let tm = rows_per_invocation(g.rows);
        // Two aligned vec4s per 8 columns: every offset a multiple of 4 and no
        // image boundary inside a quad of columns.
        let (a4, a_whole) = vec4_alias(OP, a, &[self.w, self.x])?;
        let (b4, b_whole) = vec4_alias(OP, b, &[self.w, self.x])?;
        let b_vec4 = b_whole
            && [g.b_off as usize, g.b_gs, g.b_ks, g.b_is, g.b_img]
                .iter()
                .all(|v| v % 4 == 0);
        // A rows as vec4s along k.
        let a_vec4 = a_whole && g.k.is_multiple_of(4);
        let mut constants = vec![
            ("TM", tm as f64),
            ("B_VEC4", b_vec4 as u8 as f64),
            ("A_VEC4", a_vec4 as u8 as f64),
        ];
        constants.extend(g.act.constants());
        let kernel = Kernel::new(OP, self.shader(&CONV_GEMM)?, "main").with_constants(&constants);
        let m_tiles = g.rows.div_ceil(tm);
        let mut params = ConvParams::new(self.geo, 0, g.bias);
        params.groups = g.groups as u32;
        params.cout_g = g.rows as u32;
        params.patch_len = g.k as u32;
        params.x_off = g.b_off;
        params.y_off = g.c_off;
        params.tiles_m = (g.groups * m_tiles) as u32;
        params.tiles_p = g.cols.div_ceil(512) as u32;
        params.a = [
            g.b_gs as u32,
            g.b_ks as u32,
            g.b_img as u32,
            g.b_is as u32,
            g.c_img as u32,
            g.c_is as u32,
            g.c_ms as u32,
            g.cols as u32,
            m_tiles as u32,
            0,
            0,
            0,
        ];
        self.dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(a),
                Binding::Read(a4),
                Binding::Read(b),
                Binding::Read(b4),
                Binding::Read(self.bias_binding()),
                Binding::ReadWrite(c),
            ],
            (params.tiles_m as u64) * (params.tiles_p as u64),
        )
    }
}

/// A launch of the conv GEMM (see `shaders/conv/conv_gemm.wgsl` for the layout).
struct GemmLaunch {
    groups: usize,
    rows: usize,
    k: usize,
    cols: usize,
    b_off: u32,
    b_gs: usize,
    b_ks: usize,
    b_img: usize,
    b_is: usize,
    c_off: u32,
    c_img: usize,
    c_is: usize,
    c_ms: usize,
    bias: bool,
    act: Activation,
}

impl GemmLaunch {
    /// The launch as a batched GEMM of the GEMM table (C contiguous per
    /// batch), where it is one: one group with batches of C's images (im2col
    /// columns or a 1x1 convolution's input), or groups that are plain
    /// batches (Winograd's 16 products, computed over the padded row).
    fn as_batched_gemm(&self) -> Option<GemmDims> {
        let (m, k) = (self.rows, self.k);
        let (batch, n, a_bs, b_bs) = if self.groups == 1 {
            let n = self.c_img;
            let contiguous = self.b_is == 0 && self.b_img >= self.cols;
            let b_bs = if contiguous {
                n
            } else if self.b_img == n {
                self.b_is
            } else {
                return None;
            };
            let whole = n > 0 && self.cols.is_multiple_of(n);
            (whole && self.c_ms == n && self.c_is == m * n).then_some(())?;
            (self.cols / n, n, 0, b_bs)
        } else {
            let plain = self.b_is == 0
                && self.c_is == 0
                && self.b_img >= self.cols
                && self.c_img >= self.cols;
            let n = self.c_ms;
            (plain && n >= self.cols && self.b_ks >= n).then_some(())?;
            (self.groups, n, m * k, self.b_gs)
        };
        Some(GemmDims {
            batch,
            m,
            n,
            k,
            a_bs,
            a_rs: k,
            a_cs: 1,
            b_bs,
            b_rs: self.b_ks,
            b_cs: 1,
            batched_out: true,
            a_off: 0,
            b_off: self.b_off as usize,
            c_off: self.c_off as usize,
            c_rs: n,
        })
    }
}

/// Rows (output channels) per implicit-GEMM invocation: 1, 2, 4, 6 or 8, the
/// smallest covering the group's rows (up to 8). 6 serves layers of 5-6
/// channels (LeNet-5's first layer, its second layer's data gradient) without
/// two padding rows; as a single tile it keeps the weights' vec4 alignment.
fn implicit_rows(rows: usize) -> usize {
    match rows {
        0..=2 => rows.max(1),
        3 | 4 => 4,
        5 | 6 => 6,
        _ => 8,
    }
}

/// Rows (output channels) per invocation: 1, 2, 4 or 8, the smallest covering
/// the group's rows (up to 8), so that small and depthwise groups do not
/// compute padding rows. (Powers of two keep the number of pipelines small.)
fn rows_per_invocation(rows: usize) -> usize {
    rows.clamp(1, 8).next_power_of_two()
}

/// Bytes of the uniform block small f32 weight copies live in
/// (`shaders/conv/implicit_weights_taps_uniform.wgsl`): the smallest maximum
/// uniform binding WebGPU guarantees.
pub(crate) const UNIFORM_TABLE_BYTES: usize = 16 << 10;

/// Where the implicit GEMM reads its weights from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImplicitWeights {
    /// The OIHW tensor itself: one scalar load per row of the block and tap
    /// (blocks of 1 or 2 rows).
    Oihw,
    /// A copy reordered to [groups, K, cpad] (cpad: the group's channels
    /// rounded up to the block's rows), so that 4 rows of a tap are one vec4;
    /// in a [`UNIFORM_TABLE_BYTES`] uniform block when it is f32 and fits.
    Taps { cpad: usize, uniform: bool },
}

impl ImplicitWeights {
    fn of(geo: &Conv2dGeometry, precision: Precision) -> Self {
        let tm = implicit_rows(geo.cout_g());
        if tm < 4 {
            return ImplicitWeights::Oihw;
        }
        // Blocks start at multiples of 4 rows (6 rows come as one tile).
        let cpad = geo.cout_g().div_ceil(tm) * tm.next_power_of_two();
        let uniform = precision == Precision::F32
            && geo.groups * geo.patch_len() * cpad * 4 <= UNIFORM_TABLE_BYTES;
        ImplicitWeights::Taps { cpad, uniform }
    }

    /// Bytes of the copy, as the pool accounts them.
    fn scratch_bytes(self, geo: &Conv2dGeometry, precision: Precision) -> u64 {
        match self {
            ImplicitWeights::Oihw => 0,
            ImplicitWeights::Taps { uniform: true, .. } => UNIFORM_TABLE_BYTES as u64,
            ImplicitWeights::Taps { cpad, .. } => precision
                .dtype()
                .storage_bytes(geo.groups * geo.patch_len() * cpad),
        }
    }
}

/// The (KW_C, SW_C, DW_C) specialisation of the implicit GEMM for a problem:
/// common kernel widths and strides get the row-window form, everything else
/// the generic one (0, 1, 1).
fn implicit_specialisation(geo: &Conv2dGeometry, tn: usize) -> (usize, usize, usize) {
    let (kw, sw, dw) = (geo.kw, geo.stride[1], geo.dilation[1]);
    let window = (tn - 1) * sw + (kw - 1) * dw + 1;
    if matches!(kw, 1 | 3 | 5 | 7) && matches!(sw, 1 | 2) && dw == 1 && window <= 32 {
        (kw, sw, dw)
    } else {
        (0, 1, 1)
    }
}

/// The tuner's shape class of a convolution: kernel, stride, dilation, group
/// structure, and log2 buckets of the channel counts, output size and batch.
pub fn shape_class(geo: &Conv2dGeometry) -> String {
    let groups = if geo.groups == 1 {
        "1".to_string()
    } else if geo.groups == geo.c_in && geo.groups == geo.c_out {
        "dw".to_string()
    } else {
        format!("g{}", tune::bucket(geo.groups))
    };
    format!(
        "k{}x{} s{}x{} d{}x{} g{groups} ci{} co{} hw{} n{}",
        geo.kh,
        geo.kw,
        geo.stride[0],
        geo.stride[1],
        geo.dilation[0],
        geo.dilation[1],
        tune::bucket(geo.c_in),
        tune::bucket(geo.c_out),
        tune::bucket(geo.oh * geo.ow),
        tune::bucket(geo.n)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_invocation_is_a_power_of_two() {
        assert_eq!(rows_per_invocation(0), 1);
        assert_eq!(rows_per_invocation(1), 1);
        assert_eq!(rows_per_invocation(3), 4);
        assert_eq!(rows_per_invocation(8), 8);
        assert_eq!(rows_per_invocation(64), 8);
        assert_eq!(rows_per_invocation(100), 8);
    }

    #[test]
    fn implicit_rows_cover_the_group() {
        let got: Vec<usize> = (0..=9).map(implicit_rows).collect();
        assert_eq!(got, [1, 1, 2, 4, 4, 6, 6, 8, 8, 8]);
    }
}
