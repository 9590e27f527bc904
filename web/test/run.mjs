// Runs weft's browser tests and checks the demo page in headless Chromium
// on WebGPU, then writes results.json and a screenshot of the demo.
//
//   node web/test/run.mjs [BUILD_DIR] [OUT_DIR]   (defaults: target/web, BUILD_DIR)
//
// CHROMIUM names the browser (default: Debian's chromium). Chromium's
// SwiftShader gives a software WebGPU adapter on machines without a GPU;
// where the browser offers no adapter at all the run fails and says so.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import puppeteer from 'puppeteer-core';

const root = resolve(process.argv[2] ?? 'target/web');
const outDir = resolve(process.argv[3] ?? root);
const chromium = process.env.CHROMIUM ??
  ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
    .find((p) => existsSync(p));
if (!chromium) {
  console.error('no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM');
  process.exit(1);
}
const timeoutMs = Number(process.env.WEFT_BROWSER_TIMEOUT_S ?? 900) * 1000;

// The flags that give headless Chromium a WebGPU adapter without a GPU
// (SwiftShader's Vulkan); on a machine with a GPU drop the SwiftShader ones.
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-gpu-sandbox',
  '--disable-dev-shm-usage',
];

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

function serve() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const server = await serve();
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await puppeteer.launch({ executablePath: chromium, args: FLAGS, headless: true });
const results = {};
try {
  // The test page.
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`  [tests.html] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  [tests.html] page error: ${e.message}`));
  await page.goto(`${base}/tests.html`);
  await page.waitForFunction(() => window.weftResults, { timeout: timeoutMs, polling: 500 });
  const r = await page.evaluate(() => window.weftResults);
  Object.assign(results, r);
  if (r.error) {
    check(false, `the test page ran: ${r.error}`);
  } else {
    check(r.shaders.compiled > 0 && r.shaders.failures.length === 0,
      `shaders: ${r.shaders.compiled} compiled in the browser${r.shaders.failures.map((f) => `\n     ${f}`).join('')}`);
    check(r.kernels.checks > 0 && r.kernels.failed.length === 0,
      `kernels: ${r.kernels.checks} checks against the CPU references (seed ${r.kernels.seed}), ` +
      `worst ${r.kernels.worst_of_bound.toFixed(3)} of the bound${r.kernels.failed.map((f) => `\n     ${f}`).join('')}`);
    check(r.inference.same_predictions === r.inference.images && r.inference.worst_relative_error <= r.inference.bound,
      `inference: ${r.inference.same_predictions}/${r.inference.images} predictions as native, logits within ` +
      `${r.inference.worst_relative_error.toExponential(2)} (bound ${r.inference.bound})`);
    check(r.onnx.outputs === r.onnx.expected && r.onnx.relative_error <= r.onnx.bound,
      `onnx: an imported convolution's ${r.onnx.outputs} outputs within ${r.onnx.relative_error.toExponential(2)} ` +
      `of native (bound ${r.onnx.bound})`);
    check(r.training.last5 < 0.7 * r.training.first5,
      `training: loss ${r.training.first5.toFixed(3)} -> ${r.training.last5.toFixed(3)} over ` +
      `${r.training.steps} steps, ${r.training.steady_images_per_s.toFixed(1)} images/s after step 10`);
    check(r.round_trip.bytes > 0 && r.round_trip.reloaded_accuracy === r.round_trip.trained_accuracy,
      `checkpoint of the trained network (${r.round_trip.bytes} bytes) reloads with the same test accuracy ` +
      `(${r.round_trip.trained_accuracy} vs ${r.round_trip.reloaded_accuracy})`);
    // Beside the native run of the same steps (native.json).
    const native = JSON.parse(await readFile(join(root, 'native.json'), 'utf8'));
    results.native = {
      adapter: native.adapter.name,
      inference_images_per_s: native.inference_images_per_s,
      train_steady_images_per_s: native.train_steady_images_per_s,
    };
    console.log(`     browser ${r.training.steady_images_per_s.toFixed(0)} vs native ${native.train_steady_images_per_s.toFixed(0)} ` +
      `training images/s; inference ${r.inference.images_per_s.toFixed(0)} vs ${native.inference_images_per_s.toFixed(0)} images/s ` +
      `(batch ${r.inference.images}; native on ${native.adapter.name})`);
  }
  await page.close();

  // The demo: draw a 7, read the top 3, train a few steps.
  const demo = await browser.newPage();
  demo.on('console', (m) => console.log(`  [index.html] ${m.text()}`));
  demo.on('pageerror', (e) => console.log(`  [index.html] page error: ${e.message}`));
  await demo.setViewport({ width: 1200, height: 900 });
  await demo.goto(`${base}/index.html`);
  await demo.waitForFunction(() => document.body.dataset.state !== 'loading', { timeout: timeoutMs });
  const state = await demo.evaluate(() => document.body.dataset.state);
  check(state === 'ready', `demo page ready (state ${state}${state === 'error'
    ? `: ${await demo.$eval('#error', (e) => e.textContent)}` : ''})`);
  if (state === 'ready') {
    const box = await (await demo.$('#pad')).boundingBox();
    const stroke = async (points) => {
      await demo.mouse.move(box.x + points[0][0], box.y + points[0][1]);
      await demo.mouse.down();
      for (const [x, y] of points.slice(1)) await demo.mouse.move(box.x + x, box.y + y, { steps: 12 });
      await demo.mouse.up();
    };
    await stroke([[70, 60], [210, 60], [120, 235]]);
    await demo.waitForFunction(() => document.querySelector('#top li'), { timeout: timeoutMs });
    // Let the last classification (after the final stroke) land.
    await new Promise((ok) => setTimeout(ok, 1500));
    const top = await demo.$$eval('#top li', (lis) => lis.map((li) => li.textContent));
    results.demo = { top };
    check(top.length === 3 && top[0].startsWith('7:'), `demo: a drawn 7 reads as ${JSON.stringify(top)}`);
    await mkdir(outDir, { recursive: true });
    await demo.screenshot({ path: join(outDir, 'demo.png'), fullPage: true });
    console.log(`screenshot: ${join(outDir, 'demo.png')}`);
    // An image file through the same page: a 7 from MNIST's test set.
    await demo.$eval('#own', (e) => { e.open = true; });
    await (await demo.$('#image-file')).uploadFile(join(root, 'digit-7.png'));
    await demo.waitForFunction(() => document.querySelector('#image-top li') || document.body.dataset.state === 'error',
      { timeout: timeoutMs });
    const imageTop = await demo.$$eval('#image-top li', (lis) => lis.map((li) => li.textContent));
    results.demo.image = imageTop;
    check(imageTop.length > 0 && imageTop[0].startsWith('class 7:'), `demo: an uploaded PNG of a 7 reads as ${JSON.stringify(imageTop.slice(0, 3))}`);
    await demo.$eval('#steps', (e) => { e.value = '20'; });
    await demo.click('#train');
    await demo.waitForFunction(() => document.body.dataset.training === 'done' || document.body.dataset.state === 'error',
      { timeout: timeoutMs });
    const stats = await demo.$eval('#train-stats', (e) => e.textContent);
    results.demo.training = stats;
    check(/test accuracy/.test(stats), `demo training: ${stats}`);
    const download = await demo.$eval('#download', (a) => ({ hidden: a.hidden, href: a.href }));
    check(!download.hidden && download.href.startsWith('blob:'), 'demo: the trained weights are offered for download');
    await demo.screenshot({ path: join(outDir, 'demo-trained.png'), fullPage: true });
    console.log(`screenshot: ${join(outDir, 'demo-trained.png')}`);
  }
} finally {
  await browser.close();
  server.close();
}
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'results.json'), JSON.stringify(results, null, 2));
if (failures.length) {
  console.log(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
