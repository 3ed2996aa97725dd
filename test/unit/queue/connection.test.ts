import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadConfig } from '../../../src/config.js';
import { connectRedis, redisLocation, targetOptions } from '../../../src/queue/connection.js';

test('with REDIS_URL the URL says where, and REDIS_PASSWORD / REDIS_TLS fill in what it leaves out', () => {
  assert.deepEqual(targetOptions(loadConfig({ REDIS_URL: 'redis://h:6380' })), {});
  assert.deepEqual(
    targetOptions(loadConfig({ REDIS_URL: 'redis://h:6380', REDIS_USERNAME: 'u', REDIS_PASSWORD: 'p' })),
    {
      username: 'u',
      password: 'p',
    },
  );
  assert.deepEqual(targetOptions(loadConfig({ REDIS_URL: 'redis://h:6380', REDIS_TLS: 'true' })), {
    tls: {},
  });
  assert.equal(
    redisLocation(loadConfig({ REDIS_URL: 'redis://:hunter2@h:6380/2' })),
    'redis://:***@h:6380/2',
  );

  // ioredis lets the URL's own password win over the option.
  const redis = connectRedis(loadConfig({ REDIS_URL: 'redis://:fromurl@h:1', REDIS_PASSWORD: 'fromenv' }), {
    lazyConnect: true,
  });
  assert.equal(redis.options.password, 'fromurl');
  redis.disconnect();
});

test('with REDIS_SENTINELS every connection asks the sentinels for the primary, with both sets of credentials and TLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rnnlm-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, 'PEM');
  const config = loadConfig({
    REDIS_URL: 'redis://ignored:6379',
    REDIS_SENTINELS: 's1:26379,[::1]:26380',
    REDIS_SENTINEL_NAME: 'prod',
    REDIS_SENTINEL_PASSWORD: 'sp',
    REDIS_SENTINEL_TLS: 'true',
    REDIS_PASSWORD: 'rp',
    REDIS_TLS: 'true',
    REDIS_TLS_CA_FILE: ca,
  });
  assert.deepEqual(targetOptions(config), {
    password: 'rp',
    sentinels: [
      { host: 's1', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    name: 'prod',
    sentinelPassword: 'sp',
    sentinelTLS: { ca: Buffer.from('PEM') },
    tls: { ca: Buffer.from('PEM') },
    enableTLSForSentinelMode: true,
  });
  assert.equal(redisLocation(config), 'the primary of "prod" (sentinels s1:26379, [::1]:26380)');

  const redis = connectRedis(config, { lazyConnect: true, connectionName: 'x' });
  assert.equal(redis.options.name, 'prod');
  assert.equal(redis.options.connectionName, 'x');
  assert.equal(typeof redis.options.reconnectOnError, 'function');
  assert.equal(
    redis.options.reconnectOnError?.(new Error("READONLY You can't write against a read only replica.")),
    2,
  );
  assert.equal(redis.options.reconnectOnError?.(new Error('ERR other')), false);
  redis.disconnect();
});
