/**
 * The layers the imports must keep: storage knows files only, inference does not reach into
 * the queue or the API, the shared contracts depend on nothing at run time, and the API's
 * routes are handed the engine's readiness instead of starting it. Type-only imports are
 * allowed: they vanish at run time.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;

/** The `src/`-relative paths a file imports at run time (type-only imports left out). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
    if (match[2] !== undefined) continue;
    const target = join(join(SRC, file, '..'), match[3]!);
    found.push(relative(SRC, target));
  }
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(SRC, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

function assertNoImports(dir: string, forbidden: string[]): void {
  for (const file of filesUnder(dir)) {
    for (const target of runtimeImports(file)) {
      for (const prefix of forbidden) {
        assert.ok(!target.startsWith(prefix), `${file} imports ${target} at run time`);
      }
    }
  }
}

test('storage imports nothing from the ML engine, the queue, inference or the API at run time', () => {
  assertNoImports('storage', ['ml/', 'queue/', 'inference/', 'api/', 'worker/']);
});

test('inference does not reach into the queue, the worker or the API', () => {
  assertNoImports('inference', ['queue/', 'worker/', 'api/']);
});

test('the shared contracts depend on nothing of the service at run time', () => {
  assertNoImports('contracts', ['ml/', 'queue/', 'inference/', 'api/', 'worker/', 'storage/']);
});

test('the health routes are handed the engine readiness: they do not import the ML engine', () => {
  for (const target of runtimeImports('api/routes/health.ts')) assert.ok(!target.startsWith('ml/'), target);
});

test('the import scan sees runtime imports and skips type-only ones', () => {
  const imports = runtimeImports('inference/service.ts');
  assert.ok(imports.includes('storage/model-dirs.js'));
  assert.ok(!imports.includes('contracts/models.js'));
});
