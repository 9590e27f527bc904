//! Data gradients: conv2d's dx (as a forward convolution of dy with the
//! rotated weights at stride 1, as a transposed convolution otherwise) and
//! conv_transpose2d's dx (a direct convolution of dy with its weights).

use weft_device::{Binding, Device, Error, Kernel, Result, Shader, Tensor};

use super::{OP_C2D_DATA, OP_CT_DATA, check_conv2d, check_transposed};
use crate::Activation;
use crate::conv::forward::{self as conv, ConvVariant};
use crate::conv::params::{Conv2dGeometry, Conv2dParams, ConvTranspose2dParams, GatherGeometry};
use crate::conv::transpose::{self as conv_transpose, ConvTransposeVariant};
use crate::conv::{
    IN2_F16P, IN2_TYPED, OUT3_TYPED, TRANSPOSED_PARAMS, channel_block, pixel_block, typed_shader,
};
use crate::precision::Precision;
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
    let t = GatherGeometry::conv2d_data_grad(geo);
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
    let t = GatherGeometry::conv2d_data_grad(geo);
    let variant = ConvTransposeVariant::auto_for(dev, &t, precision);
    conv_transpose::scratch_bytes_for(dev, &t, variant, precision)
}
