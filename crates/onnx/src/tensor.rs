//! Constant tensors: initializers, `Constant` nodes and what folding them
//! yields, held on the host in f64 (exact for f32 weights and for the i64
//! shapes and axes that shape arithmetic works on).

use onnx_rs::ast::{DataType, TensorProto};
use weft_device::{Error, Result};

/// An `i64` standing for the batch dimension inside folded shape tensors
/// (`Shape` of an activation): the batch stays symbolic, and arithmetic that
/// would need its value is refused instead of silently using a number.
pub(crate) const BATCH: f64 = -9.0e15;

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub dims: Vec<usize>,
    pub data: Vec<f64>,
    /// Integer-typed (shapes, axes, indices) rather than floating-point.
    pub integer: bool,
}

impl Const {
    pub fn scalar_or_vec(data: Vec<f64>, integer: bool) -> Const {
        Const {
            dims: vec![data.len()],
            data,
            integer,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as f32 (weights).
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }

    /// The values as integers (shapes, axes); `what` names them in errors.
    pub fn to_i64(&self, what: &str) -> Result<Vec<i64>> {
        self.data
            .iter()
            .map(|&v| {
                if v.fract() != 0.0 || !v.is_finite() {
                    Err(Error::invalid(
                        what,
                        "value",
                        format!("expected integers, got {v}"),
                    ))
                } else {
                    Ok(v as i64)
                }
            })
            .collect()
    }

    pub fn holds_batch(&self) -> bool {
        self.data.contains(&BATCH)
    }
}

/// Most values a constant folded at import may hold (1 GiB as f64; VGG's
/// largest weight, fc6, holds 102.8 million): a shape read from the model
/// must not make the importer allocate without bound.
pub const MAX_CONSTANT_VALUES: usize = 1 << 27;

/// The number of values of `dims`, or an error naming `what` when the product
/// overflows or exceeds [`MAX_CONSTANT_VALUES`].
pub fn numel(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_CONSTANT_VALUES)
        .ok_or_else(|| {
            Error::invalid(
                what,
                "dims",
                format!("{dims:?} hold more than {MAX_CONSTANT_VALUES} values"),
            )
        })
}

/// Decodes a tensor proto. `what` names it in errors (an initializer, a
/// node's attribute).
pub fn decode(t: &TensorProto<'_>, what: &str) -> Result<Const> {
    if !t.external_data().is_empty() {
        return Err(Error::unsupported(
            what,
            "weights stored in external data files (re-export with the weights embedded)",
        ));
    }
    let dims = t
        .dims()
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| Error::invalid(what, "dims", format!("negative dimension {d}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let n = numel(&dims, what)?;
    let (data, integer): (Vec<f64>, bool) = match t.data_type() {
        DataType::Float => (
            t.as_f32()
                .map(|v| v.iter().map(|&x| x as f64).collect())
                .unwrap_or_default(),
            false,
        ),
        DataType::Double => (t.as_f64().map(|v| v.to_vec()).unwrap_or_default(), false),
        DataType::Float16 => (
            half_values(t, |b| half::f16::from_le_bytes(b).to_f64()),
            false,
        ),
        DataType::Bfloat16 => (
            half_values(t, |b| half::bf16::from_le_bytes(b).to_f64()),
            false,
        ),
        DataType::Int64 => (
            t.as_i64()
                .map(|v| v.iter().map(|&x| x as f64).collect())
                .unwrap_or_default(),
            true,
        ),
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 | DataType::Bool => {
            (int32_values(t), true)
        }
        other => {
            return Err(Error::unsupported(
                what,
                format!("tensors of type {other:?}"),
            ));
        }
    };
    if data.len() != n {
        return Err(Error::invalid(
            what,
            "data",
            format!(
                "dims {dims:?} hold {n} values, the tensor has {}",
                data.len()
            ),
        ));
    }
    Ok(Const {
        dims,
        data,
        integer,
    })
}

/// 16-bit floats: raw little-endian bytes, or one per `int32_data` entry.
fn half_values(t: &TensorProto<'_>, f: impl Fn([u8; 2]) -> f64) -> Vec<f64> {
    if let Some(raw) = t.as_raw() {
        return raw.chunks_exact(2).map(|c| f([c[0], c[1]])).collect();
    }
    t.as_i32()
        .map(|v| {
            v.iter()
                .map(|&x| f((x as u16).to_le_bytes()))
                .collect::<Vec<f64>>()
        })
        .unwrap_or_default()
}

/// Small integer types: raw bytes of their own width, or `int32_data`.
fn int32_values(t: &TensorProto<'_>) -> Vec<f64> {
    if let Some(raw) = t.as_raw() {
        return match t.data_type() {
            DataType::Int32 => raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            DataType::Int16 => raw
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            DataType::Int8 => raw.iter().map(|&b| b as i8 as f64).collect(),
            _ => raw.iter().map(|&b| b as f64).collect(),
        };
    }
    t.as_i32()
        .map(|v| v.iter().map(|&x| x as f64).collect())
        .unwrap_or_default()
}

/// Reads a serialized `TensorProto` (the `input_0.pb` / `output_0.pb` files
/// of ONNX test data sets) as f32 values and their dims.
///
/// The parser reads whole models, so the tensor is wrapped as the only
/// initializer of a model's graph (fields 7 and 5): a few bytes of framing,
/// no copy of the parser.
pub fn read_tensor(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let mut graph = Vec::with_capacity(bytes.len() + 12);
    graph.push((5 << 3) | 2);
    varint(bytes.len(), &mut graph);
    graph.extend_from_slice(bytes);
    let mut model = Vec::with_capacity(graph.len() + 12);
    model.push((7 << 3) | 2);
    varint(graph.len(), &mut model);
    model.extend_from_slice(&graph);
    let parsed = onnx_rs::parse(&model)
        .map_err(|e| Error::format("tensor", format!("not a TensorProto: {e}")))?;
    let t = parsed
        .graph
        .as_ref()
        .and_then(|g| g.initializer.first())
        .ok_or_else(|| Error::format("tensor", "not a TensorProto"))?;
    let c = decode(t, "tensor")?;
    Ok((c.dims.clone(), c.to_f32()))
}

fn varint(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
