import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import type { ErrorCode } from '../../../src/errors.js';
import {
  checkpointExists,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
} from '../../../src/storage/checkpoints.js';
import type { Checkpoint } from '../../../src/storage/checkpoints.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnlm-checkpoints-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sampleCheckpoint(step: number, withBest: boolean): Checkpoint {
  const fill = (n: number, base: number): Float32Array => new Float32Array(n).map((_, i) => base + i / 7);
  return {
    weights: [
      { name: 'embedding/embeddings', shape: [4, 3], data: fill(12, step) },
      { name: 'dense/bias', shape: [4], data: fill(4, -step) },
    ],
    optimizer: [
      { name: 'iter', shape: [], data: new Float32Array([step]) },
      { name: 'embedding/embeddings/m', shape: [4, 3], data: fill(12, 0.5) },
    ],
    bestWeights: withBest
      ? [{ name: 'embedding/embeddings', shape: [4, 3], data: fill(12, 100) }]
      : undefined,
    state: { step, epoch: 1, cursor: { shard: 0, offset: 128 }, rng: [1, 2, 3, 4], history: [{ loss: 2.5 }] },
  };
}

function rejectsWith(code: ErrorCode, named: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isRnnlmError(err, code), `expected ${code}, got ${String(err)}`);
    assert.ok(err.message.includes(named), `"${err.message}" does not name ${named}`);
    return true;
  };
}

test('a checkpoint with best weights reads back exactly', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const ckpt = sampleCheckpoint(10, true);
  await writeCheckpoint(dir, ckpt);
  assert.deepEqual(await readCheckpoint(dir), ckpt);
});

test('a checkpoint without best weights reads back with bestWeights undefined', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const ckpt = sampleCheckpoint(3, false);
  await writeCheckpoint(dir, ckpt);
  const read = await readCheckpoint(dir);
  assert.equal(read.bestWeights, undefined);
  assert.deepEqual(read, ckpt);
  assert.equal((await readdir(dir)).includes('best.bin'), false);
});

test('writing again replaces the older checkpoint and leaves no temporary siblings', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  await writeCheckpoint(dir, sampleCheckpoint(1, true));
  const newer = sampleCheckpoint(2, false);
  await writeCheckpoint(dir, newer);
  assert.deepEqual(await readCheckpoint(dir), newer);
  assert.equal((await readdir(dir)).includes('best.bin'), false);
  assert.deepEqual(await readdir(root), ['ckpt']);
});

test('a flipped byte, a truncated blob or an edited state is RNNLM_ARTIFACT_CORRUPT naming the file', async (t) => {
  const root = await tempDir(t);

  const flipped = join(root, 'flipped');
  await writeCheckpoint(flipped, sampleCheckpoint(1, true));
  const bytes = await readFile(join(flipped, 'optimizer.bin'));
  bytes[5]! ^= 0x80;
  await writeFile(join(flipped, 'optimizer.bin'), bytes);
  await assert.rejects(readCheckpoint(flipped), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'optimizer.bin'));

  const truncated = join(root, 'truncated');
  await writeCheckpoint(truncated, sampleCheckpoint(1, true));
  await truncate(join(truncated, 'best.bin'), 8);
  await assert.rejects(readCheckpoint(truncated), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'best.bin'));

  const edited = join(root, 'edited');
  await writeCheckpoint(edited, sampleCheckpoint(1, false));
  const state = JSON.parse(await readFile(join(edited, 'state.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(edited, 'state.json'), JSON.stringify({ ...state, step: 999 }));
  await assert.rejects(readCheckpoint(edited), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'state.json'));
});

test('a missing checkpoint is RNNLM_CHECKPOINT_NOT_FOUND and exists/remove track it', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  assert.equal(await checkpointExists(dir), false);
  await assert.rejects(readCheckpoint(dir), rejectsWith('RNNLM_CHECKPOINT_NOT_FOUND', dir));
  await removeCheckpoint(dir);

  await writeCheckpoint(dir, sampleCheckpoint(1, false));
  assert.equal(await checkpointExists(dir), true);
  await removeCheckpoint(dir);
  assert.equal(await checkpointExists(dir), false);
  await assert.rejects(readCheckpoint(dir), rejectsWith('RNNLM_CHECKPOINT_NOT_FOUND', dir));
});

/** What writers of `dir` killed mid-write leave beside it, and a sibling job's that must stay. */
async function leaveDebris(root: string): Promise<void> {
  for (const name of ['.ckpt.tmp-123-Ab9xYz', '.ckpt.old-456-0a1b2c3d4e5f', '.ckpt2.tmp-7-Qq1234']) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, 'state.json'), '{}');
  }
}

test('writing a checkpoint sweeps what writers of it killed mid-write left, and nothing of another', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  await leaveDebris(root);
  await writeCheckpoint(dir, sampleCheckpoint(1, false));
  assert.deepEqual((await readdir(root)).sort(), ['.ckpt2.tmp-7-Qq1234', 'ckpt']);
  assert.equal((await readCheckpoint(dir)).state.step, 1);
});

test('removing a checkpoint removes its writers’ leftovers too, even with no checkpoint there', async (t) => {
  const root = await tempDir(t);
  await leaveDebris(root);
  await removeCheckpoint(join(root, 'ckpt'));
  assert.deepEqual(await readdir(root), ['.ckpt2.tmp-7-Qq1234']);
});

/**
 * Polls `root` until a temporary directory with a file in it is there and returns its name;
 * undefined when `writing` is done first.
 */
async function halfWritten(
  root: string,
  writing: Promise<void>,
): Promise<{ tmp: string; files: string[] } | undefined> {
  let done = false;
  void writing.finally(() => (done = true));
  while (!done) {
    const tmp = (await readdir(root)).find((n) => n.includes('.tmp-'));
    const files = tmp === undefined ? [] : await readdir(join(root, tmp)).catch(() => []);
    if (tmp !== undefined && files.length > 0) return { tmp, files };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

test('the test hook pauses a checkpoint write with its temporary directory half-written', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  const writing = writeCheckpoint(dir, sampleCheckpoint(1, false), { pauseAfterFirstFileMs: 3000 });
  const seen = await halfWritten(root, writing);
  assert.ok(seen !== undefined, 'the write was never seen half-done');
  assert.match(seen.tmp, /^\.ckpt\.tmp-\d+-\w+$/);
  assert.deepEqual(seen.files, ['state.json']);
  assert.equal(await checkpointExists(dir), false);
  await writing;
  assert.deepEqual(await readdir(root), ['ckpt']);
  assert.equal((await readCheckpoint(dir)).state.step, 1);
});
