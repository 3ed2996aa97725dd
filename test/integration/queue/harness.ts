/**
 * What the queue and worker integration tests share: a configuration with its own Redis key
 * prefix and data directory per test, cleaned up afterwards, a tiny training request that
 * trains in about a second, and polling helpers.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { Redis } from 'ioredis';

import { loadConfig, type Config } from '../../../src/config.js';
import { createLogger, type Logger } from '../../../src/logger.js';
import type { SubmitInput } from '../../../src/queue/types.js';

const FIXTURE = new URL('../../fixtures/shakespeare-30k.txt', import.meta.url);

/** A few kB of Shakespeare: enough for a tiny char model to take a few dozen steps. */
export const CORPUS = readFileSync(FIXTURE, 'utf8').slice(0, 4000);

export interface TestEnv {
  config: Config;
  logger: Logger;
  dataDir: string;
  /** A plain connection for assertions on raw keys. */
  redis: Redis;
  /** Runs `close` when the test ends, before its keys and files are deleted (last deferred, first run). */
  defer: (close: () => unknown) => void;
}

/**
 * A fresh prefix and data directory for one test; everything under the prefix is deleted
 * and the directory removed when the test ends.
 */
export async function testEnv(t: TestContext, overrides: Record<string, string> = {}): Promise<TestEnv> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rnnlm-it-'));
  const prefix = `rnnlmtest-${randomBytes(5).toString('hex')}`;
  const config = loadConfig({
    ...process.env,
    RNNLM_QUEUE_PREFIX: prefix,
    RNNLM_DATA_DIR: dataDir,
    RNNLM_LOG_LEVEL: process.env.RNNLM_TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  });
  const logger = createLogger(config, { pretty: false });
  // The test's own Redis even when the configuration under test points elsewhere.
  const redis = new Redis(loadConfig(process.env).REDIS_URL, { maxRetriesPerRequest: 1 });
  const closers: (() => unknown)[] = [];
  t.after(async () => {
    // Services and workers first (newest first): they may still write while they stop.
    for (const close of closers.reverse()) await close();
    await deleteKeys(redis, `${prefix}:*`);
    redis.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { config, logger, dataDir, redis, defer: (close) => void closers.push(close) };
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** All keys under the test's prefix. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** A request for a model that trains in about a second. */
export function tinyRequest(
  training: Record<string, unknown> = {},
  extra: Partial<SubmitInput> = {},
): SubmitInput {
  return {
    corpus: { text: CORPUS },
    model: { cell: 'lstm', layers: 1, hiddenSize: 16, embeddingSize: 8, dropout: 0, tieWeights: false },
    training: { batchSize: 4, seqLength: 8, maxSteps: 20, seed: 7, ...training } as SubmitInput['training'],
    ...extra,
  };
}

/** Polls `read` until `done` holds for its value; fails with the last value after `timeoutMs`. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
