/**
 * Loading a stored model: what inference, the CLI and export need of the engine, apart from
 * the training pipeline.
 */
import { errors } from '../errors.js';
import { modelSpecSchema, type ModelConfig } from './config.js';
import { RnnLm, type NamedArray } from './model/lm.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizers/index.js';

/** Rebuilds a model and its tokenizer from stored artifacts. */
export function modelFromArtifacts(artifacts: {
  modelConfig: unknown;
  weights: NamedArray[];
  tokenizer: unknown;
}): {
  model: RnnLm;
  tokenizer: Tokenizer;
} {
  const raw = (artifacts.modelConfig ?? {}) as Record<string, unknown>;
  const { vocabSize, ...spec } = raw;
  const parsed = modelSpecSchema.safeParse(spec);
  if (!parsed.success || typeof vocabSize !== 'number' || !Number.isInteger(vocabSize) || vocabSize < 1) {
    throw errors.modelConfigInvalid();
  }
  const config: ModelConfig = { ...parsed.data, vocabSize };
  const tokenizer = tokenizerFromJSON(artifacts.tokenizer);
  if (config.vocabSize !== tokenizer.vocabSize) {
    throw errors.vocabMismatch(config.vocabSize, tokenizer.vocabSize);
  }
  return { model: RnnLm.fromWeights(config, artifacts.weights), tokenizer };
}
