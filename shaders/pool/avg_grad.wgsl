// Gradient of avg_pool2d at one input element, gather form (no atomics,
// deterministic). Shared by the typed and the packed-f16 bodies, which provide
// `fn load_dy(i: u32) -> f32`.
//
// Input row ih lies in the windows of outputs oy with
//   oy*sh - ph <= ih <= oy*sh - ph + kh - 1,
// i.e. oy in [ceil((ih + ph - kh + 1) / sh), floor((ih + ph) / sh)] clipped to
// [0, oh); columns likewise. Each such output contributes dy / divisor, with the
// divisor recomputed exactly as the forward pass does (divisor_override, padded
// pool size, or valid count). Summed in f32 in output order, as PyTorch's CPU
// scatter adds them. Cost: ceil(kh/sh)*ceil(kw/sw) loads per input element.
// Includes: grid, pool/params.

// max(0, ceil(num / d)) for d > 0.
fn ceil_div_nonneg(num: i32, d: i32) -> i32 {
    if (num <= 0) {
        return 0;
    }
    return (num + d - 1) / d;
}

fn avg_grad(e: u32) -> f32 {
    let hw = p.h * p.w;
    let plane = e / hw;
    let pos = e % hw;
    let ih = i32(pos / p.w);
    let iw = i32(pos % p.w);
    let kh = i32(p.kh);
    let kw = i32(p.kw);
    let sh = i32(p.sh);
    let sw = i32(p.sw);
    let ph = i32(p.ph);
    let pw = i32(p.pw);
    let oy0 = ceil_div_nonneg(ih + ph - kh + 1, sh);
    let oy1 = min(i32(p.oh) - 1, (ih + ph) / sh);
    let ox0 = ceil_div_nonneg(iw + pw - kw + 1, sw);
    let ox1 = min(i32(p.ow) - 1, (iw + pw) / sw);
    let obase = plane * p.oh * p.ow;
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        let hs = oy * sh - ph;
        let he = min(hs + kh, i32(p.h) + ph);
        let hn = min(he, i32(p.h)) - max(hs, 0);
        for (var ox = ox0; ox <= ox1; ox++) {
            let ws = ox * sw - pw;
            let we = min(ws + kw, i32(p.w) + pw);
            let wn = min(we, i32(p.w)) - max(ws, 0);
            var div = select(hn * wn, (he - hs) * (we - ws), p.include_pad != 0u);
            if (p.divisor != 0u) {
                div = i32(p.divisor);
            }
            acc += load_dy(obase + u32(oy) * p.ow + u32(ox)) / f32(div);
        }
    }
    return acc;
}
