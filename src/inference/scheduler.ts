/**
 * Continuous batching for one loaded model, in the manner of text-generation servers (TGI,
 * vLLM): every active generation is stepped by one batched forward per token, and every
 * active scoring by one batched forward per chunk of tokens. A request joins at the next
 * step and leaves when it finishes or is cancelled; requests beyond `maxRows` wait in
 * arrival order. Each row keeps its own state, sampling settings and RNG stream, so its
 * answer does not depend on the rows beside it. A row may start from a state an earlier
 * request kept, and hand back the state it ends in (src/ml/state.ts).
 */
import { errors } from '../errors.js';
import type { ScoreResult } from '../ml/eval/score.js';
import { GenerationRow, type TokenDetail } from '../ml/generate/row.js';
import type { GenerateResult } from '../ml/generate/generate.js';
import type { RecurrentState, StateResult } from '../ml/state.js';
import type { Tokenizer } from '../ml/tokenizers/index.js';
import type { Forward } from '../ml/model/forward.js';
import type { GenerateRequest, ScoreRequest } from './protocol.js';
import { ScoringRow } from '../ml/eval/scoring-row.js';
import { Scratch } from '../ml/scratch.js';

/** Timesteps a scoring row advances per batched forward: newcomers join between chunks. */
const SCORE_CHUNK = 32;

/** What a request hears back; exactly one of `done` and `fail` is called, once. */
export interface RequestSink<T> {
  /** Streamed generation: text that became final, and with `details` the tokens since the last. */
  text?: ((delta: string, tokens: TokenDetail[] | undefined) => void) | undefined;
  done(result: T, queuedMs: number): void;
  fail(err: unknown): void;
}

/** How the scheduler reports its work (for the batch-size histogram). */
export interface SchedulerObserver {
  batch(kind: 'generate' | 'score', rows: number): void;
}

interface Shape {
  layers: number;
  hidden: number;
}

/** A row's recurrent state, per layer, in host memory. */
interface RowState {
  h: Float32Array[];
  c: Float32Array[];
}

/** What the scheduler needs of a row to hand back the state it ends in. */
interface Continuable {
  readonly pending: number;
  readonly read: number;
  tail(): string;
}

interface Job<R, T> {
  id: number;
  row: R;
  sink: RequestSink<T & StateResult>;
  enqueuedAt: number;
  queuedMs: number;
  state: RowState | undefined;
  /** The state the row starts from (zeros when undefined); dropped once the row has a row state. */
  start: RecurrentState | undefined;
  /** Tokens read before the row (its start's). */
  before: number;
  /** Hand the final state back with the result. */
  keep: boolean;
}

/** Each job's `steps` ids side by side, time-major [steps * jobs.length], as a forward takes them. */
function timeMajor<R>(jobs: readonly { row: R }[], steps: number, of: (row: R) => Int32Array): Int32Array {
  const B = jobs.length;
  const out = new Int32Array(steps * B);
  jobs.forEach((job, b) => of(job.row).forEach((id, t) => (out[t * B + b] = id)));
  return out;
}

type GenJob = Job<GenerationRow, GenerateResult> & { next: number | undefined };
type ScoreJob = Job<ScoringRow, ScoreResult>;

export class ModelScheduler {
  private readonly waitingGen: GenJob[] = [];
  private readonly activeGen: GenJob[] = [];
  private readonly waitingScore: ScoreJob[] = [];
  private readonly activeScore: ScoreJob[] = [];
  private scheduled = false;
  /** The arrays {@link gather} lends each forward. */
  private readonly batchState = new Scratch();
  /** Bytes of row state alive now: back to 0 whenever the scheduler is idle. */
  private stateBytes = 0;

  constructor(
    private readonly engine: Forward,
    private readonly tokenizer: Tokenizer,
    private readonly shape: Shape,
    private readonly maxRows: number,
    private readonly observer: SchedulerObserver,
  ) {}

  /** Rows being stepped now and requests waiting for one. */
  get load(): { active: number; waiting: number; stateBytes: number } {
    return {
      active: this.activeGen.length + this.activeScore.length,
      waiting: this.waitingGen.length + this.waitingScore.length,
      stateBytes: this.stateBytes,
    };
  }

  /**
   * @throws RnnlmError `RNNLM_INVALID_CONFIG` for invalid options, `RNNLM_STATE_MODEL_MISMATCH`
   * for a state of another shape, before the request waits.
   */
  generate(id: number, options: GenerateRequest, sink: RequestSink<GenerateResult & StateResult>): void {
    this.checkShape(options.state);
    const row = new GenerationRow(this.tokenizer, options, options.state);
    this.waitingGen.push({ ...this.job(id, sink, options), row, next: undefined });
    this.schedule();
  }

  /** @throws RnnlmError as {@link generate}, and when the text has no tokens to score. */
  score(id: number, text: string, options: ScoreRequest, sink: RequestSink<ScoreResult & StateResult>): void {
    this.checkShape(options.state);
    const row = new ScoringRow(this.tokenizer, text, options, options.topN, options.state);
    this.waitingScore.push({ ...this.job(id, sink, options), row });
    this.schedule();
  }

  private job<T>(id: number, sink: RequestSink<T>, options: GenerateRequest | ScoreRequest) {
    return {
      id,
      sink,
      enqueuedAt: performance.now(),
      queuedMs: 0,
      state: undefined,
      start: options.state,
      before: options.state?.tokens ?? 0,
      keep: options.keepState === true,
    };
  }

  /** A state handed in must be this model's shape: its layers and their width. */
  private checkShape(state: RecurrentState | undefined): void {
    if (state === undefined) return;
    const { layers, hidden } = this.shape;
    const fits = (arrays: Float32Array[]) =>
      arrays.length === layers && arrays.every((a) => a.length === hidden);
    if (
      !fits(state.h) ||
      !fits(state.c) ||
      !(state.pending >= 0 && state.pending < this.tokenizer.vocabSize)
    ) {
      throw errors.stateDoesNotFit(layers, hidden);
    }
  }

  /** Ends request `id` at once (its row computes nothing more); false when it is not here. */
  cancel(id: number): boolean {
    for (const list of [this.waitingGen, this.activeGen, this.waitingScore, this.activeScore] as Job<
      unknown,
      never
    >[][]) {
      const at = list.findIndex((job) => job.id === id);
      if (at < 0) continue;
      const [job] = list.splice(at, 1);
      if (job !== undefined) {
        this.release(job);
        job.sink.fail(errors.cancelled());
      }
      return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // A macrotask between steps: cancellations and new requests are read before the next one.
    setImmediate(() => {
      this.scheduled = false;
      this.tick();
      if (this.load.active + this.load.waiting > 0) this.schedule();
    });
  }

  private tick(): void {
    this.admitGenerations();
    this.stepGenerations();
    this.admitScorings();
    this.stepScorings();
  }

  /** The job's row state: a copy of its start, or zeros. */
  private newState(job: Job<unknown, unknown>): RowState {
    const { layers, hidden } = this.shape;
    this.stateBytes += 2 * layers * hidden * Float32Array.BYTES_PER_ELEMENT;
    const start = job.start;
    job.start = undefined;
    return {
      h: Array.from({ length: layers }, (_, l) => Float32Array.from(start?.h[l] ?? new Float32Array(hidden))),
      c: Array.from({ length: layers }, (_, l) => Float32Array.from(start?.c[l] ?? new Float32Array(hidden))),
    };
  }

  private release(job: { state: RowState | undefined }): void {
    if (job.state === undefined) return;
    job.state = undefined;
    this.stateBytes -= 2 * this.shape.layers * this.shape.hidden * Float32Array.BYTES_PER_ELEMENT;
  }

  /** Answers with `result` and, if the job keeps it, the state its row ends in. */
  private finish<R extends Continuable, T>(job: Job<R, T>, result: T): void {
    const rows = job.state;
    this.release(job);
    const state: RecurrentState | undefined =
      job.keep && rows !== undefined
        ? { ...rows, pending: job.row.pending, tail: job.row.tail(), tokens: job.before + job.row.read }
        : undefined;
    job.sink.done(state === undefined ? (result as T & StateResult) : { ...result, state }, job.queuedMs);
  }

  private fail<R, T>(job: Job<R, T>, err: unknown): void {
    this.release(job);
    job.sink.fail(err);
  }

  /**
   * Newcomers are primed on their prompts, those of one length together (a shorter prompt
   * cannot be padded: the padding would change its state), then sample their first token.
   */
  private admitGenerations(): void {
    const byLength = new Map<number, GenJob[]>();
    let admitted = 0;
    while (this.activeGen.length + admitted < this.maxRows) {
      const job = this.waitingGen.shift();
      if (job === undefined) break;
      job.queuedMs = performance.now() - job.enqueuedAt;
      job.state = this.newState(job);
      const steps = job.row.prime.length;
      admitted++;
      // Nothing to feed (no tokens to sample, and the one token read is left pending): done.
      if (steps === 0) this.advanceOrFail(job, new Float32Array(0));
      else byLength.set(steps, [...(byLength.get(steps) ?? []), job]);
    }
    for (const [steps, jobs] of byLength) {
      const B = jobs.length;
      const ids = timeMajor(jobs, steps, (row) => row.prime);
      const { h, c } = this.gather(jobs);
      let logits: Float32Array;
      try {
        logits = this.engine.run(ids, steps, B, h, c, true);
      } catch (err) {
        for (const job of jobs) this.fail(job, err);
        continue;
      }
      this.scatter(jobs, h, c);
      const V = logits.length / B;
      jobs.forEach((job, b) => this.advanceOrFail(job, logits.subarray(b * V, (b + 1) * V)));
    }
  }

  private advanceOrFail(job: GenJob, logits: Float32Array): void {
    try {
      this.advance(job, logits);
    } catch (err) {
      const at = this.activeGen.indexOf(job);
      if (at >= 0) this.activeGen.splice(at, 1);
      this.fail(job, err);
    }
  }

  /** Samples the job's next token from `logits`; keeps it stepping or finishes it. */
  private advance(job: GenJob, logits: Float32Array): void {
    job.next = job.row.next(logits);
    const delta = job.row.takeText();
    if (delta.length > 0) job.sink.text?.(delta, job.row.takeTokens());
    if (job.next === undefined) {
      const at = this.activeGen.indexOf(job);
      if (at >= 0) this.activeGen.splice(at, 1);
      this.finish(job, job.row.result());
    } else if (!this.activeGen.includes(job)) {
      this.activeGen.push(job);
    }
  }

  private stepGenerations(): void {
    const jobs = [...this.activeGen];
    if (jobs.length === 0) return;
    this.observer.batch('generate', jobs.length);
    const ids = Int32Array.from(jobs, (job) => job.next ?? 0);
    const { h, c } = this.gather(jobs);
    let logits: Float32Array;
    try {
      logits = this.engine.run(ids, 1, jobs.length, h, c, true);
    } catch (err) {
      for (const job of jobs) this.activeGen.splice(this.activeGen.indexOf(job), 1);
      for (const job of jobs) this.fail(job, err);
      return;
    }
    this.scatter(jobs, h, c);
    const V = logits.length / jobs.length;
    jobs.forEach((job, i) => this.advanceOrFail(job, logits.subarray(i * V, (i + 1) * V)));
  }

  private admitScorings(): void {
    while (this.activeScore.length < this.maxRows) {
      const job = this.waitingScore.shift();
      if (job === undefined) return;
      job.queuedMs = performance.now() - job.enqueuedAt;
      job.state = this.newState(job);
      this.activeScore.push(job);
    }
  }

  /**
   * One chunk for every active scoring row. Rows nearer their end than a chunk are padded:
   * what the padding computes is never read, and those rows leave after this chunk.
   */
  private stepScorings(): void {
    const jobs = [...this.activeScore];
    if (jobs.length === 0) return;
    this.observer.batch('score', jobs.length);
    const steps = Math.min(SCORE_CHUNK, Math.max(...jobs.map((job) => job.row.remaining)));
    const B = jobs.length;
    const ids = timeMajor(jobs, steps, (row) => row.inputs(steps));
    const { h, c } = this.gather(jobs);
    let logits: Float32Array;
    let nll: Float32Array;
    try {
      logits = this.engine.run(ids, steps, B, h, c, false);
      // Every position's target NLL in one call for the chunk, not a softmax per token.
      nll = this.engine.nll(
        logits,
        timeMajor(jobs, steps, (row) => row.targets(steps)),
      );
    } catch (err) {
      this.activeScore.length = 0;
      for (const job of jobs) this.fail(job, err);
      return;
    }
    this.scatter(jobs, h, c);
    const V = logits.length / (steps * B);
    jobs.forEach((job, b) => {
      job.row.consume(
        steps,
        (t) => logits.subarray((t * B + b) * V, (t * B + b + 1) * V),
        (t) => nll[t * B + b] as number,
      );
      if (job.row.remaining > 0) return;
      this.activeScore.splice(this.activeScore.indexOf(job), 1);
      try {
        this.finish(job, job.row.result());
      } catch (err) {
        this.fail(job, err);
      }
    });
  }

  /**
   * The rows' states side by side, per layer [rows * hidden], in arrays the scheduler keeps:
   * fresh ones every step were most of what a step allocated, and the garbage collector's
   * work. Each forward reads and overwrites them before the next gather.
   */
  private gather(jobs: Job<unknown, unknown>[]): { h: Float32Array[]; c: Float32Array[] } {
    const { layers, hidden } = this.shape;
    const rows = jobs.length * hidden;
    const h = Array.from({ length: layers }, (_, l) => this.batchState.get(`h.${l}`, rows));
    const c = Array.from({ length: layers }, (_, l) => this.batchState.get(`c.${l}`, rows));
    for (let l = 0; l < layers; l++) {
      const hl = h[l]!;
      const cl = c[l]!;
      jobs.forEach((job, b) => {
        hl.set(job.state!.h[l]!, b * hidden);
        cl.set(job.state!.c[l]!, b * hidden);
      });
    }
    return { h, c };
  }

  private scatter(jobs: Job<unknown, unknown>[], h: Float32Array[], c: Float32Array[]): void {
    const { hidden } = this.shape;
    jobs.forEach((job, b) => {
      const state = job.state!;
      state.h.forEach((hl, l) => hl.set(h[l]!.subarray(b * hidden, (b + 1) * hidden)));
      state.c.forEach((cl, l) => cl.set(c[l]!.subarray(b * hidden, (b + 1) * hidden)));
    });
  }
}
