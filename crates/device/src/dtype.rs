//! Element types of tensors.

use std::fmt;

/// Element type of a tensor.
///
/// `F16` is stored packed, two halves per `u32` word (low half first, as
/// `pack2x16float` writes them), so that f16 tensors work on every adapter, with
/// or without the shader-f16 feature. An f16 tensor with an odd number of elements
/// has one padding half at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    U32,
    I32,
}

impl DType {
    /// Bytes of device memory that `n` elements occupy (a multiple of 4).
    pub fn storage_bytes(self, n: usize) -> u64 {
        match self {
            DType::F16 => n.div_ceil(2) as u64 * 4,
            DType::F32 | DType::U32 | DType::I32 => n as u64 * 4,
        }
    }

    /// Bytes per element, as a fraction for f16 (2).
    pub fn element_bytes(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 | DType::U32 | DType::I32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::U32 => "u32",
            DType::I32 => "i32",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packs f32 values into f16 pairs (round to nearest even), padding an odd tail with 0.
pub fn pack_f16(values: &[f32]) -> Vec<u32> {
    values
        .chunks(2)
        .map(|pair| {
            let lo = half::f16::from_f32(pair[0]).to_bits() as u32;
            let hi = pair
                .get(1)
                .map_or(0, |&v| half::f16::from_f32(v).to_bits() as u32);
            lo | (hi << 16)
        })
        .collect()
}

/// Unpacks `n` f16 values from packed pairs into f32.
pub fn unpack_f16(words: &[u32], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let word = words[i / 2];
            let bits = if i % 2 == 0 {
                word & 0xffff
            } else {
                word >> 16
            };
            half::f16::from_bits(bits as u16).to_f32()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_packing_round_trips_odd_lengths() {
        let values = [1.0f32, -2.5, 65504.0, 0.333_251_95, -0.0];
        let words = pack_f16(&values);
        assert_eq!(words.len(), 3);
        assert_eq!(words[2] >> 16, 0, "padding half must be zero");
        assert_eq!(unpack_f16(&words, 5), values);
        assert_eq!(DType::F16.storage_bytes(5), 12);
        assert_eq!(DType::F16.storage_bytes(4), 8);
    }
}
