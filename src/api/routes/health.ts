import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { errors, isRnnlmError } from '../../errors.js';
import { evictionWarning } from '../../queue/connection.js';
import type { ModelService } from '../../contracts/models.js';
import type { JobService } from '../../queue/types.js';
import type { ApiSettings } from '../settings.js';
import { errorResponses, json } from '../schemas/common.js';

export interface HealthRoutesOptions {
  jobs: JobService;
  settings: ApiSettings;
  /** Resolves once the engine that runs the models has started: the probe never starts one itself. */
  engineReady: ModelService['ready'];
}

/** How long a probe waits for the inference engine to start the first time. */
const BACKEND_TIMEOUT_MS = 10_000;

/** Alive or ready, with what an operator should fix though the service runs (present only when there is some). */
const healthSchema = z
  .object({
    status: z.enum(['ok', 'ready']),
    warnings: z
      .array(z.string())
      .optional()
      .describe(
        "`/readyz` only, and only when there is something to fix: Redis's `maxmemory-policy` is not " +
          '`noeviction` (a full Redis would evict jobs), or it is unknown because Redis refuses ' +
          '`CONFIG GET`; the wasm or cpu backend runs without the native engine (about ten times ' +
          'slower). The service is ready all the same; the warnings are also logged at start.',
      ),
    kernels: z
      .object({
        native: z.boolean(),
        build: z.string().nullable(),
        core: z
          .string()
          .nullable()
          .describe('The instruction set oneDNN runs on this CPU (avx2, avx512_core, …).'),
        threads: z.number().int().nullable(),
        reason: z.string().nullable(),
      })
      .optional()
      .describe(
        '`/readyz` only: the kernels this process computes with (the native oneDNN engine or tfjs alone) and their threads.',
      ),
  })
  .meta({ id: 'Health' });

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

/**
 * On the wasm and cpu backends the native engine trains about ten times faster than tfjs
 * alone; a service that runs without it is ready, but slow, and says why.
 */
function slowEngineWarning(backend: string, native: boolean, reason: string | null): string | undefined {
  if (native || (backend !== 'wasm' && backend !== 'cpu')) return undefined;
  return (
    `the native engine (oneDNN) is not in use${reason === null ? '' : ` (${reason})`}: models run and ` +
    'train on tfjs alone, about ten times slower; install libdnnl-dev and run npm run build:native ' +
    '(npm start does both when run as root)'
  );
}

/** Liveness and readiness probes. */
export const healthRoutes: FastifyPluginCallbackZod<HealthRoutesOptions> = (
  app,
  { jobs, settings, engineReady },
  done,
) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['service'],
        operationId: 'healthz',
        security: [],
        summary: 'The process is alive',
        response: { 200: json(healthSchema, 'Alive.') },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  const readyz = {
    tags: ['service'],
    operationId: 'readyz',
    security: [],
    summary: 'Redis answers and the service can take requests',
    response: {
      200: json(
        healthSchema,
        'Ready; `warnings` lists what to fix, such as a Redis that may evict keys or a missing native engine.',
      ),
      503: errorResponses.unavailable,
    },
  };
  app.get('/readyz', { schema: readyz }, async (request) => {
    const redis = within(jobs.ping(), settings.readyTimeoutMs, 'Redis').catch((err: unknown) => {
      // The outage itself is logged once by the job service; a probe every few seconds is not news.
      request.log.debug({ err }, 'not ready: Redis does not answer');
      throw isRnnlmError(err, 'RNNLM_REDIS_UNAVAILABLE') ? err : errors.redisUnavailable(undefined, err);
    });
    // Started once per process; only the first probe waits for it.
    const backend = within(engineReady(), BACKEND_TIMEOUT_MS, 'the tfjs backend').catch((err: unknown) => {
      request.log.warn({ err }, 'not ready: the tfjs backend did not start');
      throw isRnnlmError(err, 'RNNLM_BACKEND_UNAVAILABLE') ? err : errors.backendNotStarted('tfjs', err);
    });
    // A Redis that may evict keys still serves, so it is a warning rather than a 503.
    const policy =
      jobs.maxmemoryPolicy === undefined
        ? undefined
        : within(jobs.maxmemoryPolicy(), settings.readyTimeoutMs, 'Redis').catch(() => 'unknown');
    const [, info, maxmemoryPolicy] = await Promise.all([redis, backend, policy]);
    // The inference thread's engine: the one that serves (the API thread computes nothing).
    const { inUse, ...native } = info.native;
    const warnings = [
      maxmemoryPolicy === undefined ? undefined : evictionWarning(maxmemoryPolicy),
      slowEngineWarning(info.name, inUse, native.reason),
    ].filter((w): w is string => w !== undefined);
    const kernels = { native: inUse, ...native };
    return warnings.length === 0
      ? { status: 'ready' as const, kernels }
      : { status: 'ready' as const, warnings, kernels };
  });
  done();
};
