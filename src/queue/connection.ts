/**
 * Redis connections, configured per BullMQ's going-to-production guide: a producer (the API
 * adding jobs, reading job state) fails fast when Redis is down so a request gets a 503
 * instead of hanging; a worker connection retries forever (`maxRetriesPerRequest: null`) so
 * a Redis restart pauses training bookkeeping instead of crashing it.
 */
import { Redis, type RedisOptions } from 'ioredis';

import type { Config } from '../config.js';
import { RnnlmError } from '../errors.js';

/** How long a producer waits for Redis to connect before giving up. */
export const PRODUCER_TIMEOUT_MS = 2000;

function reconnectDelay(times: number): number {
  return Math.min(200 * times, 2000);
}

/**
 * A connection for the API side: no offline queue, one retry, short connect timeout, and a
 * command timeout (`RNNLM_REDIS_COMMAND_TIMEOUT_MS`): a Redis that stopped answering (frozen, a
 * stalled failover) keeps the connection open, so only that bounds a request.
 */
export function createProducerConnection(
  config: Pick<Config, 'REDIS_URL' | 'RNNLM_REDIS_COMMAND_TIMEOUT_MS'>,
  name = 'rnnlm-producer',
): Redis {
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: PRODUCER_TIMEOUT_MS,
    commandTimeout: config.RNNLM_REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  };
  return new Redis(config.REDIS_URL, options);
}

/** A connection for a BullMQ Worker (or anything that must survive a Redis restart). */
export function createWorkerConnection(config: Pick<Config, 'REDIS_URL'>, name = 'rnnlm-worker'): Redis {
  return new Redis(config.REDIS_URL, {
    connectionName: name,
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelay,
  });
}

/**
 * A connection for one blocking read (XREAD BLOCK): it may queue commands while it
 * connects, but gives up after one retry; callers bound the wait themselves.
 */
export function createBlockingConnection(config: Pick<Config, 'REDIS_URL'>, name = 'rnnlm-blocking'): Redis {
  return new Redis(config.REDIS_URL, {
    connectionName: name,
    maxRetriesPerRequest: 1,
    connectTimeout: PRODUCER_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  });
}

/** The error every "Redis did not answer" path throws (the API answers 503). */
export function redisUnavailable(url: string, cause?: unknown): RnnlmError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new RnnlmError(
    'RNNLM_REDIS_UNAVAILABLE',
    `Redis at ${redactUrl(url)} is unavailable${reason}`,
    undefined,
    { cause },
  );
}

/** The URL without its password, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * Redis's `maxmemory-policy`, or `unknown` where it cannot be read: managed Redis services
 * often refuse or rename CONFIG.
 */
export async function maxmemoryPolicy(redis: Redis): Promise<string> {
  try {
    const reply: unknown = await redis.config('GET', 'maxmemory-policy');
    const value = Array.isArray(reply) ? (reply as unknown[])[1] : undefined;
    return typeof value === 'string' && value.length > 0 ? value : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * What to warn about a `maxmemory-policy`; undefined for `noeviction`, the only policy under
 * which a full Redis refuses writes instead of silently dropping queued jobs and their records.
 */
export function evictionWarning(policy: string): string | undefined {
  if (policy === 'noeviction') return undefined;
  if (policy === 'unknown') {
    return (
      'Redis maxmemory-policy is unknown (CONFIG GET was refused): make sure it is noeviction, ' +
      'or a full Redis may evict jobs'
    );
  }
  return (
    `Redis maxmemory-policy is ${policy}, not noeviction: a full Redis will evict jobs and their ` +
    'records; set maxmemory-policy noeviction'
  );
}

/**
 * Resolves once the connection is ready, or rejects with RNNLM_REDIS_UNAVAILABLE after
 * `timeoutMs` (the connection keeps trying in the background; close it if you give up).
 */
export async function waitUntilReady(
  redis: Redis,
  url: string,
  timeoutMs = PRODUCER_TIMEOUT_MS,
): Promise<void> {
  if (redis.status === 'ready') return;
  let lastError: unknown;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: unknown) => {
      lastError = err;
    };
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      redis.off('end', onEnd);
    };
    const onReady = () => {
      done();
      resolve();
    };
    const onEnd = () => {
      done();
      reject(redisUnavailable(url, lastError ?? new Error('connection closed')));
    };
    const timer = setTimeout(() => {
      done();
      reject(redisUnavailable(url, lastError ?? new Error(`no answer within ${timeoutMs} ms`)));
    }, timeoutMs);
    redis.on('ready', onReady);
    redis.on('error', onError);
    redis.on('end', onEnd);
  });
}

/** Closes a connection, politely when it is up, at once when it is not. */
export async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // Fall through: the socket is going away anyway.
    }
  }
  redis.disconnect();
}
