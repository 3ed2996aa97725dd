/**
 * The kept recurrent states in the real Redis: a state reads back bit for bit, is listed and
 * deleted, goes with its TTL and with its model, and the states together stay within the
 * byte budget, the oldest pushed out first.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import type { RecurrentState } from '../../../src/ml/state.js';
import { RedisJobService } from '../../../src/queue/job-service.js';
import { RedisStateStore, type StateStoreOptions } from '../../../src/queue/state-store.js';
import { keysUnder, testEnv, waitFor } from './harness.js';

const MODEL = 'mdl_aaaaaaaaaaaaaaaaaaaaaaaaaa';
const OTHER = 'mdl_bbbbbbbbbbbbbbbbbbbbbbbbbb';
const CREATED = '2026-01-01T00:00:00.000Z';

/** A 2-layer state of width 8 whose floats are not round in binary. */
function someState(seed: number): RecurrentState {
  const layer = (l: number) =>
    Float32Array.from({ length: 8 }, (_, i) => Math.fround(Math.sin(seed + l * 8 + i) / 3));
  return {
    h: [layer(0), layer(1)],
    c: [layer(2), layer(3)],
    pending: seed,
    tail: `tail ${seed} 🙂`,
    tokens: 100 + seed,
  };
}

async function store(t: TestContext, options: Partial<StateStoreOptions> = {}) {
  const env = await testEnv(t);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  const states = new RedisStateStore(jobs.shared, { ttlSeconds: 3600, maxBytes: 1 << 20, ...options });
  return { states, env };
}

test('a kept state reads back bit for bit with its model, pending token, tail and token count', async (t) => {
  const { states } = await store(t);
  const state = someState(7);
  const info = await states.save(MODEL, CREATED, state);
  assert.match(info.id, /^st_[a-z0-9]{26}$/);
  assert.equal(info.model, MODEL);
  assert.equal(info.tokens, 107);
  assert.equal(Date.parse(info.expiresAt) - Date.parse(info.createdAt), 3600 * 1000);
  const stored = await states.get(info.id);
  assert.ok(stored !== undefined);
  assert.deepEqual(stored.state, state);
  assert.deepEqual(stored.info, info);
  assert.equal(stored.modelCreatedAt, CREATED);
  assert.equal(await states.get('st_aaaaaaaaaaaaaaaaaaaaaaaaaa'), undefined);
});

test('states are listed, all or by model, and deleted one by one or with their model', async (t) => {
  const { states, env } = await store(t);
  const a = await states.save(MODEL, CREATED, someState(1));
  const b = await states.save(OTHER, CREATED, someState(2));
  const c = await states.save(MODEL, CREATED, someState(3));
  const ids = (list: { id: string }[]) => list.map((s) => s.id);
  assert.deepEqual(ids(await states.list({ limit: 10 })).sort(), [a.id, b.id, c.id].sort());
  assert.deepEqual(ids(await states.list({ limit: 1 })).length, 1);
  assert.deepEqual(ids(await states.list({ model: MODEL, limit: 10 })).sort(), [a.id, c.id].sort());
  assert.equal(await states.delete(a.id), true);
  assert.equal(await states.delete(a.id), false);
  assert.equal(await states.get(a.id), undefined);
  assert.equal(await states.deleteForModel(MODEL), 1);
  assert.deepEqual(ids(await states.list({ limit: 10 })), [b.id]);
  assert.equal(await states.delete(b.id), true);
  // Nothing is left behind but the zeroed byte count.
  const left = (await keysUnder(env.redis, env.config.RNNLM_QUEUE_PREFIX)).filter((k) =>
    k.includes(':state'),
  );
  assert.deepEqual(left, [`${env.config.RNNLM_QUEUE_PREFIX}:states:bytes`]);
  assert.equal(await env.redis.get(left[0]!), '0');
});

test('a state goes when its TTL is over, from the store and from the listing', async (t) => {
  const { states, env } = await store(t, { ttlSeconds: 1 });
  const info = await states.save(MODEL, CREATED, someState(4));
  const pttl = await env.redis.pttl(`${env.config.RNNLM_QUEUE_PREFIX}:state:${info.id}`);
  assert.ok(pttl > 0 && pttl <= 1000, `pttl ${pttl}`);
  await waitFor(
    () => states.get(info.id),
    (s) => s === undefined,
    5000,
    'the state to expire',
  );
  assert.deepEqual(await states.list({ limit: 10 }), []);
  // The next write sweeps the expired entries out of the index and the byte count.
  const next = await states.save(MODEL, CREATED, someState(5));
  assert.equal(await env.redis.zcard(`${env.config.RNNLM_QUEUE_PREFIX}:states`), 1);
  assert.equal(Number(await env.redis.get(`${env.config.RNNLM_QUEUE_PREFIX}:states:bytes`)), next.bytes);
});

test('the states stay within the byte budget: a new one pushes out the oldest', async (t) => {
  const one = (await (await store(t)).states.save(MODEL, CREATED, someState(0))).bytes;
  const { states, env } = await store(t, { maxBytes: 3 * one + 10 });
  const saved = [];
  for (let i = 10; i < 15; i++) saved.push(await states.save(MODEL, CREATED, someState(i)));
  const alive = await states.list({ limit: 10 });
  assert.deepEqual(
    alive.map((s) => s.id).sort(),
    saved
      .slice(2)
      .map((s) => s.id)
      .sort(),
  );
  assert.equal(await states.get(saved[0]!.id), undefined);
  const bytes = Number(await env.redis.get(`${env.config.RNNLM_QUEUE_PREFIX}:states:bytes`));
  assert.ok(bytes <= 3 * one + 10, `${bytes} bytes kept`);
  await assert.rejects(
    (await store(t, { maxBytes: one - 1 })).states.save(MODEL, CREATED, someState(1)),
    (err) => isRnnlmError(err, 'RNNLM_STATE_TOO_LARGE'),
  );
});
