import { getHeapStatistics } from 'node:v8';

import helmet from '@fastify/helmet';
import underPressure from '@fastify/under-pressure';
import fp from 'fastify-plugin';

import { errors } from '../../errors.js';

/** Seconds an overloaded server tells its clients to wait. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 10;

/** Options of {@link protections}. */
export interface ProtectionsOptions {
  /** Mean event-loop delay (ms) over which requests are refused; 0 turns the check off. */
  maxEventLoopDelayMs: number;
  /** Used V8 heap (bytes) over which requests are refused; 0 means 90% of the heap limit. */
  maxHeapUsedBytes: number;
  /**
   * Routes (as registered) answered even under pressure: the liveness probe must not make an
   * orchestrator restart a process that is merely busy.
   * @defaultValue `['/healthz']`
   */
  exemptRoutes?: readonly string[] | undefined;
}

/** The heap limit used when none is configured: 90% of what V8 may grow the heap to. */
export function defaultMaxHeapUsedBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * 0.9);
}

/**
 * Security headers (`@fastify/helmet`) on every answer, and the overload guard
 * (`@fastify/under-pressure`): while the event loop lags or the heap is over its limit, every
 * route but the exempt ones answers 503 `RNNLM_OVERLOADED` with `Retry-After`.
 *
 * Helmet's Content-Security-Policy suits the JSON API; Swagger UI at `/docs` replaces it with
 * its own (see src/api/routes/docs.ts), which allows the page's local scripts and styles.
 * `upgrade-insecure-requests` is left out: the service may be reached over plain HTTP, where
 * it would make a browser ask for every asset over HTTPS.
 */
export const protections = fp<ProtectionsOptions>(
  async (app, options) => {
    await app.register(helmet, {
      global: true,
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    });
    const exempt = new Set(options.exemptRoutes ?? ['/healthz']);
    await app.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes: options.maxHeapUsedBytes > 0 ? options.maxHeapUsedBytes : defaultMaxHeapUsedBytes(),
      retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
      pressureHandler: (request, _reply, type, value) => {
        const route = request.routeOptions.url;
        if (route !== undefined && exempt.has(route)) return;
        request.log.warn({ type, value }, 'refusing a request: the server is overloaded');
        return Promise.reject(errors.serverOverloaded(type, OVERLOAD_RETRY_AFTER_SECONDS));
      },
    });
  },
  { name: 'rnnlm-protections', fastify: '5.x' },
);
