/**
 * Redis connections, configured per BullMQ's going-to-production guide: a producer (the API
 * adding jobs, reading job state) fails fast when Redis is down so a request gets a 503
 * instead of hanging; a worker connection retries forever (`maxRetriesPerRequest: null`) so
 * a Redis restart pauses training bookkeeping instead of crashing it. Every connection the
 * service makes comes from {@link connectRedis}: one server (`REDIS_URL`) or the primary the
 * sentinels name (`REDIS_SENTINELS`), with the same credentials and TLS.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

import { Redis, type RedisOptions } from 'ioredis';

import { parseHostPort, type Config } from '../config.js';
import { errors } from '../errors.js';

/** The settings that say where Redis is and how to reach it. */
export type RedisSettings = Pick<
  Config,
  | 'REDIS_URL'
  | 'REDIS_SENTINELS'
  | 'REDIS_SENTINEL_NAME'
  | 'REDIS_SENTINEL_USERNAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_SENTINEL_TLS'
  | 'REDIS_USERNAME'
  | 'REDIS_PASSWORD'
  | 'REDIS_TLS'
  | 'REDIS_TLS_CA_FILE'
>;

/** How long a producer waits for Redis to connect before giving up. */
export const PRODUCER_TIMEOUT_MS = 2000;

function reconnectDelay(times: number): number {
  return Math.min(200 * times, 2000);
}

/**
 * A primary demoted to replica by a failover (it came back, or a partition healed) refuses
 * writes with READONLY: reconnect, which asks the sentinels for the primary again, and resend
 * the command. Only with Sentinel: a `REDIS_URL` naming a replica would reconnect forever.
 */
function reconnectOnReadonly(err: Error): 2 | false {
  return err.message.startsWith('READONLY') ? 2 : false;
}

const caFiles = new Map<string, Buffer>();

/** TLS options with the configured CA bundle (read once per process). */
function tlsOptions(settings: RedisSettings): ConnectionOptions {
  const file = settings.REDIS_TLS_CA_FILE;
  if (file === undefined) return {};
  let ca = caFiles.get(file);
  if (ca === undefined) {
    ca = readFileSync(file);
    caFiles.set(file, ca);
  }
  return { ca };
}

/** Where Redis is, for logs and messages: the URL without its password, or the sentinels. */
export function redisLocation(
  settings: Pick<RedisSettings, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>,
): string {
  if (settings.REDIS_SENTINELS.length === 0) return redactUrl(settings.REDIS_URL);
  return `the primary of "${settings.REDIS_SENTINEL_NAME}" (sentinels ${settings.REDIS_SENTINELS.join(', ')})`;
}

/**
 * The ioredis options that reach the configured Redis, before a connection's own; without
 * `REDIS_SENTINELS` the URL (passed apart) supplies the rest, its password and `rediss://`
 * winning over `REDIS_PASSWORD` and `REDIS_TLS`.
 */
export function targetOptions(settings: RedisSettings): RedisOptions {
  const tls =
    settings.REDIS_TLS || settings.REDIS_TLS_CA_FILE !== undefined ? tlsOptions(settings) : undefined;
  const auth: RedisOptions = {
    ...(settings.REDIS_USERNAME === undefined ? {} : { username: settings.REDIS_USERNAME }),
    ...(settings.REDIS_PASSWORD === undefined ? {} : { password: settings.REDIS_PASSWORD }),
  };
  if (settings.REDIS_SENTINELS.length === 0) {
    // A CA file alone applies only to a rediss:// URL; it does not turn TLS on.
    const useTls = settings.REDIS_TLS || settings.REDIS_URL.startsWith('rediss://');
    return { ...auth, ...(useTls && tls !== undefined ? { tls } : {}) };
  }
  return {
    ...auth,
    sentinels: settings.REDIS_SENTINELS.map((address) => {
      const parsed = parseHostPort(address);
      if (parsed === undefined) throw new Error(`not a sentinel address: ${address}`);
      return parsed;
    }),
    name: settings.REDIS_SENTINEL_NAME,
    ...(settings.REDIS_SENTINEL_USERNAME === undefined
      ? {}
      : { sentinelUsername: settings.REDIS_SENTINEL_USERNAME }),
    ...(settings.REDIS_SENTINEL_PASSWORD === undefined
      ? {}
      : { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD }),
    ...(settings.REDIS_SENTINEL_TLS ? { sentinelTLS: tlsOptions(settings) } : {}),
    ...(settings.REDIS_TLS ? { tls: tlsOptions(settings), enableTLSForSentinelMode: true } : {}),
    // Not ioredis' failoverDetector: its +switch-master can land while the connection is
    // asking a sentinel for the primary, and that connect then fails for good (status `end`).
    // A dead primary breaks its sockets anyway, and one that comes back is a replica whose
    // READONLY sends the connection back to the sentinels (reconnectOnReadonly).
  };
}

/**
 * A connection to the service's Redis with `options` (connection name, retries, timeouts): the
 * one place a connection is made, so the API, the workers, the training children and the queue
 * board reach the same server, or follow the same primary through a failover.
 */
export function connectRedis(settings: RedisSettings, options: RedisOptions): Redis {
  if (settings.REDIS_SENTINELS.length === 0) {
    return new Redis(settings.REDIS_URL, { ...options, ...targetOptions(settings) });
  }
  return new Redis({ ...options, ...targetOptions(settings), reconnectOnError: reconnectOnReadonly });
}

/**
 * A connection for the API side: no offline queue, one retry, short connect timeout, and a
 * command timeout (`RNNLM_REDIS_COMMAND_TIMEOUT_MS`): a Redis that stopped answering (frozen, a
 * stalled failover) keeps the connection open, so only that bounds a request.
 */
export function createProducerConnection(
  config: RedisSettings & Pick<Config, 'RNNLM_REDIS_COMMAND_TIMEOUT_MS'>,
  name = 'rnnlm-producer',
): Redis {
  return connectRedis(config, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: PRODUCER_TIMEOUT_MS,
    commandTimeout: config.RNNLM_REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  });
}

/** A connection for a BullMQ Worker (or anything that must survive a Redis restart). */
export function createWorkerConnection(config: RedisSettings, name = 'rnnlm-worker'): Redis {
  return connectRedis(config, {
    connectionName: name,
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelay,
  });
}

/**
 * A connection for one blocking read (XREAD BLOCK): it may queue commands while it
 * connects, but gives up after one retry; callers bound the wait themselves.
 */
export function createBlockingConnection(config: RedisSettings, name = 'rnnlm-blocking'): Redis {
  return connectRedis(config, {
    connectionName: name,
    maxRetriesPerRequest: 1,
    connectTimeout: PRODUCER_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  });
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
  where: string,
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
      reject(errors.redisUnavailable(where, lastError ?? new Error('connection closed')));
    };
    const timer = setTimeout(() => {
      done();
      reject(errors.redisUnavailable(where, lastError ?? new Error(`no answer within ${timeoutMs} ms`)));
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
