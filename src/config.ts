import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { z } from 'zod';

const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Environment configuration: the only place that reads process.env. Every setting has a
 * default, so `npm start` works on a machine with a local Redis and nothing else.
 */
export const envSchema = z.object({
  /** tfjs backend: `auto` takes the fastest one that loads. */
  RNNLM_BACKEND: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /**
   * The native engine (native/: oneDNN's LSTM/GRU/RNN primitives and sgemm) on the wasm and
   * cpu backends: `auto` uses it where built, `on` refuses to start without it.
   */
  RNNLM_NATIVE_KERNELS: z.enum(['auto', 'on', 'off']).default('auto'),
  RNNLM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Redis shared by the API and the workers. Unset, the service uses 127.0.0.1 on
   * `RNNLM_LOCAL_REDIS_PORT`, and starts a Redis of its own there when none answers.
   */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /**
   * Sentinels to ask where the Redis primary is (`host:port,host:port,…`), instead of one
   * `REDIS_URL`: every connection (API, workers, training children, the queue board) follows
   * the primary through a failover. Set, it wins over `REDIS_URL` and no embedded Redis starts.
   */
  REDIS_SENTINELS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a.length > 0),
    )
    .refine((list) => list.every((a) => parseHostPort(a) !== undefined), {
      message: 'must be host:port pairs separated by commas',
    }),
  /** The master group name the sentinels monitor (`sentinel monitor <name> …`). */
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  /** ACL user and password of the sentinels themselves (`requirepass` in sentinel.conf). */
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** TLS to the sentinels (ioredis' `sentinelTLS`). */
  REDIS_SENTINEL_TLS: z.stringbool().default(false),
  /**
   * ACL user and password of the Redis servers (with Sentinel, the primary and replicas it
   * names). With `REDIS_URL`, one in the URL wins.
   */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** TLS to the Redis servers (with `REDIS_URL`, a `rediss://` URL does the same). */
  REDIS_TLS: z.stringbool().default(false),
  /** A PEM file of the certificate authorities to trust for every TLS connection to Redis or a sentinel. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /**
   * Port on 127.0.0.1 where the service looks for Redis when `REDIS_URL` is unset, and where it
   * starts its embedded `redis-server` (files under `RNNLM_DATA_DIR/redis`) when none answers.
   */
  RNNLM_LOCAL_REDIS_PORT: z.coerce.number().int().min(1).max(65_535).default(6379),
  /** Prefix of every Redis key the service writes (BullMQ's and its own). */
  RNNLM_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only')
    .default('rnnlm'),
  /** `api` serves HTTP, `worker` trains, `all` does both in one process. */
  RNNLM_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  /** Models live under `models/`, corpora under `corpora/`, checkpoints under `checkpoints/`. */
  RNNLM_DATA_DIR: z.string().min(1).default('./data'),
  RNNLM_MAX_CORPUS_BYTES: count(52_428_800),
  RNNLM_MAX_VOCAB: count(50_000),
  RNNLM_MAX_LAYERS: count(8),
  RNNLM_MAX_HIDDEN: count(2048),
  RNNLM_MAX_EMBEDDING: count(2048),
  RNNLM_MAX_SEQ_LENGTH: count(1024),
  RNNLM_MAX_BATCH: count(1024),
  RNNLM_MAX_STEPS: count(1_000_000),
  /**
   * The wall-clock budget (minutes) of a job or `rnnlm train` run that sets no `maxMinutes`:
   * it trains until validation stops improving or this time is up, whichever comes first.
   */
  RNNLM_TRAIN_MINUTES: z.coerce.number().positive().default(10),
  RNNLM_MAX_GENERATE_TOKENS: count(2000),
  /** Parameters a job's model may have (estimated at submit from its hyperparameters). */
  RNNLM_MAX_PARAMS: count(100_000_000),
  /**
   * Memory (bytes) a job's training may need by the estimate at submit: weights, gradients,
   * optimizer state and the activations BPTT keeps. The default, 4 GiB, is what a worker with a
   * few GB of RAM can hold.
   */
  RNNLM_MAX_TRAINING_MEMORY_BYTES: count(4 * 1024 ** 3),
  /** Loaded models kept in memory by the API for generation and scoring. */
  RNNLM_MODEL_CACHE_SIZE: count(4),
  /** Jobs one worker process trains at once (each in its own child process). */
  RNNLM_WORKER_CONCURRENCY: count(1),
  /**
   * OpenMP threads of the native engine (oneDNN) in every training child and the CLI. Default:
   * the cores divided among the concurrent jobs (at least 1), so jobs side by side never ask
   * for more threads than there are cores.
   */
  RNNLM_THREADS: z.coerce.number().int().positive().max(1024).optional(),
  /**
   * Threads of the native kernels in the API's inference thread (generation and scoring).
   * One by default: the API's event loop needs a core for HTTP, and a batched step's
   * products (at most RNNLM_MAX_BATCH_ROWS rows) gain less from a second BLAS thread than
   * the hand-off between the two costs. Measured with the service bench on 2 cores, 32
   * connections: 217 generations/s with 1 thread against 130 with 2.
   */
  RNNLM_INFERENCE_THREADS: z.coerce.number().int().positive().max(1024).default(1),
  /** Steps between checkpoints of a job that does not set `training.checkpointEvery`. */
  RNNLM_CHECKPOINT_EVERY: count(200),
  /**
   * How long (ms) a training job's lock lasts without renewal. A job whose worker died goes
   * back to the queue at most this plus `RNNLM_STALLED_CHECK_MS` after the death, and an idle
   * worker starts it at once. The worker process renews the lock while the job trains in its
   * child process, so a long training step or checkpoint write needs no longer lock; a Redis
   * failover must take less than this (Sentinel's `down-after-milliseconds` plus the election),
   * or the job is taken for stalled and resumes from its checkpoint.
   */
  RNNLM_JOB_LOCK_MS: count(10_000),
  /**
   * The longest (ms) between two renewals of a job's lock; a quarter of the lock by default, so
   * three renewals in a row may fail before it expires.
   */
  RNNLM_JOB_LOCK_RENEW_MS: count(2500),
  /** How often (ms) the workers look for jobs whose lock expired (their worker died), to run them again. */
  RNNLM_STALLED_CHECK_MS: count(2500),
  /** Attempts per job, the first included; transient failures are retried with backoff. */
  RNNLM_JOB_ATTEMPTS: count(3),
  /**
   * Time (ms) a job that ran out of disk space waits before it resumes from its checkpoint;
   * such waits do not use up attempts, since the job only needs the space back.
   */
  RNNLM_DISK_FULL_RETRY_MS: count(30_000),
  /**
   * Time (ms) between a worker's sweeps of the data directory for what crashed writers left
   * (the first runs when the worker starts); 0: only the one at start.
   */
  RNNLM_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(600_000),
  /**
   * Age (ms) past which a sweep removes leftovers that no running job owns: the temporary
   * and moved-aside directories of a job that waits to run again, files that name no job
   * (a corpus written by a submission that never became one) and corpora no unfinished job
   * needs, counted from their last use. The leftovers of a job that has ended go at once;
   * nothing of a running job is ever touched.
   */
  RNNLM_DEBRIS_MAX_AGE_MS: count(3_600_000),
  /**
   * Test hook, off (0) in service: the time (ms) a checkpoint writer waits after the first
   * file of a checkpoint, so a fault test's kill lands mid-write every time.
   */
  RNNLM_TEST_CHECKPOINT_PAUSE_MS: z.coerce.number().int().min(0).default(0),
  /**
   * Time (ms) the API waits for Redis to answer one command before it answers 503: a Redis
   * that accepts connections but has stopped answering is refused this fast.
   */
  RNNLM_REDIS_COMMAND_TIMEOUT_MS: count(1000),
  /**
   * Time (ms) a process has, after SIGTERM or SIGINT, to stop taking work, checkpoint and hand
   * back its running jobs and close its connections; then it exits anyway.
   */
  RNNLM_SHUTDOWN_TIMEOUT_MS: count(30_000),
  /**
   * Time (ms) an API process, after SIGTERM, still listens while `/readyz` answers 503 and new
   * requests a 503 with `Retry-After`, so a load balancer sees it leave before its port closes;
   * in-flight requests and streams go on meanwhile. Part of `RNNLM_SHUTDOWN_TIMEOUT_MS`.
   */
  RNNLM_DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /**
   * Comma-separated API keys; empty or unset turns authentication off. With keys, every route
   * but `/healthz` and `/readyz` needs `Authorization: Bearer <key>`.
   */
  API_KEYS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
  /** Requests to `/generate` and `/score` one client (API key, else IP) may make per window. */
  RNNLM_RATE_LIMIT_MAX: count(60),
  RNNLM_RATE_LIMIT_WINDOW_MS: count(60_000),
  /** Time a client has to send a whole request (headers and body); a slow-drip body is cut off. */
  RNNLM_REQUEST_TIMEOUT_MS: count(120_000),
  /**
   * Generations open at once in one API process, across models and streams included; one more
   * is a 503 `RNNLM_OVERLOADED`. An outer bound on sockets and memory: the batch scheduler's
   * rows and wait queue below bound the work.
   */
  RNNLM_MAX_INFLIGHT_GENERATIONS: count(256),
  /**
   * Rows one batched forward steps at most: the generations (and, apart, the scorings) of one
   * model running together. More wait for a row.
   */
  RNNLM_MAX_BATCH_ROWS: count(32),
  /**
   * Generations and scorings waiting for a row, over all models; one more is a 503
   * `RNNLM_OVERLOADED` with `Retry-After`. 0: none wait.
   */
  RNNLM_MAX_QUEUED_REQUESTS: z.coerce.number().int().min(0).default(64),
  /**
   * Seconds a kept recurrent state (a `state` handle of `/generate`, `/score` or
   * `/v1/completions`) lives in Redis; a continuation writes a new handle with a fresh TTL.
   */
  RNNLM_STATE_TTL_SECONDS: count(86_400),
  /**
   * Bytes the kept states may take in Redis together (a 2x256 LSTM's state is about 4 KB);
   * a new state pushes out the oldest beyond it.
   */
  RNNLM_STATE_STORE_MAX_BYTES: count(64 * 1024 * 1024),
  /** Mean event-loop delay (ms) over which the API answers 503 `RNNLM_OVERLOADED`; 0 turns the check off. */
  RNNLM_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  /** Used V8 heap (bytes) over which the API answers 503; 0 means 90% of the heap limit. */
  RNNLM_MAX_HEAP_USED_BYTES: z.coerce.number().int().min(0).default(0),
});

/** `host:port` (`[v6]:port` for IPv6) as a host and a port; undefined when it is not one. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !(port >= 1 && port <= 65_535)) return undefined;
  return { host, port };
}

export type Config = Readonly<
  Omit<z.infer<typeof envSchema>, 'REDIS_URL' | 'RNNLM_THREADS'> & {
    /** `RNNLM_THREADS`, or the cores divided among the concurrent jobs (at least 1). */
    RNNLM_THREADS: number;
    /** The Redis to use: `REDIS_URL`, or the local default when it is unset. */
    REDIS_URL: string;
    /**
     * `REDIS_URL` or `REDIS_SENTINELS` was set: the service must use that Redis and never start
     * one of its own.
     */
    REDIS_URL_GIVEN: boolean;
  }
>;

/** What is wrong between settings that are each valid alone. */
function crossFieldProblems(env: z.infer<typeof envSchema>): string[] {
  const problems: string[] = [];
  if (env.RNNLM_JOB_LOCK_RENEW_MS >= env.RNNLM_JOB_LOCK_MS) {
    problems.push(
      'RNNLM_JOB_LOCK_RENEW_MS: must be less than RNNLM_JOB_LOCK_MS, or locks expire between renewals',
    );
  }
  if (env.RNNLM_DRAIN_DELAY_MS >= env.RNNLM_SHUTDOWN_TIMEOUT_MS) {
    problems.push('RNNLM_DRAIN_DELAY_MS: must be less than RNNLM_SHUTDOWN_TIMEOUT_MS, which it is part of');
  }
  return problems;
}

/**
 * The environment the native engine's libraries read as they load, set before the addon loads
 * (src/ml/native.ts): OpenMP's idle threads sleep (`OMP_WAIT_POLICY=passive`) unless the
 * environment asks otherwise. With libgomp's default, threads spin after every parallel
 * region; beside other busy processes on the same cores (a worker's jobs, the API, a build)
 * the spinning threads starve the working ones: on a 2-core AVX2 EPYC at load 5 a training
 * step (H256 B32 T64, 2 threads) took 2.6-6.5 s spinning and 0.85-0.97 s passive.
 */
export function nativeLibraryEnv(): void {
  process.env.OMP_WAIT_POLICY ??= 'passive';
}

/** Parses the environment; a bad value is an error that names the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${problems}`);
  }
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) throw new Error(`invalid environment: ${problems.join('; ')}`);
  const { REDIS_URL, ...rest } = parsed.data;
  return Object.freeze({
    ...rest,
    REDIS_URL: REDIS_URL ?? `redis://127.0.0.1:${rest.RNNLM_LOCAL_REDIS_PORT}`,
    REDIS_URL_GIVEN: REDIS_URL !== undefined || rest.REDIS_SENTINELS.length > 0,
    RNNLM_THREADS:
      rest.RNNLM_THREADS ?? Math.max(1, Math.floor(availableParallelism() / rest.RNNLM_WORKER_CONCURRENCY)),
  });
}

/** Where the service keeps its files, as absolute paths. */
export interface DataDirs {
  root: string;
  models: string;
  corpora: string;
  checkpoints: string;
  /** The embedded Redis's files (AOF), when the service runs one. */
  redis: string;
}

export function dataDirs(config: Pick<Config, 'RNNLM_DATA_DIR'>): DataDirs {
  const root = resolve(config.RNNLM_DATA_DIR);
  return {
    root,
    models: resolve(root, 'models'),
    corpora: resolve(root, 'corpora'),
    checkpoints: resolve(root, 'checkpoints'),
    redis: resolve(root, 'redis'),
  };
}

/**
 * The environment of a child process (a sandboxed training processor) that must see the
 * same configuration as this process even where it was given in code rather than the
 * environment (tests use their own queue prefix and data directory).
 */
export function childEnv(config: Config): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(envSchema.shape)) {
    const value = config[key as keyof Config] as string | number | boolean | readonly string[] | undefined;
    // An unset optional setting is unset in the child too, whatever this process inherited.
    if (value === undefined) delete env[key];
    else env[key] = typeof value === 'object' ? value.join(',') : String(value);
  }
  return env;
}
