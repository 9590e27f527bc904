// Regression losses elementwise, loss and gradient in one pass, with d = x − y:
//   MSE (p.c == 0): loss = d²,  grad = 2d           (F.mse_loss)
//   L1  (p.c == 1): loss = |d|, grad = sign(d), 0 at d = 0 (F.l1_loss)
// both times `scale` (1/n for Mean, else 1). d is computed in f32 (exact for
// f16 storage). One invocation per element; writes the scaled loss (f32) for
// the launcher to sum (or return, for None) and the gradient in T.
// Work: 2 loads, 2 stores, 3 flops per element.
// Includes: precision prelude (T), grid, loss/params.

@group(0) @binding(1) var<storage, read> input: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<T>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    let d = f32(input[i]) - f32(targets[i]);
    var scale = 1.0;
    if (p.mean == 1u) {
        scale = 1.0 / f32(p.n);
    }
    if (p.c == 0u) {
        loss[i] = d * d * scale;
        grad[i] = T(2.0 * d * scale);
    } else {
        loss[i] = abs(d) * scale;
        grad[i] = T(sign(d) * scale);
    }
}
