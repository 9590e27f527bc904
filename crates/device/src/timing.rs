//! Timing GPU work: timestamp queries when the adapter has them, otherwise wall
//! clock around a queue sync. One API for both.

use std::time::Duration;

use web_time::Instant;

use futures_intrusive::channel::shared::oneshot_channel;

use crate::device::lock;
use crate::{Device, Drive, Error, Feature, Result};

/// How a duration was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// GPU timestamps written before and after the work.
    GpuTimestamps,
    /// Host wall clock from a synced queue to a synced queue (includes submit
    /// and wake-up latency).
    WallClock,
}

/// The outcome of [`Device::time`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub elapsed: Duration,
    pub clock: Clock,
}

impl Device {
    /// The clock [`time`](Self::time) will use on this device.
    pub fn clock(&self) -> Clock {
        if self.has(Feature::TimestampQuery) {
            Clock::GpuTimestamps
        } else {
            Clock::WallClock
        }
    }

    /// Runs `work` (which records launches on this device) and measures how long
    /// the GPU took to execute it. Pending work is completed first so it is not
    /// counted.
    pub fn time<R>(&self, work: impl FnOnce() -> Result<R>) -> Result<(R, Timing)> {
        pollster::block_on(self.time_with(work, Drive::Here))
    }

    /// [`time`](Self::time) without blocking.
    pub async fn time_async<R>(&self, work: impl FnOnce() -> Result<R>) -> Result<(R, Timing)> {
        self.time_with(work, Drive::Elsewhere).await
    }

    async fn time_with<R>(
        &self,
        work: impl FnOnce() -> Result<R>,
        drive: Drive,
    ) -> Result<(R, Timing)> {
        self.sync_with(drive).await?;
        if self.clock() == Clock::WallClock {
            let start = Instant::now();
            let r = work()?;
            self.sync_with(drive).await?;
            return Ok((
                r,
                Timing {
                    elapsed: start.elapsed(),
                    clock: Clock::WallClock,
                },
            ));
        }

        let dev = &self.shared.device;
        let queries = dev.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("weft-timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = self.create_buffer(
            "time",
            "weft-timer-resolve",
            16,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        )?;
        let staging = self.create_buffer(
            "time",
            "weft-timer-staging",
            16,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        )?;
        {
            let mut batch = lock(&self.shared.batch);
            batch.encoder(dev).write_timestamp(&queries, 0);
            batch.hold = true;
        }
        let r = work();
        lock(&self.shared.batch).hold = false;
        let r = r?;
        {
            let mut batch = lock(&self.shared.batch);
            let enc = batch.encoder(dev);
            enc.write_timestamp(&queries, 1);
            enc.resolve_query_set(&queries, 0..2, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
            self.flush_locked(&mut batch)?;
        }
        let (tx, rx) = oneshot_channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        match drive {
            Drive::Here => self.wait_for(None, "timestamp readback")?,
            Drive::Elsewhere => self.poll_in_background("timestamp readback"),
        }
        match rx.receive().await {
            Some(Ok(())) => {}
            _ => {
                self.check()?;
                return Err(Error::DeviceLost("mapping timestamps failed".into()));
            }
        }
        let ticks: [u64; 2] = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Validation(e.to_string()))?;
            bytemuck::pod_read_unaligned(&view[..16])
        };
        staging.unmap();
        let period = self.shared.queue.get_timestamp_period() as f64;
        let nanos = ticks[1].saturating_sub(ticks[0]) as f64 * period;
        Ok((
            r,
            Timing {
                elapsed: Duration::from_nanos(nanos as u64),
                clock: Clock::GpuTimestamps,
            },
        ))
    }
}
