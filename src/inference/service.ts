/**
 * The published models as the API serves them: listings from each model directory's
 * meta.json, and generation and scoring on the inference thread (executor.ts), which holds
 * the models this side's bounded cache says are loaded.
 */
import type {
  InferenceStats,
  ModelCacheStats,
  ModelInfo,
  ModelService,
  QueueWait,
  RequestKind,
  ScoreRequest,
} from '../contracts/models.js';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { exportFiles, readExportSource, type ExportFormat } from '../export/index.js';
import type { Logger } from '../logger.js';
import { initBackend, type BackendInfo } from '../ml/backend.js';
import type { ScoreResult } from '../ml/eval/score.js';
import type { GenerateOptions, GenerateResult, OnText } from '../ml/generate/generate.js';
import type { StateOptions, StateResult } from '../ml/state.js';
import type { FileContent } from '../storage/fs-atomic.js';
import { ModelDirs } from '../storage/model-dirs.js';
import { Admission } from './admission.js';
import { InferenceExecutor } from './executor.js';
import { ModelCache } from './model-cache.js';
import { modelInfo } from './model-info.js';
import type { ThreadMemory } from './protocol.js';

/** Options of {@link InferenceService}. */
export interface InferenceServiceOptions {
  /** Directory holding one sub-directory per model. */
  dir: string;
  config: Pick<
    Config,
    | 'RNNLM_MODEL_CACHE_SIZE'
    | 'RNNLM_MAX_GENERATE_TOKENS'
    | 'RNNLM_BACKEND'
    | 'RNNLM_NATIVE_KERNELS'
    | 'RNNLM_INFERENCE_THREADS'
    | 'RNNLM_MAX_BATCH_ROWS'
    | 'RNNLM_MAX_QUEUED_REQUESTS'
  >;
  logger?: Logger | undefined;
}

/** Queue waits kept between two metrics scrapes at most; more are dropped, not buffered. */
const MAX_QUEUE_WAITS = 100_000;

export class InferenceService implements ModelService {
  readonly dir: string;
  private readonly dirs: ModelDirs;
  private readonly config: InferenceServiceOptions['config'];
  private readonly logger: Logger | undefined;
  private readonly cache: ModelCache<void>;
  private readonly executor: InferenceExecutor;
  private readonly admission: Admission;
  /** Queue waits since the last {@link inferenceStats}, in seconds (bounded between scrapes). */
  private queueWaits: QueueWait[] = [];

  constructor(options: InferenceServiceOptions) {
    this.dirs = new ModelDirs(options.dir);
    this.dir = this.dirs.dir;
    this.config = options.config;
    this.logger = options.logger;
    this.cache = new ModelCache<void>({
      capacity: options.config.RNNLM_MODEL_CACHE_SIZE,
      load: (id) => this.load(id),
      unload: (id) => {
        this.executor.unload(id);
        this.logger?.debug({ modelId: id }, 'model evicted from cache');
      },
    });
    this.executor = new InferenceExecutor({
      dir: this.dir,
      config: {
        RNNLM_BACKEND: options.config.RNNLM_BACKEND,
        RNNLM_NATIVE_KERNELS: options.config.RNNLM_NATIVE_KERNELS,
        RNNLM_INFERENCE_THREADS: options.config.RNNLM_INFERENCE_THREADS,
      },
      maxRows: options.config.RNNLM_MAX_BATCH_ROWS,
      logger: this.logger,
      onReset: () => this.cache.clear(),
    });
    this.admission = new Admission(
      options.config.RNNLM_MAX_BATCH_ROWS,
      options.config.RNNLM_MAX_QUEUED_REQUESTS,
    );
  }

  async list(): Promise<ModelInfo[]> {
    const infos = await Promise.all(
      (await this.dirs.ids()).map(async (id) => {
        try {
          return await this.get(id);
        } catch (err) {
          // One damaged model must not hide the others; get() reports it by id.
          this.logger?.warn({ modelId: id, err }, 'skipping unreadable model in listing');
          return undefined;
        }
      }),
    );
    return infos
      .filter((m): m is ModelInfo => m !== undefined)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<ModelInfo | undefined> {
    const raw = await this.dirs.meta(id);
    return raw === undefined ? undefined : modelInfo(id, raw);
  }

  async delete(id: string): Promise<boolean> {
    if (this.dirs.dirOf(id) === undefined) return false;
    this.cache.evict(id);
    const deleted = await this.dirs.delete(id);
    if (deleted) this.logger?.info({ modelId: id }, 'model deleted');
    return deleted;
  }

  async generate(
    id: string,
    options: GenerateOptions & StateOptions,
    onText?: OnText,
  ): Promise<GenerateResult & StateResult> {
    const { signal, ...request } = options;
    const maxTokens = Math.min(options.maxTokens, this.config.RNNLM_MAX_GENERATE_TOKENS);
    return this.withModel('generate', id, (onQueued) =>
      this.executor.generate(id, { ...request, maxTokens }, { onText, signal, onQueued }),
    );
  }

  async score(id: string, text: string, options: ScoreRequest): Promise<ScoreResult & StateResult> {
    return this.withModel('score', id, (onQueued) => this.executor.score(id, text, options, { onQueued }));
  }

  /** Exports convert on the API's own backend: they are rare, and need the whole model, not a batch row. */
  async exportFiles(id: string, format: ExportFormat): Promise<Map<string, FileContent> | undefined> {
    const dir = this.dirs.dirOf(id);
    if (dir === undefined || (await this.dirs.meta(id)) === undefined) return undefined;
    await initBackend(
      this.config.RNNLM_BACKEND,
      this.config.RNNLM_NATIVE_KERNELS,
      this.config.RNNLM_INFERENCE_THREADS,
    );
    return exportFiles(await readExportSource(dir, id), format);
  }

  checkCapacity(kind: RequestKind, id: string): void {
    this.admission.check(kind, id);
  }

  async inferenceStats(): Promise<InferenceStats> {
    const queueWaits = this.queueWaits;
    this.queueWaits = [];
    const { batches } = this.cache.size > 0 ? await this.executor.stats() : { batches: [] };
    return { ...this.admission.snapshot(), batches, queueWaits };
  }

  /** Number of models loaded (or loading) in memory. */
  get cached(): number {
    return this.cache.size;
  }

  cacheStats(): ModelCacheStats {
    return this.cache.stats();
  }

  ready(): Promise<BackendInfo> {
    return this.executor.ready();
  }

  /** What the inference thread holds now (tests check it for leaks). */
  memory(): Promise<ThreadMemory> {
    return this.executor.memory();
  }

  /** Forgets every cached model and stops the inference thread; requests in flight fail. */
  async close(): Promise<void> {
    this.cache.clear();
    await this.executor.close();
  }

  /** Runs `use` with a row (or a place in the queue) and the model loaded in the thread. */
  private async withModel<T>(
    kind: RequestKind,
    id: string,
    use: (onQueued: (ms: number) => void) => Promise<T>,
  ): Promise<T> {
    const leave = this.admission.enter(kind, id);
    const lease = this.cache.acquire(id);
    try {
      await lease.loading;
      return await use((ms) => {
        if (this.queueWaits.length < MAX_QUEUE_WAITS) this.queueWaits.push({ kind, seconds: ms / 1000 });
      });
    } finally {
      lease.release();
      leave();
    }
  }

  private async load(id: string): Promise<void> {
    if (this.dirs.dirOf(id) === undefined) throw errors.modelNotFound(id);
    await this.executor.load(id);
    this.logger?.info({ modelId: id }, 'model loaded');
  }
}
