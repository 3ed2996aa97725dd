import { z } from 'zod';

import { jobEventSchema, jobRequestSchema, jobSchema, jobStatusSchema } from '../../queue/contracts.js';
import { jobIdSchema } from './common.js';

export const jobParamsSchema = z.object({ id: jobIdSchema }).strict();

/** `Idempotency-Key` maps one key to one job. */
export const submitHeadersSchema = z.looseObject({
  'idempotency-key': z.string().min(1).max(200).optional(),
});

/** The JSON body of `POST /jobs`. */
export const submitBodySchema = jobRequestSchema;

/** The `config` field of a multipart `POST /jobs`: the JSON body less the corpus, which is the file. */
export const multipartConfigSchema = jobRequestSchema.omit({ corpus: true });

export const listJobsQuerySchema = z
  .object({
    status: jobStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();

export const jobListSchema = z.object({
  items: z.array(jobSchema),
  nextCursor: z.string().nullable(),
});

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
    .optional(),
});

export const jobEventListSchema = z.object({ items: z.array(jobEventSchema) });

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
