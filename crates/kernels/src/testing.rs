//! Validation helpers shared by the test suites and the benchmark harness:
//! storage epsilons, rounding inputs the way storage does, poisoning outputs,
//! and comparing against a [`RefOut`] with a bound scaled by the magnitude of
//! the summed terms.

use weft_device::{DType, Device, Result, Tensor};

use crate::reference::RefOut;

/// Machine epsilon of f32 storage (2⁻²³).
pub const EPS_F32: f64 = f32::EPSILON as f64;
/// Machine epsilon of f16 storage (2⁻¹⁰).
pub const EPS_F16: f64 = 0.000_976_562_5;

/// Machine epsilon of a float dtype.
pub fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => EPS_F16,
        _ => EPS_F32,
    }
}

/// Absolute error allowed on top of the scaled bound: what underflow can cost
/// (f16 rounds to its smallest subnormal; many GPUs, lavapipe among them, flush
/// f32 subnormals to zero, so f32 allows the smallest normal).
pub fn abs_floor(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 6.0e-8,
        _ => f32::MIN_POSITIVE as f64,
    }
}

/// `data` as storage of `dtype` keeps it (f16 rounds to nearest even).
pub fn round_to(dtype: DType, data: &[f32]) -> Vec<f32> {
    match dtype {
        DType::F16 => data
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect(),
        _ => data.to_vec(),
    }
}

/// A tensor of `dtype` filled with NaN, so that any element a kernel fails to
/// write shows up in the comparison.
pub fn poisoned(dev: &Device, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let t = dev.empty(shape, dtype)?;
    crate::elementwise::fill(&t, f32::NAN)?;
    Ok(t)
}

/// The bound of a result computed in f32 within c32·ε₃₂·scale and stored as
/// `dtype`: for f32, `want` itself with `c32`; for f16, the f32 result rounded
/// once, so the scale becomes |ref| + c32·(ε₃₂/ε₁₆)·scale with c = 1 (half an
/// f16 ulp plus the f32 error; f16 accumulation would fail it), and values
/// beyond f16's range are ±inf.
pub fn storage_bound(want: &RefOut, dtype: DType, c32: f64) -> (RefOut, f64) {
    match dtype {
        DType::F16 => {
            let k = c32 * EPS_F32 / EPS_F16;
            let value = want
                .value
                .iter()
                .map(|&v| {
                    if v.abs() >= 65520.0 {
                        v.signum() * f64::INFINITY
                    } else {
                        v
                    }
                })
                .collect();
            let scale = want
                .value
                .iter()
                .zip(&want.scale)
                .map(|(v, s)| v.abs() + k * s)
                .collect();
            (RefOut { value, scale }, 1.0)
        }
        _ => (want.clone(), c32),
    }
}

/// Outcome of a successful comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    /// Largest |gpu − ref| / (ε·scale) over all elements (≤ c when passing).
    pub max_err_eps: f64,
    /// Largest |gpu − ref| / max(|ref|, 1e-5): the relative error PyTorch-style
    /// tolerances talk about.
    pub max_rel_err: f64,
    /// Elements compared.
    pub checked: usize,
}

/// Compares every element: |got − want| ≤ c·ε·scale + floor, and got finite
/// wherever want is. Returns the first violations as a readable message.
pub fn compare(
    got: &[f32],
    want: &RefOut,
    dtype: DType,
    c: f64,
) -> std::result::Result<Report, String> {
    if got.len() != want.len() {
        return Err(format!(
            "length mismatch: gpu {} elements, reference {}",
            got.len(),
            want.len()
        ));
    }
    let e = eps(dtype);
    let floor = abs_floor(dtype);
    let mut report = Report {
        checked: got.len(),
        ..Default::default()
    };
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for (i, (&g, (&w, &s))) in got
        .iter()
        .zip(want.value.iter().zip(&want.scale))
        .enumerate()
    {
        let g = g as f64;
        let err = (g - w).abs();
        let bound = c * e * s + floor;
        let ok = if w.is_finite() {
            g.is_finite() && err <= bound
        } else if w.is_nan() {
            g.is_nan()
        } else {
            g == w
        };
        if !ok {
            bad_count += 1;
            if bad.len() < 5 {
                bad.push(format!(
                    "  [{i}] gpu {g:e} ref {w:e} |err| {err:.3e} > bound {bound:.3e} (scale {s:.3e})"
                ));
            }
            continue;
        }
        if w.is_finite() {
            if s > 0.0 {
                report.max_err_eps = report.max_err_eps.max(err / (e * s));
            }
            report.max_rel_err = report.max_rel_err.max(err / w.abs().max(1e-5));
        }
    }
    if bad_count > 0 {
        return Err(format!(
            "{bad_count} of {} elements outside |gpu - ref| <= {c} * {e:e} * scale:\n{}",
            got.len(),
            bad.join("\n")
        ));
    }
    Ok(report)
}
