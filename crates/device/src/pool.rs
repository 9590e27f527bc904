//! A pooling allocator for storage buffers.
//!
//! Requests are rounded up to a size class (four classes per power of two, so at
//! most 25% is wasted) and released buffers wait on a free list per class until a
//! request of the same class takes them again. Creating wgpu buffers is cheap on
//! some drivers and very expensive on others; reuse also keeps the footprint flat
//! over a training loop.
//!
//! Statistics count *requested* bytes as "live" (what tensors hold) and *class*
//! bytes as "held" (what wgpu has given us), so a memory plan can be compared with
//! the live figures exactly.

use std::collections::HashMap;

/// Buffer usages of every pooled tensor buffer (uniform too, so that kernels
/// can read small tables such as few-channel conv weights as uniforms).
pub(crate) const TENSOR_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::UNIFORM)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Smallest buffer the pool hands out, in bytes.
const MIN_CLASS: u64 = 256;

/// Allocation statistics of a [`Device`](crate::Device)'s buffer pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes held by live tensors now (requested sizes).
    pub live_bytes: u64,
    /// Highest `live_bytes` since creation or the last [`reset_peak`](crate::Device::reset_peak).
    pub peak_live_bytes: u64,
    /// Bytes of wgpu buffers the pool holds, live and cached (class sizes).
    pub held_bytes: u64,
    /// Bytes of cached (free) buffers, part of `held_bytes`.
    pub cached_bytes: u64,
    /// wgpu buffers created over the pool's life.
    pub allocations: u64,
    /// Requests served from the free lists.
    pub reuse_hits: u64,
    /// Tensors handed out (`allocations` + `reuse_hits`).
    pub requests: u64,
    /// Tensors live now.
    pub live_tensors: u64,
}

/// The size class a request of `bytes` is served from.
pub fn size_class(bytes: u64) -> u64 {
    if bytes <= MIN_CLASS {
        return MIN_CLASS;
    }
    // Four classes per octave: 1, 1.25, 1.5, 1.75 times a power of two.
    let top = 63 - bytes.leading_zeros() as u64; // floor(log2(bytes))
    let base = 1u64 << top;
    let step = (base / 4).max(1);
    let rounded = bytes.div_ceil(step) * step;
    // Keep classes aligned for any binding offset alignment we may need.
    rounded.div_ceil(MIN_CLASS) * MIN_CLASS
}

#[derive(Default)]
pub(crate) struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
}

impl Pool {
    /// Takes a cached buffer of `class` bytes, if any, and accounts the request.
    pub(crate) fn take(&mut self, class: u64, bytes: u64) -> Option<wgpu::Buffer> {
        let buffer = self.free.get_mut(&class).and_then(Vec::pop)?;
        self.stats.cached_bytes -= class;
        self.stats.reuse_hits += 1;
        self.account_live(bytes);
        Some(buffer)
    }

    /// Accounts a newly created buffer of `class` bytes serving `bytes`.
    pub(crate) fn created(&mut self, class: u64, bytes: u64) {
        self.stats.allocations += 1;
        self.stats.held_bytes += class;
        self.account_live(bytes);
    }

    fn account_live(&mut self, bytes: u64) {
        self.stats.requests += 1;
        self.stats.live_tensors += 1;
        self.stats.live_bytes += bytes;
        self.stats.peak_live_bytes = self.stats.peak_live_bytes.max(self.stats.live_bytes);
    }

    /// Returns a buffer to its free list.
    pub(crate) fn give_back(&mut self, buffer: wgpu::Buffer, class: u64, bytes: u64) {
        self.stats.live_bytes -= bytes;
        self.stats.live_tensors -= 1;
        self.stats.cached_bytes += class;
        self.free.entry(class).or_default().push(buffer);
    }

    /// Drops every cached buffer; returns the bytes given back to wgpu.
    pub(crate) fn trim(&mut self) -> u64 {
        let freed = self.stats.cached_bytes;
        self.free.clear();
        self.stats.held_bytes -= freed;
        self.stats.cached_bytes = 0;
        freed
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.stats
    }

    pub(crate) fn reset_peak(&mut self) {
        self.stats.peak_live_bytes = self.stats.live_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_monotone_and_tight() {
        let mut last = 0;
        for bytes in (1..200_000u64).step_by(37) {
            let c = size_class(bytes);
            assert!(c >= bytes, "class {c} < request {bytes}");
            assert!(c >= last, "classes not monotone at {bytes}");
            assert_eq!(c % MIN_CLASS, 0);
            if bytes > 4 * MIN_CLASS {
                assert!(c as f64 <= bytes as f64 * 1.25 + MIN_CLASS as f64);
            }
            last = c;
        }
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(1025), 1280);
        assert_eq!(size_class(1 << 20), 1 << 20);
    }
}
