// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC'11), the counter-based generator of cuRAND and PyTorch's CUDA
// backend: ten rounds of two 32x32->64 multiplies and xors on a 128-bit counter
// under a 64-bit key bumped by the Weyl constants between rounds. Passes
// BigCrush; any counter can be evaluated independently, so masks need no
// storage. WGSL has no mulhi: the 64-bit product is assembled from 16-bit
// halves. Known answer: counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
// Cost: 20 multiplies (as 80 16-bit ones) and ~60 integer ops per 4 outputs.
// Includes: nothing.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// The high 32 bits of the 64-bit product a * b.
fn mulhi32(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return a_hi * b_hi + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    return vec4<u32>(
        mulhi32(PHILOX_M1, c.z) ^ c.y ^ k.x,
        PHILOX_M1 * c.z,
        mulhi32(PHILOX_M0, c.x) ^ c.w ^ k.y,
        PHILOX_M0 * c.x,
    );
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = philox_round(counter, key);
    var k = key;
    for (var round = 1u; round < 10u; round++) {
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
        c = philox_round(c, k);
    }
    return c;
}
