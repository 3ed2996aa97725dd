/**
 * What a generation row reads and leaves for a continuation (src/ml/state.ts): the
 * tokens it feeds, the one it leaves pending, and the end of the text it keeps, with and
 * without a state to resume from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GenerationRow } from '../../../../src/ml/generate/row.js';
import { TAIL_LENGTH, tailOf } from '../../../../src/ml/state.js';
import { CharTokenizer, WordTokenizer } from '../../../../src/ml/tokenizers/index.js';

const chars = CharTokenizer.train('abc de\nfgh');
const words = WordTokenizer.train('hello world\nthe end\n');

/** Logits that make greedy decoding pick `id`. */
function favour(id: number, vocab: number): Float32Array {
  const logits = new Float32Array(vocab);
  logits[id] = 10;
  return logits;
}

test('a row primes on a line break and the prompt, and leaves its last sampled token pending', () => {
  const row = new GenerationRow(chars, { prompt: 'ab', maxTokens: 2, temperature: 0 });
  assert.deepEqual([...row.prime], [...chars.boundaryIds, ...chars.encode('ab')]);
  const [d, e] = chars.encode('de') as [number, number];
  assert.equal(row.next(favour(d, chars.vocabSize)), d);
  assert.equal(row.next(favour(e, chars.vocabSize)), undefined, 'the last token is never fed');
  assert.equal(row.pending, e);
  assert.equal(row.read, row.prime.length + 2);
  assert.equal(row.tail(), 'abde');
  assert.equal(row.result().promptTokens, 2);
});

test('with nothing to sample the last prompt token is left pending, not fed', () => {
  const row = new GenerationRow(chars, { prompt: 'abc', maxTokens: 0 });
  assert.deepEqual([...row.prime], [...chars.boundaryIds, ...chars.encode('ab')]);
  assert.equal(row.next(new Float32Array(0)), undefined);
  assert.equal(row.pending, chars.encode('c')[0]);
  assert.equal(row.read, chars.boundaryIds.length + 3);
  // One token in all: nothing is fed.
  const one = new GenerationRow(chars, { prompt: '', maxTokens: 0 });
  assert.equal(one.prime.length, 0);
  assert.equal(one.pending, chars.boundaryIds[0]);
});

test('a resumed row feeds the pending token, then its prompt tokenized on its own', () => {
  const [a] = chars.encode('a') as [number];
  const row = new GenerationRow(chars, { prompt: 'de', maxTokens: 1 }, { pending: a, tail: 'xa' });
  assert.deepEqual([...row.prime], [a, ...chars.encode('de')]);
  assert.equal(row.read, 2 + 0, 'the pending token was read by the earlier request');
  row.next(favour(a, chars.vocabSize));
  assert.equal(row.read, 3);
  assert.equal(row.tail(), 'xadea');
  // An empty prompt is fine after a state: the pending token is there to feed.
  const empty = new GenerationRow(chars, { prompt: '', maxTokens: 1 }, { pending: a, tail: '' });
  assert.deepEqual([...empty.prime], [a]);
});

test('version-1 word output after a resumed text is spaced as after one prompt holding that text', () => {
  const v1 = new WordTokenizer(['<unk>', '<eos>', 'hello', 'world', 'the', 'end'], false);
  const [world] = v1.encode('world') as [number];
  const [hello] = v1.encode('hello') as [number];
  const gen = (tail: string, prompt: string) => {
    const row = new GenerationRow(v1, { prompt, maxTokens: 1, temperature: 0 }, { pending: hello, tail });
    row.next(favour(world, v1.vocabSize));
    return row.result().text;
  };
  assert.equal(gen('hello', ''), ' world');
  assert.equal(gen('hello ', ''), 'world');
  assert.equal(gen('', 'the'), ' world');
  assert.equal(gen('the end\n', ''), 'world');
});

test('word output carries its own space, and a text or prompt ending in a space does not get a second', () => {
  const [world] = words.encode(' world') as [number];
  const [hello] = words.encode('hello') as [number];
  const gen = (tail: string, prompt: string) => {
    const row = new GenerationRow(words, { prompt, maxTokens: 1, temperature: 0 }, { pending: hello, tail });
    row.next(favour(world, words.vocabSize));
    return row.result().text;
  };
  assert.equal(gen('hello', ''), ' world');
  assert.equal(gen('hello ', ''), 'world');
  assert.equal(gen('', 'the'), ' world');
  assert.equal(gen('', 'the '), 'world');
});

test('the kept tail is the last characters of the text, never half a surrogate pair', () => {
  const long = 'x'.repeat(100);
  assert.equal(tailOf(long), 'x'.repeat(TAIL_LENGTH));
  const emoji = `${'y'.repeat(10)}🙂${'z'.repeat(TAIL_LENGTH - 1)}`;
  assert.equal(tailOf(emoji), 'z'.repeat(TAIL_LENGTH - 1));
  assert.equal(tailOf('short'), 'short');
});
