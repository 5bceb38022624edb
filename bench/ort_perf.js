#!/usr/bin/env node
// ort_perf.js — the peer glint's engine has to beat: ONNX Runtime's CPU
// execution provider (npm `onnxruntime-node`) running one ONNX model.
//
// Measures what `glint perf` measures, the model alone: a session with
// intraOpNumThreads=T, interOpNumThreads=1, graph optimisation 'all' and
// sequential execution; random input of the model's input shape with the
// batch axis set to B; warm-up, then back-to-back runs for S seconds; the
// median latency and images/s = B * 1000 / median_ms.
//
//   node bench/ort_perf.js --model models/yolov8n/model.onnx --batch 1 \
//        --threads 2 --seconds 10 [--json]
//
// Input name and dims come from the session's metadata (onnxruntime-node
// >= 1.2x exposes inputMetadata); --input NAME --shape 1,3,640,640 override
// them, and are needed when the model has symbolic dims other than batch.
// Install first: cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund
'use strict';

const path = require('path');

function usage(out) {
  out.write(
    'usage: node ort_perf.js --model M.onnx [--batch B] [--threads T] [--seconds S]\n' +
    '                        [--warmup S] [--input NAME] [--shape 1,3,640,640] [--json]\n' +
    'defaults: batch 1, threads 2, seconds 10, warm-up 1 s (at least 3 runs)\n');
}

function fail(msg) {
  process.stderr.write(`ort_perf: ${msg}\n`);
  process.exit(2);
}

function parseNumber(opt, s, lo, hi, integer) {
  const v = Number(s);
  if (s === undefined || s === '' || !Number.isFinite(v) || v < lo || v > hi ||
      (integer && !Number.isInteger(v))) {
    fail(`${opt} wants ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got '${s}'`);
  }
  return v;
}

function parseArgs(argv) {
  const o = { model: null, batch: 1, threads: 2, seconds: 10, warmup: 1, input: null,
              shape: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--json': o.json = true; break;
      case '-h': case '--help': usage(process.stdout); process.exit(0); break;
      case '--model': o.model = val(); break;
      case '--batch': o.batch = parseNumber(a, val(), 1, 1024, true); break;
      case '--threads': o.threads = parseNumber(a, val(), 1, 1024, true); break;
      case '--seconds': o.seconds = parseNumber(a, val(), 0.01, 3600, false); break;
      case '--warmup': o.warmup = parseNumber(a, val(), 0, 600, false); break;
      case '--input': o.input = val(); break;
      case '--shape': {
        const s = val();
        o.shape = s.split(',').map((d) => parseNumber('--shape', d.trim(), 1, 1 << 20, true));
        break;
      }
      default: usage(process.stderr); fail(`unknown option: ${a}`);
    }
  }
  if (!o.model) { usage(process.stderr); fail('--model is required'); }
  return o;
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node (${e.message}); install it with:\n` +
         `  cd ${path.relative(process.cwd(), __dirname) || '.'} && ` +
         'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund');
  }
  return null;
}

// Typed-array constructor and filler for an ORT tensor type name.
const TYPES = {
  float32: [Float32Array, () => Math.random()],
  float64: [Float64Array, () => Math.random()],
  int8: [Int8Array, () => (Math.random() * 256 - 128) | 0],
  uint8: [Uint8Array, () => (Math.random() * 256) | 0],
  int32: [Int32Array, () => (Math.random() * 256) | 0],
  int64: [BigInt64Array, () => BigInt((Math.random() * 256) | 0)],
  bool: [Uint8Array, () => (Math.random() < 0.5 ? 1 : 0)],
};

// The dims to feed for one input: --shape if given for it, else its metadata
// with axis 0 set to the batch. Symbolic dims past axis 0 cannot be guessed.
function inputDims(meta, o, isFirst) {
  let dims;
  if (o.shape && (o.input ? meta.name === o.input : isFirst)) {
    dims = o.shape.slice();
  } else if (meta && Array.isArray(meta.shape)) {
    dims = meta.shape.slice();
  } else {
    fail(`no shape known for input '${meta.name}': pass --input NAME --shape d0,d1,...`);
  }
  if (dims.length > 0) dims[0] = o.batch;
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      fail(`input '${meta.name}' has symbolic dim ${i} (${d}): pass --shape`);
    }
  });
  return dims;
}

function makeFeeds(ort, session, o) {
  // inputMetadata is an array in current releases; older ones lack it.
  const raw = session.inputMetadata;
  const metas = session.inputNames.map((name, i) => ({
    type: 'float32', shape: null,
    ...(Array.isArray(raw) ? raw[i] : (raw && raw[name]) || {}),
    name,
  }));
  if (o.input && !session.inputNames.includes(o.input)) {
    fail(`model has no input '${o.input}' (inputs: ${session.inputNames.join(', ')})`);
  }
  const feeds = {};
  const shapes = {};
  metas.forEach((meta, idx) => {
    const type = meta.type;
    const t = TYPES[type];
    if (!t) fail(`input '${meta.name}' has type ${type}, which ort_perf cannot fill`);
    const dims = inputDims(meta, o, idx === 0);
    const n = dims.reduce((a, b) => a * b, 1);
    if (n > (1 << 30)) fail(`input '${meta.name}' too large: ${dims.join('x')}`);
    const data = new t[0](n);
    for (let i = 0; i < n; i++) data[i] = t[1]();
    feeds[meta.name] = new ort.Tensor(type, data, dims);
    shapes[meta.name] = dims;
  });
  return { feeds, shapes };
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const version = (ort.env && ort.env.versions && ort.env.versions.node) ||
    require('onnxruntime-node/package.json').version;

  const tLoad = nowMs();
  let session;
  try {
    session = await ort.InferenceSession.create(o.model, {
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
    });
  } catch (e) {
    fail(`cannot load ${o.model}: ${e.message}`);
  }
  const loadMs = nowMs() - tLoad;
  const { feeds, shapes } = makeFeeds(ort, session, o);

  const tFirst = nowMs();
  try {
    await session.run(feeds);
  } catch (e) {
    fail(`running ${o.model} failed: ${e.message}`);
  }
  const firstMs = nowMs() - tFirst;

  const wEnd = nowMs() + o.warmup * 1000;
  for (let i = 0; i < 2 || nowMs() < wEnd; i++) await session.run(feeds);

  const samples = [];
  const start = nowMs();
  const end = start + o.seconds * 1000;
  for (let t = start; t < end;) {
    await session.run(feeds);
    const t1 = nowMs();
    samples.push(t1 - t);
    t = t1;
  }
  samples.sort((a, b) => a - b);
  const p50 = median(samples);
  const ips = (o.batch * 1000) / p50;
  const rssMb = process.resourceUsage().maxRSS / 1024;

  if (o.json) {
    process.stdout.write(JSON.stringify({
      runtime: 'onnxruntime',
      version,
      images_per_s: +ips.toFixed(3),
      latency_ms_p50: +p50.toFixed(4),
      latency_ms_min: +samples[0].toFixed(4),
      latency_ms_p90: +samples[Math.min(samples.length - 1,
        Math.floor(samples.length * 0.9))].toFixed(4),
      batch: o.batch,
      threads: o.threads,
      runs: samples.length,
      load_ms: +loadMs.toFixed(2),
      first_run_ms: +firstMs.toFixed(2),
      rss_mb: +rssMb.toFixed(1),
      model: o.model,
      inputs: shapes,
    }) + '\n');
  } else {
    const shapeStr = Object.entries(shapes).map(([k, v]) => `${k} ${v.join('x')}`).join(', ');
    process.stdout.write(
      `onnxruntime-node ${version} (CPU EP), ${o.threads} intra-op thread(s), ` +
      `batch ${o.batch}\n` +
      `model      ${o.model} (${shapeStr})\n` +
      `load       ${loadMs.toFixed(1)} ms, first run ${firstMs.toFixed(1)} ms, ` +
      `peak RSS ${rssMb.toFixed(1)} MB (node included)\n` +
      `runs       ${samples.length} in ${o.seconds} s\n` +
      `latency    p50 ${p50.toFixed(3)} ms, min ${samples[0].toFixed(3)} ms\n` +
      `throughput ${ips.toFixed(2)} images/s\n`);
  }
  if (typeof session.release === 'function') await session.release();
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
