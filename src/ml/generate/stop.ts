/**
 * Watches generated text for stop sequences. push(delta) appends newly generated text and
 * reports whether a stop sequence now occurs; text() returns the output so far truncated BEFORE
 * the stop sequence (the stop string itself is not returned, like OpenAI's API). safeText()
 * returns the part that can be streamed to a client now: everything except a trailing part that
 * could still become the start of a stop sequence, so a stream never shows text that later
 * turns out to belong to a stop sequence.
 *
 * The stop that wins is the one that is completed first in the text (earliest end; the longest
 * among those ending together), which is where token-by-token generation would have halted.
 * That makes the result independent of how the text is split into deltas. Once stopped, further
 * deltas are ignored.
 */
export class StopSequenceMatcher {
  private readonly stops: readonly string[];
  private buffer = '';
  private stopAt: number | undefined;

  /** Empty strings in `stops` are ignored: they would stop before the first character. */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop.length > 0);
  }

  /** Whether a stop sequence has occurred. */
  get stopped(): boolean {
    return this.stopAt !== undefined;
  }

  /** Appends `delta` and returns whether a stop sequence has now occurred. */
  push(delta: string): boolean {
    if (this.stopAt !== undefined) return true;
    const before = this.buffer.length;
    this.buffer += delta;
    let bestStart = -1;
    let bestEnd = Infinity;
    for (const stop of this.stops) {
      // Earlier text held no stop, so a new match must end inside the delta.
      const start = this.buffer.indexOf(stop, Math.max(0, before - stop.length + 1));
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && start < bestStart)) {
        bestStart = start;
        bestEnd = end;
      }
    }
    if (bestStart >= 0) this.stopAt = bestStart;
    return this.stopped;
  }

  /** The output so far, cut before the stop sequence once one has occurred. */
  text(): string {
    return this.stopAt === undefined ? this.buffer : this.buffer.slice(0, this.stopAt);
  }

  /**
   * The prefix of {@link text} that no later delta can turn into part of a stop sequence: the
   * longest trailing part that is a proper prefix of some stop is held back. Each result is a
   * prefix of every later one and of the final text().
   */
  safeText(): string {
    if (this.stopAt !== undefined) return this.text();
    let hold = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.buffer.length); n > hold; n--) {
        if (this.buffer.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return this.buffer.slice(0, this.buffer.length - hold);
  }
}
