/**
 * Generated text is clean text: byte-level bpe never yields U+FFFD or a control character the
 * training text did not hold, streamed or not, and word output continues its prompt with the
 * tokenizer's spacing. Properties over many seeds, on untrained models (whose near-uniform
 * choices reach every token, the worst case for both).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import fc from 'fast-check';

import { generate } from '../../../../src/ml/generate/generate.js';
import { createTokenGuard } from '../../../../src/ml/generate/token-guard.js';
import { RnnLm } from '../../../../src/ml/model/lm.js';
import {
  BpeTokenizer,
  createStreamingDecoder,
  tokenizerFromJSON,
  WordTokenizer,
  type Tokenizer,
} from '../../../../src/ml/tokenizers/index.js';
import { SHAKESPEARE, testBackend } from '../../../helpers/ml.js';

const ASCII = SHAKESPEARE.slice(0, 4000);
const MIXED = `${ASCII}\nCafé naïve, Слово, 日本語の文章, emoji 😀🦄 and “quotes” — déjà vu.\n`;
const REPLACEMENT = '\uFFFD';

/** The control characters in `text` that are not among `allowed`'s. */
function strayControls(text: string, allowed: string): string[] {
  const ok = new Set([...allowed].filter((ch) => /\p{Cc}/u.test(ch)));
  return [...text].filter((ch) => /\p{Cc}/u.test(ch) && !ok.has(ch));
}

function assertClean(text: string, training: string, what: string): void {
  assert.ok(!text.includes(REPLACEMENT), `${what} has U+FFFD: ${JSON.stringify(text)}`);
  assert.deepEqual(
    strayControls(text, training),
    [],
    `${what} has control characters: ${JSON.stringify(text)}`,
  );
}

function untrainedModel(tokenizer: Tokenizer, seed: number): RnnLm {
  return RnnLm.create(
    {
      cell: 'lstm',
      layers: 1,
      hiddenSize: 16,
      embeddingSize: 8,
      dropout: 0,
      tieWeights: false,
      vocabSize: tokenizer.vocabSize,
    },
    seed,
  );
}

const models: RnnLm[] = [];
before(async () => {
  await testBackend();
});
after(() => {
  for (const m of models) m.dispose();
});

test('bpe token streams the guard allows always decode to clean text, piece by piece and at the end', () => {
  for (const corpus of [ASCII, MIXED]) {
    const tokenizer = BpeTokenizer.train(corpus, { vocabSize: 300 });
    const guard = createTokenGuard(tokenizer);
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 60 }), (choices) => {
        const decoder = createStreamingDecoder(tokenizer);
        const pieces: string[] = [];
        for (const choice of choices) {
          const logits = new Float32Array(tokenizer.vocabSize);
          guard(decoder.state())(logits);
          const allowed = [...logits.keys()].filter((id) => logits[id] !== -Infinity);
          const id = allowed[choice % allowed.length] as number;
          pieces.push(decoder.push(id));
        }
        pieces.push(decoder.flush());
        for (const piece of pieces) assertClean(piece, corpus, 'a streamed piece');
      }),
      { numRuns: 300 },
    );
  }
});

test('bpe generation from an ASCII or a mixed-script corpus never returns U+FFFD or a stray control character', async () => {
  for (const corpus of [ASCII, MIXED]) {
    const tokenizer = BpeTokenizer.train(corpus, { vocabSize: 300 });
    const model = untrainedModel(tokenizer, 3);
    models.push(model);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom('The ', 'ROMEO:', ''),
        async (seed, prompt) => {
          const deltas: string[] = [];
          const r = await generate(
            model,
            tokenizer,
            { prompt, maxTokens: 40, seed, temperature: 1.5 },
            (d) => {
              deltas.push(d);
            },
          );
          assertClean(r.text, corpus, `seed ${seed}`);
          for (const d of deltas) assertClean(d, corpus, `a streamed delta of seed ${seed}`);
          assert.equal(deltas.join(''), r.text);
        },
      ),
      { numRuns: 40 },
    );
  }
});

test('a bpe tokenizer masks the bytes its training text never held; one saved before that masks none', () => {
  const tokenizer = BpeTokenizer.train('hello world\n', { vocabSize: 260 });
  const seen = new Set(new TextEncoder().encode('hello world\n'));
  assert.deepEqual(
    tokenizer.suppressIds,
    Array.from({ length: 256 }, (_, b) => b).filter((b) => !seen.has(b)),
  );
  assert.ok(tokenizer.suppressIds.includes(0x15));
  const restored = tokenizerFromJSON(JSON.parse(JSON.stringify(tokenizer)));
  assert.deepEqual(restored.suppressIds, tokenizer.suppressIds);
  const legacy = tokenizerFromJSON({ type: 'bpe', merges: tokenizer.toJSON().merges });
  assert.deepEqual(legacy.suppressIds, []);
});

test('a streamed bpe generation holds back a partial character and drops one left unfinished', () => {
  const tokenizer = new BpeTokenizer([]);
  const decoder = createStreamingDecoder(tokenizer);
  const bytes = new TextEncoder().encode('é😀');
  const out = [...bytes.slice(0, 4)].map((b) => decoder.push(b));
  assert.deepEqual(out, ['', 'é', '', '']);
  assert.equal(decoder.flush(), '');
});

test('word generation continues its prompt with the spacing its tokens carry, never doubling the prompt’s last space', async () => {
  const tokenizer = WordTokenizer.train(ASCII, { vocabSize: 300 });
  const model = untrainedModel(tokenizer, 5);
  models.push(model);
  const words = ['the', 'king', 'world', 'ROMEO', ',', 'love'];
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom(...words), { minLength: 1, maxLength: 4 }),
      fc.constantFrom('', ' ', '\n'),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      async (promptWords, end, seed) => {
        const prompt = promptWords.join(' ') + end;
        const r = await generate(model, tokenizer, { prompt, maxTokens: 8, seed, details: true });
        const ids = (r.details?.tokens ?? []).map((t) => t.id);
        // A prompt's last space is the next word's, so it is read without it and not repeated.
        const read = prompt.endsWith(' ') ? prompt.slice(0, -1) : prompt;
        if (tokenizer.encode(read).includes(tokenizer.unkId)) return;
        const rest = tokenizer.decode([...tokenizer.encode(read), ...ids]).slice(read.length);
        assert.equal(
          r.text,
          prompt.endsWith(' ') ? rest.replace(/^ /, '') : rest,
          `${JSON.stringify(prompt)} + ${JSON.stringify(r.text)}`,
        );
        assert.ok(!r.text.startsWith(' ') || !prompt.endsWith(' '), JSON.stringify(r.text));
      },
    ),
    { numRuns: 40 },
  );
});

test('bpe generation never emits a character its corpus did not hold, however the bytes combine', () => {
  // é (C3 A9) and ö (C3 B6) share a lead byte: C3 then B6's neighbours could spell ö or ü.
  const corpus = 'café olé née\nwörd köln\n日本\n';
  const tokenizer = BpeTokenizer.train(corpus, { vocabSize: 270 });
  const alphabet = new Set(corpus);
  const guard = createTokenGuard(tokenizer);
  fc.assert(
    fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 80 }), (choices) => {
      const decoder = createStreamingDecoder(tokenizer);
      let text = '';
      for (const choice of choices) {
        const logits = new Float32Array(tokenizer.vocabSize);
        guard(decoder.state())(logits);
        const allowed = [...logits.keys()].filter((id) => logits[id] !== -Infinity);
        text += decoder.push(allowed[choice % allowed.length] as number);
      }
      text += decoder.flush();
      const strays = [...text].filter((ch) => !alphabet.has(ch));
      assert.deepEqual(strays, [], JSON.stringify(text));
    }),
    { numRuns: 300 },
  );
  // Saved before the alphabet was recorded: the bytes alone decide, as before.
  const { merges, seenBytes } = tokenizer.toJSON();
  const legacy = tokenizerFromJSON({ type: 'bpe', merges, seenBytes });
  assert.ok(legacy instanceof BpeTokenizer);
  assert.equal(legacy.alphabet, undefined);
});
