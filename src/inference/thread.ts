/**
 * The inference thread: it starts its own tfjs backend (backends are per thread) and the
 * native kernels, holds the loaded models, each with its batch scheduler, and answers the
 * API thread's requests (protocol.ts). Nothing here blocks the API's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';

import { errors } from '../errors.js';
import { initBackend } from '../ml/backend.js';
import { forwardOf } from '../ml/model/engine.js';
import type { RnnLm } from '../ml/model/lm.js';
import { modelFromArtifacts } from '../ml/load-model.js';
import { ModelDirs } from '../storage/model-dirs.js';
import {
  toWire,
  type BatchCount,
  type FromThread,
  type ThreadData,
  type ThreadMemory,
  type ThreadStats,
  type ToThread,
} from './protocol.js';
import { ModelScheduler, type RequestSink } from './scheduler.js';

interface Loaded {
  model: RnnLm;
  scheduler: ModelScheduler;
}

const port = parentPort;
if (port === null) throw new Error('thread.ts runs as a worker thread');
const data = workerData as ThreadData;
const dirs = new ModelDirs(data.dir);
const engine = initBackend(
  data.config.RNNLM_BACKEND,
  data.config.RNNLM_NATIVE_KERNELS,
  data.config.RNNLM_INFERENCE_THREADS,
);
// A failed start is answered to every request; it must not also end the thread.
engine.catch(() => undefined);
const models = new Map<string, Promise<Loaded>>();
/** Which model each request in a scheduler runs on, for cancellation. */
const running = new Map<number, ModelScheduler>();
/** Requests cancelled while their model was still loading. */
const cancelledEarly = new Set<number>();
/** Batched forwards since the last `stats` request, by kind and rows. */
let batches = new Map<string, BatchCount>();

/** Messages of one turn of the event loop go out together: one post per batched step. */
let outbox: FromThread[] = [];
function send(message: FromThread): void {
  if (outbox.length === 0) queueMicrotask(flush);
  outbox.push(message);
}
function flush(): void {
  const messages = outbox;
  outbox = [];
  port!.postMessage(messages);
}

function observeBatch(kind: BatchCount['kind'], rows: number): void {
  const key = `${kind}/${rows}`;
  const count = batches.get(key);
  if (count === undefined) batches.set(key, { kind, rows, count: 1 });
  else count.count++;
}

async function load(modelId: string): Promise<Loaded> {
  await engine;
  const { model, tokenizer } = modelFromArtifacts(await dirs.read(modelId));
  const { layers, hiddenSize } = model.config;
  const scheduler = new ModelScheduler(
    forwardOf(model),
    tokenizer,
    { layers, hidden: hiddenSize },
    data.maxRows,
    { batch: observeBatch },
  );
  return { model, scheduler };
}

function loaded(modelId: string): Promise<Loaded> {
  const model = models.get(modelId);
  if (model === undefined) {
    return Promise.reject(errors.modelNotLoaded(modelId));
  }
  return model;
}

function sink<T>(id: number, stream: boolean): RequestSink<T> {
  return {
    text: stream ? (delta, tokens) => send({ id, kind: 'text', delta, tokens }) : undefined,
    done: (value, queuedMs) => {
      running.delete(id);
      send({ id, kind: 'result', value, queuedMs });
    },
    fail: (err) => {
      running.delete(id);
      send({ id, kind: 'error', error: toWire(err) });
    },
  };
}

async function handle(message: ToThread): Promise<unknown> {
  switch (message.op) {
    case 'ready':
      return engine;
    case 'load': {
      const loading = load(message.modelId);
      models.set(message.modelId, loading);
      loading.catch(() => models.delete(message.modelId));
      await loading;
      return undefined;
    }
    case 'memory': {
      const memory = tf.memory();
      let stateBytes = 0;
      for (const model of models.values()) stateBytes += (await model).scheduler.load.stateBytes;
      return {
        numTensors: memory.numTensors,
        numBytes: memory.numBytes,
        models: models.size,
        stateBytes,
      } satisfies ThreadMemory;
    }
    case 'stats': {
      const stats: ThreadStats = { batches: [...batches.values()] };
      batches = new Map();
      return stats;
    }
    case 'generate':
    case 'score':
    case 'unload':
    case 'cancel':
      throw new Error(`${message.op} is not a request`);
  }
}

/** Generations and scorings join their model's scheduler; a bad request fails before it waits. */
async function enqueue(message: Extract<ToThread, { op: 'generate' | 'score' }>): Promise<void> {
  const { scheduler } = await loaded(message.modelId);
  if (cancelledEarly.delete(message.id)) throw errors.cancelled();
  running.set(message.id, scheduler);
  if (message.op === 'generate') {
    scheduler.generate(message.id, message.options, sink(message.id, message.stream));
  } else {
    scheduler.score(message.id, message.text, message.options, sink(message.id, false));
  }
}

port.on('message', (message: ToThread) => {
  switch (message.op) {
    case 'unload': {
      // The API thread unloads a model only once no request uses it.
      const model = models.get(message.modelId);
      models.delete(message.modelId);
      model?.then(
        ({ model: m }) => m.dispose(),
        () => undefined,
      );
      return;
    }
    case 'cancel': {
      const scheduler = running.get(message.id);
      if (scheduler === undefined) cancelledEarly.add(message.id);
      else scheduler.cancel(message.id);
      return;
    }
    case 'generate':
    case 'score':
      enqueue(message).catch((err: unknown) => {
        running.delete(message.id);
        send({ id: message.id, kind: 'error', error: toWire(err) });
      });
      return;
    case 'ready':
    case 'load':
    case 'memory':
    case 'stats':
      handle(message).then(
        (value) => send({ id: message.id, kind: 'result', value, queuedMs: 0 }),
        (err: unknown) => send({ id: message.id, kind: 'error', error: toWire(err) }),
      );
  }
});
