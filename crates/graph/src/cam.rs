//! Class activation maps: Grad-CAM (Selvaraju et al. 2017) for any layer of
//! any network, and with it CAM (Zhou et al. 2016) for networks that end in
//! global average pooling and a dense layer, where the two agree up to a
//! positive factor: the gradient of a class score with respect to the
//! pooled feature maps is that class's dense weights over the map's area.

use weft_device::{Drive, Error, Result, Tensor};
use weft_kernels::upsample::{self, UpsampleMode};

use crate::model::{Model, Objective};

/// One sample's heatmap, `h × w`, non-negative (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub h: usize,
    pub w: usize,
    pub values: Vec<f32>,
}

impl Heatmap {
    /// The map scaled to [0, 1] by its maximum (all zeros stay zeros).
    pub fn normalized(&self) -> Heatmap {
        let max = self.values.iter().cloned().fold(0.0f32, f32::max);
        let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
        Heatmap {
            values: self.values.iter().map(|v| v * scale).collect(),
            ..self.clone()
        }
    }
}

/// Grad-CAM of `layer` for each sample of `input` and its class in
/// `classes`: `ReLU(Σ_k α_k A_k)` with `A_k` the layer's k-th feature map
/// and `α_k` the spatial mean of the class score's gradient with respect to
/// it, at the layer's resolution. The model's mode (train or eval) applies;
/// eval is the usual choice. `layer` must output `[K, h, w]` per sample.
pub fn grad_cam(
    model: &mut Model,
    input: &Tensor,
    layer: &str,
    classes: &[usize],
) -> Result<Vec<Heatmap>> {
    pollster::block_on(grad_cam_with(model, input, layer, classes, Drive::Here))
}

/// [`grad_cam`] without blocking.
pub async fn grad_cam_async(
    model: &mut Model,
    input: &Tensor,
    layer: &str,
    classes: &[usize],
) -> Result<Vec<Heatmap>> {
    grad_cam_with(model, input, layer, classes, Drive::Elsewhere).await
}

async fn grad_cam_with(
    model: &mut Model,
    input: &Tensor,
    layer: &str,
    classes: &[usize],
    drive: Drive,
) -> Result<Vec<Heatmap>> {
    let n = input.dim(0);
    let g = model.graph();
    let out_shape = g.shape(g.outputs()[0]).to_vec();
    let [classes_out] = <[usize; 1]>::try_from(out_shape.as_slice()).map_err(|_| {
        Error::shape(
            "grad_cam",
            format!("needs a classifier with [classes] outputs, the model gives {out_shape:?}"),
        )
    })?;
    if classes.len() != n {
        return Err(Error::invalid(
            "grad_cam",
            "classes",
            format!("one class per sample: {} for a batch of {n}", classes.len()),
        ));
    }
    if let Some(&c) = classes.iter().find(|&&c| c >= classes_out) {
        return Err(Error::invalid(
            "grad_cam",
            "classes",
            format!("class {c} is outside the model's {classes_out} outputs"),
        ));
    }
    // d(score of each sample's class)/d(output): one-hot rows.
    let mut one_hot = vec![0.0f32; n * classes_out];
    for (i, &c) in classes.iter().enumerate() {
        one_hot[i * classes_out + c] = 1.0;
    }
    let dy = model
        .device()
        .upload_f32(&[n, classes_out], model.options().dtype, &one_hot)?;
    let (_, kept) = model.backward_at(&[input], Objective::OutputGradient(&dy), &[layer])?;
    let node = &kept[0];
    let shape = node.activation.shape().to_vec();
    let [_, k, h, w] = <[usize; 4]>::try_from(shape.as_slice()).map_err(|_| {
        Error::shape(
            format!("layer \"{layer}\""),
            format!(
                "Grad-CAM needs [K, h, w] feature maps, the layer gives {:?}",
                &shape[1..]
            ),
        )
    })?;
    let device = model.device();
    let a = device.read_f32_with(&node.activation, drive).await?;
    let d = device.read_f32_with(&node.gradient, drive).await?;
    let hw = h * w;
    let maps = (0..n)
        .map(|s| {
            let mut cam = vec![0.0f64; hw];
            for ch in 0..k {
                let base = (s * k + ch) * hw;
                let alpha = d[base..base + hw].iter().map(|&v| v as f64).sum::<f64>() / hw as f64;
                for (c, &v) in cam.iter_mut().zip(&a[base..base + hw]) {
                    *c += alpha * v as f64;
                }
            }
            Heatmap {
                h,
                w,
                values: cam.iter().map(|&v| v.max(0.0) as f32).collect(),
            }
        })
        .collect();
    Ok(maps)
}

/// The layer whose maps CAM weighs: the input of the network's last global
/// average pool, if it has one.
pub fn cam_layer(model: &Model) -> Option<String> {
    let g = model.graph();
    g.nodes()
        .iter()
        .rev()
        .find(|n| {
            n.layer
                .as_ref()
                .is_some_and(|l| l.kind() == "AdaptiveAvgPool2d" && n.shape[1..] == [1, 1])
        })
        .map(|n| g.node(n.inputs[0]).name.clone())
}

/// `map` resized bilinearly (PyTorch's `align_corners=False`) to `h × w` on
/// the device.
pub fn upsample_map(model: &Model, map: &Heatmap, h: usize, w: usize) -> Result<Heatmap> {
    pollster::block_on(upsample_map_with(model, map, [h, w], Drive::Here))
}

/// [`upsample_map`] without blocking.
pub async fn upsample_map_async(
    model: &Model,
    map: &Heatmap,
    h: usize,
    w: usize,
) -> Result<Heatmap> {
    upsample_map_with(model, map, [h, w], Drive::Elsewhere).await
}

async fn upsample_map_with(
    model: &Model,
    map: &Heatmap,
    [h, w]: [usize; 2],
    drive: Drive,
) -> Result<Heatmap> {
    let t = model.device().tensor(&[1, 1, map.h, map.w], &map.values)?;
    let up = upsample::upsample2d(
        &t,
        [h, w],
        UpsampleMode::Bilinear {
            align_corners: false,
        },
        None,
    )?;
    Ok(Heatmap {
        h,
        w,
        values: model.device().read_f32_with(&up, drive).await?,
    })
}
