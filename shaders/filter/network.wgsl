// What the median networks (filter/median3, filter/median5) share: the
// image and output bindings, the window in private registers, the window's
// load with the border rule of filter/params.wgsl, and the exchange.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// The window, raster order; a 3x3 network uses the first 9. Indexed only
// by constants after unrolling, so it lives in registers.
var<private> v: array<f32, 25>;

// Exchange: the smaller of v[a], v[b] to a, the larger to b.
fn sort2(a: u32, b: u32) {
    let lo = min(v[a], v[b]);
    let hi = max(v[a], v[b]);
    v[a] = lo;
    v[b] = hi;
}

// Loads the side x side window centred on output `o` into v.
fn load_window(o: u32, side: i32) {
    let hw = p.h * p.w;
    let plane = o / hw;
    let y = i32((o % hw) / p.w);
    let x = i32(o % p.w);
    let r = side / 2;
    for (var k = 0; k < side * side; k++) {
        let sy = border_index(y + k / side - r, i32(p.h));
        let sx = border_index(x + k % side - r, i32(p.w));
        var value = 0.0;
        if (sy >= 0 && sx >= 0) {
            value = src[plane * hw + u32(sy) * p.w + u32(sx)];
        }
        v[k] = value;
    }
}
