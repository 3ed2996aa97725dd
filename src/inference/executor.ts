/**
 * The API side of the inference thread: models are loaded, and text generated and scored, in
 * a worker thread (thread.ts), so the API's event loop stays free for other requests (the
 * native kernels are synchronous C, and a tfjs step holds the thread that runs it). Requests
 * are numbered messages; a request whose signal aborts is cancelled in the thread.
 */
import { Worker } from 'node:worker_threads';

import type { BackendInfo } from '../ml/backend.js';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import type { GenerateResult, OnText } from '../ml/generate/generate.js';
import {
  fromWire,
  type FromThread,
  type GenerateRequest,
  type ScoreRequest,
  type ScoreResult,
  type StateResult,
  type ThreadData,
  type ThreadMemory,
  type ThreadStats,
  type ToThread,
} from './protocol.js';

/** What a generation or scoring may be given besides its options. */
export interface RequestHooks {
  /** Aborting cancels the request in the thread: its row computes nothing more. */
  signal?: AbortSignal | undefined;
  /** Told how long the request waited for a row. */
  onQueued?: ((ms: number) => void) | undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onText?: OnText | undefined;
  /** Told how long a generation or scoring waited for a row. */
  onQueued?: ((ms: number) => void) | undefined;
  /** The client's onText calls, in order; the answer waits for them. */
  chain: Promise<void>;
}

/** Options of {@link InferenceExecutor}. */
export interface InferenceExecutorOptions extends ThreadData {
  logger?: Logger | undefined;
  /** Called when the thread stopped unexpectedly: the models it held are gone. */
  onReset?: (() => void) | undefined;
}

/** The thread's entry: under tsx (a .ts file) the thread registers tsx itself before loading it. */
function threadUrl(): URL {
  const entry = new URL(`./thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return entry;
  const boot = [
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};`,
    'register();',
    `await import(${JSON.stringify(entry.href)});`,
  ].join('\n');
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export class InferenceExecutor {
  private readonly data: ThreadData;
  private readonly logger: Logger | undefined;
  private readonly onReset: (() => void) | undefined;
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(options: InferenceExecutorOptions) {
    this.data = { dir: options.dir, config: options.config, maxRows: options.maxRows };
    this.logger = options.logger;
    this.onReset = options.onReset;
  }

  /** Resolves once the thread's tfjs backend (and native kernels) have started. */
  ready(): Promise<BackendInfo> {
    return this.request<BackendInfo>((id) => ({ op: 'ready', id }));
  }

  load(modelId: string): Promise<void> {
    return this.request<void>((id) => ({ op: 'load', id, modelId }));
  }

  unload(modelId: string): void {
    // A thread that is gone holds no models.
    this.worker?.postMessage({ op: 'unload', modelId } satisfies ToThread);
  }

  generate(
    modelId: string,
    options: GenerateRequest,
    hooks: RequestHooks & { onText?: OnText | undefined } = {},
  ): Promise<GenerateResult & StateResult> {
    return this.request<GenerateResult & StateResult>(
      (id) => ({ op: 'generate', id, modelId, options, stream: hooks.onText !== undefined }),
      hooks,
    );
  }

  score(
    modelId: string,
    text: string,
    options: ScoreRequest,
    hooks: RequestHooks = {},
  ): Promise<ScoreResult & StateResult> {
    return this.request<ScoreResult & StateResult>(
      (id) => ({ op: 'score', id, modelId, text, options }),
      hooks,
    );
  }

  /** The thread's batched forwards since the last call. */
  stats(): Promise<ThreadStats> {
    return this.request<ThreadStats>((id) => ({ op: 'stats', id }));
  }

  /** What the thread holds now (tests check it for leaks). */
  memory(): Promise<ThreadMemory> {
    return this.request<ThreadMemory>((id) => ({ op: 'memory', id }));
  }

  /** Stops the thread; requests in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
    this.failAll(errors.inferenceThreadClosed());
  }

  private request<T>(
    message: (id: number) => ToThread,
    options: RequestHooks & { onText?: OnText | undefined } = {},
  ): Promise<T> {
    if (this.closed) return Promise.reject(errors.inferenceThreadClosed());
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(errors.cancelled());
    const worker = this.thread();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const cancel = () => this.worker?.postMessage({ op: 'cancel', id } satisfies ToThread);
      signal?.addEventListener('abort', cancel, { once: true });
      const settle = () => {
        signal?.removeEventListener('abort', cancel);
        this.pending.delete(id);
        if (this.pending.size === 0) this.worker?.unref();
      };
      this.pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value as T);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
        onText: options.onText,
        onQueued: options.onQueued,
        chain: Promise.resolve(),
      });
      // A request in flight keeps the process alive; an idle thread does not.
      worker.ref();
      worker.postMessage(message(id));
    });
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(threadUrl(), { workerData: this.data, name: 'rnnlm-inference' });
    worker.unref();
    worker.on('message', (messages: FromThread[]) => {
      for (const message of messages) this.receive(message);
    });
    worker.on('error', (err) => {
      this.logger?.error({ err }, 'the inference thread failed');
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.logger?.error({ code }, 'the inference thread stopped; the next request starts a new one');
      this.failAll(errors.inferenceThreadStopped(code));
      this.onReset?.();
    });
    this.worker = worker;
    return worker;
  }

  private receive(message: FromThread): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    switch (message.kind) {
      case 'text': {
        const { onText } = pending;
        if (onText === undefined) return;
        pending.chain = pending.chain.then(() => onText(message.delta, message.tokens));
        // Handled when the answer comes; until then a failed write must not count as unhandled.
        pending.chain.catch(() => undefined);
        return;
      }
      case 'result':
        pending.onQueued?.(message.queuedMs);
        pending.chain.then(
          () => pending.resolve(message.value),
          (err: unknown) => pending.reject(err instanceof Error ? err : new Error(String(err))),
        );
        return;
      case 'error': {
        const err = fromWire(message.error);
        pending.chain.then(
          () => pending.reject(err),
          () => pending.reject(err),
        );
        return;
      }
    }
  }

  private failAll(err: Error): void {
    for (const pending of [...this.pending.values()]) pending.reject(err);
  }
}
