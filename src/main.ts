/**
 * The service's entry point: `RNNLM_ROLE=api` serves HTTP, `worker` trains, `all` (the
 * default) does both in one process. Checks Redis before anything else, says where
 * everything is, and shuts down in order on SIGTERM/SIGINT within a deadline.
 */
import { mkdir } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

import { dataDirs, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { initBackend, type BackendInfo } from './ml/backend.js';
import { nativeStatus } from './ml/native.js';
import { InferenceService } from './inference/service.js';
import { RNNLM_VERSION } from './version.js';
import {
  createProducerConnection,
  closeConnection,
  redisLocation,
  waitUntilReady,
} from './queue/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './queue/embedded-redis.js';
import { RedisJobService } from './queue/job-service.js';
import { TrainingWorker } from './worker/training-worker.js';

/** Of the shutdown budget, what the HTTP server and the worker leave for what closes after them. */
const CLOSE_RESERVE_MS = 1000;
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;

/**
 * When each part closes: the HTTP server (its requests and streams drain) and the worker (its
 * jobs checkpoint and go back to the queue) at once, neither waits for the other; then what
 * the requests used (the job service's connection, the loaded models); the embedded Redis last.
 */
const CLOSE_PHASE = { http: 0, worker: 0, jobs: 1, models: 1, redis: 2 } as const;

interface Closable {
  name: keyof typeof CLOSE_PHASE;
  /** Closes within `budgetMs`, the time left before the shutdown deadline. */
  close: (budgetMs: number) => Promise<void>;
  /** Called at once when the signal comes, before anything closes: stop taking new work. */
  stopTaking?: () => void;
}

async function redisReachable(config: Config): Promise<boolean> {
  const probe = createProducerConnection(config, 'rnnlm-startup-check');
  probe.on('error', () => undefined);
  try {
    await waitUntilReady(probe, redisLocation(config), 3000);
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    await closeConnection(probe);
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Which threads the kernels get where: the inference thread's, each training child's. */
function threadsLine(role: Config['RNNLM_ROLE'], config: Config): string {
  const inference = `${config.RNNLM_INFERENCE_THREADS} thread(s) for generation and scoring (RNNLM_INFERENCE_THREADS)`;
  const training = `${config.RNNLM_THREADS} thread(s) per training process (RNNLM_THREADS)`;
  if (role === 'api') return inference;
  if (role === 'worker') return training;
  return `${inference}, ${training}`;
}

async function start(
  config: Config,
  logger: Logger,
  closables: Closable[],
  embedded: EmbeddedRedis | undefined,
): Promise<void> {
  const role = config.RNNLM_ROLE;
  const dirs = dataDirs(config);
  await mkdir(dirs.models, { recursive: true });
  let listening: string | undefined;
  let backend: BackendInfo | undefined;

  if (role === 'api' || role === 'all') {
    const jobs = new RedisJobService({ config, logger });
    const models = new InferenceService({ dir: dirs.models, config, logger });
    closables.push({ name: 'models', close: () => models.close() });
    closables.push({ name: 'jobs', close: () => jobs.close() });
    // Generation and scoring run on the inference thread's backend.
    backend = await models.ready();
    await jobs.ready();
    const { buildApp } = await import('./api/app.js');
    const { closeServer, listen } = await import('./api/server.js');
    const draining = new AbortController();
    const app = await buildApp({ config, jobs, models, logger, draining: draining.signal });
    closables.push({
      name: 'http',
      // /readyz and new requests answer 503 from the signal on; the port stays open for the
      // drain delay, so a load balancer sees the 503 before connections are refused.
      stopTaking: () => draining.abort(),
      close: async (budgetMs) => {
        const endsAt = Date.now() + budgetMs;
        await delay(Math.min(config.RNNLM_DRAIN_DELAY_MS, budgetMs));
        const left = Math.max(0, endsAt - Date.now() - CLOSE_RESERVE_MS);
        if (!(await closeServer(app, left))) logger.warn('open requests did not finish; closed anyway');
      },
    });
    listening = await listen(app, config);
  }
  if (role === 'worker' || role === 'all') {
    const worker = new TrainingWorker({ config, logger });
    closables.push({
      name: 'worker',
      close: (budgetMs) => worker.close(Math.max(0, budgetMs - CLOSE_RESERVE_MS)),
      stopTaking: () => worker.stopTakingJobs(),
    });
    await worker.waitUntilReady();
  }

  // The worker's children train on the backend this process selects, and /readyz reports its
  // kernels. Where this process serves the API, the inference thread sets its own threads;
  // this thread's are what it reports beside them (the training children set their own).
  const ownThreads = role === 'worker' ? config.RNNLM_THREADS : config.RNNLM_INFERENCE_THREADS;
  const selected = await initBackend(config.RNNLM_BACKEND, config.RNNLM_NATIVE_KERNELS, ownThreads);
  backend ??= selected;
  say(`rnnlm ${RNNLM_VERSION} started (role: ${role})`);
  if (listening !== undefined) say(`  listening  ${listening} (API docs at ${listening}/docs)`);
  if (role !== 'api') {
    say(
      `  worker     ${config.RNNLM_WORKER_CONCURRENCY} job(s) at a time, ${config.RNNLM_JOB_ATTEMPTS} attempts each`,
    );
  }
  say(`  backend    ${backend.name} (${backend.package}${backend.gpu ? ', GPU' : ''})`);
  const kernels = nativeStatus();
  say(
    kernels.inUse
      ? `  kernels    native (${kernels.build ?? 'unknown build'}, ${kernels.core ?? '?'}), ${threadsLine(role, config)}`
      : `  kernels    tfjs only, about ten times slower: the native engine is ${kernels.reason ?? 'not in use'}`,
  );
  say(`  redis      ${redisLocation(config)} (key prefix ${config.RNNLM_QUEUE_PREFIX})`);
  if (embedded !== undefined) {
    say(
      `             embedded: nothing answered there, so rnnlm started redis-server (pid ${embedded.pid}, AOF in ${embedded.dir}); it stops with rnnlm`,
    );
  }
  say(`  models     ${dirs.models}`);
}

/**
 * With no REDIS_URL and nothing answering on the local port, a Redis of our own: the service
 * then needs nothing but `npm start`.
 */
async function embeddedRedis(config: Config, logger: Logger): Promise<EmbeddedRedis> {
  const redis = await startEmbeddedRedis({
    port: config.RNNLM_LOCAL_REDIS_PORT,
    dir: dataDirs(config).redis,
  });
  logger.info({ pid: redis.pid, dir: redis.dir, url: redis.url }, 'started an embedded redis-server');
  return redis;
}

function installShutdown(closables: Closable[], logger: Logger, timeoutMs: number): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    const endsAt = Date.now() + timeoutMs;
    // Each step is bounded by what is left, but a step that ignores its budget (a close
    // that waits on a Redis that is gone) must not keep the process alive either.
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(EXIT_FAILURE);
    }, timeoutMs);
    deadline.unref();
    // No new job starts and no new request is served from here on.
    for (const c of closables) c.stopTaking?.();
    void (async () => {
      let failed = false;
      const close = async (c: Closable) => {
        try {
          await c.close(Math.max(0, endsAt - Date.now()));
        } catch (err) {
          failed = true;
          logger.error({ err, component: c.name }, 'error while closing');
        }
      };
      const phases = [...new Set(Object.values(CLOSE_PHASE))].sort((a, b) => a - b);
      for (const phase of phases) {
        await Promise.all(closables.filter((c) => CLOSE_PHASE[c.name] === phase).map(close));
      }
      clearTimeout(deadline);
      logger.info('stopped');
      process.exit(failed ? EXIT_FAILURE : 0);
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`rnnlm: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_CONFIG;
  }
  const logger = createLogger(config, { base: { role: config.RNNLM_ROLE } });

  const closables: Closable[] = [];
  let embedded: EmbeddedRedis | undefined;
  if (!(await redisReachable(config))) {
    if (config.REDIS_URL_GIVEN) {
      process.stderr.write(
        [
          `rnnlm: cannot reach Redis at ${redisLocation(config)}.`,
          ...(config.REDIS_SENTINELS.length > 0
            ? [
                `Check that the sentinels answer and monitor "${config.REDIS_SENTINEL_NAME}" (REDIS_SENTINEL_NAME),`,
                'and that the primary they name is up, then try again.',
              ]
            : [
                'Start one, then try again:',
                '  redis-server --daemonize yes        (a local install)',
                '  docker compose up -d redis          (from this repository)',
                'or point REDIS_URL at a running server (unset, rnnlm starts a Redis of its own).',
              ]),
          '',
        ].join('\n'),
      );
      return EXIT_FAILURE;
    }
    try {
      const redis = await embeddedRedis(config, logger);
      embedded = redis;
      // Killed without its AOF written, it would lose the last second of queue writes.
      closables.push({ name: 'redis', close: (budgetMs) => redis.stop(Math.max(budgetMs, 2000)) });
    } catch (err) {
      process.stderr.write(`rnnlm: ${err instanceof Error ? err.message : String(err)}\n`);
      return EXIT_FAILURE;
    }
  }

  try {
    await start(config, logger, closables, embedded);
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    process.stderr.write(`rnnlm: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    await embedded?.stop(5000);
    return EXIT_FAILURE;
  }
  installShutdown(closables, logger, config.RNNLM_SHUTDOWN_TIMEOUT_MS);
  return 0;
}

const code = await main();
if (code !== 0) process.exit(code);
