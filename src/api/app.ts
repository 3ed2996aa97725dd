import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';

import type { Config } from '../config.js';
import type { JobService, ModelService } from '../queue/types.js';
import { toErrorBody } from './errors.js';
import { docsRoutes } from './routes/docs.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';
import { jobsRoutes } from './routes/jobs.js';
import { modelsRoutes } from './routes/models.js';
import type { JobLimits } from './schemas/jobs.js';

/** What the API is built from: the services behind it, its configuration and a pino logger. */
export interface AppDeps {
  config: Config;
  jobs: JobService;
  models: ModelService;
  /** A pino logger; requests log through child loggers carrying `reqId`. */
  logger: FastifyBaseLogger;
  /**
   * Seconds between SSE heartbeat comments while a stream has nothing to send.
   * @defaultValue 15
   */
  heartbeatSeconds?: number | undefined;
  /**
   * Called with the new instance before any route is registered, to add hooks that must see
   * every route (the OpenAPI test collects the routes with an `onRoute` hook).
   */
  configure?: ((app: FastifyInstance) => void) | undefined;
}

/** The settings the routes read, derived once from {@link Config}. */
export interface ApiSettings {
  maxCorpusBytes: number;
  maxGenerateTokens: number;
  limits: JobLimits;
  heartbeatMs: number;
  /** The tfjs backend `/readyz` waits for. */
  backend: Config['RNNLM_BACKEND'];
  /** How long `/readyz` waits for Redis before answering 503. */
  readyTimeoutMs: number;
  /** Aborts when the app closes, so open event streams end instead of holding it open. */
  closing: AbortSignal;
}

/** Room for JSON escaping and the other fields around a corpus of the largest allowed size. */
function bodyLimit(maxCorpusBytes: number): number {
  return maxCorpusBytes + Math.ceil(maxCorpusBytes / 8) + 1024 * 1024;
}

/**
 * The whole HTTP API as one plugin: error and not-found handlers, the routes, and the docs.
 * It is registered without encapsulation so its handlers apply to every route.
 */
export const rnnlmApi = fp<Omit<AppDeps, 'logger' | 'config'> & { settings: ApiSettings }>(
  async (app, { jobs, models, settings }) => {
    // JSON (and multipart on POST /jobs) only: any other body is a 415, not a 400.
    app.removeContentTypeParser('text/plain');
    app.setErrorHandler((err, request, reply) => {
      const body = toErrorBody(err, { url: request.url, contentType: request.headers['content-type'] });
      if (body.statusCode >= 500) request.log.error({ err }, 'request failed');
      else request.log.info({ code: body.code, message: body.message }, 'request refused');
      return reply.code(body.statusCode).send(body);
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({
        statusCode: 404,
        code: 'RNNLM_ROUTE_NOT_FOUND',
        error: 'Not Found',
        message: `Route ${request.method} ${request.url.split('?')[0] ?? ''} not found`,
      }),
    );

    await app.register(healthRoutes, { jobs, settings });
    await app.register(jobsRoutes, { jobs, settings });
    await app.register(modelsRoutes, { models });
    await app.register(inferenceRoutes, { models, settings });
    await app.register(docsRoutes);
  },
  { name: 'rnnlm-api', fastify: '5.x' },
);

/**
 * Builds the API (not listening: see src/api/server.ts). Tests drive it with `app.inject()`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const closing = new AbortController();
  const settings: ApiSettings = {
    maxCorpusBytes: config.RNNLM_MAX_CORPUS_BYTES,
    maxGenerateTokens: config.RNNLM_MAX_GENERATE_TOKENS,
    limits: {
      maxVocab: config.RNNLM_MAX_VOCAB,
      maxLayers: config.RNNLM_MAX_LAYERS,
      maxHidden: config.RNNLM_MAX_HIDDEN,
      maxEmbedding: config.RNNLM_MAX_EMBEDDING,
      maxSeqLength: config.RNNLM_MAX_SEQ_LENGTH,
      maxBatch: config.RNNLM_MAX_BATCH,
      maxSteps: config.RNNLM_MAX_STEPS,
    },
    heartbeatMs: (deps.heartbeatSeconds ?? 15) * 1000,
    backend: config.RNNLM_BACKEND,
    readyTimeoutMs: 1000,
    closing: closing.signal,
  };
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: bodyLimit(settings.maxCorpusBytes),
    requestIdHeader: 'x-request-id',
    // Idle keep-alive sockets are closed on close; event streams and generations in flight
    // end themselves when `closing` aborts, so their last bytes still reach the client.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // A request still in flight when the app starts closing answers with `Connection: close`,
  // so its socket does not stay open, idle, until the client drops it.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing.signal.aborted) reply.header('connection', 'close');
    done(null, payload);
  });
  deps.configure?.(app);
  await app.register(rnnlmApi, { jobs: deps.jobs, models: deps.models, settings });
  return app;
}
