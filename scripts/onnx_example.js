// onnx_example.js - an omptrain model exported to ONNX, run by ONNX Runtime in node: the first
// five MNIST test images, their most probable digit and its probability.
//   npm install --ignore-scripts onnxruntime-node   (make test keeps one in build/npm:
//   NODE_PATH=build/npm/node_modules node scripts/onnx_example.js MODEL.onnx)
// It reads data/mnist of the repository it lies in, from any directory. Errors are one line on
// stderr; exit status 0 printed, 1 the model or ONNX Runtime cannot be loaded or run, 2 usage.
const usage = 'usage: node scripts/onnx_example.js MODEL.onnx ' +
  '(onnxruntime-node from NODE_PATH, e.g. NODE_PATH=build/npm/node_modules)';
if (process.argv.length !== 3 || process.argv[2].startsWith('-')) {
  const help = ['-h', '--help'].includes(process.argv[2]) && process.argv.length === 3;
  (help ? console.log : console.error)(usage);
  process.exit(help ? 0 : 2);
}
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error(`onnx_example.js: cannot load onnxruntime-node (${e.code}); expected it in ` +
    'NODE_PATH (npm install --ignore-scripts onnxruntime-node)');
  process.exit(1);
}
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

async function main(model) {
  const images = path.join(__dirname, '..', 'data/mnist/t10k-images-idx3-ubyte.gz');
  const idx = zlib.gunzipSync(fs.readFileSync(images));
  const x = Float32Array.from(idx.subarray(16, 16 + 5 * 784), (u) => u / 255); // NCHW, [0, 1]
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({ input: new ort.Tensor('float32', x, [5, 1, 28, 28]) });
  for (let i = 0; i < 5; i++) {
    const c = Number(out.class.data[i]);
    console.log(`image ${i}: digit ${c}, p = ${out.probabilities.data[i * 10 + c].toFixed(6)}`);
  }
}

// ONNX Runtime's messages run over several lines (a model of another input shape: one a
// dimension): one line, named
main(process.argv[2]).catch((e) => {
  console.error(`onnx_example.js: ${process.argv[2]}: ${e.message.replace(/\s+/g, ' ').trim()}`);
  process.exit(1);
});
