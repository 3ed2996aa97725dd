import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runConfigSchema } from '../../../src/ml/config.js';
import { DEFAULT_EARLY_STOPPING_PATIENCE, fitRunConfig } from '../../../src/ml/fit.js';
import { shortfallNote } from '../../../src/ml/train/shortfall.js';
import { epochLimit } from '../../../src/ml/train/trainer.js';

const prose = (bytes: number): string =>
  'To be, or not to be, that is the question.\n'.repeat(Math.ceil(bytes / 44)).slice(0, bytes);

test('a request with only a corpus gets a budget, early stopping and no epoch cap', () => {
  const config = runConfigSchema.parse(fitRunConfig({}, { corpus: prose(1_000_000), budgetMinutes: 10 }));
  assert.equal(config.training.maxMinutes, 10);
  assert.equal(config.training.earlyStoppingPatience, DEFAULT_EARLY_STOPPING_PATIENCE);
  assert.equal(config.training.epochs, undefined);
  assert.equal(config.training.maxSteps, undefined);
  assert.equal(epochLimit({ config, validation: undefined }), Infinity);
});

test('a small corpus gets a smaller model with dropout; a large one the 2×256 the budget trains', () => {
  const small = runConfigSchema.parse(fitRunConfig({}, { corpus: prose(20_000), budgetMinutes: 10 }));
  const large = runConfigSchema.parse(fitRunConfig({}, { corpus: prose(1_000_000), budgetMinutes: 10 }));
  assert.ok(small.model.hiddenSize * small.model.layers < large.model.hiddenSize * large.model.layers);
  assert.ok(small.model.dropout > 0);
  assert.deepEqual([large.model.layers, large.model.hiddenSize], [2, 256]);
  // A 20 KB corpus still has steps enough per epoch to learn from.
  assert.ok(small.training.batchSize * small.training.seqLength * 10 < 18_000);
});

test('what the request gives is kept as given, and a chosen size never exceeds the deployment caps', () => {
  const given = fitRunConfig(
    {
      model: { hiddenSize: 64, dropout: 0 },
      training: { batchSize: 8, learningRate: 0.01, maxMinutes: 2, earlyStoppingPatience: 9, evalEvery: 7 },
    },
    { corpus: prose(1_000_000), budgetMinutes: 10 },
  );
  assert.equal(given.model?.hiddenSize, 64);
  assert.equal(given.model?.dropout, 0);
  assert.deepEqual(
    [given.training?.batchSize, given.training?.learningRate, given.training?.maxMinutes],
    [8, 0.01, 2],
  );
  assert.deepEqual([given.training?.earlyStoppingPatience, given.training?.evalEvery], [9, 7]);
  const capped = fitRunConfig(
    {},
    {
      corpus: prose(1_000_000),
      budgetMinutes: 10,
      limits: { layers: 1, hiddenSize: 100, embeddingSize: 16, batchSize: 4 },
    },
  );
  assert.deepEqual(
    [capped.model?.layers, capped.model?.hiddenSize, capped.model?.embeddingSize, capped.training?.batchSize],
    [1, 100, 16, 4],
  );
});

test('a fine-tune keeps its base architecture: only the budget and early stopping are filled in', () => {
  const fitted = fitRunConfig(
    { training: { maxSteps: 30 } },
    { corpus: prose(20_000), budgetMinutes: 10 },
    { fineTune: true },
  );
  assert.deepEqual(fitted.model, {});
  assert.equal(fitted.training?.maxSteps, 30);
  assert.equal(fitted.training?.maxMinutes, 10);
  assert.equal(fitted.training?.batchSize, undefined);
});

test('a run nothing bounds makes one pass; an epoch cap, a step or time limit or early stopping lift that', () => {
  const bare = runConfigSchema.parse({});
  const validation = { tokens: new Int32Array(4), characters: 4, scoredFrom: 1 };
  assert.equal(epochLimit({ config: bare, validation }), 1);
  const withTraining = (training: object) => runConfigSchema.parse({ training });
  assert.equal(epochLimit({ config: withTraining({ epochs: 3 }), validation }), 3);
  assert.equal(epochLimit({ config: withTraining({ maxSteps: 50 }), validation }), Infinity);
  assert.equal(epochLimit({ config: withTraining({ maxMinutes: 1 }), validation }), Infinity);
  assert.equal(epochLimit({ config: withTraining({ earlyStoppingPatience: 2 }), validation }), Infinity);
  assert.equal(epochLimit({ config: withTraining({ earlyStoppingPatience: 2 }), validation: undefined }), 1);
});

test('a run cut short of the steps asked for says how far it got and why; one that got them says nothing', () => {
  assert.equal(
    shortfallNote(2000, { steps: 491, stopReason: 'earlyStopping' }),
    'stopped at step 491 of the 2000 asked for: validation stopped improving (early stopping; the best weights are kept)',
  );
  assert.match(shortfallNote(2000, { steps: 900, stopReason: 'maxMinutes' }) ?? '', /time budget/);
  assert.equal(shortfallNote(2000, { steps: 2000, stopReason: 'maxSteps' }), undefined);
  assert.equal(shortfallNote(undefined, { steps: 10, stopReason: 'earlyStopping' }), undefined);
});
