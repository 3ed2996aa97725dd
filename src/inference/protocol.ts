/**
 * The messages between the API thread ({@link InferenceExecutor}) and the inference thread
 * (thread.ts). Everything crosses by structured clone, so errors travel as their code,
 * message and details and are rebuilt on the other side.
 */
import type { Config } from '../config.js';
import type { InferenceStats, ScoreRequest } from '../contracts/models.js';
import { ERRORS, errors, isRnnlmError, type ErrorCode } from '../errors.js';
import type { ScoreResult } from '../ml/eval/score.js';
import type { GenerateOptions, GenerateResult, TokenDetail } from '../ml/generate/generate.js';
import type { StateOptions, StateResult } from '../ml/state.js';

/** What the inference thread is started with. */
export interface ThreadData {
  /** Directory holding one sub-directory per model. */
  dir: string;
  config: Pick<Config, 'RNNLM_BACKEND' | 'RNNLM_NATIVE_KERNELS' | 'RNNLM_INFERENCE_THREADS'>;
  /** Rows one batched forward steps at most, per model and kind (RNNLM_MAX_BATCH_ROWS). */
  maxRows: number;
}

/** A generation as it crosses to the thread: the options without the abort signal. */
export type GenerateRequest = Omit<GenerateOptions, 'signal'> & StateOptions;

export type ToThread =
  | { op: 'ready'; id: number }
  | { op: 'load'; id: number; modelId: string }
  | { op: 'unload'; modelId: string }
  | { op: 'generate'; id: number; modelId: string; options: GenerateRequest; stream: boolean }
  | { op: 'score'; id: number; modelId: string; text: string; options: ScoreRequest }
  | { op: 'cancel'; id: number }
  | { op: 'memory'; id: number }
  | { op: 'stats'; id: number };

/** The thread posts these in arrays: everything one batched step produced in one message. */
export type FromThread =
  /** `queuedMs`: how long a generation or scoring waited for a row. */
  | { id: number; kind: 'result'; value: unknown; queuedMs: number }
  | { id: number; kind: 'error'; error: WireError }
  /** Streamed generation: text that became final, and with `details` the tokens since the last. */
  | { id: number; kind: 'text'; delta: string; tokens?: TokenDetail[] | undefined };

export type { GenerateResult, ScoreRequest, ScoreResult, StateResult };

/** What the thread holds, for leak checks: tfjs tensors, models and the host memory of its rows. */
export interface ThreadMemory {
  numTensors: number;
  numBytes: number;
  /** Models loaded in the thread. */
  models: number;
  /** Host memory held by the recurrent states of rows (0 when no request runs). */
  stateBytes: number;
}

/** Batched forwards of `rows` rows of one kind. */
export type BatchCount = InferenceStats['batches'][number];

/** What the thread did since the last `stats` request. */
export interface ThreadStats {
  batches: BatchCount[];
}

export interface WireError {
  code: ErrorCode | undefined;
  message: string;
  details?: Record<string, unknown> | undefined;
  stack?: string | undefined;
}

export function toWire(err: unknown): WireError {
  if (isRnnlmError(err)) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof Error) return { code: undefined, message: err.message, stack: err.stack };
  return { code: undefined, message: String(err) };
}

export function fromWire(wire: WireError): Error {
  if (wire.code !== undefined && wire.code in ERRORS) {
    return errors.fromThread(wire.code, wire.message, wire.details);
  }
  const err = new Error(wire.message);
  if (wire.stack !== undefined) err.stack = wire.stack;
  return err;
}
