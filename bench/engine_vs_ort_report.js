#!/usr/bin/env node
// engine_vs_ort_report.js — the table and JSON file of engine_vs_ort.sh.
//
// Reads the runs the script collected (one JSON object a line:
// {kind: glint|ort|peak_f32|peak_int8, batch, round, data | error}) and
// prints, per batch size, the medians over rounds and the ratios that matter:
// glint/ORT in images/s, and glint's GFLOP/s against the lone-conv ceiling.
//   node engine_vs_ort_report.js RUNS.jsonl OUT.json MODEL THREADS ROUNDS SECONDS CPU DATE HAVE_GLINT LOAD
'use strict';

const fs = require('fs');
const path = require('path');

const [runsPath, outPath, model, threads, rounds, seconds, cpu, date, haveGlint, load] =
  process.argv.slice(2);

const runs = fs.readFileSync(runsPath, 'utf8').split('\n').filter(Boolean).map((l) => {
  try {
    return JSON.parse(l);
  } catch (e) {
    return { kind: 'unparsed', error: l.slice(0, 200) };
  }
});

function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// The successful runs of one kind (and batch): their JSON, plus `noise`, the
// cores other processes used meanwhile (see engine_vs_ort.sh).
const ok = (kind, batch) =>
  runs.filter((r) => r.kind === kind && (batch === undefined || r.batch === batch) && r.data)
    .map((r) => ({ ...r.data, noise: r.noise }));
const field = (ds, ...names) => ds.map((d) => names.map((n) => d[n]).find((v) => v !== undefined));
const ratio = (a, b) => (a !== null && b !== null && b > 0 ? a / b : null);

// images/s of one run, the same way for every runtime: batch * 1000 / median
// latency (a throughput over the wall clock, as glint perf reports it, counts
// the slow outliers a noisy VM throws in, and would bias the ratio). Runs of
// several instances keep their reported throughput.
function ipsOf(d, batch) {
  const single = d.instances === undefined || d.instances === 1;
  return single && d.latency_ms_p50 > 0 ? ((d.batch || batch) * 1000) / d.latency_ms_p50
    : d.images_per_s;
}
// GFLOP/s of one glint run at ipsOf's images/s.
function gflopsOf(d, batch) {
  if (d.model_gflop > 0) return d.model_gflop * ipsOf(d, batch);
  return d.images_per_s > 0 && d.gflops > 0 ? (d.gflops * ipsOf(d, batch)) / d.images_per_s
    : null;
}

// GFLOP per image: the model's reference.json (tools/gen_models.py writes it)
// if there is one, else what glint reports (its GFLOP/s over its images/s).
function gflopPerImage() {
  try {
    const ref = JSON.parse(fs.readFileSync(path.join(path.dirname(model), 'reference.json'), 'utf8'));
    if (ref.gflops > 0) return ref.gflops;
  } catch (e) { /* no reference: fall back on glint's own count */ }
  const g = ok('glint').filter((d) => d.model_gflop > 0 || (d.gflops > 0 && d.images_per_s > 0));
  return g.length ? median(g.map((d) => d.model_gflop || d.gflops / d.images_per_s)) : null;
}
const perImage = gflopPerImage();

function peak(dt) {
  const ds = ok(`peak_${dt}`);
  if (!ds.length) return null;
  return { gflops_median: median(field(ds, 'gflops')), impl: ds[0].impl,
           runs: field(ds, 'gflops') };
}
const peaks = { f32: peak('f32'), int8: peak('int8') };

const batches = [...new Set(runs.filter((r) => r.kind === 'glint' || r.kind === 'ort')
  .map((r) => r.batch))].sort((a, b) => a - b);

const results = batches.map((batch) => {
  const g = ok('glint', batch);
  const o = ok('ort', batch);
  const gIps = median(g.map((d) => ipsOf(d, batch)));
  const oIps = median(o.map((d) => ipsOf(d, batch)));
  const gGf = median(g.map((d) => gflopsOf(d, batch)));
  const precision = (g.map((d) => d.precision || d.dtype).find(Boolean) || 'f32').toLowerCase();
  const pk = precision.includes('int8') || precision.includes('s8') || precision.includes('u8')
    ? peaks.int8 : peaks.f32;
  const oGf = perImage !== null && oIps !== null ? perImage * oIps : null;
  return {
    batch,
    glint: g.length ? {
      images_per_s: gIps, latency_ms_p50: median(field(g, 'latency_ms_p50')), gflops: gGf,
      precision, load_ms: median(field(g, 'load_ms')), rss_mb: median(field(g, 'rss_mb')),
      runs: g,
    } : null,
    ort: o.length ? {
      version: o[0].version, images_per_s: oIps,
      latency_ms_p50: median(field(o, 'latency_ms_p50')), gflops: oGf,
      load_ms: median(field(o, 'load_ms')), rss_mb: median(field(o, 'rss_mb')), runs: o,
    } : null,
    glint_over_ort: ratio(gIps, oIps),
    peak_gflops: pk ? pk.gflops_median : null,
    glint_over_peak: pk ? ratio(gGf, pk.gflops_median) : null,
    ort_over_peak: peaks.f32 ? ratio(oGf, peaks.f32.gflops_median) : null,
    errors: runs.filter((r) => r.batch === batch && r.error && (r.kind === 'glint' || r.kind === 'ort'))
      .map((r) => `${r.kind} round ${r.round}: ${r.error}`),
  };
});

// ---- table ----
const f = (x, n = 1) => (x === null || x === undefined ? '-' : x.toFixed(n));
const pct = (x) => (x === null ? '-' : `${(100 * x).toFixed(0)}%`);
const cols = ['batch', 'glint img/s', 'ORT img/s', 'glint/ORT', 'glint p50 ms', 'ORT p50 ms',
  'glint GFLOP/s', 'ORT GFLOP/s', 'conv peak', 'glint/peak', 'ORT/peak'];
const rows = results.map((r) => [
  String(r.batch), f(r.glint && r.glint.images_per_s, 2), f(r.ort && r.ort.images_per_s, 2),
  r.glint_over_ort === null ? '-' : `${r.glint_over_ort.toFixed(2)}x`,
  f(r.glint && r.glint.latency_ms_p50, 2), f(r.ort && r.ort.latency_ms_p50, 2),
  f(r.glint && r.glint.gflops), f(r.ort && r.ort.gflops), f(r.peak_gflops),
  pct(r.glint_over_peak), pct(r.ort_over_peak),
]);
const w = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padStart(w[i])).join('  ');

console.log('');
console.log(`engine vs ONNX Runtime — ${model}, ${threads} thread(s), median of ${rounds} ` +
  `interleaved round(s) x ${seconds} s, ${date}, ${cpu}`);
console.log(line(cols));
rows.forEach((r) => console.log(line(r)));
for (const dt of ['f32', 'int8']) {
  const p = peaks[dt];
  if (p) {
    console.log(`conv_peak ${dt}: ${f(p.gflops_median)} G${dt === 'f32' ? 'FLOP' : 'OP'}/s ` +
      `(3x3 128->128 @40x40 + bias + SiLU, ${threads} thread(s), ${p.impl})`);
  }
}
if (perImage !== null) console.log(`model cost: ${perImage.toFixed(3)} GFLOP per image`);
const gAny = results.find((r) => r.glint);
const oAny = results.find((r) => r.ort);
if (gAny) {
  const gl = median(results.filter((r) => r.glint).map((r) => r.glint.load_ms));
  const gr = median(results.filter((r) => r.glint).map((r) => r.glint.rss_mb));
  console.log(`glint: cold load + warm-up ${gl === null ? 'not reported' : `${gl.toFixed(0)} ms`}, ` +
    `peak RSS ${gr === null ? 'not reported' : `${gr.toFixed(0)} MB`}`);
} else if (haveGlint === '1') {
  console.log('glint: every run failed (see errors below)');
} else {
  console.log('glint: not measured (build/glint missing)');
}
if (oAny) {
  console.log(`ORT ${oAny.ort.version}: session load ${f(oAny.ort.load_ms, 0)} ms, ` +
    `peak RSS ${f(oAny.ort.rss_mb, 0)} MB (includes node, ~45 MB)`);
}
results.forEach((r) => r.errors.forEach((e) => console.log(`error: batch ${r.batch} ${e}`)));
const measured = runs.filter((r) => r.data && r.noise);
const noisy = measured.filter((r) => r.noise.other_cores > 0.1);
if (noisy.length) {
  console.log(`warning: ${noisy.length} of ${measured.length} runs shared the CPU with other ` +
    'processes (> 0.1 core on average): rerun on a quiet machine before trusting the ratios');
}

fs.writeFileSync(outPath, JSON.stringify({
  date, cpu, model, threads: +threads, rounds: +rounds, seconds: +seconds,
  load_average_at_start: +load, noisy_runs: noisy.length, gflop_per_image: perImage,
  conv_peak: peaks, results,
}, null, 1) + '\n');
