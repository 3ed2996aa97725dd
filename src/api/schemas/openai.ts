/**
 * OpenAI's completions API as rnnlm serves it under /v1 (the shapes the `openai` client
 * sends and parses), with rnnlm's extensions: `top_k`, and `state` / `save_state` for kept
 * recurrent states. Fields a character or word model cannot honour are refused by the route
 * (src/api/routes/openai.ts), in OpenAI's error shape.
 */
import { z } from 'zod';

import { MAX_LOGIT_BIAS } from '../../ml/generate/logits.js';
import { MAX_TOP_N } from './inference.js';
import { stateIdSchema, stateInfoSchema } from './states.js';

/** Completions one request may ask for: prompts times `n`. */
export const MAX_CHOICES = 32;

/** OpenAI's error body, which every /v1 route answers with. */
export const openAiErrorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z
        .string()
        .describe(
          '`invalid_request_error` (4xx), `authentication_error` (401), `rate_limit_error` (429) or `server_error` (5xx).',
        ),
      param: z.string().nullable().describe('The request field at fault, where one is.'),
      code: z
        .string()
        .describe("rnnlm's stable error code (`RNNLM_MODEL_NOT_FOUND`, ...), as on every route."),
    }),
  })
  .meta({ id: 'OpenAIError' });

/** A field OpenAI clients may send as null to mean "not set". */
const optional = <T extends z.ZodType>(schema: T) =>
  schema
    .nullish()
    .transform((v) => v ?? undefined)
    .optional();

const text = z.string().max(100_000);

/** One body schema per token limit, as `generateBodySchema`. */
const completionBodies = new Map<number, ReturnType<typeof makeCompletionBody>>();

/** `POST /v1/completions`. `maxTokens` is the service's RNNLM_MAX_GENERATE_TOKENS. */
export function completionBodySchema(maxTokens: number) {
  let schema = completionBodies.get(maxTokens);
  if (schema === undefined) {
    schema = makeCompletionBody(maxTokens);
    completionBodies.set(maxTokens, schema);
  }
  return schema;
}

function makeCompletionBody(maxTokens: number) {
  return z
    .object({
      model: z.string().min(1).max(200).describe('A model id, as `GET /v1/models` lists them.'),
      prompt: optional(
        z.union([
          text,
          z.array(text).min(1).max(MAX_CHOICES),
          z.array(z.number().int()),
          z.array(z.array(z.number().int())),
        ]),
      ).describe('Text, or several texts (a choice each). Token-id prompts are refused: send text.'),
      max_tokens: optional(z.number().int().min(0).max(maxTokens))
        .default(Math.min(16, maxTokens))
        .describe('Tokens to sample per choice (16 by default, as OpenAI); 0 with `echo` scores the prompt.'),
      temperature: optional(z.number().min(0).max(100)).describe('0 is greedy; 1 by default.'),
      top_p: optional(z.number().gt(0).max(1)),
      top_k: optional(z.number().int().min(-1)).describe(
        'Extension: keep the k most likely tokens (0 or -1: off).',
      ),
      n: optional(z.number().int().min(1).max(MAX_CHOICES)).describe('Completions per prompt.'),
      best_of: optional(z.number().int().min(1)).describe(
        'Only `n` (or unset) is accepted: no ranking happens.',
      ),
      stop: optional(z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(16)])),
      seed: optional(z.number().int()).describe(
        'The same seed, model and options give the same text; choice i of n uses seed + i.',
      ),
      stream: optional(z.boolean()),
      stream_options: optional(
        z
          .object({ include_usage: optional(z.boolean()) })
          .describe('`include_usage`: a last chunk with `usage`.'),
      ),
      logprobs: optional(z.number().int().min(0).max(MAX_TOP_N)).describe(
        "Each token's log-probability and the `logprobs` most likely tokens at its position (at most 20).",
      ),
      echo: optional(z.boolean()).describe(
        "Answer the prompt before the completion, with its tokens' log-probabilities under `logprobs`.",
      ),
      logit_bias: optional(
        z.record(z.string(), z.number().min(-MAX_LOGIT_BIAS).max(MAX_LOGIT_BIAS)),
      ).describe("Added to these tokens' logits (keys: token ids of the model's vocabulary)."),
      user: optional(z.string().max(256)),
      suffix: optional(z.string()).describe('Refused unless empty: a left-to-right model cannot fill in.'),
      frequency_penalty: optional(z.number()).describe('Only 0 is accepted.'),
      presence_penalty: optional(z.number()).describe('Only 0 is accepted.'),
      state: optional(stateIdSchema).describe(
        'Extension: continue from this kept state (see `/states`); the prompt is read after it.',
      ),
      save_state: optional(z.boolean()).describe(
        "Extension: keep each choice's state after its prompt and completion; its handle is `state` in the choice.",
      ),
    })
    .strict()
    .meta({ id: 'CompletionRequest' });
}

export type CompletionRequest = z.output<ReturnType<typeof completionBodySchema>>;

const logprobsSchema = z
  .object({
    tokens: z.array(z.string()),
    token_logprobs: z
      .array(z.number().nullable())
      .describe('null for a first token nothing precedes (a model without a line-break token).'),
    top_logprobs: z.array(z.record(z.string(), z.number()).nullable()),
    text_offset: z
      .array(z.number().int())
      .describe("Where each token starts in the choice's text, in code points."),
  })
  .meta({ id: 'CompletionLogprobs' });

export const completionChoiceSchema = z
  .object({
    index: z.number().int(),
    text: z.string(),
    logprobs: logprobsSchema.nullable(),
    finish_reason: z.enum(['stop', 'length']).nullable(),
    state: stateInfoSchema
      .optional()
      .describe('Extension, with `save_state`: the kept state after this choice.'),
  })
  .meta({ id: 'CompletionChoice' });

export const usageSchema = z
  .object({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int(),
  })
  .meta({ id: 'CompletionUsage' });

export const completionSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int().describe('Unix time, in seconds.'),
    model: z.string(),
    choices: z.array(completionChoiceSchema),
    usage: usageSchema.optional(),
  })
  .meta({ id: 'Completion' });

export type Completion = z.output<typeof completionSchema>;
export type CompletionChoice = z.output<typeof completionChoiceSchema>;
export type CompletionLogprobs = z.output<typeof logprobsSchema>;
export type CompletionUsage = z.output<typeof usageSchema>;

export const openAiModelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int().describe('Unix time, in seconds.'),
    owned_by: z.string(),
  })
  .meta({ id: 'OpenAIModel' });

export const openAiModelListSchema = z
  .object({ object: z.literal('list'), data: z.array(openAiModelSchema) })
  .meta({ id: 'OpenAIModelList' });

export const openAiModelParamsSchema = z.object({ model: z.string().min(1).max(200) }).strict();
