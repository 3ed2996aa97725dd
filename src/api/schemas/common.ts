import { z } from 'zod';

import { JOB_ID_PATTERN, MODEL_ID_PATTERN } from '../../ids.js';

/** The error body every non-2xx JSON answer has (see src/api/errorResponses.ts). */
export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    code: z.string().meta({
      description: 'Stable error code, e.g. `RNNLM_MODEL_NOT_FOUND`.',
      examples: ['RNNLM_INVALID_REQUEST'],
    }),
    error: z.string().describe('The HTTP status text.'),
    message: z.string().describe('What went wrong; `Internal Server Error` for statuses of 500 and above.'),
    /** On a 400: every bad field by its path, for clients that mark fields (the dashboard). */
    fields: z
      .array(
        z.object({
          path: z.string().meta({ examples: ['body.model.hiddenSize'] }),
          message: z.string(),
        }),
      )
      .optional()
      .describe(
        'On a 400 only: each bad field, by the same path the message names (`body.model.hiddenSize`, ' +
          '`body.config.training.seqLength` in a multipart upload, `querystring.temperature`), so a ' +
          'client can show the error beside its field.',
      ),
    /** RNNLM_MODEL_TOO_LARGE: the estimate and the limits it is over. */
    details: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({
        description:
          '`RNNLM_MODEL_TOO_LARGE` only: the estimate from the hyperparameters and the limits it is ' +
          'over (`parameters`, `maxParameters`, `trainingMemoryBytes`, `maxTrainingMemoryBytes`, ' +
          '`vocabSize`, and `estimate` with the bytes of `weights`, `gradients`, `optimizer`, ' +
          '`activations` and their `total`).',
        properties: {
          parameters: { type: 'integer' },
          maxParameters: { type: 'integer' },
          trainingMemoryBytes: { type: 'integer' },
          maxTrainingMemoryBytes: { type: 'integer' },
          vocabSize: { type: 'integer' },
          estimate: { type: 'object', additionalProperties: { type: 'integer' } },
        },
      }),
  })
  .meta({ id: 'Error' });

export const jobIdSchema = z
  .string()
  .max(100)
  .regex(JOB_ID_PATTERN, `must match ${String(JOB_ID_PATTERN)}`);
export const modelIdSchema = z
  .string()
  .max(100)
  .regex(MODEL_ID_PATTERN, `must match ${String(MODEL_ID_PATTERN)}`);

/** A query-string boolean: `true`/`false`/`1`/`0`. */
export const queryBooleanSchema = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

// ---------------------------------------------------------------------------------------------
// Responses, as route schemas declare them: a description, the headers sent with it (for the
// OpenAPI document only: Fastify ignores them) and a schema per media type.

/** An OpenAPI header object: what the header says, and its JSON schema. */
export interface HeaderDoc {
  description: string;
  schema: Record<string, unknown>;
}

/** One status of a route's `response` map: the form `fastify-type-provider-zod` and Swagger read. */
export interface ResponseDoc<S extends z.ZodType = z.ZodType> {
  description: string;
  headers?: Record<string, HeaderDoc>;
  content: Record<string, { schema: S }>;
}

/** A JSON response: `schema` validates and serializes it. */
export function json<S extends z.ZodType>(
  schema: S,
  description: string,
  headers?: Record<string, HeaderDoc>,
): ResponseDoc<S> {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': { schema } },
  };
}

/** A body that is not JSON (a page, a stream, a YAML file): documented, never serialized by Fastify. */
export function text(mediaType: string, description: string, textDescription?: string): ResponseDoc {
  const schema = textDescription === undefined ? z.string() : z.string().describe(textDescription);
  return { description, content: { [mediaType]: { schema } } };
}

export const retryAfterHeader: HeaderDoc = {
  description: 'Seconds to wait before trying again.',
  schema: { type: 'integer', minimum: 1 },
};

/** The refusals routes share, by what they mean; each carries the {@link errorSchema} body. */
export const errorResponses = {
  badRequest: json(
    errorSchema,
    'The request is invalid; the message names the field (`body.model.hiddenSize: Too big: ...`).',
  ),
  unauthorized: json(
    errorSchema,
    'The server has API keys and the request carries none, or a wrong one (`RNNLM_UNAUTHORIZED`).',
    { 'WWW-Authenticate': { description: '`Bearer`', schema: { type: 'string' } } },
  ),
  notFound: json(errorSchema, 'No such job or model (`RNNLM_JOB_NOT_FOUND`, `RNNLM_MODEL_NOT_FOUND`).'),
  notReady: json(
    errorSchema,
    'The model exists but is not complete or is damaged (`RNNLM_MODEL_NOT_READY`, `RNNLM_ARTIFACT_CORRUPT`, `RNNLM_MODEL_NONFINITE`: its weights hold NaN or an infinity).',
  ),
  tooLarge: json(errorSchema, 'The corpus is over the size limit (`RNNLM_CORPUS_TOO_LARGE`).'),
  jobFinished: json(
    errorSchema,
    'The job has already finished (`RNNLM_JOB_FINISHED`): `details.status` says how; nothing was changed.',
  ),
  idempotencyKeyInUse: json(
    errorSchema,
    'The first request with this `Idempotency-Key` is still being processed ' +
      '(`RNNLM_IDEMPOTENCY_KEY_IN_USE`); retry after `Retry-After` seconds.',
    { 'Retry-After': retryAfterHeader },
  ),
  idempotencyKeyReused: json(
    errorSchema,
    'This `Idempotency-Key` was used before with a different request body ' +
      '(`RNNLM_IDEMPOTENCY_KEY_REUSED`); the first job is unchanged.',
  ),
  diskFull: json(
    errorSchema,
    'The server is out of disk space (`RNNLM_DISK_FULL`); nothing partial was kept. Retry later.',
  ),
  unsupportedMediaType: json(
    errorSchema,
    "The body's content type is not accepted here (`RNNLM_UNSUPPORTED_MEDIA_TYPE`).",
  ),
  rateLimited: json(
    errorSchema,
    "This client's requests to `/generate` and `/score` are over the limit for the current window " +
      '(`RNNLM_RATE_LIMITED`). Every answer of these routes carries `X-RateLimit-Limit`, ' +
      '`X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds).',
    { 'Retry-After': retryAfterHeader },
  ),
  unavailable: json(
    errorSchema,
    'Redis does not answer (`RNNLM_REDIS_UNAVAILABLE`; within 1.5 s, not after a hang) or is ' +
      'full (`RNNLM_REDIS_OUT_OF_MEMORY`: at `maxmemory`, it refuses writes), or the server is ' +
      'overloaded (`RNNLM_OVERLOADED`, with `Retry-After`): its event loop lags or its heap is over ' +
      'the limit, or (`/generate`) every generation slot is taken, or the process is shutting ' +
      'down (`RNNLM_SHUTTING_DOWN`, with `Retry-After`: from SIGTERM on, until it exits, while ' +
      'the requests and streams it had already taken run to their end).',
    { 'Retry-After': retryAfterHeader },
  ),
};
