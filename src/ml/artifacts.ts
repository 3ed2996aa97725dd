/**
 * What a trained model is stored as: the artifacts a run hands to the model store and the
 * meta record beside its weights. Types only, so that the contracts, the store and the worker
 * can name them without importing the training code.
 */
import type { ModelConfig, RunConfig } from './config.js';
import type { NamedArray } from './model/lm.js';
import type { TokenizerJSON } from './tokenizers/index.js';

/** What a finished run hands to the model store (the storage layer's ModelArtifacts shape). */
export interface TrainedArtifacts {
  modelConfig: ModelConfig;
  weights: NamedArray[];
  tokenizer: TokenizerJSON;
  meta: ModelMeta;
}

export interface MetricSet {
  trainLoss: number | null;
  valLoss: number | null;
  valPerplexity: number | null;
  valBitsPerChar: number | null;
}

export interface ModelMeta {
  rnnlmVersion: string;
  createdAt: string;
  /** The model this one was fine-tuned from; null when trained from scratch. */
  baseModel: string | null;
  backend: { name: string; package: string; gpu: boolean; tfjsVersion: string };
  config: RunConfig;
  modelConfig: ModelConfig;
  tokenizer: { type: string; vocabSize: number };
  parameters: number;
  training: {
    steps: number;
    epochs: number;
    stopReason: string;
    elapsedMs: number;
    tokensPerSecond: number;
    trainTokens: number;
    validationTokens: number;
    /** Tokens of the text that the vocabulary could not encode (`<unk>`), training and validation. */
    unknownTokens: number;
    seed: number;
  };
  metrics: { final: MetricSet; best: MetricSet };
  history: { step: number; epoch: number; loss: number; perplexity: number; bitsPerChar: number }[];
}
