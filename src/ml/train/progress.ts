/** How many recent steps the throughput is measured over. */
const RATE_WINDOW = 20;

/**
 * The ETA and share done of a run that ends at `totalSteps` or after `maxMinutes`, whichever
 * comes first: a run of many epochs cut short by its time budget must not promise days.
 */
export function timeToEnd(p: {
  step: number;
  totalSteps: number;
  msPerStep: number;
  elapsedMs: number;
  maxMinutes: number | undefined;
}): { eta: number; fraction: number } {
  const bySteps = {
    eta: (Math.max(0, p.totalSteps - p.step) * p.msPerStep) / 1000,
    fraction: p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0,
  };
  if (p.maxMinutes === undefined) return bySteps;
  const budgetMs = p.maxMinutes * 60_000;
  const byTime = {
    eta: Math.max(0, budgetMs - p.elapsedMs) / 1000,
    fraction: Math.min(1, p.elapsedMs / budgetMs),
  };
  return byTime.eta < bySteps.eta ? byTime : bySteps;
}

/** Training speed over the last few steps, so that a slow start does not weigh on it forever. */
export class Throughput {
  private readonly recent: { ms: number; tokens: number }[] = [];

  /** Counts a step of `tokens` tokens that took `ms`. */
  add(ms: number, tokens: number): void {
    this.recent.push({ ms, tokens });
    if (this.recent.length > RATE_WINDOW) this.recent.shift();
  }

  /** Tokens per second over the recent steps (0 before the first). */
  tokensPerSecond(): number {
    const ms = this.recent.reduce((a, r) => a + r.ms, 0);
    return ms > 0 ? (this.recent.reduce((a, r) => a + r.tokens, 0) * 1000) / ms : 0;
  }

  /** Mean milliseconds of the recent steps. */
  msPerStep(): number {
    return this.recent.reduce((a, r) => a + r.ms, 0) / this.recent.length;
  }
}
