/**
 * What the commands share: the streams they write to, reading user-named text files into
 * coded errors, starting the tfjs backend and printing the --json result line.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { initBackend, type BackendInfo } from '../ml/backend.js';
import { isNotFound } from '../storage/fs-atomic.js';

/** The output streams of a command: results on stdout, progress and diagnostics on stderr. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean | undefined; columns?: number | undefined };
}

/**
 * Reads a UTF-8 text file named on the command line. A missing file is RNNLM_FILE_NOT_FOUND
 * with its absolute path; bytes that are not UTF-8 are refused rather than silently replaced
 * with U+FFFD, which would otherwise end up in the tokenizer's vocabulary.
 *
 * @param what - how the file is called in messages (`corpus`, `validation file`, ...).
 */
export async function readTextFile(path: string, what: string): Promise<string> {
  const full = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(full);
  } catch (err) {
    if (isNotFound(err)) {
      throw errors.fileNotFound(what, full);
    }
    throw new Error(`cannot read ${what} ${full}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw errors.fileNotUtf8(what, full, err);
  }
}

/** Starts the backend the environment asks for and says on stderr which one it got. */
export async function startBackend(config: Config, io: CliIo): Promise<BackendInfo> {
  const backend = await initBackend(config.RNNLM_BACKEND, config.RNNLM_NATIVE_KERNELS, config.RNNLM_THREADS);
  io.stderr.write(`backend: ${backend.name} (${backend.package}${backend.gpu ? ', GPU' : ''})\n`);
  return backend;
}

/** NaN and infinities are not JSON; clients get null for "not measured". */
export function finiteOrNull(x: number | null | undefined): number | null {
  return x === null || x === undefined || !Number.isFinite(x) ? null : x;
}

/** Prints the result object as the last line of stdout. */
export function writeJson(io: CliIo, value: Record<string, unknown>): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Routes Ctrl-C to an AbortController while `run` is in flight, so the command can stop
 * cleanly (a checkpoint, a final newline); a second Ctrl-C quits at once.
 */
export async function withInterrupt<T>(
  onInterrupt: () => void,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) process.exit(130);
    onInterrupt();
    controller.abort('interrupted');
  };
  process.on('SIGINT', handler);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', handler);
  }
}
