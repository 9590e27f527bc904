//! Dropout reference: Philox-4x32-10 written out on the CPU, the keep mask it
//! gives, and `y = x · (mask / (1 − p))`.

use super::RefOut;
use crate::dropout::{keep_scale, keep_threshold};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let p0 = M0 as u64 * c[0] as u64;
    let p1 = M1 as u64 * c[2] as u64;
    [
        (p1 >> 32) as u32 ^ c[1] ^ k[0],
        p1 as u32,
        (p0 >> 32) as u32 ^ c[3] ^ k[1],
        p0 as u32,
    ]
}

/// Philox-4x32-10 (Salmon et al., SC'11) of `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = round(counter, key);
    let mut k = key;
    for _ in 1..10 {
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        c = round(c, k);
    }
    c
}

/// Whether dropout keeps each of `n` elements for `(p, seed)`.
pub fn keep_mask(n: usize, p: f32, seed: u64) -> Vec<bool> {
    let threshold = keep_threshold(p);
    let key = [seed as u32, (seed >> 32) as u32];
    (0..n.div_ceil(4))
        .flat_map(|g| philox4x32_10([g as u32, 0, 0, 0], key))
        .take(n)
        .map(|r| r >= threshold)
        .collect()
}

/// `y = x · (mask · 1/(1 − p))` in f64 with the f32 scale the kernels use;
/// `scale = |y|`.
pub fn dropout<T: Copy + Into<f64>>(x: &[T], p: f32, seed: u64) -> RefOut {
    let s = keep_scale(p) as f64;
    let mut out = RefOut::with_capacity(x.len());
    for (&v, keep) in x.iter().zip(keep_mask(x.len(), p, seed)) {
        let y = v.into() * if keep { s } else { 0.0 };
        out.push(y, y.abs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::philox4x32_10;

    #[test]
    fn philox_matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }
}
