/**
 * The deployment's limits on a training request: one table, read by the API's request-time
 * check (src/api/schemas/jobs.ts) and by the job service, which applies it to the run
 * configuration it will queue; and the caps the worker applies where a job leaves a size open.
 */
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { RunConfig } from '../ml/config.js';

/** The settings that bound a training request. */
export type LimitSetting =
  | 'RNNLM_MAX_VOCAB'
  | 'RNNLM_MAX_LAYERS'
  | 'RNNLM_MAX_HIDDEN'
  | 'RNNLM_MAX_EMBEDDING'
  | 'RNNLM_MAX_SEQ_LENGTH'
  | 'RNNLM_MAX_BATCH'
  | 'RNNLM_MAX_STEPS';

/** The values of the {@link LimitSetting}s in force. */
export type JobLimits = Pick<Config, LimitSetting>;

/** One limit: the request field it bounds and the setting that holds its maximum. */
export interface JobLimit {
  /** The field's path in a run configuration (and in the request body), dot-separated. */
  field: string;
  setting: LimitSetting;
  /**
   * Whether the API refuses the field as the request arrives, with the schema's wording
   * (`Too big: expected number to be <=2048`), before the corpus size is checked. The others
   * the job service refuses, worded `100 is over the limit of 64`: that is how the API has
   * always answered them.
   */
  atRequest: boolean;
}

/**
 * Every limit, in the order the API lists violations and the job service looks for the first
 * one. The service checks the configuration a job will run with, so for fine-tuning it also
 * catches sizes that come from the base model rather than from the request.
 */
export const JOB_LIMITS: readonly JobLimit[] = [
  { field: 'tokenizer.vocabSize', setting: 'RNNLM_MAX_VOCAB', atRequest: true },
  { field: 'model.layers', setting: 'RNNLM_MAX_LAYERS', atRequest: true },
  { field: 'model.hiddenSize', setting: 'RNNLM_MAX_HIDDEN', atRequest: true },
  { field: 'model.embeddingSize', setting: 'RNNLM_MAX_EMBEDDING', atRequest: true },
  { field: 'training.batchSize', setting: 'RNNLM_MAX_BATCH', atRequest: true },
  { field: 'training.evalBatchSize', setting: 'RNNLM_MAX_BATCH', atRequest: false },
  { field: 'training.seqLength', setting: 'RNNLM_MAX_SEQ_LENGTH', atRequest: true },
  { field: 'training.truncation.maxLength', setting: 'RNNLM_MAX_SEQ_LENGTH', atRequest: false },
  { field: 'training.maxSteps', setting: 'RNNLM_MAX_STEPS', atRequest: true },
];

/** The value at a dot-separated path of `value`, undefined where the path leads nowhere. */
function valueAt(value: unknown, field: string): unknown {
  let at = value;
  for (const key of field.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** The first limit `run` is over, with its value and maximum; undefined when it is within all of them. */
function firstOverLimit(
  limits: JobLimits,
  run: RunConfig,
): { field: string; value: number; max: number } | undefined {
  for (const { field, setting } of JOB_LIMITS) {
    const value = valueAt(run, field);
    const max = limits[setting];
    if (typeof value === 'number' && value > max) return { field, value, max };
  }
  return undefined;
}

/**
 * Checks a run configuration against the deployment's limits; RNNLM_INVALID_CONFIG names the
 * field. Fills in the service's default checkpoint interval, a setting the job then uses;
 * limits where the request leaves a size open are the worker's to apply (see
 * {@link withServiceCaps}), so the job's config never shows a limit as if it were a setting.
 */
export function applyLimits(
  config: JobLimits & Pick<Config, 'RNNLM_CHECKPOINT_EVERY'>,
  run: RunConfig,
): RunConfig {
  const over = firstOverLimit(config, run);
  if (over !== undefined) {
    throw errors.overLimit(over.field, over.value, over.max);
  }
  const { tokenizer, model, training } = run;
  return {
    tokenizer,
    model,
    training: {
      ...training,
      // Without checkpoints a crashed worker's job would start over; with them it resumes.
      checkpointEvery: training.checkpointEvery ?? config.RNNLM_CHECKPOINT_EVERY,
    },
  };
}

/**
 * The service's limits where a job leaves a size open: a word vocabulary's cap, the step
 * budget and the unroll of untruncated BPTT. The worker applies them when it trains; they are
 * limits, not the job's settings, so the job's config (and its echo) never holds them.
 */
export function withServiceCaps(
  config: Pick<Config, 'RNNLM_MAX_VOCAB' | 'RNNLM_MAX_STEPS' | 'RNNLM_MAX_SEQ_LENGTH'>,
  run: RunConfig,
): RunConfig {
  const { tokenizer, training } = run;
  return {
    ...run,
    tokenizer:
      tokenizer.type === 'word' && tokenizer.vocabSize === undefined
        ? { ...tokenizer, vocabSize: config.RNNLM_MAX_VOCAB }
        : tokenizer,
    training: {
      ...training,
      truncation:
        training.truncation.mode === 'none' && training.truncation.maxLength === undefined
          ? { ...training.truncation, maxLength: config.RNNLM_MAX_SEQ_LENGTH }
          : training.truncation,
      maxSteps: Math.min(training.maxSteps ?? Infinity, config.RNNLM_MAX_STEPS),
    },
  };
}
