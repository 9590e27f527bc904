//! Convolution hyper-parameters and the geometry they resolve to, with
//! PyTorch's conventions (NCHW activations, OIHW conv weights, IOHW
//! transposed-conv weights, `padding="same"` resolved as PyTorch does).

use weft_device::{Error, Result};

/// Padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Zeros added on each side: `[height, width]`, as PyTorch's `padding=(ph, pw)`.
    Explicit([usize; 2]),
    /// PyTorch's `padding="same"` (stride 1 only): total `dilation·(k−1)` per
    /// axis, the odd one on the bottom/right.
    Same,
    /// PyTorch's `padding="valid"`: no padding.
    Valid,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Explicit([0, 0])
    }
}

/// Hyper-parameters of `conv2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: Padding,
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: Padding::default(),
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// A convolution fully resolved for concrete input and weight shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding on top, left, bottom, right.
    pub pad: [usize; 4],
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Conv2dGeometry {
    /// Resolves `params` for input `[N, C_in, H, W]` and weight
    /// `[C_out, C_in / groups, KH, KW]`, validating every constraint.
    pub fn new(op: &str, input: &[usize], weight: &[usize], params: &Conv2dParams) -> Result<Self> {
        let [n, c_in, h, w] = dims4(op, "input", input)?;
        let [c_out, c_per_group, kh, kw] = dims4(op, "weight", weight)?;
        check_positive(op, "stride", params.stride)?;
        check_positive(op, "dilation", params.dilation)?;
        let g = params.groups;
        if g == 0 {
            return Err(Error::invalid(op, "groups", "must be at least 1, got 0"));
        }
        if c_in % g != 0 || c_out % g != 0 {
            return Err(Error::invalid(
                op,
                "groups",
                format!(
                    "in_channels ({c_in}) and out_channels ({c_out}) must both be divisible by groups ({g})"
                ),
            ));
        }
        if c_per_group != c_in / g {
            return Err(Error::shape(
                op,
                format!(
                    "expected {} input channels per group from weight {weight:?} (groups = {g}), input {input:?} gives {}",
                    c_per_group,
                    c_in / g
                ),
            ));
        }
        if kh == 0 || kw == 0 {
            return Err(Error::invalid(
                op,
                "kernel",
                format!("kernel size must be positive, got {kh}x{kw}"),
            ));
        }
        let ext_h = params.dilation[0] * (kh - 1) + 1;
        let ext_w = params.dilation[1] * (kw - 1) + 1;
        let pad = match params.padding {
            Padding::Explicit([ph, pw]) => [ph, pw, ph, pw],
            Padding::Valid => [0; 4],
            Padding::Same => {
                if params.stride != [1, 1] {
                    return Err(Error::invalid(
                        op,
                        "padding",
                        format!("padding='same' needs stride 1, got {:?}", params.stride),
                    ));
                }
                let (th, tw) = (ext_h - 1, ext_w - 1);
                [th / 2, tw / 2, th - th / 2, tw - tw / 2]
            }
        };
        let (ph, pw) = (h + pad[0] + pad[2], w + pad[1] + pad[3]);
        if ph < ext_h || pw < ext_w {
            return Err(Error::invalid(
                op,
                "kernel",
                format!(
                    "kernel {kh}x{kw} (dilated {ext_h}x{ext_w}) is larger than the padded input {ph}x{pw}"
                ),
            ));
        }
        Ok(Conv2dGeometry {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride: params.stride,
            dilation: params.dilation,
            pad,
            groups: g,
            oh: (ph - ext_h) / params.stride[0] + 1,
            ow: (pw - ext_w) / params.stride[1] + 1,
        })
    }

    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.oh, self.ow]
    }

    pub fn in_shape(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }

    pub fn weight_shape(&self) -> [usize; 4] {
        [self.c_out, self.c_in / self.groups, self.kh, self.kw]
    }

    /// Input channels per group.
    pub fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output channels per group.
    pub fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }

    /// Length of one im2col column: `C_in/groups · KH · KW`.
    pub fn patch_len(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }

    /// Multiply-add FLOPs of the forward pass (an FMA counts as two).
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.oh * self.ow) as f64 * self.patch_len() as f64
    }
}

/// Hyper-parameters of `conv_transpose2d` (PyTorch's `ConvTranspose2d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// A transposed convolution resolved for concrete shapes. Input
/// `[N, C_in, H, W]`, weight `[C_in, C_out / groups, KH, KW]` (IOHW), output
/// `[N, C_out, OH, OW]` with `OH = (H−1)·stride − 2·pad + dilation·(KH−1) + output_padding + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dGeometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvTranspose2dGeometry {
    pub fn new(
        op: &str,
        input: &[usize],
        weight: &[usize],
        params: &ConvTranspose2dParams,
    ) -> Result<Self> {
        let [n, c_in, h, w] = dims4(op, "input", input)?;
        let [wc_in, cout_g, kh, kw] = dims4(op, "weight", weight)?;
        check_positive(op, "stride", params.stride)?;
        check_positive(op, "dilation", params.dilation)?;
        let g = params.groups;
        if g == 0 {
            return Err(Error::invalid(op, "groups", "must be at least 1, got 0"));
        }
        if wc_in != c_in {
            return Err(Error::shape(
                op,
                format!(
                    "expected {wc_in} input channels (weight {weight:?}), got {c_in} (input {input:?})"
                ),
            ));
        }
        if c_in % g != 0 {
            return Err(Error::invalid(
                op,
                "groups",
                format!("in_channels ({c_in}) must be divisible by groups ({g})"),
            ));
        }
        for a in 0..2 {
            if params.output_padding[a] >= params.stride[a].max(params.dilation[a]) {
                return Err(Error::invalid(
                    op,
                    "output_padding",
                    format!(
                        "output_padding {:?} must be smaller than stride {:?} or dilation {:?}",
                        params.output_padding, params.stride, params.dilation
                    ),
                ));
            }
        }
        let out = |len: usize, a: usize, k: usize| -> Result<usize> {
            let full = (len - 1) * params.stride[a]
                + params.dilation[a] * (k - 1)
                + params.output_padding[a]
                + 1;
            full.checked_sub(2 * params.padding[a]).filter(|&v| v > 0).ok_or_else(|| {
                Error::invalid(
                    op,
                    "padding",
                    format!("padding {:?} leaves no output for input {input:?} and kernel {kh}x{kw}", params.padding),
                )
            })
        };
        if h == 0 || w == 0 || kh == 0 || kw == 0 {
            return Err(Error::shape(
                op,
                format!("empty input {input:?} or kernel {weight:?}"),
            ));
        }
        Ok(ConvTranspose2dGeometry {
            n,
            c_in,
            h,
            w,
            c_out: cout_g * g,
            kh,
            kw,
            stride: params.stride,
            padding: params.padding,
            output_padding: params.output_padding,
            dilation: params.dilation,
            groups: g,
            oh: out(h, 0, kh)?,
            ow: out(w, 1, kw)?,
        })
    }

    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.oh, self.ow]
    }

    pub fn weight_shape(&self) -> [usize; 4] {
        [self.c_in, self.c_out / self.groups, self.kh, self.kw]
    }

    /// Multiply-add FLOPs (an FMA counts as two).
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.c_in * self.h * self.w) as f64
            * (self.c_out / self.groups * self.kh * self.kw) as f64
    }
}

fn dims4(op: &str, what: &str, shape: &[usize]) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(shape).map_err(|_| {
        Error::shape(
            op,
            format!("{what} must be 4-D (NCHW / OIHW), got shape {shape:?}"),
        )
    })
}

fn check_positive(op: &str, what: &str, v: [usize; 2]) -> Result<()> {
    if v.contains(&0) {
        return Err(Error::invalid(
            op,
            what,
            format!("must be positive, got {v:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(input: [usize; 4], weight: [usize; 4], p: Conv2dParams) -> Result<Conv2dGeometry> {
        Conv2dGeometry::new("conv2d", &input, &weight, &p)
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        let g = geo([2, 3, 32, 32], [16, 3, 5, 5], Conv2dParams::default()).unwrap();
        assert_eq!(g.out_shape(), [2, 16, 28, 28]);
        let p = Conv2dParams {
            stride: [2, 2],
            padding: Padding::Explicit([3, 3]),
            ..Default::default()
        };
        assert_eq!(
            geo([1, 3, 224, 224], [64, 3, 7, 7], p).unwrap().out_shape(),
            [1, 64, 112, 112]
        );
        // 'same' with an even kernel pads the extra row/column at the bottom/right.
        let p = Conv2dParams {
            padding: Padding::Same,
            dilation: [1, 2],
            ..Default::default()
        };
        let g = geo([1, 2, 9, 7], [4, 2, 4, 3], p).unwrap();
        assert_eq!(g.pad, [1, 2, 2, 2]);
        assert_eq!((g.oh, g.ow), (9, 7));
        let p = Conv2dParams {
            groups: 4,
            ..Default::default()
        };
        assert!(geo([1, 8, 5, 5], [8, 2, 3, 3], p).is_ok());
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = geo([1, 6, 8, 8], [4, 3, 3, 3], Conv2dParams::default()).unwrap_err();
        assert!(e.to_string().contains("expected 3 input channels"), "{e}");
        let p = Conv2dParams {
            groups: 4,
            ..Default::default()
        };
        let e = geo([1, 6, 8, 8], [4, 1, 3, 3], p).unwrap_err();
        assert!(e.to_string().contains("divisible by groups"), "{e}");
        let p = Conv2dParams {
            stride: [0, 1],
            ..Default::default()
        };
        assert!(
            geo([1, 1, 8, 8], [1, 1, 3, 3], p)
                .unwrap_err()
                .to_string()
                .contains("stride")
        );
        let e = geo([1, 1, 2, 2], [1, 1, 3, 3], Conv2dParams::default()).unwrap_err();
        assert!(
            e.to_string().contains("larger than the padded input"),
            "{e}"
        );
        let p = Conv2dParams {
            padding: Padding::Same,
            stride: [2, 2],
            ..Default::default()
        };
        assert!(geo([1, 1, 8, 8], [1, 1, 3, 3], p).is_err());
    }

    #[test]
    fn transposed_sizes_follow_pytorch() {
        let p = ConvTranspose2dParams {
            stride: [2, 2],
            ..Default::default()
        };
        let g = ConvTranspose2dGeometry::new("t", &[8, 64, 28, 28], &[64, 32, 2, 2], &p).unwrap();
        assert_eq!(g.out_shape(), [8, 32, 56, 56]);
        let p = ConvTranspose2dParams {
            stride: [3, 2],
            padding: [1, 2],
            output_padding: [2, 1],
            dilation: [2, 1],
            groups: 2,
        };
        let g = ConvTranspose2dGeometry::new("t", &[1, 4, 5, 6], &[4, 3, 3, 4], &p).unwrap();
        // (5-1)*3 - 2 + 2*2 + 2 + 1 = 17; (6-1)*2 - 4 + 3 + 1 + 1 = 11
        assert_eq!(g.out_shape(), [1, 6, 17, 11]);
    }
}

/// A convolution resolved into what the gather kernels need: a source
/// `[n, c_in, h_in, w_in]`, a result `[n, c_out, h_out, w_out]`, the kernel
/// window, and the top/left padding. Read as a transposed convolution
/// (weights `[c_in, c_out/groups, kh, kw]`) by the kernels of this module, and
/// as a direct convolution (weights `[c_out, c_in/groups, kh, kw]`) by
/// conv_transpose2d's data gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatherGeometry {
    pub n: usize,
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Top and left padding.
    pub pad: [usize; 2],
    pub groups: usize,
}

impl GatherGeometry {
    /// conv_transpose2d's forward pass.
    pub fn transposed(geo: &ConvTranspose2dGeometry) -> Self {
        GatherGeometry {
            n: geo.n,
            c_in: geo.c_in,
            h_in: geo.h,
            w_in: geo.w,
            c_out: geo.c_out,
            h_out: geo.oh,
            w_out: geo.ow,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: geo.padding,
            groups: geo.groups,
        }
    }

    /// conv2d's data gradient: the transposed convolution of dy with the conv
    /// weights, offset by the conv's top/left padding, onto the input's size.
    pub fn conv2d_data_grad(geo: &Conv2dGeometry) -> Self {
        GatherGeometry {
            n: geo.n,
            c_in: geo.c_out,
            h_in: geo.oh,
            w_in: geo.ow,
            c_out: geo.c_in,
            h_out: geo.h,
            w_out: geo.w,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: [geo.pad[0], geo.pad[1]],
            groups: geo.groups,
        }
    }

    /// conv_transpose2d's data gradient: the direct convolution of dy with the
    /// transposed convolution's weights (read as OIHW) onto the input's size.
    pub fn conv_transpose2d_data_grad(geo: &ConvTranspose2dGeometry) -> Self {
        GatherGeometry {
            n: geo.n,
            c_in: geo.c_out,
            h_in: geo.oh,
            w_in: geo.ow,
            c_out: geo.c_in,
            h_out: geo.h,
            w_out: geo.w,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: geo.padding,
            groups: geo.groups,
        }
    }

    pub fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }

    pub fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }

    pub fn out_numel(&self) -> usize {
        self.n * self.c_out * self.h_out * self.w_out
    }

    /// Bytes of f32 columns one image needs in the GEMM + col2im variant.
    pub fn cols_bytes_per_image(&self) -> u64 {
        (self.c_out * self.kh * self.kw * self.h_in * self.w_in) as u64 * 4
    }

    /// The uniform block, with the per-launch fields zero.
    pub(crate) fn params(&self) -> GatherParams {
        GatherParams {
            n: self.n as u32,
            c_in: self.c_in as u32,
            h_in: self.h_in as u32,
            w_in: self.w_in as u32,
            c_out: self.c_out as u32,
            h_out: self.h_out as u32,
            w_out: self.w_out as u32,
            groups: self.groups as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            sh: self.stride[0] as u32,
            sw: self.stride[1] as u32,
            dh: self.dilation[0] as u32,
            dw: self.dilation[1] as u32,
            pt: self.pad[0] as u32,
            pl: self.pad[1] as u32,
            cin_g: self.cin_g() as u32,
            cout_g: self.cout_g() as u32,
            col_is: (self.c_out * self.kh * self.kw * self.h_in * self.w_in) as u32,
            col_rs: (self.h_in * self.w_in) as u32,
            ..Default::default()
        }
    }
}

/// Mirrors `Params` of `shaders/conv_transpose/params.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GatherParams {
    pub n: u32,
    pub c_in: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub c_out: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub groups: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub dh: u32,
    pub dw: u32,
    pub pt: u32,
    pub pl: u32,
    pub cin_g: u32,
    pub cout_g: u32,
    pub oc_blocks: u32,
    pub segs: u32,
    pub n0: u32,
    pub nc: u32,
    pub tiles_r: u32,
    pub tiles_p: u32,
    pub col_is: u32,
    pub col_rs: u32,
    pub x_off: u32,
    pub _pad: u32,
}
