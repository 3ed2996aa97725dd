import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';

import type { Config } from '../config.js';
import type { ModelService } from '../contracts/models.js';
import type { JobService } from '../queue/types.js';
import { errors, isRnnlmError } from '../errors.js';
import { EXPECTED_5XX, isOpenAiUrl, toErrorBody, toOpenAiError } from './errors.js';
import { DASHBOARD_PUBLIC_ROUTES, dashboardRoutes } from './routes/dashboard.js';
import { docsRoutes, openapiCollector } from './routes/docs.js';
import { exportRoutes } from './routes/export.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';
import { jobsRoutes } from './routes/jobs.js';
import { modelsRoutes } from './routes/models.js';
import { queueBoardRoutes } from './routes/queue-board.js';
import { openAiRoutes } from './routes/openai.js';
import { statesRoutes } from './routes/states.js';
import { RedisStateStore } from '../queue/state-store.js';
import { apiSettings, type ApiSettings } from './settings.js';
import { StateHandles } from './states.js';
import { apiKeyAuth } from './plugins/auth.js';
import { drainGuard } from './plugins/drain.js';
import { InflightLimiter } from './plugins/inflight.js';
import { ApiMetrics, metricsPlugin } from './plugins/metrics.js';
import { strictJsonBody, strictQueryString } from './plugins/json-body.js';
import { protections } from './plugins/protections.js';
import { redisRateLimitCounter } from './plugins/rate-limit.js';

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
   * Aborts when the process begins to shut down (SIGTERM), before the server closes: from then
   * on `/readyz` and every new request but `/healthz` and `/metrics` answer 503
   * `RNNLM_SHUTTING_DOWN` with `Retry-After`, while requests and streams in flight go on.
   * Closing the app does the same without it.
   */
  draining?: AbortSignal | undefined;
  /**
   * Called with the new instance before any route is registered, to add hooks that must see
   * every route (the OpenAPI test collects the routes with an `onRoute` hook).
   */
  configure?: ((app: FastifyInstance) => void) | undefined;
}

/**
 * How often Node looks for requests over their time: a fraction of the request timeout, so a
 * slow-drip body is cut off soon after its time is up (Node's default is every 30 s).
 */
function connectionsCheckingInterval(requestTimeoutMs: number): number {
  return Math.min(1000, Math.max(50, Math.floor(requestTimeoutMs / 4)));
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
    const generations = new InflightLimiter(settings.maxInflightGenerations);
    const metrics = new ApiMetrics({
      jobs,
      models,
      generations,
      logger: app.log,
      dataDir: settings.dataDir,
    });
    const hitRateLimit = jobs.shared === undefined ? undefined : redisRateLimitCounter(jobs.shared);
    const states = new StateHandles(
      jobs.shared === undefined ? undefined : new RedisStateStore(jobs.shared, settings.states),
    );
    // Before any route, so that the OpenAPI document sees every one.
    await app.register(openapiCollector);
    // First, so every answer (a 401, 429 or 503 included) carries the security headers. An
    // overloaded server still answers its scrapes: that is when they matter most.
    await app.register(protections, { ...settings.overload, exemptRoutes: ['/healthz', '/metrics'] });
    // Before authentication: a draining process refuses everyone alike, and says so first.
    await app.register(drainGuard, { draining: settings.draining, exemptRoutes: ['/healthz', '/metrics'] });
    await app.register(metricsPlugin, { metrics });
    // The probes, and the dashboard's page and assets, which hold no data (every call the page
    // makes needs the key).
    await app.register(apiKeyAuth, {
      keys: settings.apiKeys,
      publicRoutes: ['/healthz', '/readyz', ...DASHBOARD_PUBLIC_ROUTES],
    });
    // JSON (and multipart on POST /jobs) only: any other body is a 415, not a 400.
    app.removeContentTypeParser('text/plain');
    await app.register(strictJsonBody);
    await app.register(strictQueryString);
    app.setErrorHandler((err, request, reply) => {
      const body = toErrorBody(err, {
        url: request.url,
        contentType: request.headers['content-type'],
        method: request.method,
      });
      // A Redis outage is logged once by the job service as it starts and ends, not per request.
      if (body.statusCode >= 500 && !EXPECTED_5XX.has(body.code))
        request.log.error({ err }, 'request failed');
      else request.log.info({ code: body.code, message: body.message }, 'request refused');
      // A refusal that will pass later (429, 503 overloaded) says when to come back.
      const retryAfter = isRnnlmError(err) ? err.details?.retryAfterSeconds : undefined;
      if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
      return reply.code(body.statusCode).send(isOpenAiUrl(request.url) ? toOpenAiError(body) : body);
    });
    app.setNotFoundHandler((request, reply) => {
      const body = toErrorBody(errors.routeNotFound(request.method, request.url.split('?')[0] ?? ''));
      return reply.code(404).send(isOpenAiUrl(request.url) ? toOpenAiError(body) : body);
    });

    await app.register(healthRoutes, {
      jobs,
      settings,
      engineReady: () => models.ready(),
    });
    await app.register(jobsRoutes, { jobs, settings });
    await app.register(modelsRoutes, { models, states });
    await app.register(exportRoutes, { models });
    await app.register(inferenceRoutes, {
      models,
      states,
      settings,
      generations,
      hitRateLimit,
      metrics,
    });
    await app.register(openAiRoutes, {
      models,
      states,
      settings,
      generations,
      hitRateLimit,
      metrics,
    });
    await app.register(statesRoutes, { states });
    await app.register(docsRoutes);
    if (jobs.queue !== undefined) await app.register(queueBoardRoutes, { queue: jobs.queue });
    await app.register(dashboardRoutes);
  },
  { name: 'rnnlm-api', fastify: '5.x' },
);

/**
 * Builds the API (not listening: see src/api/server.ts). Tests drive it with `app.inject()`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const closing = new AbortController();
  const settings = apiSettings(config, {
    closing: closing.signal,
    draining: deps.draining,
    heartbeatSeconds: deps.heartbeatSeconds,
  });
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: bodyLimit(settings.maxCorpusBytes),
    requestIdHeader: 'x-request-id',
    // Idle keep-alive sockets are closed on close; event streams and generations in flight
    // end themselves when `closing` aborts, so their last bytes still reach the client.
    forceCloseConnections: 'idle',
    // A request that arrives on an open connection while the app closes is answered by
    // drainGuard: a 503 with `Retry-After` and the API's error body, not Fastify's bare one.
    return503OnClosing: false,
    // The whole request (headers and body) must arrive within the request timeout, its
    // headers within a minute at most, so a slow-drip client cannot hold a socket. A socket
    // with no traffic either way for twice that (and never less than a few heartbeats of an
    // event stream) is closed; the time a response takes is bounded by its own limits.
    requestTimeout: settings.requestTimeoutMs,
    connectionTimeout: Math.max(2 * settings.requestTimeoutMs, 4 * settings.heartbeatMs),
    http: {
      headersTimeout: Math.min(60_000, settings.requestTimeoutMs),
      connectionsCheckingInterval: connectionsCheckingInterval(settings.requestTimeoutMs),
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // A request still in flight when the process starts draining answers with
  // `Connection: close`, so its socket does not stay open, idle, until the client drops it,
  // and the client's next request opens a connection the load balancer sends elsewhere.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (settings.draining.aborted) reply.header('connection', 'close');
    done(null, payload);
  });
  deps.configure?.(app);
  await app.register(rnnlmApi, { jobs: deps.jobs, models: deps.models, settings });
  return app;
}
