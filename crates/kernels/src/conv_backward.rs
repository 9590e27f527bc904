//! Gradients of `y = conv2d(x, w) + b` and of `y = conv_transpose2d(x, w) + b`,
//! with PyTorch's semantics. Activation gradients are applied by the caller
//! (to `dy`) before these.
//!
//! | gradient | kernel |
//! |---|---|
//! | conv2d dx, stride 1 | a forward convolution of dy with the 180°-rotated, channel-swapped weights and padding d·(K−1) − pad ([`crate::conv`]'s implicit GEMM or im2col, whichever `auto` picks; never Winograd) |
//! | conv2d dx, otherwise | the transposed convolution of dy with w, offset by the conv's top/left padding (asymmetric `same` padding included): [`crate::conv_transpose`]'s gather kernels, variant chosen by [`ConvTransposeVariant::auto`] |
//! | conv_transpose2d dx | the direct convolution of dy with w read as OIHW (`conv_direct`, register-blocked up to 8 channels × 4 pixels, weight loads shared by the workgroup) |
//! | dw (both) | one implicit GEMM over K = N·H·W (im2col gathered on the fly, rows shared by the workgroup) with the reduction split over workgroups (f32 partial sums, added in order by a finalize pass) and inside them (fixed-order workgroup sum) |
//! | db | one workgroup per channel pair, strided f32 sums then a fixed tree |
//!
//! Every kernel gathers: no float atomics, one summation order, deterministic
//! results. Sums accumulate in f32 at every precision, so f16 data whose partial
//! sums pass 65504 still give finite, correct gradients. Parameter gradients
//! come out in the dtype of `dy`. Every gradient has f32, native-f16 and
//! packed-f16 forms, and an `_into` form writing a given tensor.
//! [`conv2d_backward_scratch_bytes`] and [`conv_transpose2d_backward_scratch_bytes`]
//! give the exact temporary memory (column chunks, split partial sums).

use weft_device::{Binding, DType, Device, Error, Kernel, Result, Shader, ShaderFile, Tensor};

use crate::Activation;
use crate::conv::{self, ConvVariant};
use crate::conv_params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams,
};
use crate::conv_transpose::{
    self, CONV_PARAMS, ConvProblem, ConvTransposeVariant, channel_block, pixel_block,
    same_float_dtype, typed_shader,
};
use crate::precision::Precision;
use crate::shaders::{plain, typed, wgsl};

/// Loads of two T inputs at bindings 1 and 2 (`ld_a`, `ld_b`).
pub(crate) const IN2_TYPED: ShaderFile = wgsl!("conv_backward/in2_typed.wgsl");
/// Loads of two packed-f16 inputs at bindings 1 and 2 (`ld_a`, `ld_b`).
pub(crate) const IN2_F16P: ShaderFile = wgsl!("conv_backward/in2_f16p.wgsl");
pub(crate) const OUT3_TYPED: ShaderFile = wgsl!("conv_backward/out3_typed.wgsl");
const OUT3_F16P: ShaderFile = wgsl!("conv_backward/out3_f16p.wgsl");

typed!(
    CONV_DIRECT,
    [CONV_PARAMS, IN2_TYPED],
    "conv_backward/conv_direct.wgsl"
);
plain!(
    CONV_DIRECT_F16P,
    [CONV_PARAMS, IN2_F16P],
    "conv_backward/conv_direct_f16p.wgsl"
);
const DW_PARAMS: ShaderFile = wgsl!("conv_backward/dw_params.wgsl");
typed!(DW, [IN2_TYPED, DW_PARAMS], "conv_backward/dw.wgsl");
plain!(DW_F16P, [IN2_F16P, DW_PARAMS], "conv_backward/dw.wgsl");
typed!(
    DW_WINDOW,
    [IN2_TYPED, DW_PARAMS],
    "conv_backward/dw_window.wgsl"
);
plain!(
    DW_WINDOW_F16P,
    [IN2_F16P, DW_PARAMS],
    "conv_backward/dw_window.wgsl"
);
typed!(DW_FINALIZE, [OUT3_TYPED], "conv_backward/dw_finalize.wgsl");
plain!(
    DW_FINALIZE_F16P,
    [OUT3_F16P],
    "conv_backward/dw_finalize.wgsl"
);
typed!(DB, [IN2_TYPED, OUT3_TYPED], "conv_backward/db.wgsl");
typed!(
    FLIP_WEIGHTS,
    [IN2_TYPED, OUT3_TYPED],
    "conv_backward/flip_weights.wgsl"
);
plain!(DB_F16P, [IN2_F16P, OUT3_F16P], "conv_backward/db.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(
        &[
            &CONV_DIRECT,
            &DW,
            &DW_WINDOW,
            &DW_FINALIZE,
            &DB,
            &FLIP_WEIGHTS,
        ],
        &[
            &CONV_DIRECT_F16P,
            &DW_F16P,
            &DW_WINDOW_F16P,
            &DW_FINALIZE_F16P,
            &DB_F16P,
        ],
    )
}

/// Budget of the weight gradient's f32 partial sums (never more than the
/// device's storage binding limit either).
pub const PARTIALS_BUDGET: u64 = 4 << 20;

/// dx of `y = conv2d(x, w)`: `[N, C_in, H, W]` for an input of shape `x_shape`.
pub fn conv2d_backward_data(
    dy: &Tensor,
    w: &Tensor,
    x_shape: [usize; 4],
    params: &Conv2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_conv2d(OP_C2D_DATA, dy, "weight", w, &x_shape, w.shape(), params)?;
    let dx = dy.device().empty(&x_shape, dy.dtype())?;
    conv2d_backward_data_into(dy, w, params, precision, &dx)?;
    Ok(dx)
}

/// [`conv2d_backward_data`] into `dx`, whose shape is the input's.
pub fn conv2d_backward_data_into(
    dy: &Tensor,
    w: &Tensor,
    params: &Conv2dParams,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_DATA;
    let geo = check_conv2d(OP, dy, "weight", w, dx.shape(), w.shape(), params)?;
    crate::check_output(OP, dx, &geo.in_shape(), dy.dtype(), &[dy, w])?;
    let dev = dy.device();
    let precision = Precision::resolve(OP, dev, dy.dtype(), precision)?;
    let route = DataGradRoute::auto(dev, &geo, precision);
    data_grad_by(&geo, dy, w, route, precision, dx)
}

/// How conv2d's data gradient is computed (compared by the benchmark harness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataGradRoute {
    /// The transposed convolution of dy with w ([`crate::conv_transpose`]'s
    /// kernels, variant chosen by [`ConvTransposeVariant::auto`]): any problem.
    Transposed,
    /// A forward convolution of dy with the rotated, channel-swapped weights
    /// (stride 1, padding within the kernel's extent, kernels larger than 1×1,
    /// f32 or native f16).
    ForwardConv,
}

impl DataGradRoute {
    /// Every route, baseline first.
    pub const ALL: [DataGradRoute; 2] = [DataGradRoute::Transposed, DataGradRoute::ForwardConv];

    pub fn name(self) -> &'static str {
        match self {
            DataGradRoute::Transposed => "transposed",
            DataGradRoute::ForwardConv => "forward_conv",
        }
    }

    pub fn from_name(name: &str) -> Option<DataGradRoute> {
        DataGradRoute::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Why this route cannot compute the data gradient of `geo`, if it cannot.
    pub fn unsupported(
        self,
        dev: &Device,
        geo: &Conv2dGeometry,
        precision: Precision,
    ) -> Option<String> {
        match self {
            DataGradRoute::Transposed => None,
            DataGradRoute::ForwardConv => data_grad_as_conv(dev, geo, precision)
                .is_none()
                .then(|| {
                    "needs stride 1, padding within the kernel, a kernel larger than 1x1, f32 or native f16".to_string()
                }),
        }
    }

    /// The forward convolution where it applies (measured 2-7x faster on
    /// lavapipe), the transposed one otherwise.
    pub fn auto(dev: &Device, geo: &Conv2dGeometry, precision: Precision) -> DataGradRoute {
        if data_grad_as_conv(dev, geo, precision).is_some() {
            DataGradRoute::ForwardConv
        } else {
            DataGradRoute::Transposed
        }
    }
}

/// [`conv2d_backward_data_into`] by a given route.
pub fn conv2d_backward_data_by(
    dy: &Tensor,
    w: &Tensor,
    params: &Conv2dParams,
    route: DataGradRoute,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_DATA;
    let geo = check_conv2d(OP, dy, "weight", w, dx.shape(), w.shape(), params)?;
    crate::check_output(OP, dx, &geo.in_shape(), dy.dtype(), &[dy, w])?;
    let precision = Precision::resolve(OP, dy.device(), dy.dtype(), precision)?;
    if let Some(why) = route.unsupported(dy.device(), &geo, precision) {
        return Err(Error::invalid(
            OP,
            "route",
            format!("{} cannot run this problem: {why}", route.name()),
        ));
    }
    data_grad_by(&geo, dy, w, route, precision, dx)
}

fn data_grad_by(
    geo: &Conv2dGeometry,
    dy: &Tensor,
    w: &Tensor,
    route: DataGradRoute,
    precision: Precision,
    dx: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_DATA;
    let dev = dy.device();
    if route == DataGradRoute::ForwardConv
        && let Some((dgeo, variant)) = data_grad_as_conv(dev, geo, precision)
    {
        let wf = dev.empty(&dgeo.weight_shape(), w.dtype())?;
        flip_weights(geo, w, &wf)?;
        return conv::launch_geometry(
            &dgeo,
            dy,
            &wf,
            None,
            Activation::None,
            variant,
            precision,
            dx,
        );
    }
    let t = ConvProblem::conv2d_data_grad(geo);
    let variant = ConvTransposeVariant::auto_for(dev, &t, precision);
    conv_transpose::launch(
        OP,
        &t,
        dy,
        w,
        None,
        Activation::None,
        variant,
        precision,
        dx,
    )
}

/// The forward convolution that computes conv2d's data gradient, and the
/// variant it runs, where that is the faster route: stride 1, padding within
/// the dilated kernel's extent, kernels larger than 1×1, f32 or native f16.
/// dx = conv2d(dy, w') with w' the 180°-rotated weights with input and output
/// channels swapped per group ([`flip_weights`]) and padding d·(K−1) − pad on
/// each side. Winograd is left out (its error bound is its own); None where the
/// transposed gather serves.
fn data_grad_as_conv(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> Option<(Conv2dGeometry, ConvVariant)> {
    let ext = [
        geo.dilation[0] * (geo.kh - 1),
        geo.dilation[1] * (geo.kw - 1),
    ];
    let [pt, pl, pb, pr] = geo.pad;
    if geo.stride != [1, 1]
        || precision == Precision::F16Packed
        || (geo.kh == 1 && geo.kw == 1)
        || geo.n == 0
        || geo.oh == 0
        || geo.ow == 0
        || pt.max(pb) > ext[0]
        || pl.max(pr) > ext[1]
    {
        return None;
    }
    let dgeo = Conv2dGeometry {
        n: geo.n,
        c_in: geo.c_out,
        h: geo.oh,
        w: geo.ow,
        c_out: geo.c_in,
        kh: geo.kh,
        kw: geo.kw,
        stride: [1, 1],
        dilation: geo.dilation,
        pad: [ext[0] - pt, ext[1] - pl, ext[0] - pb, ext[1] - pr],
        groups: geo.groups,
        oh: geo.h,
        ow: geo.w,
    };
    let fits = |v: ConvVariant| v.unsupported(dev, &dgeo, precision).is_none();
    let auto = ConvVariant::auto(dev, &dgeo, precision);
    let variant = if auto != ConvVariant::Winograd && fits(auto) {
        auto
    } else {
        ConvVariant::ImplicitGemm
    };
    fits(variant).then_some((dgeo, variant))
}

/// w' of [`data_grad_as_conv`] from w (an exact copy, reordered).
fn flip_weights(geo: &Conv2dGeometry, w: &Tensor, wf: &Tensor) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct FlipParams {
        n: u32,
        cin_g: u32,
        cout_g: u32,
        taps: u32,
    }
    let n = w.numel();
    let params = FlipParams {
        n: n as u32,
        cin_g: geo.cin_g() as u32,
        cout_g: geo.cout_g() as u32,
        taps: (geo.kh * geo.kw) as u32,
    };
    let dev = w.device();
    let precision = Precision::for_dtype(dev, w.dtype())?;
    dev.dispatch(
        &Kernel::new(OP_C2D_DATA, typed_shader(&FLIP_WEIGHTS, precision), "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(w.binding()),
            Binding::Read(w.binding()),
            Binding::ReadWrite(wf.binding()),
        ],
        n.div_ceil(64) as u64,
    )
}

/// dw of `y = conv2d(x, w)`: OIHW of shape `w_shape`, in dy's dtype.
pub fn conv2d_backward_weight(
    x: &Tensor,
    dy: &Tensor,
    w_shape: [usize; 4],
    params: &Conv2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_conv2d(OP_C2D_WEIGHT, dy, "x", x, x.shape(), &w_shape, params)?;
    let dw = dy.device().empty(&w_shape, dy.dtype())?;
    conv2d_backward_weight_into(x, dy, params, precision, &dw)?;
    Ok(dw)
}

/// [`conv2d_backward_weight`] into `dw`, whose shape is the weight's.
pub fn conv2d_backward_weight_into(
    x: &Tensor,
    dy: &Tensor,
    params: &Conv2dParams,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_WEIGHT;
    let geo = check_conv2d(OP, dy, "x", x, x.shape(), dw.shape(), params)?;
    crate::check_output(OP, dw, &geo.weight_shape(), dy.dtype(), &[x, dy])?;
    let precision = Precision::resolve(OP, dy.device(), dy.dtype(), precision)?;
    weight_grad(OP, &WeightGrad::conv2d(&geo), dy, x, precision, dw)
}

/// db of `y = conv2d(x, w) + b` (or of a transposed convolution): the sum of
/// dy `[N, C, H, W]` over N, H and W, shape `[C]`, in dy's dtype.
pub fn conv2d_backward_bias(dy: &Tensor) -> Result<Tensor> {
    let c = check_bias(dy)?[1];
    let db = dy.device().empty(&[c], dy.dtype())?;
    conv2d_backward_bias_into(dy, None, &db)?;
    Ok(db)
}

/// [`conv2d_backward_bias`] into `db` `[C]`, with an explicit precision (e.g. to
/// force packed f16).
pub fn conv2d_backward_bias_into(
    dy: &Tensor,
    precision: Option<Precision>,
    db: &Tensor,
) -> Result<()> {
    const OP: &str = "conv2d_backward_bias";
    let [n, c, h, w] = check_bias(dy)?;
    crate::check_output(OP, db, &[c], dy.dtype(), &[dy])?;
    let dev = dy.device();
    let precision = Precision::resolve(OP, dev, dy.dtype(), precision)?;
    if c == 0 {
        return Ok(());
    }
    if n * h * w == 0 {
        return crate::elementwise::fill(db, 0.0);
    }
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct DbParams {
        n: u32,
        c: u32,
        hw: u32,
        _pad: u32,
    }
    let params = DbParams {
        n: n as u32,
        c: c as u32,
        hw: (h * w) as u32,
        _pad: 0,
    };
    let shader = match precision {
        Precision::F16Packed => &DB_F16P,
        p => typed_shader(&DB, p),
    };
    dev.dispatch(
        &Kernel::new(OP, shader, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(dy.binding()),
            Binding::Read(dy.binding()),
            Binding::ReadWrite(db.binding()),
        ],
        c.div_ceil(2) as u64,
    )
}

/// dx of `y = conv_transpose2d(x, w)`: `[N, C_in, H, W]` for an input of shape
/// `x_shape`; the direct convolution of dy with w (read as OIHW).
pub fn conv_transpose2d_backward_data(
    dy: &Tensor,
    w: &Tensor,
    x_shape: [usize; 4],
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_transposed(OP_CT_DATA, dy, "weight", w, &x_shape, w.shape(), params)?;
    let dx = dy.device().empty(&x_shape, dy.dtype())?;
    conv_transpose2d_backward_data_into(dy, w, params, precision, &dx)?;
    Ok(dx)
}

/// [`conv_transpose2d_backward_data`] into `dx`, whose shape is the input's.
pub fn conv_transpose2d_backward_data_into(
    dy: &Tensor,
    w: &Tensor,
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    const OP: &str = OP_CT_DATA;
    let geo = check_transposed(OP, dy, "weight", w, dx.shape(), w.shape(), params)?;
    crate::check_output(
        OP,
        dx,
        &[geo.n, geo.c_in, geo.h, geo.w],
        dy.dtype(),
        &[dy, w],
    )?;
    let dev = dy.device();
    let precision = Precision::resolve(OP, dev, dy.dtype(), precision)?;
    if dx.numel() == 0 {
        return Ok(());
    }
    let t = ConvProblem::conv_transpose2d_data_grad(&geo);
    let mut p = t.params();
    let (shader, workgroups, constants) = match precision {
        Precision::F16Packed => (
            &CONV_DIRECT_F16P,
            dx.numel().div_ceil(2).div_ceil(64),
            vec![],
        ),
        prec => {
            let tc = channel_block(t.cout_g());
            let tp = pixel_block(t.w_out);
            p.oc_blocks = t.cout_g().div_ceil(tc) as u32;
            p.segs = t.w_out.div_ceil(tp) as u32;
            p.tiles_p = (t.h_out * p.segs as usize).div_ceil(64) as u32;
            let workgroups = t.n * t.groups * p.oc_blocks as usize * p.tiles_p as usize;
            (
                typed_shader(&CONV_DIRECT, prec),
                workgroups,
                vec![("TC", tc as f64), ("TP", tp as f64)],
            )
        }
    };
    dev.dispatch(
        &Kernel::new(OP, shader, "main").with_constants(&constants),
        bytemuck::bytes_of(&p),
        &[
            Binding::Read(dy.binding()),
            Binding::Read(w.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        workgroups as u64,
    )
}

/// dw of `y = conv_transpose2d(x, w)`: IOHW of shape `w_shape`, in dy's dtype.
pub fn conv_transpose2d_backward_weight(
    x: &Tensor,
    dy: &Tensor,
    w_shape: [usize; 4],
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_transposed(OP_CT_WEIGHT, dy, "x", x, x.shape(), &w_shape, params)?;
    let dw = dy.device().empty(&w_shape, dy.dtype())?;
    conv_transpose2d_backward_weight_into(x, dy, params, precision, &dw)?;
    Ok(dw)
}

/// [`conv_transpose2d_backward_weight`] into `dw`, whose shape is the weight's.
pub fn conv_transpose2d_backward_weight_into(
    x: &Tensor,
    dy: &Tensor,
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    const OP: &str = OP_CT_WEIGHT;
    let geo = check_transposed(OP, dy, "x", x, x.shape(), dw.shape(), params)?;
    crate::check_output(OP, dw, &geo.weight_shape(), dy.dtype(), &[x, dy])?;
    let precision = Precision::resolve(OP, dy.device(), dy.dtype(), precision)?;
    weight_grad(
        OP,
        &WeightGrad::conv_transpose2d(&geo),
        x,
        dy,
        precision,
        dw,
    )
}

const OP_C2D_DATA: &str = "conv2d_backward_data";
const OP_C2D_WEIGHT: &str = "conv2d_backward_weight";
const OP_CT_DATA: &str = "conv_transpose2d_backward_data";
const OP_CT_WEIGHT: &str = "conv_transpose2d_backward_weight";

/// Validates a conv2d gradient's operands: dy and `other` share a float dtype,
/// the geometry of `x_shape` and `w_shape` is valid, and dy has its output shape.
fn check_conv2d(
    op: &str,
    dy: &Tensor,
    other_name: &str,
    other: &Tensor,
    x_shape: &[usize],
    w_shape: &[usize],
    params: &Conv2dParams,
) -> Result<Conv2dGeometry> {
    same_float_dtype(op, "dy", dy, other_name, other)?;
    let geo = Conv2dGeometry::new(op, x_shape, w_shape, params)?;
    check_dy(op, dy, geo.out_shape(), x_shape, w_shape)?;
    Ok(geo)
}

/// [`check_conv2d`] for a transposed convolution.
fn check_transposed(
    op: &str,
    dy: &Tensor,
    other_name: &str,
    other: &Tensor,
    x_shape: &[usize],
    w_shape: &[usize],
    params: &ConvTranspose2dParams,
) -> Result<ConvTranspose2dGeometry> {
    same_float_dtype(op, "dy", dy, other_name, other)?;
    let geo = ConvTranspose2dGeometry::new(op, x_shape, w_shape, params)?;
    check_dy(op, dy, geo.out_shape(), x_shape, w_shape)?;
    Ok(geo)
}

/// dy of a bias gradient: a 4-D float tensor.
fn check_bias(dy: &Tensor) -> Result<[usize; 4]> {
    const OP: &str = "conv2d_backward_bias";
    let dims = <[usize; 4]>::try_from(dy.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!("dy must be 4-D (NCHW), got shape {:?}", dy.shape()),
        )
    })?;
    if !dy.dtype().is_float() {
        return Err(Error::invalid(
            OP,
            "dtype",
            format!("expected an f32 or f16 tensor, got {}", dy.dtype()),
        ));
    }
    Ok(dims)
}

/// Peak bytes of temporary buffers any one of conv2d's backward functions
/// allocates for `geo` at `precision` (the largest of the data gradient's GEMM
/// columns, when its automatic variant uses them, and the weight gradient's
/// split partial sums; the bias gradient needs none). 0 if none.
pub fn conv2d_backward_scratch_bytes(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> u64 {
    conv2d_backward_data_scratch_bytes(dev, geo, precision)
        .max(WeightGrad::conv2d(geo).plan(dev, precision).scratch)
}

/// Peak bytes of temporary buffers any one of conv_transpose2d's backward
/// functions allocates for `geo` at `precision` (the weight gradient's split
/// partial sums; the data gradient needs none). 0 if none.
pub fn conv_transpose2d_backward_scratch_bytes(
    dev: &Device,
    geo: &ConvTranspose2dGeometry,
    precision: Precision,
) -> u64 {
    WeightGrad::conv_transpose2d(geo)
        .plan(dev, precision)
        .scratch
}

/// dy must have the shape the forward pass produces.
fn check_dy(
    op: &str,
    dy: &Tensor,
    want: [usize; 4],
    x_shape: &[usize],
    w_shape: &[usize],
) -> Result<()> {
    if dy.shape() != want {
        return Err(Error::shape(
            op,
            format!(
                "dy: expected {want:?} (the forward output for input {x_shape:?} and weight {w_shape:?}), got {:?}",
                dy.shape()
            ),
        ));
    }
    Ok(())
}

/// The weight gradient as the kernels see it:
/// `dW[a, b, ky, kx] = Σ_{n,py,px} A[n, a, py, px] · B[n, g·bg + b, py·sh − pt + ky·dh, px·sw − pl + kx·dw]`.
#[derive(Debug, Clone, Copy)]
struct WeightGrad {
    n: usize,
    /// A's channels and spatial size (the K positions per image).
    a_c: usize,
    a_h: usize,
    a_w: usize,
    b_c: usize,
    b_h: usize,
    b_w: usize,
    groups: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
}

/// Launch shape of the weight gradient.
#[derive(Debug, Clone, Copy)]
struct DwPlan {
    tm: usize,
    wgn: usize,
    splits: usize,
    rows_per_split: usize,
    tiles_m: usize,
    tiles_n: usize,
    /// Bytes of the f32 partial-sum buffer (0 when the kernel writes dW directly).
    scratch: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DwParams {
    n: u32,
    a_c: u32,
    a_h: u32,
    a_w: u32,
    b_c: u32,
    b_h: u32,
    b_w: u32,
    groups: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pt: u32,
    pl: u32,
    ag: u32,
    bg: u32,
    ncols: u32,
    numel: u32,
    tiles_m: u32,
    tiles_n: u32,
    splits: u32,
    rows_per_split: u32,
}

impl WeightGrad {
    /// conv2d: A = dy, B = x, dW is OIHW.
    fn conv2d(geo: &Conv2dGeometry) -> Self {
        WeightGrad {
            n: geo.n,
            a_c: geo.c_out,
            a_h: geo.oh,
            a_w: geo.ow,
            b_c: geo.c_in,
            b_h: geo.h,
            b_w: geo.w,
            groups: geo.groups,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: [geo.pad[0], geo.pad[1]],
        }
    }

    /// conv_transpose2d: A = x, B = dy, dW is IOHW.
    fn conv_transpose2d(geo: &ConvTranspose2dGeometry) -> Self {
        WeightGrad {
            n: geo.n,
            a_c: geo.c_in,
            a_h: geo.h,
            a_w: geo.w,
            b_c: geo.c_out,
            b_h: geo.oh,
            b_w: geo.ow,
            groups: geo.groups,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: geo.padding,
        }
    }

    /// Rows of the per-group GEMM (A channels per group).
    fn m(&self) -> usize {
        self.a_c / self.groups
    }

    /// Columns of the per-group GEMM: (b, ky, kx).
    fn ncols(&self) -> usize {
        self.b_c / self.groups * self.kh * self.kw
    }

    fn numel(&self) -> usize {
        self.a_c * self.ncols()
    }

    /// Whether the sliding-window kernel (`dw_window.wgsl`) runs this
    /// problem: unit column stride and dilation, kernel rows of at most 8
    /// taps, and few rows (A channels per group), where dw.wgsl's uniform
    /// loads of A buy little.
    fn windowed(&self) -> bool {
        self.stride[1] == 1 && self.dilation[1] == 1 && self.kw <= 8 && self.m() <= 16
    }

    /// Block shape, tiles and splits (see `shaders/conv_backward/dw.wgsl` and
    /// `dw_window.wgsl`).
    fn plan(&self, dev: &Device, precision: Precision) -> DwPlan {
        let m = self.m();
        let ncols = self.ncols();
        let budget = PARTIALS_BUDGET.min(dev.limits().max_storage_buffer_binding_size);
        let by_budget = ((budget / (self.numel() as u64 * 4)) as usize).max(1);
        let rows = self.n * self.a_h;
        let tm = m.div_ceil(m.div_ceil(8)).clamp(1, 8);
        if self.windowed() {
            // One run of K rows per invocation; enough runs for ~16
            // workgroups (a few per CPU thread), each run a few rows long.
            let tiles_m = m.div_ceil(tm);
            let tiles_n = self.b_c / self.groups * self.kh;
            let blocks = self.groups * tiles_m * tiles_n;
            let want = 16usize.div_ceil(blocks) * 64;
            let splits = want.min(by_budget).clamp(1, rows.max(1));
            let rows_per_split = rows.div_ceil(splits).max(1);
            let splits = rows.div_ceil(rows_per_split).max(1);
            return DwPlan {
                tm,
                wgn: 0,
                splits,
                rows_per_split,
                tiles_m,
                tiles_n,
                scratch: if splits == 1 && precision == Precision::F32 {
                    0
                } else {
                    (splits * self.numel()) as u64 * 4
                },
            };
        }
        // Rows are uniform across a workgroup (loads of A shared by all its
        // invocations); invocations spread over columns, and over K when the
        // columns are few.
        // (tm: at most 8 rows per workgroup, as evenly split as possible: 6
        // rows are one tile of 6, 12 two of 6, so no tile computes padding.)
        // The widest column span (64 invocations × 4 columns down to 1 × 4)
        // that wastes at most a quarter of its columns on the last tile.
        let wgn = [64usize, 32, 16, 8, 4, 2, 1]
            .into_iter()
            .find(|&wgn| {
                let span = ncols.div_ceil(wgn * 4) * wgn * 4;
                4 * (span - ncols) <= span
            })
            .unwrap_or(1);
        let wgk = 64 / wgn;
        let tiles_m = m.div_ceil(tm);
        let tiles_n = ncols.div_ceil(wgn * 4);
        let tiles = self.groups * tiles_m * tiles_n;
        // Enough workgroups to fill a GPU (~256), each invocation still summing
        // at least ~512 K positions; within the partial-sum budget.
        let by_work = (rows * self.a_w / (wgk * 512)).max(1);
        let want = 256usize.div_ceil(tiles);
        let splits = want.min(by_work).min(by_budget).clamp(1, rows.max(1));
        let rows_per_split = rows.div_ceil(splits).max(1);
        let splits = rows.div_ceil(rows_per_split).max(1);
        let scratch = if splits == 1 && precision == Precision::F32 {
            0
        } else {
            (splits * self.numel()) as u64 * 4
        };
        DwPlan {
            tm,
            wgn,
            splits,
            rows_per_split,
            tiles_m,
            tiles_n,
            scratch,
        }
    }
}

/// Runs the weight gradient into `out` (dy's dtype) from A and B.
fn weight_grad(
    op: &str,
    wg: &WeightGrad,
    a: &Tensor,
    b: &Tensor,
    precision: Precision,
    out: &Tensor,
) -> Result<()> {
    let dev = a.device();
    let numel = wg.numel();
    if numel == 0 {
        return Ok(());
    }
    if wg.n * wg.a_h * wg.a_w == 0 {
        return crate::elementwise::fill(out, 0.0);
    }
    let plan = wg.plan(dev, precision);
    let params = DwParams {
        n: wg.n as u32,
        a_c: wg.a_c as u32,
        a_h: wg.a_h as u32,
        a_w: wg.a_w as u32,
        b_c: wg.b_c as u32,
        b_h: wg.b_h as u32,
        b_w: wg.b_w as u32,
        groups: wg.groups as u32,
        kh: wg.kh as u32,
        kw: wg.kw as u32,
        sh: wg.stride[0] as u32,
        sw: wg.stride[1] as u32,
        dh: wg.dilation[0] as u32,
        dw: wg.dilation[1] as u32,
        pt: wg.pad[0] as u32,
        pl: wg.pad[1] as u32,
        ag: wg.m() as u32,
        bg: (wg.b_c / wg.groups) as u32,
        ncols: wg.ncols() as u32,
        numel: numel as u32,
        tiles_m: plan.tiles_m as u32,
        tiles_n: plan.tiles_n as u32,
        splits: plan.splits as u32,
        rows_per_split: plan.rows_per_split as u32,
    };
    let windowed = wg.windowed();
    let constants = if windowed {
        [("TM", plan.tm as f64), ("KW_C", wg.kw as f64)]
    } else {
        [("TM", plan.tm as f64), ("WGN", plan.wgn as f64)]
    };
    let (dw_shader, finalize_shader) = match (precision, windowed) {
        (Precision::F16Packed, false) => (&DW_F16P, &DW_FINALIZE_F16P),
        (Precision::F16Packed, true) => (&DW_WINDOW_F16P, &DW_FINALIZE_F16P),
        (p, false) => (typed_shader(&DW, p), typed_shader(&DW_FINALIZE, p)),
        (p, true) => (typed_shader(&DW_WINDOW, p), typed_shader(&DW_FINALIZE, p)),
    };
    let blocks = wg.groups * plan.tiles_m * plan.tiles_n;
    let workgroups = if windowed {
        (blocks * plan.splits.div_ceil(64)) as u64
    } else {
        (plan.splits * blocks) as u64
    };
    let kernel = Kernel::new(op, dw_shader, "main").with_constants(&constants);
    if plan.scratch == 0 {
        // One split at f32: the partial sums are dW itself.
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(a.binding()),
                Binding::Read(b.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            workgroups,
        )?;
        return Ok(());
    }
    let part = dev.empty(&[plan.splits * numel], DType::F32)?;
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(a.binding()),
            Binding::Read(b.binding()),
            Binding::ReadWrite(part.binding()),
        ],
        workgroups,
    )?;
    let fin = [numel as u32, plan.splits as u32, 0, 0];
    dev.dispatch(
        &Kernel::new(op, finalize_shader, "main"),
        bytemuck::cast_slice(&fin),
        &[
            Binding::Read(part.binding()),
            Binding::Read(part.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        numel.div_ceil(2).div_ceil(64) as u64,
    )?;
    Ok(())
}

/// Bytes of temporaries [`conv2d_backward_data`] allocates after its output
/// (the rotated weights and the forward variant's scratch on the stride-1
/// route; GEMM columns when the transposed variant uses them), for memory
/// planning.
pub fn conv2d_backward_data_scratch_bytes(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> u64 {
    if DataGradRoute::auto(dev, geo, precision) == DataGradRoute::ForwardConv
        && let Some((dgeo, variant)) = data_grad_as_conv(dev, geo, precision)
    {
        let flipped = precision
            .dtype()
            .storage_bytes(dgeo.weight_shape().iter().product());
        return flipped + conv::scratch_bytes(dev, &dgeo, variant, precision);
    }
    let t = ConvProblem::conv2d_data_grad(geo);
    let variant = ConvTransposeVariant::auto_for(dev, &t, precision);
    conv_transpose::scratch_bytes_for(dev, &t, variant, precision)
}

/// Bytes of temporaries [`conv2d_backward_weight`] allocates after its output
/// (split partial sums), for memory planning.
pub fn conv2d_backward_weight_scratch_bytes(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> u64 {
    WeightGrad::conv2d(geo).plan(dev, precision).scratch
}
