import type { FastifyReply, FastifyRequest } from 'fastify';

import { RnnlmError } from '../../errors.js';
import type { RateLimitHit } from '../../queue/types.js';
import { clientId } from './auth.js';

/** Options of {@link rateLimitHook}. */
export interface RateLimitOptions {
  /** Counts one hit in the shared store (RedisJobService.hitRateLimit); absent: no limit. */
  hit: ((bucket: string, windowMs: number) => Promise<RateLimitHit>) | undefined;
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
      throw new RnnlmError(
        'RNNLM_RATE_LIMITED',
        `rate limit of ${max} requests per ${windowMs} ms reached; retry in ${resetSeconds} s`,
        { limit: max, windowMs, retryAfterSeconds: resetSeconds },
      );
    }
  };
}
