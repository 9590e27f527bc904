//! Benchmark cases: named shape suites, shape parsing, and for each case the
//! op's table (whose rows are the variants to compare) and its runner.

use weft::Device;
use weft::device::{Caps, TuneKey};
use weft::kernels::batch_norm::{self, BatchNormBackwardProblem, BatchNormProblem};
use weft::kernels::conv::backward::data::{self as data_grad, DataGradProblem};
use weft::kernels::conv::backward::weight::{self as weight_grad, WeightGrad, WeightGradProblem};
use weft::kernels::conv::forward::{self, Conv2dProblem};
use weft::kernels::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, GatherGeometry,
    Padding,
};
use weft::kernels::conv::transpose::{self, ConvTranspose2dProblem};
use weft::kernels::filter::{self, Border, CorrelateProblem, Rank, RankProblem};
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmProblem};
use weft::kernels::pool::backward::{self as pool_backward, MaxPoolBackwardProblem};
use weft::kernels::pool::forward::{self as pool_forward, Pool2dProblem};
use weft::kernels::pool::{Pool2dParams, PoolKind};
use weft::kernels::registry::Table;
use weft::kernels::{Activation, Precision};

use super::BenchArgs;
use super::runners::{self, Runner};

/// The work a case does, for rates and fractions of peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub flops: f64,
    pub bytes: f64,
    /// Rated in GB/s against copy bandwidth rather than GFLOP/s against FMA peak.
    pub memory_bound: bool,
    /// Pixels of an image tool's input (0 elsewhere), for megapixels/s.
    pub pixels: f64,
}

/// Operand layouts of a GEMM case: `nn`, `nt` (B transposed: dense layers'
/// x·Wᵀ), `tn` (A transposed: their weight gradient dyᵀ·x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Layout {
    const NN: Layout = Layout {
        trans_a: false,
        trans_b: false,
    };

    fn parse(s: &str) -> Option<Layout> {
        let t = |c: char| match c {
            'n' => Some(false),
            't' => Some(true),
            _ => None,
        };
        let mut chars = s.chars();
        let (a, b) = (t(chars.next()?)?, t(chars.next()?)?);
        chars.next().is_none().then_some(Layout {
            trans_a: a,
            trans_b: b,
        })
    }

    fn name(self) -> String {
        let c = |t: bool| if t { 't' } else { 'n' };
        format!("{}{}", c(self.trans_a), c(self.trans_b))
    }
}

/// A problem to benchmark.
#[derive(Debug, Clone)]
pub enum Problem {
    Gemm {
        m: usize,
        n: usize,
        k: usize,
        layout: Layout,
    },
    Conv(Conv2dGeometry),
    ConvTranspose(ConvTranspose2dGeometry),
    /// conv2d's data gradient: dx `[N, C_in, H, W]` from dy of the forward
    /// convolution `geo`.
    ConvDataGrad(Conv2dGeometry),
    /// conv2d's weight gradient: dW `[C_out, C_in/groups, KH, KW]` from x and
    /// dy of the forward convolution `geo`.
    ConvWeightGrad(Conv2dGeometry),
    Pool {
        kind: PoolKind,
        shape: [usize; 4],
        params: Pool2dParams,
    },
    /// Max pooling's gradient, knowing the forward's parameters.
    MaxPoolBackward {
        shape: [usize; 4],
        params: Pool2dParams,
    },
    /// Training-mode batch norm.
    BatchNorm {
        shape: [usize; 4],
    },
    /// Batch norm's gradient.
    BatchNormBackward {
        shape: [usize; 4],
    },
    /// Correlation of `[C, H, W]` images with a `k × k` kernel, reflect-101
    /// borders.
    Correlate {
        shape: [usize; 3],
        k: usize,
    },
    /// Medians of `(2·radius+1)²` windows of `[C, H, W]` images, reflect-101
    /// borders.
    Median {
        shape: [usize; 3],
        radius: usize,
    },
}

impl Problem {
    /// The GEMM dimensions of a GEMM case.
    pub fn gemm_dims(m: usize, n: usize, k: usize, layout: Layout) -> GemmDims {
        let a = if layout.trans_a { [k, m] } else { [m, k] };
        let b = if layout.trans_b { [n, k] } else { [k, n] };
        GemmDims::infer(&a, &b, layout.trans_a, layout.trans_b).expect("valid GEMM dimensions")
    }
}

/// An op on one shape.
#[derive(Debug, Clone)]
pub struct Case {
    pub op: &'static str,
    pub suite: String,
    /// The shape in `--shape` syntax.
    pub shape: String,
    pub problem: Problem,
    pub work: Work,
}

/// The rows of `table` that can run `p`.
fn names<P: weft::kernels::registry::Problem>(table: &Table<P>, p: &P, caps: &Caps) -> Vec<String> {
    table
        .supporting(p, caps)
        .into_iter()
        .map(|v| v.name.to_string())
        .collect()
}

/// Applies `f` to the case's table and kernel problem at `precision`.
macro_rules! with_table {
    ($case:expr, $precision:expr, |$table:ident, $p:ident| $body:expr) => {{
        let precision = $precision;
        match &$case.problem {
            Problem::Gemm { m, n, k, layout } => {
                let $table = &gemm::TABLE;
                let $p = GemmProblem {
                    dims: Problem::gemm_dims(*m, *n, *k, *layout),
                    bias: BiasMode::None,
                    activation: Activation::None,
                    precision,
                };
                $body
            }
            Problem::Conv(geo) => {
                let $table = &forward::TABLE;
                let $p = Conv2dProblem {
                    geo: *geo,
                    bias: false,
                    activation: Activation::None,
                    precision,
                };
                $body
            }
            Problem::ConvTranspose(geo) => {
                let $table = &transpose::TABLE;
                let $p = ConvTranspose2dProblem {
                    g: GatherGeometry::transposed(geo),
                    bias: false,
                    activation: Activation::None,
                    precision,
                };
                $body
            }
            Problem::ConvDataGrad(geo) => {
                let $table = &data_grad::TABLE;
                let $p = DataGradProblem {
                    geo: *geo,
                    precision,
                };
                $body
            }
            Problem::ConvWeightGrad(geo) => {
                let $table = &weight_grad::TABLE;
                let $p = WeightGradProblem {
                    wg: WeightGrad::conv2d(geo),
                    precision,
                };
                $body
            }
            Problem::Pool {
                kind,
                shape,
                params,
            } => {
                let $table = &pool_forward::TABLE;
                let [n, c, h, w] = *shape;
                let $p = Pool2dProblem {
                    kind: *kind,
                    planes: n * c,
                    hw: [h, w],
                    ohw: params.out_hw("bench", h, w).expect("validated when parsed"),
                    params: *params,
                    with_indices: false,
                    precision,
                };
                $body
            }
            Problem::MaxPoolBackward { shape, params } => {
                let $table = &pool_backward::TABLE;
                let [n, c, h, w] = *shape;
                let $p = MaxPoolBackwardProblem {
                    planes: n * c,
                    hw: [h, w],
                    ohw: params.out_hw("bench", h, w).expect("validated when parsed"),
                    params: Some(*params),
                    precision,
                };
                $body
            }
            Problem::BatchNorm { shape } => {
                let $table = &batch_norm::TABLE;
                let $p = BatchNormProblem {
                    shape: *shape,
                    eps: 1e-5,
                    momentum: 0.1,
                    activation: Activation::None,
                    precision,
                };
                $body
            }
            Problem::BatchNormBackward { shape } => {
                let $table = &batch_norm::BACKWARD_TABLE;
                let $p = BatchNormBackwardProblem {
                    shape: *shape,
                    precision,
                };
                $body
            }
            Problem::Correlate { shape, k } => {
                let _ = precision;
                let $table = &filter::CORRELATE_TABLE;
                let [c, h, w] = *shape;
                let $p = CorrelateProblem {
                    planes: c,
                    hw: [h, w],
                    kernel: [*k, *k],
                    border: Border::Reflect101,
                };
                $body
            }
            Problem::Median { shape, radius } => {
                let _ = precision;
                let $table = &filter::RANK_TABLE;
                let [c, h, w] = *shape;
                let $p = RankProblem {
                    planes: c,
                    hw: [h, w],
                    radius: *radius,
                    which: Rank::Median,
                    border: Border::Reflect101,
                };
                $body
            }
        }
    }};
}

impl Case {
    fn new(suite: &str, op: &'static str, shape: &str, problem: Problem, work: Work) -> Case {
        Case {
            op,
            suite: suite.to_string(),
            shape: shape.to_string(),
            problem,
            work,
        }
    }

    fn gemm(suite: &str, m: usize, n: usize, k: usize, layout: Layout) -> Case {
        let elems = (m * k + k * n + m * n) as f64;
        let shape = if layout == Layout::NN {
            format!("{m},{n},{k}")
        } else {
            format!("{m},{n},{k},{}", layout.name())
        };
        let work = Work {
            flops: 2.0 * (m * n * k) as f64,
            bytes: 4.0 * elems,
            memory_bound: false,
            pixels: 0.0,
        };
        Case::new(
            suite,
            "gemm",
            &shape,
            Problem::Gemm { m, n, k, layout },
            work,
        )
    }

    fn conv_like(suite: &str, op: &'static str, shape: &str, problem: Problem) -> Case {
        let (flops, elems) = match &problem {
            Problem::Conv(g) | Problem::ConvDataGrad(g) | Problem::ConvWeightGrad(g) => (
                g.flops(),
                g.n * g.c_in * g.h * g.w + g.n * g.c_out * g.oh * g.ow,
            ),
            Problem::ConvTranspose(g) => (
                g.flops(),
                g.n * g.c_in * g.h * g.w + g.n * g.c_out * g.oh * g.ow,
            ),
            _ => unreachable!("convolution cases only"),
        };
        let work = Work {
            flops,
            bytes: 4.0 * elems as f64,
            memory_bound: false,
            pixels: 0.0,
        };
        Case::new(suite, op, shape, problem, work)
    }

    /// Names of the variants that can run this case at `precision` on `dev`.
    pub fn variants(&self, dev: &Device, precision: Precision) -> Vec<String> {
        with_table!(self, precision, |table, p| names(table, &p, dev.caps()))
    }

    /// The variant the op itself would run on this case at `precision`.
    pub fn chosen_variant(&self, dev: &Device, precision: Precision) -> &'static str {
        with_table!(self, precision, |table, p| table.choose(dev, &p).name)
    }

    /// The tuner's key of this case at `precision` (what `--save-tuning`
    /// records the winner under).
    pub fn tune_key(&self, dev: &Device, precision: Precision) -> TuneKey {
        with_table!(self, precision, |table, p| table.tune_key(dev, &p))
    }

    /// Inputs on the device for `variant`, ready to check and time.
    pub fn prepare(
        &self,
        dev: &Device,
        variant: &str,
        precision: Precision,
    ) -> weft::Result<Box<dyn Runner>> {
        runners::prepare(self, dev, variant, precision)
    }
}

/// Parses comma-separated integers, whose product (zeros aside) must fit
/// in 64 bits so that no size computed from them overflows.
fn ints(s: &str) -> Result<Vec<usize>, String> {
    let v = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad number \"{t}\" in shape \"{s}\""))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let fits = v
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b.max(1)))
        .is_some_and(|p| p < 1 << 48);
    if !fits {
        return Err(format!("shape \"{s}\" is too large"));
    }
    Ok(v)
}

/// The named suites, as (op, shape) pairs: the conv and dense layers of each
/// network (batch 64 for LeNet-5, 8 for AlexNet, ResNet-18 and the U-Net, 1
/// for VGG-16) in the layouts the network runs them, its pools, and the
/// speed-target shapes.
fn suite(name: &str) -> Vec<(&'static str, String)> {
    let g = |m: usize, n: usize, k: usize| ("gemm", format!("{m},{n},{k}"));
    let gl = |m: usize, n: usize, k: usize, l: &str| ("gemm", format!("{m},{n},{k},{l}"));
    let c = |s: &str| ("conv2d", s.to_string());
    let t = |s: &str| ("conv_transpose2d", s.to_string());
    let mp = |s: &str| ("max_pool2d", s.to_string());
    let mpb = |s: &str| ("max_pool2d_backward", s.to_string());
    let bn = |s: &str| ("batch_norm", s.to_string());
    let bnb = |s: &str| ("batch_norm_backward", s.to_string());
    let dx = |s: &str| ("conv2d_backward_data", s.to_string());
    let dw = |s: &str| ("conv2d_backward_weight", s.to_string());
    match name {
        "lenet5" => vec![
            c("64,1,28,28,6,5,5,1,2"),
            c("64,6,14,14,16,5,5,1,0"),
            dx("64,6,14,14,16,5,5,1,0"),
            dw("64,1,28,28,6,5,5,1,2"),
            dw("64,6,14,14,16,5,5,1,0"),
            mp("64,6,28,28,2,2"),
            mp("64,16,10,10,2,2"),
            mpb("64,6,28,28,2,2"),
            // Dense layers: forward x·Wᵀ, data gradient dy·W, weight gradient dyᵀ·x.
            gl(64, 120, 400, "nt"),
            gl(64, 84, 120, "nt"),
            gl(64, 10, 84, "nt"),
            g(64, 400, 120),
            gl(120, 400, 64, "tn"),
        ],
        "alexnet" => vec![
            c("8,3,224,224,64,11,11,4,2"),
            c("8,64,27,27,192,5,5,1,2"),
            c("8,192,13,13,384,3,3,1,1"),
            c("8,384,13,13,256,3,3,1,1"),
            c("8,256,13,13,256,3,3,1,1"),
            mp("8,64,55,55,3,2"),
            gl(8, 4096, 9216, "nt"),
            gl(8, 4096, 4096, "nt"),
            gl(8, 1000, 4096, "nt"),
        ],
        "vgg16" => vec![
            c("1,3,224,224,64,3,3,1,1"),
            c("1,64,224,224,64,3,3,1,1"),
            c("1,64,112,112,128,3,3,1,1"),
            c("1,128,112,112,128,3,3,1,1"),
            c("1,128,56,56,256,3,3,1,1"),
            c("1,256,56,56,256,3,3,1,1"),
            c("1,256,28,28,512,3,3,1,1"),
            c("1,512,28,28,512,3,3,1,1"),
            c("1,512,14,14,512,3,3,1,1"),
            mp("1,64,224,224,2,2"),
            gl(1, 4096, 25088, "nt"),
            gl(1, 4096, 4096, "nt"),
            gl(1, 1000, 4096, "nt"),
        ],
        "resnet18" => vec![
            c("8,3,224,224,64,7,7,2,3"),
            c("8,64,56,56,64,3,3,1,1"),
            c("8,64,56,56,128,3,3,2,1"),
            c("8,64,56,56,128,1,1,2,0"),
            c("8,128,28,28,128,3,3,1,1"),
            c("8,128,28,28,256,3,3,2,1"),
            c("8,128,28,28,256,1,1,2,0"),
            c("8,256,14,14,256,3,3,1,1"),
            c("8,256,14,14,512,3,3,2,1"),
            c("8,256,14,14,512,1,1,2,0"),
            c("8,512,7,7,512,3,3,1,1"),
            dx("8,64,56,56,64,3,3,1,1"),
            dx("8,256,14,14,256,3,3,1,1"),
            dw("8,64,56,56,64,3,3,1,1"),
            dw("8,256,14,14,256,3,3,1,1"),
            mp("8,64,112,112,3,2,1"),
            mpb("8,64,112,112,3,2,1"),
            bn("8,64,112,112"),
            bn("8,256,14,14"),
            bn("8,512,7,7"),
            bnb("8,64,112,112"),
            bnb("8,256,14,14"),
            bnb("8,512,7,7"),
            gl(8, 1000, 512, "nt"),
        ],
        "unet" => vec![
            c("8,3,128,128,64,3,3,1,1"),
            c("8,64,128,128,64,3,3,1,1"),
            c("8,128,64,64,128,3,3,1,1"),
            c("8,256,32,32,256,3,3,1,1"),
            c("8,512,16,16,512,3,3,1,1"),
            c("8,1024,8,8,1024,3,3,1,1"),
            c("8,64,128,128,2,1,1,1,0"),
            t("8,1024,8,8,512,2,2,2,0"),
            t("8,512,16,16,256,2,2,2,0"),
            t("8,256,32,32,128,2,2,2,0"),
            t("8,128,64,64,64,2,2,2,0"),
            mp("8,64,128,128,2,2"),
        ],
        "square" => [256, 512, 1024, 2048].iter().map(|&s| g(s, s, s)).collect(),
        // Image tools on a 1024² greyscale image: correlation with kernels
        // from 3x3 to 17x17 (the tiled kernel's largest), medians 3x3 to 7x7.
        "image" => {
            let mut cases: Vec<(&'static str, String)> = [3, 5, 9, 17]
                .iter()
                .map(|k| ("correlate", format!("1,1024,1024,{k}")))
                .collect();
            cases.extend((1..=3).map(|r| ("rank_filter", format!("1,1024,1024,{r}"))));
            cases
        }
        "targets" => vec![
            g(1024, 1024, 1024),
            c("8,64,56,56,64,3,3,1,1"),
            c("8,256,14,14,256,3,3,1,1"),
            c("8,3,224,224,64,7,7,2,3"),
            t("8,64,28,28,32,2,2,2,0"),
            mp("8,64,112,112,2,2"),
        ],
        _ => vec![],
    }
}

/// Every suite name.
pub const SUITES: [&str; 8] = [
    "lenet5", "alexnet", "vgg16", "resnet18", "unet", "square", "targets", "image",
];

/// Every op name, and the table each one compares.
pub const OPS: [(&str, &str); 12] = [
    ("gemm", "gemm"),
    ("conv2d", "conv2d"),
    ("conv2d_backward_data", "conv2d_backward_data"),
    ("conv2d_backward_weight", "conv2d_backward_weight"),
    ("conv_transpose2d", "conv_transpose2d"),
    ("max_pool2d", "pool2d"),
    ("avg_pool2d", "pool2d"),
    ("max_pool2d_backward", "max_pool2d_backward"),
    ("batch_norm", "batch_norm"),
    ("batch_norm_backward", "batch_norm_backward"),
    ("correlate", "correlate"),
    ("rank_filter", "rank_filter"),
];

fn op_names() -> Vec<&'static str> {
    OPS.iter().map(|(op, _)| *op).collect()
}

type ConvDims = ([usize; 4], [usize; 3], usize, usize, usize, usize);

fn conv_dims(op: &str, shape: &str, v: &[usize]) -> Result<ConvDims, String> {
    match *v {
        [n, c, h, w, k, r, s, stride, pad] => Ok(([n, c, h, w], [k, r, s], stride, pad, 1, 1)),
        [n, c, h, w, k, r, s, stride, pad, dil, groups] => {
            Ok(([n, c, h, w], [k, r, s], stride, pad, dil, groups))
        }
        _ => Err(format!(
            "{op} shapes are N,C,H,W,K,R,S,stride,pad[,dilation,groups]; got \"{shape}\""
        )),
    }
}

fn conv_geometry(op: &str, shape: &str, v: &[usize]) -> Result<Conv2dGeometry, String> {
    let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(op, shape, v)?;
    let params = Conv2dParams {
        stride: [stride, stride],
        padding: Padding::Explicit([pad, pad]),
        dilation: [dil, dil],
        groups,
    };
    Conv2dGeometry::new(op, &x, &[k, x[1] / groups.max(1), r, s], &params)
        .map_err(|e| e.to_string())
}

fn pool_shape(op: &str, shape: &str, v: &[usize]) -> Result<([usize; 4], Pool2dParams), String> {
    let (x, kernel, stride, pad) = match *v {
        [n, c, h, w, k, s] => ([n, c, h, w], k, s, 0),
        [n, c, h, w, k, s, p] => ([n, c, h, w], k, s, p),
        _ => {
            return Err(format!(
                "{op} shapes are N,C,H,W,kernel,stride[,pad]; got \"{shape}\""
            ));
        }
    };
    let mut params = Pool2dParams::new([kernel, kernel]);
    params.stride = [stride, stride];
    params.padding = [pad, pad];
    params.out_hw(op, x[2], x[3]).map_err(|e| e.to_string())?;
    Ok((x, params))
}

fn case_for(suite_name: &str, op: &str, shape: &str) -> Result<Case, String> {
    if op == "gemm" {
        let parts: Vec<&str> = shape.split(',').collect();
        let (dims, layout) = match parts.as_slice() {
            [_, _, _] => (ints(shape)?, Layout::NN),
            [m, n, k, l] => (
                ints(&format!("{m},{n},{k}"))?,
                Layout::parse(l.trim())
                    .ok_or_else(|| format!("bad GEMM layout \"{l}\" (nn, nt, tn or tt)"))?,
            ),
            _ => {
                return Err(format!(
                    "gemm shapes are M,N,K[,layout] with layout nn, nt, tn or tt; got \"{shape}\""
                ));
            }
        };
        return Ok(Case::gemm(suite_name, dims[0], dims[1], dims[2], layout));
    }
    let v = ints(shape)?;
    match op {
        "conv2d" => Ok(Case::conv_like(
            suite_name,
            "conv2d",
            shape,
            Problem::Conv(conv_geometry(op, shape, &v)?),
        )),
        "conv2d_backward_data" => Ok(Case::conv_like(
            suite_name,
            "conv2d_backward_data",
            shape,
            Problem::ConvDataGrad(conv_geometry(op, shape, &v)?),
        )),
        "conv2d_backward_weight" => Ok(Case::conv_like(
            suite_name,
            "conv2d_backward_weight",
            shape,
            Problem::ConvWeightGrad(conv_geometry(op, shape, &v)?),
        )),
        "conv_transpose2d" => {
            let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(op, shape, &v)?;
            let params = ConvTranspose2dParams {
                stride: [stride, stride],
                padding: [pad, pad],
                output_padding: [0, 0],
                dilation: [dil, dil],
                groups,
            };
            let w = [x[1], k / groups.max(1), r, s];
            let geo =
                ConvTranspose2dGeometry::new(op, &x, &w, &params).map_err(|e| e.to_string())?;
            Ok(Case::conv_like(
                suite_name,
                "conv_transpose2d",
                shape,
                Problem::ConvTranspose(geo),
            ))
        }
        "max_pool2d" | "avg_pool2d" => {
            let (x, params) = pool_shape(op, shape, &v)?;
            let [n, c, h, w] = x;
            let [oh, ow] = params.out_hw(op, h, w).map_err(|e| e.to_string())?;
            let (kind, name) = if op == "max_pool2d" {
                (PoolKind::Max, "max_pool2d")
            } else {
                (PoolKind::Avg, "avg_pool2d")
            };
            let work = Work {
                flops: (n * c * oh * ow * params.kernel[0] * params.kernel[1]) as f64,
                bytes: 4.0 * (n * c * (h * w + oh * ow)) as f64,
                memory_bound: true,
                pixels: 0.0,
            };
            let problem = Problem::Pool {
                kind,
                shape: x,
                params,
            };
            Ok(Case::new(suite_name, name, shape, problem, work))
        }
        "max_pool2d_backward" => {
            let (x, params) = pool_shape(op, shape, &v)?;
            let [n, c, h, w] = x;
            let [oh, ow] = params.out_hw(op, h, w).map_err(|e| e.to_string())?;
            // dy and the indices read, dx written.
            let work = Work {
                flops: 0.0,
                bytes: 4.0 * (n * c * (2 * oh * ow + h * w)) as f64,
                memory_bound: true,
                pixels: 0.0,
            };
            let problem = Problem::MaxPoolBackward { shape: x, params };
            Ok(Case::new(
                suite_name,
                "max_pool2d_backward",
                shape,
                problem,
                work,
            ))
        }
        "batch_norm" => {
            let [n, c, h, w] = <[usize; 4]>::try_from(v.as_slice())
                .map_err(|_| format!("batch_norm shapes are N,C,H,W; got \"{shape}\""))?;
            // x read twice (statistics, normalisation), y written once.
            let elems = n * c * h * w;
            let work = Work {
                flops: 0.0,
                bytes: 4.0 * (3 * elems) as f64,
                memory_bound: true,
                pixels: 0.0,
            };
            let problem = Problem::BatchNorm {
                shape: [n, c, h, w],
            };
            Ok(Case::new(suite_name, "batch_norm", shape, problem, work))
        }
        "batch_norm_backward" => {
            let [n, c, h, w] = <[usize; 4]>::try_from(v.as_slice())
                .map_err(|_| format!("batch_norm_backward shapes are N,C,H,W; got \"{shape}\""))?;
            // dy and x read twice (sums, then dx), dx written once.
            let elems = n * c * h * w;
            let work = Work {
                flops: 0.0,
                bytes: 4.0 * (5 * elems) as f64,
                memory_bound: true,
                pixels: 0.0,
            };
            let problem = Problem::BatchNormBackward {
                shape: [n, c, h, w],
            };
            Ok(Case::new(
                suite_name,
                "batch_norm_backward",
                shape,
                problem,
                work,
            ))
        }
        "correlate" | "rank_filter" => {
            let [c, h, w, size] = <[usize; 4]>::try_from(v.as_slice()).map_err(|_| {
                format!("{op} shapes are C,H,W,kernel side (correlate) or radius (rank_filter); got \"{shape}\"")
            })?;
            if c * h * w == 0 {
                return Err(format!("{op}: empty image \"{shape}\""));
            }
            let pixels = (c * h * w) as f64;
            let (problem, work) = if op == "correlate" {
                if size == 0 {
                    return Err(format!("correlate: kernel side 0 in \"{shape}\""));
                }
                let work = Work {
                    flops: 2.0 * (size * size) as f64 * pixels,
                    bytes: 8.0 * pixels,
                    memory_bound: false,
                    pixels,
                };
                (
                    Problem::Correlate {
                        shape: [c, h, w],
                        k: size,
                    },
                    work,
                )
            } else {
                if size > filter::MAX_RANK_RADIUS {
                    return Err(format!(
                        "rank_filter: radius at most {}, got {size}",
                        filter::MAX_RANK_RADIUS
                    ));
                }
                let work = Work {
                    flops: 0.0,
                    bytes: 8.0 * pixels,
                    memory_bound: true,
                    pixels,
                };
                (
                    Problem::Median {
                        shape: [c, h, w],
                        radius: size,
                    },
                    work,
                )
            };
            let name = if op == "correlate" {
                "correlate"
            } else {
                "rank_filter"
            };
            Ok(Case::new(suite_name, name, shape, problem, work))
        }
        other => Err(format!(
            "unknown op \"{other}\" (one of {})",
            op_names().join(", ")
        )),
    }
}

/// The cases the command line asks for.
pub fn select(args: &BenchArgs) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let filter = args.op.contains(&super::BenchOp::Filter);
    let ops: Vec<&str> = if args.op.is_empty() {
        op_names()
    } else {
        // `filter`: the two filter tables.
        args.op
            .iter()
            .flat_map(|op| match op {
                super::BenchOp::Filter => vec!["correlate", "rank_filter"],
                op => vec![op.name()],
            })
            .collect()
    };
    if filter && !args.shape.is_empty() {
        return Err("--shape takes --op correlate or --op rank_filter (--op filter runs the image suite's shapes)".into());
    }
    let mut cases = Vec::new();
    if !args.shape.is_empty() {
        if ops.len() != 1 {
            return Err("--shape needs exactly one --op".into());
        }
        for s in &args.shape {
            cases.push(case_for("custom", ops[0], s)?);
        }
        return Ok(cases);
    }
    let suites: Vec<&str> = if filter && args.suite.is_empty() {
        vec!["image"]
    } else if args.suite.is_empty() {
        SUITES
            .iter()
            .copied()
            .filter(|s| *s != "square" && *s != "image")
            .collect()
    } else {
        args.suite
            .iter()
            .map(|s| s.name())
            .filter(|s| *s != "networks")
            .collect()
    };
    for s in &suites {
        for (op, shape) in suite(s) {
            if ops.contains(&op) {
                cases.push(case_for(s, op, &shape)?);
            }
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_shape_parses() {
        for s in SUITES {
            for (op, shape) in suite(s) {
                case_for(s, op, &shape).unwrap_or_else(|e| panic!("{s} {op} {shape}: {e}"));
            }
        }
        assert!(case_for("x", "gemm", "1,2,3,nt").is_ok());
        assert!(case_for("x", "gemm", "1,2,3,xx").is_err());
        assert!(case_for("x", "nope", "1").is_err());
    }

    #[test]
    fn command_line_names_match_the_cases() {
        use clap::ValueEnum;
        // Every op of the command line but `filter`, which names two.
        let ops: Vec<&str> = super::super::BenchOp::value_variants()
            .iter()
            .map(|o| o.name())
            .filter(|&o| o != "filter")
            .collect();
        assert_eq!(ops, op_names());
        for s in super::super::Suite::value_variants() {
            assert!(
                ["networks", "scaling"].contains(&s.name()) || SUITES.contains(&s.name()),
                "{s:?}"
            );
        }
        // Every op's table exists.
        for (_, table) in OPS {
            assert!(weft::kernels::registry::table(table).is_some(), "{table}");
        }
    }

    /// `--op` and `--shape` strings (every suite's, then mutated, as
    /// `op:shape`) parse to a case or to a message, never a panic.
    /// `WEFT_FUZZ_EXECS` sets the mutations (default 2,000).
    #[test]
    fn shape_strings_never_panic() {
        let seeds: Vec<Vec<u8>> = SUITES
            .iter()
            .flat_map(|s| suite(s))
            .map(|(op, shape)| format!("{op}:{shape}").into_bytes())
            .collect();
        assert!(seeds.len() > 40, "{}", seeds.len());
        let execs = std::env::var("WEFT_FUZZ_EXECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let report = weft_fuzz::driver::run(
            &seeds,
            execs,
            0x5eed,
            std::time::Duration::from_secs(5),
            |data| {
                let text = String::from_utf8_lossy(data);
                let (op, shape) = text.split_once(':').unwrap_or(("conv2d", &text));
                let _ = case_for("fuzz", op, shape);
            },
        );
        eprintln!(
            "shape strings: {} inputs, {} panics, {} hangs",
            report.execs,
            report.panics.len(),
            report.hangs.len()
        );
        assert!(
            report.panics.is_empty() && report.hangs.is_empty(),
            "{:?} {:?}",
            report
                .panics
                .iter()
                .map(|(i, m)| (String::from_utf8_lossy(i), m))
                .collect::<Vec<_>>(),
            report.hangs.len()
        );
    }
}
