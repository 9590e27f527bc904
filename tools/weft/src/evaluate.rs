//! Test-set evaluation: accuracy, confusion matrix, inference throughput.

use std::time::Instant;

use weft::data::Loader;
use weft::graph::Model;

/// Results of evaluating a classifier on a labelled split.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// `confusion[true][predicted]`.
    pub confusion: [[u64; 10]; 10],
    pub images: usize,
    pub images_per_s: f64,
}

impl Evaluation {
    pub fn correct(&self) -> u64 {
        (0..10).map(|i| self.confusion[i][i]).sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.images.max(1) as f64
    }
}

/// Runs the model in eval mode over every batch of `loader`.
pub fn evaluate(model: &mut Model, loader: &mut Loader) -> weft::Result<Evaluation> {
    model.eval();
    let order = loader.epoch_order();
    let mut confusion = [[0u64; 10]; 10];
    let mut images = 0;
    let t0 = Instant::now();
    for chunk in loader.chunks(&order) {
        let batch = loader.batch(&chunk)?;
        let out = model.forward(&[&batch.images])?;
        let logits = out[0].to_f32_vec()?;
        let classes = logits.len() / chunk.len();
        for (row, &label) in logits.chunks(classes).zip(&batch.labels) {
            let pred = argmax(row);
            confusion[label as usize][pred.min(9)] += 1;
        }
        images += chunk.len();
    }
    let secs = t0.elapsed().as_secs_f64();
    model.train();
    Ok(Evaluation {
        confusion,
        images,
        images_per_s: images as f64 / secs.max(1e-9),
    })
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}
