import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { isRnnlmError, RnnlmError } from '../../errors.js';
import { evictionWarning } from '../../queue/connection.js';
import type { ModelService } from '../../contracts/models.js';
import type { JobService } from '../../queue/types.js';
import type { ApiSettings } from '../app.js';
import { errorSchema } from '../schemas/common.js';

export interface HealthRoutesOptions {
  jobs: JobService;
  settings: ApiSettings;
  /** Resolves once the engine that runs the models has started: the probe never starts one itself. */
  engineReady: ModelService['ready'];
}

/** How long a probe waits for the inference engine to start the first time. */
const BACKEND_TIMEOUT_MS = 10_000;

const statusSchema = z.object({ status: z.enum(['ok', 'ready']) });
/** Ready, with what an operator should fix though the service runs (present only when there is some). */
const readySchema = statusSchema.extend({ warnings: z.array(z.string()).optional() });

/** Rejects when `promise` has not settled within `ms`: readiness must answer fast, not hang. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness and readiness probes. */
export const healthRoutes: FastifyPluginCallbackZod<HealthRoutesOptions> = (
  app,
  { jobs, settings, engineReady },
  done,
) => {
  app.get('/healthz', { schema: { response: { 200: statusSchema } } }, () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { response: { 200: readySchema, 503: errorSchema } } }, async (request) => {
    const redis = within(jobs.ping(), settings.readyTimeoutMs, 'Redis').catch((err: unknown) => {
      request.log.warn({ err }, 'not ready: Redis does not answer');
      throw isRnnlmError(err, 'RNNLM_REDIS_UNAVAILABLE')
        ? err
        : new RnnlmError('RNNLM_REDIS_UNAVAILABLE', 'Redis does not answer', undefined, { cause: err });
    });
    // Started once per process; only the first probe waits for it.
    const backend = within(engineReady(), BACKEND_TIMEOUT_MS, 'the tfjs backend').catch((err: unknown) => {
      request.log.warn({ err }, 'not ready: the tfjs backend did not start');
      throw isRnnlmError(err, 'RNNLM_BACKEND_UNAVAILABLE')
        ? err
        : new RnnlmError('RNNLM_BACKEND_UNAVAILABLE', 'the tfjs backend did not start', undefined, {
            cause: err,
          });
    });
    // A Redis that may evict keys still serves, so it is a warning rather than a 503.
    const policy =
      jobs.maxmemoryPolicy === undefined
        ? undefined
        : within(jobs.maxmemoryPolicy(), settings.readyTimeoutMs, 'Redis').catch(() => 'unknown');
    const [, , maxmemoryPolicy] = await Promise.all([redis, backend, policy]);
    const warning = maxmemoryPolicy === undefined ? undefined : evictionWarning(maxmemoryPolicy);
    return warning === undefined
      ? { status: 'ready' as const }
      : { status: 'ready' as const, warnings: [warning] };
  });
  done();
};
