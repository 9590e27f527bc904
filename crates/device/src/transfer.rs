//! Moving data between host and device.
//!
//! Uploads go through `queue.write_buffer`. Because a queue write lands before the
//! next submitted command buffer, any launches already recorded are submitted
//! first, so they still see the old contents. Downloads copy into a staging
//! buffer, map it with `map_async`, and receive the result through a
//! `futures-intrusive` oneshot channel. The blocking forms are the async ones
//! driven from the caller's thread: they wait with a timeout and return
//! [`Error::DeviceLost`] rather than hang when the device is gone.

use futures_intrusive::channel::shared::oneshot_channel;

use crate::device::lock;
use crate::dtype::{pack_f16, unpack_f16};
use crate::{DType, Device, Error, Result, Tensor};

/// Who drives the device while a readback or a sync waits. Each blocking
/// call is its async form run with [`Drive::Here`]; code built on them (an
/// epoch, an evaluation) takes a `Drive` too, so that its blocking and async
/// forms are one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// The caller's thread polls until the copy is done, with the timeout and
    /// device-loss checks of [`Device::sync`] (the blocking forms; in a
    /// browser they return [`Error::Blocking`] instead).
    Here,
    /// Something else while the caller awaits: a short-lived thread
    /// natively, the page's event loop in a browser.
    Elsewhere,
}

impl Device {
    /// Writes raw bytes into a tensor's buffer (length must equal its byte size).
    pub fn write_bytes(&self, tensor: &Tensor, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 != tensor.byte_size() {
            return Err(Error::shape(
                "upload",
                format!(
                    "{} bytes given for a tensor of {} bytes ({:?} {})",
                    bytes.len(),
                    tensor.byte_size(),
                    tensor.shape(),
                    tensor.dtype()
                ),
            ));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let mut batch = lock(&self.shared.batch);
        if !batch.is_empty() {
            self.flush_locked(&mut batch)?;
        }
        self.shared
            .queue
            .write_buffer(tensor.buffer(), tensor.byte_offset(), bytes);
        Ok(())
    }

    /// A new tensor holding `bytes` (its dtype's storage layout).
    pub fn upload_bytes(&self, shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Tensor> {
        let t = self.empty(shape, dtype)?;
        self.write_bytes(&t, bytes)?;
        Ok(t)
    }

    /// Uploads f32 data as a tensor of `dtype` (`F32` or `F16`; f16 rounds to nearest).
    pub fn upload_f32(&self, shape: &[usize], dtype: DType, data: &[f32]) -> Result<Tensor> {
        check_len("upload", shape, data.len())?;
        match dtype {
            DType::F32 => self.upload_bytes(shape, dtype, bytemuck::cast_slice(data)),
            DType::F16 => self.upload_bytes(shape, dtype, bytemuck::cast_slice(&pack_f16(data))),
            other => Err(Error::invalid(
                "upload_f32",
                "dtype",
                format!("{other} is not a float type"),
            )),
        }
    }

    /// Uploads an f32 tensor.
    pub fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        self.upload_f32(shape, DType::F32, data)
    }

    /// Uploads a u32 tensor.
    pub fn tensor_u32(&self, shape: &[usize], data: &[u32]) -> Result<Tensor> {
        check_len("upload", shape, data.len())?;
        self.upload_bytes(shape, DType::U32, bytemuck::cast_slice(data))
    }

    /// Uploads an i32 tensor.
    pub fn tensor_i32(&self, shape: &[usize], data: &[i32]) -> Result<Tensor> {
        check_len("upload", shape, data.len())?;
        self.upload_bytes(shape, DType::I32, bytemuck::cast_slice(data))
    }

    /// Like [`upload_f32`](Self::upload_f32), resolving once the data is on the device.
    pub async fn upload_f32_async(
        &self,
        shape: &[usize],
        dtype: DType,
        data: &[f32],
    ) -> Result<Tensor> {
        let t = self.upload_f32(shape, dtype, data)?;
        self.flush_and_wait_async("upload").await?;
        Ok(t)
    }

    /// Async form of [`sync`](Self::sync): resolves once the GPU has finished
    /// everything submitted so far.
    pub async fn sync_async(&self) -> Result<()> {
        self.flush_and_wait_async("sync").await
    }

    async fn flush_and_wait_async(&self, what: &str) -> Result<()> {
        let (tx, rx) = oneshot_channel::<()>();
        {
            let mut batch = lock(&self.shared.batch);
            self.flush_locked(&mut batch)?;
        }
        // An empty submit makes sure queued writes are part of a submission.
        self.shared.queue.submit([]);
        self.shared.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.poll_in_background(what);
        rx.receive().await;
        self.check()
    }

    /// Drives the device from a short-lived thread until pending work completes, so
    /// async callers need no event loop of their own. (In a browser the page's
    /// event loop drives the device, and there are no threads to spawn.)
    pub(crate) fn poll_in_background(&self, what: &str) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let dev = self.clone();
            let what = what.to_string();
            std::thread::spawn(move || {
                let _ = dev.wait_for(None, &what);
            });
        }
        #[cfg(target_arch = "wasm32")]
        let _ = what;
    }

    /// Records a device-side copy of `src` into `dst` (same byte size).
    pub fn copy(&self, src: &Tensor, dst: &Tensor) -> Result<()> {
        if src.byte_size() != dst.byte_size() {
            return Err(Error::shape(
                "copy",
                format!(
                    "source {:?} {} ({} bytes) and destination {:?} {} ({} bytes) differ in size",
                    src.shape(),
                    src.dtype(),
                    src.byte_size(),
                    dst.shape(),
                    dst.dtype(),
                    dst.byte_size()
                ),
            ));
        }
        self.check()?;
        if src.byte_size() == 0 {
            return Ok(());
        }
        let mut batch = lock(&self.shared.batch);
        batch.encoder(&self.shared.device).copy_buffer_to_buffer(
            src.buffer(),
            src.byte_offset(),
            dst.buffer(),
            dst.byte_offset(),
            src.byte_size(),
        );
        Ok(())
    }

    /// Records a device-side copy of elements `[src_start, src_start + len)` of
    /// `src` into `dst` from element `dst_start` (same dtype; for f16, even
    /// starts and lengths, whole packed words). For moving bands of an image
    /// that is larger than one binding.
    pub fn copy_elements(
        &self,
        src: &Tensor,
        src_start: usize,
        dst: &Tensor,
        dst_start: usize,
        len: usize,
    ) -> Result<()> {
        if src.dtype() != dst.dtype() {
            return Err(Error::invalid(
                "copy_elements",
                "dtype",
                format!("source is {}, destination {}", src.dtype(), dst.dtype()),
            ));
        }
        if src.dtype() == DType::F16 && !len.is_multiple_of(2) {
            return Err(Error::invalid(
                "copy_elements",
                "length",
                format!("f16 copies move whole packed words, got {len} elements"),
            ));
        }
        let from = src.window(src_start, len)?;
        let to = dst.window(dst_start, len)?;
        self.check()?;
        if len == 0 {
            return Ok(());
        }
        let mut batch = lock(&self.shared.batch);
        batch.encoder(&self.shared.device).copy_buffer_to_buffer(
            from.buffer,
            from.offset,
            to.buffer,
            to.offset,
            from.size,
        );
        Ok(())
    }

    /// Reads `tensor`'s raw bytes back (blocking: the async form, driven
    /// from the caller's thread).
    pub fn read_bytes(&self, tensor: &Tensor) -> Result<Vec<u8>> {
        pollster::block_on(self.read_bytes_with(tensor, Drive::Here))
    }

    /// Reads `tensor`'s raw bytes back without blocking the caller's thread.
    pub async fn read_bytes_async(&self, tensor: &Tensor) -> Result<Vec<u8>> {
        self.read_bytes_with(tensor, Drive::Elsewhere).await
    }

    /// The one readback: copy to a staging buffer, map it, wait as `drive`
    /// says, take the bytes.
    pub async fn read_bytes_with(&self, tensor: &Tensor, drive: Drive) -> Result<Vec<u8>> {
        self.start_read(tensor)?.finish(drive).await
    }

    /// [`sync`](Self::sync) (`Drive::Here`) or [`sync_async`](Self::sync_async).
    pub async fn sync_with(&self, drive: Drive) -> Result<()> {
        match drive {
            Drive::Here => self.sync(),
            Drive::Elsewhere => self.sync_async().await,
        }
    }

    /// Starts reading `tensor` back: the copy to a staging buffer is
    /// recorded and submitted now, after every launch recorded so far, and
    /// the bytes are collected later with [`PendingRead::wait`], from this
    /// thread or another, while this one goes on recording work.
    pub fn start_read(&self, tensor: &Tensor) -> Result<PendingRead> {
        let (staging, size) = self.stage_copy(tensor)?;
        let (tx, rx) = oneshot_channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let index = lock(&self.shared.batch).last_submission.clone();
        Ok(PendingRead {
            device: self.clone(),
            staging,
            size,
            dtype: tensor.dtype(),
            numel: tensor.numel(),
            index,
            mapped: rx,
        })
    }

    /// Records a copy of `tensor` into a new staging buffer and submits.
    fn stage_copy(&self, tensor: &Tensor) -> Result<(wgpu::Buffer, u64)> {
        let size = tensor.byte_size();
        let padded = size.max(4).div_ceil(4) * 4;
        let staging = self.create_buffer(
            "readback",
            "weft-staging",
            padded,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        )?;
        let mut batch = lock(&self.shared.batch);
        if size > 0 {
            batch.encoder(&self.shared.device).copy_buffer_to_buffer(
                tensor.buffer(),
                tensor.byte_offset(),
                &staging,
                0,
                size,
            );
        } else {
            batch.encoder(&self.shared.device);
        }
        self.flush_locked(&mut batch)?;
        Ok((staging, size))
    }

    /// Reads an f32 or f16 tensor back as f32 values.
    pub fn read_f32(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32_with(tensor, Drive::Here))
    }

    /// Async form of [`read_f32`](Self::read_f32).
    pub async fn read_f32_async(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        self.read_f32_with(tensor, Drive::Elsewhere).await
    }

    /// [`read_f32`](Self::read_f32), waiting as `drive` says.
    pub async fn read_f32_with(&self, tensor: &Tensor, drive: Drive) -> Result<Vec<f32>> {
        let bytes = self.read_bytes_with(tensor, drive).await?;
        decode_f32(tensor.dtype(), tensor.numel(), &bytes)
    }

    /// Reads a u32 tensor back.
    pub fn read_u32(&self, tensor: &Tensor) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32_with(tensor, Drive::Here))
    }

    /// Async form of [`read_u32`](Self::read_u32).
    pub async fn read_u32_async(&self, tensor: &Tensor) -> Result<Vec<u32>> {
        self.read_u32_with(tensor, Drive::Elsewhere).await
    }

    /// [`read_u32`](Self::read_u32), waiting as `drive` says.
    pub async fn read_u32_with(&self, tensor: &Tensor, drive: Drive) -> Result<Vec<u32>> {
        expect_dtype("read_u32", tensor, DType::U32)?;
        let bytes = self.read_bytes_with(tensor, drive).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Reads an i32 tensor back.
    pub fn read_i32(&self, tensor: &Tensor) -> Result<Vec<i32>> {
        pollster::block_on(self.read_i32_with(tensor, Drive::Here))
    }

    /// Async form of [`read_i32`](Self::read_i32).
    pub async fn read_i32_async(&self, tensor: &Tensor) -> Result<Vec<i32>> {
        self.read_i32_with(tensor, Drive::Elsewhere).await
    }

    /// [`read_i32`](Self::read_i32), waiting as `drive` says.
    pub async fn read_i32_with(&self, tensor: &Tensor, drive: Drive) -> Result<Vec<i32>> {
        expect_dtype("read_i32", tensor, DType::I32)?;
        let bytes = self.read_bytes_with(tensor, drive).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

impl Tensor {
    /// Reads the tensor back as f32 values (f16 tensors are widened).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        self.device().read_f32(self)
    }

    /// Reads a u32 tensor back.
    pub fn to_u32_vec(&self) -> Result<Vec<u32>> {
        self.device().read_u32(self)
    }

    /// Reads an i32 tensor back.
    pub fn to_i32_vec(&self) -> Result<Vec<i32>> {
        self.device().read_i32(self)
    }

    /// Async form of [`to_f32_vec`](Self::to_f32_vec).
    pub async fn to_f32_vec_async(&self) -> Result<Vec<f32>> {
        self.device().read_f32_async(self).await
    }

    /// Async form of [`to_u32_vec`](Self::to_u32_vec).
    pub async fn to_u32_vec_async(&self) -> Result<Vec<u32>> {
        self.device().read_u32_async(self).await
    }

    /// Async form of [`to_i32_vec`](Self::to_i32_vec).
    pub async fn to_i32_vec_async(&self) -> Result<Vec<i32>> {
        self.device().read_i32_async(self).await
    }

    /// Overwrites the tensor with f32 values (converted to its float dtype).
    pub fn write_f32(&self, data: &[f32]) -> Result<()> {
        check_len("write", self.shape(), data.len())?;
        match self.dtype() {
            DType::F32 => self.device().write_bytes(self, bytemuck::cast_slice(data)),
            DType::F16 => self
                .device()
                .write_bytes(self, bytemuck::cast_slice(&pack_f16(data))),
            other => Err(Error::invalid(
                "write_f32",
                "dtype",
                format!("{other} is not a float type"),
            )),
        }
    }
}

/// A readback submitted by [`Device::start_read`], not yet collected.
pub struct PendingRead {
    device: Device,
    staging: wgpu::Buffer,
    size: u64,
    dtype: DType,
    numel: usize,
    /// The submission that holds the copy.
    index: Option<wgpu::SubmissionIndex>,
    mapped: futures_intrusive::channel::shared::OneshotReceiver<
        std::result::Result<(), wgpu::BufferAsyncError>,
    >,
}

impl PendingRead {
    /// Waits for the copy (polling the device from this thread, with the
    /// timeout and device-loss checks of [`Device::sync`]) and returns the
    /// bytes.
    pub fn wait(self) -> Result<Vec<u8>> {
        pollster::block_on(self.finish(Drive::Here))
    }

    /// [`wait`](Self::wait), decoded as f32 values (f16 tensors widened).
    pub fn wait_f32(self) -> Result<Vec<f32>> {
        let (dtype, numel) = (self.dtype, self.numel);
        decode_f32(dtype, numel, &self.wait()?)
    }

    async fn finish(self, drive: Drive) -> Result<Vec<u8>> {
        match drive {
            // The callback runs inside this poll unless the device is gone.
            Drive::Here => self.device.wait_for(self.index.clone(), "readback")?,
            Drive::Elsewhere => self.device.poll_in_background("readback"),
        }
        let mapped = self.mapped.receive().await;
        finish_read(&self.device, &self.staging, self.size, mapped)
    }
}

fn finish_read(
    device: &Device,
    staging: &wgpu::Buffer,
    size: u64,
    mapped: Option<Result<(), wgpu::BufferAsyncError>>,
) -> Result<Vec<u8>> {
    match mapped {
        Some(Ok(())) => {}
        Some(Err(_)) | None => {
            device.check()?;
            return Err(Error::DeviceLost(
                "mapping the readback buffer failed".into(),
            ));
        }
    }
    let bytes = {
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| device.classify(Error::Validation(e.to_string())))?;
        view[..size as usize].to_vec()
    };
    staging.unmap();
    Ok(bytes)
}

fn decode_f32(dtype: DType, numel: usize, bytes: &[u8]) -> Result<Vec<f32>> {
    match dtype {
        DType::F32 => Ok(bytemuck::pod_collect_to_vec(bytes)),
        DType::F16 => {
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(bytes);
            Ok(unpack_f16(&words, numel))
        }
        other => Err(Error::invalid(
            "read_f32",
            "dtype",
            format!("{other} is not a float type"),
        )),
    }
}

fn expect_dtype(op: &str, tensor: &Tensor, dtype: DType) -> Result<()> {
    if tensor.dtype() != dtype {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected {dtype}, tensor is {}", tensor.dtype()),
        ));
    }
    Ok(())
}

fn check_len(op: &str, shape: &[usize], len: usize) -> Result<()> {
    let n = crate::tensor::numel(shape);
    if n != len {
        return Err(Error::shape(
            op,
            format!("shape {shape:?} has {n} elements, data has {len}"),
        ));
    }
    Ok(())
}
