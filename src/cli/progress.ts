/**
 * Training progress on stderr: a bar redrawn in place on a terminal, plain lines when stderr
 * is a file or a pipe (CI logs, `2> train.log`), where carriage returns would pile up.
 */
import type { EvalRecord, Progress } from '../ml/train/trainer.js';

/** The part of a stream the reporter needs; process.stderr fits. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface ProgressOptions {
  /** Redraw a bar in place; defaults to whether the stream is a terminal. */
  live?: boolean | undefined;
  /** Clock in milliseconds, replaceable for tests. */
  now?: (() => number) | undefined;
  /** Least time between two redraws of the bar. */
  redrawMs?: number | undefined;
  /** Plain mode: a line every this many steps, but no more than one per `minLineMs`... */
  lineEverySteps?: number | undefined;
  minLineMs?: number | undefined;
  /** ...and at least one every `maxLineMs` when steps are slow. */
  maxLineMs?: number | undefined;
}

const CLEAR_LINE = '\r\x1b[K';
const BAR_WIDTH = 12;

/** Seconds as `45s`, `3m05s` or `2h07m`; `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

function metrics(p: Progress, separator: string): string {
  const parts = [`loss ${p.trainLoss.toFixed(4)}`];
  if (p.valLoss !== undefined) parts.push(`val ${p.valLoss.toFixed(4)}`);
  if (p.valPerplexity !== undefined) parts.push(`ppl ${p.valPerplexity.toFixed(2)}`);
  parts.push(`${Math.round(p.tokensPerSecond)} tok/s`);
  return parts.join(separator);
}

/**
 * The live bar: `[###.........] 25/100 ETA 9s loss 2.3456 val 2.4000 ppl 11.02 812 tok/s`.
 * The ETA comes first because a narrow terminal cuts the end off.
 */
export function formatBar(p: Progress): string {
  const filled = Math.round(Math.min(1, Math.max(0, p.fraction)) * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  return `${bar} ${steps(p)} ETA ${formatDuration(p.eta)} ${metrics(p, ' ')}`;
}

/** A log line: `step 25/100 (epoch 1)  loss 2.3456  ...  812 tok/s  ETA 9s`. */
export function formatLine(p: Progress): string {
  return `step ${steps(p)} (epoch ${p.epoch + 1})  ${metrics(p, '  ')}  ETA ${formatDuration(p.eta)}`;
}

/** `25/100`, or only `25` when the time budget, not the step count, ends the run. */
function steps(p: Progress): string {
  const stepShare = p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0;
  return Math.abs(stepShare - p.fraction) < 1e-9 ? `${p.step}/${p.totalSteps}` : `${p.step}`;
}

/** A line per evaluation; bits per character compare across tokenizers, so they are shown too. */
export function formatEval(e: EvalRecord): string {
  return `eval at step ${e.step} (epoch ${e.epoch + 1}): val loss ${e.loss.toFixed(4)}  ppl ${e.perplexity.toFixed(2)}  ${e.bitsPerChar.toFixed(3)} bits/char`;
}

/** Turns the trainer's callbacks into stderr output, throttled so it never slows training. */
export class ProgressReporter {
  private readonly stream: ProgressStream;
  private readonly live: boolean;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly lineEverySteps: number;
  private readonly minLineMs: number;
  private readonly maxLineMs: number;
  private latest: Progress | undefined;
  private shownStep = -1;
  private lastShownAt = -Infinity;
  /** A bar is on screen without a line break after it. */
  private barOpen = false;

  constructor(stream: ProgressStream, options: ProgressOptions = {}) {
    this.stream = stream;
    this.live = options.live ?? stream.isTTY === true;
    this.now = options.now ?? (() => performance.now());
    this.redrawMs = options.redrawMs ?? 100;
    this.lineEverySteps = options.lineEverySteps ?? 10;
    this.minLineMs = options.minLineMs ?? 1000;
    this.maxLineMs = options.maxLineMs ?? 5000;
  }

  /** Called after every training step. */
  update(p: Progress): void {
    this.latest = p;
    const since = this.now() - this.lastShownAt;
    const edge = p.step === 1 || p.step === p.totalSteps;
    const due = this.live
      ? since >= this.redrawMs
      : since >= this.maxLineMs || (p.step % this.lineEverySteps === 0 && since >= this.minLineMs);
    if (edge || due) this.show(p);
  }

  /** Called after every evaluation. */
  evaluation(e: EvalRecord): void {
    this.log(formatEval(e));
  }

  /** Prints a line of its own, above the bar when there is one. */
  log(line: string): void {
    const redraw = this.barOpen;
    if (this.barOpen) this.stream.write(CLEAR_LINE);
    this.barOpen = false;
    this.stream.write(`${line}\n`);
    if (redraw && this.latest !== undefined) this.show(this.latest);
  }

  /** Shows the last state if a throttle held it back and ends the bar's line. */
  finish(): void {
    if (this.latest !== undefined && this.latest.step !== this.shownStep) this.show(this.latest);
    if (this.barOpen) this.stream.write('\n');
    this.barOpen = false;
  }

  private show(p: Progress): void {
    this.shownStep = p.step;
    this.lastShownAt = this.now();
    if (!this.live) {
      this.stream.write(`${formatLine(p)}\n`);
      return;
    }
    // A bar wider than the terminal wraps, and \r would then only redraw its last row.
    // (A pseudo-terminal without a size reports 0 columns.)
    const columns = this.stream.columns !== undefined && this.stream.columns > 0 ? this.stream.columns : 80;
    this.stream.write(`${CLEAR_LINE}${formatBar(p).slice(0, columns - 1)}`);
    this.barOpen = true;
  }
}
