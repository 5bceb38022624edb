// Runs an ONNX model on one raw float32 input with ONNX Runtime (onnxruntime-node)
// and writes the first output raw: node bench/ort_run.js MODEL IN.raw OUT.raw DIMS...
// OPT=disabled runs it without graph optimizations (the reference semantics).
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  const [model, inFile, outFile, ...dims] = process.argv.slice(2);
  const buf = fs.readFileSync(inFile);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: process.env.OPT || 'all'});
  const feeds = {}; feeds[s.inputNames[0]] = new ort.Tensor('float32', data, dims.map(Number));
  const r = await s.run(feeds);
  const o = r[s.outputNames[0]];
  fs.writeFileSync(outFile, Buffer.from(o.data.buffer));
  console.log('ORT output', o.dims.join('x'));
})();
