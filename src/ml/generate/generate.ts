import * as tf from '@tensorflow/tfjs';

import { RnnlmError } from '../../errors.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, keepState, type RnnLm } from '../model/lm.js';
import { HostStepper } from '../model/native-cells.js';
import { nativeKernels } from '../native.js';
import { Rng } from '../rng.js';
import { createStreamingDecoder, type Tokenizer } from '../tokenizers/index.js';
import { sampleToken, validateSamplingOptions, type SamplingOptions } from './logits.js';
import { StopSequenceMatcher } from './stop.js';
import { createTokenGuard } from './token-guard.js';

export type FinishReason = 'length' | 'stop' | 'eos';

export interface GenerateOptions extends SamplingOptions {
  prompt?: string | undefined;
  /** Upper bound on sampled tokens. */
  maxTokens: number;
  /** Seed of the sampler; the same seed, model and options give the same text. */
  seed?: number | undefined;
  /** Generation ends before the first occurrence of any of these; the stop text is not returned. */
  stop?: readonly string[] | undefined;
  /** Word models: end when `<eos>` (end of line) is sampled. */
  stopAtEos?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface GenerateResult {
  text: string;
  /** Tokens sampled. */
  tokens: number;
  finishReason: FinishReason;
}

/** Receives text as it becomes final (never text that later turns out to start a stop sequence). */
export type OnText = (delta: string) => void | Promise<void>;

/** Feeds tokens to a batch-1 state it carries and returns the logits after the last one. */
interface Stepper {
  advance(ids: Int32Array): Promise<Float32Array>;
  dispose(): void;
}

/** The model's tfjs forward pass, the state kept as tensors. */
function tensorStepper(model: RnnLm): Stepper {
  let state = model.zeroState(1);
  return {
    async advance(ids) {
      let last: tf.Tensor | undefined;
      let next: LayerState[] = state;
      tf.tidy(() => {
        const out = model.logits(ids, ids.length, state);
        const vocab = model.config.vocabSize;
        last = tf.keep(tf.slice(out.logits, [ids.length - 1, 0], [1, vocab]));
        next = keepState(out.state);
      });
      disposeState(state);
      state = next;
      const tensor = last as tf.Tensor;
      const logits = (await tensor.data()) as Float32Array;
      tensor.dispose();
      return logits;
    },
    dispose: () => disposeState(state),
  };
}

/** With the native kernels, the same steps in host memory (see {@link HostStepper}). */
function stepperFor(model: RnnLm): Stepper {
  const kernels = nativeKernels();
  if (kernels === undefined) return tensorStepper(model);
  const host = new HostStepper(kernels, model);
  return { advance: (ids) => Promise.resolve(host.advance(ids)), dispose: () => undefined };
}

/**
 * Samples text from the model: the state is primed on a line break and the prompt, then
 * tokens are drawn one at a time with the state carried. Every step's tensors are freed
 * before the next, and the event loop gets a turn between tokens.
 */
export async function generate(
  model: RnnLm,
  tokenizer: Tokenizer,
  options: GenerateOptions,
  onText?: OnText,
): Promise<GenerateResult> {
  validateSamplingOptions(options);
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) {
    throw new RnnlmError(
      'RNNLM_INVALID_CONFIG',
      `maxTokens must be a non-negative integer, got ${options.maxTokens}`,
      {
        field: 'maxTokens',
      },
    );
  }
  const prime = [...tokenizer.boundaryIds, ...tokenizer.encode(options.prompt ?? '')];
  if (prime.length === 0) {
    throw new RnnlmError(
      'RNNLM_INVALID_CONFIG',
      'this model has no line-break token to start from: give a non-empty prompt',
      { field: 'prompt' },
    );
  }
  const sampling: SamplingOptions = {
    temperature: options.temperature,
    topK: options.topK,
    topP: options.topP,
    suppressIds: options.suppressIds,
  };
  const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  const decoder = createStreamingDecoder(tokenizer, { after: options.prompt });
  const guard = createTokenGuard(tokenizer);
  const matcher = new StopSequenceMatcher(options.stop ?? []);
  let emitted = 0;
  const emit = async (text: string) => {
    if (onText !== undefined && text.length > emitted) await onText(text.slice(emitted));
    emitted = Math.max(emitted, text.length);
  };

  const stepper = stepperFor(model);
  let tokens = 0;
  let finishReason: FinishReason = 'length';
  try {
    let logits = await stepper.advance(Int32Array.from(prime));
    while (tokens < options.maxTokens) {
      if (options.signal?.aborted === true) throw new RnnlmError('RNNLM_ABORTED', 'generation was cancelled');
      const id = sampleToken(logits, sampling, rng, [guard(decoder.state())]);
      tokens++;
      if (options.stopAtEos === true && id === tokenizer.eosId) {
        finishReason = 'eos';
        break;
      }
      if (matcher.push(decoder.push(id))) {
        finishReason = 'stop';
        break;
      }
      await emit(matcher.safeText());
      if (tokens === options.maxTokens) break;
      // Reading a tensor resolves as a microtask on the cpu/wasm backends; a macrotask turn
      // lets a server answer other requests between the tokens of a long generation.
      await new Promise<void>((resolve) => setImmediate(resolve));
      logits = await stepper.advance(Int32Array.of(id));
    }
  } finally {
    stepper.dispose();
  }
  if (!matcher.stopped) matcher.push(decoder.flush());
  const text = matcher.text();
  await emit(text);
  return { text, tokens, finishReason };
}
