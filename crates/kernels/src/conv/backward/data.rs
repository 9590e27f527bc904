//! Data gradients: conv2d's dx (as a forward convolution of dy with the
//! rotated weights at stride 1, as a transposed convolution otherwise) and
//! conv_transpose2d's dx (a direct convolution of dy with its weights).

use weft_device::{Binding, Device, Error, Kernel, Result, Shader, Tensor};

use super::{OP_C2D_DATA, OP_CT_DATA, check_conv2d, check_transposed};
use crate::Activation;
use crate::conv::forward::{self, Conv2dArgs, Conv2dProblem, Conv2dSpec, ConvVariant};
use crate::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, GatherGeometry,
    Padding,
};
use crate::conv::transpose::{self, ConvTranspose2dArgs, ConvTranspose2dProblem};
use crate::conv::{
    IN2_F16P, IN2_TYPED, OUT3_TYPED, TRANSPOSED_PARAMS, channel_block, pixel_block, typed_shader,
};
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
use crate::shaders::{plain, typed};

typed!(
    CONV_DIRECT,
    [TRANSPOSED_PARAMS, IN2_TYPED],
    "conv_backward/conv_direct.wgsl"
);
plain!(
    CONV_DIRECT_F16P,
    [TRANSPOSED_PARAMS, IN2_F16P],
    "conv_backward/conv_direct_f16p.wgsl"
);
typed!(
    FLIP_WEIGHTS,
    [IN2_TYPED, OUT3_TYPED],
    "conv_backward/flip_weights.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(&[&CONV_DIRECT, &FLIP_WEIGHTS], &[&CONV_DIRECT_F16P])
}

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
    data_grad(dy, w, params, None, precision, dx)
}

/// [`conv2d_backward_data_into`] by a given variant (a row of [`VARIANTS`]).
pub fn conv2d_backward_data_by(
    dy: &Tensor,
    w: &Tensor,
    params: &Conv2dParams,
    variant: &'static DataGradVariant,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    data_grad(dy, w, params, Some(variant), precision, dx)
}

fn data_grad(
    dy: &Tensor,
    w: &Tensor,
    params: &Conv2dParams,
    variant: Option<&'static DataGradVariant>,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_DATA;
    let geo = check_conv2d(OP, dy, "weight", w, dx.shape(), w.shape(), params)?;
    crate::check_output(OP, dx, &geo.in_shape(), dy.dtype(), &[dy, w])?;
    let dev = dy.device();
    let problem = DataGradProblem {
        geo,
        precision: Precision::resolve(OP, dev, dy.dtype(), precision)?,
    };
    TABLE.run(dev, &problem, variant, &DataGradArgs { dy, w, dx })
}

/// conv2d's data gradient as its variants see it: the forward convolution's
/// geometry and the precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataGradProblem {
    pub geo: Conv2dGeometry,
    pub precision: Precision,
}

/// The tensors: dy `[N, C_out, OH, OW]`, the OIHW weights, dx `[N, C_in, H, W]`.
pub struct DataGradArgs<'a> {
    pub dy: &'a Tensor,
    pub w: &'a Tensor,
    pub dx: &'a Tensor,
}

impl Problem for DataGradProblem {
    type Args<'a> = DataGradArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        crate::conv::shape_class(&self.geo)
    }

    fn is_empty(&self) -> bool {
        self.geo.in_shape().iter().product::<usize>() == 0
    }
}

/// A way to compute conv2d's data gradient: a row of [`VARIANTS`].
pub type DataGradVariant = Variant<DataGradProblem>;

/// Every data-gradient variant, the baseline first.
pub const VARIANTS: &[DataGradVariant] = &[
    Variant {
        name: "transposed",
        idea: "the transposed convolution of dy with w, offset by the conv's top/left padding \
               (asymmetric `same` padding included), by the conv_transpose2d table's choice",
        requires: "every problem",
        shaders: &[],
        constants: &[],
        tile: Tile::PerProblem("conv_transpose2d's"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: |p, dev| transpose::TABLE.scratch_bytes(dev, &as_transposed(p), None),
        launch: |_, p, a| {
            let args = ConvTranspose2dArgs {
                op: OP_C2D_DATA,
                src: a.dy,
                w: a.w,
                bias: None,
                out: a.dx,
            };
            transpose::TABLE.run(a.dy.device(), &as_transposed(p), None, &args)
        },
    },
    Variant {
        name: "forward_conv",
        idea: "a forward convolution of dy with the 180°-rotated, channel-swapped weights and \
               padding d·(K−1) − pad, by conv2d's choice (never Winograd, whose error bound \
               is its own)",
        requires: "stride 1, padding within the dilated kernel, a kernel larger than 1x1",
        shaders: &[Source::Typed(&FLIP_WEIGHTS)],
        constants: &[],
        tile: Tile::PerProblem("conv2d's"),
        precisions: registry::TYPED,
        supports: |p, _| as_forward(&p.geo).map(|_| ()),
        scratch: |p, dev| forward_scratch(p, dev, forward_variant),
        launch: |_, p, a| run_forward(p, a, forward_variant),
    },
    Variant {
        name: "forward_winograd",
        idea: "the forward_conv route by Winograd F(2x2, 3x3): 2.25x fewer multiplies, and an \
               error bound of its own (relative to the transformed terms, as the forward \
               Winograd's); the weight transform reads w rotated in place (no flipped copy)",
        requires: "as forward_conv, and Winograd's: a 3x3 kernel, dilation 1, groups 1",
        shaders: &[],
        constants: &[],
        tile: Tile::PerProblem("conv2d's winograd row"),
        precisions: registry::TYPED,
        supports: |p, caps| {
            let dgeo = as_forward(&p.geo)?;
            forward::WINOGRAD.check(&forward_problem(dgeo, p.precision), caps)
        },
        scratch: |p, dev| {
            as_forward(&p.geo).map_or(0, |dgeo| {
                let fp = forward_problem(dgeo, p.precision);
                forward::WINOGRAD.scratch_bytes(&fp, dev)
            })
        },
        launch: |_, p, a| {
            let dgeo = as_forward(&p.geo).map_err(|why| {
                Error::invalid(OP_C2D_DATA, "variant", format!("forward_winograd: {why}"))
            })?;
            let args = Conv2dArgs {
                x: a.dy,
                w: a.w,
                bias: None,
                y: a.dx,
            };
            forward::winograd_of_flipped(&forward_problem(dgeo, p.precision), &args)
        },
    },
];

pub const TRANSPOSED: &DataGradVariant = registry::named(VARIANTS, "transposed");
pub const FORWARD_CONV: &DataGradVariant = registry::named(VARIANTS, "forward_conv");
pub const FORWARD_WINOGRAD: &DataGradVariant = registry::named(VARIANTS, "forward_winograd");

/// The table of conv2d's data gradient.
pub static TABLE: Table<DataGradProblem> = Table {
    op: OP_C2D_DATA,
    variants: VARIANTS,
    // The forward convolution where it applies (measured 2-7x faster on
    // lavapipe), by Winograd where conv2d itself would take it (3x3 C128
    // 28x28 N8: 104 against 167 ms), the transposed one otherwise.
    auto: |p, caps| {
        if FORWARD_WINOGRAD.check(p, caps).is_ok() {
            let fp = forward_problem(as_forward(&p.geo).expect("checked"), p.precision);
            if (forward::TABLE.auto)(&fp, caps) == forward::WINOGRAD {
                return FORWARD_WINOGRAD;
            }
        }
        if FORWARD_CONV.check(p, caps).is_ok() {
            FORWARD_CONV
        } else {
            TRANSPOSED
        }
    },
};

/// The transposed convolution equal to the data gradient.
fn as_transposed(p: &DataGradProblem) -> ConvTranspose2dProblem {
    ConvTranspose2dProblem {
        g: GatherGeometry::conv2d_data_grad(&p.geo),
        bias: false,
        activation: Activation::None,
        precision: p.precision,
    }
}

fn forward_problem(dgeo: Conv2dGeometry, precision: Precision) -> Conv2dProblem {
    Conv2dProblem {
        geo: dgeo,
        bias: false,
        activation: Activation::None,
        precision,
    }
}

/// Bytes the forward route allocates: the flipped weights and the scratch of
/// the forward variant `pick` names.
fn forward_scratch(
    p: &DataGradProblem,
    dev: &Device,
    pick: impl FnOnce(&Device, &Conv2dProblem) -> &'static ConvVariant,
) -> u64 {
    let Ok(dgeo) = as_forward(&p.geo) else {
        return 0;
    };
    let fp = forward_problem(dgeo, p.precision);
    let flipped = p
        .precision
        .dtype()
        .storage_bytes(dgeo.weight_shape().iter().product());
    flipped + pick(dev, &fp).scratch_bytes(&fp, dev)
}

/// The data gradient as the forward convolution of dy with the flipped
/// weights, by the forward variant `pick` names.
fn run_forward(
    p: &DataGradProblem,
    a: &DataGradArgs<'_>,
    pick: impl FnOnce(&Device, &Conv2dProblem) -> &'static ConvVariant,
) -> Result<()> {
    let dgeo = as_forward(&p.geo)
        .map_err(|why| Error::invalid(OP_C2D_DATA, "variant", format!("forward_conv: {why}")))?;
    if a.dx.numel() == 0 {
        return Ok(());
    }
    let dev = a.dy.device();
    let fp = forward_problem(dgeo, p.precision);
    let wf = dev.empty(&dgeo.weight_shape(), a.w.dtype())?;
    flip_weights(&p.geo, a.w, &wf)?;
    let args = Conv2dArgs {
        x: a.dy,
        w: &wf,
        bias: None,
        y: a.dx,
    };
    pick(dev, &fp).launch(&fp, &args)
}

/// The forward variant the `forward_conv` route runs: conv2d's choice unless
/// that is Winograd (or cannot run), the implicit GEMM then.
fn forward_variant(dev: &Device, fp: &Conv2dProblem) -> &'static ConvVariant {
    let chosen = forward::TABLE.choose(dev, fp);
    if chosen != forward::WINOGRAD && chosen.check(fp, dev.caps()).is_ok() {
        chosen
    } else {
        forward::IMPLICIT_GEMM
    }
}

/// The forward convolution that computes conv2d's data gradient: stride 1,
/// padding within the dilated kernel's extent, kernels larger than 1×1, a
/// non-empty dy. dx = conv2d(dy, w') with w' the 180°-rotated weights with
/// input and output channels swapped per group ([`flip_weights`]) and padding
/// d·(K−1) − pad on each side.
fn as_forward(geo: &Conv2dGeometry) -> std::result::Result<Conv2dGeometry, Unsupported> {
    let ext = [
        geo.dilation[0] * (geo.kh - 1),
        geo.dilation[1] * (geo.kw - 1),
    ];
    let [pt, pl, pb, pr] = geo.pad;
    registry::require(geo.stride == [1, 1], || {
        format!("needs stride 1, got {:?}", geo.stride)
    })?;
    registry::require(geo.kh * geo.kw > 1, || {
        "needs a kernel larger than 1x1".into()
    })?;
    registry::require(pt.max(pb) <= ext[0] && pl.max(pr) <= ext[1], || {
        format!(
            "needs padding within the dilated kernel's extent {ext:?}, got {:?}",
            geo.pad
        )
    })?;
    registry::require(geo.n * geo.c_out * geo.oh * geo.ow > 0, || {
        "needs a non-empty dy".into()
    })?;
    Ok(Conv2dGeometry {
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
    })
}

/// w' of [`as_forward`] from w (an exact copy, reordered).
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
        (n / (geo.kh * geo.kw).max(1)).div_ceil(64) as u64,
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
    if let Some((conv_params, _)) = transposed_data_as_conv(&geo, precision) {
        let spec = Conv2dSpec {
            params: conv_params,
            activation: Activation::None,
            variant: None,
            precision: Some(precision),
        };
        return forward::conv2d_into(dy, w, None, &spec, dx);
    }
    let t = GatherGeometry::conv_transpose2d_data_grad(&geo);
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

/// conv_transpose2d's data gradient as a forward convolution: dy convolved
/// with w read as OIHW (`[C_in, C_out/groups, KH, KW]` is conv2d's layout for
/// C_out -> C_in) at the same stride, padding, dilation and groups, whose
/// output is x's size because output_padding < stride. The conv2d table then
/// runs it (im2col + GEMM, Winograd), 20-50x the direct kernel on U-Net's
/// 2x2 up-convolutions. `None` where dy is empty (the direct kernel writes
/// the zeros).
fn transposed_data_as_conv(
    geo: &ConvTranspose2dGeometry,
    precision: Precision,
) -> Option<(Conv2dParams, Conv2dProblem)> {
    let params = Conv2dParams {
        stride: geo.stride,
        padding: Padding::Explicit(geo.padding),
        dilation: geo.dilation,
        groups: geo.groups,
    };
    let dy = [geo.n, geo.c_out, geo.oh, geo.ow];
    let fgeo = Conv2dGeometry::new(OP_CT_DATA, &dy, &geo.weight_shape(), &params).ok()?;
    let same = fgeo.out_shape() == [geo.n, geo.c_in, geo.h, geo.w];
    (same && dy.iter().product::<usize>() > 0).then_some((params, forward_problem(fgeo, precision)))
}

/// Bytes of temporaries [`conv_transpose2d_backward_data`] allocates after its
/// output (the forward convolution's scratch, on that route).
pub fn conv_transpose2d_backward_data_scratch_bytes(
    dev: &Device,
    geo: &ConvTranspose2dGeometry,
    precision: Precision,
) -> u64 {
    transposed_data_as_conv(geo, precision)
        .map_or(0, |(_, fp)| forward::TABLE.scratch_bytes(dev, &fp, None))
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
    let problem = DataGradProblem {
        geo: *geo,
        precision,
    };
    TABLE.scratch_bytes(dev, &problem, None)
}
