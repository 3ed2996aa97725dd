import { z } from 'zod';

import { jobEventSchema, jobRequestSchema, jobSchema, jobStatusSchema } from '../../queue/contracts.js';
import { jobIdSchema } from './common.js';

export const jobParamsSchema = z.object({ id: jobIdSchema }).strict();

/** `Idempotency-Key` maps one key to one job. */
export const submitHeadersSchema = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Repeating a request with the same key returns the job it created (200) instead of a new one.'),
});

/** The JSON body of `POST /jobs`. */
export const submitBodySchema = jobRequestSchema;

/** The `config` field of a multipart `POST /jobs`: the JSON body less the corpus, which is the file. */
export const multipartConfigSchema = jobRequestSchema.omit({ corpus: true });

/**
 * What `POST /jobs` accepts, for the OpenAPI document only: the route reads its body itself
 * (JSON with {@link submitBodySchema}, or the multipart form), so it declares no `body` schema.
 */
export const submitBodyContent = {
  'application/json': { schema: submitBodySchema },
  'multipart/form-data': {
    schema: z
      .object({
        corpus: z
          .string()
          .meta({ contentMediaType: 'application/octet-stream', description: 'The training text (UTF-8).' }),
        validation: z.string().optional().meta({
          contentMediaType: 'application/octet-stream',
          description: 'A separate validation text (UTF-8); or give `validation` in `config`.',
        }),
        config: z.string().optional().meta({
          contentMediaType: 'application/json',
          description: 'The JSON body less `corpus` (a `JobRequest` without it).',
        }),
      })
      .strict(),
  },
};

export const listJobsQuerySchema = z
  .object({
    status: jobStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(200).optional().describe('The `nextCursor` of the previous page.'),
  })
  .strict();

export const jobListSchema = z
  .object({
    items: z.array(jobSchema),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({ id: 'JobList' });

export const eventsQuerySchema = z
  .object({
    format: z.enum(['sse', 'json']).default('sse'),
  })
  .strict();

export const eventsHeadersSchema = z.looseObject({
  /** The `id:` of the last event the client saw; the stream resumes after it. */
  'last-event-id': z
    .string()
    .regex(/^\d+-\d+$/, 'must be an event id as sent in `id:`')
    .optional()
    .describe('The `id` of the last event seen; the stream resumes after it.'),
});

export const jobEventListSchema = z.object({ items: z.array(jobEventSchema) }).meta({ id: 'JobEventList' });

/** The service's limits on a training request (from config), checked after the shape is valid. */
export interface JobLimits {
  maxVocab: number;
  maxLayers: number;
  maxHidden: number;
  maxEmbedding: number;
  maxSeqLength: number;
  maxBatch: number;
  maxSteps: number;
}

/**
 * A schema over the limited fields only, so a request over a limit is a 400 that names the
 * field (`body.model.hiddenSize: Too big: expected number to be <=2048`) before anything is
 * stored or queued. Other fields pass through untouched: `submitBodySchema` checks them.
 */
export function jobLimitsSchema(limits: JobLimits) {
  return z.looseObject({
    tokenizer: z.looseObject({ vocabSize: z.number().max(limits.maxVocab).optional() }).optional(),
    model: z
      .looseObject({
        layers: z.number().max(limits.maxLayers).optional(),
        hiddenSize: z.number().max(limits.maxHidden).optional(),
        embeddingSize: z.number().max(limits.maxEmbedding).optional(),
      })
      .optional(),
    training: z
      .looseObject({
        batchSize: z.number().max(limits.maxBatch).optional(),
        seqLength: z.number().max(limits.maxSeqLength).optional(),
        maxSteps: z.number().max(limits.maxSteps).optional(),
      })
      .optional(),
  });
}
