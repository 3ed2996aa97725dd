import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { generate } from '../../../../src/ml/generate/generate.js';
import type { RnnLm } from '../../../../src/ml/model/lm.js';
import { trainFromText } from '../../../../src/ml/training.js';
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

    before(async () => {
      const backend = await testBackend(native);
      const run = await trainFromText({
        corpus: SHAKESPEARE.slice(0, 6000),
        config: tinyConfig({ maxSteps: 20, learningRate: 0.02 }),
        backend,
      });
      model = run.result.model;
      tokenizer = run.tokenizer;
    });
    after(() => model.dispose());

    test('sampling with a seed is reproducible; another seed gives other text', async () => {
      const a = await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 40, seed: 1 });
      const b = await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 40, seed: 1 });
      const c = await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 40, seed: 2 });
      assert.equal(a.text, b.text);
      assert.notEqual(a.text, c.text);
      assert.equal(a.tokens, 40);
      assert.equal(a.finishReason, 'length');
    });

    test('greedy decoding equals top-k 1 sampling', async () => {
      const greedy = await generate(model, tokenizer, { prompt: 'KING', maxTokens: 20, temperature: 0 });
      const k1 = await generate(model, tokenizer, { prompt: 'KING', maxTokens: 20, topK: 1, seed: 9 });
      assert.equal(greedy.text, k1.text);
    });

    test('streamed deltas add up to the returned text', async () => {
      const deltas: string[] = [];
      const r = await generate(model, tokenizer, { prompt: 'A', maxTokens: 30, seed: 3 }, (d) => {
        deltas.push(d);
      });
      assert.equal(deltas.join(''), r.text);
      assert.ok(deltas.length > 1);
    });

    test('a stop sequence ends generation before it, and the stop is not returned', async () => {
      const free = await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 60, seed: 4 });
      const stop = free.text.slice(10, 12);
      const r = await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 60, seed: 4, stop: [stop] });
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.text, free.text.slice(0, free.text.indexOf(stop)));
    });

    test('a prompt with characters outside the vocabulary generates without crashing and never emits <unk>', async () => {
      const r = await generate(model, tokenizer, { prompt: '🙂 Привет 漢字', maxTokens: 50, seed: 5 });
      assert.equal(r.tokens, 50);
      assert.ok(!r.text.includes('\uFFFD'));
    });

    test('maxTokens 0 returns no text', async () => {
      const r = await generate(model, tokenizer, { prompt: 'A', maxTokens: 0 });
      assert.deepEqual(r, { text: '', tokens: 0, promptTokens: 1, unknownTokens: 0, finishReason: 'length' });
    });

    test('repeated generations do not grow the number of live tensors', async () => {
      await generate(model, tokenizer, { prompt: 'A', maxTokens: 5, seed: 1 });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 10; i++)
        await generate(model, tokenizer, { prompt: 'ROMEO:', maxTokens: 20, seed: i, topP: 0.9 });
      assert.equal(tf.memory().numTensors, before);
    });

    test('a long generation lets other work on the event loop run between tokens', async () => {
      const { result: r, turns } = await countEventLoopTurns(() =>
        generate(model, tokenizer, { prompt: 'A', maxTokens: 40, seed: 6 }),
      );
      assert.ok(turns >= r.tokens - 1, `${turns} event-loop turns during ${r.tokens} tokens`);
    });
  });
}
