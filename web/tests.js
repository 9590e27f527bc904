// weft's tests inside the browser. The results land in window.weftResults
// for the driver (test/run.mjs) to judge; this page also shows them.
//
// - shaders: every WGSL file weft ships compiles in the browser's compiler;
// - kernels: the self-test (GEMM, conv2d, pooling, softmax against the f64
//   CPU references compiled into the module, outputs poisoned first);
// - inference: the shipped LeNet-5 checkpoint on the first embedded test
//   images, against the native run's logits in native.json: the same
//   predictions, and logits within 1e-4 of each row's largest magnitude;
// - onnx: a convolution imported from ONNX's operator tests gives the
//   native run's outputs within 1e-5 of their largest magnitude;
// - training: steps of LeNet-5 from scratch lower the loss.
import init, { Session } from './pkg/weft_web.js';

const log = (line) => {
  document.getElementById('log').textContent += line + '\n';
  console.log(line);
};

async function run() {
  const results = { adapter: null, kernels: null, inference: null, training: null };
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: this browser offers no WebGPU');
  await init();
  const session = await Session.open();
  results.adapter = JSON.parse(session.adapter());
  log(`adapter: ${results.adapter.name} (${results.adapter.backend})`);

  const shaders = JSON.parse(await session.compile_all());
  results.shaders = shaders;
  log(`shaders: ${shaders.compiled} compiled, ${shaders.failures.length} failed`);
  for (const f of shaders.failures) log(`  ${f}`);

  const params = new URLSearchParams(location.search);
  const seed = Number(params.get('seed') ?? Date.now() % 2 ** 31) >>> 0;
  const checks = JSON.parse(await session.selftest(seed, Number(params.get('cases') ?? 6)));
  const failed = checks.filter((c) => c.failure);
  results.kernels = {
    seed,
    checks: checks.length,
    failed: failed.map((c) => `${c.op} ${c.case}: ${c.failure}`),
    worst_of_bound: Math.max(...checks.map((c) => c.worst_of_bound)),
  };
  log(`kernels: ${checks.length} checks, ${failed.length} failed, worst ${results.kernels.worst_of_bound.toFixed(3)} of the bound`);

  const native = await (await fetch('native.json')).json();
  const bytes = new Uint8Array(await (await fetch('lenet5.safetensors')).arrayBuffer());
  session.load_model(bytes);
  const count = native.images;
  const images = session.test_images(count);
  const logits = await session.logits(images);
  // Timed again, after the first call compiled the pipelines.
  const t0 = performance.now();
  await session.logits(images);
  const inferenceMs = performance.now() - t0;
  const classes = logits.length / count;
  let sameArgmax = 0;
  let worstRowErr = 0;
  for (let i = 0; i < count; i++) {
    const row = logits.slice(i * classes, (i + 1) * classes);
    const want = native.logits.slice(i * classes, (i + 1) * classes);
    const arg = (r) => r.indexOf(Math.max(...r));
    if (arg(Array.from(row)) === arg(want)) sameArgmax++;
    const mag = Math.max(...want.map(Math.abs));
    const err = Math.max(...want.map((w, j) => Math.abs(w - row[j])));
    worstRowErr = Math.max(worstRowErr, err / mag);
  }
  results.inference = {
    images: count, same_predictions: sameArgmax, worst_relative_error: worstRowErr, bound: 1e-4,
    images_per_s: count / (inferenceMs / 1000),
  };
  log(`inference: ${sameArgmax}/${count} predictions as native, worst logit error ${worstRowErr.toExponential(2)} of the row's largest`);

  // An ONNX model through the import path, on the native run's inputs.
  session.load_model(new Uint8Array(await (await fetch('conv2d.onnx')).arrayBuffer()));
  const onnxOut = await session.logits(new Float32Array(native.onnx.input));
  const onnxMag = Math.max(...native.onnx.output.map(Math.abs));
  const onnxErr = Math.max(...native.onnx.output.map((w, j) => Math.abs(w - onnxOut[j])));
  results.onnx = { outputs: onnxOut.length, expected: native.onnx.output.length, relative_error: onnxErr / onnxMag, bound: 1e-5 };
  log(`onnx: ${onnxOut.length} outputs, worst error ${(onnxErr / onnxMag).toExponential(2)} of the largest`);

  const steps = Number(params.get('steps') ?? 40);
  session.start_training(64, 0.001, seed);
  const losses = [];
  const times = [];
  let last = null;
  await session.train(steps, (json) => {
    last = JSON.parse(json);
    losses.push(last.loss);
    times.push(performance.now());
    return true;
  });
  // Steady state: the steps after the tenth (pipelines compiled, pool warm).
  const steady = 64 * (times.length - 10) / ((times[times.length - 1] - times[9]) / 1000);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  results.training = {
    steps: losses.length,
    first5: mean(losses.slice(0, 5)),
    last5: mean(losses.slice(-5)),
    images_per_s: last.images_per_s,
    steady_images_per_s: steady,
  };
  log(`training: loss ${results.training.first5.toFixed(3)} -> ${results.training.last5.toFixed(3)} over ${losses.length} steps, ${steady.toFixed(1)} images/s after step 10`);
  // The trained weights as a checkpoint, loaded back as the classifier: the
  // same answers on the test images as the network that was trained.
  const n = 256;
  const trainedAcc = await session.test_accuracy(n);
  const checkpoint = await session.trained_checkpoint();
  session.load_model(checkpoint);
  const reloaded = await session.logits(session.test_images(n));
  const labels = session.test_labels(n);
  let right = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(reloaded.slice(i * 10, (i + 1) * 10));
    if (row.indexOf(Math.max(...row)) === labels[i]) right++;
  }
  results.round_trip = { bytes: checkpoint.length, trained_accuracy: trainedAcc, reloaded_accuracy: right / n };
  log(`checkpoint round trip: ${checkpoint.length} bytes, accuracy ${trainedAcc} trained, ${right / n} reloaded`);
  results.memory = JSON.parse(session.memory());
  return results;
}

run().then(
  (r) => { window.weftResults = r; },
  (e) => { log(`error: ${e.message ?? e}`); window.weftResults = { error: String(e.message ?? e) }; },
);
