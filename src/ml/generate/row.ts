/**
 * One generation's own state, apart from the model's: its prompt priming, sampling settings,
 * seeded RNG, streaming decoder, stop sequences and token budget. `generate()` drives one row
 * at batch 1; the inference thread's scheduler drives many rows with one batched forward per
 * token. Either way a row sees the same logits and draws from its own RNG, so a seeded
 * request gives the same text alone or batched.
 */
import { RnnlmError } from '../../errors.js';
import { Rng } from '../rng.js';
import { createStreamingDecoder, type StreamingDecoder, type Tokenizer } from '../tokenizers/index.js';
import { sampleToken, validateSamplingOptions, type SamplingOptions } from './logits.js';
import { StopSequenceMatcher } from './stop.js';

export type FinishReason = 'length' | 'stop' | 'eos';

/** How one generation runs; everything but the model. */
export interface RowOptions extends SamplingOptions {
  prompt?: string | undefined;
  /** Upper bound on sampled tokens. */
  maxTokens: number;
  /** Seed of the sampler; the same seed, model and options give the same text. */
  seed?: number | undefined;
  /** Generation ends before the first occurrence of any of these; the stop text is not returned. */
  stop?: readonly string[] | undefined;
  /** Word models: end when `<eos>` (end of line) is sampled. */
  stopAtEos?: boolean | undefined;
}

export interface RowResult {
  text: string;
  /** Tokens sampled. */
  tokens: number;
  finishReason: FinishReason;
}

/**
 * A generation's state between model steps. Feed the model {@link prime}, then call
 * {@link next} with the logits after each fed token until it returns undefined; text that
 * became final is taken with {@link takeText}.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` from the constructor for invalid options or an
 * empty priming (a model without a line-break token and no prompt).
 */
export class GenerationRow {
  /** The tokens the state is primed on: a line break and the prompt. */
  readonly prime: Int32Array;
  private readonly options: RowOptions;
  private readonly tokenizer: Tokenizer;
  private readonly sampling: SamplingOptions;
  private readonly rng: Rng;
  private readonly decoder: StreamingDecoder;
  private readonly matcher: StopSequenceMatcher;
  private tokens = 0;
  private finish: FinishReason | undefined;
  private emitted = 0;

  constructor(tokenizer: Tokenizer, options: RowOptions) {
    validateSamplingOptions(options);
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) {
      throw new RnnlmError(
        'RNNLM_INVALID_CONFIG',
        `maxTokens must be a non-negative integer, got ${options.maxTokens}`,
        { field: 'maxTokens' },
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
    this.prime = Int32Array.from(prime);
    this.options = options;
    this.tokenizer = tokenizer;
    this.sampling = {
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      suppressIds: [
        ...(options.suppressIds ?? []),
        ...(tokenizer.unkId === undefined ? [] : [tokenizer.unkId]),
      ],
    };
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
    this.decoder = createStreamingDecoder(tokenizer);
    this.matcher = new StopSequenceMatcher(options.stop ?? []);
  }

  /** Set once the row has finished, with why. */
  get finishReason(): FinishReason | undefined {
    return this.finish;
  }

  /**
   * Given the logits after the last token fed, samples the next one: returns the id to feed
   * the model next, or undefined when the generation is over (its budget spent, `<eos>`, or a
   * stop sequence). The last sampled token is never fed: nothing would read its logits.
   */
  next(logits: Float32Array): number | undefined {
    if (this.finish !== undefined) return undefined;
    if (this.tokens >= this.options.maxTokens) return this.end('length');
    const id = sampleToken(logits, this.sampling, this.rng);
    this.tokens++;
    if (this.options.stopAtEos === true && id === this.tokenizer.eosId) return this.end('eos');
    if (this.matcher.push(this.decoder.push(id))) return this.end('stop');
    if (this.tokens === this.options.maxTokens) return this.end('length');
    return id;
  }

  /** Text that became final since the last call (never text that may still start a stop sequence). */
  takeText(): string {
    const text = this.finish === undefined ? this.matcher.safeText() : this.matcher.text();
    const delta = text.length > this.emitted ? text.slice(this.emitted) : '';
    this.emitted = Math.max(this.emitted, text.length);
    return delta;
  }

  /** The whole generation, once {@link next} has returned undefined. */
  result(): RowResult {
    if (this.finish === undefined) throw new Error('the generation has not finished');
    return { text: this.matcher.text(), tokens: this.tokens, finishReason: this.finish };
  }

  private end(reason: FinishReason): undefined {
    if (!this.matcher.stopped) this.matcher.push(this.decoder.flush());
    this.finish = reason;
    return undefined;
  }
}
