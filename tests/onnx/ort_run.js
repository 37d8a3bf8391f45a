// ort_run.js - run an exported ONNX model with ONNX Runtime (the npm package onnxruntime-node,
// CPU) over a whole data set, batch by batch.
//   node ort_run.js MODEL.onnx INPUT.f32 DIMS OUT.f32 OUT.i64
// INPUT.f32: the samples as raw little-endian float32 in the model's input shape, DIMS its
// shape without N, comma-separated ("1,28,28"); writes the outputs 'probabilities' (float32)
// and 'class' (int64) as raw little-endian files, and prints one line.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, dims, outProbs, outClass] = process.argv.slice(2);
  if (!outClass) {
    console.error('usage: node ort_run.js MODEL.onnx INPUT.f32 DIMS OUT.f32 OUT.i64');
    process.exit(2);
  }
  const shape = dims.split(',').map(Number);
  const per = shape.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const n = x.length / per;
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2 });
  const probs = [], classes = [];
  const batch = 1000;
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const t = new ort.Tensor('float32', x.subarray(i * per, (i + m) * per), [m, ...shape]);
    const out = await session.run({ input: t });
    probs.push(Buffer.from(out.probabilities.data.buffer, out.probabilities.data.byteOffset,
                           out.probabilities.data.byteLength));
    classes.push(Buffer.from(out.class.data.buffer, out.class.data.byteOffset,
                             out.class.data.byteLength));
  }
  fs.writeFileSync(outProbs, Buffer.concat(probs));
  fs.writeFileSync(outClass, Buffer.concat(classes));
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version}: ` +
              `${session.inputNames} -> ${session.outputNames}, ${n} samples`);
}

main().catch((e) => { console.error(`ort_run.js: ${e.message}`); process.exit(1); });
