import { forwardOf } from '../model/engine.js';
import type { RnnLm } from '../model/lm.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { generateOn, type GenerateOptions, type GenerateResult, type OnText } from './loop.js';

export type { FinishReason, GenerateOptions, GenerateResult, OnText, TokenDetail } from './loop.js';

/** A macrotask turn: lets a server answer other requests between the tokens of a long generation. */
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Samples text from the model on its engine (see loop.ts): every step's tensors are freed
 * before the next, and the event loop gets a turn between tokens.
 */
export async function generate(
  model: RnnLm,
  tokenizer: Tokenizer,
  options: GenerateOptions,
  onText?: OnText,
): Promise<GenerateResult> {
  return generateOn(forwardOf(model), model.config, tokenizer, options, macrotask, onText);
}
