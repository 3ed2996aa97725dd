import type { ModelCacheStats } from '../contracts/models.js';

/** How {@link ModelCache} gets a model into memory and out again. */
export interface ModelCacheOptions<T> {
  /** Models kept at most; the least recently used one goes first. */
  capacity: number;
  load(id: string): Promise<T>;
  /** Called once per loaded model, when it is evicted and no request uses it any more. */
  unload(id: string, model: T): void;
}

/** A handle on a cached model: `loading` resolves to it; `release()` once the request ends. */
export interface CacheLease<T> {
  loading: Promise<T>;
  release(): void;
}

interface Entry<T> {
  loading: Promise<T>;
  /** Requests using the model right now; an evicted model is unloaded when the last one ends. */
  users: number;
  evicted: boolean;
}

/**
 * The loaded models, bounded by count, in least-recently-used order. A model evicted while
 * requests use it is unloaded when the last of them ends; a failed load is not kept, so the
 * next request tries again.
 */
export class ModelCache<T> {
  /** Insertion order is recency order: a hit moves the entry to the end. */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(private readonly options: ModelCacheOptions<T>) {}

  /** Number of models loaded (or loading). */
  get size(): number {
    return this.entries.size;
  }

  stats(): ModelCacheStats {
    return { ...this.counts, size: this.entries.size, capacity: this.options.capacity };
  }

  acquire(id: string): CacheLease<T> {
    let entry = this.entries.get(id);
    if (entry !== undefined) {
      this.counts.hits++;
      this.entries.delete(id);
      this.entries.set(id, entry);
    } else {
      this.counts.misses++;
      const created: Entry<T> = { loading: this.options.load(id), users: 0, evicted: false };
      entry = created;
      this.entries.set(id, created);
      created.loading.catch(() => {
        if (this.entries.get(id) === created) this.entries.delete(id);
      });
      this.trim();
    }
    const leased = entry;
    leased.users++;
    let released = false;
    return {
      loading: leased.loading,
      release: () => {
        if (released) return;
        released = true;
        leased.users--;
        if (leased.evicted && leased.users === 0) this.unload(id, leased);
      },
    };
  }

  /** Drops model `id` from the cache (unloaded now, or when its last request ends). */
  evict(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    entry.evicted = true;
    if (entry.users === 0) this.unload(id, entry);
  }

  /** Evicts every model. */
  clear(): void {
    for (const id of [...this.entries.keys()]) this.evict(id);
  }

  private trim(): void {
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.options.capacity) break;
      this.counts.evictions++;
      this.evict(id);
    }
  }

  private unload(id: string, entry: Entry<T>): void {
    entry.loading.then(
      (model) => this.options.unload(id, model),
      () => undefined,
    );
  }
}
