import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';

import { loadConfig } from '../config.js';
import { RedisJobService } from '../queue/job-service.js';
import { buildApp, type AppDeps } from './app.js';

/** The model service of a server that only describes itself: nothing calls it. */
const NO_MODELS = new Proxy({} as AppDeps['models'], {
  get: (_target, key) =>
    key === 'then'
      ? undefined
      : () => {
          throw new Error(`the OpenAPI generator serves no models (called ${String(key)})`);
        },
});

/**
 * The OpenAPI document (YAML) of a server with the default configuration, as `GET /openapi.yaml`
 * serves it. It needs no Redis: the job service is built (so that the queue board's route
 * exists) but never connects; every setting comes from the defaults, not the environment.
 */
export async function generateOpenApiYaml(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rnnlm-openapi-'));
  const config = loadConfig({
    RNNLM_LOG_LEVEL: 'silent',
    RNNLM_DATA_DIR: dataDir,
    // A port nothing listens on: the connection is refused at once and never retried for long.
    REDIS_URL: 'redis://127.0.0.1:1',
  });
  const logger = pino({ level: 'silent' });
  const jobs = new RedisJobService({ config, logger });
  try {
    const app = await buildApp({ config, jobs, models: NO_MODELS, logger });
    try {
      await app.ready();
      return app.swagger({ yaml: true });
    } finally {
      await app.close();
    }
  } finally {
    await jobs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
