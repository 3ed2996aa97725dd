import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { TestContext } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import {
  exportModelDir,
  exportTfjs,
  readExportSource,
  TFJS_WEIGHTS_FILE,
} from '../../../src/export/index.js';
import type { TfjsExportMetadata } from '../../../src/export/index.js';
import { initBackend } from '../../../src/ml/backend.js';
import type { CellType } from '../../../src/ml/model/layout.js';
import type { TokenizerType } from '../../../src/ml/tokenizers/index.js';
import { maxAbsDiff, randomStates, referenceRun, writeTestModelDir } from '../../helpers/model-dir.js';

before(async () => {
  await initBackend('cpu', 'off');
});

const TOLERANCE = 1e-4;

/** Runs an exported model over `ids` from `initial`: in one call when it takes sequences, else token by token. */
function runExport(
  model: tf.LayersModel,
  meta: TfjsExportMetadata,
  ids: number[],
  initial: Float32Array[],
): { logits: Float32Array; state: Float32Array[] } {
  const h = meta.hiddenSize;
  return tf.tidy(() => {
    let state = initial.map((s) => tf.tensor2d(s, [1, h]));
    const chunks = meta.tokensPerCall === null ? [ids] : ids.map((id) => [id]);
    const logits: Float32Array[] = [];
    for (const chunk of chunks) {
      const [out, ...next] = model.predict([
        tf.tensor2d([chunk], [1, chunk.length], 'int32'),
        ...state,
      ]) as tf.Tensor[];
      logits.push((out as tf.Tensor).dataSync() as Float32Array);
      state = next as tf.Tensor2D[];
    }
    return {
      logits: Float32Array.from(logits.flatMap((l) => [...l])),
      state: state.map((s) => s.dataSync() as Float32Array),
    };
  });
}

async function serve(t: TestContext, dir: string): Promise<string> {
  const server = createServer((req, res) => {
    const file = (req.url ?? '/').split('?')[0]?.slice(1) ?? '';
    readFile(join(dir, file)).then(
      (body) => res.end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const cases: { cell: CellType; tokenizer: TokenizerType; layers: number; tieWeights?: boolean }[] = [
  { cell: 'lstm', tokenizer: 'char', layers: 2 },
  { cell: 'gru', tokenizer: 'word', layers: 2 },
  { cell: 'rnn', tokenizer: 'bpe', layers: 2 },
  { cell: 'lstm', tokenizer: 'bpe', layers: 1, tieWeights: true },
  { cell: 'gru', tokenizer: 'char', layers: 3 },
  { cell: 'rnn', tokenizer: 'word', layers: 1 },
];

for (const c of cases) {
  test(`a ${c.layers}-layer ${c.cell} (${c.tokenizer} tokenizer${c.tieWeights === true ? ', tied' : ''}) loads in tfjs from memory and gives rnnlm's logits and state`, async (t) => {
    const fixture = await writeTestModelDir(t, c);
    const source = await readExportSource(fixture.dir, 'mdl_test');
    const before = tf.memory().numTensors;
    const exported = await exportTfjs(source);
    assert.equal(tf.memory().numTensors, before, 'the export leaves no tensor behind');

    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: exported.modelJson.modelTopology,
        weightSpecs: exported.modelJson.weightsManifest[0].weights as tf.io.WeightsManifestEntry[],
        weightData: exported.weightData.slice().buffer,
        userDefinedMetadata: exported.modelJson.userDefinedMetadata as Record<string, unknown>,
      }),
    );
    t.after(() => model.dispose());
    const meta = (model.getUserDefinedMetadata() as { rnnlm: TfjsExportMetadata }).rnnlm;
    assert.deepEqual(meta.tokenizer.json, fixture.tokenizer.toJSON());
    assert.equal(meta.tokensPerCall, c.cell === 'gru' ? 1 : null);

    const ids = fixture.tokenizer.encode('To be, or not').slice(0, 6);
    const initial = randomStates(fixture.config, 5);
    const want = referenceRun(fixture.model, ids, initial);
    const got = runExport(model, meta, ids, initial);
    assert.ok(
      maxAbsDiff(got.logits, want.logits) < TOLERANCE,
      `logits differ by ${maxAbsDiff(got.logits, want.logits)}`,
    );
    want.state.forEach((s, i) =>
      assert.ok(maxAbsDiff(got.state[i] as Float32Array, s) < TOLERANCE, `state ${i}`),
    );
  });
}

test('the exported directory loads with tf.loadLayersModel over HTTP and steps token by token', async (t) => {
  const fixture = await writeTestModelDir(t, { cell: 'lstm', tokenizer: 'char' });
  const out = join(fixture.dir, '..', 'tfjs');
  const written = await exportModelDir(fixture.dir, 'tfjs', out, { name: 'mdl_test' });
  assert.deepEqual(written.map((p) => p.slice(out.length + 1)).sort(), [TFJS_WEIGHTS_FILE, 'model.json']);
  const base = await serve(t, out);
  const model = await tf.loadLayersModel(`${base}/model.json`);
  t.after(() => model.dispose());
  const meta = (model.getUserDefinedMetadata() as { rnnlm: TfjsExportMetadata }).rnnlm;
  const ids = fixture.tokenizer.encode('Hamlet');
  const initial = randomStates(fixture.config, 9);
  const want = referenceRun(fixture.model, ids, initial);
  const got = runExport(model, { ...meta, tokensPerCall: 1 }, ids, initial);
  assert.ok(maxAbsDiff(got.logits, want.logits) < TOLERANCE);
});

test('an export refuses to overwrite an existing directory', async (t) => {
  const fixture = await writeTestModelDir(t, { cell: 'rnn', layers: 1 });
  const out = join(fixture.dir, '..', 'tfjs');
  await exportModelDir(fixture.dir, 'tfjs', out, { name: 'mdl_test' });
  await assert.rejects(exportModelDir(fixture.dir, 'tfjs', out, { name: 'mdl_test' }), {
    code: 'RNNLM_INVALID_CONFIG',
  });
});
