import { z } from 'zod';

import { modelSpecSchema, runConfigSchema, tokenizerSpecSchema, trainingSpecSchema } from '../ml/config.js';

/**
 * The contracts shared by the API and the workers: what a client sends, what goes into the
 * queue (never the corpus text: it lives on disk, addressed by its sha256), what a job looks
 * like over HTTP and what its event stream carries.
 */

export const jobStatusSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** Body of `POST /jobs` (JSON), or the `config` field of the multipart form plus the file. */
export const jobRequestSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    corpus: z.object({ text: z.string() }).strict(),
    validation: z
      .union([
        z.object({ text: z.string().min(1) }).strict(),
        z.object({ fraction: z.number().min(0).max(0.5) }).strict(),
      ])
      .optional(),
    tokenizer: tokenizerSpecSchema.optional(),
    model: modelSpecSchema.optional(),
    training: trainingSpecSchema.optional(),
  })
  .strict();
export type JobRequest = z.infer<typeof jobRequestSchema>;

export const corpusRefSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(0),
});
export type CorpusRef = z.infer<typeof corpusRefSchema>;

/** What BullMQ stores as job data. */
export const trainingJobDataSchema = z.object({
  name: z.string(),
  corpus: corpusRefSchema,
  validation: z.union([
    z.object({ corpus: corpusRefSchema }),
    z.object({ fraction: z.number().min(0).max(0.5) }),
  ]),
  config: runConfigSchema,
  createdAt: z.string(),
});
export type TrainingJobData = z.infer<typeof trainingJobDataSchema>;

export const jobProgressSchema = z.object({
  epoch: z.number().int(),
  step: z.number().int(),
  totalSteps: z.number().int(),
  fraction: z.number().min(0).max(1),
});

export const jobMetricsSchema = z.object({
  trainLoss: z.number().nullable(),
  valLoss: z.number().nullable(),
  valPerplexity: z.number().nullable(),
  valBitsPerChar: z.number().nullable(),
  tokensPerSecond: z.number().nullable(),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;
export type JobMetrics = z.infer<typeof jobMetricsSchema>;

/** A job as the API returns it. */
export const jobSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: jobStatusSchema,
  progress: jobProgressSchema,
  metrics: jobMetricsSchema,
  config: runConfigSchema,
  modelId: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  backend: z.string().optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});
export type Job = z.infer<typeof jobSchema>;

export const jobEventTypeSchema = z.enum(['progress', 'metrics', 'checkpoint', 'log', 'status']);
export type JobEventType = z.infer<typeof jobEventTypeSchema>;

/** One entry of a job's event log (a Redis stream); `id` is the stream id, usable as Last-Event-ID. */
export const jobEventSchema = z.object({
  id: z.string(),
  type: jobEventTypeSchema,
  data: z.record(z.string(), z.unknown()),
});
export type JobEvent = z.infer<typeof jobEventSchema>;
