import { z } from 'zod';

import { modelIdSchema, queryBooleanSchema } from './common.js';

/** Alternatives per step a generation's details list at most. */
export const MAX_TOP_N = 20;

/** Sampling fields shared by the query of `GET /generate` and the body of `POST /generate`. */
function samplingFields(maxTokens: number, num: (schema: z.ZodNumber) => z.ZodType<number, unknown>) {
  return {
    model: modelIdSchema,
    prompt: z.string().max(100_000).default(''),
    maxTokens: num(z.number().int().min(0).max(maxTokens)).default(Math.min(200, maxTokens)),
    temperature: num(z.number().min(0).max(100)).default(1),
    topK: num(z.number().int().min(0)).optional(),
    topP: num(z.number().gt(0).max(1)).optional(),
    seed: num(
      z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1),
    ).optional(),
    /** With `details`: the most likely tokens of each step too. */
    topN: num(z.number().int().min(0).max(MAX_TOP_N)).optional(),
  };
}

const stopListSchema = z.array(z.string().min(1).max(200)).max(16);

/**
 * `GET /generate`: numbers arrive as strings, `stop` may repeat, `stream` is a query boolean.
 * `maxTokens` is bounded by the service's limit, so a request over it is a 400.
 */
export function generateQuerySchema(maxTokens: number) {
  return z
    .object({
      ...samplingFields(maxTokens, (n) => z.coerce.number().pipe(n)),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional(),
      stream: queryBooleanSchema.optional(),
      details: queryBooleanSchema.optional(),
    })
    .strict();
}

/** `POST /generate`: the same fields as JSON. */
export function generateBodySchema(maxTokens: number) {
  return z
    .object({
      ...samplingFields(maxTokens, (n) => n),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional(),
      stream: z.boolean().optional(),
      details: z.boolean().optional(),
    })
    .strict();
}

export type GenerateRequest = z.output<ReturnType<typeof generateBodySchema>>;

const tokenLogprobSchema = z.object({ token: z.string(), id: z.number().int(), logprob: z.number() });

/** A sampled token in a generation's details, with the step's most likely tokens when asked. */
export const tokenDetailSchema = tokenLogprobSchema.extend({ top: z.array(tokenLogprobSchema).optional() });

export const generateResultSchema = z.object({
  model: z.string(),
  prompt: z.string(),
  text: z.string(),
  tokens: z.number().int(),
  finishReason: z.enum(['length', 'stop', 'eos']),
  details: z.object({ tokens: z.array(tokenDetailSchema) }).optional(),
});

export const scoreBodySchema = z
  .object({
    model: modelIdSchema,
    text: z.string().min(1),
    context: z.string().optional(),
    details: z.boolean().default(false),
  })
  .strict();

export const scoreResultSchema = z.object({
  model: z.string(),
  tokens: z.number().int(),
  characters: z.number().int(),
  nll: z.number(),
  meanNll: z.number(),
  perplexity: z.number(),
  bitsPerChar: z.number(),
  tokenLogprobs: z.array(tokenLogprobSchema).optional(),
});
