/**
 * Fine-tuning: a run that starts from a published model's weights keeps that model's
 * architecture and tokenizer. A request may leave them out or repeat them; one that says
 * something else is refused, naming the field.
 */
import { errors } from '../errors.js';
import {
  modelSpecSchema,
  runConfigSchema,
  type ModelConfig,
  type RunConfig,
  type RunConfigInput,
} from './config.js';
import type { NamedArray } from './model/lm.js';
import type { TokenizerJSON } from './tokenizers/index.js';

/** What a fine-tuning request is checked against: the base model's meta.json. */
export interface BaseModelInfo {
  id: string;
  config: RunConfig;
  modelConfig: ModelConfig;
}

/** A base model's weights and tokenizer, what training starts from. */
export interface BaseModel extends BaseModelInfo {
  weights: NamedArray[];
  tokenizer: TokenizerJSON;
}

/** The architecture a fine-tuned model shares with its base (dropout is a training choice). */
const FIXED_MODEL_FIELDS = ['cell', 'layers', 'hiddenSize', 'embeddingSize', 'tieWeights'] as const;

/**
 * The run configuration of a fine-tuning run: the base model's tokenizer and architecture,
 * the request's training settings (and dropout, which only matters while training).
 *
 * @throws RnnlmError RNNLM_INVALID_CONFIG naming the first field that contradicts the base.
 */
export function fineTuneConfig(
  base: BaseModelInfo,
  input: Pick<RunConfigInput, 'tokenizer' | 'model' | 'training'>,
): RunConfig {
  const model = input.model ?? {};
  for (const key of FIXED_MODEL_FIELDS) {
    const given = model[key];
    if (given !== undefined && given !== base.modelConfig[key]) {
      throw errors.baseModelContradiction(base.id, `model.${key}`, given, base.modelConfig[key]);
    }
  }
  const tokenizer = input.tokenizer ?? {};
  const has = {
    type: base.config.tokenizer.type,
    vocabSize: base.modelConfig.vocabSize,
    minFrequency: base.config.tokenizer.minFrequency,
    lowercase: base.config.tokenizer.lowercase ?? false,
  };
  for (const key of ['type', 'vocabSize', 'minFrequency', 'lowercase'] as const) {
    const given = tokenizer[key];
    if (given !== undefined && given !== has[key])
      throw errors.baseModelContradiction(base.id, `tokenizer.${key}`, given, has[key]);
  }
  const { cell, layers, hiddenSize, embeddingSize, tieWeights } = base.modelConfig;
  const parsed = runConfigSchema.safeParse({
    tokenizer: base.config.tokenizer,
    model: {
      cell,
      layers,
      hiddenSize,
      embeddingSize,
      tieWeights,
      dropout: model.dropout ?? base.modelConfig.dropout,
    },
    training: input.training,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'config';
    throw errors.invalidConfig(field, issue?.message ?? 'invalid');
  }
  return parsed.data;
}

/** Throws unless `config` has the base model's architecture (a fine-tuning run's own check). */
export function assertSameArchitecture(base: BaseModelInfo, config: RunConfig): void {
  for (const key of FIXED_MODEL_FIELDS) {
    if (config.model[key] !== base.modelConfig[key]) {
      throw errors.baseModelContradiction(base.id, `model.${key}`, config.model[key], base.modelConfig[key]);
    }
  }
}

/**
 * A base model from a model directory's contents (storage's ModelArtifacts). The run
 * configuration comes from meta.json; one without it (a directory not written by a run) gets
 * the configuration its model.json and tokenizer imply.
 *
 * @throws RnnlmError RNNLM_ARTIFACT_CORRUPT when model.json holds no valid configuration.
 */
export function baseModelFromArtifacts(
  id: string,
  artifacts: {
    modelConfig: Record<string, unknown>;
    weights: NamedArray[];
    tokenizer: TokenizerJSON;
    meta: Record<string, unknown>;
  },
): BaseModel {
  const { vocabSize, ...spec } = artifacts.modelConfig;
  const parsed = modelSpecSchema.safeParse(spec);
  if (!parsed.success || typeof vocabSize !== 'number' || !Number.isInteger(vocabSize)) {
    throw errors.modelConfigInvalid(id);
  }
  const stored = runConfigSchema.safeParse(artifacts.meta.config);
  const config = stored.success
    ? stored.data
    : runConfigSchema.parse({ tokenizer: { type: artifacts.tokenizer.type }, model: parsed.data });
  return {
    id,
    config,
    modelConfig: { ...parsed.data, vocabSize },
    weights: artifacts.weights,
    tokenizer: artifacts.tokenizer,
  };
}
