// Pooling of one output element, PyTorch semantics, shared by the typed and the
// packed-f16 forward bodies. The body provides `fn load(i: u32) -> f32`, the
// input element at flat index i.
//
// Max (KIND 0): the window starts at (oy*sh - ph, ox*sw - pw), positions step by
// the dilation and those outside the input are skipped (implicit -inf padding).
// Exactly PyTorch's loop: the running maximum starts at -inf with the index of
// the first in-bounds position, and a value replaces it when `v > max || isnan(v)`
// — the first maximum wins ties, the last NaN wins. Min (KIND 3) is -max(-x).
// Avg (KIND 1) and sum (KIND 2): PyTorch's avg_pool2d window (no dilation); the
// window clipped to the padded input sets count_include_pad's pool size, the
// window clipped to the input is summed in f32; avg divides by
// divisor_override, the padded pool size or the number of valid elements; sum
// returns the f32 sum.
// Cost per output: kh*kw loads and compares/adds.
// Includes: grid, pool/params.

// 0 max, 1 avg, 2 sum, 3 min.
override KIND: u32 = 0u;

struct Pooled {
    value: f32,
    index: i32,
}

// The first position start + j*d (j >= 0) that is not negative.
fn first_inside(start: i32, d: i32) -> i32 {
    if (start >= 0) {
        return start;
    }
    return start + ((-start + d - 1) / d) * d;
}

// Max pooling of output o over sign*x (sign = -1 gives min pooling as -max(-x)).
// Returns the extremum and PyTorch's index h*w_in + w within the input plane.
fn pool_max(o: u32, sign: f32) -> Pooled {
    let plane = o / (p.oh * p.ow);
    let r = o % (p.oh * p.ow);
    let hs = i32((r / p.ow) * p.sh) - i32(p.ph);
    let ws = i32((r % p.ow) * p.sw) - i32(p.pw);
    let he = min(hs + i32((p.kh - 1u) * p.dh + 1u), i32(p.h));
    let we = min(ws + i32((p.kw - 1u) * p.dw + 1u), i32(p.w));
    let h0 = first_inside(hs, i32(p.dh));
    let w0 = first_inside(ws, i32(p.dw));
    let base = plane * p.h * p.w;
    var best = neg_inf();
    var best_i = h0 * i32(p.w) + w0;
    for (var ih = h0; ih < he; ih += i32(p.dh)) {
        for (var iw = w0; iw < we; iw += i32(p.dw)) {
            let i = ih * i32(p.w) + iw;
            let v = sign * load(base + u32(i));
            if (v > best || is_nan(v)) {
                best = v;
                best_i = i;
            }
        }
    }
    return Pooled(sign * best, best_i);
}

// Average (KIND 1) or sum (KIND 2) pooling of output o.
fn pool_sum_avg(o: u32) -> f32 {
    let plane = o / (p.oh * p.ow);
    let r = o % (p.oh * p.ow);
    let hs = i32((r / p.ow) * p.sh) - i32(p.ph);
    let ws = i32((r % p.ow) * p.sw) - i32(p.pw);
    let he = min(hs + i32(p.kh), i32(p.h + p.ph));
    let we = min(ws + i32(p.kw), i32(p.w + p.pw));
    let pool_size = (he - hs) * (we - ws);
    let h0 = max(hs, 0);
    let w0 = max(ws, 0);
    let h1 = min(he, i32(p.h));
    let w1 = min(we, i32(p.w));
    if (h0 >= h1 || w0 >= w1) {
        return 0.0;
    }
    let base = plane * p.h * p.w;
    var acc = 0.0;
    for (var ih = h0; ih < h1; ih++) {
        for (var iw = w0; iw < w1; iw++) {
            acc += load(base + u32(ih * i32(p.w) + iw));
        }
    }
    if (KIND == 2u) {
        return acc;
    }
    var div = select((h1 - h0) * (w1 - w0), pool_size, p.include_pad != 0u);
    if (p.divisor != 0u) {
        div = i32(p.divisor);
    }
    return acc / f32(div);
}

fn pool_output(o: u32) -> f32 {
    switch KIND {
        case 1u, 2u: { return pool_sum_avg(o); }
        case 3u: { return pool_max(o, -1.0).value; }
        default: { return pool_max(o, 1.0).value; }
    }
}
