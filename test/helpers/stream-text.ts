/**
 * The text of a response body as it arrives, for tests that act once something was sent (the
 * first event of a stream, a heartbeat) instead of sleeping and hoping it was.
 */
export class StreamText {
  #text = '';
  #ended = false;
  #waiters: { pattern: RegExp; resolve: (text: string) => void; reject: (err: Error) => void }[] = [];
  /** The whole text, once the body ends. */
  readonly done: Promise<string>;

  constructor(body: AsyncIterable<Uint8Array | string>) {
    this.done = this.#read(body);
    // A body that fails is reported by `done` and by every `until`; this keeps it from being unhandled.
    this.done.catch(() => undefined);
  }

  async #read(body: AsyncIterable<Uint8Array | string>): Promise<string> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        this.#text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
        this.#settle();
      }
      this.#text += decoder.decode();
    } finally {
      this.#ended = true;
      this.#settle();
    }
    return this.#text;
  }

  #settle(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (w.pattern.test(this.#text)) w.resolve(this.#text);
      else if (this.#ended)
        w.reject(new Error(`the body ended without ${String(w.pattern)}:\n${this.#text}`));
      else return true;
      return false;
    });
  }

  /** Resolves with the text so far once it matches `pattern`; rejects if the body ends first. */
  until(pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ pattern, resolve, reject });
      this.#settle();
    });
  }
}
