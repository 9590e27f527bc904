// The demo page: draw a digit and see LeNet-5's top 3 as you draw; train
// LeNet-5 in the page with a live chart. Every number comes from weft's
// kernels on this page's WebGPU adapter.
import init, { Session } from './pkg/weft_web.js';

const $ = (id) => document.getElementById(id);
const mib = (b) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(2)} MiB`);

function fail(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  document.body.dataset.state = 'error';
}

function fill(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

async function main() {
  if (!navigator.gpu) {
    fail('This browser offers no WebGPU, so weft cannot run here. Try a recent Chrome, Edge or Safari, ' +
      'or Firefox with WebGPU enabled; pages must be served over https or from localhost.');
    return;
  }
  await init();
  let session;
  try {
    session = await Session.open();
  } catch (e) {
    fail(`WebGPU is present but gave no usable adapter: ${e.message ?? e}`);
    return;
  }
  const adapter = JSON.parse(session.adapter());
  fill($('adapter'), [
    ['adapter', adapter.name || '(unnamed)'],
    ['backend', adapter.backend],
    ['type', adapter.device_type],
    ['storage buffers / stage', adapter.max_storage_buffers_per_stage],
    ['largest binding', mib(adapter.max_storage_binding_bytes)],
    ['features', adapter.features.join(', ') || 'none'],
  ]);
  const showMemory = () => {
    const m = JSON.parse(session.memory());
    fill($('memory'), [
      ['live now', mib(m.live_bytes)],
      ['peak', mib(m.peak_live_bytes)],
      ['held by the pool', mib(m.held_bytes)],
      ['planned inference peak (batch 1)', mib(m.planned_inference_peak_bytes)],
    ]);
  };

  const bytes = new Uint8Array(await (await fetch('lenet5.safetensors')).arrayBuffer());
  const info = JSON.parse(session.load_model(bytes));
  $('model-name').textContent = `model: ${info.name} (pretrained)`;
  showMemory();

  // Drawing: white ink on black, as MNIST digits are.
  const pad = $('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true });
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    $('top').replaceChildren();
  };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 20;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  let drawing = false;
  let last = null;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    last = at(e);
    pad.setPointerCapture(e.pointerId);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = at(e);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
    classifySoon();
  });
  const stopDrawing = () => {
    if (drawing) classifySoon();
    drawing = false;
  };
  pad.addEventListener('pointerup', stopDrawing);
  pad.addEventListener('pointercancel', stopDrawing);
  $('clear').addEventListener('click', clear);

  // One classification in flight at a time; strokes made meanwhile ask for
  // one more when it finishes.
  let busy = false;
  let again = false;
  async function classifySoon() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const img = ctx.getImageData(0, 0, pad.width, pad.height);
        const probs = await session.classify_drawing(new Uint8Array(img.data.buffer), pad.width, pad.height);
        const ranked = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 3);
        $('top').replaceChildren(...ranked.map((k) => {
          const li = document.createElement('li');
          li.dataset.digit = k;
          li.textContent = `${k}: ${(100 * probs[k]).toFixed(1)}%`;
          return li;
        }));
        showMemory();
      } while (again);
    } catch (e) {
      fail(`classification failed: ${e.message ?? e}`);
    } finally {
      busy = false;
    }
  }

  // A model and images of the visitor's own.
  const bytesOf = async (input) => new Uint8Array(await input.files[0].arrayBuffer());
  $('model-file').addEventListener('change', async (e) => {
    if (!e.target.files.length) return;
    try {
      const m = JSON.parse(session.load_model(await bytesOf(e.target)));
      $('model-name').textContent = `model: ${m.name}, input ${JSON.stringify(m.input)} (${e.target.files[0].name})`;
      showMemory();
    } catch (err) {
      fail(`that model cannot be loaded: ${err.message ?? err}`);
    }
  });
  $('image-file').addEventListener('change', async (e) => {
    if (!e.target.files.length) return;
    try {
      const probs = await session.classify_image(await bytesOf(e.target), $('imagenet').checked);
      const ranked = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5);
      $('image-top').replaceChildren(...ranked.map((k) => {
        const li = document.createElement('li');
        li.dataset.class = k;
        li.textContent = `class ${k}: ${(100 * probs[k]).toFixed(1)}%`;
        return li;
      }));
      showMemory();
    } catch (err) {
      fail(`that image cannot be classified: ${err.message ?? err}`);
    }
  });

  // Training with a live chart of the loss (left axis) and the batch
  // accuracy (right axis, 0 to 1).
  const chart = $('chart');
  const cctx = chart.getContext('2d');
  function plot(points) {
    const { width: w, height: h } = chart;
    cctx.clearRect(0, 0, w, h);
    if (points.length < 2) return;
    const maxLoss = Math.max(...points.map((p) => p.loss));
    const x = (i) => 30 + (i / (points.length - 1)) * (w - 60);
    const line = (color, y) => {
      cctx.strokeStyle = color;
      cctx.beginPath();
      points.forEach((p, i) => (i ? cctx.lineTo(x(i), y(p)) : cctx.moveTo(x(i), y(p))));
      cctx.stroke();
    };
    line('#c33', (p) => h - 20 - (p.loss / maxLoss) * (h - 40));
    line('#36c', (p) => h - 20 - p.accuracy * (h - 40));
    cctx.fillStyle = '#c33';
    cctx.fillText(`loss (max ${maxLoss.toFixed(2)})`, 34, 12);
    cctx.fillStyle = '#36c';
    cctx.fillText('batch accuracy (0–1)', w - 150, 12);
  }
  let stopRequested = false;
  $('stop').addEventListener('click', () => (stopRequested = true));
  $('train').addEventListener('click', async () => {
    const steps = Math.max(1, Number($('steps').value) || 300);
    $('train').disabled = true;
    $('stop').disabled = false;
    stopRequested = false;
    document.body.dataset.training = 'running';
    const points = [];
    try {
      session.start_training(64, 0.001, (Date.now() % 2 ** 31) >>> 0);
      await session.train(steps, (json) => {
        const s = JSON.parse(json);
        points.push(s);
        plot(points);
        $('train-stats').textContent =
          `step ${s.step}, epoch ${s.epoch}: loss ${s.loss.toFixed(4)}, batch accuracy ` +
          `${(100 * s.accuracy).toFixed(1)}%, ${s.images_per_s.toFixed(0)} images/s`;
        return !stopRequested;
      });
      const acc = await session.test_accuracy(1000);
      const last = points[points.length - 1];
      $('train-stats').textContent =
        `${points.length} steps: loss ${last.loss.toFixed(4)}, test accuracy ${(100 * acc).toFixed(1)}% ` +
        `(first 1000 embedded test images), ${last.images_per_s.toFixed(0)} images/s. ` +
        'Your drawings are now classified by the network you trained.';
      const weights = await session.trained_checkpoint();
      const link = $('download');
      if (link.href) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(new Blob([weights], { type: 'application/octet-stream' }));
      link.hidden = false;
      session.use_trained_model();
      $('model-name').textContent = 'model: lenet5 (trained in this page)';
      classifySoon();
      document.body.dataset.training = 'done';
      showMemory();
    } catch (e) {
      fail(`training failed: ${e.message ?? e}`);
    } finally {
      $('train').disabled = false;
      $('stop').disabled = true;
    }
  });

  document.body.dataset.state = 'ready';
}

main().catch((e) => fail(`weft failed to start: ${e.message ?? e}`));
