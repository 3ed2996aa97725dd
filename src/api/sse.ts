import type { FastifyReply, FastifyRequest } from 'fastify';

/** One server-sent event; `data` is sent as JSON on one `data:` line. */
export interface SseEvent {
  id?: string | undefined;
  event?: string | undefined;
  data: unknown;
}

export function formatSse(event: SseEvent): string {
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  // JSON.stringify never emits a raw newline, so one `data:` line carries the whole value.
  out += `data: ${JSON.stringify(event.data)}\n\n`;
  return out;
}

/** True when the client asked for a stream through its Accept header. */
export function acceptsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').split(',').some((t) => t.trim().startsWith('text/event-stream'));
}

/**
 * A response taken over from Fastify to stream events. `signal` aborts when the client goes
 * away, or when the server closes if the stream ends on close; writes wait for the socket to drain so a slow client slows the
 * producer instead of growing a buffer.
 */
export class SseStream {
  readonly #reply: FastifyReply;
  readonly #controller = new AbortController();
  readonly #serverSignal: AbortSignal;
  #closed = false;

  /**
   * @param serverSignal aborts when the server starts closing.
   * @param options.endOnClose whether the stream ends then (an open-ended event feed) or runs
   * to its natural end (a bounded generation). @defaultValue true
   */
  constructor(reply: FastifyReply, serverSignal: AbortSignal, options: { endOnClose?: boolean } = {}) {
    this.#reply = reply;
    this.#serverSignal = serverSignal;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The client learns at once that the stream is open, not with the first event.
    raw.flushHeaders();
    const abort = () => this.#controller.abort();
    // 'close' on the response: it ended, or the client went away before it did.
    raw.once('close', abort);
    if (options.endOnClose ?? true) {
      if (serverSignal.aborted) abort();
      else serverSignal.addEventListener('abort', abort, { once: true, signal: this.#controller.signal });
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closed || this.#controller.signal.aborted;
  }

  async send(event: SseEvent): Promise<void> {
    await this.#write(formatSse(event));
  }

  /** A `data:` line as it is, not as JSON: OpenAI's streams end with `data: [DONE]`. */
  async sendRaw(data: string): Promise<void> {
    await this.#write(`data: ${data}\n\n`);
  }

  /** A comment line: keeps proxies and clients from timing the connection out. */
  async heartbeat(): Promise<void> {
    await this.#write(': heartbeat\n\n');
  }

  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    const raw = this.#reply.raw;
    // While the server shuts down, the socket is closed once the last bytes are out: an idle
    // keep-alive socket would otherwise hold the shutdown until the client drops it.
    const socket = raw.socket;
    raw.end(() => {
      if (this.#serverSignal.aborted) socket?.destroy();
    });
    this.#controller.abort();
  }

  async #write(chunk: string): Promise<void> {
    if (this.closed) return;
    const raw = this.#reply.raw;
    if (raw.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.once('drain', done);
      raw.once('close', done);
    });
  }
}
