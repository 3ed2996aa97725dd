/**
 * Calls to the API. The API key (when the server wants one) is asked for once, kept in this
 * tab's sessionStorage and sent in the Authorization header, never in a URL. Event streams are
 * read with fetch() and a body reader rather than EventSource, which cannot send that header.
 */

const KEY_STORAGE = 'rnnlm.apiKey';

/** One bad field of a 400, as the API's error body lists it. */
export interface FieldError {
  path: string;
  message: string;
}

/** An error answer of the API: `{ statusCode, code, error, message, fields? }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];

  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key === null || key.length === 0) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
  document.dispatchEvent(new CustomEvent('rnnlm:api-key'));
}

let asking: Promise<string | null> | undefined;

/** Shows the key dialog; concurrent callers share one question. Resolves null if dismissed. */
export function askForKey(reason?: string): Promise<string | null> {
  asking ??= new Promise<string | null>((resolve) => {
    const dialog = document.getElementById('api-key-dialog') as HTMLDialogElement;
    const input = document.getElementById('api-key-input') as HTMLInputElement;
    const note = dialog.querySelector('p');
    if (note !== null && reason !== undefined) note.textContent = reason;
    input.value = apiKey() ?? '';
    dialog.addEventListener(
      'close',
      () => {
        asking = undefined;
        const key = input.value.trim();
        // Saving an empty key forgets the one kept.
        if (dialog.returnValue === 'save') setApiKey(key.length > 0 ? key : null);
        resolve(dialog.returnValue === 'save' && key.length > 0 ? key : null);
      },
      { once: true },
    );
    dialog.showModal();
    input.focus();
  });
  return asking;
}

function withKey(init: RequestInit): RequestInit {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key !== null) headers.set('authorization', `Bearer ${key}`);
  return { ...init, headers };
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; fields?: FieldError[] };
    return new ApiError(res.status, body.code ?? 'HTTP_ERROR', body.message ?? text, body.fields ?? []);
  } catch {
    return new ApiError(res.status, 'HTTP_ERROR', text.length > 0 ? text : res.statusText);
  }
}

/**
 * fetch() with the key; a 401 asks for a key (once for the whole page) and tries again with
 * it. Any other error status becomes an {@link ApiError}.
 */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, withKey(init));
    if (res.ok) return res;
    if (res.status === 401 && attempt < 3) {
      await res.body?.cancel();
      const key = await askForKey(
        apiKey() === null
          ? 'This server needs an API key. It is kept in this tab only (sessionStorage) and sent as an Authorization header.'
          : 'That API key was refused. Enter a valid key.',
      );
      if (key !== null) continue;
    }
    throw await toApiError(res);
  }
}

export async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await request(path, init);
  return (await res.json()) as T;
}

export async function sendJson<T>(
  method: string,
  path: string,
  body: unknown,
  init: RequestInit = {},
): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('content-type', 'application/json');
  return getJson<T>(path, { ...init, method, headers, body: JSON.stringify(body) });
}

/** One server-sent event. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Reads a `text/event-stream` body into its events, as they arrive. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // A CR that ends the chunk may be the first half of a CRLF: wait for the next chunk.
        if (newline === buffer.length - 1 && buffer.endsWith('\r')) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line.length === 0) {
          if (data.length > 0)
            yield { id, event: event.length > 0 ? event : 'message', data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? '' : line.slice(colon + 1);
        const value_ = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'data') data.push(value_);
        else if (field === 'event') event = value_;
        else if (field === 'id') id = value_;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Opens an event stream with the key in its header; resumes after `lastEventId` when given
 * (the API's Last-Event-ID), so a reconnect neither loses nor repeats an event.
 */
export async function openEvents(
  path: string,
  options: { signal: AbortSignal; lastEventId?: string | undefined; method?: string; body?: unknown },
): Promise<AsyncGenerator<SseMessage>> {
  const headers = new Headers({ accept: 'text/event-stream' });
  if (options.lastEventId !== undefined) headers.set('last-event-id', options.lastEventId);
  const init: RequestInit = { method: options.method ?? 'GET', headers, signal: options.signal };
  if (options.body !== undefined) {
    headers.set('content-type', 'application/json');
    init.body = JSON.stringify(options.body);
  }
  const res = await request(path, init);
  if (res.body === null) throw new ApiError(res.status, 'HTTP_ERROR', 'the stream has no body');
  return readEvents(res.body);
}
