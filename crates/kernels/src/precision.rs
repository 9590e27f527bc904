//! Which storage and arithmetic a kernel runs with.

use weft_device::{DType, Device, Error, Feature, Result, Shader};

/// How a kernel stores and computes its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 storage, f32 arithmetic.
    F32,
    /// Native f16 storage and loads (`enable f16;`), f32 accumulation. Needs the
    /// shader-f16 feature.
    F16,
    /// f16 packed two per u32 (`pack2x16float`), f32 arithmetic. Works on every
    /// adapter.
    F16Packed,
}

impl Precision {
    /// The precision for tensors of `dtype` on `dev`: native f16 where the adapter
    /// has it, packed f16 otherwise.
    pub fn for_dtype(dev: &Device, dtype: DType) -> Result<Precision> {
        match dtype {
            DType::F32 => Ok(Precision::F32),
            DType::F16 if dev.has(Feature::ShaderF16) => Ok(Precision::F16),
            DType::F16 => Ok(Precision::F16Packed),
            other => Err(Error::invalid(
                "precision",
                "dtype",
                format!("{other} tensors have no float kernels"),
            )),
        }
    }

    /// The precision of a kernel with f32 and native-f16 forms only: f16
    /// tensors without the shader-f16 feature are a `MissingFeature` error.
    pub fn typed_only(op: &str, dev: &Device, dtype: DType) -> Result<Precision> {
        let precision = Precision::for_dtype(dev, dtype)?;
        if precision == Precision::F16Packed {
            dev.require(op, Feature::ShaderF16)?;
        }
        Ok(precision)
    }

    /// Resolves an explicitly requested precision against the tensors' dtype and
    /// the device: asking for native f16 on an adapter without it is an error.
    pub fn resolve(
        op: &str,
        dev: &Device,
        dtype: DType,
        requested: Option<Precision>,
    ) -> Result<Precision> {
        let Some(p) = requested else {
            return Precision::for_dtype(dev, dtype);
        };
        if p.dtype() != dtype {
            return Err(Error::invalid(
                op,
                "precision",
                format!(
                    "{} kernels need {} tensors, got {dtype}",
                    p.name(),
                    p.dtype()
                ),
            ));
        }
        if p == Precision::F16 {
            dev.require(op, Feature::ShaderF16)?;
        }
        Ok(p)
    }

    /// The tensor dtype this precision stores.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 | Precision::F16Packed => DType::F16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::F16Packed => "f16-packed",
        }
    }

    /// Every precision, for tests and benchmarks.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::F16Packed];
}

/// One kernel body compiled with each precision prelude.
#[derive(Debug, Clone, Copy)]
pub struct Typed {
    pub f32: &'static Shader,
    pub f16: &'static Shader,
}

impl Typed {
    /// The shader for `precision`; `None` for packed f16, which has its own bodies.
    pub fn get(&self, precision: Precision) -> Option<&'static Shader> {
        match precision {
            Precision::F32 => Some(self.f32),
            Precision::F16 => Some(self.f16),
            Precision::F16Packed => None,
        }
    }
}
