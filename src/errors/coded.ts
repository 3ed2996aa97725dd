/**
 * The codes of the registry and the error that carries one. The code is stable (clients match
 * on it), the status is the HTTP answer the API gives for it, and `retryable` tells a worker
 * whether a job that hit it may succeed on another attempt. What each failure says, and which
 * facts it carries, is declared once by its factory in src/errors/ (see src/errors.ts).
 */
export const ERRORS = {
  RNNLM_INVALID_CONFIG: { status: 400, retryable: false },
  RNNLM_CORPUS_TOO_SMALL: { status: 400, retryable: false },
  RNNLM_CORPUS_EMPTY: { status: 400, retryable: false },
  RNNLM_SEQUENCE_TOO_LONG: { status: 400, retryable: false },
  RNNLM_VOCAB_TOO_LARGE: { status: 400, retryable: false },
  RNNLM_NONFINITE_LOSS: { status: 422, retryable: false },
  RNNLM_ABORTED: { status: 409, retryable: false },
  RNNLM_ARTIFACT_CORRUPT: { status: 409, retryable: false },
  // Files that match their hashes but hold NaN or infinite weights: the model cannot be served.
  RNNLM_MODEL_NONFINITE: { status: 409, retryable: false },
  RNNLM_MODEL_NOT_FOUND: { status: 404, retryable: false },
  RNNLM_CHECKPOINT_NOT_FOUND: { status: 404, retryable: false },
  RNNLM_CHECKPOINT_MISMATCH: { status: 400, retryable: false },
  RNNLM_BACKEND_UNAVAILABLE: { status: 503, retryable: true },
  // The native kernels: missing or unloadable where RNNLM_NATIVE_KERNELS=on demands them, or a
  // kernel that refused its arguments; neither changes on another attempt.
  RNNLM_NATIVE_UNAVAILABLE: { status: 503, retryable: false },
  RNNLM_NATIVE_FAILED: { status: 500, retryable: false },
  RNNLM_FILE_NOT_FOUND: { status: 404, retryable: false },
  RNNLM_INVALID_TEXT: { status: 400, retryable: false },
  // Service and HTTP codes.
  RNNLM_INVALID_REQUEST: { status: 400, retryable: false },
  RNNLM_JOB_NOT_FOUND: { status: 404, retryable: false },
  // Cancelling a job that has already succeeded, failed or been cancelled: nothing to stop.
  RNNLM_JOB_FINISHED: { status: 409, retryable: false },
  RNNLM_ROUTE_NOT_FOUND: { status: 404, retryable: false },
  RNNLM_MODEL_NOT_READY: { status: 409, retryable: false },
  RNNLM_CORPUS_TOO_LARGE: { status: 413, retryable: false },
  RNNLM_PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  RNNLM_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  RNNLM_INTERNAL: { status: 500, retryable: true },
  RNNLM_REDIS_UNAVAILABLE: { status: 503, retryable: true },
  // Protections of the HTTP API.
  RNNLM_UNAUTHORIZED: { status: 401, retryable: false },
  RNNLM_RATE_LIMITED: { status: 429, retryable: true },
  RNNLM_OVERLOADED: { status: 503, retryable: true },
  // The API process is draining for a shutdown: another instance answers.
  RNNLM_SHUTTING_DOWN: { status: 503, retryable: true },
  RNNLM_MODEL_TOO_LARGE: { status: 400, retryable: false },
  RNNLM_REDIS_OUT_OF_MEMORY: { status: 503, retryable: true },
  RNNLM_IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  RNNLM_IDEMPOTENCY_KEY_IN_USE: { status: 409, retryable: true },
  // Recurrent states kept for a later request (src/queue/state-store.ts): expired, deleted or
  // never there; kept by another model (or a model since deleted); larger than the store holds.
  RNNLM_STATE_NOT_FOUND: { status: 404, retryable: false },
  RNNLM_STATE_MODEL_MISMATCH: { status: 409, retryable: false },
  RNNLM_STATE_TOO_LARGE: { status: 413, retryable: false },
  // No space left on the data volume: it passes once space is freed, so a job waits for it.
  RNNLM_DISK_FULL: { status: 507, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

/** Extra structured facts of an error (the offending field, a limit, an estimate). */
export type ErrorDetails = Record<string, unknown>;

export class RnnlmError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RnnlmError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.retryable = ERRORS[code].retryable;
    this.details = details;
  }
}

export function isRnnlmError(err: unknown, code?: ErrorCode): err is RnnlmError {
  return err instanceof RnnlmError && (code === undefined || err.code === code);
}

/**
 * The one constructor call of the registry: each factory in src/errors/ goes through it, so a
 * failure's message and details are written in one place.
 */
export function coded(code: ErrorCode, message: string, details?: ErrorDetails, cause?: unknown): RnnlmError {
  return new RnnlmError(code, message, details, cause === undefined ? undefined : { cause });
}

/** `: the cause's message`, or nothing when there is no cause to quote. */
export function reason(cause: unknown): string {
  if (cause === undefined) return '';
  if (cause instanceof Error) return `: ${cause.message}`;
  return `: ${typeof cause === 'string' ? cause : JSON.stringify(cause)}`;
}
