// Rank filters over windows of any size: the value of rank p.rank among the
// kh x kw window's values (0 the minimum, kh*kw - 1 the maximum), without
// storing the window. Each value has an order-preserving 32-bit key; the
// answer's key is found four bits at a time, from the top: a pass over the
// window counts the keys below the bits decided so far, and a 16-bin
// histogram of the next four bits of the others; the first bin at which the
// running count passes the rank is the next digit. Eight passes for any
// rank, one for a minimum or maximum. (One pass per bit would read the
// window 32 times; lavapipe also stops an invocation's loops after 65,535
// iterations, which 8 passes of a 65x65 window stay under.)
// One output per invocation, 64 per workgroup.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Keys whose unsigned order is the values' total order (−0 below +0, as
// f32::total_cmp): negative values have every bit flipped, others the sign.
fn key_of(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn value_of(k: u32) -> f32 {
    return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// The key of the window cell at image row y, column x (either may be
// outside): zero outside the image for a zero border.
fn cell(base: u32, y: i32, x: i32) -> u32 {
    let sy = border_index(y, i32(p.h));
    let sx = border_index(x, i32(p.w));
    var value = 0.0;
    if (sy >= 0 && sx >= 0) {
        value = src[base + u32(sy) * p.w + u32(sx)];
    }
    return key_of(value);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let hw = p.h * p.w;
    let base = (o / hw) * hw;
    let y0 = i32((o % hw) / p.w) - i32(p.kh / 2u);
    let x0 = i32(o % p.w) - i32(p.kw / 2u);
    let last = p.kh * p.kw - 1u;
    if (p.rank == 0u || p.rank == last) {
        var lo = 0xffffffffu;
        var hi = 0u;
        for (var dy = 0; dy < i32(p.kh); dy++) {
            for (var dx = 0; dx < i32(p.kw); dx++) {
                let k = cell(base, y0 + dy, x0 + dx);
                lo = min(lo, k);
                hi = max(hi, k);
            }
        }
        dst[o] = value_of(select(hi, lo, p.rank == 0u));
        return;
    }
    // The answer lies in [prefix, prefix + 16 << shift).
    var prefix = 0u;
    for (var shift = 28u; shift < 32u; shift -= 4u) {
        var hist: array<u32, 16>;
        var below = 0u;
        for (var dy = 0; dy < i32(p.kh); dy++) {
            for (var dx = 0; dx < i32(p.kw); dx++) {
                let k = cell(base, y0 + dy, x0 + dx);
                if (k < prefix) {
                    below += 1u;
                } else {
                    let digit = (k - prefix) >> shift;
                    if (digit < 16u) {
                        hist[digit] += 1u;
                    }
                }
            }
        }
        var digit = 0u;
        loop {
            // (The last digit holds the answer when no earlier one does.)
            if (digit == 15u || below + hist[digit] > p.rank) {
                break;
            }
            below += hist[digit];
            digit += 1u;
        }
        prefix += digit << shift;
    }
    dst[o] = value_of(prefix);
}
