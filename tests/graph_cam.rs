//! Grad-CAM against the closed form it takes on a network that ends in global
//! average pooling and a dense layer: the class score's gradient with respect
//! to feature map k is `w[c, k] / (h·w)` everywhere, so the map is
//! `ReLU(Σ_k w[c, k]·A_k) / (h·w)` — CAM — with `A` from the f64 reference
//! forward. Bound: 1e-5 of the map's largest value.

mod common;

use weft::graph::cam;
use weft::graph::layers::{BatchNorm2d, Boxed, Conv2d, Flatten, GlobalAvgPool, Linear, Relu};
use weft::graph::{Graph, HostArray, Model, reference};

#[test]
fn grad_cam_equals_cam_on_a_pooled_network() {
    let dev = common::device();
    let mut rng = common::rng(0xca3);
    let mut g = Graph::new();
    let x = g.input("x", &[2, 9, 7]).unwrap();
    let feat = g
        .chain(
            x,
            [
                ("conv", Conv2d::new(2, 4, 3).padding(1).boxed()),
                ("bn", BatchNorm2d::new(4).boxed()),
                ("feat", Relu.boxed()),
            ],
        )
        .unwrap();
    let y = g
        .chain(
            feat,
            [
                ("gap", GlobalAvgPool.boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(4, 3).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let mut model = Model::new(&dev, g.clone(), 3).unwrap();
    model
        .set_param("bn.running_mean", &[0.1, -0.2, 0.0, 0.3])
        .unwrap();
    model
        .set_param("bn.running_var", &[0.5, 1.5, 1.0, 2.0])
        .unwrap();
    model.eval();
    assert_eq!(cam::cam_layer(&model).as_deref(), Some("feat"));
    let batch = 3;
    let xs = common::uniform(&mut rng, batch * 2 * 9 * 7, -1.0, 1.0);
    let xt = dev.tensor(&[batch, 2, 9, 7], &xs).unwrap();
    let classes = [2, 0, 1];
    let maps = cam::grad_cam(&mut model, &xt, "feat", &classes).unwrap();
    // The async form (for a browser) is the same body: the same maps.
    let awaited = pollster::block_on(cam::grad_cam_async(&mut model, &xt, "feat", &classes));
    assert_eq!(awaited.unwrap(), maps);

    // The closed form from the reference forward up to `feat`.
    let params: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|t| t.to_f32_vec().unwrap().iter().map(|&v| v as f64).collect())
        .collect();
    let mut head = g.in_eval_mode();
    head.set_outputs(&[feat]);
    let input = HostArray::new(vec![batch, 2, 9, 7], xs.iter().map(|&v| v as f64).collect());
    let a = reference::forward(&head, &params, &[input])
        .unwrap()
        .remove(0);
    let fc = g
        .params()
        .iter()
        .position(|p| p.name == "fc.weight")
        .unwrap();
    let w = &params[fc];
    let peak = |m: &cam::Heatmap| m.values.iter().cloned().fold(0.0f32, f32::max);
    assert!(
        maps.iter().any(|m| peak(m) > 1e-3),
        "some class has evidence"
    );
    for (s, (map, &c)) in maps.iter().zip(&classes).enumerate() {
        assert_eq!((map.h, map.w), (9, 7));
        let want: Vec<f64> = (0..63)
            .map(|px| {
                let sum: f64 = (0..4)
                    .map(|k| w[c * 4 + k] * a.data[(s * 4 + k) * 63 + px])
                    .sum();
                sum.max(0.0) / 63.0
            })
            .collect();
        // A class with no positive evidence anywhere has an all-zero map.
        let max = want.iter().cloned().fold(0.0, f64::max).max(1e-6);
        for (px, (&got, &want)) in map.values.iter().zip(&want).enumerate() {
            assert!(
                (got as f64 - want).abs() <= 1e-5 * max,
                "sample {s} pixel {px}: {got} vs {want}"
            );
        }
    }
    // Upsampled to the image on the device, still non-negative.
    let up = cam::upsample_map(&model, &maps[0].normalized(), 18, 14).unwrap();
    let awaited = pollster::block_on(cam::upsample_map_async(
        &model,
        &maps[0].normalized(),
        18,
        14,
    ));
    assert_eq!(awaited.unwrap(), up);
    assert_eq!(up.values.len(), 18 * 14);
    assert!(up.values.iter().all(|&v| (0.0..=1.0 + 1e-6).contains(&v)));

    let err = cam::grad_cam(&mut model, &xt, "nope", &classes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
    let err = cam::grad_cam(&mut model, &xt, "feat", &[5, 0, 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("class 5"), "{err}");
    let err = cam::grad_cam(&mut model, &xt, "flatten", &classes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[K, h, w]"), "{err}");
}
