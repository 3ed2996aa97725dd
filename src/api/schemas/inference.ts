import { z } from 'zod';

import { modelIdOut } from '../../queue/contracts.js';
import { modelIdSchema, queryBooleanSchema } from './common.js';

/**
 * Sampling fields shared by the query of `GET /generate` and the body of `POST /generate`;
 * `number` makes a number schema (coercing strings in a query).
 */
function samplingFields(maxTokens: number, number: () => z.ZodNumber) {
  return {
    model: modelIdSchema,
    prompt: z.string().max(100_000).default(''),
    maxTokens: number()
      .int()
      .min(0)
      .max(maxTokens)
      .default(Math.min(200, maxTokens))
      .describe(
        "Tokens to sample at most; bounded by the service's limit (RNNLM_MAX_GENERATE_TOKENS), " +
          'the default is 200 or that limit if lower.',
      ),
    temperature: number().min(0).max(100).default(1).describe('0 is greedy.'),
    topK: number().int().min(0).optional().describe('Keep the k most likely tokens (0 = off).'),
    topP: number().gt(0).max(1).optional().describe('Nucleus sampling (1 = off).'),
    seed: number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional()
      .describe('The same seed, model and options give the same text.'),
  };
}

const stopListSchema = z.array(z.string().min(1).max(200)).max(16);
const STOP_DESCRIPTION = 'Stop before the first occurrence of any of these';

/**
 * `GET /generate`: numbers arrive as strings, `stop` may repeat, `stream` is a query boolean.
 * `maxTokens` is bounded by the service's limit, so a request over it is a 400.
 */
export function generateQuerySchema(maxTokens: number) {
  return z
    .object({
      // A coerced number keeps its bounds in the OpenAPI document (a pipe would show the input side only).
      ...samplingFields(maxTokens, () => z.coerce.number()),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional()
        .describe(`${STOP_DESCRIPTION} (repeat the parameter for more).`),
      stream: queryBooleanSchema.optional(),
    })
    .strict();
}

/** One body schema per limit: its component id must name one schema, whatever number of apps is built. */
const generateBodies = new Map<number, ReturnType<typeof makeGenerateBodySchema>>();

/** `POST /generate`: the same fields as JSON. */
export function generateBodySchema(maxTokens: number) {
  let schema = generateBodies.get(maxTokens);
  if (schema === undefined) {
    schema = makeGenerateBodySchema(maxTokens);
    generateBodies.set(maxTokens, schema);
  }
  return schema;
}

function makeGenerateBodySchema(maxTokens: number) {
  return z
    .object({
      ...samplingFields(maxTokens, () => z.number()),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional()
        .describe(`${STOP_DESCRIPTION}.`),
      stream: z.boolean().optional(),
    })
    .strict()
    .meta({ id: 'GenerateRequest' });
}

export type GenerateRequest = z.output<ReturnType<typeof generateBodySchema>>;

export const generateResultSchema = z
  .object({
    model: modelIdOut,
    prompt: z.string(),
    text: z.string().describe('The generated text, after the prompt; a stop sequence is not included.'),
    tokens: z.number().int().describe('Tokens sampled.'),
    finishReason: z.enum(['length', 'stop', 'eos']),
  })
  .meta({ id: 'GenerateResult' });

export const scoreBodySchema = z
  .object({
    model: modelIdSchema,
    text: z.string().min(1),
    context: z.string().optional().describe('Text the model is conditioned on first; not scored.'),
    details: z.boolean().default(false).describe("Include each token's log-probability."),
  })
  .strict()
  .meta({ id: 'ScoreRequest' });

export const scoreResultSchema = z
  .object({
    model: modelIdOut,
    tokens: z.number().int(),
    characters: z.number().int(),
    nll: z.number().describe('Total negative log-likelihood, in nats.'),
    meanNll: z.number(),
    perplexity: z.number(),
    bitsPerChar: z.number(),
    tokenLogprobs: z
      .array(z.object({ token: z.string(), id: z.number().int(), logprob: z.number() }))
      .optional(),
  })
  .meta({ id: 'ScoreResult' });
