/**
 * What a submission must pass before anything is stored or queued: a valid run configuration
 * (or a fine-tuning request on a readable base model), the deployment's limits, corpus sizes
 * and content, and a model and data that fit the training budget.
 */
import { join } from 'node:path';

import { z } from 'zod';

import { dataDirs, type Config } from '../config.js';
import { errors, isRnnlmError } from '../errors.js';
import { modelSpecSchema, runConfigSchema, type RunConfig, type RunConfigInput } from '../ml/config.js';
import { estimateTraining, vocabularyBound, type TrainingEstimate } from '../ml/estimate.js';
import { fineTuneConfig, type BaseModelInfo } from '../ml/fine-tune.js';
import { fitRunConfig } from '../ml/fit.js';
import { readModelMeta } from '../storage/artifacts.js';
import { decodeUtf8 } from '../storage/corpus-store.js';
import { applyLimits } from './limits.js';
import { checkDataFits } from './preflight.js';
import type { SubmitInput } from './types.js';

/** A submission that passed every check: what the job will run with and the texts to store. */
export interface CheckedSubmission {
  config: RunConfig;
  corpus: { bytes: Uint8Array };
  /** A separate validation text; undefined when a fraction of the corpus is held out. */
  validation: { bytes: Uint8Array } | undefined;
  /** The fraction held out when there is no separate validation text. */
  fraction: number;
}

function parseRunConfig(input: RunConfigInput): RunConfig {
  const parsed = runConfigSchema.safeParse({
    tokenizer: input.tokenizer,
    model: input.model,
    training: input.training,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'config';
    throw errors.invalidConfig(field, issue?.message ?? 'invalid');
  }
  return parsed.data;
}

const baseMetaSchema = z.object({
  config: runConfigSchema,
  modelConfig: modelSpecSchema.and(z.object({ vocabSize: z.number().int().min(1) })),
});

/** The base model's run configuration from its meta.json; a missing or unreadable one is a 400 on `baseModel`. */
async function baseModelInfo(modelsDir: string, id: string): Promise<BaseModelInfo> {
  let meta: Record<string, unknown>;
  try {
    meta = await readModelMeta(join(modelsDir, id));
  } catch (err) {
    if (!isRnnlmError(err)) throw err;
    throw errors.invalidConfig('baseModel', `model ${id} not found`);
  }
  const parsed = baseMetaSchema.safeParse(meta);
  if (!parsed.success) throw errors.invalidConfig('baseModel', `model ${id} has no readable configuration`);
  return { id, config: parsed.data.config, modelConfig: parsed.data.modelConfig };
}

function corpusBytes(
  source: { text: string } | { bytes: Uint8Array },
  what: string,
  limit: number,
): { bytes: Uint8Array; text: string } {
  const bytes = 'text' in source ? Buffer.from(source.text, 'utf8') : source.bytes;
  if (bytes.byteLength > limit) {
    throw errors.corpusTooLarge(what, bytes.byteLength, limit);
  }
  const text = 'text' in source ? source.text : decodeUtf8(bytes, what);
  if (text.trim().length === 0) {
    throw errors.corpusEmpty(what);
  }
  return { bytes, text };
}

/**
 * Refuses a run whose model, by the estimate from its hyperparameters (and, for a char
 * tokenizer, the distinct characters of `corpus`), has more parameters or needs more training
 * memory than the deployment allows; the message and `details` give the estimate and the limit.
 */
function checkTrainingSize(config: Config, run: RunConfig, corpus: string): TrainingEstimate {
  const estimate = estimateTraining(run, vocabularyBound(run.tokenizer, corpus, config.RNNLM_MAX_VOCAB));
  const maxParameters = config.RNNLM_MAX_PARAMS;
  const maxBytes = config.RNNLM_MAX_TRAINING_MEMORY_BYTES;
  const { parameters } = estimate;
  const bytes = estimate.bytes.total;
  if (parameters <= maxParameters && bytes <= maxBytes) return estimate;
  throw errors.modelTooLarge({
    parameters,
    maxParameters,
    trainingMemoryBytes: bytes,
    maxTrainingMemoryBytes: maxBytes,
    vocabSize: estimate.vocabSize,
    estimate: estimate.bytes,
  });
}

/**
 * Everything about a submission that can be refused, checked before anything is stored or
 * queued; the coded error names the field. Reads the base model of a fine-tuning request.
 */
export async function checkSubmission(config: Config, input: SubmitInput): Promise<CheckedSubmission> {
  const base =
    input.baseModel === undefined ? undefined : await baseModelInfo(dataDirs(config).models, input.baseModel);
  // The request as given is checked first, so that its own mistakes are what a 400 names.
  applyLimits(config, base === undefined ? parseRunConfig(input) : fineTuneConfig(base, input));
  const limit = config.RNNLM_MAX_CORPUS_BYTES;
  const corpus = corpusBytes(input.corpus, 'corpus', limit);
  const v = input.validation;
  const validation = v === undefined || 'fraction' in v ? undefined : corpusBytes(v, 'validation', limit);
  const fraction = v !== undefined && 'fraction' in v ? v.fraction : 0.1;
  const fitted = fitRunConfig(
    input,
    {
      corpus: corpus.text,
      budgetMinutes: config.RNNLM_TRAIN_MINUTES,
      validationFraction: validation === undefined ? fraction : 0,
      limits: {
        layers: config.RNNLM_MAX_LAYERS,
        hiddenSize: config.RNNLM_MAX_HIDDEN,
        embeddingSize: config.RNNLM_MAX_EMBEDDING,
        batchSize: config.RNNLM_MAX_BATCH,
      },
    },
    { fineTune: base !== undefined },
  );
  const run = applyLimits(config, base === undefined ? parseRunConfig(fitted) : fineTuneConfig(base, fitted));
  checkTrainingSize(config, run, corpus.text);
  checkDataFits(config, run, corpus.text, validation === undefined ? { fraction } : validation);
  return { config: run, corpus, validation, fraction };
}
