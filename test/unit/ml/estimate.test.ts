import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../../src/ml/backend.js';
import { runConfigSchema, type ModelConfig, type RunConfigInput } from '../../../src/ml/config.js';
import {
  distinctCodePoints,
  estimateTraining,
  parameterCount,
  vocabularyBound,
} from '../../../src/ml/estimate.js';
import type { CellType } from '../../../src/ml/model/layout.js';
import { disposeState, RnnLm } from '../../../src/ml/model/lm.js';
import { Rng } from '../../../src/ml/rng.js';
import { CharTokenizer } from '../../../src/ml/tokenizers/char.js';

// The layers built from tfjs ops, as the tensorflow backend runs them: the estimate's worst case.
before(async () => {
  await initBackend('cpu', 'off');
});

/** Weights of a real model, counted element by element from its variables. */
function realParameterCount(config: ModelConfig): number {
  const model = RnnLm.create(config, 1);
  try {
    return model.trainableVariables().reduce((n, v) => n + v.size, 0);
  } finally {
    model.dispose();
  }
}

const base: ModelConfig = {
  cell: 'lstm',
  layers: 2,
  hiddenSize: 16,
  embeddingSize: 8,
  dropout: 0,
  tieWeights: false,
  vocabSize: 30,
};

test('the parameter count equals the real model’s for every cell, depth and tying', () => {
  const configs: ModelConfig[] = [
    base,
    { ...base, cell: 'gru' },
    { ...base, cell: 'rnn', layers: 1 },
    { ...base, cell: 'gru', layers: 3, hiddenSize: 12, embeddingSize: 12, tieWeights: true },
    { ...base, cell: 'lstm', layers: 4, hiddenSize: 20, embeddingSize: 20, tieWeights: true, vocabSize: 257 },
    { ...base, cell: 'rnn', layers: 3, hiddenSize: 7, embeddingSize: 5, vocabSize: 2 },
  ];
  for (const config of configs) {
    const counted = realParameterCount(config);
    assert.equal(parameterCount(config), counted, JSON.stringify(config));
    assert.equal(parameterCount(config), RnnLm.parameterCount(config), JSON.stringify(config));
  }
});

test('the char vocabulary bound is the vocabulary the char tokenizer builds', () => {
  for (const text of ['', 'hello\nworld', 'naïve café 😀 — 漢字 😀', 'lone \ud800 surrogate \udfff']) {
    assert.equal(distinctCodePoints(text), CharTokenizer.train(text).vocabSize - 1, JSON.stringify(text));
    assert.equal(vocabularyBound({ type: 'char' }, text, 50_000), CharTokenizer.train(text).vocabSize);
  }
  assert.equal(vocabularyBound({ type: 'word' }, 'a b c', 50_000), 50_000);
  assert.equal(vocabularyBound({ type: 'word', vocabSize: 300 }, 'a b c', 50_000), 300);
  assert.equal(vocabularyBound({ type: 'bpe' }, 'a b c', 50_000), 512);
  assert.equal(vocabularyBound({ type: 'bpe', vocabSize: 1000 }, 'a b c', 50_000), 1000);
});

function run(input: RunConfigInput) {
  return runConfigSchema.parse(input);
}

test('optimizer state: Adam keeps two copies of the weights, RMSprop one, SGD none', () => {
  const adam = estimateTraining(run({ training: { optimizer: 'adam' } }), 65);
  const rmsprop = estimateTraining(run({ training: { optimizer: 'rmsprop' } }), 65);
  const sgd = estimateTraining(run({ training: { optimizer: 'sgd' } }), 65);
  assert.equal(adam.bytes.weights, adam.parameters * 4);
  assert.equal(adam.bytes.gradients, adam.bytes.weights);
  assert.equal(adam.bytes.optimizer, 2 * adam.bytes.weights);
  assert.equal(rmsprop.bytes.optimizer, adam.bytes.weights);
  assert.equal(sgd.bytes.optimizer, 0);
  const { weights, gradients, optimizer, activations, total } = adam.bytes;
  assert.equal(total, weights + gradients + optimizer + activations);
});

test('activations grow with batch × segment length, and the segment is the longest BPTT may take', () => {
  const one = estimateTraining(run({ training: { batchSize: 16, seqLength: 32, evalBatchSize: 1 } }), 65);
  const twice = estimateTraining(run({ training: { batchSize: 32, seqLength: 32, evalBatchSize: 1 } }), 65);
  const longer = estimateTraining(run({ training: { batchSize: 16, seqLength: 64, evalBatchSize: 1 } }), 65);
  assert.equal(twice.bytes.activations, 2 * one.bytes.activations);
  assert.equal(longer.bytes.activations, 2 * one.bytes.activations);
  assert.equal(one.bytes.weights, twice.bytes.weights);
  assert.equal(one.segmentLength, 32);
  assert.equal(
    estimateTraining(run({ training: { truncation: { mode: 'variable' } } }), 65).segmentLength,
    104,
  );
  assert.equal(
    estimateTraining(run({ training: { truncation: { mode: 'randomized' } } }), 65).segmentLength,
    256,
  );
  assert.equal(
    estimateTraining(run({ training: { truncation: { mode: 'none', maxLength: 300 } } }), 65).segmentLength,
    300,
  );
  // A large vocabulary makes the logits, their softmax and gradient the biggest part.
  const words = estimateTraining(run({ tokenizer: { type: 'word' } }), 50_000);
  assert.ok(words.bytes.activations > 3 * 32 * 64 * 50_000 * 4);
});

/** Bytes one real training step (forward, BPTT and weight gradients) holds at its peak. */
async function measuredStepPeak(config: ModelConfig, batch: number, steps: number): Promise<number> {
  const model = RnnLm.create(config, 3);
  const rng = new Rng(5);
  const x = Int32Array.from({ length: steps * batch }, () => rng.int(config.vocabSize));
  const y = Int32Array.from({ length: steps * batch }, () => rng.int(config.vocabSize));
  try {
    const start = tf.memory().numBytes;
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => {
        const r = model.trainLoss({ x, y, steps, batch });
        disposeState(r.state);
        return r.loss;
      });
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    });
    return profile.peakBytes - start;
  } finally {
    model.dispose();
  }
}

const STEP = { layers: 2, hiddenSize: 40, embeddingSize: 24, batchSize: 6, seqLength: 12, vocabSize: 90 };

async function stepAgainstEstimate(cell: CellType): Promise<{ measured: number; estimated: number }> {
  const { layers, hiddenSize, embeddingSize, batchSize, seqLength, vocabSize } = STEP;
  const model = { cell, layers, hiddenSize, embeddingSize };
  const estimate = estimateTraining(
    run({ model, training: { batchSize, seqLength, evalBatchSize: 1 } }),
    vocabSize,
  );
  const measured = await measuredStepPeak({ ...base, ...model, vocabSize }, batchSize, seqLength);
  return { measured, estimated: estimate.bytes.gradients + estimate.bytes.activations };
}

test('a real training step peaks within the estimate of its gradients and activations, and near it', async () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    const { measured, estimated } = await stepAgainstEstimate(cell);
    assert.ok(measured <= estimated, `${cell}: measured ${measured} bytes, estimated ${estimated}`);
    assert.ok(measured >= estimated / 2, `${cell}: measured ${measured} bytes, estimated ${estimated}`);
  }
});

test('with the native kernels (where they load) a step stays within the estimate too', async (t) => {
  const backend = await initBackend('cpu', 'auto');
  t.after(() => initBackend('cpu', 'off'));
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    const { measured, estimated } = await stepAgainstEstimate(cell);
    assert.ok(
      measured <= estimated,
      `${cell} (${backend.nativeKernels ?? 'tfjs ops'}): measured ${measured} bytes, estimated ${estimated}`,
    );
  }
});
