/**
 * Each job's event stream (a Redis stream the worker appends to): pages of it, and waits for
 * what comes next with XREAD BLOCK on connections of their own.
 */
import type { Redis } from 'ioredis';

import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import { createBlockingConnection } from './connection.js';
import { jobEventTypeSchema, type JobEvent } from './contracts.js';
import { isJobId, type ServiceKeys } from './training-queue.js';

/** Events one read returns at most. */
export const EVENTS_PAGE = 1000;
/** Idle blocking connections kept for the next wait. */
const IDLE_BLOCKING_CONNECTIONS = 16;
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

function checkStreamId(id: string): string {
  if (!STREAM_ID.test(id)) {
    throw errors.invalidRequest('Last-Event-ID', `not an event id: ${JSON.stringify(id)}`);
  }
  return id;
}

/** A stream entry as a job event; none for an entry that is not one (unknown type, bad data). */
function parseEvent(id: string, fields: string[]): JobEvent[] {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const type = jobEventTypeSchema.safeParse(map.get('type'));
  if (!type.success) return [];
  let data: unknown;
  try {
    data = JSON.parse(map.get('data') ?? '{}');
  } catch {
    return [];
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return [];
  return [{ id, type: type.data, data: data as Record<string, unknown> }];
}

/** Options of {@link JobEvents}. */
export interface JobEventsOptions {
  /** Reads pages of events. */
  redis: Redis;
  keys: ServiceKeys;
  /** Where blocking connections connect to. */
  config: Config;
  logger?: Logger | undefined;
  /**
   * Runs each page read: the service's outage gate, so a Redis known to be down is refused at
   * once. The blocking reads pass by it: they have connections and a time limit of their own.
   */
  gate: <T>(work: () => Promise<T>) => Promise<T>;
}

/** Reads and waits for job events; {@link close} disconnects its blocking connections. */
export class JobEvents {
  private readonly redis: Redis;
  private readonly keys: ServiceKeys;
  private readonly config: Config;
  private readonly logger: Logger | undefined;
  private readonly gate: JobEventsOptions['gate'];
  /** Idle connections for XREAD BLOCK (one blocking read per connection at a time). */
  private readonly blockingPool: Redis[] = [];
  private readonly blockingBusy = new Set<Redis>();
  private closed = false;

  constructor(options: JobEventsOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.config = options.config;
    this.logger = options.logger;
    this.gate = options.gate;
  }

  /** Up to `limit` events after `after` (exclusive), oldest first; none for an id that is no job's. */
  async events(id: string, after?: string, limit = EVENTS_PAGE): Promise<JobEvent[]> {
    if (!isJobId(id)) return [];
    const start = after === undefined ? '-' : `(${checkStreamId(after)}`;
    const raw = await this.gate(() => this.redis.xrange(this.keys.events(id), start, '+', 'COUNT', limit));
    return raw.flatMap(([eventId, fields]) => parseEvent(eventId, fields));
  }

  /**
   * The events after `after`, waiting up to `timeoutMs` for one when there are none yet; none
   * when the wait ends empty or `signal` aborts it.
   */
  async waitForEvents(
    id: string,
    after: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<JobEvent[]> {
    if (!isJobId(id)) return [];
    const ready = await this.events(id, after);
    if (ready.length > 0 || timeoutMs <= 0 || signal?.aborted === true) return ready;
    const from = after === undefined ? '0-0' : checkStreamId(after);
    const conn = this.takeBlocking();
    let broken = false;
    const abort = () => {
      broken = true;
      conn.disconnect();
    };
    signal?.addEventListener('abort', abort, { once: true });
    // Redis ends the block itself; this only guards against a server that stopped answering.
    const guard = setTimeout(abort, timeoutMs + 5000);
    try {
      const reply = await conn.xread(
        'COUNT',
        EVENTS_PAGE,
        'BLOCK',
        Math.max(1, Math.round(timeoutMs)),
        'STREAMS',
        this.keys.events(id),
        from,
      );
      const entries = reply?.[0]?.[1] ?? [];
      return entries.flatMap(([eventId, fields]) => parseEvent(eventId, fields));
    } catch (err) {
      if (broken) return [];
      throw err;
    } finally {
      clearTimeout(guard);
      signal?.removeEventListener('abort', abort);
      this.returnBlocking(conn, broken);
    }
  }

  /** Disconnects every blocking connection, busy ones included; those in use return none. */
  close(): void {
    this.closed = true;
    for (const conn of [...this.blockingBusy, ...this.blockingPool.splice(0)]) conn.disconnect();
  }

  private takeBlocking(): Redis {
    let conn = this.blockingPool.pop();
    if (conn === undefined) {
      conn = createBlockingConnection(this.config, 'rnnlm-events');
      conn.on('error', (err) => this.logger?.debug({ err }, 'redis blocking connection error'));
    }
    this.blockingBusy.add(conn);
    return conn;
  }

  private returnBlocking(conn: Redis, broken: boolean): void {
    this.blockingBusy.delete(conn);
    if (broken || this.closed || this.blockingPool.length >= IDLE_BLOCKING_CONNECTIONS) {
      conn.disconnect();
    } else {
      this.blockingPool.push(conn);
    }
  }
}
