import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { cycles, importsOf, sourceFiles } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const files = sourceFiles(ROOT, 'src');
const edges = files.flatMap((file) => importsOf(ROOT, file));
const runtime = edges.filter((e) => e.runtime);

/** Runtime imports from files under `from` into any of the `forbidden` folders of src/. */
function crossings(from: string, forbidden: readonly string[]): string[] {
  return runtime
    .filter((e) => e.from.startsWith(`src/${from}/`) && forbidden.some((f) => e.to.startsWith(`src/${f}/`)))
    .map((e) => `${e.from} -> ${e.to}`);
}

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

test('src/ has no import cycle, type-only imports included', () => {
  const found = cycles(files, edges).map((c) => c.join(' <-> '));
  assert.deepEqual(found, [], 'import cycles (break them: move what both sides need into a third module)');
});

/** Imports of any kind, types included, from files under `from` into files under `to`. */
function importsBetween(from: string, to: string): string[] {
  return edges
    .filter((e) => e.from.startsWith(`src/${from}/`) && e.to.startsWith(`src/${to}/`))
    .map((e) => `${e.from} -> ${e.to}`);
}

test('generation and evaluation share through modules both import, not through each other', () => {
  assert.deepEqual(
    [...importsBetween('ml/generate', 'ml/eval'), ...importsBetween('ml/eval', 'ml/generate')],
    [],
  );
});

test('every error is made by its factory in the registry: no `new RnnlmError(` outside src/errors/', () => {
  const found = files.filter(
    (file) =>
      !file.startsWith('src/errors/') && readFileSync(join(ROOT, file), 'utf8').includes('new RnnlmError('),
  );
  assert.deepEqual(found, [], 'add a factory to src/errors/ and throw errors.<name>(...)');
});

test('the API plugins know no route: the app hands them what they need of the routes', () => {
  assert.deepEqual(importsBetween('api/plugins', 'api/routes'), []);
});

test('storage imports no queue, worker, API or ML code at runtime: it knows files only', () => {
  const found = crossings('storage', ['ml', 'queue', 'worker', 'api', 'cli', 'inference', 'contracts']);
  assert.deepEqual(found, [], 'storage imports (type-only imports are fine: `import type`)');
});

/** The job service and the pieces it composes: the API side of src/queue/. */
const JOB_SERVICE_FILES: ReadonlySet<string> = new Set(
  [
    'job-service',
    'job-submission',
    'submission-policy',
    'job-reads',
    'job-listing',
    'job-cancel',
    'job-events',
    'queue-stats',
  ].map((name) => `src/queue/${name}.ts`),
);

test('the worker imports nothing of the API side: neither src/api nor the job service', () => {
  for (const file of JOB_SERVICE_FILES) assert.ok(files.includes(file), `${file} is gone: update the list`);
  const found = runtime
    .filter((e) => e.from.startsWith('src/worker/'))
    .filter((e) => e.to.startsWith('src/api/') || JOB_SERVICE_FILES.has(e.to))
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(found, [], 'shared job code belongs in src/queue modules both sides import');
});

/** Files reached at run time from the files under `from`, themselves excluded. */
function reachedFrom(from: readonly string[]): Set<string> {
  const starts = files.filter((f) => from.some((dir) => f.startsWith(`src/${dir}/`)));
  const seen = new Set<string>();
  const todo = [...starts];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const e of runtime) if (e.from === file) todo.push(e.to);
  }
  for (const file of starts) seen.delete(file);
  return seen;
}

test('inference and export load models and read the version without loading the training code', () => {
  const reached = reachedFrom(['inference', 'export']);
  assert.ok(reached.has('src/ml/load-model.ts') && reached.has('src/version.ts'));
  const training = [...reached].filter((f) => f === 'src/ml/training.ts' || f.startsWith('src/ml/train/'));
  assert.deepEqual(training, []);
});

test('inference does not reach into the queue, the worker or the API', () => {
  assert.deepEqual(crossings('inference', ['queue', 'worker', 'api']), []);
});

test('the shared contracts depend on nothing of the service at run time', () => {
  assert.deepEqual(crossings('contracts', ['ml', 'queue', 'inference', 'api', 'worker', 'storage']), []);
});

test('the health routes are handed the engine readiness and kernel status: they do not import the ML engine', () => {
  const found = runtime.filter((e) => e.from === 'src/api/routes/health.ts' && e.to.startsWith('src/ml/'));
  assert.deepEqual(found, []);
});
