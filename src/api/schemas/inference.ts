import { z } from 'zod';

import { modelIdOut } from '../../queue/contracts.js';
import { modelIdSchema, queryBooleanSchema } from './common.js';
import { stateFields, stateIdSchema, stateInfoSchema } from './states.js';

/** Alternatives per step a generation's details list at most. */
export const MAX_TOP_N = 20;

/**
 * Sampling fields shared by the query of `GET /generate` and the body of `POST /generate`;
 * `num` wraps a number schema (coercing strings in a query).
 */
function samplingFields(maxTokens: number, num: (schema: z.ZodNumber) => z.ZodType<number, unknown>) {
  return {
    model: modelIdSchema,
    prompt: z.string().max(100_000).default(''),
    maxTokens: num(z.number().int().min(0).max(maxTokens))
      .default(Math.min(200, maxTokens))
      .describe(
        "Tokens to sample at most; bounded by the service's limit (RNNLM_MAX_GENERATE_TOKENS), " +
          'the default is 200 or that limit if lower.',
      ),
    temperature: num(z.number().min(0).max(100)).default(1).describe('0 is greedy.'),
    topK: num(z.number().int().min(0)).optional().describe('Keep the k most likely tokens (0 = off).'),
    topP: num(z.number().gt(0).max(1)).optional().describe('Nucleus sampling (1 = off).'),
    seed: num(
      z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1),
    )
      .optional()
      .describe('The same seed, model and options give the same text.'),
    topN: num(z.number().int().min(0).max(MAX_TOP_N))
      .optional()
      .describe("With `details`: each step's most likely tokens too (at most 20)."),
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
      ...samplingFields(maxTokens, (n) => z.coerce.number().pipe(n)),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional()
        .describe(`${STOP_DESCRIPTION} (repeat the parameter for more).`),
      stream: queryBooleanSchema.optional(),
      details: queryBooleanSchema.optional(),
      state: stateIdSchema.optional(),
      saveState: queryBooleanSchema.optional().describe(stateFields.saveState.description ?? ''),
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
      ...samplingFields(maxTokens, (n) => n),
      stop: z
        .union([z.string().min(1).max(200), stopListSchema])
        .transform((s) => (typeof s === 'string' ? [s] : s))
        .optional()
        .describe(`${STOP_DESCRIPTION}.`),
      stream: z.boolean().optional(),
      details: z.boolean().optional(),
      ...stateFields,
    })
    .strict()
    .meta({ id: 'GenerateRequest' });
}

export type GenerateRequest = z.output<ReturnType<typeof generateBodySchema>>;

const tokenLogprobSchema = z
  .object({ token: z.string(), id: z.number().int(), logprob: z.number() })
  .meta({ id: 'TokenLogprob' });

/** A sampled token in a generation's details, with the step's most likely tokens when asked. */
export const tokenDetailSchema = tokenLogprobSchema
  .extend({ top: z.array(tokenLogprobSchema).optional() })
  .meta({ id: 'TokenDetail' });

export const generateResultSchema = z
  .object({
    model: modelIdOut,
    prompt: z.string(),
    text: z.string().describe('The generated text, after the prompt; a stop sequence is not included.'),
    tokens: z.number().int().describe('Tokens sampled.'),
    promptTokens: z.number().int().describe('Tokens the prompt was read as.'),
    unknownTokens: z
      .number()
      .int()
      .describe('Tokens of the prompt outside the vocabulary, read as `<unk>` (0 for bpe, which has none).'),
    finishReason: z.enum(['length', 'stop', 'eos']),
    details: z
      .object({ tokens: z.array(tokenDetailSchema) })
      .optional()
      .describe(
        'With `details=true`: each sampled token with its log-probability under the model (before temperature, top-k and top-p), and with `topN` the most likely tokens of each step.',
      ),
    state: stateInfoSchema
      .optional()
      .describe('With `saveState`: the state after the prompt and the output, to continue from.'),
  })
  .meta({ id: 'GenerateResult' });

export const scoreBodySchema = z
  .object({
    model: modelIdSchema,
    text: z.string().min(1),
    context: z.string().optional().describe('Text the model is conditioned on first; not scored.'),
    details: z.boolean().default(false).describe("Include each token's log-probability."),
    ...stateFields,
  })
  .strict()
  .meta({ id: 'ScoreRequest' });

export const scoreResultSchema = z
  .object({
    model: modelIdOut,
    tokens: z.number().int(),
    characters: z.number().int(),
    unknownTokens: z
      .number()
      .int()
      .describe('Tokens of the text outside the vocabulary, scored as `<unk>` (0 for bpe, which has none).'),
    nll: z.number().describe('Total negative log-likelihood, in nats.'),
    meanNll: z.number(),
    perplexity: z.number(),
    bitsPerChar: z.number(),
    tokenLogprobs: z.array(tokenLogprobSchema).optional(),
    state: stateInfoSchema.optional().describe('With `saveState`: the state after the context and the text.'),
  })
  .meta({ id: 'ScoreResult' });
