import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../../src/errors.js';
import { countCodePoints, splitText } from '../../../../src/ml/data/split.js';

test('holds out the last fraction of the text and keeps the rest for training', () => {
  const text = 'abcdefghij'.repeat(100);
  const { train, validation } = splitText(text, 0.1);
  assert.equal(validation.length, 100);
  assert.equal(train.length, 900);
  assert.equal(train + validation, text);
  assert.equal(splitText(text, 0.5).validation.length, 500);
});

test('moves the cut forward to the next line start within 10% of the validation length', () => {
  // The plain cut falls at 900, five characters before a line start.
  const text = 'a'.repeat(904) + '\n' + 'b'.repeat(95);
  const { train, validation } = splitText(text, 0.1);
  assert.equal(validation, 'b'.repeat(95));
  assert.equal(train, 'a'.repeat(904) + '\n');
});

test('keeps the cut where it is when the next line start is further than 10% away', () => {
  const text = 'a'.repeat(920) + '\n' + 'b'.repeat(79);
  const { validation } = splitText(text, 0.1);
  assert.equal(validation.length, 100);
  assert.equal(validation, text.slice(900));
});

test('keeps a cut that already sits at a line start', () => {
  const text = 'a'.repeat(899) + '\n' + 'b'.repeat(100);
  assert.equal(splitText(text, 0.1).validation, 'b'.repeat(100));
});

test('does not move the cut to the end of a text that ends with a newline', () => {
  const text = 'a'.repeat(1004) + '\n';
  const { train, validation } = splitText(text, 0.1);
  assert.equal(validation.length, 101);
  assert.equal(train + validation, text);
});

test('counts code points rather than UTF-16 units, emoji included', () => {
  assert.equal(countCodePoints(''), 0);
  assert.equal(countCodePoints('a😀b'), 3);
  assert.equal(countCodePoints('👍🏽'), 2);
  assert.equal(countCodePoints('x\ud800y'), 3);
  const mixed = 'héllo 😀 wörld 🎉\n日本語 \udc00';
  assert.equal(countCodePoints(mixed), Array.from(mixed).length);
});

test('splits by code points and never inside a surrogate pair', () => {
  const text = '😀'.repeat(100);
  const { train, validation } = splitText(text, 0.1);
  assert.equal(validation, '😀'.repeat(10));
  assert.equal(train, '😀'.repeat(90));
  // An odd mix where a UTF-16 based cut would land inside a pair.
  const mixed = 'a😀'.repeat(50);
  const parts = splitText(mixed, 0.25);
  assert.equal(countCodePoints(parts.validation), 25);
  assert.equal(parts.train + parts.validation, mixed);
  assert.ok(!/^[\udc00-\udfff]/.test(parts.validation));
});

test('rejects a validation fraction outside (0, 0.5]', () => {
  for (const fraction of [0, -0.1, 0.51, 1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => splitText('some text\n'.repeat(10), fraction),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && err.details?.['field'] === 'validationFraction',
    );
  }
});

test('rejects a text too small to give both parts some text', () => {
  for (const [text, fraction] of [
    ['', 0.5],
    ['abc', 0.1],
    ['a', 0.5],
  ] as const) {
    assert.throws(
      () => splitText(text, fraction),
      (err) => isRnnlmError(err, 'RNNLM_CORPUS_TOO_SMALL'),
    );
  }
});
