/**
 * Structured logs (pino). Bind the ids a line is about with child loggers —
 * `jobLogger(logger, id)`, `modelLogger(logger, id)` — rather than writing them into messages.
 */
import { pino } from 'pino';

import type { Config } from './config.js';

export type Logger = pino.Logger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Bound into every line (e.g. `{ role: 'worker' }`). */
  base?: Record<string, unknown> | undefined;
  /**
   * Human-readable output through pino-pretty when it is installed.
   * @defaultValue whether stdout is a terminal
   */
  pretty?: boolean | undefined;
  /** Write here instead of stdout (tests). */
  destination?: pino.DestinationStream | undefined;
}

function prettyAvailable(): boolean {
  try {
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** The root logger of a process, at the level the environment asks for. */
export function createLogger(config: Pick<Config, 'RNNLM_LOG_LEVEL'>, options: LoggerOptions = {}): Logger {
  const level = config.RNNLM_LOG_LEVEL;
  const base = { pid: process.pid, ...options.base };
  if (options.destination !== undefined) return pino({ level, base }, options.destination);
  const pretty = options.pretty ?? process.stdout.isTTY;
  if (pretty && level !== 'silent' && prettyAvailable()) {
    return pino({
      level,
      base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base });
}

export function jobLogger(logger: Logger, jobId: string): Logger {
  return logger.child({ jobId });
}

export function modelLogger(logger: Logger, modelId: string): Logger {
  return logger.child({ modelId });
}
