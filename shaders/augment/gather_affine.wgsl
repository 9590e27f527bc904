// Builds a training batch on the GPU from a data set of 8-bit images kept on the
// device: for each output pixel, map it through the sample's affine transform
// (shift, rotation, zoom, shear, flip: inverse mapping about the image centre),
// sample the source image bilinearly (zero outside), optionally blend with a
// second image (mixup), and normalise per channel: (v / 255 - mean[c]) / std[c].
// One output element per invocation; output f32 (T prelude, typed).
// Data set: bytes packed four per u32 word, image i at byte i*C*rows*cols,
// its channel c plane after plane (CHW), 1 to 4 channels.
// Per sample: src[2n], src[2n+1] = the two image indices; xf[8n..8n+8] =
// a, b, c, d, tx, ty (source = [a b; c d]·(dst − centre) + centre + t), lambda, unused.
// Includes: precision prelude, grid.

struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    count: u32,
    channels: u32,
    mean: vec4<f32>,
    inv_std: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read> xf: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;

fn pixel(img: u32, y: i32, x: i32) -> f32 {
    if (y < 0 || x < 0 || y >= i32(p.rows) || x >= i32(p.cols)) {
        return 0.0;
    }
    let byte = img * p.rows * p.cols + u32(y) * p.cols + u32(x);
    return f32((data[byte >> 2u] >> (8u * (byte & 3u))) & 0xffu);
}

fn bilinear(img: u32, sy: f32, sx: f32) -> f32 {
    let y0 = floor(sy);
    let x0 = floor(sx);
    let fy = sy - y0;
    let fx = sx - x0;
    let iy = i32(y0);
    let ix = i32(x0);
    let top = pixel(img, iy, ix) * (1.0 - fx) + pixel(img, iy, ix + 1) * fx;
    let bottom = pixel(img, iy + 1, ix) * (1.0 - fx) + pixel(img, iy + 1, ix + 1) * fx;
    return top * (1.0 - fy) + bottom * fy;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    let plane = p.rows * p.cols;
    let per_sample = p.channels * plane;
    if (i >= p.n * per_sample) {
        return;
    }
    let s = i / per_sample;
    let ch = (i / plane) % p.channels;
    let y = f32((i % plane) / p.cols);
    let x = f32(i % p.cols);
    let cy = 0.5 * f32(p.rows - 1u);
    let cx = 0.5 * f32(p.cols - 1u);
    let t = 8u * s;
    let sx = xf[t] * (x - cx) + xf[t + 1u] * (y - cy) + cx + xf[t + 4u];
    let sy = xf[t + 2u] * (x - cx) + xf[t + 3u] * (y - cy) + cy + xf[t + 5u];
    let lambda = xf[t + 6u];
    // Planes are addressed as images of one channel: image a's channel ch is
    // plane a*C + ch.
    let a = min(src[2u * s], p.count - 1u) * p.channels + ch;
    var v = bilinear(a, sy, sx);
    if (lambda < 1.0) {
        let b = min(src[2u * s + 1u], p.count - 1u) * p.channels + ch;
        v = lambda * v + (1.0 - lambda) * bilinear(b, sy, sx);
    }
    out[i] = T((v / 255.0 - p.mean[ch]) * p.inv_std[ch]);
}
