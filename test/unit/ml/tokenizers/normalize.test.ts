import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import {
  BpeTokenizer,
  CharTokenizer,
  normalizeText,
  tokenizerFromJSON,
  WordTokenizer,
} from '../../../../src/ml/tokenizers/index.js';

const text = fc.array(
  fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.constantFrom('\r\n', '\r', '\n', '\uFEFF', 'e\u0301', 'A\u030A', '\u1100\u1161', ' '),
  ),
  { maxLength: 30 },
);

test('property: normalisation is idempotent and leaves no CR, no leading BOM, and NFC', () => {
  fc.assert(
    fc.property(text, (parts) => {
      const once = normalizeText(parts.join(''), 'nfc-lf');
      assert.equal(normalizeText(once, 'nfc-lf'), once);
      assert.ok(!once.includes('\r'));
      assert.ok(!once.startsWith('\uFEFF'));
      assert.equal(once.normalize('NFC'), once);
    }),
    { numRuns: 500 },
  );
});

test('property: every tokenizer reads a CRLF text and its LF form as the same tokens', () => {
  fc.assert(
    fc.property(text, (parts) => {
      const lf = parts.join('').replaceAll(/\r\n?/g, '\n');
      const crlf = lf.replaceAll('\n', '\r\n');
      for (const tok of [CharTokenizer.train(crlf), WordTokenizer.train(crlf), BpeTokenizer.train(crlf)]) {
        assert.deepEqual(tok.encode(crlf), tok.encode(lf));
        assert.ok(!tok.decode(tok.encode(crlf)).includes('\r'));
      }
    }),
    { numRuns: 100 },
  );
});

test('a CRLF corpus puts no \\r in any vocabulary', () => {
  const corpus =
    'First Citizen:\r\nBefore we proceed any further, hear me speak.\r\n\r\nAll:\r\nSpeak, speak.\r\n';
  assert.ok(!CharTokenizer.train(corpus).toJSON().vocab.includes('\r'));
  assert.ok(
    !WordTokenizer.train(corpus)
      .toJSON()
      .vocab.some((w) => w.includes('\r')),
  );
  assert.ok(!(BpeTokenizer.train(corpus).toJSON().seenBytes ?? []).includes(13));
});

test('tokenizers saved without a normalisation read text as it comes, as before', () => {
  const char = tokenizerFromJSON({ type: 'char', vocab: ['<unk>', '\n', '\r', 'a', '\uFEFF'] });
  assert.deepEqual(char.encode('\uFEFFa\r\n'), [4, 3, 2, 1]);
  assert.equal(char.normalize('a\r\n'), 'a\r\n');
  const bpe = tokenizerFromJSON({ type: 'bpe', merges: [] });
  assert.equal(bpe.decode(bpe.encode('\uFEFFa\r\ne\u0301')), '\uFEFFa\r\ne\u0301');
});
