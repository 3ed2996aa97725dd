import { coded, reason, type ErrorCode, type ErrorDetails } from './coded.js';

/**
 * Failures of the service around the engine: requests the HTTP API refuses, its protections,
 * the job store (Redis) and the inference thread. Each factory is the one place its message
 * and details are written.
 */
export const serviceErrors = {
  /** A request value refused by the route or a service; `field` is its path (`body.config`). */
  invalidRequest: (field: string, problem: string) =>
    coded('RNNLM_INVALID_REQUEST', `${field}: ${problem}`, { field }),
  /** A request refused by its schema: every bad field, the first named as `field`. */
  invalidFields: (message: string, field: string, fields: readonly { path: string; message: string }[]) =>
    coded('RNNLM_INVALID_REQUEST', message, { field, fields }),
  notUnicode: (field: string) =>
    serviceErrors.invalidRequest(field, 'not valid Unicode text (a lone UTF-16 surrogate such as \\ud800)'),
  notUtf8: (field: string, cause?: unknown) =>
    coded('RNNLM_INVALID_CONFIG', `${field}: not valid UTF-8 text`, { field }, cause),
  /** A body of a type the route does not read; `given` says what came (`Content-Type text/plain`). */
  unsupportedMediaType: (given: string, accepted: string) =>
    coded('RNNLM_UNSUPPORTED_MEDIA_TYPE', `${given} is not accepted here; send ${accepted}`),
  routeNotFound: (method: string, path: string) =>
    coded('RNNLM_ROUTE_NOT_FOUND', `Route ${method} ${path} not found`, { method, path }),
  jobNotFound: (jobId: string) => coded('RNNLM_JOB_NOT_FOUND', `job ${jobId} not found`, { jobId }),
  /** Cancelling a job that has already succeeded, failed or been cancelled. */
  jobFinished: (jobId: string, status: string) =>
    coded('RNNLM_JOB_FINISHED', `job ${jobId} has already finished: ${status}`, { jobId, status }),
  corpusTooLarge: (field: string, bytes: number, limit: number) =>
    coded('RNNLM_CORPUS_TOO_LARGE', `${field} is ${bytes} bytes; the limit is ${limit} bytes`, {
      field,
      bytes,
      limit,
    }),
  apiKeyMissing: () =>
    coded('RNNLM_UNAUTHORIZED', 'this API needs an API key: send Authorization: Bearer <key>'),
  apiKeyInvalid: () => coded('RNNLM_UNAUTHORIZED', 'the API key is not valid'),
  rateLimited: (limit: number, windowMs: number, retryAfterSeconds: number) =>
    coded(
      'RNNLM_RATE_LIMITED',
      `rate limit of ${limit} requests per ${windowMs} ms reached; retry in ${retryAfterSeconds} s`,
      { limit, windowMs, retryAfterSeconds },
    ),
  /** The server as a whole is short of memory or event-loop time (`type` says which). */
  serverOverloaded: (type: string, retryAfterSeconds: number) =>
    coded('RNNLM_OVERLOADED', `the server is overloaded (${type})`, { retryAfterSeconds }),
  generationsBusy: (limit: number, retryAfterSeconds: number) =>
    coded('RNNLM_OVERLOADED', `${limit} generation(s) already running; retry in ${retryAfterSeconds} s`, {
      limit,
      retryAfterSeconds,
    }),
  batchQueueFull: (limit: number, queue: number, retryAfterSeconds: number) =>
    coded(
      'RNNLM_OVERLOADED',
      `every batch row of this model is busy and ${queue} request(s) wait already; retry in ${retryAfterSeconds} s`,
      { limit, queue, retryAfterSeconds },
    ),
  shuttingDown: (retryAfterSeconds: number) =>
    coded('RNNLM_SHUTTING_DOWN', 'the server is shutting down', { retryAfterSeconds }),
  idempotencyKeyReused: (jobId: string) =>
    coded(
      'RNNLM_IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was used for a different request; use a new key for a new job',
      { field: 'headers.idempotency-key', jobId },
    ),
  idempotencyKeyInUse: (retryAfterSeconds: number) =>
    coded(
      'RNNLM_IDEMPOTENCY_KEY_IN_USE',
      'a request with this Idempotency-Key is still being processed; retry in a few seconds',
      { retryAfterSeconds },
    ),
  stateNotFound: (stateId: string) =>
    coded(
      'RNNLM_STATE_NOT_FOUND',
      `state ${stateId} not found: it expired, was deleted, or its model was deleted`,
      {
        stateId,
      },
    ),
  stateOfOtherModel: (stateId: string, model: string) =>
    coded(
      'RNNLM_STATE_MODEL_MISMATCH',
      `state ${stateId} was kept by model ${model}: only that model can continue from it`,
      { stateId, model },
    ),
  stateOfReplacedModel: (stateId: string, model: string) =>
    coded(
      'RNNLM_STATE_MODEL_MISMATCH',
      `state ${stateId} was kept by an earlier model ${model}, since replaced`,
      {
        stateId,
        model,
      },
    ),
  stateDoesNotFit: (layers: number, hidden: number) =>
    coded('RNNLM_STATE_MODEL_MISMATCH', `the state does not fit this model (${layers} layers of ${hidden})`, {
      layers,
      hidden,
    }),
  stateTooLarge: (bytes: number, maxBytes: number) =>
    coded(
      'RNNLM_STATE_TOO_LARGE',
      `this model's state takes ${bytes} bytes, more than the state store holds (RNNLM_STATE_STORE_MAX_BYTES = ${maxBytes})`,
      { bytes, maxBytes },
    ),
  noStateStore: () => coded('RNNLM_REDIS_UNAVAILABLE', 'this server keeps no states: it has no shared Redis'),
  /** Redis did not answer; `where` is redisLocation's, when the caller knows it. */
  redisUnavailable: (where: string | undefined, cause?: unknown) =>
    coded(
      'RNNLM_REDIS_UNAVAILABLE',
      `Redis${where === undefined ? '' : ` at ${where}`} is unavailable${reason(cause)}`,
      undefined,
      cause,
    ),
  redisServerMissing: (hint: string, cause: unknown) =>
    coded(
      'RNNLM_REDIS_UNAVAILABLE',
      `no Redis answers and there is no redis-server to start one: ${hint}`,
      undefined,
      cause,
    ),
  redisServerNotStarted: (port: number | undefined, cause: unknown, logTail = '') =>
    coded(
      'RNNLM_REDIS_UNAVAILABLE',
      `the embedded redis-server${port === undefined ? '' : ` on port ${port}`} did not start${reason(cause)}` +
        (logTail === '' ? '' : `\n${logTail}`),
      undefined,
      cause,
    ),
  /** A training job cancelled: before a worker took it, or at `step`. */
  jobCancelled: (step?: number) =>
    step === undefined
      ? coded('RNNLM_ABORTED', 'cancelled before it started')
      : coded('RNNLM_ABORTED', `cancelled at step ${step}`, { step }),
  /** The sandboxed training process died without reporting: it exited, or a signal killed it. */
  trainerDied: (exitCode: string, signal: string) =>
    signal === 'null'
      ? coded('RNNLM_INTERNAL', `the training process exited with code ${exitCode} before it finished`)
      : coded(
          'RNNLM_INTERNAL',
          `the training process was killed by ${signal} before it finished (out of memory, or stopped from outside)`,
        ),
  /** A training job stopped by its worker's shutdown, to resume elsewhere from its checkpoint. */
  jobInterrupted: (step: number) =>
    coded('RNNLM_ABORTED', `interrupted at step ${step} by worker shutdown`, { step }),
  /** A request cancelled by its client (or its deadline) before it finished. */
  cancelled: () => coded('RNNLM_ABORTED', 'the request was cancelled'),
  inferenceThreadClosed: () => coded('RNNLM_ABORTED', 'the inference thread was closed'),
  inferenceThreadStopped: (exitCode: number) =>
    coded('RNNLM_INTERNAL', `the inference thread stopped (exit code ${exitCode})`, { exitCode }),
  modelNotLoaded: (modelId: string) =>
    coded('RNNLM_INTERNAL', `model ${modelId} is not loaded in the inference thread`, { modelId }),
  /** An error as another thread threw it, rebuilt from what crossed the thread boundary. */
  fromThread: (code: ErrorCode, message: string, details: ErrorDetails | undefined) =>
    coded(code, message, details),
  /** A broken invariant: what the code expected and did not find. */
  internal: (what: string, details?: ErrorDetails) => coded('RNNLM_INTERNAL', what, details),
};
