// Activation functions, fused into producers (GEMM, convolution, batch norm) and
// used by the elementwise kernels. ACT is chosen when the pipeline is created, so
// a fused epilogue costs nothing when it is ACT_NONE. ALPHA is the negative slope
// of leaky_relu, the scale of elu, hardtanh's lower bound and hard sigmoid's
// slope; BETA is hardtanh's upper bound and hard sigmoid's offset (a bound of
// ±f32 max means none). Semantics follow PyTorch, NaN propagating.

override ACT: u32 = 0u;
override ALPHA: f32 = 0.01;
override BETA: f32 = 0.0;

const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_TANH: u32 = 4u;
const ACT_ELU: u32 = 5u;
const ACT_GELU: u32 = 6u;
const ACT_GELU_TANH: u32 = 7u;
const ACT_SILU: u32 = 8u;
const ACT_HARDTANH: u32 = 9u;
const ACT_HARDSIGMOID: u32 = 10u;
const ACT_HARDSWISH: u32 = 11u;
const F32_MAX: f32 = 3.4028234663852886e38;

// hardtanh: comparisons are false for NaN, so NaN passes through; a bound at
// ±F32_MAX is open (an infinite input stays infinite).
fn hardtanh(x: f32) -> f32 {
    if (x < ALPHA && ALPHA > -F32_MAX) {
        return ALPHA;
    }
    if (x > BETA && BETA < F32_MAX) {
        return BETA;
    }
    return x;
}

fn hardsigmoid(x: f32) -> f32 {
    let t = ALPHA * x + BETA;
    return select(select(t, 1.0, t > 1.0), 0.0, t < 0.0);
}

// erfc(z) for z >= 0 with relative error below 1.2e-7 everywhere (Chebyshev fit,
// Numerical Recipes 6.2). Relative accuracy in the tail is what keeps gelu
// accurate for large negative inputs, where 1 + erf(x) cancels.
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(p);
}

// 1 + erf(u), accurate in both tails.
fn one_plus_erf(u: f32) -> f32 {
    if (u < 0.0) {
        return erfc_pos(-u);
    }
    return 2.0 - erfc_pos(u);
}

fn sigmoid(x: f32) -> f32 {
    // exp of a non-positive argument only: no overflow for large |x|.
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn tanh_safe(x: f32) -> f32 {
    // tanh(15) rounds to 1 in f32; clamping avoids exp overflow inside tanh.
    return tanh(clamp(x, -15.0, 15.0));
}

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

fn activate(x: f32) -> f32 {
    switch ACT {
        case 1u: { return select(x, 0.0, x < 0.0); }
        case 2u: { return select(x * ALPHA, x, x > 0.0); }
        case 3u: { return sigmoid(x); }
        case 4u: { return tanh_safe(x); }
        case 5u: { return select(ALPHA * (exp(min(x, 0.0)) - 1.0), x, x > 0.0); }
        case 6u: { return 0.5 * x * one_plus_erf(x * INV_SQRT_2); }
        case 7u: {
            let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
            return 0.5 * x * (1.0 + tanh_safe(u));
        }
        case 8u: { return x * sigmoid(x); }
        case 9u: { return hardtanh(x); }
        case 10u: { return hardsigmoid(x); }
        case 11u: {
            let r = x + 3.0;
            return x * select(select(r, 6.0, r > 6.0), 0.0, r < 0.0) / 6.0;
        }
        default: { return x; }
    }
}

// d activate / dx. relu, sigmoid and tanh take their output y (what PyTorch
// saves, and all that backward needs); the others take their input x.
fn act_grad(v: f32) -> f32 {
    switch ACT {
        case 1u: { return select(0.0, 1.0, v > 0.0); }
        case 2u: { return select(ALPHA, 1.0, v > 0.0); }
        case 3u: { return v * (1.0 - v); }
        case 4u: { return 1.0 - v * v; }
        case 5u: { return select(ALPHA * exp(min(v, 0.0)), 1.0, v > 0.0); }
        case 6u: {
            return 0.5 * one_plus_erf(v * INV_SQRT_2) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
        }
        case 7u: {
            let inner = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
            let t = tanh_safe(inner);
            let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
            return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * d_inner;
        }
        case 8u: {
            let s = sigmoid(v);
            return s * (1.0 + v * (1.0 - s));
        }
        // PyTorch's backward conditions, on the input.
        // Written as PyTorch's: NaN inputs pass the gradient.
        case 9u: { return select(1.0, 0.0, v <= ALPHA || v >= BETA); }
        case 10u: {
            let t = ALPHA * v + BETA;
            return select(0.0, ALPHA, t > 0.0 && t < 1.0);
        }
        case 11u: {
            if (v < -3.0) {
                return 0.0;
            }
            if (v <= 3.0) {
                return v / 3.0 + 0.5;
            }
            return 1.0;
        }
        default: { return 1.0; }
    }
}
