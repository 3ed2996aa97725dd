/**
 * Fault suite, over raw sockets against a listening server: clients that send a request a
 * byte at a time. (Moved here from test/integration/api/protections.test.ts and extended.)
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { build } from '../helpers/app.js';

/** A socket to `base` that records what it receives and when it closes. */
async function openSocket(t: TestContext, base: URL) {
  const socket: Socket = connect(Number(base.port), base.hostname);
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const state = { received: '' };
  socket.on('data', (chunk: Buffer) => (state.received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, state, closed };
}

/**
 * Writes `byte` every 200 ms until stopped or answered; returns how many bytes went out, and
 * `first`, which resolves as the first byte goes. It stops once the server has answered: a
 * byte written after the server closed would be answered with a reset, which can discard the
 * answer before it is read.
 */
function drip(t: TestContext, socket: Socket, byte: string, state: { received: string }) {
  const counter = { sent: 0 };
  let sent!: () => void;
  const first = new Promise<void>((resolve) => (sent = resolve));
  const timer = setInterval(() => {
    if (state.received.length > 0) clearInterval(timer);
    else if (!socket.destroyed && socket.writable) {
      socket.write(byte);
      counter.sent++;
      sent();
    }
  }, 200);
  t.after(() => clearInterval(timer));
  return { counter, first, stop: () => clearInterval(timer) };
}

test('11. a slow-drip request body is cut off by the request timeout, and the server keeps answering meanwhile', async (t) => {
  const { app } = await build(t, { env: { RNNLM_REQUEST_TIMEOUT_MS: '1000' } });
  const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  const { socket, state, closed } = await openSocket(t, base);
  const started = performance.now();
  socket.write(
    'POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
  );
  // One byte every 200 ms: 1000 bytes would take over three minutes.
  const dripping = drip(t, socket, ' ', state);
  // Another client is served while the drip holds its socket.
  await dripping.first;
  const other = await fetch(new URL('/healthz', base));
  assert.equal(other.status, 200);
  const outcome = await Promise.race([closed.then(() => 'closed'), sleep(4500).then(() => 'still open')]);
  dripping.stop();
  const ms = performance.now() - started;
  const sent = dripping.counter.sent + 1;
  assert.equal(
    outcome,
    'closed',
    `the socket was still open after ${Math.round(ms)} ms (${sent} bytes sent)`,
  );
  assert.ok(ms >= 900 && ms < 4000, `cut off after ${Math.round(ms)} ms`);
  assert.ok(sent < 1000);
  assert.match(state.received, /^HTTP\/1\.1 408 /, 'Node answers 408 before it closes');
});

test('11. slow-drip headers are cut off too, and a POST /jobs body dripped into a multipart upload', async (t) => {
  const { app, jobs } = await build(t, { env: { RNNLM_REQUEST_TIMEOUT_MS: '1000' } });
  const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));

  const headers = await openSocket(t, base);
  const startedHeaders = performance.now();
  headers.socket.write('GET /jobs HTTP/1.1\r\nHost: localhost\r\n');
  const headerDrip = drip(t, headers.socket, 'X', headers.state);
  const headersOutcome = await Promise.race([
    headers.closed.then(() => 'closed'),
    sleep(4500).then(() => 'still open'),
  ]);
  headerDrip.stop();
  assert.equal(headersOutcome, 'closed', 'a request whose headers never end is cut off');
  assert.ok(performance.now() - startedHeaders < 4000);
  assert.match(headers.state.received, /^HTTP\/1\.1 408 /, 'Node answers 408 before it closes');

  const upload = await openSocket(t, base);
  const boundary = 'rnnlm-drip';
  upload.socket.write(
    `POST /jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
      `Content-Length: 100000\r\n\r\n--${boundary}\r\nContent-Disposition: form-data; name="corpus"; filename="c.txt"\r\n\r\n`,
  );
  const uploadDrip = drip(t, upload.socket, 'a', upload.state);
  const uploadOutcome = await Promise.race([
    upload.closed.then(() => 'closed'),
    sleep(4500).then(() => 'still open'),
  ]);
  uploadDrip.stop();
  assert.equal(uploadOutcome, 'closed', 'a dripped corpus upload is cut off');
  assert.doesNotMatch(upload.state.received, /^HTTP\/1\.1 20/);
  assert.equal(await jobs.queue.count(), 0, 'nothing was queued');
});
