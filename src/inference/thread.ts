/**
 * The inference thread: it starts its own tfjs backend (backends are per thread) and the
 * native kernels, holds the loaded models and runs the generations and scorings the API
 * thread sends it (protocol.ts). Nothing here blocks the API's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';

import { RnnlmError } from '../errors.js';
import { initBackend } from '../ml/backend.js';
import { score } from '../ml/eval/score.js';
import { generate } from '../ml/generate/generate.js';
import type { RnnLm } from '../ml/model/lm.js';
import { modelFromArtifacts } from '../ml/pipeline.js';
import type { Tokenizer } from '../ml/tokenizers/index.js';
import { ModelDirs } from '../storage/model-dirs.js';
import { toWire, type FromThread, type ThreadData, type ThreadMemory, type ToThread } from './protocol.js';

interface Loaded {
  model: RnnLm;
  tokenizer: Tokenizer;
}

const port = parentPort;
if (port === null) throw new Error('thread.ts runs as a worker thread');
const data = workerData as ThreadData;
const dirs = new ModelDirs(data.dir);
const engine = initBackend(data.config.RNNLM_BACKEND, data.config.RNNLM_NATIVE_KERNELS);
// A failed start is answered to every request; it must not also end the thread.
engine.catch(() => undefined);
const models = new Map<string, Promise<Loaded>>();
const cancels = new Map<number, AbortController>();

function send(message: FromThread): void {
  port!.postMessage(message);
}

function loaded(modelId: string): Promise<Loaded> {
  const model = models.get(modelId);
  if (model === undefined) {
    return Promise.reject(
      new RnnlmError('RNNLM_INTERNAL', `model ${modelId} is not loaded in the inference thread`),
    );
  }
  return model;
}

async function handle(message: ToThread): Promise<unknown> {
  switch (message.op) {
    case 'ready':
      return engine;
    case 'load': {
      await engine;
      const loading = dirs.read(message.modelId).then((artifacts) => modelFromArtifacts(artifacts));
      models.set(message.modelId, loading);
      loading.catch(() => models.delete(message.modelId));
      await loading;
      return undefined;
    }
    case 'generate': {
      const { model, tokenizer } = await loaded(message.modelId);
      const controller = new AbortController();
      cancels.set(message.id, controller);
      try {
        return await generate(
          model,
          tokenizer,
          { ...message.options, signal: controller.signal },
          message.stream ? (delta) => send({ id: message.id, kind: 'text', delta }) : undefined,
        );
      } finally {
        cancels.delete(message.id);
      }
    }
    case 'score': {
      const { model, tokenizer } = await loaded(message.modelId);
      return score(model, tokenizer, message.text, message.options);
    }
    case 'memory': {
      const memory = tf.memory();
      return {
        numTensors: memory.numTensors,
        numBytes: memory.numBytes,
        models: models.size,
      } satisfies ThreadMemory;
    }
    case 'unload':
    case 'cancel':
      return undefined;
  }
}

port.on('message', (message: ToThread) => {
  if (message.op === 'unload') {
    const model = models.get(message.modelId);
    models.delete(message.modelId);
    model?.then(
      ({ model: m }) => m.dispose(),
      () => undefined,
    );
    return;
  }
  if (message.op === 'cancel') {
    cancels.get(message.id)?.abort();
    return;
  }
  handle(message).then(
    (value) => send({ id: message.id, kind: 'result', value }),
    (err: unknown) => send({ id: message.id, kind: 'error', error: toWire(err) }),
  );
});
