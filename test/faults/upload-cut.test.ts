/**
 * Uploads cut off mid-body, over raw sockets against a listening server: a submission's body
 * is read whole into memory before anything is written, so a client that goes away halfway
 * leaves nothing under the data directory and queues nothing.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { build, multipart } from '../helpers/app.js';
import { CORPUS } from '../integration/queue/harness.js';
import { waitFor } from './harness.js';

/** Everything under the data directory, as paths relative to it. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = join(prefix, entry.name);
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await tree(join(dir, entry.name), rel)));
  }
  return out.sort();
}

/** Sends the head of a request and `sent` bytes of its body, then drops the connection. */
async function cutOff(base: URL, head: string, body: Buffer, sent: number): Promise<void> {
  const socket = connect(Number(base.port), base.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`${head}Content-Length: ${body.byteLength}\r\n\r\n`);
  await new Promise<void>((resolve) => socket.write(body.subarray(0, sent), () => resolve()));
  socket.destroy();
  await closed;
}

test('an upload cut off mid-body leaves nothing on disk and queues nothing; the next one is stored', async (t) => {
  const { app, jobs, dataDir } = await build(t);
  const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  const before = await tree(dataDir);

  const form = multipart([
    { name: 'config', value: JSON.stringify({ training: { maxSteps: 1 } }) },
    { name: 'corpus', value: CORPUS.repeat(50), filename: 'c.txt', contentType: 'text/plain' },
  ]);
  const contentType = form.headers['content-type'] ?? '';
  const head = `POST /jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${contentType}\r\n`;
  await cutOff(base, head, form.payload, Math.floor(form.payload.byteLength / 2));
  const json = Buffer.from(
    JSON.stringify({ corpus: { text: CORPUS.repeat(50) }, training: { maxSteps: 1 } }),
  );
  await cutOff(
    base,
    'POST /jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n',
    json,
    1000,
  );

  // The server has seen both connections end (a request right after is answered), and wrote
  // nothing for them.
  const health = await fetch(new URL('/healthz', base));
  assert.equal(health.status, 200);
  assert.deepEqual(await tree(dataDir), before);
  assert.equal(await jobs.queue.count(), 0);

  // The whole upload is stored: one corpus file, nothing under a temporary name.
  const res = await fetch(new URL('/jobs', base), {
    method: 'POST',
    headers: form.headers,
    body: form.payload,
  });
  assert.equal(res.status, 202, await res.text());
  const corpora = await waitFor(
    () => readdir(join(dataDir, 'corpora')),
    (names) => names.length > 0,
    5000,
    'the corpus',
  );
  assert.equal(corpora.length, 1);
  assert.match(corpora[0] ?? '', /^[0-9a-f]{64}\.txt$/);
});
