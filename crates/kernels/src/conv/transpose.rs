//! Transposed 2-D convolution, PyTorch's `ConvTranspose2d`: x `[N, C_in, H, W]`,
//! weight `[C_in, C_out/groups, KH, KW]` (IOHW), optional bias `[C_out]`, fused
//! activation; output `[N, C_out, OH, OW]` with
//! `OH = (H−1)·stride − 2·padding + dilation·(KH−1) + output_padding + 1`.
//!
//! Each input pixel `(iy, ix)` spreads over the outputs
//! `(iy·sh − ph + ky·dh, ix·sw − pw + kx·dw)`. Every variant (the rows of
//! [`VARIANTS`]) computes each output as a *gather* of the inputs that land on
//! it, so no float atomics are needed and results are deterministic: a direct
//! register-blocked gather, and column GEMMs followed by a col2im gather (their
//! columns within a 4 MiB budget, images in chunks). All accumulate in f32.
//! [`TABLE`]'s automatic choice takes the tuned GEMM's columns wherever they
//! apply and there is work, and the direct gather for depthwise and tiny
//! problems.
//!
//! The same gather kernels compute conv2d's data gradient
//! ([`crate::conv::backward::conv2d_backward_data`]), whose top/left padding may
//! differ from its bottom/right (`padding="same"` with even kernels): the
//! kernels take the top/left offsets and the output size explicitly, so they
//! never need a symmetric `padding`.

use weft_device::{
    Binding, Caps, DType, Device, Error, Kernel, Result, Shader, ShaderFile, Tensor,
};

use super::params::{ConvTranspose2dGeometry, ConvTranspose2dParams, GatherGeometry, GatherParams};
use super::{
    IN2_F16P, IN2_TYPED, TRANSPOSED_PARAMS, channel_block, pixel_block, same_float_dtype,
    typed_shader,
};
use crate::Activation;
use crate::binding::{align_elems, window};
use crate::gemm::{self, BiasMode, GemmArgs, GemmDims, GemmProblem};
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
use crate::shaders::{ACTIVATION, plain, typed, wgsl};
use crate::tune;

const COL2IM_SUM: ShaderFile = wgsl!("conv_transpose/col2im_sum.wgsl");

typed!(
    GATHER,
    [ACTIVATION, TRANSPOSED_PARAMS, IN2_TYPED],
    "conv_transpose/gather.wgsl"
);
plain!(
    GATHER_F16P,
    [ACTIVATION, TRANSPOSED_PARAMS, IN2_F16P],
    "conv_transpose/gather_f16p.wgsl"
);
typed!(
    COLS,
    [TRANSPOSED_PARAMS, IN2_TYPED],
    "conv_transpose/cols.wgsl"
);
typed!(
    TILES,
    [ACTIVATION, TRANSPOSED_PARAMS],
    "conv_transpose/tiles.wgsl"
);
typed!(
    WEIGHTS_ROWS,
    [IN2_TYPED],
    "conv_transpose/weights_rows.wgsl"
);
plain!(
    COLS_F16P,
    [TRANSPOSED_PARAMS, IN2_F16P],
    "conv_transpose/cols.wgsl"
);
typed!(
    COL2IM,
    [ACTIVATION, TRANSPOSED_PARAMS, COL2IM_SUM],
    "conv_transpose/col2im.wgsl"
);
typed!(
    IMAGES_TO_COLUMNS,
    [TRANSPOSED_PARAMS],
    "conv_transpose/images_to_columns.wgsl"
);
plain!(
    COL2IM_F16P,
    [ACTIVATION, TRANSPOSED_PARAMS, COL2IM_SUM],
    "conv_transpose/col2im_f16p.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(
        &[
            &GATHER,
            &COLS,
            &COL2IM,
            &TILES,
            &WEIGHTS_ROWS,
            &IMAGES_TO_COLUMNS,
        ],
        &[&GATHER_F16P, &COLS_F16P, &COL2IM_F16P],
    )
}

/// Columns budget of the column-GEMM variants: at most this many bytes (and
/// never more than the device's storage binding limit).
pub const COLUMNS_BUDGET: u64 = 4 << 20;

/// Options of [`conv_transpose2d`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConvTranspose2dSpec {
    pub params: ConvTranspose2dParams,
    /// Activation fused after the bias.
    pub activation: Activation,
    /// Kernel variant (a row of [`VARIANTS`]); `None`: the tuner's choice or
    /// the default.
    pub variant: Option<&'static ConvTransposeVariant>,
    /// Storage precision; `None` follows the tensors' dtype.
    pub precision: Option<Precision>,
}

/// A transposed convolution as its variants see it: the gather geometry (the
/// transposed convolution itself, or conv2d's data gradient), the epilogue
/// and the precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTranspose2dProblem {
    pub g: GatherGeometry,
    pub bias: bool,
    pub activation: Activation,
    pub precision: Precision,
}

/// The tensors of a launch: the source `[n, c_in, h_in, w_in]`, the weights
/// (IOHW), the bias and the output `[n, c_out, h_out, w_out]`; `op` names the
/// launches.
pub struct ConvTranspose2dArgs<'a> {
    pub op: &'static str,
    pub src: &'a Tensor,
    pub w: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub out: &'a Tensor,
}

impl Problem for ConvTranspose2dProblem {
    type Args<'a> = ConvTranspose2dArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        let g = &self.g;
        format!(
            "k{}x{} s{}x{} d{}x{} g{} ci{} co{} hw{} n{}",
            g.kh,
            g.kw,
            g.stride[0],
            g.stride[1],
            g.dilation[0],
            g.dilation[1],
            tune::bucket(g.groups),
            tune::bucket(g.c_in),
            tune::bucket(g.c_out),
            tune::bucket(g.h_in * g.w_in),
            tune::bucket(g.n)
        )
    }

    fn is_empty(&self) -> bool {
        self.g.out_numel() == 0
    }
}

/// A transposed-convolution variant: a row of [`VARIANTS`].
pub type ConvTransposeVariant = Variant<ConvTranspose2dProblem>;

/// Every transposed-convolution variant, the baseline first.
pub const VARIANTS: &[ConvTransposeVariant] = &[
    Variant {
        name: "direct_gather",
        idea: "one register-blocked gather pass: up to 8 output channels x 4 pixels of one \
               stride residue per invocation, weight loads shared by the workgroup",
        requires: "every problem",
        shaders: &[Source::Typed(&GATHER), Source::Plain(&GATHER_F16P)],
        constants: &[],
        tile: Tile::PerProblem("TC channels (1-8) x 64 segments of TP (1 or 4) pixels"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: registry::no_scratch,
        launch: |_, p, a| launch_gather(p, a),
    },
    Variant {
        name: "gemm_col2im",
        idea: "per chunk of images a register-blocked GEMM cols = Wᵀ·x into f32 columns (one \
               row per output channel and tap), then a col2im gather summing the taps of each \
               output",
        requires: "the f32 columns of one image within the 4 MiB budget",
        shaders: &[
            Source::Typed(&COLS),
            Source::Plain(&COLS_F16P),
            Source::Typed(&COL2IM),
            Source::Plain(&COL2IM_F16P),
        ],
        constants: &[],
        tile: Tile::Block { rows: 32, cols: 32 },
        precisions: registry::ALL_PRECISIONS,
        supports: |p, caps| {
            let per_image = p.g.cols_bytes_per_image();
            let budget = columns_budget(caps);
            registry::require(per_image <= budget, || {
                format!(
                    "the columns of one image take {per_image} bytes, over the {budget}-byte budget"
                )
            })
        },
        scratch: |p, dev| chunk_images(dev.caps(), &p.g) as u64 * p.g.cols_bytes_per_image(),
        launch: |_, p, a| launch_columns(p, a),
    },
    Variant {
        name: "gemm_vec4_col2im",
        idea: "per chunk of images, the columns by the tuned GEMM (weights first copied to \
               row-major [R, C_in]; vec4 loads when C_in and H*W are multiples of 4), then the \
               col2im gather",
        requires: "f32, or native f16 with the merged columns within one binding (the GEMM on \
                   f32 copies); groups 1, one image's columns within the budget",
        shaders: &[
            Source::Typed(&WEIGHTS_ROWS),
            Source::Typed(&COL2IM),
            Source::Typed(&IMAGES_TO_COLUMNS),
        ],
        constants: &[("TILES", 0.0)],
        tile: Tile::PerProblem("the GEMM's tiles, then 64 outputs per workgroup"),
        precisions: registry::TYPED,
        supports: |p, caps| {
            columns_by_gemm(caps, &p.g)?;
            registry::require(
                p.precision == Precision::F32 || merged_columns(caps, &p.g, p.precision).is_some(),
                || "at f16, needs the merged columns within one binding".into(),
            )
        },
        scratch: |p, dev| vec4_scratch(dev.caps(), p, !tiles_exactly(&p.g)),
        launch: launch_vec4,
    },
    Variant {
        name: "gemm_vec4_tiles",
        idea: "stride = kernel (U-Net's up-convolutions): every output takes one tap, so after \
               the vec4 GEMM's columns col2im is a shuffle with a few divisions per input pixel",
        requires: "as gemm_vec4_col2im, and stride = kernel with no padding, dilation 1 and \
                   output = input x kernel",
        shaders: &[Source::Typed(&WEIGHTS_ROWS), Source::Typed(&TILES)],
        constants: &[("TILES", 1.0)],
        tile: Tile::PerProblem("the GEMM's tiles, then 64 input pixels per workgroup"),
        precisions: &[Precision::F32],
        supports: |p, caps| {
            columns_by_gemm(caps, &p.g)?;
            registry::require(tiles_exactly(&p.g), || {
                "needs stride = kernel, no padding, dilation 1, output = input x kernel".into()
            })
        },
        scratch: |p, dev| vec4_scratch(dev.caps(), p, false),
        launch: launch_vec4,
    },
];

pub const DIRECT_GATHER: &ConvTransposeVariant = registry::named(VARIANTS, "direct_gather");
pub const GEMM_COL2IM: &ConvTransposeVariant = registry::named(VARIANTS, "gemm_col2im");
pub const GEMM_VEC4_COL2IM: &ConvTransposeVariant = registry::named(VARIANTS, "gemm_vec4_col2im");
pub const GEMM_VEC4_TILES: &ConvTransposeVariant = registry::named(VARIANTS, "gemm_vec4_tiles");

/// The conv_transpose2d table (also conv2d's data gradient at strides > 1).
pub static TABLE: Table<ConvTranspose2dProblem> = Table {
    op: "conv_transpose2d",
    variants: VARIANTS,
    auto,
};

/// The default choice: the tuned GEMM's columns (f32, one group) wherever
/// there is work, the tile shuffle when stride = kernel; otherwise the
/// register-blocked column GEMM for stride 1 with at least 4 input channels
/// per group and a kernel larger than 1×1, and the direct gather for the rest
/// (depthwise, tiny problems; no scratch). Measured on lavapipe
/// (docs/PERFORMANCE.md).
fn auto(p: &ConvTranspose2dProblem, caps: &Caps) -> &'static ConvTransposeVariant {
    let t = &p.g;
    // Stride equal to the kernel (U-Net's 2x2 up-convolutions): every output
    // takes one tap, so col2im is a shuffle and the column GEMM does all the
    // work.
    let tiles = t.stride == [t.kh, t.kw] && t.dilation == [1, 1];
    if tiles && GEMM_VEC4_TILES.check(p, caps).is_ok() {
        return GEMM_VEC4_TILES;
    }
    // The tuned GEMM's columns beat the gather at every stride once there
    // is some work (conv2d's stride-2 data gradients 2.6-3.3x, LeNet's
    // 5x5 3.8x); on a few kFLOP its extra launches do not pay.
    let flops = 2 * t.n * t.h_in * t.w_in * t.c_in * t.cout_g() * t.kh * t.kw;
    if flops >= 1 << 20 && GEMM_VEC4_COL2IM.check(p, caps).is_ok() {
        return GEMM_VEC4_COL2IM;
    }
    let prefers_gemm = (t.stride == [1, 1] || tiles) && t.cin_g() >= 4 && t.kh * t.kw > 1;
    if prefers_gemm && GEMM_COL2IM.check(p, caps).is_ok() {
        return GEMM_COL2IM;
    }
    DIRECT_GATHER
}

fn columns_budget(caps: &Caps) -> u64 {
    COLUMNS_BUDGET.min(caps.limits.max_storage_buffer_binding_size)
}

/// Images per chunk of the column variants (0 when one does not fit): the
/// columns within the budget, and a chunk of x bound as a window (with room
/// for its alignment) within the binding limit.
fn chunk_images(caps: &Caps, t: &GatherGeometry) -> usize {
    let per_image = t.cols_bytes_per_image().max(1);
    let by_columns = (columns_budget(caps) / per_image) as usize;
    let limit = caps.limits.max_storage_buffer_binding_size;
    let slack = caps.limits.min_storage_buffer_offset_alignment.max(4) as u64;
    let x_image = (t.c_in * t.h_in * t.w_in * 4).max(1) as u64;
    let by_window = (limit.saturating_sub(slack) / x_image) as usize;
    by_columns.min(by_window).min(t.n)
}

/// Bytes of the vec4 forms' temporaries: a chunk's f32 columns and the
/// row-major weights, and with merged columns (`col2im`, where
/// [`merged_columns`] holds) the chunk's input as one matrix.
fn vec4_scratch(caps: &Caps, p: &ConvTranspose2dProblem, col2im: bool) -> u64 {
    let t = &p.g;
    let nc = chunk_images(caps, t);
    let weights = DType::F32.storage_bytes(t.c_out * t.kh * t.kw * t.c_in);
    if col2im && let Some(width) = merged_columns(caps, t, p.precision) {
        return DType::F32.storage_bytes((t.c_out * t.kh * t.kw + t.c_in) * width) + weights;
    }
    nc as u64 * t.cols_bytes_per_image() + weights
}

/// Whether `gemm_vec4_col2im` runs one GEMM over all of a chunk's pixels
/// (`images_to_columns.wgsl` first gathers the chunk's input into one matrix,
/// col2im then reads merged columns) rather than one per image: where one
/// image's H_in*W_in is not a multiple of 4 (the vector GEMM refuses it; the
/// stride-2 data gradient of a 7x7 layer has 49) or fills its 128-column
/// tiles with over 5% waste, and always at f16 (the per-image GEMM reads x
/// itself, the merged one an f32 copy); and both matrices of the largest
/// chunk fit one binding. Returns that chunk's width.
fn merged_columns(caps: &Caps, t: &GatherGeometry, precision: Precision) -> Option<usize> {
    let plane = t.h_in * t.w_in;
    let pays = plane > 0
        && (precision != Precision::F32
            || !plane.is_multiple_of(4)
            || plane.div_ceil(128) * 128 * 20 > plane * 21);
    let width = merged_width(t, chunk_images(caps, t).max(1));
    let widest = (t.c_out * t.kh * t.kw).max(t.c_in) * width;
    let fits = DType::F32.storage_bytes(widest) <= caps.limits.max_storage_buffer_binding_size;
    (pays && fits).then_some(width)
}

/// The merged columns' width for a chunk of `images`: a multiple of 4.
fn merged_width(t: &GatherGeometry, images: usize) -> usize {
    (images * t.h_in * t.w_in).div_ceil(4) * 4
}

/// y = act(conv_transpose2d(x, w) + bias), into a new tensor.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &ConvTranspose2dSpec,
) -> Result<Tensor> {
    let geo = check(x, w, bias, spec)?;
    let y = x.device().empty(&geo.out_shape(), x.dtype())?;
    conv_transpose2d_into(x, w, bias, spec, &y)?;
    Ok(y)
}

/// [`conv_transpose2d`] into an existing output tensor of the right shape and dtype.
pub fn conv_transpose2d_into(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &ConvTranspose2dSpec,
    out: &Tensor,
) -> Result<()> {
    const OP: &str = "conv_transpose2d";
    let dev = x.device();
    let geo = check(x, w, bias, spec)?;
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    crate::check_output(OP, out, &geo.out_shape(), x.dtype(), &inputs)?;
    let problem = ConvTranspose2dProblem {
        g: GatherGeometry::transposed(&geo),
        bias: bias.is_some(),
        activation: spec.activation,
        precision: Precision::resolve(OP, dev, x.dtype(), spec.precision)?,
    };
    let args = ConvTranspose2dArgs {
        op: OP,
        src: x,
        w,
        bias,
        out,
    };
    TABLE.run(dev, &problem, spec.variant, &args)
}

/// Validates dtypes, shapes and hyper-parameters.
fn check(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &ConvTranspose2dSpec,
) -> Result<ConvTranspose2dGeometry> {
    const OP: &str = "conv_transpose2d";
    same_float_dtype(OP, "x", x, "weight", w)?;
    let geo = ConvTranspose2dGeometry::new(OP, x.shape(), w.shape(), &spec.params)?;
    if let Some(b) = bias
        && (b.shape() != [geo.c_out] || b.dtype() != x.dtype())
    {
        return Err(Error::shape(
            OP,
            format!(
                "bias: expected [{}] {}, got {:?} {}",
                geo.c_out,
                x.dtype(),
                b.shape(),
                b.dtype()
            ),
        ));
    }
    Ok(geo)
}

fn constants(activation: Activation, bias: bool) -> Vec<(&'static str, f64)> {
    let mut c = activation.constants().to_vec();
    c.push(("BIAS", if bias { 1.0 } else { 0.0 }));
    c
}

/// Launches `col2im.wgsl` (f32 / native f16) over `count` images from
/// `params`: one invocation per run of `RUN` (8) outputs along a row.
fn col2im_by_runs(
    dev: &Device,
    kernel: &Kernel<'_>,
    params: &GatherParams,
    t: &GatherGeometry,
    count: usize,
    bindings: &[Binding<'_>],
) -> Result<()> {
    const RUN: usize = 8;
    let segs = t.w_out.div_ceil(RUN);
    let p = GatherParams {
        segs: segs as u32,
        ..*params
    };
    let runs = count * t.c_out * t.h_out * segs;
    dev.dispatch(
        kernel,
        bytemuck::bytes_of(&p),
        bindings,
        runs.div_ceil(64) as u64,
    )
}

/// [`constants`] of the col2im kernels, with the strides specialised.
fn col2im_constants(
    t: &GatherGeometry,
    activation: Activation,
    bias: bool,
) -> Vec<(&'static str, f64)> {
    let mut c = constants(activation, bias);
    c.push(("STRIDE_H", t.stride[0] as f64));
    c.push(("STRIDE_W", t.stride[1] as f64));
    c
}

/// `direct_gather`.
fn launch_gather(p: &ConvTranspose2dProblem, a: &ConvTranspose2dArgs<'_>) -> Result<()> {
    let t = &p.g;
    if t.out_numel() == 0 {
        return Ok(());
    }
    let dev = a.src.device();
    let mut params = t.params();
    let mut constants = constants(p.activation, a.bias.is_some());
    let (shader, workgroups) = match p.precision {
        Precision::F16Packed => (&GATHER_F16P, t.out_numel().div_ceil(2).div_ceil(64)),
        prec => {
            let tc = channel_block(t.cout_g());
            let tp = pixel_block(t.w_out);
            params.oc_blocks = t.cout_g().div_ceil(tc) as u32;
            // Per stride residue class: rows, and segments of TP pixels per row.
            let rows = t.h_out.div_ceil(t.stride[0]);
            params.segs = t.w_out.div_ceil(t.stride[1]).div_ceil(tp) as u32;
            params.tiles_r = rows as u32;
            let plane_items = t.stride[0] * t.stride[1] * rows * params.segs as usize;
            params.tiles_p = plane_items.div_ceil(64) as u32;
            constants.push(("TC", tc as f64));
            constants.push(("TP", tp as f64));
            let workgroups = t.n * t.groups * params.oc_blocks as usize * params.tiles_p as usize;
            (typed_shader(&GATHER, prec), workgroups)
        }
    };
    let kernel = Kernel::new(a.op, shader, "main").with_constants(&constants);
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(a.src.binding()),
            Binding::Read(a.w.binding()),
            Binding::Read(a.bias.unwrap_or(a.src).binding()),
            Binding::ReadWrite(a.out.binding()),
        ],
        workgroups as u64,
    )
}

/// `gemm_col2im`: per chunk of images, the column kernel then col2im.
fn launch_columns(p: &ConvTranspose2dProblem, a: &ConvTranspose2dArgs<'_>) -> Result<()> {
    let t = &p.g;
    if t.out_numel() == 0 {
        return Ok(());
    }
    let dev = a.src.device();
    let nc = chunk_images(dev.caps(), t);
    let rows = t.cout_g() * t.kh * t.kw;
    let plane = t.h_in * t.w_in;
    let cols = dev.empty(&[nc * t.groups * rows * plane], DType::F32)?;
    let (cols_shader, col2im_shader) = match p.precision {
        Precision::F16Packed => (&COLS_F16P, &COL2IM_F16P),
        prec => (typed_shader(&COLS, prec), typed_shader(&COL2IM, prec)),
    };
    let gemm = Kernel::new(a.op, cols_shader, "main");
    let constants = col2im_constants(t, p.activation, a.bias.is_some());
    let col2im = Kernel::new(a.op, col2im_shader, "main").with_constants(&constants);
    let per_image_out = t.c_out * t.h_out * t.w_out;
    let mut params = t.params();
    params.tiles_r = rows.div_ceil(32) as u32;
    params.tiles_p = plane.div_ceil(32) as u32;
    for n0 in (0..t.n).step_by(nc) {
        let count = nc.min(t.n - n0);
        params.n0 = n0 as u32;
        params.nc = count as u32;
        let tiles = count * t.groups * params.tiles_r as usize * params.tiles_p as usize;
        dev.dispatch(
            &gemm,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(a.src.binding()),
                Binding::Read(a.w.binding()),
                Binding::ReadWrite(cols.binding()),
            ],
            tiles as u64,
        )?;
        let bindings = [
            Binding::Read(cols.binding()),
            Binding::Read(a.bias.unwrap_or(a.w).binding()),
            Binding::ReadWrite(a.out.binding()),
        ];
        if p.precision == Precision::F16Packed {
            let s = n0 * per_image_out;
            let words = (s + count * per_image_out).div_ceil(2) - s / 2;
            dev.dispatch(
                &col2im,
                bytemuck::bytes_of(&params),
                &bindings,
                words.div_ceil(64) as u64,
            )?;
        } else {
            col2im_by_runs(dev, &col2im, &params, t, count, &bindings)?;
        }
    }
    Ok(())
}

/// `gemm_vec4_col2im` and `gemm_vec4_tiles` (the row's `TILES` constant):
/// per chunk of images, the columns `W_rows · x` by the tuned GEMM (x's
/// chunk as an offset into its binding), then col2im or the tile shuffle.
fn launch_vec4(
    v: &ConvTransposeVariant,
    p: &ConvTranspose2dProblem,
    a: &ConvTranspose2dArgs<'_>,
) -> Result<()> {
    let t = &p.g;
    if t.out_numel() == 0 {
        return Ok(());
    }
    let dev = a.src.device();
    let rows = t.cout_g() * t.kh * t.kw;
    let plane = t.h_in * t.w_in;
    let nc = chunk_images(dev.caps(), t).max(1);
    let tiles = v.constant("TILES") == Some(1.0);
    if !tiles && let Some(width) = merged_columns(dev.caps(), t, p.precision) {
        return launch_vec4_merged(p, a, nc, width);
    }
    let cols = dev.empty(&[nc * rows * plane], DType::F32)?;
    let w_rows = dev.empty(&[rows, t.c_in], DType::F32)?;
    weights_rows(a.op, p.precision, t, a.w, &w_rows)?;
    let constants = if tiles {
        constants(p.activation, a.bias.is_some())
    } else {
        col2im_constants(t, p.activation, a.bias.is_some())
    };
    let shader = if tiles { &TILES } else { &COL2IM };
    let col2im =
        Kernel::new(a.op, typed_shader(shader, p.precision), "main").with_constants(&constants);
    let mut params = t.params();
    let align = align_elems(dev.limits(), DType::F32);
    for n0 in (0..t.n).step_by(nc) {
        let count = nc.min(t.n - n0);
        // The chunk's images of x as a window of its buffer.
        let (xw, x_off) = window(a.src, n0 * t.c_in * plane, count * t.c_in * plane, align)?;
        let problem = GemmProblem {
            dims: GemmDims {
                batch: count,
                m: rows,
                n: plane,
                k: t.c_in,
                a_bs: 0,
                a_rs: t.c_in,
                a_cs: 1,
                b_bs: t.c_in * plane,
                b_rs: plane,
                b_cs: 1,
                batched_out: true,
                a_off: 0,
                b_off: x_off as usize,
                c_off: 0,
                c_rs: plane,
            },
            bias: BiasMode::None,
            activation: Activation::None,
            precision: p.precision,
        };
        let args = GemmArgs {
            b: xw,
            ..GemmArgs::tensors(&w_rows, a.src, None, &cols)
        };
        gemm::TABLE.run(dev, &problem, None, &args)?;
        params.n0 = n0 as u32;
        params.nc = count as u32;
        let bindings = [
            Binding::Read(cols.binding()),
            Binding::Read(a.bias.unwrap_or(a.w).binding()),
            Binding::ReadWrite(a.out.binding()),
        ];
        if tiles {
            let units = count * t.c_out * plane;
            dev.dispatch(
                &col2im,
                bytemuck::bytes_of(&params),
                &bindings,
                units.div_ceil(64) as u64,
            )?;
        } else {
            col2im_by_runs(dev, &col2im, &params, t, count, &bindings)?;
        }
    }
    Ok(())
}

/// `gemm_vec4_col2im` with merged columns (see [`merged_columns`]): per chunk
/// of `nc` images the input gathered into one matrix `[C_in, width]`, one
/// GEMM `W_rows · xm` into `[R, width]`, then col2im over the merged layout.
fn launch_vec4_merged(
    p: &ConvTranspose2dProblem,
    a: &ConvTranspose2dArgs<'_>,
    nc: usize,
    width: usize,
) -> Result<()> {
    let t = &p.g;
    let dev = a.src.device();
    let rows = t.cout_g() * t.kh * t.kw;
    let plane = t.h_in * t.w_in;
    let cols = dev.empty(&[rows * width], DType::F32)?;
    let xm = dev.empty(&[t.c_in * width], DType::F32)?;
    let w_rows = dev.empty(&[rows, t.c_in], DType::F32)?;
    weights_rows(a.op, p.precision, t, a.w, &w_rows)?;
    let gather = Kernel::new(a.op, typed_shader(&IMAGES_TO_COLUMNS, p.precision), "main");
    let constants = col2im_constants(t, p.activation, a.bias.is_some());
    let col2im =
        Kernel::new(a.op, typed_shader(&COL2IM, p.precision), "main").with_constants(&constants);
    let mut params = t.params();
    let align = align_elems(dev.limits(), a.src.dtype());
    for n0 in (0..t.n).step_by(nc) {
        let count = nc.min(t.n - n0);
        let w = merged_width(t, count);
        let (xw, x_off) = window(a.src, n0 * t.c_in * plane, count * t.c_in * plane, align)?;
        params.n0 = n0 as u32;
        params.nc = count as u32;
        params.x_off = x_off;
        params.col_is = plane as u32;
        params.col_rs = w as u32;
        dev.dispatch(
            &gather,
            bytemuck::bytes_of(&params),
            &[Binding::Read(xw), Binding::ReadWrite(xm.binding())],
            (t.c_in * w.div_ceil(8)).div_ceil(64) as u64,
        )?;
        let problem = GemmProblem {
            dims: GemmDims {
                batch: 1,
                m: rows,
                n: w,
                k: t.c_in,
                a_bs: 0,
                a_rs: t.c_in,
                a_cs: 1,
                b_bs: 0,
                b_rs: w,
                b_cs: 1,
                batched_out: false,
                a_off: 0,
                b_off: 0,
                c_off: 0,
                c_rs: w,
            },
            bias: BiasMode::None,
            activation: Activation::None,
            precision: Precision::F32,
        };
        gemm::TABLE.run(
            dev,
            &problem,
            None,
            &GemmArgs::tensors(&w_rows, &xm, None, &cols),
        )?;
        let bindings = [
            Binding::Read(cols.binding()),
            Binding::Read(a.bias.unwrap_or(a.w).binding()),
            Binding::ReadWrite(a.out.binding()),
        ];
        col2im_by_runs(dev, &col2im, &params, t, count, &bindings)?;
    }
    Ok(())
}

/// Whether the tuned GEMM can compute the columns chunk by chunk: one group,
/// one image within the columns budget. (f32 is the row's precision; the
/// GEMM takes vec4 loads where C_in and H·W are multiples of 4.)
fn columns_by_gemm(caps: &Caps, t: &GatherGeometry) -> Result<(), Unsupported> {
    registry::require(t.groups == 1, || {
        format!("needs groups = 1, got {}", t.groups)
    })?;
    registry::require(chunk_images(caps, t) >= 1 || t.n == 0, || {
        format!(
            "the columns of one image ({} bytes) exceed the budget",
            t.cols_bytes_per_image()
        )
    })
}

/// Whether the outputs tile exactly, one tap each (stride = kernel, no
/// padding or dilation, output = input × kernel, one group).
fn tiles_exactly(t: &GatherGeometry) -> bool {
    t.groups == 1
        && t.stride == [t.kh, t.kw]
        && t.dilation == [1, 1]
        && t.pad == [0, 0]
        && t.h_out == t.h_in * t.kh
        && t.w_out == t.w_in * t.kw
}

/// The weights `[C_in, R]` as row-major `[R, C_in]` (f32, groups = 1).
fn weights_rows(
    op: &str,
    precision: Precision,
    t: &GatherGeometry,
    w: &Tensor,
    w_rows: &Tensor,
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct RowsParams {
        n: u32,
        c_in: u32,
        rows: u32,
        _pad: u32,
    }
    let rows = t.c_out * t.kh * t.kw;
    let n = rows * t.c_in;
    let params = RowsParams {
        n: n as u32,
        c_in: t.c_in as u32,
        rows: rows as u32,
        _pad: 0,
    };
    w.device().dispatch(
        &Kernel::new(op, typed_shader(&WEIGHTS_ROWS, precision), "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(w.binding()),
            Binding::Read(w.binding()),
            Binding::ReadWrite(w_rows.binding()),
        ],
        // 16 x 16 blocks.
        (rows.div_ceil(16) * t.c_in.div_ceil(16)).div_ceil(64) as u64,
    )
}
