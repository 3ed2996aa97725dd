/**
 * One generation's own state, apart from the model's: its prompt priming, sampling settings,
 * seeded RNG, streaming decoder, stop sequences and token budget. `generate()` drives one row
 * at batch 1; the inference thread's scheduler drives many rows with one batched forward per
 * token. Either way a row sees the same logits and draws from its own RNG, so a seeded
 * request gives the same text alone or batched.
 */
import { errors } from '../../errors.js';
import { logSoftmax, topIds, type TokenLogprob } from '../logprobs.js';
import { Rng } from '../rng.js';
import {
  createStreamingDecoder,
  WordTokenizer,
  type StreamingDecoder,
  type Tokenizer,
} from '../tokenizers/index.js';
import { Sampler, validateSamplingOptions, type SamplingOptions } from './logits.js';
import { tailOf, type Resume } from '../state.js';
import { StopSequenceMatcher } from './stop.js';
import { createTokenGuard, type TokenGuard } from './token-guard.js';

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
  /** Return each sampled token with its log-probability (like TGI's `details=true`). */
  details?: boolean | undefined;
  /** With `details`: the `topN` most likely tokens of each step too (0 = none). */
  topN?: number | undefined;
}

/** One sampled token with its log-probability and, if asked, the step's most likely tokens. */
export interface TokenDetail extends TokenLogprob {
  top?: TokenLogprob[] | undefined;
}

export interface RowResult {
  text: string;
  /** Tokens sampled. */
  tokens: number;
  /** Tokens the prompt was read as (the line break a generation starts after not counted). */
  promptTokens: number;
  /** Tokens of the prompt outside the vocabulary, read as `<unk>`. */
  unknownTokens: number;
  finishReason: FinishReason;
  /** With `details`: every sampled token, the last (a stop or `<eos>`) included. */
  details?: { tokens: TokenDetail[] } | undefined;
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
  /**
   * The tokens to feed before the first sample: a line break and the prompt, or after a
   * {@link Resume} its pending token and the prompt. With nothing to sample (maxTokens 0) the
   * last of them is left out: its logits would never be read, and it stays {@link pending}.
   */
  readonly prime: Int32Array;
  /** Tokens the prompt was read as. */
  private readonly promptTokens: number;
  private readonly unknownTokens: number;
  /** The last token read, when nothing is sampled; see {@link pending}. */
  private readonly lastRead: number;
  /** Tokens of the priming that no earlier request read (a resumed pending token was). */
  private readonly primeNew: number;
  private lastSampled: number | undefined;
  private readonly after: string;
  private readonly options: RowOptions;
  private readonly tokenizer: Tokenizer;
  private readonly sampler: Sampler;
  private readonly rng: Rng;
  private readonly decoder: StreamingDecoder;
  /** Masks the tokens this row must not sample next (unseen bytes, broken UTF-8, `<unk>`). */
  private readonly guard: TokenGuard;
  private readonly matcher: StopSequenceMatcher;
  private tokens = 0;
  private finish: FinishReason | undefined;
  private emitted = 0;
  private readonly sampled: TokenDetail[] | undefined;
  /** Details already handed out by {@link takeTokens}. */
  private taken = 0;

  /** @param resume continue where an earlier request left the text (see state.ts). */
  constructor(tokenizer: Tokenizer, options: RowOptions, resume?: Resume) {
    validateSamplingOptions(options, tokenizer.vocabSize);
    if (options.topN !== undefined && (!Number.isInteger(options.topN) || options.topN < 0)) {
      throw errors.outOfRange('topN', 'must be an integer >= 0', options.topN);
    }
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) {
      throw errors.outOfRange('maxTokens', 'must be an integer >= 0', options.maxTokens);
    }
    const prompt =
      tokenizer instanceof WordTokenizer
        ? tokenizer.encodePrompt(options.prompt ?? '')
        : tokenizer.encode(options.prompt ?? '');
    const prime = [...(resume === undefined ? tokenizer.boundaryIds : [resume.pending]), ...prompt];
    if (prime.length === 0) {
      throw errors.invalidConfig(
        'prompt',
        'this model has no line-break token to start from: give a non-empty prompt',
      );
    }
    this.promptTokens = prompt.length;
    this.unknownTokens = prompt.filter((id) => id === tokenizer.unkId).length;
    this.lastRead = prime.at(-1) as number;
    this.primeNew = resume === undefined ? prime.length : prompt.length;
    this.prime = Int32Array.from(options.maxTokens === 0 ? prime.slice(0, -1) : prime);
    this.after = (resume?.tail ?? '') + (options.prompt ?? '');
    this.options = options;
    this.tokenizer = tokenizer;
    this.sampler = new Sampler({
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      suppressIds: options.suppressIds,
      logitBias: options.logitBias,
    });
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
    this.decoder = createStreamingDecoder(tokenizer, { after: this.after });
    this.guard = createTokenGuard(tokenizer);
    this.matcher = new StopSequenceMatcher(options.stop ?? []);
    this.sampled = options.details === true ? [] : undefined;
  }

  /** Set once the row has finished, with why. */
  get finishReason(): FinishReason | undefined {
    return this.finish;
  }

  /**
   * The token read or sampled last, which was not fed: the last sampled token (nothing would
   * read its logits), or with nothing sampled the last token of the priming.
   */
  get pending(): number {
    return this.lastSampled ?? this.lastRead;
  }

  /** Tokens this row read and sampled that no earlier request had (the pending one included). */
  get read(): number {
    return this.primeNew + this.tokens;
  }

  /** The end of the text read so far: the prompt and the output (see {@link Resume.tail}). */
  tail(): string {
    return tailOf(this.after + this.matcher.text());
  }

  /**
   * Given the logits after the last token fed, samples the next one: returns the id to feed
   * the model next, or undefined when the generation is over (its budget spent, `<eos>`, or a
   * stop sequence). The last sampled token is never fed: nothing would read its logits.
   */
  next(logits: Float32Array): number | undefined {
    if (this.finish !== undefined) return undefined;
    if (this.tokens >= this.options.maxTokens) return this.end('length');
    const id = this.sampler.sample(logits, this.rng, [this.guard(this.decoder.state())]);
    this.tokens++;
    this.lastSampled = id;
    this.sampled?.push(this.detail(logits, id));
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

  /** With `details`: the tokens sampled since the last call. */
  takeTokens(): TokenDetail[] | undefined {
    if (this.sampled === undefined) return undefined;
    const tokens = this.sampled.slice(this.taken);
    this.taken = this.sampled.length;
    return tokens;
  }

  /** The whole generation, once {@link next} has returned undefined. */
  result(): RowResult {
    if (this.finish === undefined) throw new Error('the generation has not finished');
    const result: RowResult = {
      text: this.matcher.text(),
      tokens: this.tokens,
      promptTokens: this.promptTokens,
      unknownTokens: this.unknownTokens,
      finishReason: this.finish,
    };
    if (this.sampled !== undefined) result.details = { tokens: this.sampled };
    return result;
  }

  /** The log-probabilities are the model's own, before temperature, top-k and top-p. */
  private detail(logits: Float32Array, id: number): TokenDetail {
    const logprobs = logSoftmax(logits);
    const token = (i: number): TokenLogprob => ({
      token: this.tokenizer.tokenText(i),
      id: i,
      logprob: logprobs[i] as number,
    });
    const topN = this.options.topN ?? 0;
    if (topN === 0) return token(id);
    return { ...token(id), top: topIds(logprobs, topN).map(token) };
  }

  private end(reason: FinishReason): undefined {
    if (!this.matcher.stopped) this.matcher.push(this.decoder.flush());
    this.finish = reason;
    return undefined;
  }
}
