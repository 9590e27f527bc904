//! Benchmark cases: named shape suites, shape parsing, and for each op the
//! variants it has, how to prepare inputs, check a variant against the CPU
//! reference and run it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft::kernels::conv::backward::{self as conv_backward, DataGradRoute};
use weft::kernels::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, Padding,
};
use weft::kernels::conv::transpose::{
    self as conv_transpose, ConvTranspose2dSpec, ConvTransposeVariant,
};
use weft::kernels::conv::{self, Conv2dSpec, ConvVariant};
use weft::kernels::gemm::{self, GemmDims, GemmSpec, GemmVariant};
use weft::kernels::pool::{self, Pool2dParams, PoolKind};
use weft::kernels::reference::RefOut;
use weft::kernels::{Precision, testing};
use weft::{DType, Device, Tensor};

use super::BenchArgs;

/// The work a case does, for rates and fractions of peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub flops: f64,
    pub bytes: f64,
    /// Rated in GB/s against copy bandwidth rather than GFLOP/s against FMA peak.
    pub memory_bound: bool,
}

/// A problem to benchmark.
#[derive(Debug, Clone)]
pub enum Problem {
    Gemm {
        m: usize,
        n: usize,
        k: usize,
    },
    Conv(Conv2dGeometry),
    ConvTranspose(ConvTranspose2dGeometry),
    /// conv2d's data gradient: dx `[N, C_in, H, W]` from dy of the forward
    /// convolution `geo` (symmetric padding).
    ConvDataGrad(Conv2dGeometry),
    /// conv2d's weight gradient: dW `[C_out, C_in/groups, KH, KW]` from x and
    /// dy of the forward convolution `geo`.
    ConvWeightGrad(Conv2dGeometry),
    Pool {
        kind: PoolKind,
        shape: [usize; 4],
        params: Pool2dParams,
    },
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

/// A prepared variant: inputs on the device, ready to check and run.
pub trait Runner {
    /// Compares the variant's output with the CPU reference; returns the worst
    /// error in units of ε·scale, or why it is wrong.
    fn check(&mut self) -> Result<f64, String>;
    /// Records one run on input set `i % sets` (inputs rotate so caches do not
    /// flatter small shapes).
    fn run(&mut self, i: usize) -> weft::Result<()>;
}

/// Input sets a runner rotates through.
const SETS: usize = 3;
/// Output elements compared with the reference on large shapes.
const CHECK_SAMPLES: usize = 512;

impl Case {
    fn gemm(suite: &str, m: usize, n: usize, k: usize) -> Case {
        let elems = (m * k + k * n + m * n) as f64;
        Case {
            op: "gemm",
            suite: suite.to_string(),
            shape: format!("{m},{n},{k}"),
            problem: Problem::Gemm { m, n, k },
            work: Work {
                flops: 2.0 * (m * n * k) as f64,
                bytes: 4.0 * elems,
                memory_bound: false,
            },
        }
    }

    fn conv(suite: &str, shape: &str, geo: Conv2dGeometry) -> Case {
        let elems = (geo.n * geo.c_in * geo.h * geo.w + geo.n * geo.c_out * geo.oh * geo.ow) as f64;
        Case {
            op: "conv2d",
            suite: suite.to_string(),
            shape: shape.to_string(),
            problem: Problem::Conv(geo),
            work: Work {
                flops: geo.flops(),
                bytes: 4.0 * elems,
                memory_bound: false,
            },
        }
    }

    fn conv_transpose(suite: &str, shape: &str, geo: ConvTranspose2dGeometry) -> Case {
        let elems = (geo.n * geo.c_in * geo.h * geo.w + geo.n * geo.c_out * geo.oh * geo.ow) as f64;
        Case {
            op: "conv_transpose2d",
            suite: suite.to_string(),
            shape: shape.to_string(),
            problem: Problem::ConvTranspose(geo),
            work: Work {
                flops: geo.flops(),
                bytes: 4.0 * elems,
                memory_bound: false,
            },
        }
    }

    fn conv_weight_grad(suite: &str, shape: &str, geo: Conv2dGeometry) -> Case {
        let elems = (geo.n * geo.c_in * geo.h * geo.w + geo.n * geo.c_out * geo.oh * geo.ow) as f64;
        Case {
            op: "conv2d_backward_weight",
            suite: suite.to_string(),
            shape: shape.to_string(),
            problem: Problem::ConvWeightGrad(geo),
            work: Work {
                flops: geo.flops(),
                bytes: 4.0 * elems,
                memory_bound: false,
            },
        }
    }

    fn conv_data_grad(suite: &str, shape: &str, geo: Conv2dGeometry) -> Case {
        let elems = (geo.n * geo.c_in * geo.h * geo.w + geo.n * geo.c_out * geo.oh * geo.ow) as f64;
        Case {
            op: "conv2d_backward_data",
            suite: suite.to_string(),
            shape: shape.to_string(),
            problem: Problem::ConvDataGrad(geo),
            work: Work {
                flops: geo.flops(),
                bytes: 4.0 * elems,
                memory_bound: false,
            },
        }
    }

    fn pool(
        suite: &str,
        kind: PoolKind,
        shape_s: &str,
        shape: [usize; 4],
        params: Pool2dParams,
    ) -> Result<Case, String> {
        let [n, c, h, w] = shape;
        let [oh, ow] = params.out_hw("bench", h, w).map_err(|e| e.to_string())?;
        Ok(Case {
            op: if kind == PoolKind::Max {
                "max_pool2d"
            } else {
                "avg_pool2d"
            },
            suite: suite.to_string(),
            shape: shape_s.to_string(),
            problem: Problem::Pool {
                kind,
                shape,
                params,
            },
            work: Work {
                flops: (n * c * oh * ow * params.kernel[0] * params.kernel[1]) as f64,
                bytes: 4.0 * (n * c * (h * w + oh * ow)) as f64,
                memory_bound: true,
            },
        })
    }

    /// Names of the variants that can run this case at `precision` on `dev`.
    pub fn variants(&self, dev: &Device, precision: Precision) -> Vec<String> {
        if precision == Precision::F16 && !dev.has(weft::device::Feature::ShaderF16) {
            return Vec::new();
        }
        match &self.problem {
            Problem::Gemm { m, n, k } => {
                let dims = GemmDims::infer(&[*m, *k], &[*k, *n], false, false).expect("valid dims");
                GemmVariant::ALL
                    .into_iter()
                    .filter(|v| v.unsupported(dev, &dims, precision).is_none())
                    .map(|v| v.name().to_string())
                    .collect()
            }
            Problem::Conv(geo) => ConvVariant::ALL
                .into_iter()
                .filter(|v| v.unsupported(dev, geo, precision).is_none())
                .map(|v| v.name().to_string())
                .collect(),
            Problem::ConvTranspose(geo) => ConvTransposeVariant::ALL
                .into_iter()
                .filter(|v| v.unsupported(dev, geo, precision).is_none())
                .map(|v| v.name().to_string())
                .collect(),
            Problem::ConvDataGrad(geo) => DataGradRoute::ALL
                .into_iter()
                .filter(|r| r.unsupported(dev, geo, precision).is_none())
                .map(|r| r.name().to_string())
                .collect(),
            // One kernel per precision: the precision is the variant.
            Problem::Pool { .. } | Problem::ConvWeightGrad(_) => {
                vec![precision.name().to_string()]
            }
        }
    }

    pub fn prepare(
        &self,
        dev: &Device,
        variant: &str,
        precision: Precision,
    ) -> weft::Result<Box<dyn Runner>> {
        match &self.problem {
            Problem::Gemm { m, n, k } => Ok(Box::new(GemmRunner::new(
                dev, *m, *n, *k, variant, precision,
            )?)),
            Problem::Conv(geo) => Ok(Box::new(ConvRunner::new(
                dev,
                ConvKind::Forward(*geo),
                variant,
                precision,
            )?)),
            Problem::ConvTranspose(geo) => Ok(Box::new(ConvRunner::new(
                dev,
                ConvKind::Transposed(*geo),
                variant,
                precision,
            )?)),
            Problem::ConvDataGrad(geo) => Ok(Box::new(ConvRunner::new(
                dev,
                ConvKind::DataGrad(*geo, data_grad_as_transposed(geo)),
                variant,
                precision,
            )?)),
            Problem::ConvWeightGrad(geo) => Ok(Box::new(ConvRunner::new(
                dev,
                ConvKind::WeightGrad(*geo),
                variant,
                precision,
            )?)),
            Problem::Pool {
                kind,
                shape,
                params,
            } => Ok(Box::new(PoolRunner::new(
                dev, *kind, *shape, *params, precision,
            )?)),
        }
    }
}

struct GemmRunner {
    a: Vec<Tensor>,
    b: Vec<Tensor>,
    host_a: Vec<f32>,
    host_b: Vec<f32>,
    out: Tensor,
    spec: GemmSpec,
    dims: GemmDims,
    dtype: DType,
}

impl GemmRunner {
    fn new(
        dev: &Device,
        m: usize,
        n: usize,
        k: usize,
        variant: &str,
        precision: Precision,
    ) -> weft::Result<GemmRunner> {
        let dtype = precision.dtype();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut random = |len: usize| -> Vec<f32> {
            testing::round_to(
                dtype,
                &(0..len)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect::<Vec<f32>>(),
            )
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        let (mut host_a, mut host_b) = (Vec::new(), Vec::new());
        for s in 0..SETS {
            let (ha, hb) = (random(m * k), random(k * n));
            a.push(dev.upload_f32(&[m, k], dtype, &ha)?);
            b.push(dev.upload_f32(&[k, n], dtype, &hb)?);
            if s == 0 {
                (host_a, host_b) = (ha, hb);
            }
        }
        let variant = GemmVariant::from_name(variant).ok_or_else(|| {
            weft::Error::invalid(
                "bench",
                "variant",
                format!("unknown gemm variant {variant}"),
            )
        })?;
        Ok(GemmRunner {
            a,
            b,
            host_a,
            host_b,
            out: dev.empty(&[m, n], dtype)?,
            spec: GemmSpec {
                variant: Some(variant),
                precision: Some(precision),
                ..Default::default()
            },
            dims: GemmDims::infer(&[m, k], &[k, n], false, false)?,
            dtype,
        })
    }
}

impl Runner for GemmRunner {
    fn check(&mut self) -> Result<f64, String> {
        testing::poisoned(self.out.device(), self.out.shape(), self.dtype)
            .and_then(|p| {
                self.out = p;
                gemm::gemm_into(&self.a[0], &self.b[0], None, &self.spec, &self.out)
            })
            .map_err(|e| e.to_string())?;
        let got = self.out.to_f32_vec().map_err(|e| e.to_string())?;
        let (m, n, k) = (self.dims.m, self.dims.n, self.dims.k);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let picks: Vec<usize> = if m * n <= CHECK_SAMPLES {
            (0..m * n).collect()
        } else {
            (0..CHECK_SAMPLES)
                .map(|_| rng.random_range(0..m * n))
                .collect()
        };
        let mut want = weft::kernels::reference::RefOut::default();
        let mut sampled = Vec::with_capacity(picks.len());
        for &e in &picks {
            let (row, col) = (e / n, e % n);
            let (mut acc, mut mag) = (0.0f64, 0.0f64);
            for kk in 0..k {
                let p = self.host_a[row * k + kk] as f64 * self.host_b[kk * n + col] as f64;
                acc += p;
                mag += p.abs();
            }
            want.push(acc, mag);
            sampled.push(got[e]);
        }
        let c = if self.dtype == DType::F16 {
            2.0
        } else {
            2.0 * (k as f64).sqrt() + 4.0
        };
        testing::compare(&sampled, &want, self.dtype, c).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        let s = i % SETS;
        gemm::gemm_into(&self.a[s], &self.b[s], None, &self.spec, &self.out)
    }
}

/// Parses comma-separated integers.
fn ints(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad number \"{t}\" in shape \"{s}\""))
        })
        .collect()
}

/// The named suites, as (op, shape) pairs: the conv and dense layers of each
/// network (batch 64 for LeNet-5, 8 for AlexNet, ResNet-18 and the U-Net, 1
/// for VGG-16), its pools, and the speed-target shapes.
fn suite(name: &str) -> Vec<(&'static str, String)> {
    let g = |m: usize, n: usize, k: usize| ("gemm", format!("{m},{n},{k}"));
    let c = |s: &str| ("conv2d", s.to_string());
    let t = |s: &str| ("conv_transpose2d", s.to_string());
    let mp = |s: &str| ("max_pool2d", s.to_string());
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
            g(64, 120, 400),
            g(64, 84, 120),
            g(64, 10, 84),
        ],
        "alexnet" => vec![
            c("8,3,224,224,64,11,11,4,2"),
            c("8,64,27,27,192,5,5,1,2"),
            c("8,192,13,13,384,3,3,1,1"),
            c("8,384,13,13,256,3,3,1,1"),
            c("8,256,13,13,256,3,3,1,1"),
            mp("8,64,55,55,3,2"),
            g(8, 4096, 9216),
            g(8, 4096, 4096),
            g(8, 1000, 4096),
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
            g(1, 4096, 25088),
            g(1, 4096, 4096),
            g(1, 1000, 4096),
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
            mp("8,64,112,112,3,2,1"),
            g(8, 1000, 512),
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
pub const SUITES: [&str; 7] = [
    "lenet5", "alexnet", "vgg16", "resnet18", "unet", "square", "targets",
];

/// Every op name.
pub const OPS: [&str; 7] = [
    "gemm",
    "conv2d",
    "conv2d_backward_data",
    "conv2d_backward_weight",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
];

fn case_for(suite_name: &str, op: &str, shape: &str) -> Result<Case, String> {
    let v = ints(shape)?;
    type ConvDims = ([usize; 4], [usize; 3], usize, usize, usize, usize);
    let conv_dims = |v: &[usize]| -> Result<ConvDims, String> {
        match *v {
            [n, c, h, w, k, r, s, stride, pad] => Ok(([n, c, h, w], [k, r, s], stride, pad, 1, 1)),
            [n, c, h, w, k, r, s, stride, pad, dil, groups] => {
                Ok(([n, c, h, w], [k, r, s], stride, pad, dil, groups))
            }
            _ => Err(format!(
                "{op} shapes are N,C,H,W,K,R,S,stride,pad[,dilation,groups]; got \"{shape}\""
            )),
        }
    };
    match (op, v.as_slice()) {
        ("gemm", [m, n, k]) => Ok(Case::gemm(suite_name, *m, *n, *k)),
        ("gemm", _) => Err(format!("gemm shapes are M,N,K; got \"{shape}\"")),
        ("conv2d", v) => {
            let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(v)?;
            let params = Conv2dParams {
                stride: [stride, stride],
                padding: Padding::Explicit([pad, pad]),
                dilation: [dil, dil],
                groups,
            };
            let geo = Conv2dGeometry::new("conv2d", &x, &[k, x[1] / groups.max(1), r, s], &params)
                .map_err(|e| e.to_string())?;
            Ok(Case::conv(suite_name, shape, geo))
        }
        ("conv2d_backward_data", v) => {
            let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(v)?;
            let params = Conv2dParams {
                stride: [stride, stride],
                padding: Padding::Explicit([pad, pad]),
                dilation: [dil, dil],
                groups,
            };
            let geo = Conv2dGeometry::new(op, &x, &[k, x[1] / groups.max(1), r, s], &params)
                .map_err(|e| e.to_string())?;
            Ok(Case::conv_data_grad(suite_name, shape, geo))
        }
        ("conv2d_backward_weight", v) => {
            let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(v)?;
            let params = Conv2dParams {
                stride: [stride, stride],
                padding: Padding::Explicit([pad, pad]),
                dilation: [dil, dil],
                groups,
            };
            let geo = Conv2dGeometry::new(op, &x, &[k, x[1] / groups.max(1), r, s], &params)
                .map_err(|e| e.to_string())?;
            Ok(Case::conv_weight_grad(suite_name, shape, geo))
        }
        ("conv_transpose2d", v) => {
            let (x, [k, r, s], stride, pad, dil, groups) = conv_dims(v)?;
            let params = ConvTranspose2dParams {
                stride: [stride, stride],
                padding: [pad, pad],
                output_padding: [0, 0],
                dilation: [dil, dil],
                groups,
            };
            let w = [x[1], k / groups.max(1), r, s];
            let geo = ConvTranspose2dGeometry::new("conv_transpose2d", &x, &w, &params)
                .map_err(|e| e.to_string())?;
            Ok(Case::conv_transpose(suite_name, shape, geo))
        }
        ("max_pool2d" | "avg_pool2d", v) => {
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
            let kind = if op == "max_pool2d" {
                PoolKind::Max
            } else {
                PoolKind::Avg
            };
            Case::pool(suite_name, kind, shape, x, params)
        }
        (other, _) => Err(format!(
            "unknown op \"{other}\" (one of {})",
            OPS.join(", ")
        )),
    }
}

/// The cases the command line asks for.
pub fn select(args: &BenchArgs) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let ops: Vec<&str> = if args.op.is_empty() {
        OPS.to_vec()
    } else {
        args.op.iter().map(String::as_str).collect()
    };
    for op in &ops {
        if !OPS.contains(op) {
            return Err(format!("unknown op \"{op}\" (one of {})", OPS.join(", ")).into());
        }
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
    let suites: Vec<&str> = if args.suite.is_empty() {
        SUITES.iter().copied().filter(|s| *s != "square").collect()
    } else {
        args.suite
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "networks")
            .collect()
    };
    for s in &suites {
        if !SUITES.contains(s) {
            return Err(format!(
                "unknown suite \"{s}\" (one of {}, networks)",
                SUITES.join(", ")
            )
            .into());
        }
        for (op, shape) in suite(s) {
            // Suites list their pools as max pooling; --op avg_pool2d runs them as averages.
            let op = if op == "max_pool2d" && !ops.contains(&op) {
                "avg_pool2d"
            } else {
                op
            };
            if ops.contains(&op) {
                cases.push(case_for(s, op, &shape)?);
            }
        }
    }
    Ok(cases)
}

/// Random inputs of `len` values in [-1, 1), rounded to `dtype`.
fn random_inputs(rng: &mut ChaCha8Rng, len: usize, dtype: DType) -> Vec<f32> {
    testing::round_to(
        dtype,
        &(0..len)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f32>>(),
    )
}

/// Indices of the output elements to check: all of them for small outputs, a
/// fixed random sample otherwise.
fn sample_indices(total: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    if total <= CHECK_SAMPLES {
        (0..total).collect()
    } else {
        (0..CHECK_SAMPLES)
            .map(|_| rng.random_range(0..total))
            .collect()
    }
}

#[derive(Clone, Copy)]
enum ConvKind {
    Forward(Conv2dGeometry),
    Transposed(ConvTranspose2dGeometry),
    /// conv2d's data gradient, checked as the transposed convolution PyTorch
    /// defines it to be.
    DataGrad(Conv2dGeometry, ConvTranspose2dGeometry),
    /// conv2d's weight gradient: `x` holds x, `w` holds dy.
    WeightGrad(Conv2dGeometry),
}

/// The transposed convolution equal to conv2d's data gradient for `geo`
/// (symmetric padding): dy as input, the conv weights read as IOHW, output
/// padding restoring H and W.
fn data_grad_as_transposed(geo: &Conv2dGeometry) -> ConvTranspose2dGeometry {
    let extent =
        |o: usize, s: usize, p: usize, d: usize, k: usize| (o - 1) * s + d * (k - 1) + 1 - 2 * p;
    let params = ConvTranspose2dParams {
        stride: geo.stride,
        padding: [geo.pad[0], geo.pad[1]],
        output_padding: [
            geo.h - extent(geo.oh, geo.stride[0], geo.pad[0], geo.dilation[0], geo.kh),
            geo.w - extent(geo.ow, geo.stride[1], geo.pad[1], geo.dilation[1], geo.kw),
        ],
        dilation: geo.dilation,
        groups: geo.groups,
    };
    ConvTranspose2dGeometry::new(
        "conv2d_backward_data",
        &geo.out_shape(),
        &geo.weight_shape(),
        &params,
    )
    .expect("the data gradient of a valid convolution is a valid transposed convolution")
}

struct ConvRunner {
    kind: ConvKind,
    x: Vec<Tensor>,
    w: Vec<Tensor>,
    host_x: Vec<f32>,
    host_w: Vec<f32>,
    out: Tensor,
    variant: String,
    precision: Precision,
}

impl ConvRunner {
    fn new(
        dev: &Device,
        kind: ConvKind,
        variant: &str,
        precision: Precision,
    ) -> weft::Result<ConvRunner> {
        let dtype = precision.dtype();
        let (x_shape, w_shape, out_shape) = match kind {
            ConvKind::Forward(g) => (g.in_shape(), g.weight_shape(), g.out_shape()),
            ConvKind::Transposed(g) | ConvKind::DataGrad(_, g) => {
                ([g.n, g.c_in, g.h, g.w], g.weight_shape(), g.out_shape())
            }
            ConvKind::WeightGrad(g) => (g.in_shape(), g.out_shape(), g.weight_shape()),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut x, mut w) = (Vec::new(), Vec::new());
        let (mut host_x, mut host_w) = (Vec::new(), Vec::new());
        for s in 0..SETS {
            let hx = random_inputs(&mut rng, x_shape.iter().product(), dtype);
            let hw = random_inputs(&mut rng, w_shape.iter().product(), dtype);
            x.push(dev.upload_f32(&x_shape, dtype, &hx)?);
            w.push(dev.upload_f32(&w_shape, dtype, &hw)?);
            if s == 0 {
                (host_x, host_w) = (hx, hw);
            }
        }
        Ok(ConvRunner {
            kind,
            x,
            w,
            host_x,
            host_w,
            out: dev.empty(&out_shape, dtype)?,
            variant: variant.to_string(),
            precision,
        })
    }

    fn launch(&self, s: usize, out: &Tensor) -> weft::Result<()> {
        match self.kind {
            ConvKind::Forward(g) => {
                let spec = Conv2dSpec {
                    params: Conv2dParams {
                        stride: g.stride,
                        padding: Padding::Explicit([g.pad[0], g.pad[1]]),
                        dilation: g.dilation,
                        groups: g.groups,
                    },
                    variant: ConvVariant::from_name(&self.variant),
                    precision: Some(self.precision),
                    ..Default::default()
                };
                conv::conv2d_into(&self.x[s], &self.w[s], None, &spec, out)
            }
            ConvKind::Transposed(g) => {
                let spec = ConvTranspose2dSpec {
                    params: ConvTranspose2dParams {
                        stride: g.stride,
                        padding: g.padding,
                        output_padding: g.output_padding,
                        dilation: g.dilation,
                        groups: g.groups,
                    },
                    variant: ConvTransposeVariant::from_name(&self.variant),
                    precision: Some(self.precision),
                    ..Default::default()
                };
                conv_transpose::conv_transpose2d_into(&self.x[s], &self.w[s], None, &spec, out)
            }
            ConvKind::DataGrad(g, _) => {
                let params = Conv2dParams {
                    stride: g.stride,
                    padding: Padding::Explicit([g.pad[0], g.pad[1]]),
                    dilation: g.dilation,
                    groups: g.groups,
                };
                let route = DataGradRoute::from_name(&self.variant)
                    .unwrap_or_else(|| DataGradRoute::auto(out.device(), &g, self.precision));
                conv_backward::conv2d_backward_data_by(
                    &self.x[s],
                    &self.w[s],
                    &params,
                    route,
                    Some(self.precision),
                    out,
                )
            }
            ConvKind::WeightGrad(g) => {
                let params = Conv2dParams {
                    stride: g.stride,
                    padding: Padding::Explicit([g.pad[0], g.pad[1]]),
                    dilation: g.dilation,
                    groups: g.groups,
                };
                conv_backward::conv2d_backward_weight_into(
                    &self.x[s],
                    &self.w[s],
                    &params,
                    Some(self.precision),
                    out,
                )
            }
        }
    }

    /// The reference value and scale of output element `e`.
    fn reference(&self, e: usize) -> (f64, f64) {
        let (x, w) = (&self.host_x, &self.host_w);
        let (mut acc, mut mag) = (0.0f64, 0.0f64);
        match self.kind {
            ConvKind::Forward(g) => {
                let (oh, ow) = (g.oh, g.ow);
                let (n, co, oy, ox) = (
                    e / (g.c_out * oh * ow),
                    (e / (oh * ow)) % g.c_out,
                    (e / ow) % oh,
                    e % ow,
                );
                let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
                let group = co / cout_g;
                for ci in 0..cin_g {
                    let c = group * cin_g + ci;
                    for ky in 0..g.kh {
                        let iy =
                            (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.pad[0] as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        for kx in 0..g.kw {
                            let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                - g.pad[1] as isize;
                            if ix < 0 || ix >= g.w as isize {
                                continue;
                            }
                            let xv = x[((n * g.c_in + c) * g.h + iy as usize) * g.w + ix as usize]
                                as f64;
                            let wv = w[((co * cin_g + ci) * g.kh + ky) * g.kw + kx] as f64;
                            acc += xv * wv;
                            mag += (xv * wv).abs();
                        }
                    }
                }
            }
            ConvKind::WeightGrad(g) => {
                // e indexes dW [C_out, C_in/groups, KH, KW]; `w` holds dy.
                let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
                let (kx, ky) = (e % g.kw, (e / g.kw) % g.kh);
                let (ci, co) = ((e / (g.kw * g.kh)) % cin_g, e / (g.kw * g.kh * cin_g));
                let c = co / cout_g * cin_g + ci;
                for n in 0..g.n {
                    for oy in 0..g.oh {
                        let iy =
                            (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.pad[0] as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        for ox in 0..g.ow {
                            let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                - g.pad[1] as isize;
                            if ix < 0 || ix >= g.w as isize {
                                continue;
                            }
                            let xv = x[((n * g.c_in + c) * g.h + iy as usize) * g.w + ix as usize]
                                as f64;
                            let dy = w[((n * g.c_out + co) * g.oh + oy) * g.ow + ox] as f64;
                            acc += xv * dy;
                            mag += (xv * dy).abs();
                        }
                    }
                }
            }
            ConvKind::Transposed(g) | ConvKind::DataGrad(_, g) => {
                let (oh, ow) = (g.oh, g.ow);
                let (n, co, oy, ox) = (
                    e / (g.c_out * oh * ow),
                    (e / (oh * ow)) % g.c_out,
                    (e / ow) % oh,
                    e % ow,
                );
                let cout_g = g.c_out / g.groups;
                let cin_g = g.c_in / g.groups;
                let (group, cog) = (co / cout_g, co % cout_g);
                let (sh, sw) = (g.stride[0] as isize, g.stride[1] as isize);
                for cig in 0..cin_g {
                    let ci = group * cin_g + cig;
                    for ky in 0..g.kh {
                        let ty =
                            oy as isize + g.padding[0] as isize - (ky * g.dilation[0]) as isize;
                        if ty < 0 || ty % sh != 0 || ty / sh >= g.h as isize {
                            continue;
                        }
                        let iy = (ty / sh) as usize;
                        for kx in 0..g.kw {
                            let tx =
                                ox as isize + g.padding[1] as isize - (kx * g.dilation[1]) as isize;
                            if tx < 0 || tx % sw != 0 || tx / sw >= g.w as isize {
                                continue;
                            }
                            let ix = (tx / sw) as usize;
                            let xv = x[((n * g.c_in + ci) * g.h + iy) * g.w + ix] as f64;
                            let wv = w[((ci * cout_g + cog) * g.kh + ky) * g.kw + kx] as f64;
                            acc += xv * wv;
                            mag += (xv * wv).abs();
                        }
                    }
                }
            }
        }
        (acc, mag)
    }

    fn terms(&self) -> usize {
        match self.kind {
            ConvKind::Forward(g) => g.patch_len(),
            ConvKind::Transposed(g) | ConvKind::DataGrad(_, g) => g.c_in / g.groups * g.kh * g.kw,
            ConvKind::WeightGrad(g) => g.n * g.oh * g.ow,
        }
    }
}

impl Runner for ConvRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dtype = self.precision.dtype();
        let out = testing::poisoned(self.out.device(), self.out.shape(), dtype)
            .map_err(|e| e.to_string())?;
        self.launch(0, &out).map_err(|e| e.to_string())?;
        let got = out.to_f32_vec().map_err(|e| e.to_string())?;
        let mut want = RefOut::default();
        let mut sampled = Vec::new();
        for e in sample_indices(got.len()) {
            let (v, m) = self.reference(e);
            want.push(v, m);
            sampled.push(got[e]);
        }
        // Winograd's transforms add terms: allow 4x the GEMM-style bound there.
        let k = self.terms() as f64;
        let c = match (dtype, self.variant.as_str()) {
            (DType::F16, "winograd") => 8.0,
            (DType::F16, _) => 3.0,
            (_, "winograd") => 4.0 * (2.0 * k.sqrt() + 4.0),
            _ => 2.0 * k.sqrt() + 4.0,
        };
        testing::compare(&sampled, &want, dtype, c).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.out)
    }
}

struct PoolRunner {
    kind: PoolKind,
    shape: [usize; 4],
    params: Pool2dParams,
    x: Vec<Tensor>,
    host_x: Vec<f32>,
    out: Tensor,
    precision: Precision,
}

impl PoolRunner {
    fn new(
        dev: &Device,
        kind: PoolKind,
        shape: [usize; 4],
        params: Pool2dParams,
        precision: Precision,
    ) -> weft::Result<PoolRunner> {
        let dtype = precision.dtype();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut x = Vec::new();
        let mut host_x = Vec::new();
        for s in 0..SETS {
            let hx = random_inputs(&mut rng, shape.iter().product(), dtype);
            x.push(dev.upload_f32(&shape, dtype, &hx)?);
            if s == 0 {
                host_x = hx;
            }
        }
        let [oh, ow] = params.out_hw("bench", shape[2], shape[3])?;
        Ok(PoolRunner {
            kind,
            shape,
            params,
            x,
            host_x,
            out: dev.empty(&[shape[0], shape[1], oh, ow], dtype)?,
            precision,
        })
    }
}

impl Runner for PoolRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dtype = self.precision.dtype();
        let out = testing::poisoned(self.out.device(), self.out.shape(), dtype)
            .map_err(|e| e.to_string())?;
        pool::pool2d_into(
            &self.x[0],
            self.kind,
            &self.params,
            Some(self.precision),
            &out,
        )
        .map_err(|e| e.to_string())?;
        let got = out.to_f32_vec().map_err(|e| e.to_string())?;
        let want = weft::kernels::reference::pool::pool2d(
            &self.host_x,
            self.shape,
            self.kind,
            &self.params,
        )
        .out;
        testing::compare(&got, &want, dtype, 4.0).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        pool::pool2d_into(
            &self.x[i % SETS],
            self.kind,
            &self.params,
            Some(self.precision),
            &self.out,
        )
    }
}
