import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import type { BackendInfo } from '../../../src/ml/backend.js';
import { runConfigSchema } from '../../../src/ml/config.js';
import { fineTuneConfig, type BaseModel } from '../../../src/ml/fine-tune.js';
import { trainFromText } from '../../../src/ml/training.js';
import { SHAKESPEARE, testBackend } from '../../helpers/ml.js';

let backend: BackendInfo;
before(async () => {
  backend = await testBackend();
});

const model = { cell: 'lstm', layers: 1, hiddenSize: 48, embeddingSize: 16 } as const;
const training = { batchSize: 16, seqLength: 32, learningRate: 0.005, seed: 3 } as const;
const half = Math.floor(SHAKESPEARE.length / 2);
const firstHalf = SHAKESPEARE.slice(0, half);
const secondHalf = SHAKESPEARE.slice(half);

test('N steps on new text from a model trained on other text reach a lower validation loss than N steps from scratch', async () => {
  const base = await trainFromText({
    corpus: firstHalf,
    validationFraction: 0.1,
    config: { model, training: { ...training, maxSteps: 150 } },
    backend,
  });
  base.result.model.dispose();
  const baseModel: BaseModel = {
    id: 'mdl_base',
    config: base.artifacts.meta.config,
    modelConfig: base.artifacts.modelConfig,
    weights: base.artifacts.weights,
    tokenizer: base.artifacts.tokenizer,
  };
  const steps = 25;
  const tuneTraining = { ...training, maxSteps: steps, evalEvery: steps };
  let prepared: { tokens: number; unknownTokens: number } | undefined;
  const tuned = await trainFromText({
    corpus: secondHalf,
    validationFraction: 0.1,
    config: fineTuneConfig(baseModel, { training: tuneTraining }),
    base: baseModel,
    onPrepared: (info) => (prepared = info),
    backend,
  });
  tuned.result.model.dispose();
  const scratch = await trainFromText({
    corpus: secondHalf,
    validationFraction: 0.1,
    config: { model, training: tuneTraining },
    backend,
  });
  scratch.result.model.dispose();

  const tunedLoss = tuned.artifacts.meta.metrics.final.valLoss;
  const scratchLoss = scratch.artifacts.meta.metrics.final.valLoss;
  assert.ok(tunedLoss !== null && scratchLoss !== null);
  assert.ok(tunedLoss < scratchLoss, `fine-tuned ${tunedLoss} vs from scratch ${scratchLoss}`);
  assert.equal(tuned.artifacts.meta.baseModel, 'mdl_base');
  assert.equal(scratch.artifacts.meta.baseModel, null);
  assert.deepEqual(tuned.artifacts.tokenizer, base.artifacts.tokenizer, 'the base vocabulary is kept');
  assert.ok(prepared !== undefined && prepared.tokens > 0);
  assert.equal(tuned.artifacts.meta.training.unknownTokens, prepared.unknownTokens);
});

test('text the base vocabulary cannot encode becomes <unk> and is counted', async () => {
  const base = await trainFromText({
    corpus: 'abcabc abc cab bac\n'.repeat(200),
    validationFraction: 0.1,
    config: {
      model: { ...model, hiddenSize: 8 },
      training: { batchSize: 2, seqLength: 8, maxSteps: 2, seed: 1 },
    },
    backend,
  });
  base.result.model.dispose();
  const baseModel: BaseModel = {
    id: 'mdl_base',
    config: base.artifacts.meta.config,
    modelConfig: base.artifacts.modelConfig,
    weights: base.artifacts.weights,
    tokenizer: base.artifacts.tokenizer,
  };
  let prepared: { tokens: number; unknownTokens: number } | undefined;
  const tuned = await trainFromText({
    corpus: 'abc xyz\n'.repeat(300),
    validationFraction: 0,
    config: fineTuneConfig(baseModel, { training: { batchSize: 2, seqLength: 8, maxSteps: 1 } }),
    base: baseModel,
    onPrepared: (info) => (prepared = info),
    backend,
  });
  tuned.result.model.dispose();
  // x, y and z are not in the base vocabulary: three of every eight characters.
  assert.deepEqual(prepared, { tokens: 2400, unknownTokens: 900 });
});

test('a fine-tuning request that contradicts the base model is refused naming the field', () => {
  const base = {
    id: 'mdl_base',
    config: runConfigSchema.parse({ tokenizer: { type: 'word', lowercase: true }, model }),
    modelConfig: { ...model, dropout: 0, tieWeights: false, vocabSize: 50 },
  };
  const refused = (input: Parameters<typeof fineTuneConfig>[1], field: string) =>
    assert.throws(
      () => fineTuneConfig(base, input),
      (err: unknown) =>
        (err as { code?: string }).code === 'RNNLM_INVALID_CONFIG' &&
        (err as { details?: { field?: string } }).details?.field === field,
    );
  refused({ model: { hiddenSize: 64 } }, 'model.hiddenSize');
  refused({ model: { cell: 'gru' } }, 'model.cell');
  refused({ tokenizer: { type: 'char' } }, 'tokenizer.type');
  refused({ tokenizer: { vocabSize: 51 } }, 'tokenizer.vocabSize');
  refused({ tokenizer: { lowercase: false } }, 'tokenizer.lowercase');
  // Repeating the base's own settings, or changing dropout, is fine.
  const config = fineTuneConfig(base, {
    model: { hiddenSize: 48, cell: 'lstm', dropout: 0.2 },
    tokenizer: { type: 'word', vocabSize: 50 },
    training: { maxSteps: 5 },
  });
  assert.equal(config.model.dropout, 0.2);
  assert.equal(config.model.hiddenSize, 48);
  assert.equal(config.tokenizer.type, 'word');
  assert.equal(config.training.maxSteps, 5);
});
