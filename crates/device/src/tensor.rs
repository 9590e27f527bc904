//! Tensors: a shape and a dtype over a device buffer.
//!
//! A [`Tensor`] is a cheap handle (clones share the buffer). Layout is always
//! contiguous row-major, i.e. NCHW for images. A tensor's buffer comes from the
//! device's pool and goes back to it when the last handle drops; tensors that view
//! a host application's own `wgpu::Buffer` leave that buffer alone.

use std::sync::Arc;

use crate::device::lock;
use crate::pool::{TENSOR_USAGE, size_class};
use crate::{DType, Device, Error, Result};

pub(crate) enum Origin {
    /// From the pool; returns there on drop.
    Pooled { class: u64 },
    /// A host application's buffer, viewed without copying.
    External,
}

/// A device buffer holding tensor data.
pub struct Storage {
    pub(crate) device: Device,
    pub(crate) buffer: Option<wgpu::Buffer>,
    /// Byte offset of the tensor data in `buffer`.
    pub(crate) offset: u64,
    /// Bytes the tensor data occupies.
    pub(crate) bytes: u64,
    pub(crate) origin: Origin,
}

impl Storage {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("storage buffer present until drop")
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let (Origin::Pooled { class }, Some(buffer)) = (&self.origin, self.buffer.take()) {
            lock(&self.device.shared.pool).give_back(buffer, *class, self.bytes);
        }
    }
}

/// A handle to an n-dimensional array on the device.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {})", self.shape, self.dtype)
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Device {
    /// A tensor with uninitialised contents, from the pool.
    pub fn empty(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.check()?;
        let bytes = dtype.storage_bytes(numel(shape));
        let class = size_class(bytes);
        self.check_buffer_size("allocate", class)?;
        if let Some(budget) = self.shared.memory_budget {
            let mut pool = lock(&self.shared.pool);
            let live = pool.stats().live_bytes;
            if live + bytes > budget {
                return Err(Error::OverBudget {
                    what: "allocate".into(),
                    needed: live + bytes,
                    budget,
                    detail: format!("a tensor of {bytes} bytes on top of {live} live"),
                });
            }
            // Cached buffers count against the device too: give them back
            // before a new buffer would take the pool past the budget.
            if pool.stats().held_bytes + class > budget {
                pool.trim();
            }
        }
        let reused = lock(&self.shared.pool).take(class, bytes);
        let buffer = match reused {
            Some(b) => b,
            None => {
                let b = self.create_buffer("allocate", "weft-tensor", class, TENSOR_USAGE)?;
                lock(&self.shared.pool).created(class, bytes);
                b
            }
        };
        Ok(Tensor {
            storage: Arc::new(Storage {
                device: self.clone(),
                buffer: Some(buffer),
                offset: 0,
                bytes,
                origin: Origin::Pooled { class },
            }),
            shape: shape.to_vec(),
            dtype,
        })
    }
}

impl Tensor {
    /// Views a host application's buffer as a tensor, without copying. The buffer
    /// needs `STORAGE` usage (and `COPY_SRC` to be read back by weft); `offset` must
    /// satisfy the device's storage offset alignment.
    pub fn from_wgpu_buffer(
        device: &Device,
        buffer: wgpu::Buffer,
        offset: u64,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Tensor> {
        let bytes = dtype.storage_bytes(numel(shape));
        if offset + bytes > buffer.size() {
            return Err(Error::shape(
                "from_wgpu_buffer",
                format!(
                    "shape {shape:?} of {dtype} needs {bytes} bytes at offset {offset}, buffer has {}",
                    buffer.size()
                ),
            ));
        }
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::invalid(
                "from_wgpu_buffer",
                "buffer",
                "buffer lacks STORAGE usage",
            ));
        }
        let align = device.limits().min_storage_buffer_offset_alignment as u64;
        if !offset.is_multiple_of(align) {
            return Err(Error::invalid(
                "from_wgpu_buffer",
                "offset",
                format!(
                    "{offset} is not a multiple of the device's storage offset alignment {align}"
                ),
            ));
        }
        Ok(Tensor {
            storage: Arc::new(Storage {
                device: device.clone(),
                buffer: Some(buffer),
                offset,
                bytes,
                origin: Origin::External,
            }),
            shape: shape.to_vec(),
            dtype,
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Size of dimension `i`.
    pub fn dim(&self, i: usize) -> usize {
        self.shape[i]
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Bytes of device memory the data occupies.
    pub fn byte_size(&self) -> u64 {
        self.storage.bytes
    }

    pub fn device(&self) -> &Device {
        &self.storage.device
    }

    /// The wgpu buffer holding the data (shared with other views).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }

    /// Byte offset of the data within [`buffer`](Self::buffer).
    pub fn byte_offset(&self) -> u64 {
        self.storage.offset
    }

    /// Whether two tensors share a buffer (e.g. one is a reshape of the other).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Whether this handle is the only one holding the buffer (so it may be
    /// overwritten in place).
    pub fn is_unique(&self) -> bool {
        Arc::strong_count(&self.storage) == 1
    }

    /// The same data under another shape with the same number of elements (a view:
    /// flatten, unsqueeze, ...).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "cannot view {:?} ({} elements) as {:?} ({} elements)",
                    self.shape,
                    self.numel(),
                    shape,
                    numel(shape)
                ),
            ));
        }
        Ok(Tensor {
            storage: self.storage.clone(),
            shape: shape.to_vec(),
            dtype: self.dtype,
        })
    }

    /// The same bytes under another shape and dtype (e.g. an f16 tensor as its
    /// packed u32 words); the byte sizes must match.
    pub fn view_as(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let bytes = dtype.storage_bytes(numel(shape));
        if bytes != self.storage.bytes {
            return Err(Error::shape(
                "view_as",
                format!(
                    "{:?} {} is {} bytes, {:?} {} would be {bytes}",
                    self.shape, self.dtype, self.storage.bytes, shape, dtype
                ),
            ));
        }
        Ok(Tensor {
            storage: self.storage.clone(),
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// The storage as 32-bit words (a u32 view of the same bytes).
    pub fn as_words(&self) -> Tensor {
        let words = (self.storage.bytes / 4) as usize;
        self.view_as(&[words], DType::U32)
            .expect("storage is a whole number of words")
    }

    /// The whole tensor as a binding.
    pub fn binding(&self) -> BufferRange<'_> {
        BufferRange {
            buffer: self.buffer(),
            offset: self.storage.offset,
            size: self.storage.bytes,
        }
    }

    /// Elements `[start, start + len)` as a binding window. For f16 tensors `start`
    /// and `len` must be even (windows cover whole packed words).
    pub fn window(&self, start: usize, len: usize) -> Result<BufferRange<'_>> {
        if start + len > self.numel() {
            return Err(Error::invalid(
                "window",
                "range",
                format!("{start}+{len} exceeds {} elements", self.numel()),
            ));
        }
        let (offset, size) = match self.dtype {
            DType::F16 => {
                if !start.is_multiple_of(2) {
                    return Err(Error::invalid(
                        "window",
                        "start",
                        "f16 windows start on an even element",
                    ));
                }
                (start as u64 * 2, self.dtype.storage_bytes(len))
            }
            _ => (start as u64 * 4, len as u64 * 4),
        };
        Ok(BufferRange {
            buffer: self.buffer(),
            offset: self.storage.offset + offset,
            size,
        })
    }
}

/// A byte range of a buffer bound to a kernel.
#[derive(Debug, Clone, Copy)]
pub struct BufferRange<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}
