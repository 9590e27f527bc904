// GEMM on packed f16 storage (two halves per u32), for adapters without
// shader-f16. Each invocation owns one word of C, i.e. two consecutive flat
// outputs (possibly on two rows), so no two invocations write the same word.
// Operands are unpacked per element and accumulated in f32.
// Includes: grid, activation, gemm/params.

@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read_write> c: array<u32>;

fn ld_a(i: u32) -> f32 {
    let v = unpack2x16float(a[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

fn ld_b(i: u32) -> f32 {
    let v = unpack2x16float(b[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

fn ld_bias(i: u32) -> f32 {
    let v = unpack2x16float(bias[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

// Output element e (flat over batch, rows, columns) or 0 past the end.
fn output(e: u32) -> f32 {
    let total = p.batch * p.c_bs;
    if (e >= total) {
        return 0.0;
    }
    let bt = e / p.c_bs;
    let r = e % p.c_bs;
    let row = r / p.n;
    let col = r % p.n;
    var ia = bt * p.a_bs + row * p.a_rs;
    var ib = bt * p.b_bs + col * p.b_cs;
    var acc = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(ld_a(ia), ld_b(ib), acc);
        ia += p.a_cs;
        ib += p.b_rs;
    }
    var bv = 0.0;
    if (BIAS == 1u) {
        bv = ld_bias(bt * p.bias_bs + row);
    } else if (BIAS == 2u) {
        bv = ld_bias(bt * p.bias_bs + col);
    }
    return activate(acc + bv);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (2u * w >= p.batch * p.c_bs) {
        return;
    }
    c[w] = pack2x16float(vec2<f32>(output(2u * w), output(2u * w + 1u)));
}
