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
import type { TfjsExport, TfjsExportMetadata } from '../../../src/export/index.js';
import { LayersForward } from '../../../src/export/layers-forward.js';
import { zeroHostState } from '../../../src/ml/model/forward.js';
import { initBackend } from '../../../src/ml/backend.js';
import type { CellType } from '../../../src/ml/model/layout.js';
import type { TokenizerType } from '../../../src/ml/tokenizers/index.js';
import { maxAbsDiff, randomStates, referenceRun, writeTestModelDir } from '../../helpers/model-dir.js';

before(async () => {
  await initBackend('cpu', 'off');
});

const TOLERANCE = 1e-4;

/**
 * Runs an exported model over `ids` from `initial` (export order) through the dashboard's
 * adapter, {@link LayersForward}: logits of every position and the final states.
 */
function runExport(
  model: tf.LayersModel,
  meta: TfjsExportMetadata,
  ids: number[],
  initial: Float32Array[],
): { logits: Float32Array; state: Float32Array[] } {
  const lstm = meta.cell === 'lstm';
  const state = initial.map((s) => s.slice());
  const h = state.filter((_, i) => !lstm || i % 2 === 0);
  const c = lstm ? state.filter((_, i) => i % 2 === 1) : h.map(() => new Float32Array(0));
  const logits = new LayersForward(model, meta).run(Int32Array.from(ids), ids.length, 1, h, c, false);
  return { logits, state };
}

/** The export loaded by tfjs from memory, with its metadata; disposed after `t`. */
async function loadFromMemory(
  t: TestContext,
  exported: TfjsExport,
): Promise<{ model: tf.LayersModel; meta: TfjsExportMetadata }> {
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: exported.modelJson.modelTopology,
      weightSpecs: exported.modelJson.weightsManifest[0].weights as tf.io.WeightsManifestEntry[],
      weightData: exported.weightData.slice().buffer,
      userDefinedMetadata: exported.modelJson.userDefinedMetadata as Record<string, unknown>,
    }),
  );
  t.after(() => model.dispose());
  return { model, meta: (model.getUserDefinedMetadata() as { rnnlm: TfjsExportMetadata }).rnnlm };
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

    const { model, meta } = await loadFromMemory(t, exported);
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

test('the export as a Forward runs rows batched, time-major, as each row alone (last logits only, states carried)', async (t) => {
  for (const cell of ['lstm', 'gru'] as const) {
    const fixture = await writeTestModelDir(t, { cell, layers: 2 });
    const exported = await exportTfjs(await readExportSource(fixture.dir, 'mdl_test'));
    const { model, meta } = await loadFromMemory(t, exported);
    const forward = new LayersForward(model, meta);
    const rows = [fixture.tokenizer.encode('Thou art'), fixture.tokenizer.encode('My lord,')].map((r) =>
      r.slice(0, 4),
    );
    const steps = 4;
    const { h, c } = zeroHostState(fixture.config, 2);
    const ids = Int32Array.from({ length: steps * 2 }, (_, i) => rows[i % 2]?.[Math.floor(i / 2)] ?? 0);
    const before = tf.memory().numTensors;
    const batched = forward.run(ids, steps, 2, h, c, true);
    assert.equal(tf.memory().numTensors, before, `${cell}: run leaves no tensor behind`);
    const v = meta.vocabSize;
    const n = meta.hiddenSize;
    rows.forEach((row, b) => {
      const alone = zeroHostState(fixture.config, 1);
      const logits = forward.run(Int32Array.from(row), steps, 1, alone.h, alone.c, true);
      assert.ok(maxAbsDiff(batched.subarray(b * v, (b + 1) * v), logits) < TOLERANCE, `${cell} row ${b}`);
      alone.h.forEach((s, l) =>
        assert.ok(maxAbsDiff(h[l]?.subarray(b * n, (b + 1) * n) ?? [], s) < TOLERANCE, `${cell} h${l}`),
      );
    });
  }
});

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
