import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ModelCache } from '../../../src/inference/model-cache.js';

/** A cache over fake models (the id's name), recording loads and unloads. */
function cache(capacity: number, fail: ReadonlySet<string> = new Set()) {
  const loads: string[] = [];
  const unloads: string[] = [];
  let unloaded: () => void = () => undefined;
  const c = new ModelCache<string>({
    capacity,
    load: (id) => {
      loads.push(id);
      return fail.has(id) ? Promise.reject(new Error(`cannot load ${id}`)) : Promise.resolve(`model ${id}`);
    },
    unload: (id) => {
      unloads.push(id);
      unloaded();
    },
  });
  /** Resolves at the next unload (unloads wait for the model's load to settle). */
  const nextUnload = () => new Promise<void>((resolve) => (unloaded = resolve));
  return { c, loads, unloads, nextUnload };
}

test('a model is loaded once and shared; hits and misses are counted', async () => {
  const { c, loads } = cache(2);
  const a = c.acquire('a');
  const again = c.acquire('a');
  assert.equal(await a.loading, 'model a');
  assert.equal(await again.loading, 'model a');
  assert.deepEqual(loads, ['a']);
  assert.deepEqual(c.stats(), { hits: 1, misses: 1, evictions: 0, size: 1, capacity: 2 });
});

test('over capacity the least recently used model goes, unloaded once no request uses it', async () => {
  const { c, unloads, nextUnload } = cache(2);
  c.acquire('a').release();
  const b = c.acquire('b');
  c.acquire('a').release(); // a is now more recent than b
  await b.loading;
  c.acquire('c').release(); // evicts b, which a request still uses
  assert.equal(c.stats().evictions, 1);
  assert.equal(c.size, 2);
  assert.deepEqual(unloads, [], 'b is in use: not unloaded yet');
  const unloaded = nextUnload();
  b.release();
  b.release();
  await unloaded;
  assert.deepEqual(unloads, ['b']);
});

test('a failed load is not kept: the next request loads again', async () => {
  const { c, loads } = cache(2, new Set(['bad']));
  const first = c.acquire('bad');
  await assert.rejects(first.loading, /cannot load bad/);
  first.release();
  assert.equal(c.size, 0);
  await assert.rejects(c.acquire('bad').loading, /cannot load bad/);
  assert.deepEqual(loads, ['bad', 'bad']);
});

test('evict and clear unload idle models at once, and a busy one when its last request ends', async () => {
  const { c, unloads, nextUnload } = cache(4);
  c.acquire('a').release();
  const busy = c.acquire('b');
  await busy.loading;
  let unloaded = nextUnload();
  c.evict('a');
  await unloaded;
  assert.deepEqual(unloads, ['a']);
  c.clear();
  assert.equal(c.size, 0);
  unloaded = nextUnload();
  busy.release();
  await unloaded;
  assert.deepEqual(unloads, ['a', 'b']);
  c.evict('nothing');
});
