/**
 * What the sandboxed training process sets up once and keeps between jobs: configuration,
 * logger, tfjs backend, Redis connection and storage, and the signal handlers that stop the
 * job it is running.
 */
import type { Redis } from 'ioredis';

import { dataDirs, loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { initBackend, type BackendInfo } from '../ml/backend.js';
import { nativeStatus } from '../ml/native.js';
import { closeConnection, createWorkerConnection } from '../queue/connection.js';
import { serviceKeys, STOP_SHUTDOWN, type ServiceKeys } from '../queue/training-queue.js';
import { CorpusStore } from '../storage/corpus-store.js';

/** The training process's long-lived resources. */
export interface Context {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: ServiceKeys;
  backend: BackendInfo;
  corpora: CorpusStore;
  modelsDir: string;
  checkpointsDir: string;
}

let context: Promise<Context> | undefined;
/** Aborts the job running in this process, for signals sent to the process itself. */
let current: AbortController | undefined;

/** The process's context, set up by the first job that asks; a failed set-up is tried again by the next. */
export function setUp(): Promise<Context> {
  context ??= build().catch((err: unknown) => {
    // Try again on the next job (a backend may load once its library is installed).
    context = undefined;
    throw err;
  });
  return context;
}

async function build(): Promise<Context> {
  const config = loadConfig();
  const logger = createLogger(config, { base: { role: 'trainer' }, pretty: false });
  const backend = await initBackend(config.RNNLM_BACKEND, config.RNNLM_NATIVE_KERNELS, config.RNNLM_THREADS);
  const redis = createWorkerConnection(config, 'rnnlm-trainer');
  redis.on('error', (err) => logger.debug({ err }, 'redis connection error'));
  const dirs = dataDirs(config);
  // Ctrl-C in a terminal reaches the whole process group and `docker stop` sends
  // SIGTERM: either way, checkpoint and hand the job back instead of finishing it.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => current?.abort(STOP_SHUTDOWN));
  // The worker that forked us is gone (killed): its job will be picked up elsewhere and
  // resumed from the last checkpoint, so this process must not keep writing to it.
  if (process.send !== undefined) process.once('disconnect', () => process.exit(1));
  logger.info({ backend: backend.name, kernels: nativeStatus() }, 'trainer process ready');
  return {
    config,
    logger,
    redis,
    keys: serviceKeys(config.RNNLM_QUEUE_PREFIX),
    backend,
    corpora: new CorpusStore(dirs.corpora),
    modelsDir: dirs.models,
    checkpointsDir: dirs.checkpoints,
  };
}

/**
 * Makes `controller` the one that signals to this process abort; returns the function that
 * lets it go once its job is over.
 */
export function trackJob(controller: AbortController): () => void {
  current = controller;
  return () => {
    if (current === controller) current = undefined;
  };
}

/** Closes this process's Redis connection (tests that run the processor in-process). */
export async function closeProcessor(): Promise<void> {
  const ctx = await context;
  context = undefined;
  if (ctx !== undefined) await closeConnection(ctx.redis);
}
