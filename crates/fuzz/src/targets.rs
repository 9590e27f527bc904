//! The fuzz targets: each takes arbitrary bytes and runs one of weft's
//! loaders on them. Errors are the expected outcome; a panic is a bug.

use std::cell::RefCell;
use std::path::Path;

use weft_data::{folder, idx};
use weft_device::{Device, DeviceOptions, TuneKey, TuneRecords};
use weft_graph::checkpoint::{self, LoadOptions};
use weft_graph::layers::{BatchNorm2d, Boxed, Conv2d, Flatten, Linear};
use weft_graph::{Graph, LrSchedule, Model, Optimizer, OptimizerKind};

/// A target: its name (the corpus folder) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const ALL: &[Target] = &[
    ("checkpoint", checkpoint),
    ("idx", idx),
    ("image", image),
    ("onnx", onnx),
    ("tune_cache", tune_cache),
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<fn(&[u8])> {
    ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

/// The small network checkpoints load into: a convolution, a batch norm
/// (running statistics, a batch count) and a dense layer, with Adam state.
pub fn tiny_graph() -> Graph {
    let mut g = Graph::new();
    let x = g.input("image", &[1, 4, 4]).expect("valid input");
    let y = g
        .chain(
            x,
            [
                ("conv", Conv2d::new(1, 2, 3).padding(1).boxed()),
                ("bn", BatchNorm2d::new(2).boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(2 * 4 * 4, 3).boxed()),
            ],
        )
        .expect("valid layers");
    g.set_outputs(&[y]);
    g
}

thread_local! {
    // Leaked, never dropped: dropping a device while the thread's locals are
    // destroyed (at exit) panics inside wgpu, which uses locals of its own.
    static MODEL: &'static RefCell<Option<(Model, Optimizer)>> =
        Box::leak(Box::new(RefCell::new(None)));
}

/// Runs `f` on the tiny model and its optimizer, made once per thread on a
/// device of their own.
pub fn with_tiny_model<R>(f: impl FnOnce(&mut Model, &mut Optimizer) -> R) -> R {
    MODEL.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (model, optimizer) = slot.get_or_insert_with(|| {
            let device = Device::new(DeviceOptions::from_env().expect("device options"))
                .expect("the checkpoint target needs an adapter (lavapipe in CI)");
            let graph = tiny_graph();
            let kind = OptimizerKind::adam(1e-3);
            let optimizer =
                Optimizer::new(&device, &graph, kind, LrSchedule::Constant).expect("optimizer");
            (Model::new(&device, graph, 1).expect("model"), optimizer)
        });
        f(model, optimizer)
    })
}

/// A safetensors checkpoint loaded into the tiny model, strictly and not.
pub fn checkpoint(data: &[u8]) {
    with_tiny_model(|model, optimizer| load_checkpoint(data, model, optimizer));
}

fn load_checkpoint(data: &[u8], model: &mut Model, optimizer: &mut Optimizer) {
    let origin = Path::new("fuzz.safetensors");
    for strict in [true, false] {
        let options = LoadOptions {
            strict,
            ..Default::default()
        };
        let _ = checkpoint::load_bytes(data, origin, model, Some(&mut *optimizer), &options);
    }
}

/// An IDX file, gzipped or raw, as images and as labels.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok(bytes) = idx::maybe_gunzip(path, data.to_vec()) {
        let _ = idx::parse(path, &bytes, idx::IMAGES_MAGIC);
        let _ = idx::parse(path, &bytes, idx::LABELS_MAGIC);
    }
}

/// An image (PNG or JPEG) decoded, resized and cropped as an image folder
/// reads it, greyscale and colour.
pub fn image(data: &[u8]) {
    let path = Path::new("fuzz.img");
    let _ = folder::prepare_bytes(data, path, 8, 1);
    let _ = folder::prepare_bytes(data, path, 5, 3);
}

/// A tuning cache file parsed, looked up, and written back: what is written
/// must read back as the same records.
pub fn tune_cache(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = TuneRecords::parse(text) else {
        return;
    };
    let key = TuneKey {
        adapter: "llvmpipe | vulkan | mesa".into(),
        op: "gemm".into(),
        class: "b0 m6 n6 k6 ta0 tb0 a1".into(),
        precision: "f32".into(),
    };
    let _ = records.lookup(&key);
    let again = TuneRecords::parse(&records.to_json()).expect("written records read back");
    assert_eq!(again, records, "records changed through their file form");
}

/// An ONNX model imported (parsed, converted, shapes inferred).
pub fn onnx(data: &[u8]) {
    let _ = weft_onnx::import(data, &weft_onnx::ImportOptions::default());
}
