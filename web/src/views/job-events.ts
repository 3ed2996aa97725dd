/**
 * A job's event stream as the job page reads it: each event applied to the job the page
 * shows, and the stream followed to the job's end, resumed with Last-Event-ID after a
 * dropped connection.
 */
import { ApiError, openEvents } from '../api.js';
import { num } from '../dom.js';
import type { Job } from '../types.js';
import { FINAL, type JobPage } from './job-page.js';

const RECONNECT_MS = 1000;

type EventData = Record<string, unknown>;

/** The event's number at `key`, or null. */
function n(data: EventData, key: string): number | null {
  const v = data[key];
  return typeof v === 'number' ? v : null;
}

function applyProgress(job: Job, data: EventData, step: number): void {
  const p = job.progress;
  job.progress = {
    epoch: n(data, 'epoch') ?? p.epoch,
    step,
    totalSteps: n(data, 'totalSteps') ?? p.totalSteps,
    fraction: n(data, 'fraction') ?? p.fraction,
    learningRate: n(data, 'learningRate') ?? p.learningRate,
    trainedTokens: n(data, 'trainedTokens') ?? p.trainedTokens,
    elapsedSeconds: n(data, 'elapsedSeconds') ?? p.elapsedSeconds,
    etaSeconds: n(data, 'etaSeconds'),
  };
  if (typeof data.stopReason === 'string') job.stopReason = data.stopReason as Job['stopReason'];
  job.metrics = {
    ...job.metrics,
    trainLoss: n(data, 'trainLoss'),
    tokensPerSecond: n(data, 'tokensPerSecond'),
  };
  if (typeof data.backend === 'string') job.backend = data.backend;
  if (data.engine === 'onednn' || data.engine === 'tfjs') job.engine = data.engine;
}

function applyMetrics(job: Job, data: EventData): void {
  job.metrics = {
    ...job.metrics,
    valLoss: n(data, 'valLoss'),
    valPerplexity: n(data, 'valPerplexity'),
    valBitsPerChar: n(data, 'valBitsPerChar'),
  };
}

/**
 * Applies one event to `job` and the page. Returns true for a status change, after which
 * the page reads the whole job again.
 */
export function applyEvent(job: Job, page: JobPage, type: string, data: EventData): boolean {
  const step = n(data, 'step') ?? 0;
  switch (type) {
    case 'progress':
      page.charts.trainLoss.add(step, n(data, 'trainLoss'));
      page.charts.tokensPerSecond.add(step, n(data, 'tokensPerSecond'));
      applyProgress(job, data, step);
      return false;
    case 'metrics':
      page.charts.valLoss.add(step, n(data, 'valLoss'));
      page.charts.valPerplexity.add(step, n(data, 'valPerplexity'));
      applyMetrics(job, data);
      page.logLine(`evaluated at step ${step}: perplexity ${num(n(data, 'valPerplexity'))}`);
      return false;
    case 'checkpoint':
      page.addCheckpoint(step, n(data, 'epoch') ?? 0);
      page.logLine(`checkpoint at step ${step}`);
      return false;
    case 'log':
      page.logLine(typeof data.message === 'string' ? data.message : JSON.stringify(data));
      return false;
    case 'status': {
      const s = String(data.status);
      const attempt = typeof data.attempt === 'number' ? ` (attempt ${data.attempt})` : '';
      page.logLine(`status: ${s}${attempt}`, `log-${s}`);
      if (job.status !== s && (s === 'queued' || s === 'running' || FINAL.has(s)))
        job.status = s as Job['status'];
      return true;
    }
    default:
      return false;
  }
}

/**
 * Follows the job's events to its end (a final status), reconnecting after the last event
 * seen; `onEvent` gets each. Stops early when `signal` aborts or the job is gone (its 404
 * message handed to `onGone`). Resolves true when the job ended.
 */
export async function followEvents(
  jobId: string,
  signal: AbortSignal,
  onEvent: (type: string, data: EventData) => void,
  onGone: (message: string) => void,
): Promise<boolean> {
  let lastEventId: string | undefined;
  let finished = false;
  while (!finished && !signal.aborted) {
    try {
      const events = await openEvents(`/jobs/${jobId}/events`, { signal, lastEventId });
      for await (const message of events) {
        if (message.id !== undefined) lastEventId = message.id;
        const data = JSON.parse(message.data) as EventData;
        if (message.event === 'error') throw new ApiError(500, String(data.code), String(data.message));
        onEvent(message.event, data);
        if (message.event === 'status' && FINAL.has(String(data.status))) finished = true;
      }
    } catch (err) {
      if (signal.aborted) return false;
      if (err instanceof ApiError && err.status === 404) {
        onGone(err.message);
        return false;
      }
    }
    if (!finished && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
  return finished;
}
