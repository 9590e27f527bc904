//! PReLU references in f64: `y = x > 0 ? x : w[c]·x` and its gradients
//! `dx = x > 0 ? dy : w[c]·dy`, `dw[c] = Σ_{x ≤ 0} x·dy` (`scale = Σ|x·dy|`).

use super::RefOut;

/// The channel of element `i` of an `x_shape` input against `weight_len`
/// weights (one shared weight, or one per channel of dim 1).
fn channel(i: usize, x_shape: &[usize], weight_len: usize) -> usize {
    if weight_len == 1 {
        return 0;
    }
    let inner: usize = x_shape[2..].iter().product();
    (i / inner) % weight_len
}

/// PReLU of `x` (`x_shape`) with `weight` (1 or C values).
pub fn prelu<T: Copy + Into<f64>>(x: &[T], x_shape: &[usize], weight: &[T]) -> RefOut {
    let mut out = RefOut::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        let v: f64 = v.into();
        let y = if v > 0.0 {
            v
        } else {
            weight[channel(i, x_shape, weight.len())].into() * v
        };
        out.push(y, y.abs());
    }
    out
}

/// Gradients of [`prelu`]: `(dx, dweight)`.
pub fn prelu_backward<T: Copy + Into<f64>>(
    x: &[T],
    x_shape: &[usize],
    weight: &[T],
    dy: &[T],
) -> (RefOut, RefOut) {
    let mut dx = RefOut::with_capacity(x.len());
    let mut dw = RefOut {
        value: vec![0.0; weight.len()],
        scale: vec![0.0; weight.len()],
    };
    for (i, (&v, &g)) in x.iter().zip(dy).enumerate() {
        let (v, g): (f64, f64) = (v.into(), g.into());
        let c = channel(i, x_shape, weight.len());
        if v > 0.0 {
            dx.push(g, g.abs());
        } else {
            let d = weight[c].into() * g;
            dx.push(d, d.abs());
            dw.value[c] += v * g;
            dw.scale[c] += (v * g).abs();
        }
    }
    (dx, dw)
}
