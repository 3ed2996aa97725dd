import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../../src/errors.js';
import { WordTokenizer } from '../../../../src/ml/tokenizers/word.js';

const tokens = (tok: WordTokenizer, text: string): string[] =>
  tok.encode(text).map((id) => tok.tokenText(id));

test('word splits punctuation from words and keeps inner apostrophes', () => {
  const tok = WordTokenizer.train("Don't stop, it's fine... (really)!");
  assert.deepEqual(tokens(tok, "Don't stop, it's fine... (really)!"), [
    "Don't",
    'stop',
    ',',
    "it's",
    'fine',
    '.',
    '.',
    '.',
    '(',
    'really',
    ')',
    '!',
  ]);
});

test('word splits non-Latin words and symbols as well', () => {
  const text = 'Привет, мир! नमस्ते 😀';
  const tok = WordTokenizer.train(text);
  assert.deepEqual(tokens(tok, text), ['Привет', ',', 'мир', '!', 'नमस्ते', '😀']);
});

test('word appends <eos> to every line ended by a newline, not to an unterminated last line', () => {
  const tok = WordTokenizer.train('a b\n\nc\nd');
  assert.deepEqual(tokens(tok, 'a b\n\nc\nd'), ['a', 'b', '<eos>', '<eos>', 'c', '<eos>', 'd']);
  assert.deepEqual(tokens(tok, 'a\n'), ['a', '<eos>']);
  assert.equal(tok.unkId, 0);
  assert.equal(tok.eosId, 1);
  assert.deepEqual(tok.boundaryIds, [tok.eosId]);
});

test('word round-trips in-vocabulary text up to whitespace', () => {
  const text = 'the cat  sat on the mat .\n\tthe dog ran !\n\nthe end';
  const tok = WordTokenizer.train(text);
  assert.equal(tok.decode(tok.encode(text)), 'the cat sat on the mat .\nthe dog ran !\n\nthe end');
});

test('word maps out-of-vocabulary words to <unk>, which decodes as <unk>', () => {
  const tok = WordTokenizer.train('the cat sat');
  const ids = tok.encode('the zebra sat');
  assert.equal(ids[1], tok.unkId);
  assert.equal(tok.decode(ids), 'the <unk> sat');
});

test('word orders the vocabulary by frequency with ties in order of first occurrence', () => {
  const tok = WordTokenizer.train('b a c a c d');
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', 'a', 'c', 'b', 'd']);
});

test('word minFrequency leaves rare words out of the vocabulary', () => {
  const tok = WordTokenizer.train('a a a b b c', { minFrequency: 2 });
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', 'a', 'b']);
  assert.equal(tok.encode('c')[0], tok.unkId);
});

test('word vocabSize caps the vocabulary, specials included, keeping the most frequent', () => {
  const tok = WordTokenizer.train('a a a b b c d', { vocabSize: 4 });
  assert.equal(tok.vocabSize, 4);
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', 'a', 'b']);
  assert.deepEqual(tok.encode('a b c d'), [2, 3, 0, 0]);
});

test('word lowercase folds case at training and at encoding time', () => {
  const tok = WordTokenizer.train('The the THE cat', { lowercase: true });
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', 'the', 'cat']);
  assert.deepEqual(tokens(tok, 'CAT The'), ['cat', 'the']);
  const cased = WordTokenizer.train('The the cat');
  assert.equal(cased.encode('THE')[0], cased.unkId);
});

test('word rejects a bad vocabSize or minFrequency with RNNLM_INVALID_CONFIG', () => {
  for (const options of [{ vocabSize: 1 }, { vocabSize: 2.5 }, { minFrequency: 0 }, { minFrequency: NaN }]) {
    assert.throws(
      () => WordTokenizer.train('a b', options),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG'),
    );
  }
});
