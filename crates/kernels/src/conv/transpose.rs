//! Transposed 2-D convolution, PyTorch's `ConvTranspose2d`: x `[N, C_in, H, W]`,
//! weight `[C_in, C_out/groups, KH, KW]` (IOHW), optional bias `[C_out]`, fused
//! activation; output `[N, C_out, OH, OW]` with
//! `OH = (H−1)·stride − 2·padding + dilation·(KH−1) + output_padding + 1`.
//!
//! Each input pixel `(iy, ix)` spreads over the outputs
//! `(iy·sh − ph + ky·dh, ix·sw − pw + kx·dw)`. Both variants compute every output
//! as a *gather* of the inputs that land on it, so no float atomics are needed
//! and results are deterministic:
//!
//! | variant | idea |
//! |---|---|
//! | `gemm_col2im` | per chunk of images, a register-blocked GEMM `cols = Wᵀ·x` (f32 columns, one row per (output channel, tap)), then a col2im gather summing the taps that land on each output; chunks keep the columns under the binding limit and a 4 MiB budget ([`scratch_bytes`]). In f32 with one group, one chunk and C_in, H·W multiples of 4, the columns come from the tuned vec4 GEMM ([`crate::gemm`], weights first copied to row-major `[R, C_in]`), and where the stride equals the kernel (U-Net's up-convolutions) col2im is a shuffle with a few divisions per input pixel |
//! | `direct_gather` | one pass: each invocation gathers a block of up to 8 output channels × 4 pixels (same stride residue) straight from x and w; workgroups share their weight loads and take one stride-residue class of outputs at a time; a packed-f16 form owns one output word per invocation |
//!
//! Both variants have f32, native-f16 and packed-f16 forms, all accumulating
//! in f32. [`ConvTransposeVariant::auto`] takes the column GEMM at stride 1
//! or stride equal to the kernel (with ≥ 4 input channels per group and a
//! kernel larger than 1×1) and the direct gather otherwise.
//!
//! The same gather kernels compute conv2d's data gradient
//! ([`crate::conv::backward::conv2d_backward_data`]), whose top/left padding may
//! differ from its bottom/right (`padding="same"` with even kernels): the
//! kernels take the top/left offsets and the output size explicitly, so they
//! never need a symmetric `padding`.

use weft_device::{Binding, DType, Device, Error, Kernel, Result, Shader, ShaderFile, Tensor};

use super::params::{ConvTranspose2dGeometry, ConvTranspose2dParams, GatherGeometry};
use super::{
    IN2_F16P, IN2_TYPED, OUT3_TYPED, TRANSPOSED_PARAMS, channel_block, pixel_block,
    same_float_dtype, typed_shader,
};
use crate::Activation;
use crate::gemm::{self, GemmSpec};
use crate::precision::Precision;
use crate::shaders::{ACTIVATION, plain, typed, wgsl};

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
    [IN2_TYPED, OUT3_TYPED],
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
plain!(
    COL2IM_F16P,
    [ACTIVATION, TRANSPOSED_PARAMS, COL2IM_SUM],
    "conv_transpose/col2im_f16p.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(
        &[&GATHER, &COLS, &COL2IM, &TILES, &WEIGHTS_ROWS],
        &[&GATHER_F16P, &COLS_F16P, &COL2IM_F16P],
    )
}

/// Columns budget of [`ConvTransposeVariant::GemmCol2im`]: at most this many
/// bytes (and never more than the device's storage binding limit).
pub const COLUMNS_BUDGET: u64 = 4 << 20;

/// Options of [`conv_transpose2d`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConvTranspose2dSpec {
    pub params: ConvTranspose2dParams,
    /// Activation fused after the bias.
    pub activation: Activation,
    /// Kernel variant; `None` picks [`ConvTransposeVariant::auto`].
    pub variant: Option<ConvTransposeVariant>,
    /// Storage precision; `None` follows the tensors' dtype.
    pub precision: Option<Precision>,
}

/// A transposed-convolution kernel variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvTransposeVariant {
    /// GEMM into f32 columns, then a col2im gather; images in chunks.
    GemmCol2im,
    /// One register-blocked gather pass.
    DirectGather,
}

impl ConvTransposeVariant {
    /// Every variant, baseline first.
    pub const ALL: [ConvTransposeVariant; 2] = [
        ConvTransposeVariant::GemmCol2im,
        ConvTransposeVariant::DirectGather,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConvTransposeVariant::GemmCol2im => "gemm_col2im",
            ConvTransposeVariant::DirectGather => "direct_gather",
        }
    }

    pub fn from_name(name: &str) -> Option<ConvTransposeVariant> {
        ConvTransposeVariant::ALL
            .into_iter()
            .find(|v| v.name() == name)
    }

    /// Why this variant cannot run `geo` at `precision` on `dev`, if it cannot.
    pub fn unsupported(
        self,
        dev: &Device,
        geo: &ConvTranspose2dGeometry,
        precision: Precision,
    ) -> Option<String> {
        self.unsupported_for(dev, &GatherGeometry::transposed(geo), precision)
    }

    pub(crate) fn unsupported_for(
        self,
        dev: &Device,
        t: &GatherGeometry,
        _precision: Precision,
    ) -> Option<String> {
        match self {
            ConvTransposeVariant::DirectGather => None,
            ConvTransposeVariant::GemmCol2im => {
                let per_image = t.cols_bytes_per_image();
                let budget = columns_budget(dev);
                (per_image > budget).then(|| {
                    format!(
                        "the columns of one image take {per_image} bytes, over the {budget}-byte budget"
                    )
                })
            }
        }
    }

    /// The default choice for a problem: the column GEMM for stride 1 or
    /// stride equal to the kernel, with at least 4 input channels per group
    /// and a kernel larger than 1×1 (where its register blocks pay for the
    /// extra pass), the direct gather otherwise (other strides, depthwise,
    /// 1×1; no scratch). Measured on lavapipe (docs/PERFORMANCE.md).
    pub fn auto(dev: &Device, geo: &ConvTranspose2dGeometry, precision: Precision) -> Self {
        Self::auto_for(dev, &GatherGeometry::transposed(geo), precision)
    }

    pub(crate) fn auto_for(dev: &Device, t: &GatherGeometry, precision: Precision) -> Self {
        let gemm = ConvTransposeVariant::GemmCol2im;
        // Stride equal to the kernel (U-Net's 2x2 up-convolutions): every
        // output takes one tap, so col2im is a shuffle and the column GEMM
        // does all the work.
        let tiles = t.stride == [t.kh, t.kw] && t.dilation == [1, 1];
        let prefers_gemm = (t.stride == [1, 1] || tiles) && t.cin_g() >= 4 && t.kh * t.kw > 1;
        if prefers_gemm && gemm.unsupported_for(dev, t, precision).is_none() {
            gemm
        } else {
            ConvTransposeVariant::DirectGather
        }
    }
}

fn columns_budget(dev: &Device) -> u64 {
    COLUMNS_BUDGET.min(dev.limits().max_storage_buffer_binding_size)
}

/// Images per chunk of the GEMM + col2im variant (0 when one does not fit).
fn chunk_images(dev: &Device, t: &GatherGeometry) -> usize {
    let per_image = t.cols_bytes_per_image();
    ((columns_budget(dev) / per_image) as usize).min(t.n)
}

/// Peak bytes of temporary buffers [`conv_transpose2d`] allocates for `geo`
/// with `variant`: the f32 columns of one chunk for `gemm_col2im` (0 when it
/// cannot run the problem), 0 for `direct_gather`.
pub fn scratch_bytes(
    dev: &Device,
    geo: &ConvTranspose2dGeometry,
    variant: ConvTransposeVariant,
    precision: Precision,
) -> u64 {
    scratch_bytes_for(dev, &GatherGeometry::transposed(geo), variant, precision)
}

pub(crate) fn scratch_bytes_for(
    dev: &Device,
    t: &GatherGeometry,
    variant: ConvTransposeVariant,
    precision: Precision,
) -> u64 {
    match variant {
        ConvTransposeVariant::DirectGather => 0,
        ConvTransposeVariant::GemmCol2im => {
            let chunk = chunk_images(dev, t);
            let cols = chunk as u64 * t.cols_bytes_per_image();
            let w_rows = if columns_by_gemm(t, precision, chunk) {
                DType::F32.storage_bytes(t.c_out * t.kh * t.kw * t.c_in)
            } else {
                0
            };
            cols + w_rows
        }
    }
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
    let precision = Precision::resolve(OP, dev, x.dtype(), spec.precision)?;
    let t = GatherGeometry::transposed(&geo);
    let variant = spec
        .variant
        .unwrap_or_else(|| ConvTransposeVariant::auto_for(dev, &t, precision));
    if let Some(why) = variant.unsupported_for(dev, &t, precision) {
        return Err(Error::invalid(
            OP,
            "variant",
            format!("{} cannot run this problem: {why}", variant.name()),
        ));
    }
    launch(OP, &t, x, w, bias, spec.activation, variant, precision, out)
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

/// Runs a validated transposed convolution `src → out` with `variant`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    op: &str,
    t: &GatherGeometry,
    src: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    activation: Activation,
    variant: ConvTransposeVariant,
    precision: Precision,
    out: &Tensor,
) -> Result<()> {
    if t.out_numel() == 0 {
        return Ok(());
    }
    match variant {
        ConvTransposeVariant::DirectGather => {
            launch_gather(op, t, src, w, bias, activation, precision, out)
        }
        ConvTransposeVariant::GemmCol2im => {
            launch_gemm_col2im(op, t, src, w, bias, activation, precision, out)
        }
    }
}

fn constants(activation: Activation, bias: bool) -> Vec<(&'static str, f64)> {
    let mut c = activation.constants().to_vec();
    c.push(("BIAS", if bias { 1.0 } else { 0.0 }));
    c
}

#[allow(clippy::too_many_arguments)]
fn launch_gather(
    op: &str,
    t: &GatherGeometry,
    src: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    activation: Activation,
    precision: Precision,
    out: &Tensor,
) -> Result<()> {
    let dev = src.device();
    let mut params = t.params();
    let mut constants = constants(activation, bias.is_some());
    let (shader, workgroups) = match precision {
        Precision::F16Packed => (&GATHER_F16P, t.out_numel().div_ceil(2).div_ceil(64)),
        p => {
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
            (typed_shader(&GATHER, p), workgroups)
        }
    };
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(src.binding()),
            Binding::Read(w.binding()),
            Binding::Read(bias.unwrap_or(src).binding()),
            Binding::ReadWrite(out.binding()),
        ],
        workgroups as u64,
    )
}

#[allow(clippy::too_many_arguments)]
fn launch_gemm_col2im(
    op: &str,
    t: &GatherGeometry,
    src: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    activation: Activation,
    precision: Precision,
    out: &Tensor,
) -> Result<()> {
    let dev = src.device();
    let nc = chunk_images(dev, t);
    if nc == 0 {
        return Err(Error::invalid(
            op,
            "variant",
            "gemm_col2im: the columns of one image exceed the budget",
        ));
    }
    let rows = t.cout_g() * t.kh * t.kw;
    let plane = t.h_in * t.w_in;
    let cols = dev.empty(&[nc * t.groups * rows * plane], DType::F32)?;
    if columns_by_gemm(t, precision, nc) {
        // cols = W_rows . x for all images at once, by the tuned GEMM.
        let w_rows = dev.empty(&[rows, t.c_in], DType::F32)?;
        weights_rows(op, t, w, &w_rows)?;
        let spec = GemmSpec {
            precision: Some(precision),
            ..Default::default()
        };
        gemm::gemm_into(
            &w_rows,
            &src.reshape(&[t.n, t.c_in, plane])?,
            None,
            &spec,
            &cols.reshape(&[t.n, rows, plane])?,
        )?;
        let constants = constants(activation, bias.is_some());
        let (shader, units) = if tiles_exactly(t) {
            (&TILES, t.n * t.c_out * plane)
        } else {
            (&COL2IM, out.numel())
        };
        let col2im =
            Kernel::new(op, typed_shader(shader, precision), "main").with_constants(&constants);
        let mut params = t.params();
        params.n0 = 0;
        params.nc = t.n as u32;
        return dev.dispatch(
            &col2im,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(cols.binding()),
                Binding::Read(bias.unwrap_or(w).binding()),
                Binding::ReadWrite(out.binding()),
            ],
            units.div_ceil(64) as u64,
        );
    }
    let (cols_shader, col2im_shader) = match precision {
        Precision::F16Packed => (&COLS_F16P, &COL2IM_F16P),
        p => (typed_shader(&COLS, p), typed_shader(&COL2IM, p)),
    };
    let gemm = Kernel::new(op, cols_shader, "main");
    let constants = constants(activation, bias.is_some());
    let col2im = Kernel::new(op, col2im_shader, "main").with_constants(&constants);
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
                Binding::Read(src.binding()),
                Binding::Read(w.binding()),
                Binding::ReadWrite(cols.binding()),
            ],
            tiles as u64,
        )?;
        let units = match precision {
            Precision::F16Packed => {
                let s = n0 * per_image_out;
                let e = s + count * per_image_out;
                e.div_ceil(2) - s / 2
            }
            _ => count * per_image_out,
        };
        dev.dispatch(
            &col2im,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(cols.binding()),
                Binding::Read(bias.unwrap_or(w).binding()),
                Binding::ReadWrite(out.binding()),
            ],
            units.div_ceil(64) as u64,
        )?;
    }
    Ok(())
}

/// Whether `gemm_col2im` computes its columns with the tuned GEMM (vec4 loads
/// of row-major operands) rather than its own column kernel: f32, one group,
/// every image in one chunk, C_in and H·W multiples of 4.
fn columns_by_gemm(t: &GatherGeometry, precision: Precision, chunk: usize) -> bool {
    precision == Precision::F32
        && t.groups == 1
        && chunk == t.n
        && t.c_in.is_multiple_of(4)
        && (t.h_in * t.w_in).is_multiple_of(4)
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
fn weights_rows(op: &str, t: &GatherGeometry, w: &Tensor, w_rows: &Tensor) -> Result<()> {
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
        &Kernel::new(op, typed_shader(&WEIGHTS_ROWS, Precision::F32), "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(w.binding()),
            Binding::Read(w.binding()),
            Binding::ReadWrite(w_rows.binding()),
        ],
        n.div_ceil(64) as u64,
    )
}
