// Negative log-likelihood over log-probabilities [n, c] and class-index targets
// (PyTorch's F.nll_loss): loss_r = -lp[r, t_r], d loss / d lp[r, a] = -[a = t_r],
// both times `scale` (1 / #valid targets for Mean, else 1). Out-of-range targets
// (e.g. ignore_index -100) are ignored as in loss/cross_entropy.wgsl.
// One invocation per gradient element (r = i / c, a = i % c); the invocation
// with a = 0 also writes the row's scaled loss (f32). Work: 1 store per element.
// Includes: precision prelude (T), grid, loss/params.

@group(0) @binding(1) var<storage, read> log_probs: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> count: array<u32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n * p.c) {
        return;
    }
    let r = i / p.c;
    let a = i - r * p.c;
    let t = targets[r];
    let valid = t < p.c;
    var scale = 1.0;
    if (p.mean == 1u) {
        scale = 1.0 / f32(count[0]);
    }
    grad[i] = T(select(0.0, -scale, valid && a == t));
    if (a == 0u) {
        if (valid) {
            loss[r] = -f32(log_probs[r * p.c + t]) * scale;
        } else if (p.mean == 1u && count[0] == 0u) {
            loss[r] = bitcast<f32>(NAN_BITS);
        } else {
            loss[r] = 0.0;
        }
    }
}
