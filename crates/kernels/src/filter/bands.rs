//! Images larger than one storage binding: the filters run on bands of whole
//! rows that each fit a binding, every band read with the rows its windows
//! reach above and below (its halo) and only its own rows kept.
//!
//! A band that starts at the image's first row (or ends at its last) has no
//! halo on that side, so the kernel's border rule applies there exactly as on
//! the whole image; inside the image the halo holds the real neighbours. The
//! result is therefore the whole image's, value for value.

use weft_device::{DType, Error, Result, Tensor};

/// Runs `f` on `inputs` (images of one shape, `[H, W]` or `[C, H, W]`) and
/// returns its `outputs` images: whole when every image fits one binding,
/// otherwise band by band, each band `halo` rows taller on each side than
/// the rows it keeps.
pub(super) fn banded(
    op: &str,
    inputs: &[&Tensor],
    outputs: usize,
    halo: usize,
    f: impl Fn(&[&Tensor]) -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let x = inputs[0];
    let dev = x.device();
    let limit = dev.limits().max_storage_buffer_binding_size;
    if x.byte_size() <= limit {
        return f(inputs);
    }
    let s = x.shape();
    let [h, w] = [s[s.len() - 2], s[s.len() - 1]];
    let planes = x.numel() / (h * w);
    let row_bytes = 4 * w as u64;
    let fit = (limit / row_bytes) as usize;
    if fit < 2 * halo + 1 {
        return Err(Error::BindingTooLarge {
            op: op.to_string(),
            bytes: row_bytes * (2 * halo + 1) as u64,
            limit,
        });
    }
    let body = fit - 2 * halo;
    let results: Vec<Tensor> = (0..outputs)
        .map(|_| dev.empty(s, DType::F32))
        .collect::<Result<_>>()?;
    for plane in 0..planes {
        let base = plane * h * w;
        for top in (0..h).step_by(body) {
            let bottom = (top + body).min(h);
            let (from, to) = (top.saturating_sub(halo), (bottom + halo).min(h));
            let bands: Vec<Tensor> = inputs
                .iter()
                .map(|t| {
                    let band = dev.empty(&[to - from, w], DType::F32)?;
                    dev.copy_elements(t, base + from * w, &band, 0, (to - from) * w)?;
                    Ok(band)
                })
                .collect::<Result<_>>()?;
            let refs: Vec<&Tensor> = bands.iter().collect();
            for (out, result) in f(&refs)?.iter().zip(&results) {
                let rows = bottom - top;
                dev.copy_elements(out, (top - from) * w, result, base + top * w, rows * w)?;
            }
        }
    }
    Ok(results)
}
