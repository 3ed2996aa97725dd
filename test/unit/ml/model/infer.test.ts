import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { initBackend } from '../../../../src/ml/backend.js';
import { targetNll } from '../../../../src/ml/logprobs.js';
import { RnnLm } from '../../../../src/ml/model/lm.js';
import { forwardOf } from '../../../../src/ml/model/engine.js';
import { Stepper } from '../../../../src/ml/model/forward.js';
import type { NativeCell, RnnForwardArgs } from '../../../../src/ml/native.js';
import { Rng } from '../../../../src/ml/rng.js';
import { assertClose, kernels, nativeSkip, smallConfig, tokens } from '../../../helpers/native-model.js';

const skip = nativeSkip;

after(async () => {
  await initBackend('wasm');
});

const GATES: Record<NativeCell, number> = { lstm: 4, gru: 3, rnn: 1 };

function random(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
}

/** A layer call's arrays in oneDNN's layouts, random weights and states, zeroed outputs. */
function layerArgs(
  cell: NativeCell,
  steps: number,
  batch: number,
  input: number,
  hidden: number,
): RnnForwardArgs {
  const rng = new Rng(steps * 1000 + batch * 10 + hidden);
  const g = GATES[cell];
  const state = batch * hidden;
  const c = cell === 'lstm' ? state : 0;
  return {
    cell,
    steps,
    batch,
    input,
    hidden,
    x: random(rng, steps * batch * input, 1),
    weightsLayer: random(rng, input * g * hidden, 0.08),
    weightsIter: random(rng, hidden * g * hidden, 0.08),
    bias: random(rng, (cell === 'gru' ? g + 1 : g) * hidden, 0.2),
    h0: random(rng, state, 0.5),
    c0: random(rng, c, 0.5),
    out: new Float32Array(steps * state),
    hLast: new Float32Array(state),
    cLast: new Float32Array(c),
  };
}

// Each way the pass can run (fwd.c): small calls on the caller; a batch-1 segment, a batch
// split by units and one split by rows, on two threads; one batch-1 step from the panels
// alone. Hidden sizes that are not multiples of 16 run the padded units of the last block.
const shapes = [
  { what: 'a small call', steps: 3, batch: 2, input: 11, hidden: 13 },
  { what: 'a batch-1 segment on two threads', steps: 128, batch: 1, input: 72, hidden: 72 },
  { what: 'one batch-1 step', steps: 1, batch: 1, input: 72, hidden: 40 },
  { what: 'batch 9 split by units over two threads', steps: 40, batch: 9, input: 72, hidden: 72 },
  { what: 'batch 17 split by rows over two threads', steps: 30, batch: 17, input: 40, hidden: 40 },
  { what: 'batch 3 on one thread', steps: 5, batch: 3, input: 5, hidden: 37 },
  { what: 'batch 40 of one block split by rows', steps: 300, batch: 40, input: 13, hidden: 13 },
];

for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  for (const s of shapes) {
    test(`the inference pass gives oneDNN's outputs and final state (${cell}, ${s.what})`, { skip }, () => {
      const k = kernels();
      k.setThreads(2);
      const reference = layerArgs(cell, s.steps, s.batch, s.input, s.hidden);
      k.rnnForward(reference);
      const args = layerArgs(cell, s.steps, s.batch, s.input, s.hidden);
      const packed = k.rnnPack(args);
      k.rnnInfer({ ...args, packed });
      assertClose(args.out, reference.out, 'out');
      assertClose(args.hLast, reference.hLast, 'hLast');
      assertClose(args.cLast, reference.cLast, 'cLast');
    });
  }
}

test('packed weights are refused for another cell or size instead of being read past', { skip }, () => {
  const k = kernels();
  const args = layerArgs('lstm', 2, 1, 5, 13);
  const packed = k.rnnPack(args);
  assert.throws(() => k.rnnInfer({ ...layerArgs('lstm', 2, 1, 5, 14), packed }), /packed for another/);
  assert.throws(() => k.rnnInfer({ ...layerArgs('gru', 2, 1, 5, 13), packed }), /packed for another/);
  assert.throws(() => k.rnnInfer({ ...args, packed: {} as never }), /packed must be what rnnPack returned/);
});

test('a model whose weights change between calls is run with the new ones', { skip }, async () => {
  const cfg = smallConfig({ hiddenSize: 20 });
  await initBackend('wasm', 'off');
  const first = RnnLm.create(cfg, 1);
  const second = RnnLm.create(cfg, 2);
  const ids = tokens(3, 6, cfg.vocabSize);
  const expected = new Stepper(forwardOf(second), cfg).advance(ids);
  await initBackend('wasm', 'on');
  const native = RnnLm.fromWeights(cfg, first.getWeights());
  assert.ok(native.kernels !== undefined);
  new Stepper(forwardOf(native), cfg).advance(ids);
  native.setWeights(second.getWeights());
  assertClose(new Stepper(forwardOf(native), cfg).advance(ids), expected, 'logits after the weights changed');
  for (const m of [first, second, native]) m.dispose();
});

test(
  "the addon's per-row NLL is logProbability's, NaN where a target is outside the vocabulary",
  { skip },
  () => {
    const k = kernels();
    const rng = new Rng(11);
    const logits = random(rng, 5 * 7, 30);
    logits[7] = 1e30; // row 1: one huge logit
    logits[15] = Number.NaN; // row 2: a NaN logit, which makes the row's NLL NaN
    const targets = Int32Array.of(3, 0, 1, 6, 7);
    const out = new Float32Array(5);
    k.nllRows(logits, targets, out);
    const expected = targetNll(logits, targets);
    for (const r of [0, 1, 3]) assert.ok(out[r] === expected[r], `row ${r}: ${out[r]} vs ${expected[r]}`);
    for (const r of [2, 4]) assert.ok(Number.isNaN(out[r]) && Number.isNaN(expected[r]), `row ${r}`);
  },
);
