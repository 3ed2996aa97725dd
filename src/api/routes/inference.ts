import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';

import type { GenerateOptions, GenerateResult } from '../../ml/generate/generate.js';
import type { RecurrentState, StateOptions, StateResult } from '../../ml/state.js';
import type { ModelInfo, ModelService } from '../../contracts/models.js';
import type { ApiSettings } from '../settings.js';
import { toErrorBody } from '../errors.js';
import type { InflightLimiter } from '../plugins/inflight.js';
import type { ApiMetrics } from '../plugins/metrics.js';
import { rateLimitHook, type RateLimitCounter } from '../plugins/rate-limit.js';
import { errorResponses, json, text, type ResponseDoc } from '../schemas/common.js';
import {
  generateBodySchema,
  generateQuerySchema,
  generateResultSchema,
  scoreBodySchema,
  scoreResultSchema,
  type GenerateRequest,
} from '../schemas/inference.js';
import { acceptsEventStream, SseStream } from '../sse.js';
import type { StateHandles } from '../states.js';
import { errors } from '../../errors.js';

export interface InferenceRoutesOptions {
  models: ModelService;
  /** Where requests' kept states are found and kept (`state`, `saveState`). */
  states: StateHandles;
  settings: ApiSettings;
  /** The cap on generations in flight, shared by GET and POST `/generate`. */
  generations: InflightLimiter;
  /** Counts rate-limit hits in Redis; absent: no rate limit. */
  hitRateLimit: RateLimitCounter | undefined;
  /** Observes the latency of each generation and scoring. */
  metrics: ApiMetrics;
}

/**
 * The model a request names, and the state it continues from (`state`): a 404 / 409 before any
 * work or stream starts. A request that will keep its state needs the store too.
 */
export async function requestModel(
  models: ModelService,
  states: StateHandles,
  req: { model: string; state?: string | undefined; saveState?: boolean | undefined },
): Promise<{ info: ModelInfo; state: RecurrentState | undefined }> {
  const info = await models.get(req.model);
  if (info === undefined) throw errors.modelNotFound(req.model);
  if (req.saveState === true) states.required();
  return { info, state: req.state === undefined ? undefined : await states.resolve(info, req.state) };
}

/**
 * Aborts when the client leaves before the answer is sent. A server that starts closing lets
 * generations in flight finish: they are bounded by maxTokens, and the shutdown by its deadline.
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

const generated: ResponseDoc = {
  description: 'The generated text, or (streaming) its events.',
  content: {
    'application/json': { schema: generateResultSchema },
    ...text(
      'text/event-stream',
      '',
      [
        '`event: token` with `data: {"text": "..."}` per piece of text, then `event: done` with',
        'a `GenerateResult`, or `event: error` with an `Error`.',
      ].join(' '),
    ).content,
  },
};

const generateResponses = {
  200: generated,
  400: errorResponses.badRequest,
  401: errorResponses.unauthorized,
  404: errorResponses.notFound,
  409: errorResponses.notReady,
  429: errorResponses.rateLimited,
  503: errorResponses.unavailable,
};

/** `/generate` and `/score`: inference on a published model, in this process. */
export const inferenceRoutes: FastifyPluginCallbackZod<InferenceRoutesOptions> = (
  app,
  { models, states, settings, generations, hitRateLimit, metrics },
  done,
) => {
  // One count per client for generation and scoring together, checked before the body is read.
  const rateLimit = rateLimitHook({
    hit: hitRateLimit,
    max: settings.rateLimit.max,
    windowMs: settings.rateLimit.windowMs,
    name: 'inference',
  });

  async function generate(request: FastifyRequest, reply: FastifyReply, req: GenerateRequest) {
    // A 503 when every slot is taken; given back however the generation ends.
    const release = generations.acquire();
    try {
      return await generateInSlot(request, reply, req);
    } finally {
      release();
    }
  }

  async function generateInSlot(request: FastifyRequest, reply: FastifyReply, req: GenerateRequest) {
    // Unknown or unfinished models (and states) answer 404 / 409 before any stream starts.
    const { info, state } = await requestModel(models, states, req);
    const options: GenerateOptions & StateOptions = {
      prompt: req.prompt,
      maxTokens: req.maxTokens,
      temperature: req.temperature,
      topK: req.topK,
      topP: req.topP,
      seed: req.seed,
      stop: req.stop,
      details: req.details,
      topN: req.topN,
      state,
      keepState: req.saveState,
    };
    /** The answer: the result, and the handle of its state when it kept one. */
    const answer = async ({ state: kept, ...result }: GenerateResult & StateResult) => ({
      model: req.model,
      prompt: req.prompt,
      ...result,
      state: req.saveState === true ? await states.keep(info, kept) : undefined,
    });
    const log = request.log.child({ modelId: req.model });
    // An explicit `stream` wins over the Accept header.
    if (!(req.stream ?? acceptsEventStream(request))) {
      const result = await metrics.timeGeneration(false, () =>
        models.generate(req.model, { ...options, signal: clientGone(reply) }),
      );
      log.debug({ tokens: result.tokens, finishReason: result.finishReason }, 'generated');
      return answer(result);
    }

    // Once the stream is open its status is sent: a full wait queue must be a 503 before that.
    models.checkCapacity?.('generate', req.model);
    const stream = new SseStream(reply, settings.closing, { endOnClose: false });
    let index = 0;
    try {
      const result = await metrics.timeGeneration(true, () =>
        models.generate(req.model, { ...options, signal: stream.signal }, async (text, tokens) => {
          index++;
          await stream.send({
            id: String(index),
            event: 'token',
            data: tokens === undefined ? { text } : { text, tokens },
          });
        }),
      );
      await stream.send({ id: String(index + 1), event: 'done', data: await answer(result) });
    } catch (err) {
      if (!stream.closed) {
        const body = toErrorBody(err, {
          method: request.method,
          contentType: request.headers['content-type'],
        });
        if (body.statusCode >= 500) log.error({ err }, 'streamed generation failed');
        await stream.send({ event: 'error', data: body });
      }
    } finally {
      stream.end();
    }
    return reply;
  }

  app.get(
    '/generate',
    {
      // A HEAD would run a whole generation to send no body.
      exposeHeadRoute: false,
      onRequest: rateLimit,
      schema: {
        tags: ['inference'],
        operationId: 'generateGet',
        summary: 'Generate text from a model',
        description: [
          'Answers JSON, or with `stream=true` (or `Accept: text/event-stream`) a stream of one',
          '`token` event per piece of text as it is sampled, then one `done` event with the',
          '`GenerateResult` (or an `error` event with an `Error`).',
        ].join(' '),
        querystring: generateQuerySchema(settings.maxGenerateTokens),
        response: generateResponses,
      },
    },
    async (request, reply) => generate(request, reply, request.query),
  );

  app.post(
    '/generate',
    {
      onRequest: rateLimit,
      schema: {
        tags: ['inference'],
        operationId: 'generatePost',
        summary: 'Generate text from a model (JSON body, for long prompts)',
        body: generateBodySchema(settings.maxGenerateTokens),
        response: { ...generateResponses, 415: errorResponses.unsupportedMediaType },
      },
    },
    async (request, reply) => generate(request, reply, request.body),
  );

  app.post(
    '/score',
    {
      onRequest: rateLimit,
      schema: {
        tags: ['inference'],
        operationId: 'score',
        summary: 'Score text under a model (negative log-likelihood, perplexity, bits per character)',
        body: scoreBodySchema,
        response: {
          200: json(scoreResultSchema, 'The score.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          409: errorResponses.notReady,
          415: errorResponses.unsupportedMediaType,
          429: errorResponses.rateLimited,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request) => {
      const { model, text, context, details, saveState } = request.body;
      const { info, state } = await requestModel(models, states, request.body);
      const { state: kept, ...result } = await metrics.timeScoring(() =>
        models.score(model, text, { context, details, state, keepState: saveState }),
      );
      return { model, ...result, state: saveState === true ? await states.keep(info, kept) : undefined };
    },
  );
  done();
};
