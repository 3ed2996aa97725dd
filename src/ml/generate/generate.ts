import * as tf from '@tensorflow/tfjs';

import { RnnlmError } from '../../errors.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, keepState, type RnnLm } from '../model/lm.js';
import { HostStepper } from '../model/host-forward.js';
import { nativeKernels } from '../native.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { GenerationRow, type RowOptions, type RowResult, type TokenDetail } from './row.js';

export type { FinishReason, TokenDetail } from './row.js';

export interface GenerateOptions extends RowOptions {
  signal?: AbortSignal | undefined;
}

export type GenerateResult = RowResult;

/**
 * Receives text as it becomes final (never text that later turns out to start a stop
 * sequence) and, with `details`, the tokens sampled since the previous call.
 */
export type OnText = (delta: string, tokens?: TokenDetail[]) => void | Promise<void>;

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
  const row = new GenerationRow(tokenizer, options);
  const emit = async () => {
    const delta = row.takeText();
    if (onText !== undefined && delta.length > 0) await onText(delta, row.takeTokens());
  };
  const stepper = stepperFor(model);
  try {
    // With nothing to sample the priming may be empty (see GenerationRow.prime): no logits to read.
    let logits = row.prime.length > 0 ? await stepper.advance(row.prime) : new Float32Array(0);
    for (;;) {
      if (options.signal?.aborted === true) throw new RnnlmError('RNNLM_ABORTED', 'generation was cancelled');
      const id = row.next(logits);
      await emit();
      if (id === undefined) break;
      // Reading a tensor resolves as a microtask on the cpu/wasm backends; a macrotask turn
      // lets a server answer other requests between the tokens of a long generation.
      await new Promise<void>((resolve) => setImmediate(resolve));
      logits = await stepper.advance(Int32Array.of(id));
    }
  } finally {
    stepper.dispose();
  }
  return row.result();
}
