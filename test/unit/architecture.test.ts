import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { cycles, importsOf, sourceFiles } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const files = sourceFiles(ROOT, 'src');
const edges = files.flatMap((file) => importsOf(ROOT, file));
const runtime = edges.filter((e) => e.runtime);

// ---------------------------------------------------------------------------------------------
// Known violations that other branches of issue 12 remove. Each entry must match exactly, so a
// new cycle or a new import still fails. Delete the entries once those branches are merged.

/**
 * Issue 12, "A cycle in the model": the branch that moves the cell layout into a tfjs-free
 * module ends this cycle.
 */
const ALLOWED_CYCLES: readonly (readonly string[])[] = [
  ['src/ml/model/cells.ts', 'src/ml/model/native-cells.ts'],
];

/**
 * Issue 12, "Storage runs models": the serving branch that moves the model store to
 * src/inference (and the ids and `ModelService` to a neutral contracts module) ends these.
 */
const ALLOWED_STORAGE_IMPORTS: readonly string[] = [
  'src/storage/model-store.ts -> src/ml/backend.ts',
  'src/storage/model-store.ts -> src/ml/config.ts',
  'src/storage/model-store.ts -> src/ml/eval/score.ts',
  'src/storage/model-store.ts -> src/ml/generate/generate.ts',
  'src/storage/model-store.ts -> src/ml/pipeline.ts',
  'src/storage/model-store.ts -> src/queue/training-queue.ts',
];

// ---------------------------------------------------------------------------------------------

test('the import graph sees every file of src/ and their runtime imports', () => {
  assert.ok(files.length > 50, `${files.length} files`);
  assert.ok(files.includes('src/api/app.ts'));
  // A known runtime import and a known type-only one are told apart.
  assert.ok(runtime.some((e) => e.from === 'src/api/app.ts' && e.to === 'src/api/routes/jobs.ts'));
  assert.ok(
    edges.some((e) => e.from === 'src/api/app.ts' && e.to === 'src/config.ts' && !e.runtime),
    'import type is type-only',
  );
  for (const e of edges) assert.ok(files.includes(e.to), `${e.from} imports ${e.to}, which does not exist`);
});

test('src/ has no runtime import cycle', () => {
  const allowed = new Set(ALLOWED_CYCLES.map((c) => [...c].sort().join(' <-> ')));
  const found = cycles(files, runtime)
    .map((c) => c.join(' <-> '))
    .filter((c) => !allowed.has(c));
  assert.deepEqual(found, [], 'import cycles (break them: move what both sides need into a third module)');
});

test('storage imports no queue, worker, API or ML code at runtime: it knows files only', () => {
  const forbidden = /^src\/(ml|queue|worker|api|cli|inference)\//;
  const allowed = new Set(ALLOWED_STORAGE_IMPORTS);
  const found = runtime
    .filter((e) => e.from.startsWith('src/storage/') && forbidden.test(e.to))
    .map((e) => `${e.from} -> ${e.to}`)
    .filter((e) => !allowed.has(e));
  assert.deepEqual(found, [], 'storage imports (type-only imports are fine: `import type`)');
});

test('the worker imports nothing of the API side: neither src/api nor the job service', () => {
  const found = runtime
    .filter((e) => e.from.startsWith('src/worker/'))
    .filter((e) => e.to.startsWith('src/api/') || e.to === 'src/queue/job-service.ts')
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(found, [], 'shared job code belongs in src/queue modules both sides import');
});
