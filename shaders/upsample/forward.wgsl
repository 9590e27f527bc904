// One upsampled output element, shared by the typed and packed-f16 bodies, which
// provide `fn load(i: u32) -> f32`. Nearest: one load. Bilinear: four loads
// combined as PyTorch's CPU kernel does,
//   l0h * (l0w * x00 + l1w * x01) + l1h * (l0w * x10 + l1w * x11), in f32.
// Includes: grid, upsample/params.

fn upsample_value(o: u32) -> f32 {
    let ohw = p.oh * p.ow;
    let plane = o / ohw;
    let r = o % ohw;
    let oy = r / p.ow;
    let ox = r % p.ow;
    let base = plane * p.ih * p.iw;
    if (MODE == 0u) {
        let sy = nearest_src(oy, p.scale_h, p.ih, p.oh);
        let sx = nearest_src(ox, p.scale_w, p.iw, p.ow);
        return load(base + sy * p.iw + sx);
    }
    let a = linear_src(oy, p.ih, p.oh, p.scale_h);
    let b = linear_src(ox, p.iw, p.ow, p.scale_w);
    let r0 = base + a.i0 * p.iw;
    let r1 = base + a.i1 * p.iw;
    return a.l0 * (b.l0 * load(r0 + b.i0) + b.l1 * load(r0 + b.i1))
         + a.l1 * (b.l0 * load(r1 + b.i0) + b.l1 * load(r1 + b.i1));
}
