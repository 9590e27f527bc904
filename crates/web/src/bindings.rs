//! The page's API (wasm-bindgen). Calls that wait for the GPU return
//! promises; a model or a training run is taken out of its slot while a call
//! awaits it, so an overlapping call gets a "busy" error instead of racing.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use weft::data::{MNIST_MEAN, MNIST_STD, Mnist};
use weft::{Device, DeviceOptions};

use crate::{Classifier, Training};

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

type Slot<T> = Rc<RefCell<Option<T>>>;

/// Takes the value out of `slot` for the length of an async call.
fn take<T>(slot: &Slot<T>, what: &str) -> Result<T, JsValue> {
    slot.borrow_mut()
        .take()
        .ok_or_else(|| js_err(format!("no {what} loaded, or it is busy with another call")))
}

/// weft on the page's GPU: one device, one classifier, one training run.
#[wasm_bindgen]
pub struct Session {
    device: Device,
    classifier: Slot<Classifier>,
    training: Slot<Training>,
}

#[wasm_bindgen]
impl Session {
    /// Opens the browser's WebGPU adapter. Fails with a message saying why
    /// where WebGPU is unavailable.
    pub async fn open() -> Result<Session, JsValue> {
        let device = Device::new_async(DeviceOptions::default())
            .await
            .map_err(js_err)?;
        Ok(Session {
            device,
            classifier: Rc::default(),
            training: Rc::default(),
        })
    }

    /// The adapter, its limits and features, as JSON.
    pub fn adapter(&self) -> String {
        crate::adapter_json(&self.device).to_string()
    }

    /// Device memory as JSON: the pool's bytes now and the loaded model's
    /// planned inference peak at batch 1.
    pub fn memory(&self) -> String {
        let planned = self
            .classifier
            .borrow()
            .as_ref()
            .and_then(|c| c.plan(1).ok())
            .map(|r| r.planned_peak);
        let mut v = crate::pool_json(&self.device);
        v["planned_inference_peak_bytes"] = serde_json::json!(planned);
        v.to_string()
    }

    /// Loads a weft checkpoint (safetensors) or an ONNX model; returns its
    /// name and input shape as JSON.
    pub fn load_model(&self, bytes: &[u8]) -> Result<String, JsValue> {
        let c = Classifier::from_bytes(&self.device, bytes).map_err(js_err)?;
        let info = serde_json::json!({ "name": c.name, "input": c.sample_shape });
        *self.classifier.borrow_mut() = Some(c);
        Ok(info.to_string())
    }

    /// The loaded model's outputs for whole samples (`Float32Array`).
    pub fn logits(&self, samples: Vec<f32>) -> Promise {
        let slot = self.classifier.clone();
        future_to_promise(async move {
            let mut c = take(&slot, "model")?;
            let r = c.logits(&samples).await;
            *slot.borrow_mut() = Some(c);
            Ok(js_sys::Float32Array::from(&r.map_err(js_err)?[..]).into())
        })
    }

    /// Class probabilities of a drawing (RGBA pixels, `width`×`height`),
    /// made into an MNIST-style digit first (ink cropped, scaled to 20×20,
    /// centred by mass in 28×28; dark ink on a light ground is inverted).
    pub fn classify_drawing(&self, rgba: Vec<u8>, width: usize, height: usize) -> Promise {
        let slot = self.classifier.clone();
        future_to_promise(async move {
            if rgba.len() != width * height * 4 {
                return Err(js_err(format!(
                    "{} bytes are not {width}×{height} RGBA pixels",
                    rgba.len()
                )));
            }
            let sample: Vec<f32> = crate::classifier::digit_from_rgba(&rgba, width, height)
                .iter()
                .map(|v| (v - MNIST_MEAN) / MNIST_STD)
                .collect();
            let mut c = take(&slot, "model")?;
            let r = c.probabilities(&sample).await;
            *slot.borrow_mut() = Some(c);
            Ok(js_sys::Float32Array::from(&r.map_err(js_err)?[..]).into())
        })
    }

    /// Class probabilities of an encoded image (PNG or JPEG bytes), prepared
    /// as the loaded model expects (see `Classifier::classify_image`).
    pub fn classify_image(&self, encoded: Vec<u8>, imagenet: bool) -> Promise {
        let slot = self.classifier.clone();
        future_to_promise(async move {
            let mut c = take(&slot, "model")?;
            let r = c.classify_image(&encoded, imagenet).await;
            *slot.borrow_mut() = Some(c);
            Ok(js_sys::Float32Array::from(&r.map_err(js_err)?[..]).into())
        })
    }

    /// The first `count` images of the embedded MNIST test split, normalised
    /// as the network expects (`Float32Array`, 784 values each).
    pub fn test_images(&self, count: usize) -> Result<Vec<f32>, JsValue> {
        let mnist = Mnist::embedded().map_err(js_err)?;
        let count = count.min(mnist.test.count);
        Ok(crate::training::normalised(&mnist.test, 0..count))
    }

    /// Their labels.
    pub fn test_labels(&self, count: usize) -> Result<Vec<u8>, JsValue> {
        let mnist = Mnist::embedded().map_err(js_err)?;
        Ok(mnist.test.labels[..count.min(mnist.test.count)].to_vec())
    }

    /// Starts training LeNet-5 from `seed` on the embedded subset (Adam at
    /// `lr`, batches of `batch`).
    pub fn start_training(&self, batch: usize, lr: f32, seed: u32) -> Result<(), JsValue> {
        let t = Training::lenet5(&self.device, batch, lr, seed as u64).map_err(js_err)?;
        *self.training.borrow_mut() = Some(t);
        Ok(())
    }

    /// Takes `steps` training steps, calling `on_step` with each step's
    /// statistics (JSON: step, epoch, loss, accuracy, images_per_s);
    /// resolves to the last step's. `on_step` returning `false` stops early.
    pub fn train(&self, steps: usize, on_step: Function) -> Promise {
        let slot = self.training.clone();
        future_to_promise(async move {
            let mut t = take(&slot, "training run")?;
            let mut last = JsValue::NULL;
            let mut result = Ok(());
            for _ in 0..steps {
                match t.step().await {
                    Ok(s) => {
                        last = JsValue::from_str(&serde_json::to_string(&s).unwrap_or_default());
                        match on_step.call1(&JsValue::NULL, &last) {
                            Ok(v) if v == JsValue::FALSE => break,
                            Ok(_) => {}
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        result = Err(js_err(e));
                        break;
                    }
                }
            }
            *slot.borrow_mut() = Some(t);
            result.map(|()| last)
        })
    }

    /// The training run's accuracy on the first `count` test images.
    pub fn test_accuracy(&self, count: usize) -> Promise {
        let slot = self.training.clone();
        future_to_promise(async move {
            let mut t = take(&slot, "training run")?;
            let r = t.test_accuracy(count).await;
            *slot.borrow_mut() = Some(t);
            Ok(JsValue::from_f64(r.map_err(js_err)?))
        })
    }

    /// The training run's weights as a weft checkpoint (`Uint8Array` of
    /// safetensors), to download or to load again.
    pub fn trained_checkpoint(&self) -> Promise {
        let slot = self.training.clone();
        future_to_promise(async move {
            let t = take(&slot, "training run")?;
            let r = t.checkpoint().await;
            *slot.borrow_mut() = Some(t);
            Ok(js_sys::Uint8Array::from(&r.map_err(js_err)?[..]).into())
        })
    }

    /// Makes the trained network the one that classifies.
    pub fn use_trained_model(&self) -> Result<(), JsValue> {
        let t = take(&self.training, "training run")?;
        *self.classifier.borrow_mut() = Some(t.into_classifier());
        Ok(())
    }

    /// Compiles every shader weft ships and retires the kernel variants whose
    /// shader failed; resolves to JSON `{compiled, failures, retired}`.
    pub fn compile_all(&self) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let (compiled, failures, retired) = crate::selftest::compile_all(&device).await;
            let v = serde_json::json!({
                "compiled": compiled,
                "failures": failures,
                "retired": retired,
            });
            Ok(JsValue::from_str(&v.to_string()))
        })
    }

    /// Runs the kernel self-test ([`crate::selftest`]): `cases` random cases
    /// of each op from `seed`; resolves to the checks as JSON.
    pub fn selftest(&self, seed: u32, cases: usize) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let checks = crate::selftest::run(&device, seed as u64, cases)
                .await
                .map_err(js_err)?;
            Ok(JsValue::from_str(
                &serde_json::to_string(&checks).unwrap_or_default(),
            ))
        })
    }
}
