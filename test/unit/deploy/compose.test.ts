/**
 * docker-compose.yml, checked without docker-compose (which `npm test` does not install):
 * it parses, and what it names (build targets, volumes, services it waits for, environment)
 * exists.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { test } from 'node:test';

import { parse } from 'yaml';

import { envSchema } from '../../../src/config.js';

const ROOT = resolve(import.meta.dirname, '../../..');

interface Service {
  build?: { context: string; target: string };
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}

test('docker-compose.yml parses and names only build targets, volumes, services and variables that exist', async () => {
  const compose = parse(await readFile(resolve(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
  const dockerfile = await readFile(resolve(ROOT, 'Dockerfile'), 'utf8');
  const targets = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]));
  const variables = new Set(Object.keys(envSchema.shape));
  assert.deepEqual(Object.keys(compose.services).sort(), ['api', 'redis', 'worker', 'worker-gpu']);
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.build !== undefined) assert.ok(targets.has(service.build.target), `${name}: build target`);
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0] as string;
      assert.ok(source in compose.volumes, `${name}: volume ${source} is not declared`);
    }
    for (const dependency of Object.keys(service.depends_on ?? {})) {
      assert.ok(dependency in compose.services, `${name}: depends on unknown ${dependency}`);
    }
    for (const variable of Object.keys(service.environment ?? {})) {
      assert.ok(variables.has(variable), `${name}: ${variable} is not a setting of src/config.ts`);
    }
  }
});
