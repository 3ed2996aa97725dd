import assert from 'node:assert/strict';
import { test } from 'node:test';

import { trainFromText } from '../../../src/ml/training.js';
import { SHAKESPEARE, testBackend } from '../../helpers/ml.js';

/** Entropy in bits of the character distribution: what a model that ignores context scores. */
function unigramBitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  let n = 0;
  for (const ch of text) {
    counts.set(ch, (counts.get(ch) ?? 0) + 1);
    n++;
  }
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log2(c / n);
  return h;
}

test('a 2-layer LSTM learns tinyshakespeare: validation bits per char clearly below the unigram entropy', async () => {
  // The repository's own excerpt: the suite reads nothing outside it.
  const excerpt = SHAKESPEARE;
  const backend = await testBackend();
  const { result } = await trainFromText({
    corpus: excerpt,
    backend,
    config: {
      model: { cell: 'lstm', layers: 2, hiddenSize: 128, embeddingSize: 32 },
      training: { batchSize: 32, seqLength: 32, learningRate: 0.005, epochs: 10, maxSteps: 250, seed: 1 },
    },
  });
  result.model.dispose();
  const unigram = unigramBitsPerChar(excerpt);
  const bpc = result.validation?.bitsPerChar ?? Number.NaN;
  console.log(
    `unigram entropy ${unigram.toFixed(3)} bits/char; validation ${bpc.toFixed(3)} bits/char after ${result.steps} steps ` +
      `(${result.tokensPerSecond.toFixed(0)} tok/s on ${backend.name})`,
  );
  assert.ok(bpc < unigram - 1, `validation ${bpc} bits/char is not clearly below the unigram ${unigram}`);
});
