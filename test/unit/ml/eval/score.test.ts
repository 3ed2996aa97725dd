import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { runConfigSchema } from '../../../../src/ml/config.js';
import { evaluate } from '../../../../src/ml/eval/evaluate.js';
import { score } from '../../../../src/ml/eval/score.js';
import type { RnnLm } from '../../../../src/ml/model/lm.js';
import { prepareData, trainFromText } from '../../../../src/ml/training.js';
import type { Tokenizer } from '../../../../src/ml/tokenizers/index.js';
import {
  countEventLoopTurns,
  SHAKESPEARE,
  KERNEL_MODES,
  kernelSkip,
  testBackend,
  tinyConfig,
} from '../../../helpers/ml.js';

for (const native of KERNEL_MODES) {
  describe(`native kernels ${native}`, { skip: kernelSkip(native) }, () => {
    let model: RnnLm;
    let tokenizer: Tokenizer;
    const corpus = SHAKESPEARE.slice(0, 6000);

    before(async () => {
      const backend = await testBackend(native);
      const run = await trainFromText({
        corpus,
        config: tinyConfig({ maxSteps: 20, learningRate: 0.02 }),
        backend,
      });
      model = run.result.model;
      tokenizer = run.tokenizer;
    });
    after(() => model.dispose());

    // Every character of it occurs in the training excerpt.
    const text = 'To be, or not to be, that is the point';

    test('perplexity is exp(mean NLL) and the per-token log-probabilities add up to the NLL', async () => {
      const r = await score(model, tokenizer, text, { details: true });
      assert.equal(r.tokens, [...text].length);
      assert.equal(r.characters, [...text].length);
      assert.ok(Math.abs(r.meanNll - r.nll / r.tokens) < 1e-12);
      assert.ok(Math.abs(r.perplexity - Math.exp(r.meanNll)) < 1e-9);
      assert.ok(Math.abs(r.bitsPerChar - r.nll / Math.LN2 / r.characters) < 1e-12);
      const details = r.tokenLogprobs ?? [];
      assert.equal(details.length, r.tokens);
      const sum = details.reduce((a, d) => a + d.logprob, 0);
      assert.ok(Math.abs(-sum - r.nll) < 1e-9);
      assert.ok(details.every((d) => d.logprob <= 0));
      assert.equal(details.map((d) => d.token).join(''), text);
    });

    test('a context changes the score but is not counted', async () => {
      const plain = await score(model, tokenizer, text);
      const withContext = await score(model, tokenizer, text, { context: 'HAMLET:\n' });
      assert.equal(withContext.tokens, plain.tokens);
      assert.equal(withContext.characters, plain.characters);
      assert.notEqual(withContext.nll, plain.nll);
    });

    test('the chunk length does not change the score (the state is carried)', async () => {
      const a = await score(model, tokenizer, text, { chunkLength: 3 });
      const b = await score(model, tokenizer, text, { chunkLength: 256 });
      assert.ok(Math.abs(a.nll - b.nll) < 1e-4);
    });

    test('batched evaluation with one stream equals scoring the same text', async () => {
      const data = prepareData(
        { corpus: text, validationFraction: 0 },
        runConfigSchema.parse(tinyConfig({ batchSize: 1, seqLength: 1 })),
        tokenizer.toJSON(),
      );
      const stream = Int32Array.from([...tokenizer.boundaryIds, ...data.train]);
      const one = await evaluate(model, stream, [...text].length, {
        batchSize: 1,
        seqLength: 5,
        scoredFrom: tokenizer.boundaryIds.length,
      });
      const many = await evaluate(model, stream, [...text].length, {
        batchSize: 7,
        seqLength: 5,
        scoredFrom: tokenizer.boundaryIds.length,
      });
      const s = await score(model, tokenizer, text);
      assert.ok(Math.abs(one.loss * one.tokens - s.nll) < 1e-4);
      assert.equal(many.tokens, s.tokens);
    });

    test('text outside the vocabulary is scored through <unk> without crashing', async () => {
      const r = await score(model, tokenizer, 'ROMEO: 🙂 Привет');
      assert.ok(Number.isFinite(r.nll));
      assert.equal(r.characters, 15);
    });

    test('repeated scoring does not grow the number of live tensors', async () => {
      await score(model, tokenizer, text);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 20; i++)
        await score(model, tokenizer, text, {
          details: i % 2 === 0,
          context: i % 3 === 0 ? 'KING:' : undefined,
        });
      assert.equal(tf.memory().numTensors, before);
    });

    test('scoring a long text lets other work on the event loop run between chunks', async () => {
      const { turns } = await countEventLoopTurns(() =>
        score(model, tokenizer, text.repeat(8), { chunkLength: 16 }),
      );
      assert.ok(
        turns >= 10,
        `${turns} event-loop turns while scoring ${text.length * 8} characters in chunks of 16`,
      );
    });
  });
}
