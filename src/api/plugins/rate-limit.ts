import type { FastifyReply, FastifyRequest } from 'fastify';

import { errors } from '../../errors.js';
import type { SharedRedis } from '../../queue/types.js';
import { clientId } from './auth.js';

/** One counted hit of a rate-limit bucket. */
export interface RateLimitHit {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

/**
 * Counts one hit of `bucket` in a fixed window of `windowMs` that starts with the bucket's
 * first hit. Resolves the count so far and the milliseconds until the window ends; rejects
 * when the store is down.
 */
export type RateLimitCounter = (bucket: string, windowMs: number) => Promise<RateLimitHit>;

/** KEYS[1] the bucket, ARGV[1] the window in ms; returns `{count, pttl}`. */
const RATE_LIMIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** How long a count may take before the request goes through uncounted. */
const COUNT_TIMEOUT_MS = 1000;

/**
 * A fixed-window counter in the shared Redis under `<prefix>:ratelimit:<bucket>`, so every API
 * instance sees the same count: INCR, the window's expiry set by its first hit (and repaired if
 * it was lost), in one script so instances never race.
 */
export function redisRateLimitCounter(shared: SharedRedis): RateLimitCounter {
  return async (bucket, windowMs) => {
    const key = `${shared.prefix}:ratelimit:${bucket}`;
    const result = await shared.run(
      (redis) => redis.eval(RATE_LIMIT_SCRIPT, 1, key, String(windowMs)),
      COUNT_TIMEOUT_MS,
    );
    const [count, ttl] = Array.isArray(result) ? (result as unknown[]) : [];
    if (typeof count !== 'number' || typeof ttl !== 'number') {
      throw new Error(`unexpected rate-limit answer from Redis: ${JSON.stringify(result)}`);
    }
    return { count, resetMs: Math.max(0, ttl) };
  };
}

/** Options of {@link rateLimitHook}. */
export interface RateLimitOptions {
  /** Counts one hit in the shared store ({@link redisRateLimitCounter}); absent: no limit. */
  hit: RateLimitCounter | undefined;
  /** Requests one client may make per window. */
  max: number;
  windowMs: number;
  /** The bucket's name in the store: routes given the same name share one count. */
  name: string;
}

/**
 * An `onRequest` hook that counts a route's requests per client (its API key, else its
 * address; see {@link clientId}) in Redis, so the limit holds across API instances, and answers
 * 429 `RNNLM_RATE_LIMITED` with `Retry-After` over the limit. Every answer carries
 * `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds).
 *
 * When Redis does not answer, the hook fails open: it logs a warning and lets the request
 * through. Generation and scoring do not need Redis, so an outage of the job store should not
 * also take inference down; the in-flight cap and the overload guard still bound the load.
 */
export function rateLimitHook(options: RateLimitOptions) {
  const { hit, max, windowMs, name } = options;
  return async function rateLimit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (hit === undefined) return;
    let counted: RateLimitHit;
    try {
      counted = await hit(`${name}:${clientId(request)}`, windowMs);
    } catch (err) {
      // Debug only: the job service logs the outage once as it starts and once as it ends.
      request.log.debug(
        { err },
        'rate limit not checked: the store does not answer; letting the request through',
      );
      return;
    }
    const resetSeconds = Math.max(1, Math.ceil(counted.resetMs / 1000));
    reply.header('x-ratelimit-limit', String(max));
    reply.header('x-ratelimit-remaining', String(Math.max(0, max - counted.count)));
    reply.header('x-ratelimit-reset', String(resetSeconds));
    if (counted.count > max) {
      reply.header('retry-after', String(resetSeconds));
      throw errors.rateLimited(max, windowMs, resetSeconds);
    }
  };
}
