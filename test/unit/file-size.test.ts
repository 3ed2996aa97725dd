import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { sourceFiles } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Files over the limit without a reason at their top: none now; an entry needs a reason. */
const ALLOWED_LONG_FILES: readonly string[] = [];

/** Lines a source file may have before it needs a reason at its top. */
const MAX_LINES = 400;
const REASON = /^\/\/ Long because: \S/;

test(`no file in src/ is over ${MAX_LINES} lines without a reason on its first line`, () => {
  const allowed = new Set(ALLOWED_LONG_FILES);
  const found = sourceFiles(ROOT, 'src').flatMap((file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines <= MAX_LINES || allowed.has(file) || REASON.test(text)) return [];
    return [`${file}: ${lines} lines`];
  });
  assert.deepEqual(
    found,
    [],
    `split these, or say why they are long on their first line: \`// Long because: ...\``,
  );
});
