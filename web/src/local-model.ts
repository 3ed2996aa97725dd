/**
 * A model run in this browser: the API's TensorFlow.js export (GET /models/{id}/export?format=
 * tfjs) loaded with tfjs' own backends, and the server's generation loop re-created on it
 * with the engine's own tokenizer, sampler and stop matcher, so that the same prompt and
 * settings give the same text (greedy exactly; sampled text with a seed too, up to float
 * differences between backends).
 */
import type * as Tf from '@tensorflow/tfjs';

import type { TfjsExportMetadata } from '../../src/export/types.js';
import { sampleToken, validateSamplingOptions, type SamplingOptions } from '../../src/ml/generate/logits.js';
import { StopSequenceMatcher } from '../../src/ml/generate/stop.js';
import { Rng } from '../../src/ml/rng.js';
import { createStreamingDecoder, tokenizerFromJSON, type Tokenizer } from '../../src/ml/tokenizers/index.js';
import { request } from './api.js';

export type LocalBackend = 'auto' | 'webgl' | 'cpu';

export interface LocalGenerateOptions extends SamplingOptions {
  prompt: string;
  maxTokens: number;
  seed?: number | undefined;
  stop?: string[] | undefined;
  signal?: AbortSignal | undefined;
}

export interface LocalModel {
  readonly meta: TfjsExportMetadata;
  /** The tfjs backend it runs on. */
  readonly backend: string;
  generate(
    options: LocalGenerateOptions,
    onText: (delta: string) => void,
  ): Promise<{ text: string; tokens: number; finishReason: 'length' | 'stop' }>;
  dispose(): void;
}

/** Loads the model's tfjs export from the API (the page's fetch: it sends the API key and asks for one on a 401). */
export async function loadLocalModel(id: string, backend: LocalBackend): Promise<LocalModel> {
  // tfjs is large: it is loaded on first use, not with the dashboard.
  const tf = await import('@tensorflow/tfjs');
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
  return {
    meta,
    backend: tf.getBackend(),
    generate: (options, onText) => generate(tf, model, meta, tokenizer, options, onText),
    dispose: () => model.dispose(),
  };
}

/** Feeds `ids` with the state carried; returns the logits after the last one. */
function stepper(tf: typeof Tf, model: Tf.LayersModel, meta: TfjsExportMetadata) {
  let state: Tf.Tensor[] = meta.inputs.slice(1).map(() => tf.zeros([1, meta.hiddenSize]));
  const call = (ids: number[]): Tf.Tensor => {
    const [logits, ...next] = model.predict([
      tf.tensor2d([ids], [1, ids.length], 'int32'),
      ...state,
    ]) as Tf.Tensor[];
    for (const s of state) s.dispose();
    state = next.map((s) => tf.keep(s));
    return logits as Tf.Tensor;
  };
  return {
    async advance(ids: number[]): Promise<Float32Array> {
      const chunks = meta.tokensPerCall === null ? [ids] : ids.map((id) => [id]);
      const last = tf.tidy(() => {
        let logits: Tf.Tensor | undefined;
        for (const chunk of chunks) logits = call(chunk);
        return tf.slice(
          logits as Tf.Tensor,
          [0, ((logits as Tf.Tensor).shape[1] as number) - 1, 0],
          [1, 1, meta.vocabSize],
        );
      });
      const data = (await last.data()) as Float32Array;
      last.dispose();
      return data;
    },
    dispose: () => {
      for (const s of state) s.dispose();
    },
  };
}

/** The server's generate() (src/ml/generate/generate.ts), on the tfjs export. */
async function generate(
  tf: typeof Tf,
  model: Tf.LayersModel,
  meta: TfjsExportMetadata,
  tokenizer: Tokenizer,
  options: LocalGenerateOptions,
  onText: (delta: string) => void,
): Promise<{ text: string; tokens: number; finishReason: 'length' | 'stop' }> {
  validateSamplingOptions(options);
  const prime = [...tokenizer.boundaryIds, ...tokenizer.encode(options.prompt)];
  if (prime.length === 0) throw new Error('this model has no line-break token to start from: give a prompt');
  const sampling: SamplingOptions = {
    temperature: options.temperature,
    topK: options.topK,
    topP: options.topP,
    suppressIds: tokenizer.unkId === undefined ? [] : [tokenizer.unkId],
  };
  const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  const decoder = createStreamingDecoder(tokenizer);
  const matcher = new StopSequenceMatcher(options.stop ?? []);
  let emitted = 0;
  const emit = (text: string) => {
    if (text.length > emitted) onText(text.slice(emitted));
    emitted = Math.max(emitted, text.length);
  };
  const steps = stepper(tf, model, meta);
  let tokens = 0;
  let finishReason: 'length' | 'stop' = 'length';
  try {
    let logits = await steps.advance(prime);
    while (tokens < options.maxTokens) {
      if (options.signal?.aborted === true) throw new DOMException('generation was stopped', 'AbortError');
      const id = sampleToken(logits, sampling, rng);
      tokens++;
      if (matcher.push(decoder.push(id))) {
        finishReason = 'stop';
        break;
      }
      emit(matcher.safeText());
      if (tokens === options.maxTokens) break;
      logits = await steps.advance([id]);
    }
  } finally {
    steps.dispose();
  }
  if (!matcher.stopped) matcher.push(decoder.flush());
  const text = matcher.text();
  emit(text);
  return { text, tokens, finishReason };
}
