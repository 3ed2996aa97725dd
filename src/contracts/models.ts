/**
 * The seam between the API and the published models: the API depends only on these types,
 * and src/inference implements them (listing from the model directories, generation and
 * scoring on the inference executor).
 */
import type { ExportFormat } from '../export/index.js';
import type { BackendInfo } from '../ml/backend.js';
import type { ScoreOptions, ScoreResult } from '../ml/eval/score.js';
import type { GenerateOptions, GenerateResult, OnText } from '../ml/generate/generate.js';
import type { StateOptions, StateResult } from '../ml/state.js';
import type { ModelMeta } from '../ml/artifacts.js';
import type { FileContent } from '../storage/fs-atomic.js';

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
  /** The model this one was fine-tuned from; null when trained from scratch (or before lineage was recorded). */
  baseModel: string | null;
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
  /**
   * Loads (LRU cache bounded by count) and generates; from `options.state` where given, and
   * with `keepState` handing back the state it ends in.
   */
  generate(
    id: string,
    options: GenerateOptions & StateOptions,
    onText?: OnText,
  ): Promise<GenerateResult & StateResult>;
  score(id: string, text: string, options: ScoreRequest): Promise<ScoreResult & StateResult>;
  cacheStats(): ModelCacheStats;
  /** The files of the model exported to `format` (src/export); undefined when there is no such model. */
  exportFiles(id: string, format: ExportFormat): Promise<Map<string, FileContent> | undefined>;
  /**
   * Resolves once the engine that runs the models has started (the tfjs backend and, where
   * used, the native kernels); `/readyz` waits on it. Rejects when it cannot start.
   */
  ready(): Promise<BackendInfo>;
  /**
   * Throws 503 `RNNLM_OVERLOADED` (with `retryAfterSeconds`) when a request of this kind on
   * this model would find neither a batch row nor a place in the wait queue; generate() and
   * score() check it too, but a stream must know before its 200 is sent. Optional: without it
   * the API checks nothing.
   */
  checkCapacity?(kind: RequestKind, id: string): void;
  /**
   * What batching did since the last call (read at each metrics scrape: each observation is
   * handed out once). Optional: without it the metrics leave batching out.
   */
  inferenceStats?(): Promise<InferenceStats>;
}

/** A scoring's options as the service takes them. */
export interface ScoreRequest extends ScoreOptions, StateOptions {
  /** With `details`: the `topN` most likely tokens at each scored position too (0 = none). */
  topN?: number | undefined;
}

export type RequestKind = 'generate' | 'score';

/** Rows in use and requests waiting for one, by kind. */
export interface AdmissionLoad {
  active: Record<RequestKind, number>;
  waiting: Record<RequestKind, number>;
}

/** How long one request waited for a batch row. */
export interface QueueWait {
  kind: RequestKind;
  seconds: number;
}

export interface InferenceStats extends AdmissionLoad {
  /** Batched forwards since the last call: `count` forwards of `rows` rows each. */
  batches: { kind: RequestKind; rows: number; count: number }[];
  queueWaits: QueueWait[];
}
