//! Connected-component labelling of binary images on the GPU, with no serial
//! pass: a union-find forest over pixel indices, merged by every set pixel
//! with its earlier neighbours in parallel (each union links the larger root
//! to the smaller with an atomic minimum, retried until it sticks, after
//! Playne and Hawick 2018), flattened, and numbered by an exclusive prefix
//! sum of the roots. Each component's root is its first pixel in raster
//! order, so labels run 1..N in the order scikit-image's `label` gives them.
//!
//! | kernel | mapping |
//! |---|---|
//! | `label/init` | one pixel per invocation: its own parent |
//! | `label/union` | one set pixel per invocation: union with each set earlier neighbour (core `atomicMin`/`atomicLoad` only) |
//! | `label/roots` | one pixel per invocation: its root, and whether it is one |
//! | `label/scan` | exclusive prefix sum: 256-value workgroup scans, one workgroup over the block totals, offsets added |
//! | `label/finish` | one pixel per invocation: the root's rank + 1, or 0 |
//! | `label/relabel` | one pixel per invocation: a band's label through its table |
//!
//! An image whose per-pixel buffers would not fit one storage binding is
//! labelled in bands of whole rows, each as above; the components that
//! touch across a band's edge are merged on the host from the two rows
//! there (a union-find over the bands' labels), each class numbered by its
//! first pixel, and every band's labels mapped through a table into the
//! output: the same labels as one pass.

use weft_device::{Binding, DType, Drive, Error, Kernel, Result, Tensor};

use crate::shaders;

const WG: usize = 256;
const PARAMS: weft_device::ShaderFile = shaders::wgsl!("label/params.wgsl");

shaders::plain!(INIT, [PARAMS], "label/init.wgsl");
shaders::plain!(UNION, [PARAMS], "label/union.wgsl");
shaders::plain!(ROOTS, [PARAMS], "label/roots.wgsl");
shaders::plain!(SCAN, [PARAMS], "label/scan.wgsl");
shaders::plain!(FINISH, [PARAMS], "label/finish.wgsl");
shaders::plain!(RELABEL, [PARAMS], "label/relabel.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[], &[&INIT, &UNION, &ROOTS, &SCAN, &FINISH, &RELABEL])
}

/// Which neighbours join a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Edge neighbours (scikit-image's `connectivity=1`).
    Four,
    /// Edge and corner neighbours (`connectivity=2`).
    Eight,
}

impl Connectivity {
    fn code(self) -> u32 {
        match self {
            Connectivity::Four => 4,
            Connectivity::Eight => 8,
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LabelUniform {
    n: u32,
    h: u32,
    w: u32,
    connectivity: u32,
}

/// A labelled image.
#[derive(Debug)]
pub struct Labels {
    /// U32 `[H, W]`: 0 for background, 1..=count for the components.
    pub labels: Tensor,
    /// Number of components.
    pub count: u32,
}

/// Labels the connected components of `image` (U32 `[H, W]`, nonzero = set).
/// Blocks while the component count is read back.
pub fn label(image: &Tensor, connectivity: Connectivity) -> Result<Labels> {
    pollster::block_on(label_with(image, connectivity, Drive::Here))
}

/// [`label`] without blocking.
pub async fn label_async(image: &Tensor, connectivity: Connectivity) -> Result<Labels> {
    label_with(image, connectivity, Drive::Elsewhere).await
}

async fn label_with(image: &Tensor, connectivity: Connectivity, drive: Drive) -> Result<Labels> {
    const OP: &str = "label";
    if let [h, w] = *image.shape()
        && h > 1
        && (h * w * 4) as u64 > image.device().limits().max_storage_buffer_binding_size
    {
        return Box::pin(label_banded(image, [h, w], connectivity, drive)).await;
    }
    let [h, w] = <[usize; 2]>::try_from(image.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!("expected a [H, W] image, got shape {:?}", image.shape()),
        )
    })?;
    if image.dtype() != DType::U32 {
        return Err(Error::invalid(
            OP,
            "dtype",
            format!("expected a u32 mask (nonzero = set), got {}", image.dtype()),
        ));
    }
    if h == 0 || w == 0 {
        return Err(Error::shape(OP, format!("the image is empty ({h}x{w})")));
    }
    // Indices and the scan's block totals stay within u32.
    let n = h
        .checked_mul(w)
        .filter(|&n| n < u32::MAX as usize - WG)
        .ok_or_else(|| Error::shape(OP, format!("a {h}x{w} image has too many pixels")))?;
    let dev = image.device();
    let uniform = |items: usize| LabelUniform {
        n: items as u32,
        h: h as u32,
        w: w as u32,
        connectivity: connectivity.code(),
    };
    let run = |shader, entry, items: usize, groups: usize, bindings: &[Binding<'_>]| {
        dev.dispatch(
            &Kernel::new(OP, shader, entry),
            bytemuck::bytes_of(&uniform(items)),
            bindings,
            groups as u64,
        )
    };
    let groups = n.div_ceil(WG);
    let parent = dev.empty(&[n], DType::U32)?;
    run(
        &INIT,
        "main",
        n,
        groups,
        &[Binding::ReadWrite(parent.binding())],
    )?;
    run(
        &UNION,
        "main",
        n,
        groups,
        &[
            Binding::Read(image.binding()),
            Binding::ReadWrite(parent.binding()),
        ],
    )?;
    let root = dev.empty(&[n], DType::U32)?;
    let rank = dev.empty(&[n], DType::U32)?;
    run(
        &ROOTS,
        "main",
        n,
        groups,
        &[
            Binding::Read(image.binding()),
            Binding::Read(parent.binding()),
            Binding::ReadWrite(root.binding()),
            Binding::ReadWrite(rank.binding()),
        ],
    )?;
    drop(parent);
    // Exclusive sums of the root flags: each root's rank among the roots.
    let blocks = dev.empty(&[groups + 1], DType::U32)?;
    let scan = [
        Binding::ReadWrite(rank.binding()),
        Binding::ReadWrite(blocks.binding()),
    ];
    run(&SCAN, "block_scan", n, groups, &scan)?;
    run(&SCAN, "totals_scan", groups, 1, &scan)?;
    run(&SCAN, "add_offsets", n, groups, &scan)?;
    let labels = dev.empty(&[h, w], DType::U32)?;
    run(
        &FINISH,
        "main",
        n,
        groups,
        &[
            Binding::Read(image.binding()),
            Binding::Read(root.binding()),
            Binding::Read(rank.binding()),
            Binding::ReadWrite(labels.binding()),
        ],
    )?;
    let totals = blocks.reshape(&[groups + 1])?;
    let count = dev.read_u32_with(&totals, drive).await?[groups];
    Ok(Labels { labels, count })
}

/// [`label`] of an image whose buffers exceed one binding, band by band.
async fn label_banded(
    image: &Tensor,
    [h, w]: [usize; 2],
    connectivity: Connectivity,
    drive: Drive,
) -> Result<Labels> {
    const OP: &str = "label";
    if image.dtype() != DType::U32 {
        return Err(Error::invalid(
            OP,
            "dtype",
            format!("expected a u32 mask (nonzero = set), got {}", image.dtype()),
        ));
    }
    let dev = image.device();
    let limit = dev.limits().max_storage_buffer_binding_size as usize;
    let rows = limit / (4 * w);
    if rows == 0 {
        return Err(Error::BindingTooLarge {
            op: OP.into(),
            bytes: 4 * w as u64,
            limit: limit as u64,
        });
    }
    // Each band labelled alone; its edge rows and label count kept.
    struct Band {
        start: usize,
        rows: usize,
        labels: Tensor,
        count: u32,
        first: Vec<u32>,
        last: Vec<u32>,
    }
    let mut bands = Vec::new();
    for start in (0..h).step_by(rows) {
        let n = rows.min(h - start);
        let part = dev.empty(&[n, w], DType::U32)?;
        dev.copy_elements(image, start * w, &part, 0, n * w)?;
        let Labels { labels, count } = Box::pin(label_with(&part, connectivity, drive)).await?;
        drop(part);
        let read = |row: usize| -> Result<Tensor> {
            let t = dev.empty(&[w], DType::U32)?;
            dev.copy_elements(&labels, row * w, &t, 0, w)?;
            Ok(t)
        };
        let (first, last) = (read(0)?, read(n - 1)?);
        let first = dev.read_u32_with(&first, drive).await?;
        let last = dev.read_u32_with(&last, drive).await?;
        bands.push(Band {
            start,
            rows: n,
            labels,
            count,
            first,
            last,
        });
    }
    // Global ids: band offsets + label (1-based); the union-find links
    // every class to its smallest id, its first pixel in raster order.
    let offsets: Vec<usize> = bands
        .iter()
        .scan(0usize, |acc, b| {
            let o = *acc;
            *acc += b.count as usize;
            Some(o)
        })
        .collect();
    let total: usize = bands.iter().map(|b| b.count as usize).sum();
    let mut parent: Vec<usize> = (0..total).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for k in 1..bands.len() {
        let (above, below) = (&bands[k - 1].last, &bands[k].first);
        for (x, &b) in below.iter().enumerate() {
            if b == 0 {
                continue;
            }
            let reach: &[isize] = match connectivity {
                Connectivity::Four => &[0],
                Connectivity::Eight => &[-1, 0, 1],
            };
            for &dx in reach {
                let xa = x as isize + dx;
                if xa < 0 || xa >= w as isize || above[xa as usize] == 0 {
                    continue;
                }
                let a = find(
                    &mut parent,
                    offsets[k - 1] + above[xa as usize] as usize - 1,
                );
                let b = find(&mut parent, offsets[k] + b as usize - 1);
                let (lo, hi) = (a.min(b), a.max(b));
                parent[hi] = lo;
            }
        }
    }
    // Roots in id order are the components in raster order of first pixel.
    let mut number = vec![0u32; total];
    let mut count = 0u32;
    for (i, slot) in number.iter_mut().enumerate() {
        if find(&mut parent, i) == i {
            count += 1;
            *slot = count;
        }
    }
    let labels = dev.empty(&[h, w], DType::U32)?;
    for (k, band) in bands.iter().enumerate() {
        let mut table = vec![0u32; band.count as usize + 1];
        for (l, slot) in table.iter_mut().enumerate().skip(1) {
            *slot = number[find(&mut parent, offsets[k] + l - 1)];
        }
        let table = dev.tensor_u32(&[table.len()], &table)?;
        let n = band.rows * w;
        let uniform = LabelUniform {
            n: n as u32,
            h: band.rows as u32,
            w: w as u32,
            connectivity: connectivity.code(),
        };
        // Into the band's own buffer, then copied into place (a copy needs
        // 4-byte offsets, a binding the device's offset alignment).
        let mapped = dev.empty(&[n], DType::U32)?;
        dev.dispatch(
            &Kernel::new(OP, &RELABEL, "main"),
            bytemuck::bytes_of(&uniform),
            &[
                Binding::Read(band.labels.binding()),
                Binding::Read(table.binding()),
                Binding::ReadWrite(mapped.binding()),
            ],
            n.div_ceil(WG) as u64,
        )?;
        dev.copy_elements(&mapped, 0, &labels, band.start * w, n)?;
    }
    Ok(Labels { labels, count })
}

/// One component's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// The label, 1..=N.
    pub label: u32,
    /// Pixels.
    pub area: u64,
    /// Inclusive bounds `[first row, first column, last row, last column]`.
    pub bbox: [usize; 4],
    /// Mean (row, column) of the pixels.
    pub centroid: [f64; 2],
}

/// Area, bounding box `[y0, x0, y1, x1]` and centroid of each of the `count`
/// components of a label image `[h, w]` read back to the host (exact
/// integer sums).
pub fn components(labels: &[u32], w: usize, count: u32) -> Vec<Component> {
    let mut stats: Vec<(u64, [usize; 4], [u64; 2])> =
        vec![(0, [usize::MAX, usize::MAX, 0, 0], [0, 0]); count as usize];
    for (i, &l) in labels.iter().enumerate() {
        if l == 0 || l > count {
            continue;
        }
        let (y, x) = (i / w.max(1), i % w.max(1));
        let s = &mut stats[l as usize - 1];
        s.0 += 1;
        s.1 = [s.1[0].min(y), s.1[1].min(x), s.1[2].max(y), s.1[3].max(x)];
        s.2[0] += y as u64;
        s.2[1] += x as u64;
    }
    stats
        .into_iter()
        .enumerate()
        .map(|(k, (area, bbox, sum))| Component {
            label: k as u32 + 1,
            area,
            bbox,
            centroid: [
                sum[0] as f64 / area.max(1) as f64,
                sum[1] as f64 / area.max(1) as f64,
            ],
        })
        .collect()
}
