//! Operators evaluated on the host when every input is a constant: weight
//! generators (`ConstantOfShape`), shape arithmetic (`Shape`, `Gather`,
//! `Concat`, `Unsqueeze` feeding a `Reshape`) and constant elementwise math.

use onnx_rs::ast::OpType;
use weft_device::Result;

use crate::attrs::NodeRef;
use crate::tensor::{BATCH, Const, numel};

/// Whether [`eval`] handles `op`.
pub(crate) fn folds(op: &OpType<'_>) -> bool {
    matches!(
        op,
        OpType::Constant
            | OpType::ConstantOfShape
            | OpType::Shape
            | OpType::Unsqueeze
            | OpType::Squeeze
            | OpType::Reshape
            | OpType::Concat
            | OpType::Gather
            | OpType::Cast
            | OpType::Identity
            | OpType::Dropout
            | OpType::Add
            | OpType::Sub
            | OpType::Mul
            | OpType::Div
            | OpType::Transpose
            | OpType::Slice
    )
}

pub(crate) fn eval(n: &NodeRef<'_, '_>, inputs: &[Option<Const>], opset: i64) -> Result<Const> {
    let input = |k: usize| -> Result<&Const> {
        inputs
            .get(k)
            .and_then(|c| c.as_ref())
            .ok_or_else(|| n.invalid("inputs", format!("input {k} is missing")))
    };
    match n.node.op_type {
        OpType::Constant => constant(n),
        OpType::ConstantOfShape => {
            let dims = input(0)?.to_i64(&n.label)?;
            let value = n.tensor("value")?;
            let (v, integer) = value
                .map(|c| (c.data[0], c.integer))
                .unwrap_or((0.0, false));
            let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
            let len = numel(&dims, &n.label)?;
            Ok(Const {
                dims,
                data: vec![v; len],
                integer,
            })
        }
        OpType::Shape => {
            let c = input(0)?;
            slice_shape(
                n,
                Const::scalar_or_vec(c.dims.iter().map(|&d| d as f64).collect(), true),
            )
        }
        OpType::Identity | OpType::Dropout => Ok(input(0)?.clone()),
        OpType::Cast => {
            let mut c = input(0)?.clone();
            // TensorProto.DataType: 1 float, 10 float16, 11 double, 16 bfloat16.
            let to = n.int("to", 1)?;
            c.integer = !matches!(to, 1 | 10 | 11 | 16);
            if c.integer {
                c.data.iter_mut().for_each(|v| {
                    if *v != BATCH {
                        *v = v.trunc()
                    }
                });
            }
            Ok(c)
        }
        OpType::Unsqueeze | OpType::Squeeze => {
            let c = input(0)?.clone();
            let axes = if opset < 13 {
                n.ints("axes")?
            } else {
                inputs
                    .get(1)
                    .and_then(|a| a.as_ref())
                    .map(|a| a.to_i64(&n.label))
                    .transpose()?
            };
            let unsqueeze = n.node.op_type == OpType::Unsqueeze;
            let dims = squeeze_dims(n, &c.dims, axes, unsqueeze)?;
            Ok(Const { dims, ..c })
        }
        OpType::Reshape => {
            let c = input(0)?.clone();
            let target = input(1)?.to_i64(&n.label)?;
            let total = c.len();
            let mut dims = Vec::new();
            let mut infer = None;
            for (i, &t) in target.iter().enumerate() {
                match t {
                    0 => dims.push(
                        *c.dims
                            .get(i)
                            .ok_or_else(|| n.invalid("shape", "0 beyond the input's rank"))?,
                    ),
                    -1 => {
                        infer = Some(i);
                        dims.push(1);
                    }
                    t if t > 0 => dims.push(t as usize),
                    t => return Err(n.invalid("shape", format!("{t}"))),
                }
            }
            if let Some(i) = infer {
                let known: usize = dims.iter().product();
                dims[i] = total / known.max(1);
            }
            if dims.iter().product::<usize>() != total {
                return Err(n.invalid("shape", format!("{target:?} for {} values", total)));
            }
            Ok(Const { dims, ..c })
        }
        OpType::Concat => {
            let parts: Vec<&Const> = inputs.iter().flatten().collect();
            let Some(first) = parts.first() else {
                return Err(n.invalid("inputs", "a Concat of nothing"));
            };
            let rank = first.dims.len() as i64;
            let axis = n.int("axis", 0)?;
            let axis = if axis < 0 { axis + rank } else { axis };
            if !(0..rank).contains(&axis) {
                return Err(n.invalid("axis", format!("{axis} for inputs of rank {rank}")));
            }
            let axis = axis as usize;
            for p in &parts {
                let same = p.dims.len() == first.dims.len()
                    && p.dims
                        .iter()
                        .zip(&first.dims)
                        .enumerate()
                        .all(|(k, (a, b))| k == axis || a == b);
                if !same {
                    return Err(n.invalid(
                        "inputs",
                        format!(
                            "dims {:?} and {:?} differ off axis {axis}",
                            first.dims, p.dims
                        ),
                    ));
                }
            }
            let outer: usize = parts[0].dims[..axis].iter().product();
            let mut dims = parts[0].dims.clone();
            dims[axis] = parts.iter().map(|p| p.dims[axis]).sum();
            let mut data = Vec::with_capacity(dims.iter().product());
            for o in 0..outer {
                for p in &parts {
                    let inner: usize = p.dims[axis..].iter().product();
                    data.extend_from_slice(&p.data[o * inner..(o + 1) * inner]);
                }
            }
            Ok(Const {
                dims,
                data,
                integer: parts.iter().all(|p| p.integer),
            })
        }
        OpType::Gather => {
            let data = input(0)?;
            let idx = input(1)?.to_i64(&n.label)?;
            let idx_dims = input(1)?.dims.clone();
            let rank = data.dims.len() as i64;
            let axis = n.int("axis", 0)?;
            let axis = (if axis < 0 { axis + rank } else { axis }) as usize;
            let outer: usize = data.dims[..axis].iter().product();
            let inner: usize = data.dims[axis + 1..].iter().product();
            let len = data.dims[axis] as i64;
            let mut out = Vec::new();
            for o in 0..outer {
                for &i in &idx {
                    let i = if i < 0 { i + len } else { i };
                    if !(0..len).contains(&i) {
                        return Err(n.invalid("indices", format!("{i} out of range for {len}")));
                    }
                    let start = (o * data.dims[axis] + i as usize) * inner;
                    out.extend_from_slice(&data.data[start..start + inner]);
                }
            }
            let mut dims = data.dims[..axis].to_vec();
            dims.extend_from_slice(&idx_dims);
            dims.extend_from_slice(&data.dims[axis + 1..]);
            Ok(Const {
                dims,
                data: out,
                integer: data.integer,
            })
        }
        OpType::Transpose => {
            let c = input(0)?;
            let rank = c.dims.len();
            let perm: Vec<usize> = match n.ints("perm")? {
                Some(p) => p.iter().map(|&v| v as usize).collect(),
                None => (0..rank).rev().collect(),
            };
            let dims: Vec<usize> = perm.iter().map(|&p| c.dims[p]).collect();
            let strides: Vec<usize> = (0..rank)
                .map(|i| c.dims[i + 1..].iter().product())
                .collect();
            let mut data = Vec::with_capacity(c.len());
            for_each_index(&dims, |index| {
                data.push(
                    c.data[(0..rank)
                        .map(|a| index[a] * strides[perm[a]])
                        .sum::<usize>()],
                )
            });
            Ok(Const {
                dims,
                data,
                integer: c.integer,
            })
        }
        OpType::Add | OpType::Sub | OpType::Mul | OpType::Div => {
            let (a, b) = (input(0)?, input(1)?);
            if a.holds_batch() || b.holds_batch() {
                return Err(n.unsupported("arithmetic on the batch size"));
            }
            let integer = a.integer && b.integer;
            let f = match n.node.op_type {
                OpType::Add => |x: f64, y: f64| x + y,
                OpType::Sub => |x: f64, y: f64| x - y,
                OpType::Mul => |x: f64, y: f64| x * y,
                _ => |x: f64, y: f64| x / y,
            };
            let mut c = broadcast(n, a, b, f)?;
            c.integer = integer;
            if integer && n.node.op_type == OpType::Div {
                c.data.iter_mut().for_each(|v| *v = v.trunc());
            } else if !integer {
                // Constant math in the f32 the exporter meant.
                c.data.iter_mut().for_each(|v| *v = *v as f32 as f64);
            }
            Ok(c)
        }
        OpType::Slice => {
            let c = input(0)?;
            let ints = |k: usize, attr: &str| -> Result<Option<Vec<i64>>> {
                if opset < 10 {
                    return n.ints(attr);
                }
                inputs
                    .get(k)
                    .and_then(|v| v.as_ref())
                    .map(|v| v.to_i64(&n.label))
                    .transpose()
            };
            let starts = ints(1, "starts")?.ok_or_else(|| n.invalid("starts", "missing"))?;
            let ends = ints(2, "ends")?.ok_or_else(|| n.invalid("ends", "missing"))?;
            let rank = c.dims.len() as i64;
            let axes = ints(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
            let steps = ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return Err(n.invalid("starts", "starts, ends, axes and steps differ in length"));
            }
            slice(n, c, rank, &starts, &ends, &axes, &steps)
        }
        _ => Err(n.unsupported("folding this operator")),
    }
}

/// `Slice` of a constant: per axis, the indices `start, start + step, …`
/// before `end`, with ONNX's clamping of out-of-range bounds.
fn slice(
    n: &NodeRef<'_, '_>,
    c: &Const,
    rank: i64,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<Const> {
    let mut picks: Vec<Vec<usize>> = c.dims.iter().map(|&d| (0..d).collect()).collect();
    for i in 0..starts.len() {
        let axis = if axes[i] < 0 { axes[i] + rank } else { axes[i] };
        if !(0..rank).contains(&axis) {
            return Err(n.invalid(
                "axes",
                format!("axis {} out of range for rank {rank}", axes[i]),
            ));
        }
        let dim = c.dims[axis as usize] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(n.invalid("steps", "a step of 0"));
        }
        let wrap = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = if step > 0 {
            (wrap(starts[i]).clamp(0, dim), wrap(ends[i]).clamp(0, dim))
        } else {
            (
                wrap(starts[i]).clamp(0, dim - 1),
                wrap(ends[i]).clamp(-1, dim - 1),
            )
        };
        let mut list = Vec::new();
        let mut k = start;
        while (step > 0 && k < end) || (step < 0 && k > end) {
            list.push(k as usize);
            k += step;
        }
        picks[axis as usize] = list;
    }
    let dims: Vec<usize> = picks.iter().map(Vec::len).collect();
    let strides: Vec<usize> = (0..c.dims.len())
        .map(|a| c.dims[a + 1..].iter().product())
        .collect();
    let mut data = Vec::with_capacity(dims.iter().product());
    for_each_index(&dims, |index| {
        data.push(
            c.data[(0..dims.len())
                .map(|a| picks[a][index[a]] * strides[a])
                .sum::<usize>()],
        )
    });
    Ok(Const {
        dims,
        data,
        integer: c.integer,
    })
}

/// Calls `f` with every multi-index of `dims`, in row-major order.
fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize])) {
    let total: usize = dims.iter().product();
    let mut index = vec![0usize; dims.len()];
    for _ in 0..total {
        f(&index);
        for a in (0..dims.len()).rev() {
            index[a] += 1;
            if index[a] < dims[a] {
                break;
            }
            index[a] = 0;
        }
    }
}

/// Dims after `Squeeze` (or `Unsqueeze`, with `unsqueeze`) at ONNX `axes`
/// (negative ones count from the end; `Squeeze` without axes drops every 1).
pub(crate) fn squeeze_dims(
    n: &NodeRef<'_, '_>,
    dims: &[usize],
    axes: Option<Vec<i64>>,
    unsqueeze: bool,
) -> Result<Vec<usize>> {
    let rank = dims.len()
        + if unsqueeze {
            axes.as_ref().map_or(0, Vec::len)
        } else {
            0
        };
    let normalise = |a: &[i64]| -> Vec<usize> {
        a.iter()
            .map(|&v| (if v < 0 { v + rank as i64 } else { v }) as usize)
            .collect()
    };
    let mut out = dims.to_vec();
    if unsqueeze {
        let mut axes = normalise(&axes.ok_or_else(|| n.invalid("axes", "missing"))?);
        axes.sort_unstable();
        for a in axes {
            if a > out.len() {
                return Err(n.invalid("axes", format!("axis {a} beyond rank {rank}")));
            }
            out.insert(a, 1);
        }
        return Ok(out);
    }
    let axes = match axes {
        Some(a) => normalise(&a),
        None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| a >= dims.len() || dims[a] != 1) {
        // The importer marks the batch with usize::MAX: shown as N.
        let shown: Vec<String> = dims
            .iter()
            .map(|&d| {
                if d == usize::MAX {
                    "N".into()
                } else {
                    d.to_string()
                }
            })
            .collect();
        return Err(n.invalid(
            "axes",
            format!("axis {a} of [{}] is not of size 1", shown.join(", ")),
        ));
    }
    Ok(dims
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect())
}

/// `Shape`'s `start` / `end` (opset 15).
pub(crate) fn slice_shape(n: &NodeRef<'_, '_>, c: Const) -> Result<Const> {
    let rank = c.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let start = clamp(n.int("start", 0)?);
    let end = clamp(n.int("end", rank)?);
    let data = c.data[start..end.max(start)].to_vec();
    Ok(Const::scalar_or_vec(data, true))
}

pub(crate) fn constant(n: &NodeRef<'_, '_>) -> Result<Const> {
    if let Some(t) = n.tensor("value")? {
        return Ok(t);
    }
    if n.has("value_float") {
        return Ok(Const {
            dims: vec![],
            data: vec![n.float("value_float", 0.0)? as f64],
            integer: false,
        });
    }
    if n.has("value_int") {
        return Ok(Const {
            dims: vec![],
            data: vec![n.int("value_int", 0)? as f64],
            integer: true,
        });
    }
    if let Some(v) = n.ints("value_ints")? {
        return Ok(Const::scalar_or_vec(
            v.iter().map(|&x| x as f64).collect(),
            true,
        ));
    }
    if let Some(v) = n.floats("value_floats")? {
        return Ok(Const::scalar_or_vec(
            v.iter().map(|&x| x as f64).collect(),
            false,
        ));
    }
    Err(n.unsupported(
        "a Constant without value, value_float, value_floats, value_int or value_ints",
    ))
}

/// Elementwise `f(a, b)` with NumPy broadcasting.
fn broadcast(n: &NodeRef<'_, '_>, a: &Const, b: &Const, f: fn(f64, f64) -> f64) -> Result<Const> {
    let rank = a.dims.len().max(b.dims.len());
    let pad = |d: &[usize]| {
        let mut v = vec![1; rank - d.len()];
        v.extend_from_slice(d);
        v
    };
    let (da, db) = (pad(&a.dims), pad(&b.dims));
    let mut dims = Vec::with_capacity(rank);
    for i in 0..rank {
        dims.push(match (da[i], db[i]) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (x, y) => {
                return Err(n.invalid(
                    "inputs",
                    format!(
                        "dims {:?} and {:?} do not broadcast ({x} vs {y})",
                        a.dims, b.dims
                    ),
                ));
            }
        });
    }
    let strides = |d: &[usize]| -> Vec<usize> {
        (0..rank)
            .map(|i| {
                if d[i] == 1 {
                    0
                } else {
                    d[i + 1..].iter().product()
                }
            })
            .collect()
    };
    let len = numel(&dims, &n.label)?;
    let (sa, sb) = (strides(&da), strides(&db));
    let mut data = Vec::with_capacity(len);
    let mut index = vec![0usize; rank];
    for _ in 0..len {
        let ia: usize = (0..rank).map(|i| index[i] * sa[i]).sum();
        let ib: usize = (0..rank).map(|i| index[i] * sb[i]).sum();
        data.push(f(a.data[ia], b.data[ib]));
        for i in (0..rank).rev() {
            index[i] += 1;
            if index[i] < dims[i] {
                break;
            }
            index[i] = 0;
        }
    }
    Ok(Const {
        dims,
        data,
        integer: false,
    })
}
