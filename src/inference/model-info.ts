import { z } from 'zod';

import type { ModelInfo } from '../contracts/models.js';
import { errors } from '../errors.js';
import { runConfigSchema } from '../ml/config.js';

const metricSetSchema = z.object({
  trainLoss: z.number().nullable(),
  valLoss: z.number().nullable(),
  valPerplexity: z.number().nullable(),
  valBitsPerChar: z.number().nullable(),
});

/** The part of meta.json a listing needs; the worker writes `id`, `jobId` and `name` beside the engine's fields. */
const storedMetaSchema = z.object({
  id: z.string().optional(),
  jobId: z.string().nullable().optional(),
  name: z.string().optional(),
  createdAt: z.string(),
  backend: z.object({ name: z.string() }).loose(),
  config: runConfigSchema,
  tokenizer: z.object({ type: z.string(), vocabSize: z.number().int() }),
  parameters: z.number().int(),
  metrics: z.object({ final: metricSetSchema, best: metricSetSchema }),
  baseModel: z.string().nullable().optional(),
});

/**
 * A published model as the API lists it, from its meta.json.
 * @throws RnnlmError `RNNLM_ARTIFACT_CORRUPT` when meta.json is not a model description.
 */
export function modelInfo(id: string, raw: Record<string, unknown>): ModelInfo {
  const parsed = storedMetaSchema.safeParse(raw);
  if (!parsed.success) {
    throw errors.modelMetaInvalid(id, parsed.error.issues[0]?.path.join('.') ?? '');
  }
  const meta = parsed.data;
  return {
    id,
    jobId: meta.jobId ?? null,
    name: meta.name ?? id,
    createdAt: meta.createdAt,
    backend: meta.backend.name,
    config: meta.config,
    tokenizer: { type: meta.tokenizer.type, vocabSize: meta.tokenizer.vocabSize },
    parameters: meta.parameters,
    metrics: meta.metrics,
    baseModel: meta.baseModel ?? null,
  };
}
