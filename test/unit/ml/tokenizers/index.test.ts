import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { isRnnlmError } from '../../../../src/errors.js';
import {
  BpeTokenizer,
  CharTokenizer,
  WordTokenizer,
  createStreamingDecoder,
  tokenizerFromJSON,
  trainTokenizer,
  type Tokenizer,
} from '../../../../src/ml/tokenizers/index.js';

const CORPUS =
  'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n' +
  'First Citizen:\nYou are all resolved rather to die than to famish? 😀 日本語\n';
const PROBE = 'First, we speak to the famish 🦄 citizen!\nСлово 😀\n\nAll';

function trainAll(): Tokenizer[] {
  return [
    trainTokenizer(CORPUS, { type: 'char' }),
    trainTokenizer(CORPUS, { type: 'word', minFrequency: 1, lowercase: true }),
    trainTokenizer(CORPUS, { type: 'bpe', vocabSize: 270 }),
  ];
}

function stream(tok: Tokenizer, ids: readonly number[]): string[] {
  const decoder = createStreamingDecoder(tok);
  return [...ids.map((id) => decoder.push(id)), decoder.flush()];
}

test('trainTokenizer builds the kind of tokenizer its options name', () => {
  const [char, word, bpe] = trainAll();
  assert.ok(char instanceof CharTokenizer);
  assert.ok(word instanceof WordTokenizer && word.lowercase);
  assert.ok(bpe instanceof BpeTokenizer && bpe.vocabSize === 270);
});

test('tokenizers survive a JSON round trip and encode and decode identically after it', () => {
  for (const tok of trainAll()) {
    const json: unknown = JSON.parse(JSON.stringify(tok));
    assert.deepEqual(json, tok.toJSON());
    const restored = tokenizerFromJSON(json);
    assert.equal(restored.type, tok.type);
    assert.equal(restored.vocabSize, tok.vocabSize);
    assert.deepEqual(restored.boundaryIds, tok.boundaryIds);
    const ids = tok.encode(PROBE);
    assert.deepEqual(restored.encode(PROBE), ids);
    assert.equal(restored.decode(ids), tok.decode(ids));
  }
});

test('tokenizerFromJSON rejects malformed JSON with RNNLM_INVALID_CONFIG', () => {
  const malformed: unknown[] = [
    null,
    'char',
    {},
    { type: 'unigram', vocab: ['<unk>'] },
    { type: 'char' },
    { type: 'char', vocab: [] },
    { type: 'char', vocab: ['a', 'b'] },
    { type: 'char', vocab: ['<unk>', 'ab'] },
    { type: 'char', vocab: ['<unk>', 'a', 'a'] },
    { type: 'word', vocab: ['<unk>', '<eos>', 'a'] },
    { type: 'word', vocab: ['<eos>', '<unk>'], lowercase: false },
    { type: 'word', vocab: ['<unk>', '<eos>', 'a', 'a'], lowercase: false },
    { type: 'word', vocab: ['<unk>', '<eos>', 7], lowercase: false },
    { type: 'bpe', merges: [[256, 1]] },
    { type: 'bpe', merges: [[1, 2, 3]] },
    { type: 'bpe', merges: [[-1, 2]] },
    { type: 'bpe', merges: [[1.5, 2]] },
    {
      type: 'bpe',
      merges: [
        [1, 2],
        [1, 2],
      ],
    },
    { type: 'bpe', merges: '[[1, 2]]' },
  ];
  for (const json of malformed) {
    assert.throws(
      () => tokenizerFromJSON(json),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG'),
      JSON.stringify(json),
    );
  }
});

test('streamed decoding concatenates to the full decode for every tokenizer', () => {
  for (const tok of trainAll()) {
    const ids = tok.encode(PROBE);
    assert.equal(stream(tok, ids).join(''), tok.decode(ids), tok.type);
  }
});

test('bpe streaming holds back an emoji split across byte tokens until it is complete', () => {
  const bpe = trainTokenizer(CORPUS, { type: 'bpe', vocabSize: 270 });
  const ids = bpe.encode('a🦄');
  // Never seen in training, so the unicorn is its four UTF-8 bytes.
  assert.deepEqual(ids.slice(-4), [0xf0, 0x9f, 0xa6, 0x84]);
  assert.deepEqual(stream(bpe, ids), ['a', '', '', '', '🦄', '']);
});

test('bpe streaming drops an unfinished byte sequence at the end where decode shows U+FFFD', () => {
  const bpe = trainTokenizer(CORPUS, { type: 'bpe', vocabSize: 270 });
  const ids = [0x61, 0xf0, 0x9f];
  assert.equal(stream(bpe, ids).join(''), 'a');
  assert.equal(bpe.decode(ids), 'a\uFFFD');
});

test('streamed decoding matches the full decode on random id sequences, but for an unfinished last character', () => {
  for (const tok of trainAll()) {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 30 }), (ids) => {
        const streamed = stream(tok, ids).join('');
        const decoded = tok.decode(ids);
        assert.ok(streamed === decoded || `${streamed}\uFFFD` === decoded, `${streamed} vs ${decoded}`);
      }),
      { numRuns: 200 },
    );
  }
});

test('trainTokenizer rejects invalid options with RNNLM_INVALID_CONFIG', () => {
  for (const options of [
    { type: 'bpe', vocabSize: 200 },
    { type: 'word', minFrequency: 0 },
    { type: 'ngram' },
  ] as const) {
    assert.throws(
      // The unknown type stands for input from JavaScript callers that skipped the types.
      () => trainTokenizer('abc', options as Parameters<typeof trainTokenizer>[1]),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG'),
    );
  }
});
