import assert from 'node:assert/strict';
import { test } from 'node:test';

import { promptTokens, TextOffsets, toLogprobs } from '../../../src/api/openai-logprobs.js';

function offsets(text: string, tokens: string[]): number[] {
  const found = new TextOffsets();
  found.push(text);
  return found.place(tokens);
}

test('character tokens start at their place, counted in code points', () => {
  assert.deepEqual(offsets('ab🙂c', ['a', 'b', '🙂', 'c']), [0, 1, 2, 3]);
});

test('word tokens are found past the spaces between them, and in lowercase', () => {
  assert.deepEqual(
    offsets('Hello,  world\nthe end', ['hello', ',', 'world', '<eos>', 'the', 'end']),
    [0, 5, 8, 13, 14, 18],
  );
});

test('a token not in the text (<unk>, half a character) is placed where the text stands', () => {
  // A bpe emoji split over two tokens, each shown with U+FFFD, then a word.
  assert.deepEqual(offsets('x🙂yz', ['x', '\uFFFD', '\uFFFD', 'yz']), [0, 1, 1, 2]);
  assert.deepEqual(offsets('aqb', ['a', '<unk>', 'b']), [0, 1, 2]);
});

test('streamed text is placed across pieces, offsets counting from the start of the choice', () => {
  const found = new TextOffsets();
  found.push('To');
  assert.deepEqual(found.place(['T', 'o']), [0, 1]);
  found.push(' be');
  assert.deepEqual(found.place([' ', 'b', 'e']), [2, 3, 4]);
});

test("logprobs list each token, null where nothing predicts it, and its position's most likely tokens", () => {
  const tokens = promptTokens(
    [{ token: 'b', id: 2, logprob: -1, top: [{ token: 'c', id: 3, logprob: -0.5 }] }],
    [{ token: 'a' }],
  );
  const found = new TextOffsets();
  found.push('ab');
  assert.deepEqual(toLogprobs(tokens, found), {
    tokens: ['a', 'b'],
    token_logprobs: [null, -1],
    top_logprobs: [null, { b: -1, c: -0.5 }],
    text_offset: [0, 1],
  });
});
