/**
 * docker-compose.yml, checked without docker-compose (which `npm test` does not install):
 * it parses, what it names (build targets, volumes, services it waits for, environment)
 * exists, and its sentinel profile is the topology the failover fault test runs.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { test } from 'node:test';

import { parse } from 'yaml';

import { envSchema, loadConfig } from '../../../src/config.js';

const ROOT = resolve(import.meta.dirname, '../../..');

interface Service {
  build?: { context: string; target: string };
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, unknown>;
  profiles?: string[];
  command?: string[];
}

async function readCompose(): Promise<{
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}> {
  return parse(await readFile(resolve(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
}

test('docker-compose.yml parses and names only build targets, volumes, services and variables that exist', async () => {
  const compose = await readCompose();
  const dockerfile = await readFile(resolve(ROOT, 'Dockerfile'), 'utf8');
  const targets = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]));
  const variables = new Set(Object.keys(envSchema.shape));
  assert.deepEqual(Object.keys(compose.services).sort(), [
    'api',
    'redis',
    'redis-replica',
    'sentinel-1',
    'sentinel-2',
    'sentinel-3',
    'worker',
    'worker-gpu',
  ]);
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

test('the sentinel profile: a replica of redis and three sentinels that fail it over faster than a job lock expires, named where the service and the README look', async () => {
  const { services } = await readCompose();
  const profile = Object.keys(services).filter((name) => services[name]?.profiles?.includes('sentinel'));
  assert.deepEqual(profile, ['redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3']);
  assert.match(services['redis-replica']?.command?.join(' ') ?? '', /--replicaof redis 6379/);

  const sentinels = profile.filter((name) => name.startsWith('sentinel-'));
  const lockMs = loadConfig({}).RNNLM_JOB_LOCK_MS;
  for (const name of sentinels) {
    const conf = services[name]?.command?.join('\n') ?? '';
    assert.match(conf, /^port 26379$/m, name);
    assert.match(conf, /^sentinel resolve-hostnames yes$/m, name);
    const monitor = /^sentinel monitor (\S+) redis 6379 (\d+)$/m.exec(conf);
    assert.ok(monitor !== null, `${name} monitors redis`);
    assert.ok(Number(monitor[2]) > sentinels.length / 2, `${name}: a quorum of a majority`);
    const downAfter = Number(/^sentinel down-after-milliseconds \S+ (\d+)$/m.exec(conf)?.[1]);
    assert.ok(downAfter + 2000 < lockMs, `${name}: a failover ends before a job's lock expires`);
    for (const service of ['api', 'worker', 'worker-gpu']) {
      assert.equal(
        services[service]?.environment?.REDIS_SENTINEL_NAME,
        monitor[1],
        `${service} names the group`,
      );
      assert.equal(
        services[service]?.environment?.REDIS_SENTINELS,
        '${REDIS_SENTINELS:-}',
        `${service}: unset by default`,
      );
    }
  }
  const addresses = sentinels.map((name) => `${name}:26379`).join(',');
  const command = `REDIS_SENTINELS=${addresses} docker compose --profile sentinel up`;
  assert.ok((await readFile(resolve(ROOT, 'docker-compose.yml'), 'utf8')).includes(command));
  assert.ok(
    (await readFile(resolve(ROOT, 'README.md'), 'utf8')).includes(command),
    'the README says how to start it',
  );
});
