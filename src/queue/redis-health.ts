/**
 * Whether Redis answers, as one process sees it. A Redis that stops answering (frozen by a
 * `DEBUG SLEEP`, SIGSTOP or a stalled failover) accepts connections and swallows commands, so
 * each caller would wait out its command timeout; once one has, the others are refused at once
 * until a probe gets an answer again. An outage is logged once when it starts and once when
 * it ends, instead of once per request or reconnect attempt.
 */
import type { Redis } from 'ioredis';

import { errors, isRnnlmError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Between probes while Redis is down. */
const PROBE_EVERY_MS = 500;

/** The signs of an unreachable or silent server in what ioredis rejects a command with. */
const REDIS_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * ioredis' signs of an unreachable server: the socket errors, the offline-queue refusal, the
 * retry limit, a command that got no answer within `commandTimeout`, and (with Sentinel) no
 * sentinel naming a primary that answers, as during a failover.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (isRnnlmError(err, 'RNNLM_REDIS_UNAVAILABLE')) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && REDIS_DOWN_CODES.has(code)) return true;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|Command timed out|All sentinels are unreachable/.test(
    err.message,
  );
}

/** Logs an outage once as it starts and once as it ends. */
export class OutageLog {
  private since: number | undefined;

  constructor(
    private readonly logger: Logger | undefined,
    private readonly what: string,
  ) {}

  get down(): boolean {
    return this.since !== undefined;
  }

  /** Redis failed; logged only if it was up until now. */
  failed(err: unknown): void {
    if (this.since !== undefined) return;
    this.since = Date.now();
    const reason = err instanceof Error ? err.message : String(err);
    this.logger?.warn({ reason }, `Redis is unavailable: ${this.what}`);
  }

  /** Redis answered; logged only if it was down. */
  answered(): void {
    if (this.since === undefined) return;
    const downMs = Date.now() - this.since;
    this.since = undefined;
    this.logger?.warn({ downMs }, `Redis is available again after ${Math.round(downMs / 1000)} s`);
  }
}

/** Gate for the commands of one producer connection; see the module comment. */
export class RedisHealth {
  private readonly outage: OutageLog;
  private probe: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly redis: Redis,
    /** Where Redis is, for messages (`redisLocation`). */
    private readonly where: string,
    logger: Logger | undefined,
  ) {
    this.outage = new OutageLog(logger, 'requests that need it are answered 503 until it is back');
  }

  get down(): boolean {
    return this.outage.down;
  }

  /**
   * Runs `work` (commands on this connection) unless Redis is known to be down; an error that
   * says Redis is unavailable marks it down and becomes RNNLM_REDIS_UNAVAILABLE.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.down) throw errors.redisUnavailable(this.where, new Error('no answer yet since it went silent'));
    try {
      return await work();
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.failed(err);
      throw isRnnlmError(err) ? err : errors.redisUnavailable(this.where, err);
    }
  }

  /** Redis is down: refuse from now on, and probe until it answers again. */
  failed(err: unknown): void {
    this.outage.failed(err);
    this.probe ??= setInterval(() => void this.tryProbe(), PROBE_EVERY_MS);
    this.probe.unref();
  }

  private async tryProbe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      // The connection's own command timeout bounds this; one probe at a time is all that
      // can pile up behind a frozen server.
      await this.redis.ping();
      clearInterval(this.probe);
      this.probe = undefined;
      this.outage.answered();
    } catch {
      // Still down; the next tick tries again.
    } finally {
      this.probing = false;
    }
  }

  close(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }
}
