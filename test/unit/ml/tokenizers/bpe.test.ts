import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { isRnnlmError } from '../../../../src/errors.js';
import { BpeTokenizer, preTokenize } from '../../../../src/ml/tokenizers/bpe.js';
import { createStreamingDecoder, normalizeText } from '../../../../src/ml/tokenizers/index.js';
import { SHAKESPEARE } from '../../../helpers/ml.js';

const shakespeare = BpeTokenizer.train(SHAKESPEARE, { vocabSize: 512 });

/**
 * The textbook algorithm, recounting every pair of every chunk occurrence before each
 * merge: slow but obviously right, so the incremental trainer must agree with it.
 */
function referenceMerges(text: string, vocabSize: number): [number, number][] {
  let chunks = preTokenize(text).map((chunk) => Array.from(new TextEncoder().encode(chunk)));
  const merges: [number, number][] = [];
  while (256 + merges.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const ids of chunks) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = `${ids[i]},${ids[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 1;
    for (const [key, count] of counts) {
      const pair = key.split(',').map(Number) as [number, number];
      const better =
        count > bestCount ||
        (count === bestCount &&
          best !== undefined &&
          (pair[0] < best[0] || (pair[0] === best[0] && pair[1] < best[1])));
      if (better) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === undefined) break;
    const [left, right] = best;
    const merged = 256 + merges.length;
    merges.push(best);
    chunks = chunks.map((ids) => {
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] === left && ids[i + 1] === right) {
          out.push(merged);
          i++;
        } else {
          out.push(ids[i] ?? -1);
        }
      }
      return out;
    });
  }
  return merges;
}

test('bpe round-trips a tinyshakespeare excerpt exactly and compresses it', () => {
  const ids = shakespeare.encode(SHAKESPEARE);
  assert.equal(shakespeare.decode(ids), SHAKESPEARE);
  assert.ok(ids.length < Buffer.byteLength(SHAKESPEARE) * 0.6, `${ids.length} tokens`);
});

test('bpe reaches the asked vocabSize on a corpus with enough repeated pairs', () => {
  assert.equal(shakespeare.vocabSize, 512);
  assert.equal(shakespeare.toJSON().merges.length, 512 - 256);
  assert.ok(shakespeare.encode(SHAKESPEARE).every((id) => id >= 0 && id < 512));
});

test('bpe round-trips emoji and non-Latin text never seen in training, normalised', () => {
  const text = '😀👩‍👩‍👧 🇫🇷 日本語のテキスト مرحبا بالعالم Привет, мир! नमस्ते \uFEFFBOM\r\n\t  end';
  assert.equal(shakespeare.decode(shakespeare.encode(text)), normalizeText(text, 'nfc-lf'));
});

test('bpe encode then decode returns any well-formed string as normalised', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()),
      (text) => {
        assert.equal(shakespeare.decode(shakespeare.encode(text)), normalizeText(text, 'nfc-lf'));
      },
    ),
    { numRuns: 200 },
  );
});

test('bpe pre-tokenization chunks concatenate back to the input', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      assert.equal(preTokenize(text).join(''), text);
    }),
  );
});

test('bpe trained on random text round-trips it, respects vocabSize and is deterministic', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.integer({ min: 257, max: 400 }),
      (text, vocabSize) => {
        const tok = BpeTokenizer.train(text, { vocabSize });
        assert.ok(tok.vocabSize <= vocabSize);
        assert.equal(tok.decode(tok.encode(text)), normalizeText(text, 'nfc-lf'));
        assert.deepEqual(BpeTokenizer.train(text, { vocabSize }).toJSON(), tok.toJSON());
      },
    ),
    { numRuns: 50 },
  );
});

test('bpe incremental training learns the same merges as a full recount', () => {
  const alphabet = fc.constantFrom('a', 'b', 'c', ' ', '\n', 'é', '😀', '1', '.');
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 120 }), (text) => {
      assert.deepEqual(
        BpeTokenizer.train(text, { vocabSize: 300 }).toJSON().merges,
        referenceMerges(text, 300),
      );
    }),
    { numRuns: 100 },
  );
  const excerpt = SHAKESPEARE.slice(0, 3000);
  assert.deepEqual(
    BpeTokenizer.train(excerpt, { vocabSize: 320 }).toJSON().merges,
    referenceMerges(excerpt, 320),
  );
});

test('bpe breaks count ties by the lowest (left, right) pair', () => {
  // (d, c) and (b, a) both occur twice; "dc" comes first but (b=98, a=97) is lower.
  const tok = BpeTokenizer.train('dc.ba.dc.ba', { vocabSize: 257 });
  assert.deepEqual(tok.toJSON().merges, [[98, 97]]);
});

test('bpe stops merging when no pair occurs twice', () => {
  const tok = BpeTokenizer.train('abcdef', { vocabSize: 1000 });
  assert.equal(tok.vocabSize, 256);
  assert.deepEqual(tok.encode('abc'), [97, 98, 99]);
});

test('bpe has no unknown or end token and its boundary is the encoding of a newline', () => {
  assert.equal(shakespeare.unkId, undefined);
  assert.equal(shakespeare.eosId, undefined);
  assert.deepEqual(shakespeare.boundaryIds, shakespeare.encode('\n'));
  assert.equal(shakespeare.decode([...shakespeare.boundaryIds]), '\n');
});

test('bpe tokenText shows the text of a merged token', () => {
  const id = shakespeare.encode(' the')[0] ?? -1;
  assert.ok(id >= 256);
  assert.equal(shakespeare.tokenText(id), ' the');
  assert.equal(shakespeare.tokenText(0xf0), '\uFFFD');
});

test('bpe defaults to a 512 vocabulary and rejects one below 257', () => {
  assert.equal(BpeTokenizer.train(SHAKESPEARE).vocabSize, 512);
  for (const vocabSize of [256, 100, 300.5, Number.NaN]) {
    assert.throws(
      () => BpeTokenizer.train('abc', { vocabSize }),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG'),
    );
  }
});

test('bpe drops a leading byte order mark; one saved before normalisation keeps it, streamed too', () => {
  const text = '\uFEFFhello';
  assert.equal(shakespeare.decode(shakespeare.encode(text)), 'hello');
  const { merges, seenBytes } = shakespeare.toJSON();
  const old = new BpeTokenizer(merges, seenBytes);
  const ids = old.encode(text);
  assert.equal(old.decode(ids), text);
  const decoder = createStreamingDecoder(old);
  assert.equal(ids.map((id) => decoder.push(id)).join('') + decoder.flush(), text);
});

test('bpe replaces lone surrogates with U+FFFD, as TextEncoder does', () => {
  assert.equal(shakespeare.decode(shakespeare.encode('a\uD800b')), 'a\uFFFDb');
});
