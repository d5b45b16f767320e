// predict.js — loads a TF.js layers model from disk with @tensorflow/tfjs (CPU backend) and
// prints its prediction, for savepoint's peer tests.
//
//   node predict.js MODEL_JSON INPUT.json
//
// MODEL_JSON is a model.json beside its shard files (read here, handed to tfjs through
// tf.io.fromMemory as a browser would fetch them); INPUT.json is {"shape": [...], "values": [...]}.
// Prints {"shape": [...], "values": [...]} of the first output. Exit 1 with a message on failure.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelPath, inputPath] = process.argv.slice(2);
  const modelJson = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const directory = path.dirname(modelPath);
  const weightSpecs = [];
  const buffers = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(directory, shard)));
  }
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(
      tf.io.fromMemory({modelTopology: modelJson.modelTopology, weightSpecs, weightData}));
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const output = model.predict(tf.tensor(input.values, input.shape, 'float32'));
  const first = Array.isArray(output) ? output[0] : output;
  process.stdout.write(JSON.stringify({shape: first.shape, values: Array.from(await first.data())}) + '\n');
}

main().catch((error) => {
  process.stderr.write(`predict.js: ${error.stack || error}\n`);
  process.exit(1);
});
