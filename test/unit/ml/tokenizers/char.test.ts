import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { CharTokenizer } from '../../../../src/ml/tokenizers/char.js';
import { normalizeText } from '../../../../src/ml/tokenizers/index.js';

const MIXED = 'Hello 😀 🇫🇷!\n日本語のテキスト\nمرحبا بالعالم\nПривет, мир\n';

test('char round-trips emoji, flags and Japanese, Arabic and Cyrillic text', () => {
  const tok = CharTokenizer.train(MIXED);
  const ids = tok.encode(MIXED);
  assert.equal(tok.decode(ids), MIXED);
  assert.ok(!ids.includes(tok.unkId));
});

test('char tokens are code points: an astral emoji is one token and a flag is two', () => {
  const tok = CharTokenizer.train(MIXED);
  assert.equal(tok.encode('😀').length, 1);
  assert.equal(tok.tokenText(tok.encode('😀')[0] ?? -1), '😀');
  assert.deepEqual(
    tok.encode('🇫🇷').map((id) => tok.tokenText(id)),
    ['🇫', '🇷'],
  );
  // A UTF-16 splitter would have put both surrogate halves in the vocabulary instead.
  assert.ok(tok.toJSON().vocab.every((entry, id) => id === 0 || [...entry].length === 1));
});

test('char vocabulary is <unk> then the distinct code points in code point order', () => {
  const tok = CharTokenizer.train('b😀a\uFFFDa');
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', 'a', 'b', '\uFFFD', '😀']);
  assert.equal(tok.vocabSize, 5);
  assert.equal(tok.eosId, undefined);
});

test('char maps unseen code points to <unk>, decoded as U+FFFD and shown as <unk>', () => {
  const tok = CharTokenizer.train('abc\n');
  const ids = tok.encode('a🦄z\n');
  assert.deepEqual(ids, [tok.encode('a')[0], tok.unkId, tok.unkId, tok.encode('\n')[0]]);
  assert.equal(tok.decode(ids), 'a\uFFFD\uFFFD\n');
  assert.equal(tok.tokenText(tok.unkId), '<unk>');
});

test('char input that spells <unk> is encoded as its characters, not as the unknown token', () => {
  const tok = CharTokenizer.train('<unk>');
  assert.equal(tok.decode(tok.encode('<unk>')), '<unk>');
  assert.ok(!tok.encode('<unk>').includes(tok.unkId));
});

test('char boundary is the newline token when the text has one', () => {
  const withNewline = CharTokenizer.train('ab\ncd');
  assert.deepEqual(withNewline.boundaryIds, withNewline.encode('\n'));
  assert.deepEqual(CharTokenizer.train('abcd').boundaryIds, []);
});

test('char rejects ids outside the vocabulary', () => {
  const tok = CharTokenizer.train('ab');
  assert.throws(() => tok.decode([tok.vocabSize]), RangeError);
  assert.throws(() => tok.tokenText(-1), RangeError);
});

test('char encode then decode returns any string made of its training code points, normalised', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
      const tok = CharTokenizer.train(text);
      assert.equal(tok.decode(tok.encode(text)), normalizeText(text, 'nfc-lf'));
    }),
  );
});
