import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { sourceFiles } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Files over the limit without a reason at their top: none now; an entry needs a reason. */
const ALLOWED_LONG_FILES: readonly string[] = [];

/** Lines a source file may have before it needs a reason at its top. */
const MAX_LINES = 400;
const REASON = /^(\/\/|#) Long because: \S/;

/** The bench's sources: its TypeScript, the PyTorch reference, the C programs and the set-up script. */
function benchFiles(): string[] {
  return readdirSync(join(ROOT, 'bench'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|py|c|sh)$/.test(f) && !f.startsWith('results'))
    .map((f) => `bench/${f.split('\\').join('/')}`)
    .sort();
}

function tooLong(files: string[]): string[] {
  const allowed = new Set(ALLOWED_LONG_FILES);
  return files.flatMap((file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines <= MAX_LINES || allowed.has(file) || REASON.test(text)) return [];
    return [`${file}: ${lines} lines`];
  });
}

test(`no file in src/, web/src or bench/ is over ${MAX_LINES} lines without a reason on its first line`, () => {
  const files = [...sourceFiles(ROOT, 'src'), ...sourceFiles(ROOT, 'web/src'), ...benchFiles()];
  assert.ok(files.includes('bench/run.ts'), 'the bench is among the files checked');
  assert.ok(files.includes('web/src/main.ts'), 'the dashboard is among the files checked');
  assert.deepEqual(
    tooLong(files),
    [],
    `split these, or say why they are long on their first line: \`// Long because: ...\` (\`#\` in Python and shell)`,
  );
});
