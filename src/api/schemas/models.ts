import { z } from 'zod';

import { runConfigSchema } from '../../ml/config.js';
import { modelIdSchema } from './common.js';

export const modelParamsSchema = z.object({ id: modelIdSchema }).strict();

const metricSetSchema = z.object({
  trainLoss: z.number().nullable(),
  valLoss: z.number().nullable(),
  valPerplexity: z.number().nullable(),
  valBitsPerChar: z.number().nullable(),
});

/** A published model (ModelInfo in src/contracts/models.ts). */
export const modelSchema = z.object({
  id: z.string(),
  jobId: z.string().nullable(),
  name: z.string(),
  createdAt: z.string(),
  backend: z.string(),
  config: runConfigSchema,
  tokenizer: z.object({ type: z.string(), vocabSize: z.number().int() }),
  parameters: z.number().int(),
  metrics: z.object({ final: metricSetSchema, best: metricSetSchema }),
});

export const modelListSchema = z.object({ items: z.array(modelSchema) });
