//! Building networks: shape inference and its errors, parameter counts and
//! names of the reference networks (they must equal PyTorch's), fusion.

use weft::graph::layers::{
    Add, BatchNorm2d, Boxed, Concat, Conv2d, Flatten, Linear, MaxPool2d, Relu,
};
use weft::graph::{Graph, ParamKind, models};

#[test]
fn lenet5_matches_pytorch() {
    let g = models::lenet5().unwrap();
    assert_eq!(g.parameter_count(), 61_706);
    let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "fc3.weight",
            "fc3.bias"
        ]
    );
    assert_eq!(g.shape(g.outputs()[0]), [10]);
    assert_eq!(g.shape(g.find("pool2").unwrap()), [16, 5, 5]);
}

/// Forward FLOPs count every multiply-add of convolutions and dense layers
/// twice: LeNet-5's 416,520 and ResNet-18's 1,814,073,344 multiply-adds
/// (torchvision's 1.81 GMAC at 224x224), counted by hand per layer.
#[test]
fn forward_flops_count_multiply_adds() {
    let lenet = models::lenet5().unwrap();
    // conv1 6·28²·25, conv2 16·10²·150, fc 400·120 + 120·84 + 84·10.
    assert_eq!(lenet.forward_flops(), 2 * 416_520);
    let resnet = models::resnet18(1000, 224).unwrap();
    // stem 64·112²·147, layer1 4 · 64·56²·576, layers 2-4 each a strided
    // conv, a conv, a 1x1 downsample and a block of two convs
    // (411,041,792), fc 512·1000.
    let layer = 57_802_752 + 115_605_504 + 6_422_528 + 2 * 115_605_504;
    let macs = 118_013_952 + 4 * 115_605_504 + 3 * layer + 512_000;
    assert_eq!(resnet.forward_flops(), 2 * macs as u64);
}

/// VGG-16 and MobileNet v1 against their published counts (torchvision's
/// `vgg16`: 138,357,544 parameters, 15.47 GMAC; the MobileNet paper's 4.2 M
/// parameters and 569 M multiply-adds), counted here layer by layer.
#[test]
fn vgg16_and_mobilenet_v1_match_their_published_counts() {
    let vgg = models::vgg16(1000, 224).unwrap();
    assert_eq!(vgg.parameter_count(), 138_357_544);
    assert_eq!(vgg.forward_flops(), 2 * 15_470_264_320);
    let names: Vec<&str> = vgg.params().iter().map(|p| p.name.as_str()).collect();
    for expected in [
        "features.0.weight",
        "features.28.bias",
        "classifier.6.weight",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    assert_eq!(vgg.shape(vgg.find("features.30").unwrap()), [512, 7, 7]);
    // At CIFAR's 32x32 (and 48) the adaptive pool spreads the last pixel(s)
    // to 7x7, so the classifier is ImageNet's and pretrained weights load.
    for size in [32, 48] {
        let small = models::vgg16(10, size).unwrap();
        let fc = small
            .params()
            .iter()
            .find(|p| p.name == "classifier.0.weight");
        assert_eq!(fc.unwrap().decl.shape, [4096, 25088]);
        assert_eq!(small.shape(small.find("avgpool").unwrap()), [512, 7, 7]);
    }
    let err = models::vgg16(10, 31).unwrap_err().to_string();
    assert!(err.contains("at least 32") && err.contains("31"), "{err}");

    let mobilenet = models::mobilenet_v1(1000, 224).unwrap();
    assert_eq!(mobilenet.parameter_count(), 4_231_976);
    assert_eq!(mobilenet.forward_flops(), 2 * 568_740_352);
    let last = mobilenet.find("blocks.12.relu2").unwrap();
    assert_eq!(mobilenet.shape(last), [1024, 7, 7]);
}

#[test]
fn resnet18_matches_torchvision() {
    let g = models::resnet18(1000, 224).unwrap();
    assert_eq!(g.parameter_count(), 11_689_512);
    let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
    // torchvision's state_dict has 122 entries with num_batches_tracked; ours
    // are the 102 parameters and running statistics (num_batches_tracked lives
    // beside them in checkpoints).
    assert_eq!(names.len(), 102);
    for expected in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.bias",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_mean",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    let fc = g.params().iter().find(|p| p.name == "fc.weight").unwrap();
    assert_eq!(fc.decl.shape, [1000, 512]);
    assert_eq!(g.shape(g.find("layer4.1.relu2").unwrap()), [512, 7, 7]);
    let buffers = g
        .params()
        .iter()
        .filter(|p| p.decl.kind == ParamKind::Buffer)
        .count();
    assert_eq!(buffers, 2 * 20);
}

#[test]
fn unet_matches_the_reference_implementation() {
    // The widely used PyTorch U-Net (n_channels=3, n_classes=2, bilinear=False).
    let g = models::unet(3, 2, 64, 4, 128).unwrap();
    assert_eq!(g.parameter_count(), 31_037_698);
    assert_eq!(g.shape(g.outputs()[0]), [2, 128, 128]);
    for expected in [
        "inc.double_conv.0.weight",
        "down4.maxpool_conv.1.double_conv.4.running_var",
        "up1.up.weight",
        "up4.conv.double_conv.3.weight",
        "outc.conv.bias",
    ] {
        assert!(
            g.params().iter().any(|p| p.name == expected),
            "missing {expected}"
        );
    }
    let up = g
        .params()
        .iter()
        .find(|p| p.name == "up1.up.weight")
        .unwrap();
    assert_eq!(
        up.decl.shape,
        [1024, 512, 2, 2],
        "transposed conv weights are IOHW"
    );
}

#[test]
fn depthwise_separable_block_counts() {
    let mut g = Graph::new();
    let x = g.input("x", &[32, 56, 56]).unwrap();
    let y = models::depthwise_separable(&mut g, x, "block", 32, 64, 2).unwrap();
    g.set_outputs(&[y]);
    // dw 32·9 + bn 2·32 + pw 32·64 + bn 2·64 (MobileNet v1's second block).
    assert_eq!(g.parameter_count(), 288 + 64 + 2048 + 128);
    assert_eq!(g.shape(y), [64, 28, 28]);
}

#[test]
fn shape_errors_name_the_layer() {
    let mut g = Graph::new();
    let x = g.input("x", &[3, 32, 32]).unwrap();
    let c1 = g.add("conv1", Conv2d::new(3, 6, 5).boxed(), &[x]).unwrap();
    let err = g
        .add("conv2", Conv2d::new(3, 16, 5).boxed(), &[c1])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer \"conv2\": expected 3 input channels, got 6"
    );

    let f = g.add("flatten", Flatten.boxed(), &[c1]).unwrap();
    let err = g.add("fc", Linear::new(100, 10).boxed(), &[f]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer \"fc\": expected 100 input features, got 4704"
    );

    let err = g
        .add("big", Conv2d::new(6, 6, 40).boxed(), &[c1])
        .unwrap_err();
    assert!(
        err.to_string().starts_with("layer \"big\"")
            && err.to_string().contains("larger than the padded input"),
        "{err}"
    );

    let err = g
        .add("grouped", Conv2d::new(6, 4, 3).groups(4).boxed(), &[c1])
        .unwrap_err();
    assert!(err.to_string().contains("divisible by groups"), "{err}");

    let p = g.add("pool", MaxPool2d::new(2).boxed(), &[c1]).unwrap();
    let err = g.add("sum", Add.boxed(), &[c1, p]).unwrap_err();
    assert!(err.to_string().contains("equal shapes"), "{err}");
    let err = g.add("cat", Concat.boxed(), &[c1, p]).unwrap_err();
    assert!(err.to_string().contains("except in channels"), "{err}");

    let err = g.add("conv1", Relu.boxed(), &[c1]).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = g.add("bn", BatchNorm2d::new(5).boxed(), &[c1]).unwrap_err();
    assert_eq!(err.to_string(), "layer \"bn\": expected 5 channels, got 6");
    let err = g.add("lin", Linear::new(6, 2).boxed(), &[c1]).unwrap_err();
    assert!(err.to_string().contains("add a Flatten"), "{err}");
}

#[test]
fn fusion_keeps_ids_and_only_fuses_what_is_legal() {
    let g = models::lenet5().unwrap();
    let train = g.fused(true);
    assert_eq!(train.nodes().len(), g.nodes().len());
    assert_eq!(
        train
            .node(g.find("relu1").unwrap())
            .layer
            .as_ref()
            .unwrap()
            .kind(),
        "Identity"
    );
    assert_eq!(
        train
            .node(g.find("relu3").unwrap())
            .layer
            .as_ref()
            .unwrap()
            .kind(),
        "Identity"
    );

    // A producer with two consumers keeps its activation separate.
    let mut g = Graph::new();
    let x = g.input("x", &[4, 8, 8]).unwrap();
    let c = g
        .add("conv", Conv2d::new(4, 4, 3).padding(1).boxed(), &[x])
        .unwrap();
    let r = g.add("relu", Relu.boxed(), &[c]).unwrap();
    let s = g.add("sum", Add.boxed(), &[c, r]).unwrap();
    g.set_outputs(&[s]);
    let f = g.fused(true);
    assert_eq!(f.node(r).layer.as_ref().unwrap().kind(), "ReLU");
}

/// The zoo against torchvision's published parameter counts (the `num_params`
/// of each model's ImageNet weights) and its `state_dict` sizes: parameters,
/// running statistics and one `num_batches_tracked` per batch norm.
#[test]
fn zoo_matches_torchvision_counts() {
    // name, parameters, state_dict entries.
    let expected = [
        ("alexnet", 61_100_840, 16),
        ("vgg11", 132_863_336, 22),
        ("vgg11-bn", 132_868_840, 62),
        ("vgg16", 138_357_544, 32),
        ("vgg16-bn", 138_365_992, 97),
        ("resnet18", 11_689_512, 122),
        ("resnet34", 21_797_672, 218),
        ("resnet50", 25_557_032, 320),
        ("mobilenet-v2", 3_504_872, 314),
        ("googlenet", 6_624_904, 344),
    ];
    for (name, params, entries) in expected {
        let g = models::build(name, None, None).unwrap();
        assert_eq!(g.parameter_count(), params, "{name} parameters");
        let batch_norms = g
            .nodes()
            .iter()
            .filter(|n| n.layer.as_ref().is_some_and(|l| l.tracks_batches()))
            .count();
        assert_eq!(
            g.params().len() + batch_norms,
            entries,
            "{name} state_dict entries"
        );
        assert_eq!(g.shape(g.outputs()[0]), [1000], "{name} logits");
    }
}

/// Parameter names and shapes where torchvision's layouts are easy to get
/// wrong: the bottleneck's strided 3×3 (v1.5), MobileNetV2's numbering with and
/// without the expansion conv, GoogLeNet's branches and ceil-mode pools.
#[test]
fn zoo_names_and_shapes_follow_torchvision() {
    let shape_of = |g: &Graph, name: &str| {
        g.params()
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("missing {name}"))
            .decl
            .shape
            .clone()
    };
    let r50 = models::build("resnet50", None, None).unwrap();
    assert_eq!(shape_of(&r50, "layer2.0.conv2.weight"), [128, 128, 3, 3]);
    assert_eq!(
        shape_of(&r50, "layer2.0.downsample.0.weight"),
        [512, 256, 1, 1]
    );
    assert_eq!(shape_of(&r50, "fc.weight"), [1000, 2048]);
    assert_eq!(
        g_shape(&r50, "layer2.0.relu_mid"),
        [128, 28, 28],
        "stride on the 3x3"
    );

    let m2 = models::build("mobilenet-v2", None, None).unwrap();
    assert_eq!(shape_of(&m2, "features.1.conv.0.0.weight"), [32, 1, 3, 3]);
    assert_eq!(shape_of(&m2, "features.1.conv.1.weight"), [16, 32, 1, 1]);
    assert_eq!(shape_of(&m2, "features.2.conv.0.0.weight"), [96, 16, 1, 1]);
    assert_eq!(shape_of(&m2, "features.2.conv.1.0.weight"), [96, 1, 3, 3]);
    assert_eq!(shape_of(&m2, "features.2.conv.3.running_var"), [24]);
    assert_eq!(shape_of(&m2, "features.18.0.weight"), [1280, 320, 1, 1]);
    assert_eq!(shape_of(&m2, "classifier.1.weight"), [1000, 1280]);
    // Residual adds where stride 1 keeps the channels: 10 of the 17 blocks.
    let adds = m2
        .nodes()
        .iter()
        .filter(|n| n.name.ends_with(".add"))
        .count();
    assert_eq!(adds, 10);

    let gn = models::build("googlenet", None, None).unwrap();
    assert_eq!(
        shape_of(&gn, "inception3a.branch3.1.conv.weight"),
        [32, 16, 3, 3]
    );
    assert_eq!(
        shape_of(&gn, "inception5b.branch4.1.bn.running_mean"),
        [128]
    );
    // Ceil-mode pools: 112 → 56 → 28 → 14 → 7.
    assert_eq!(g_shape(&gn, "maxpool1"), [64, 56, 56]);
    assert_eq!(g_shape(&gn, "inception3b.cat"), [480, 28, 28]);
    assert_eq!(g_shape(&gn, "maxpool4"), [832, 7, 7]);

    let vgg = models::build("vgg11-bn", None, None).unwrap();
    assert_eq!(shape_of(&vgg, "features.1.running_mean"), [64]);
    assert_eq!(shape_of(&vgg, "features.4.weight"), [128, 64, 3, 3]);
    assert_eq!(shape_of(&vgg, "classifier.0.weight"), [4096, 25088]);

    let alex = models::build("alexnet", Some(10), None).unwrap();
    assert_eq!(shape_of(&alex, "classifier.1.weight"), [4096, 9216]);
    assert_eq!(shape_of(&alex, "classifier.6.bias"), [10]);
}

fn g_shape(g: &Graph, node: &str) -> Vec<usize> {
    g.shape(g.find(node).unwrap_or_else(|| panic!("no node {node}")))
        .to_vec()
}

/// A U-Net's layout: depth and widths, no batch norm (biased convs, the
/// paper's), concatenation order; invalid layouts name the field.
#[test]
fn unet_layout_is_configurable() {
    let mut config = models::UnetConfig::new(1, 3, 8, 2);
    config.widths = vec![8, 12, 20];
    config.batch_norm = false;
    let g = config.build(32).unwrap();
    // inc 1→8→8, down1 8→12→12, down2 12→20→20, up1 20→12 (2×2) + 24→12→12,
    // up2 12→8 + 16→8→8, outc 8→3; biases everywhere.
    let conv = |i: usize, o: usize| i * o * 9 + o;
    let up = |i: usize, o: usize| i * o * 4 + o;
    let count = conv(1, 8)
        + conv(8, 8)
        + conv(8, 12)
        + conv(12, 12)
        + conv(12, 20)
        + conv(20, 20)
        + up(20, 12)
        + conv(24, 12)
        + conv(12, 12)
        + up(12, 8)
        + conv(16, 8)
        + conv(8, 8)
        + 8 * 3
        + 3;
    assert_eq!(g.parameter_count(), count);
    assert!(
        g.params()
            .iter()
            .any(|p| p.name == "up1.conv.double_conv.2.bias")
    );
    assert_eq!(g.shape(g.outputs()[0]), [3, 32, 32]);
    let cat = g.find("up2.cat").unwrap();
    let skip = g.find("inc.double_conv.3").unwrap();
    assert_eq!(g.node(cat).inputs[0], skip, "skip first by default");
    config.skip_first = false;
    let g = config.build(32).unwrap();
    let cat = g.find("up2.cat").unwrap();
    assert_eq!(g.node(cat).inputs[1], g.find("inc.double_conv.3").unwrap());

    let err = config.build(30).unwrap_err().to_string();
    assert!(err.contains("size") && err.contains("30"), "{err}");
    config.widths = vec![8];
    let err = config.build(32).unwrap_err().to_string();
    assert!(err.contains("widths"), "{err}");
    let err = models::build("resnet101", None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("resnet101") && err.contains("resnet50"),
        "{err}"
    );
}
