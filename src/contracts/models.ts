/**
 * The seam between the API and the published models: the API depends only on these types,
 * and src/inference implements them (listing from the model directories, generation and
 * scoring on the inference executor).
 */
import type { BackendInfo } from '../ml/backend.js';
import type { ScoreOptions, ScoreResult } from '../ml/eval/score.js';
import type { GenerateOptions, GenerateResult, OnText } from '../ml/generate/generate.js';
import type { ModelMeta } from '../ml/pipeline.js';

/** A published model as the API lists it. */
export interface ModelInfo {
  id: string;
  jobId: string | null;
  name: string;
  createdAt: string;
  backend: string;
  config: ModelMeta['config'];
  tokenizer: { type: string; vocabSize: number };
  parameters: number;
  metrics: ModelMeta['metrics'];
}

/** The loaded-model cache: hits, misses and evictions since the service started, and its size now. */
export interface ModelCacheStats {
  hits: number;
  misses: number;
  /** Models dropped to make room for another. */
  evictions: number;
  size: number;
  capacity: number;
}

export interface ModelService {
  list(): Promise<ModelInfo[]>;
  /** undefined when no such model; throws RNNLM_ARTIFACT_CORRUPT / a 409 code when it exists but is not complete. */
  get(id: string): Promise<ModelInfo | undefined>;
  delete(id: string): Promise<boolean>;
  /** Loads (LRU cache bounded by count) and generates. */
  generate(id: string, options: GenerateOptions, onText?: OnText): Promise<GenerateResult>;
  score(id: string, text: string, options: ScoreOptions): Promise<ScoreResult>;
  cacheStats(): ModelCacheStats;
  /**
   * Resolves once the engine that runs the models has started (the tfjs backend and, where
   * used, the native kernels); `/readyz` waits on it. Rejects when it cannot start.
   */
  ready(): Promise<BackendInfo>;
}
