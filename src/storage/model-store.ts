/**
 * The published models, as the API serves them: listings from each model directory's
 * meta.json, and generation and scoring from an LRU cache of loaded models bounded by count.
 * Model ids are checked against a strict pattern before any path is built from them, so a
 * request can only ever reach a directory directly under the models directory.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { z } from 'zod';

import type { Config } from '../config.js';
import { isRnnlmError, RnnlmError } from '../errors.js';
import { exportFiles, readExportSource, type ExportFormat } from '../export/index.js';
import type { Logger } from '../logger.js';
import { initBackend } from '../ml/backend.js';
import { runConfigSchema } from '../ml/config.js';
import { score, type ScoreOptions, type ScoreResult } from '../ml/eval/score.js';
import { generate, type GenerateOptions, type GenerateResult, type OnText } from '../ml/generate/generate.js';
import type { RnnLm } from '../ml/model/lm.js';
import { modelFromArtifacts } from '../ml/pipeline.js';
import type { Tokenizer } from '../ml/tokenizers/index.js';
import { isModelId } from '../queue/training-queue.js';
import type { ModelCacheStats, ModelInfo, ModelService } from '../queue/types.js';
import { readModelDir, readModelMeta } from './artifacts.js';
import { isNotFound, type FileContent } from './fs-atomic.js';

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

/** Options of {@link ModelStore}. */
export interface ModelStoreOptions {
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

interface CacheEntry {
  loading: Promise<Loaded>;
  /** Requests using the model right now; an evicted model is disposed when the last one ends. */
  users: number;
  evicted: boolean;
}

export class ModelStore implements ModelService {
  readonly dir: string;
  private readonly config: ModelStoreOptions['config'];
  private readonly logger: Logger | undefined;
  /** Insertion order is recency order: a hit moves the entry to the end. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(options: ModelStoreOptions) {
    this.dir = resolve(options.dir);
    this.config = options.config;
    this.logger = options.logger;
  }

  private dirOf(id: string): string | undefined {
    return isModelId(id) ? join(this.dir, id) : undefined;
  }

  async list(): Promise<ModelInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const infos = await Promise.all(
      names.filter(isModelId).map(async (id) => {
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
    const dir = this.dirOf(id);
    if (dir === undefined) return undefined;
    let raw: Record<string, unknown>;
    try {
      raw = await readModelMeta(dir);
    } catch (err) {
      if (!isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND')) throw err;
      // Published directories always hold meta.json; one without it is damaged.
      if (await isDirectory(dir)) {
        throw new RnnlmError('RNNLM_ARTIFACT_CORRUPT', `model ${id} has no meta.json`, { modelId: id });
      }
      return undefined;
    }
    const parsed = storedMetaSchema.safeParse(raw);
    if (!parsed.success) {
      throw new RnnlmError(
        'RNNLM_ARTIFACT_CORRUPT',
        `model ${id}: meta.json is not a model description (${parsed.error.issues[0]?.path.join('.') ?? ''})`,
        { modelId: id },
      );
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

  async delete(id: string): Promise<boolean> {
    const dir = this.dirOf(id);
    if (dir === undefined || !(await isDirectory(dir))) return false;
    this.evict(id);
    await rm(dir, { recursive: true, force: true });
    this.logger?.info({ modelId: id }, 'model deleted');
    return true;
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

  async exportFiles(id: string, format: ExportFormat): Promise<Map<string, FileContent> | undefined> {
    const dir = this.dirOf(id);
    if (dir === undefined || !(await isDirectory(dir))) return undefined;
    await initBackend(this.config.RNNLM_BACKEND, this.config.RNNLM_NATIVE_KERNELS);
    return exportFiles(await readExportSource(dir, id), format);
  }

  /** Number of models loaded (or loading) in memory. */
  get cached(): number {
    return this.cache.size;
  }

  cacheStats(): ModelCacheStats {
    return { ...this.counts, size: this.cache.size, capacity: this.config.RNNLM_MODEL_CACHE_SIZE };
  }

  /** Frees every cached model that is not in use (the rest when their requests end). */
  close(): void {
    for (const id of [...this.cache.keys()]) this.evict(id);
  }

  private async withModel<T>(id: string, use: (loaded: Loaded) => Promise<T>): Promise<T> {
    const entry = this.acquire(id);
    try {
      return await use(await entry.loading);
    } finally {
      this.release(entry);
    }
  }

  private acquire(id: string): CacheEntry {
    let entry = this.cache.get(id);
    if (entry !== undefined) {
      this.counts.hits++;
      this.cache.delete(id);
      this.cache.set(id, entry);
    } else {
      this.counts.misses++;
      const created: CacheEntry = { loading: this.load(id), users: 0, evicted: false };
      entry = created;
      this.cache.set(id, created);
      // A failed load must not stay cached: the next request tries again.
      created.loading.catch(() => {
        if (this.cache.get(id) === created) this.cache.delete(id);
      });
      this.trim();
    }
    entry.users++;
    return entry;
  }

  private release(entry: CacheEntry): void {
    entry.users--;
    if (entry.evicted && entry.users === 0) disposeEntry(entry);
  }

  private trim(): void {
    for (const id of this.cache.keys()) {
      if (this.cache.size <= this.config.RNNLM_MODEL_CACHE_SIZE) break;
      this.counts.evictions++;
      this.evict(id);
    }
  }

  private evict(id: string): void {
    const entry = this.cache.get(id);
    if (entry === undefined) return;
    this.cache.delete(id);
    entry.evicted = true;
    if (entry.users === 0) disposeEntry(entry);
    this.logger?.debug({ modelId: id }, 'model evicted from cache');
  }

  private async load(id: string): Promise<Loaded> {
    const dir = this.dirOf(id);
    if (dir === undefined) throw notFound(id);
    await initBackend(this.config.RNNLM_BACKEND, this.config.RNNLM_NATIVE_KERNELS);
    let artifacts: Awaited<ReturnType<typeof readModelDir>>;
    try {
      artifacts = await readModelDir(dir);
    } catch (err) {
      if (isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND')) {
        if (await isDirectory(dir)) {
          throw new RnnlmError('RNNLM_ARTIFACT_CORRUPT', `model ${id} has no meta.json`, { modelId: id });
        }
        throw notFound(id);
      }
      throw err;
    }
    const loaded = modelFromArtifacts(artifacts);
    this.logger?.info({ modelId: id }, 'model loaded');
    return loaded;
  }
}

function notFound(id: string): RnnlmError {
  return new RnnlmError('RNNLM_MODEL_NOT_FOUND', `no model ${JSON.stringify(id)}`, { modelId: id });
}

function disposeEntry(entry: CacheEntry): void {
  entry.loading.then(
    ({ model }) => model.dispose(),
    () => undefined,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
