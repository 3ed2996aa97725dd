/**
 * Recurrent states kept for later requests (src/ml/state.ts), in the Redis every API
 * instance shares: a handle written by one instance continues on any other, and Redis's
 * append-only file keeps them across its restarts. Each state lives until its TTL, and the
 * states together stay within a byte budget: a new one pushes out the oldest. Handles are
 * written once and never changed, so two requests continuing one handle each get their own.
 *
 * Keys under the deployment's prefix P: `P:state:<id>` (a hash: `meta` JSON and `data`, the
 * layers' floats little-endian, h then c), the index `P:states` (ids by expiry, ms),
 * `P:states:sizes` (id -> `bytes|model`), the total `P:states:bytes`, and per model the set
 * `P:states:model:<model>`. The scripts keep them in step atomically.
 */
import type { Redis } from 'ioredis';

import { newStateId } from '../ids.js';
import { errors } from '../errors.js';
import type { RecurrentState } from '../ml/state.js';
import type { SharedRedis, StateInfo, StateStore, StoredState } from './types.js';

/** Options of {@link RedisStateStore}. */
export interface StateStoreOptions {
  /** How long a state is kept, in seconds. */
  ttlSeconds: number;
  /** Bytes all states together may take; the oldest go first. */
  maxBytes: number;
  /**
   * How long one command may take before it fails as Redis unavailable.
   * @defaultValue 2000
   */
  timeoutMs?: number | undefined;
}

/** The JSON beside the floats. */
interface Meta {
  model: string;
  modelCreatedAt: string;
  layers: number;
  hidden: number;
  pending: number;
  tail: string;
  tokens: number;
  createdAt: number;
  expiresAt: number;
}

/** Removes a state and its index entries; `ARGV[1]` the key prefix. Defines `drop(id)`. */
const DROP = `
local prefix = ARGV[1]
local function drop(id)
  local entry = redis.call('HGET', prefix .. ':states:sizes', id)
  redis.call('ZREM', prefix .. ':states', id)
  redis.call('DEL', prefix .. ':state:' .. id)
  if not entry then return 0 end
  local bytes, model = string.match(entry, '^(%d+)|(.*)$')
  redis.call('HDEL', prefix .. ':states:sizes', id)
  redis.call('DECRBY', prefix .. ':states:bytes', bytes)
  redis.call('SREM', prefix .. ':states:model:' .. model, id)
  return 1
end
local function expire(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', prefix .. ':states', '-inf', now)) do drop(id) end
end
`;

/**
 * ARGV: prefix, now, id, model, expiresAt, bytes, maxBytes, meta, data. Drops the expired
 * states, then the oldest until the new one fits, and writes it; -1 when it cannot fit at all.
 */
const SAVE_SCRIPT = `${DROP}
local id, model, expiresAt = ARGV[3], ARGV[4], ARGV[5]
local bytes, max = tonumber(ARGV[6]), tonumber(ARGV[7])
if bytes > max then return -1 end
expire(ARGV[2])
while tonumber(redis.call('GET', prefix .. ':states:bytes') or '0') + bytes > max do
  local oldest = redis.call('ZRANGE', prefix .. ':states', 0, 0)
  if #oldest == 0 then
    redis.call('SET', prefix .. ':states:bytes', 0)
    break
  end
  drop(oldest[1])
end
local key = prefix .. ':state:' .. id
redis.call('HSET', key, 'meta', ARGV[8], 'data', ARGV[9])
redis.call('PEXPIREAT', key, expiresAt)
redis.call('ZADD', prefix .. ':states', expiresAt, id)
redis.call('HSET', prefix .. ':states:sizes', id, bytes .. '|' .. model)
redis.call('INCRBY', prefix .. ':states:bytes', bytes)
redis.call('SADD', prefix .. ':states:model:' .. model, id)
return 1
`;

/** ARGV: prefix, id. 1 when the state was there. */
const DELETE_SCRIPT = `${DROP}
return drop(ARGV[2])
`;

/** ARGV: prefix, model, now. Drops every state of the model; returns how many were alive. */
const DELETE_MODEL_SCRIPT = `${DROP}
expire(ARGV[3])
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':states:model:' .. ARGV[2])) do n = n + drop(id) end
redis.call('DEL', prefix .. ':states:model:' .. ARGV[2])
return n
`;

/** Floats per layer state: h and c, each `hidden` long. */
function encode(state: RecurrentState): Buffer {
  const layers = [...state.h, ...state.c];
  const out = Buffer.alloc(layers.reduce((n, a) => n + a.length * 4, 0));
  let at = 0;
  for (const values of layers) for (const v of values) at = out.writeFloatLE(v, at);
  return out;
}

function decode(data: Buffer, layers: number, hidden: number): Pick<RecurrentState, 'h' | 'c'> {
  if (data.length !== 2 * layers * hidden * 4) {
    throw new Error(`stored state holds ${data.length} bytes, not ${2 * layers * hidden * 4}`);
  }
  const read = (l: number) =>
    Float32Array.from({ length: hidden }, (_, i) => data.readFloatLE((l * hidden + i) * 4));
  return {
    h: Array.from({ length: layers }, (_, l) => read(l)),
    c: Array.from({ length: layers }, (_, l) => read(layers + l)),
  };
}

function info(id: string, meta: Meta, bytes: number): StateInfo {
  return {
    id,
    model: meta.model,
    tokens: meta.tokens,
    bytes,
    createdAt: new Date(meta.createdAt).toISOString(),
    expiresAt: new Date(meta.expiresAt).toISOString(),
  };
}

export class RedisStateStore implements StateStore {
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly shared: SharedRedis,
    private readonly options: StateStoreOptions,
  ) {
    this.prefix = shared.prefix;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /**
   * Keeps `state` of `model` (created at `modelCreatedAt`) under a new handle.
   * @throws RnnlmError `RNNLM_STATE_TOO_LARGE` when it alone is over the store's budget.
   */
  async save(model: string, modelCreatedAt: string, state: RecurrentState): Promise<StateInfo> {
    const id = newStateId();
    const now = Date.now();
    const meta: Meta = {
      model,
      modelCreatedAt,
      layers: state.h.length,
      hidden: state.h[0]?.length ?? 0,
      pending: state.pending,
      tail: state.tail,
      tokens: state.tokens,
      createdAt: now,
      expiresAt: now + this.options.ttlSeconds * 1000,
    };
    const data = encode(state);
    const json = JSON.stringify(meta);
    const bytes = data.length + Buffer.byteLength(json);
    const saved = await this.run((redis) =>
      redis.eval(
        SAVE_SCRIPT,
        0,
        this.prefix,
        String(now),
        id,
        model,
        String(meta.expiresAt),
        String(bytes),
        String(this.options.maxBytes),
        json,
        data,
      ),
    );
    if (saved === -1) {
      throw errors.stateTooLarge(bytes, this.options.maxBytes);
    }
    return info(id, meta, bytes);
  }

  /** The state behind `id`; undefined when it expired, was deleted or never was. */
  async get(id: string): Promise<StoredState | undefined> {
    const [meta, data] = await this.run((redis) => redis.hmgetBuffer(this.key(id), 'meta', 'data'));
    if (meta === null || data === null || meta === undefined || data === undefined) return undefined;
    const m = JSON.parse(meta.toString('utf8')) as Meta;
    return {
      info: info(id, m, data.length + meta.length),
      modelCreatedAt: m.modelCreatedAt,
      state: { ...decode(data, m.layers, m.hidden), pending: m.pending, tail: m.tail, tokens: m.tokens },
    };
  }

  /** The states alive now, newest first, of `model` only where given; at most `limit`. */
  async list(options: { model?: string | undefined; limit: number }): Promise<StateInfo[]> {
    const now = Date.now();
    return this.run(async (redis) => {
      const ids =
        options.model === undefined
          ? await redis.zrevrangebyscore(`${this.prefix}:states`, '+inf', `(${now}`)
          : await redis.smembers(`${this.prefix}:states:model:${options.model}`);
      const found: StateInfo[] = [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hget(this.key(id), 'meta').hstrlen(this.key(id), 'data');
      const replies = (await pipeline.exec()) ?? [];
      ids.forEach((id, i) => {
        const meta = replies[2 * i]?.[1];
        const dataBytes = replies[2 * i + 1]?.[1];
        if (typeof meta !== 'string' || typeof dataBytes !== 'number') return;
        const m = JSON.parse(meta) as Meta;
        if (m.expiresAt > now) found.push(info(id, m, dataBytes + Buffer.byteLength(meta)));
      });
      return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, options.limit);
    });
  }

  /** Forgets the state; false when it was not there. */
  async delete(id: string): Promise<boolean> {
    const dropped = await this.run((redis) => redis.eval(DELETE_SCRIPT, 0, this.prefix, id));
    return dropped === 1;
  }

  /** Forgets every state of `model` (it was deleted); returns how many there were. */
  async deleteForModel(model: string): Promise<number> {
    const dropped = await this.run((redis) =>
      redis.eval(DELETE_MODEL_SCRIPT, 0, this.prefix, model, String(Date.now())),
    );
    return typeof dropped === 'number' ? dropped : 0;
  }

  private key(id: string): string {
    return `${this.prefix}:state:${id}`;
  }

  private run<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
    return this.shared.run(work, this.timeoutMs);
  }
}
