// Fused softmax cross-entropy with label smoothing ε over logits [n, c] and
// class-index targets, loss and gradient in one kernel (PyTorch's
// F.cross_entropy):
//   lse    = m + log Σ_a exp(z_a - m),  m = max_a z_a
//   loss_r = (1 - ε)·(lse - z_t) + ε·(lse - mean_a z_a)
//   grad   = softmax(z) - ε/c - (1 - ε)·[a = t]
// both times `scale` (1 / #valid targets for Mean, else 1). Rows whose target
// is out of [0, c) (e.g. ignore_index -100) are ignored: loss 0 and gradient
// 0, and they do not count in the Mean denominator (NaN loss when none is
// valid, as PyTorch). Writes the scaled per-row loss (f32) for the launcher to
// sum, and the gradient in T.
//
// Entry points: `serial` (one invocation per row, c <= 64) and `tree` (one
// 256-invocation workgroup per row, workgroup trees for max and sums).
// Work per element: 3 loads, 2 exp, 1 store. f32 arithmetic; deterministic.
// Includes: precision prelude (T), grid, loss/params.

@group(0) @binding(1) var<storage, read> logits: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> count: array<u32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<T>;

fn reduction_scale() -> f32 {
    if (p.mean == 1u) {
        return 1.0 / f32(count[0]);
    }
    return 1.0;
}

// Loss of an ignored row: 0, or NaN for a Mean with no valid target at all.
fn ignored_loss() -> f32 {
    if (p.mean == 1u && count[0] == 0u) {
        return bitcast<f32>(NAN_BITS);
    }
    return 0.0;
}

fn row_loss(base: u32, t: u32, lse: f32, zsum: f32) -> f32 {
    var l = lse - f32(logits[base + t]);
    if (p.label_smoothing != 0.0) {
        l = (1.0 - p.label_smoothing) * l + p.label_smoothing * (lse - zsum / f32(p.c));
    }
    return l;
}

fn grad_of(z: f32, a: u32, t: u32, m: f32, s: f32) -> f32 {
    var g = exp(z - m) / s - p.label_smoothing / f32(p.c);
    if (a == t) {
        g -= 1.0 - p.label_smoothing;
    }
    return g;
}

@compute @workgroup_size(256)
fn serial(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let r = flat_workgroup(wid, nwg) * 256u + lid;
    if (r >= p.n) {
        return;
    }
    let base = r * p.c;
    let t = targets[r];
    if (t >= p.c) {
        loss[r] = ignored_loss();
        for (var a = 0u; a < p.c; a++) {
            grad[base + a] = T(0.0);
        }
        return;
    }
    var m = neg_inf();
    for (var a = 0u; a < p.c; a++) {
        m = max_nan(m, f32(logits[base + a]));
    }
    var s = 0.0;
    var zsum = 0.0;
    for (var a = 0u; a < p.c; a++) {
        let z = f32(logits[base + a]);
        s += exp(z - m);
        zsum += z;
    }
    let lse = m + log(s);
    let scale = reduction_scale();
    loss[r] = row_loss(base, t, lse, zsum) * scale;
    for (var a = 0u; a < p.c; a++) {
        grad[base + a] = T(grad_of(f32(logits[base + a]), a, t, m, s) * scale);
    }
}

var<workgroup> ce_red: array<f32, 256>;

fn workgroup_reduce(v: f32, lid: u32, is_max: bool) -> f32 {
    ce_red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            if (is_max) {
                ce_red[lid] = max_nan(ce_red[lid], ce_red[lid + s]);
            } else {
                ce_red[lid] += ce_red[lid + s];
            }
        }
        workgroupBarrier();
    }
    let r = ce_red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256)
fn tree(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = flat_workgroup(wid, nwg);
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    // Ignored rows run the same reductions and mask their stores.
    if (r >= p.n) {
        return;
    }
    let base = r * p.c;
    let t = targets[r];
    let valid = t < p.c;
    var m = neg_inf();
    for (var a = lid; a < p.c; a += 256u) {
        m = max_nan(m, f32(logits[base + a]));
    }
    m = workgroup_reduce(m, lid, true);
    var s = 0.0;
    var zsum = 0.0;
    for (var a = lid; a < p.c; a += 256u) {
        let z = f32(logits[base + a]);
        s += exp(z - m);
        zsum += z;
    }
    s = workgroup_reduce(s, lid, false);
    zsum = workgroup_reduce(zsum, lid, false);
    if (!valid) {
        if (lid == 0u) {
            loss[r] = ignored_loss();
        }
        for (var a = lid; a < p.c; a += 256u) {
            grad[base + a] = T(0.0);
        }
        return;
    }
    let lse = m + log(s);
    let scale = reduction_scale();
    if (lid == 0u) {
        loss[r] = row_loss(base, t, lse, zsum) * scale;
    }
    for (var a = lid; a < p.c; a += 256u) {
        grad[base + a] = T(grad_of(f32(logits[base + a]), a, t, m, s) * scale);
    }
}
