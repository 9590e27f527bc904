//! Training LeNet-5 on the MNIST subset compiled into weft, one awaited step
//! at a time, so that a page can draw its progress between steps.

use web_time::Instant;
use weft::data::{Loader, Mnist};
use weft::graph::models::lenet5;
use weft::graph::{Batch, Loss, LrSchedule, Model, Optimizer, OptimizerKind, Trainer};
use weft::{DType, Device, Error, Result};

/// What one step did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepStats {
    /// Steps taken so far (this one included).
    pub step: u64,
    /// Epochs started (from 1).
    pub epoch: u64,
    /// The batch's mean cross-entropy.
    pub loss: f64,
    /// The batch's share of correct answers, before the update.
    pub accuracy: f64,
    /// Images per second over all steps so far.
    pub images_per_s: f64,
}

/// A LeNet-5 training run on the embedded subset.
pub struct Training {
    trainer: Trainer,
    train: Loader,
    test: Mnist,
    /// The current epoch's batches and the next one to take.
    chunks: Vec<Vec<u32>>,
    next: usize,
    epoch: u64,
    images: u64,
    started: Option<Instant>,
}

impl Training {
    /// LeNet-5 from `seed`, Adam at `lr`, batches of `batch`.
    pub fn lenet5(device: &Device, batch: usize, lr: f32, seed: u64) -> Result<Training> {
        let mnist = Mnist::embedded()?;
        let model = Model::new(device, lenet5()?, seed)?;
        let train = Loader::new(device, &mnist.train, batch, true, seed, DType::F32)?;
        let optimizer = Optimizer::new(
            device,
            model.graph(),
            OptimizerKind::adam(lr),
            LrSchedule::Constant,
        )?;
        let loss = Loss::CrossEntropy {
            label_smoothing: 0.0,
        };
        Ok(Training {
            trainer: Trainer::new(model, optimizer, loss),
            train,
            test: mnist,
            chunks: Vec::new(),
            next: 0,
            epoch: 0,
            images: 0,
            started: None,
        })
    }

    /// One step: forward, backward and the update, then the loss and the
    /// count of correct answers read back (awaited, never blocking).
    pub async fn step(&mut self) -> Result<StepStats> {
        if self.next >= self.chunks.len() {
            let order = self.train.epoch_order();
            self.chunks = self.train.chunks(&order);
            self.next = 0;
            self.epoch += 1;
        }
        let indices = self.chunks[self.next].clone();
        self.next += 1;
        let started = *self.started.get_or_insert_with(Instant::now);
        let n = indices.len();
        let batch = self.train.batch(&indices)?;
        let out = self.trainer.step(batch.into())?;
        let device = self.trainer.model.device().clone();
        let loss = device.read_f32_async(&out.loss).await?[0] as f64;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                what: format!("step {}", self.trainer.optimizer.steps()),
                value: loss,
            });
        }
        let correct = match &out.correct {
            Some(c) => device.read_u32_async(c).await?[0] as f64,
            None => f64::NAN,
        };
        self.images += n as u64;
        Ok(StepStats {
            step: self.trainer.optimizer.steps() as u64,
            epoch: self.epoch,
            loss,
            accuracy: correct / n as f64,
            images_per_s: self.images as f64 / started.elapsed().as_secs_f64().max(1e-9),
        })
    }

    /// Accuracy on the first `count` images of the embedded test split.
    pub async fn test_accuracy(&mut self, count: usize) -> Result<f64> {
        let split = &self.test.test;
        let count = count.min(split.count);
        if count == 0 {
            return Ok(f64::NAN);
        }
        let samples = normalised(split, 0..count);
        let labels: Vec<i32> = split.labels[..count].iter().map(|&l| l as i32).collect();
        let device = self.trainer.model.device().clone();
        let batch = Batch {
            inputs: vec![device.tensor(&[count, 1, split.rows, split.cols], &samples)?],
            targets: device.tensor_i32(&[count], &labels)?,
            mixup: None,
        };
        // The trainer's own evaluation, awaited.
        let eval = self.trainer.evaluate_async([Ok(batch)]).await?;
        Ok(eval.accuracy())
    }

    /// The trained weights as a weft checkpoint (safetensors bytes, no
    /// optimizer state), loadable here, by `weft eval` and by PyTorch.
    pub async fn checkpoint(&self) -> Result<Vec<u8>> {
        let metadata = [
            ("weft.model", "lenet5".to_string()),
            ("weft.dtype", "f32".to_string()),
        ];
        weft::graph::checkpoint::to_bytes_async(&self.trainer.model, None, &metadata).await
    }

    /// The trained network, as a classifier.
    pub fn into_classifier(self) -> crate::Classifier {
        crate::Classifier::with_model(self.trainer.model, "lenet5".into())
    }

    /// The network being trained.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.trainer.model
    }
}

/// Images `range` of `split` as f32 samples normalised the way the loader
/// does (MNIST's mean and standard deviation).
pub fn normalised(split: &weft::data::Split, range: std::ops::Range<usize>) -> Vec<f32> {
    let per = split.channels * split.rows * split.cols;
    split.images[range.start * per..range.end * per]
        .iter()
        .map(|&p| (p as f32 / 255.0 - weft::data::MNIST_MEAN) / weft::data::MNIST_STD)
        .collect()
}
