/**
 * The generation loop on any forward pass: one {@link GenerationRow} at batch 1, its state
 * carried by a {@link Stepper}. The server's generate() runs it on the model's engine; the
 * dashboard runs it in the browser on the model's tfjs export, so the same prompt and
 * settings give the same text in both. Nothing here is Node's: the browser bundle includes it.
 */
import { errors } from '../../errors.js';
import { Stepper, type Forward, type StateShape } from '../model/forward.js';
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
 * Samples text on `forward`: the state is primed on a line break and the prompt, then tokens
 * are drawn one at a time with the state carried. `turn` is awaited between tokens: each step
 * is synchronous, and a server (or a page) must get to answer others during a long generation.
 */
export async function generateOn(
  forward: Forward,
  shape: StateShape,
  tokenizer: Tokenizer,
  options: GenerateOptions,
  turn: () => Promise<void>,
  onText?: OnText,
): Promise<GenerateResult> {
  const row = new GenerationRow(tokenizer, options);
  const emit = async () => {
    const delta = row.takeText();
    if (onText !== undefined && delta.length > 0) await onText(delta, row.takeTokens());
  };
  const stepper = new Stepper(forward, shape);
  // With nothing to sample the priming may be empty (see GenerationRow.prime): no logits to read.
  let logits = row.prime.length > 0 ? stepper.advance(row.prime) : new Float32Array(0);
  for (;;) {
    if (options.signal?.aborted === true) throw errors.cancelled();
    const id = row.next(logits);
    await emit();
    if (id === undefined) break;
    await turn();
    logits = stepper.advance(Int32Array.of(id));
  }
  return row.result();
}
