import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { StopSequenceMatcher } from '../../../../src/ml/generate/stop.js';

/** Where whole-text generation would halt: the first end of any stop, cut at its earliest start. */
function reference(text: string, stops: readonly string[]): string {
  for (let end = 1; end <= text.length; end++) {
    const ending = stops.filter((s) => s.length > 0 && text.slice(0, end).endsWith(s));
    if (ending.length > 0) return text.slice(0, end - Math.max(...ending.map((s) => s.length)));
  }
  return text;
}

test('a stop sequence split across two deltas is found', () => {
  const matcher = new StopSequenceMatcher(['\n\n']);
  assert.equal(matcher.push('first line\n'), false);
  assert.equal(matcher.stopped, false);
  assert.equal(matcher.push('\nsecond'), true);
  assert.equal(matcher.stopped, true);
  assert.equal(matcher.text(), 'first line');
});

test('the earliest of several stops wins', () => {
  const matcher = new StopSequenceMatcher(['world', 'lo', 'xyz']);
  assert.equal(matcher.push('hello world'), true);
  assert.equal(matcher.text(), 'hel');
  // 'b' is complete before 'abc' is, wherever the delta boundaries fall.
  const nested = new StopSequenceMatcher(['abc', 'b']);
  nested.push('xabcx');
  assert.equal(nested.text(), 'xa');
});

test('text excludes the stop and later deltas are ignored', () => {
  const matcher = new StopSequenceMatcher(['END']);
  matcher.push('the answer is 42END and more');
  assert.equal(matcher.text(), 'the answer is 42');
  assert.equal(matcher.push(' still more'), true);
  assert.equal(matcher.text(), 'the answer is 42');
  assert.equal(matcher.safeText(), 'the answer is 42');
});

test('safeText holds back a partial prefix of a stop until it is resolved', () => {
  const matcher = new StopSequenceMatcher(['###', 'STOP']);
  matcher.push('abc#');
  assert.equal(matcher.safeText(), 'abc');
  matcher.push('#');
  assert.equal(matcher.safeText(), 'abc');
  matcher.push('x ST');
  assert.equal(matcher.safeText(), 'abc##x ');
  assert.equal(matcher.text(), 'abc##x ST');
  matcher.push('OP');
  assert.equal(matcher.stopped, true);
  assert.equal(matcher.safeText(), 'abc##x ');
});

test('with no stops (or only empty ones) the matcher never stops', () => {
  for (const stops of [[], ['']]) {
    const matcher = new StopSequenceMatcher(stops);
    for (const delta of ['a', '', 'bc\n\n', '###']) assert.equal(matcher.push(delta), false);
    assert.equal(matcher.stopped, false);
    assert.equal(matcher.text(), 'abc\n\n###');
    assert.equal(matcher.safeText(), 'abc\n\n###');
  }
});

test('the result does not depend on delta boundaries and streamed text is never retracted', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 30 });
  const stops = fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 4 }), { maxLength: 3 });
  const cuts = fc.array(fc.nat({ max: 30 }), { maxLength: 8 });
  fc.assert(
    fc.property(text, stops, cuts, (full, stopList, cutList) => {
      const bounds = [...new Set([0, ...cutList.filter((c) => c < full.length), full.length])].sort(
        (a, b) => a - b,
      );
      const matcher = new StopSequenceMatcher(stopList);
      const streamed: string[] = [];
      for (let i = 1; i < bounds.length; i++) {
        matcher.push(full.slice(bounds[i - 1], bounds[i]));
        streamed.push(matcher.safeText());
      }
      const final = matcher.text();
      assert.equal(final, reference(full, stopList));
      assert.equal(
        matcher.stopped,
        stopList.some((s) => s.length > 0 && full.includes(s)),
      );
      for (const safe of streamed) assert.ok(final.startsWith(safe), `${safe} retracted from ${final}`);
    }),
    { numRuns: 500 },
  );
});
