/**
 * A model run in this browser: the API's TensorFlow.js export (GET /models/{id}/export?format=
 * tfjs) loaded with tfjs' own backends, and the engine's own generation loop (GenerationRow,
 * tokenizer, sampler, token guard, stop matcher) run on it through the export's forward pass,
 * so that the same prompt and settings give the same text as the server (greedy exactly;
 * sampled text with a seed too, up to float differences between backends).
 */
import * as tf from '@tensorflow/tfjs';

import { LayersForward } from '../../src/export/layers-forward.js';
import type { TfjsExportMetadata } from '../../src/export/types.js';
import {
  generateOn,
  type GenerateOptions,
  type GenerateResult,
  type OnText,
} from '../../src/ml/generate/loop.js';
import { tokenizerFromJSON } from '../../src/ml/tokenizers/index.js';
import { request } from './api.js';

export type LocalBackend = 'auto' | 'webgl' | 'cpu';

export interface LocalModel {
  readonly meta: TfjsExportMetadata;
  /** The tfjs backend it runs on. */
  readonly backend: string;
  generate(options: GenerateOptions, onText: OnText): Promise<GenerateResult>;
  dispose(): void;
}

/** A turn of the page's event loop between tokens, so that it paints them and hears "Stop". */
const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Loads the model's tfjs export from the API (the page's fetch: it sends the API key and asks for one on a 401). */
export async function loadLocalModel(id: string, backend: LocalBackend): Promise<LocalModel> {
  if (backend !== 'auto') await tf.setBackend(backend);
  await tf.ready();
  const model = await tf.loadLayersModel(`/models/${encodeURIComponent(id)}/export?format=tfjs`, {
    // tfjs asks for model.json and the shard by URL string.
    fetchFunc: (input: RequestInfo | URL, init?: RequestInit) =>
      request(input instanceof Request ? input.url : input.toString(), init),
  });
  const meta = (model.getUserDefinedMetadata() as { rnnlm?: TfjsExportMetadata } | undefined)?.rnnlm;
  if (meta === undefined) {
    model.dispose();
    throw new Error('the export has no rnnlm metadata');
  }
  const tokenizer = tokenizerFromJSON(meta.tokenizer.json);
  const forward = new LayersForward(model, meta);
  return {
    meta,
    backend: tf.getBackend(),
    generate: (options, onText) => generateOn(forward, meta, tokenizer, options, macrotask, onText),
    dispose: () => model.dispose(),
  };
}
