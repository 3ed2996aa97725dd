import { z } from 'zod';

import { JOB_ID_PATTERN, MODEL_ID_PATTERN } from '../ids.js';
import {
  modelSpecRequestSchema,
  runConfigSchema,
  tokenizerSpecRequestSchema,
  trainingSpecRequestSchema,
} from '../ml/config.js';

/**
 * The contracts shared by the API and the workers: what a client sends, what goes into the
 * queue (never the corpus text: it lives on disk, addressed by its sha256), what a job looks
 * like over HTTP and what its event stream carries.
 */

export const jobStatusSchema = z
  .enum(['queued', 'running', 'succeeded', 'failed', 'cancelled'])
  .meta({ id: 'JobStatus' });
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** Body of `POST /jobs` (JSON), or the `config` field of the multipart form plus the file. */
export const jobRequestSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    corpus: z
      .object({
        text: z
          .string()
          .describe('The training text; at most RNNLM_MAX_CORPUS_BYTES bytes (50 MB by default).'),
      })
      .strict(),
    validation: z
      .union([
        z.object({ text: z.string().min(1) }).strict(),
        z.object({ fraction: z.number().min(0).max(0.5) }).strict(),
      ])
      .optional()
      .describe('A separate validation text, or the share of the corpus to hold out (default 0.1).'),
    baseModel: z
      .string()
      .regex(MODEL_ID_PATTERN)
      .optional()
      .describe(
        'Fine-tune this model: start from its weights, tokenizer and architecture. A `model` or `tokenizer` section may only repeat them (dropout may change).',
      ),
    tokenizer: tokenizerSpecRequestSchema.optional(),
    model: modelSpecRequestSchema.optional(),
    training: trainingSpecRequestSchema.optional(),
  })
  .strict()
  .meta({ id: 'JobRequest' });
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
  /** The model a fine-tuning job starts from. */
  baseModel: z.string().regex(MODEL_ID_PATTERN).optional(),
  createdAt: z.string(),
});
export type TrainingJobData = z.infer<typeof trainingJobDataSchema>;

export const jobProgressSchema = z
  .object({
    epoch: z.number().int(),
    step: z.number().int(),
    totalSteps: z.number().int(),
    /** Share done, by whichever of the step count and `maxMinutes` ends the run sooner. */
    fraction: z.number().min(0).max(1),
    /** The learning rate of the coming steps (after `lrDecay`); null before the first step. */
    learningRate: z.number().nullable(),
    /** Tokens trained on so far, across attempts. */
    trainedTokens: z.number().int(),
    /** Training time so far, across attempts. */
    elapsedSeconds: z.number(),
    /** Seconds to the end, the sooner of the step-based and the time-based end; null when not running. */
    etaSeconds: z.number().nullable(),
  })
  .meta({ id: 'JobProgress' });

export const jobMetricsSchema = z
  .object({
    trainLoss: z.number().nullable(),
    valLoss: z.number().nullable(),
    valPerplexity: z.number().nullable(),
    valBitsPerChar: z.number().nullable(),
    tokensPerSecond: z.number().nullable(),
  })
  .meta({ id: 'JobMetrics' });
export type JobProgress = z.infer<typeof jobProgressSchema>;
export type JobMetrics = z.infer<typeof jobMetricsSchema>;

/**
 * Why a finished job stopped: every epoch done (`epochs`), `maxSteps` or `maxMinutes`
 * reached, early stopping, cancelled, or the loss diverged (the job failed with
 * RNNLM_NONFINITE_LOSS).
 */
export const stopReasonSchema = z.enum([
  'maxSteps',
  'epochs',
  'maxMinutes',
  'earlyStopping',
  'cancelled',
  'diverged',
]);
export type StopReason = z.infer<typeof stopReasonSchema>;

/** The validation a job uses: a share of the corpus, or a text of its own (its size). */
export const jobValidationSchema = z.union([
  z.object({ fraction: z.number().min(0).max(0.5) }).strict(),
  z.object({ textBytes: z.number().int().min(0) }).strict(),
]);

/**
 * Documents the id patterns and timestamp format of what the API returns without checking them
 * again: the service made these values itself.
 */
export const jobIdOut = z.string().meta({ pattern: JOB_ID_PATTERN.source });
export const modelIdOut = z.string().meta({ pattern: MODEL_ID_PATTERN.source });
export const timestampOut = z.string().meta({ format: 'date-time' });

/** A job as the API returns it. */
/** What computed a job's training: the native engine, or tfjs ops alone. */
export const jobEngineSchema = z
  .enum(['onednn', 'tfjs'])
  .describe(
    'What trained it: `onednn`, the native engine, or `tfjs` ops alone (on the wasm and cpu backends ' +
      'about ten times slower: the native engine is not set up where it ran).',
  );
export type JobEngine = z.infer<typeof jobEngineSchema>;

export const jobSchema = z
  .object({
    id: jobIdOut,
    name: z.string(),
    status: jobStatusSchema,
    progress: jobProgressSchema,
    metrics: jobMetricsSchema,
    config: runConfigSchema,
    validation: jobValidationSchema,
    baseModel: modelIdOut.optional().describe('The model this job fine-tunes.'),
    stopReason: stopReasonSchema.optional(),
    modelId: modelIdOut.optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    backend: z.string().optional().describe('The tfjs backend that trained it.'),
    engine: jobEngineSchema.optional(),
    createdAt: timestampOut,
    startedAt: timestampOut.optional(),
    finishedAt: timestampOut.optional(),
  })
  .meta({ id: 'Job' });
export type Job = z.infer<typeof jobSchema>;

export const jobEventTypeSchema = z.enum(['progress', 'metrics', 'checkpoint', 'log', 'status']);
export type JobEventType = z.infer<typeof jobEventTypeSchema>;

/** One entry of a job's event log (a Redis stream); `id` is the stream id, usable as Last-Event-ID. */
export const jobEventSchema = z
  .object({
    id: z.string().describe("The event's place in the job's log; usable as `Last-Event-ID`."),
    type: jobEventTypeSchema,
    data: z.record(z.string(), z.unknown()).meta({
      description: [
        'By type:',
        '- `progress`: `epoch`, `step`, `totalSteps`, `fraction`, and the latest `trainLoss`,',
        '  `valLoss`, `valPerplexity`, `valBitsPerChar`, `tokensPerSecond` (numbers or null).',
        '- `metrics`: an evaluation: `step`, `epoch`, `valLoss`, `valPerplexity`, `valBitsPerChar`.',
        '- `checkpoint`: the `step` and `epoch` saved.',
        '- `log`: a `message` (and facts such as `resumedFrom`).',
        '- `status`: the new `status`; `attempt`, `backend` and `worker` when it starts running;',
        '  `modelId` when it succeeded, `error` (`code`, `message`) when it failed or was cancelled.',
        '',
      ].join('\n'),
      properties: {
        status: { $ref: '#/components/schemas/JobStatus' },
        message: { type: 'string' },
        step: { type: 'integer' },
        epoch: { type: 'integer' },
      },
    }),
  })
  .meta({ id: 'JobEvent' });
export type JobEvent = z.infer<typeof jobEventSchema>;
