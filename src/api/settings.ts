import type { Config } from '../config.js';
import type { JobLimits } from '../queue/limits.js';

/** The settings the routes read, derived once from {@link Config}. */
export interface ApiSettings {
  maxCorpusBytes: number;
  maxGenerateTokens: number;
  limits: JobLimits;
  heartbeatMs: number;
  /** How long `/readyz` waits for Redis before answering 503. */
  readyTimeoutMs: number;
  /** Aborts when the app closes, so open event streams end instead of holding it open. */
  closing: AbortSignal;
  /** Aborts when the process starts to drain (AppDeps.draining) or the app closes. */
  draining: AbortSignal;
  /** Accepted API keys; empty: authentication off. */
  apiKeys: readonly string[];
  /** Requests to `/generate` and `/score` per client and window, counted in Redis. */
  rateLimit: { max: number; windowMs: number };
  /** Generations running at once in this process; one more is a 503. */
  maxInflightGenerations: number;
  /** The overload guard's limits (0: event-loop check off / heap limit from V8). */
  overload: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  /** Time a client has to send a whole request. */
  requestTimeoutMs: number;
  /** Where the service keeps its files (`RNNLM_DATA_DIR`), measured for `/metrics`. */
  dataDir: string;
  /** Kept recurrent states: how long each lives, and the bytes all may take in Redis. */
  states: { ttlSeconds: number; maxBytes: number };
}

/** The signals the app hands its settings: its own close, and the process's drain. */
export interface SettingsSignals {
  closing: AbortSignal;
  draining?: AbortSignal | undefined;
  /** Seconds between SSE heartbeats (15 when not given). */
  heartbeatSeconds?: number | undefined;
}

/** The routes' settings from the configuration, read once as the app is built. */
export function apiSettings(config: Config, signals: SettingsSignals): ApiSettings {
  return {
    maxCorpusBytes: config.RNNLM_MAX_CORPUS_BYTES,
    maxGenerateTokens: config.RNNLM_MAX_GENERATE_TOKENS,
    limits: config,
    heartbeatMs: (signals.heartbeatSeconds ?? 15) * 1000,
    readyTimeoutMs: 1000,
    closing: signals.closing,
    draining:
      signals.draining === undefined ? signals.closing : AbortSignal.any([signals.draining, signals.closing]),
    apiKeys: config.API_KEYS,
    rateLimit: { max: config.RNNLM_RATE_LIMIT_MAX, windowMs: config.RNNLM_RATE_LIMIT_WINDOW_MS },
    maxInflightGenerations: config.RNNLM_MAX_INFLIGHT_GENERATIONS,
    overload: {
      maxEventLoopDelayMs: config.RNNLM_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: config.RNNLM_MAX_HEAP_USED_BYTES,
    },
    requestTimeoutMs: config.RNNLM_REQUEST_TIMEOUT_MS,
    dataDir: config.RNNLM_DATA_DIR,
    states: { ttlSeconds: config.RNNLM_STATE_TTL_SECONDS, maxBytes: config.RNNLM_STATE_STORE_MAX_BYTES },
  };
}
