/**
 * OpenAI-compatible routes, so that OpenAI's clients and the tools built on them (SDKs,
 * evaluation harnesses) work against rnnlm unchanged: `GET /v1/models` and
 * `POST /v1/completions`, with the same keys, rate limit and batching as /generate. Every
 * error on /v1 answers in OpenAI's shape (src/api/errors.ts: `toOpenAiError`).
 */
import { randomUUID } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';

import { isModelId } from '../../ids.js';
import type { ModelInfo, ModelService } from '../../contracts/models.js';
import { errors } from '../../errors.js';
import type { ApiSettings } from '../settings.js';
import { toErrorBody, toOpenAiError } from '../errors.js';
import { runCompletion, type CompletionPlan } from '../openai-completion.js';
import type { InflightLimiter } from '../plugins/inflight.js';
import type { ApiMetrics } from '../plugins/metrics.js';
import { rateLimitHook, type RateLimitCounter } from '../plugins/rate-limit.js';
import { json, text } from '../schemas/common.js';
import {
  completionBodySchema,
  completionSchema,
  MAX_CHOICES,
  openAiErrorSchema,
  openAiModelListSchema,
  openAiModelParamsSchema,
  openAiModelSchema,
  type CompletionRequest,
} from '../schemas/openai.js';
import { SseStream } from '../sse.js';
import type { StateHandles } from '../states.js';
import { clientGone, requestModel } from './inference.js';

export interface OpenAiRoutesOptions {
  models: ModelService;
  states: StateHandles;
  settings: ApiSettings;
  /** The cap on generations in flight, shared with /generate. */
  generations: InflightLimiter;
  /** Counts rate-limit hits in Redis (one count with /generate and /score); absent: no limit. */
  hitRateLimit: RateLimitCounter | undefined;
  metrics: ApiMetrics;
}

const error = (description: string) => json(openAiErrorSchema, description);

const refusals = {
  400: error('The request is invalid, or asks for what rnnlm cannot do (`suffix`, `best_of`, chat fields).'),
  401: error('The server has API keys and the request carries none, or a wrong one.'),
  404: error('No such model (`RNNLM_MODEL_NOT_FOUND`) or state (`RNNLM_STATE_NOT_FOUND`).'),
  409: error('The model is not complete, or the state was kept by another model.'),
  429: error('Over the rate limit shared with `/generate` and `/score`; see `Retry-After`.'),
  503: error('Overloaded, or Redis does not answer; see `Retry-After`.'),
};

/** Fields of OpenAI's chat API: a completions request with one was meant for another route. */
const CHAT_FIELDS = [
  'messages',
  'tools',
  'tool_choice',
  'functions',
  'function_call',
  'response_format',
  'max_completion_tokens',
  'parallel_tool_calls',
  'reasoning_effort',
  'modalities',
  'audio',
  'prediction',
  'top_logprobs',
  'web_search_options',
];

/** A chat request sent here is refused by name, before the schema reports its keys as unknown. */
function refuseChatFields(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const body = request.body;
  const field = typeof body === 'object' && body !== null ? CHAT_FIELDS.find((f) => f in body) : undefined;
  if (field === undefined) done();
  else
    done(
      errors.invalidRequest(
        field,
        'a chat-completions field: rnnlm serves /v1/completions only, for text prompts',
      ),
    );
}

/** What rnnlm cannot honour, refused with the field named; the prompts as a list of texts. */
function checkRequest(req: CompletionRequest): string[] {
  if (req.suffix !== undefined && req.suffix !== '')
    throw errors.invalidRequest(
      'suffix',
      'not supported: a left-to-right recurrent model cannot fill in text',
    );
  const n = req.n ?? 1;
  if (req.best_of !== undefined && req.best_of !== n)
    throw errors.invalidRequest('best_of', `must equal n (${n}): rnnlm does not rank extra completions`);
  for (const field of ['frequency_penalty', 'presence_penalty'] as const) {
    const value = req[field];
    if (value !== undefined && value !== 0) throw errors.invalidRequest(field, 'not supported (only 0)');
  }
  const prompt = req.prompt ?? '';
  const prompts = typeof prompt === 'string' ? [prompt] : prompt;
  if (!prompts.every((p): p is string => typeof p === 'string'))
    throw errors.invalidRequest('prompt', 'token-id prompts are not supported: send the prompt as text');
  if (prompts.length * n > MAX_CHOICES)
    throw errors.invalidRequest(
      'n',
      `prompts times n is ${prompts.length * n}, over ${MAX_CHOICES} completions per request`,
    );
  if (req.stream !== true && req.stream_options !== undefined)
    throw errors.invalidRequest('stream_options', 'only for stream: true');
  return prompts;
}

function openAiModel(model: ModelInfo) {
  return {
    id: model.id,
    object: 'model' as const,
    created: Math.floor(Date.parse(model.createdAt) / 1000),
    owned_by: 'rnnlm',
  };
}

export const openAiRoutes: FastifyPluginCallbackZod<OpenAiRoutesOptions> = (app, options, done) => {
  const { models, states, settings, generations, hitRateLimit } = options;
  const rateLimit = rateLimitHook({
    hit: hitRateLimit,
    max: settings.rateLimit.max,
    windowMs: settings.rateLimit.windowMs,
    name: 'inference',
  });

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['openai'],
        operationId: 'openaiListModels',
        summary: 'The models, as OpenAI lists them',
        response: {
          200: json(openAiModelListSchema, 'Every model.'),
          401: refusals[401],
          503: refusals[503],
        },
      },
    },
    async () => ({ object: 'list' as const, data: (await models.list()).map(openAiModel) }),
  );

  app.get(
    '/v1/models/:model',
    {
      schema: {
        tags: ['openai'],
        operationId: 'openaiGetModel',
        summary: 'One model, as OpenAI shows it',
        params: openAiModelParamsSchema,
        response: { 200: json(openAiModelSchema, 'The model.'), ...refusals },
      },
    },
    async (request) => {
      const id = request.params.model;
      const model = isModelId(id) ? await models.get(id) : undefined;
      if (model === undefined) throw errors.modelNotFound(id);
      return openAiModel(model);
    },
  );

  async function complete(request: FastifyRequest, reply: FastifyReply, req: CompletionRequest) {
    const prompts = checkRequest(req);
    if (!isModelId(req.model)) throw errors.modelNotFound(req.model);
    const { info, state } = await requestModel(models, states, {
      model: req.model,
      state: req.state,
      saveState: req.save_state,
    });
    const vocab = info.tokenizer.vocabSize;
    const outside = Object.keys(req.logit_bias ?? {}).find(
      (key) => !/^\d+$/.test(key) || Number(key) >= vocab,
    );
    if (outside !== undefined)
      throw errors.invalidRequest(
        'logit_bias',
        `keys are token ids of this model, below ${vocab}: not ${outside}`,
      );
    const head = {
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      object: 'text_completion' as const,
      created: Math.floor(Date.now() / 1000),
      model: req.model,
    };
    const plan = (signal: AbortSignal): CompletionPlan => ({
      request: req,
      model: info,
      prompts,
      n: req.n ?? 1,
      state,
      signal,
    });
    // Generations take a slot of the cap /generate shares; scoring the prompt alone does not.
    const release = req.echo === true && req.max_tokens === 0 ? () => undefined : generations.acquire();
    try {
      if (req.stream !== true) return { ...head, ...(await runCompletion(options, plan(clientGone(reply)))) };
      await streamCompletion(request, reply, head, plan);
      return reply;
    } finally {
      release();
    }
  }

  /** `data: {chunk}` events, then (with `include_usage`) a chunk with the usage, then `data: [DONE]`. */
  async function streamCompletion(
    request: FastifyRequest,
    reply: FastifyReply,
    head: { id: string; object: 'text_completion'; created: number; model: string },
    plan: (signal: AbortSignal) => CompletionPlan,
  ): Promise<void> {
    const req = request.body as CompletionRequest;
    // Once the stream is open its status is sent: a full wait queue must be a 503 before that.
    models.checkCapacity?.('generate', req.model);
    const stream = new SseStream(reply, settings.closing, { endOnClose: false });
    try {
      const { usage } = await runCompletion(options, plan(stream.signal), {
        piece: (choice) => stream.send({ data: { ...head, choices: [choice] } }),
      });
      if (req.stream_options?.include_usage === true)
        await stream.send({ data: { ...head, choices: [], usage } });
    } catch (err) {
      if (!stream.closed) {
        const body = toErrorBody(err, {
          method: request.method,
          contentType: request.headers['content-type'],
        });
        if (body.statusCode >= 500) request.log.error({ err }, 'streamed completion failed');
        await stream.send({ data: toOpenAiError(body) });
      }
    } finally {
      await stream.sendRaw('[DONE]');
      stream.end();
    }
  }

  app.post(
    '/v1/completions',
    {
      onRequest: rateLimit,
      preValidation: refuseChatFields,
      schema: {
        tags: ['openai'],
        operationId: 'openaiCreateCompletion',
        summary: "Complete or score text, as OpenAI's completions API",
        description: [
          "OpenAI's `POST /v1/completions` as the `openai` client sends it. `echo: true` with",
          '`max_tokens: 0` and `logprobs` scores the prompt (the sum of its `token_logprobs` is',
          "`POST /score`'s `-nll`). With `stream: true` the answer is `data: {chunk}` events ending",
          'with `data: [DONE]`. Extensions: `top_k`, and `state` / `save_state` to continue from a',
          'kept recurrent state (see `/states`).',
        ].join(' '),
        body: completionBodySchema(settings.maxGenerateTokens),
        response: {
          200: {
            description: 'The completion, or (streaming) its chunks.',
            content: {
              'application/json': { schema: completionSchema },
              ...text(
                'text/event-stream',
                '',
                '`data: {Completion chunk}` per piece of text of a choice (its `finish_reason` on its last), then `data: [DONE]`.',
              ).content,
            },
          },
          ...refusals,
          415: error('The body is not JSON.'),
        },
      },
    },
    async (request, reply) => complete(request, reply, request.body),
  );
  done();
};
