import { z } from 'zod';

import { runConfigSchema } from '../../ml/config.js';
import { jobIdOut, modelIdOut, timestampOut } from '../../queue/contracts.js';
import { modelIdSchema } from './common.js';

export const modelParamsSchema = z.object({ id: modelIdSchema }).strict();

const metricSetSchema = z
  .object({
    trainLoss: z.number().nullable(),
    valLoss: z.number().nullable(),
    valPerplexity: z.number().nullable(),
    valBitsPerChar: z.number().nullable(),
  })
  .meta({ id: 'MetricSet' });

/** A published model (ModelInfo in src/contracts/models.ts). */
export const modelSchema = z
  .object({
    id: modelIdOut,
    jobId: jobIdOut.nullable().describe('The job that trained it; null for a model published otherwise.'),
    name: z.string(),
    createdAt: timestampOut,
    backend: z.string(),
    config: runConfigSchema,
    tokenizer: z.object({ type: z.string(), vocabSize: z.number().int() }),
    parameters: z.number().int().describe('Trainable weights.'),
    metrics: z.object({ final: metricSetSchema, best: metricSetSchema }),
    baseModel: modelIdOut
      .nullable()
      .describe('The model this one was fine-tuned from; null when trained from scratch.'),
  })
  .meta({ id: 'Model' });

export const modelListSchema = z.object({ items: z.array(modelSchema) }).meta({ id: 'ModelList' });
