/**
 * What the fault tests share: real processes (a worker, src/main.ts in a role) started from a
 * test's configuration and SIGKILLed when it ends, polling helpers for jobs and their events,
 * and a check of the model directory that accepts only complete, hash-verified models.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { childEnv, loadConfig, type Config } from '../../src/config.js';
import type { Job, JobEvent } from '../../src/queue/contracts.js';
import { RedisJobService } from '../../src/queue/job-service.js';
import { isModelId } from '../../src/ids.js';
import { readModelDir } from '../../src/storage/artifacts.js';
import { testEnv, waitFor, type TestEnv } from '../integration/queue/harness.js';

export { CORPUS, testEnv, tinyRequest, waitFor, type TestEnv } from '../integration/queue/harness.js';

const WORKER = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** A test's environment (see testEnv) and a ready job service on it, closed when the test ends. */
export async function jobServiceEnv(
  t: TestContext,
  overrides: Record<string, string> = {},
): Promise<{ env: TestEnv; jobs: RedisJobService }> {
  const env = await testEnv(t, overrides);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  return { env, jobs };
}

/** A child process and what it has printed so far. */
export interface Proc {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  /** Settles with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running: () => boolean;
}

function spawnTs(env: TestEnv, file: string, overrides: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...childEnv(env.config), ...overrides },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const running = () => child.exitCode === null && child.signalCode === null;
  env.defer(async () => {
    if (running()) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, out, exited, running };
}

async function printed(proc: Proc, text: string, what: string): Promise<void> {
  await waitFor(
    () => Promise.resolve(proc.out.stdout),
    (s) => s.includes(text) || !proc.running(),
    60_000,
    what,
  );
  assert.ok(proc.out.stdout.includes(text), `${what} did not start: ${proc.out.stderr}`);
}

/**
 * Lock settings of the fault tests' worker processes: a 2 s lock, so a job whose worker dies is
 * taken over within seconds (a test that measures the defaults overrides them).
 */
export const SHORT_LOCK = {
  RNNLM_JOB_LOCK_MS: '2000',
  RNNLM_JOB_LOCK_RENEW_MS: '1000',
  RNNLM_STALLED_CHECK_MS: '1000',
};

const defaults = loadConfig({});
/** The lock settings a deployment gets by default, for the tests that measure them. */
export const DEFAULT_LOCK = {
  RNNLM_JOB_LOCK_MS: String(defaults.RNNLM_JOB_LOCK_MS),
  RNNLM_JOB_LOCK_RENEW_MS: String(defaults.RNNLM_JOB_LOCK_RENEW_MS),
  RNNLM_STALLED_CHECK_MS: String(defaults.RNNLM_STALLED_CHECK_MS),
};

/**
 * A TrainingWorker in a process of its own (test/faults/worker-process.ts, with
 * {@link SHORT_LOCK} unless `overrides` say otherwise), ready to take jobs.
 */
export async function startWorkerProcess(
  env: TestEnv,
  overrides: Record<string, string> = {},
): Promise<Proc> {
  const proc = spawnTs(env, WORKER, { ...SHORT_LOCK, ...overrides });
  await printed(proc, 'worker ready', 'the worker process');
  return proc;
}

/** src/main.ts in `role`, started; `url` is where an API role listens. */
export async function startMain(
  env: TestEnv,
  role: Config['RNNLM_ROLE'],
  overrides: Record<string, string> = {},
): Promise<Proc & { url: string | undefined }> {
  const proc = spawnTs(env, MAIN, { RNNLM_ROLE: role, PORT: '0', ...overrides });
  await printed(proc, 'models', `main.ts (role ${role})`);
  const url = /listening\s+(http:\/\/\S+)/.exec(proc.out.stdout)?.[1];
  return { ...proc, url };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the training child that announced `running` in the `nth` (0-based) run. */
export function trainerPid(events: JobEvent[], nth = 0): number {
  const runs = events.filter((e) => e.type === 'status' && e.data.status === 'running');
  const pid = Number(String(runs[nth]?.data.worker).split(':').at(-1));
  assert.ok(pid > 0, `no trainer pid for run ${nth}: ${JSON.stringify(runs)}`);
  return pid;
}

/**
 * Polls the job until it has ended. A read that fails counts as not yet: the test's own
 * connection may be reconnecting after the fault under test.
 */
export async function finished(jobs: RedisJobService, id: string, timeoutMs = 60_000): Promise<Job> {
  const job = await waitFor(
    () => jobs.get(id).catch(() => undefined),
    (j) => j !== undefined && FINISHED.has(j.status),
    timeoutMs,
    `job ${id} to finish`,
  );
  assert.ok(job !== undefined);
  return job;
}

/** Waits for the job's events to include one that `match`es; returns all of them (reads as in `finished`). */
export async function eventsUntil(
  jobs: RedisJobService,
  id: string,
  match: (e: JobEvent) => boolean,
  timeoutMs = 60_000,
  what = `an event of job ${id}`,
): Promise<JobEvent[]> {
  return waitFor(
    () => jobs.events(id).catch((): JobEvent[] => []),
    (es) => es.some(match),
    timeoutMs,
    what,
  );
}

/** How one streamed generation went, as its client saw it. */
export interface StreamedGeneration {
  /** The HTTP status, or 0 when the request failed before one came. */
  status: number;
  /** When the answer's headers arrived (the stream started), and when its body ended. */
  startedAt: number;
  endedAt: number;
  /** The body ended with a `done` event, and how many `token` events came before it. */
  done: boolean;
  tokens: number;
  /** The request's error, or the body of a refusal. */
  error?: string;
}

/**
 * `GET /generate?stream=true` read to its end; `onStarted` is called once its headers arrive.
 */
export async function streamGeneration(
  url: string,
  model: string,
  maxTokens: number,
  onStarted: () => void = () => undefined,
): Promise<StreamedGeneration> {
  const query = new URLSearchParams({ model, maxTokens: String(maxTokens), stream: 'true', prompt: 'T' });
  let startedAt = 0;
  try {
    const res = await fetch(`${url}/generate?${query.toString()}`, { signal: AbortSignal.timeout(120_000) });
    startedAt = Date.now();
    onStarted();
    const body = await res.text();
    const events = [...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    return {
      status: res.status,
      startedAt,
      endedAt: Date.now(),
      done: events.at(-1) === 'done',
      tokens: events.filter((e) => e === 'token').length,
      ...(res.status === 200 ? {} : { error: body }),
    };
  } catch (err) {
    return { status: 0, startedAt, endedAt: Date.now(), done: false, tokens: 0, error: String(err) };
  }
}

export function statuses(events: JobEvent[]): unknown[] {
  return events.filter((e) => e.type === 'status').map((e) => e.data.status);
}

/**
 * Everything in the models directory: the models, each of which must read back complete
 * with every file matching its hash (else this throws RNNLM_ARTIFACT_CORRUPT), and the other
 * entries (temporary directories of writers that died).
 */
export async function modelsOnDisk(modelsDir: string): Promise<{ models: string[]; other: string[] }> {
  let names: string[];
  try {
    names = await readdir(modelsDir);
  } catch {
    return { models: [], other: [] };
  }
  const models = names.filter(isModelId).sort();
  for (const id of models) await readModelDir(join(modelsDir, id));
  return { models, other: names.filter((n) => !isModelId(n)).sort() };
}
