// The row hooks of the vector GEMMs (gemm_vec4.wgsl, gemm_vec4_nt.wgsl):
// how an invocation gets the vec4 of A's rows row0 + i·step (i < TM) at each
// step kq of K. The body calls
//   let share = a_share(a_base, row0, step, ars4);   // once
//   let pair = a_share_load(share, kq);              // once per step
//   let av = a_row(at_i + kq, pair, i);              // per row, i constant
// and the variant's include defines them: gemm/a_rows_own.wgsl (each
// invocation loads its own rows at at_i + kq) or gemm/a_rows_subgroup.wgsl
// (one load per row and subgroup of 8, passed around by broadcast).

// What the row hooks pass between them: where an invocation's shared loads
// of A come from (and whether sharing holds), and one step's loaded rows.
struct AShare {
    lo_at: u32,
    hi_at: u32,
    ok: bool,
}

struct APair {
    lo: vec4<f32>,
    hi: vec4<f32>,
}
