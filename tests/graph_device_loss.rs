//! Device loss in the middle of a training step: another thread destroys
//! the device while the trainer runs; the step returns a typed error within
//! a second, the checkpoint on disk is untouched, and a new device in the
//! same process loads it and trains on.

mod common;

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft::data::{Loader, Mnist};
use weft::graph::{Loss, Trainer, checkpoint};
use weft::{DType, Device, Error};

fn trainer(dev: &Device) -> Trainer {
    let (model, opt) = common::lenet5_adam(dev, 3);
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    Trainer::new(model, opt, loss)
}

#[test]
fn losing_the_device_mid_step_is_a_typed_error_and_training_goes_on() {
    let dir = std::env::temp_dir().join(format!("weft-loss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lenet5.safetensors");
    let mnist = Mnist::embedded().unwrap();

    // A device of its own, since it will be destroyed.
    let dev = Device::from_env().unwrap();
    let mut train = Loader::new(&dev, &mnist.train, 64, true, 3, DType::F32).unwrap();
    let mut t = trainer(&dev);
    t.epoch(train.epoch(Some(4)), |_| ControlFlow::Continue(()))
        .unwrap();
    checkpoint::save(&path, &t.model, Some(&t.optimizer), &[]).unwrap();
    let saved = std::fs::read(&path).unwrap();

    // The batch hook says when a step begins; the other thread destroys the
    // device a few milliseconds into the third step after it.
    let (began, wait) = mpsc::channel::<()>();
    let doomed = dev.clone();
    let killer = std::thread::spawn(move || {
        for _ in 0..3 {
            wait.recv().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        doomed.destroy();
        Instant::now()
    });
    let mut t = t.with_batch_hook(move |_| {
        let _ = began.send(());
        Ok(())
    });
    let err = t
        .epoch(train.epoch(None), |_| ControlFlow::Continue(()))
        .expect_err("training went on after the device was destroyed");
    let destroyed = killer.join().unwrap();
    let took = destroyed.elapsed();
    eprintln!("error {took:?} after the device was destroyed: {err}");
    assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // Every later call on the lost device fails the same way, at once.
    assert!(matches!(
        dev.tensor(&[2], &[1.0, 2.0]).and_then(|x| x.to_f32_vec()),
        Err(Error::DeviceLost(_))
    ));
    drop(t);
    drop(train);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        saved,
        "the checkpoint changed"
    );

    // A new device in the same process picks the checkpoint up and trains on.
    let dev = Device::from_env().unwrap();
    let mut t = trainer(&dev);
    checkpoint::load(&path, &mut t.model, Some(&mut t.optimizer)).unwrap();
    assert_eq!(t.optimizer.steps(), 4);
    let mut train = Loader::new(&dev, &mnist.train, 64, true, 3, DType::F32).unwrap();
    train.set_epoch(1);
    let report = t
        .epoch(train.epoch(Some(4)), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(report.steps, 4);
    assert!(report.mean_loss.is_finite());
    assert_eq!(t.optimizer.steps(), 8);
    let _ = std::fs::remove_dir_all(&dir);
}
