/**
 * The published models as the API serves them: listings from each model directory's
 * meta.json, and generation and scoring on models loaded into a bounded cache.
 */
import type { EngineInfo, ModelCacheStats, ModelInfo, ModelService } from '../contracts/models.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { initBackend } from '../ml/backend.js';
import { score, type ScoreOptions, type ScoreResult } from '../ml/eval/score.js';
import { generate, type GenerateOptions, type GenerateResult, type OnText } from '../ml/generate/generate.js';
import type { RnnLm } from '../ml/model/lm.js';
import { modelFromArtifacts } from '../ml/pipeline.js';
import type { Tokenizer } from '../ml/tokenizers/index.js';
import { ModelDirs } from '../storage/model-dirs.js';
import { ModelCache } from './model-cache.js';
import { modelInfo } from './model-info.js';

/** Options of {@link InferenceService}. */
export interface InferenceServiceOptions {
  /** Directory holding one sub-directory per model. */
  dir: string;
  config: Pick<
    Config,
    'RNNLM_MODEL_CACHE_SIZE' | 'RNNLM_MAX_GENERATE_TOKENS' | 'RNNLM_BACKEND' | 'RNNLM_NATIVE_KERNELS'
  >;
  logger?: Logger | undefined;
}

interface Loaded {
  model: RnnLm;
  tokenizer: Tokenizer;
}

export class InferenceService implements ModelService {
  readonly dir: string;
  private readonly dirs: ModelDirs;
  private readonly config: InferenceServiceOptions['config'];
  private readonly logger: Logger | undefined;
  private readonly cache: ModelCache<Loaded>;

  constructor(options: InferenceServiceOptions) {
    this.dirs = new ModelDirs(options.dir);
    this.dir = this.dirs.dir;
    this.config = options.config;
    this.logger = options.logger;
    this.cache = new ModelCache<Loaded>({
      capacity: options.config.RNNLM_MODEL_CACHE_SIZE,
      load: (id) => this.load(id),
      unload: (id, { model }) => {
        model.dispose();
        this.logger?.debug({ modelId: id }, 'model evicted from cache');
      },
    });
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

  async generate(id: string, options: GenerateOptions, onText?: OnText): Promise<GenerateResult> {
    const maxTokens = Math.min(options.maxTokens, this.config.RNNLM_MAX_GENERATE_TOKENS);
    return this.withModel(id, ({ model, tokenizer }) =>
      generate(model, tokenizer, { ...options, maxTokens }, onText),
    );
  }

  async score(id: string, text: string, options: ScoreOptions): Promise<ScoreResult> {
    return this.withModel(id, ({ model, tokenizer }) => score(model, tokenizer, text, options));
  }

  /** Number of models loaded (or loading) in memory. */
  get cached(): number {
    return this.cache.size;
  }

  cacheStats(): ModelCacheStats {
    return this.cache.stats();
  }

  async ready(): Promise<EngineInfo> {
    const backend = await initBackend(this.config.RNNLM_BACKEND, this.config.RNNLM_NATIVE_KERNELS);
    return { backend: backend.name };
  }

  /** Frees every cached model that is not in use (the rest when their requests end). */
  close(): void {
    this.cache.clear();
  }

  private async withModel<T>(id: string, use: (loaded: Loaded) => Promise<T>): Promise<T> {
    const lease = this.cache.acquire(id);
    try {
      return await use(await lease.loading);
    } finally {
      lease.release();
    }
  }

  private async load(id: string): Promise<Loaded> {
    await initBackend(this.config.RNNLM_BACKEND, this.config.RNNLM_NATIVE_KERNELS);
    const loaded = modelFromArtifacts(await this.dirs.read(id));
    this.logger?.info({ modelId: id }, 'model loaded');
    return loaded;
  }
}
