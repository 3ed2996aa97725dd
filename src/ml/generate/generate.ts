import { errors } from '../../errors.js';
import { Stepper } from '../model/engine.js';
import type { RnnLm } from '../model/lm.js';
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
  const stepper = new Stepper(model);
  // With nothing to sample the priming may be empty (see GenerationRow.prime): no logits to read.
  let logits = row.prime.length > 0 ? stepper.advance(row.prime) : new Float32Array(0);
  for (;;) {
    if (options.signal?.aborted === true) throw errors.cancelled();
    const id = row.next(logits);
    await emit();
    if (id === undefined) break;
    // Each step is synchronous: a macrotask turn lets a server answer other requests between
    // the tokens of a long generation.
    await new Promise<void>((resolve) => setImmediate(resolve));
    logits = stepper.advance(Int32Array.of(id));
  }
  return row.result();
}
