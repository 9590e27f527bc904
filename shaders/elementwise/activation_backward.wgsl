// Activation backward, dx = dy * act'(v), where v is the saved output y for
// relu/sigmoid/tanh and the saved input x otherwise (see act_grad).
// Includes: grid, precision prelude (T), activation (ACT, ALPHA).

struct Params {
    n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> saved: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    dx[i] = T(f32(dy[i]) * act_grad(f32(saved[i])));
}
