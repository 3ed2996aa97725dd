import fp from 'fastify-plugin';

import { errors } from '../../errors.js';

/**
 * Seconds a draining process tells its clients to wait: by then a load balancer has taken it
 * out, so the retry reaches another instance.
 */
export const DRAIN_RETRY_AFTER_SECONDS = 1;

/** Options of {@link drainGuard}. */
export interface DrainGuardOptions {
  /** Aborts when the process starts to drain. */
  draining: AbortSignal;
  /** Routes (as registered) still answered while draining: liveness and metrics scrapes. */
  exemptRoutes: readonly string[];
}

/**
 * Once `draining` aborts, every new request but the exempt ones (`/readyz` included, so a load
 * balancer stops sending) answers 503 `RNNLM_SHUTTING_DOWN` with `Retry-After`; requests and
 * streams already in flight are not touched and run to their end.
 */
export const drainGuard = fp<DrainGuardOptions>(
  (app, { draining, exemptRoutes }, done) => {
    const exempt = new Set(exemptRoutes);
    app.addHook('onRequest', (request, _reply, next) => {
      const route = request.routeOptions.url;
      if (!draining.aborted || (route !== undefined && exempt.has(route))) {
        next();
        return;
      }
      next(errors.shuttingDown(DRAIN_RETRY_AFTER_SECONDS));
    });
    done();
  },
  { name: 'rnnlm-drain', fastify: '5.x' },
);
