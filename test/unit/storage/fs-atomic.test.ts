import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import {
  packArrays,
  removeLeftovers,
  sha256Hex,
  unpackArrays,
  writeDirAtomic,
} from '../../../src/storage/fs-atomic.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnlm-fs-atomic-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Longer than any filesystem allows for one name, so the write fails after the temporary
// directory and the files before it exist.
const UNWRITABLE = 'x'.repeat(300);

test('a write that fails midway removes its temporary directory and publishes nothing', async (t) => {
  const root = await tempDir(t);
  const files = new Map([
    ['a.txt', 'a'],
    [UNWRITABLE, 'b'],
  ]);
  await assert.rejects(writeDirAtomic(join(root, 'out'), files, { overwrite: false }), {
    code: 'ENAMETOOLONG',
  });
  assert.deepEqual(await readdir(root), []);
});

test('a failed overwrite leaves the previous directory as it was', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'out');
  await mkdir(dir);
  await writeFile(join(dir, 'old.txt'), 'old');
  const files = new Map([[UNWRITABLE, 'new']]);
  await assert.rejects(writeDirAtomic(dir, files, { overwrite: true }), { code: 'ENAMETOOLONG' });
  assert.deepEqual(await readdir(root), ['out']);
  assert.equal(await readFile(join(dir, 'old.txt'), 'utf8'), 'old');
});

test('the parent directory is created and the files appear with their content', async (t) => {
  const dir = join(await tempDir(t), 'a', 'b');
  const chunks = [Buffer.from('he'), Buffer.from('llo')];
  await writeDirAtomic(
    dir,
    new Map<string, string | Buffer[]>([
      ['x.json', '{"é":1}'],
      ['y.bin', chunks],
    ]),
    { overwrite: false },
  );
  assert.equal(await readFile(join(dir, 'x.json'), 'utf8'), '{"é":1}');
  assert.equal(await readFile(join(dir, 'y.bin'), 'utf8'), 'hello');
});

test('removeLeftovers removes the temporary and moved-aside directories of one target only', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'mdl_a');
  await writeDirAtomic(dir, new Map([['a.txt', 'a']]), { overwrite: false });
  // What writers killed mid-publish leave, beside a sibling's and an unrelated name.
  for (const name of ['.mdl_a.tmp-123-xyz', '.mdl_a.old-123-abc', '.mdl_ab.tmp-1-q', 'mdl_b']) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, 'partial'), 'x');
  }
  assert.deepEqual((await removeLeftovers(dir)).sort(), ['.mdl_a.old-123-abc', '.mdl_a.tmp-123-xyz']);
  assert.deepEqual((await readdir(root)).sort(), ['.mdl_ab.tmp-1-q', 'mdl_a', 'mdl_b']);
  assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'a');
  assert.deepEqual(await removeLeftovers(join(root, 'missing', 'x')), []);
});

test('sha256Hex of chunks equals the hash of their concatenation', () => {
  const expected = createHash('sha256').update('hello world').digest('hex');
  assert.equal(sha256Hex([Buffer.from('hello'), Buffer.from(' world')]), expected);
  assert.equal(sha256Hex('hello world'), expected);
});

test('arrays unpack correctly from a blob that does not start on a 4-byte boundary', () => {
  const arrays = [
    { name: 'a', shape: [3], data: new Float32Array([1.5, -2, 3.25]) },
    { name: 'b', shape: [1, 1], data: new Float32Array([Math.PI]) },
  ];
  const { specs, chunks } = packArrays(arrays, 'weights');
  const shifted = Buffer.concat([Buffer.alloc(1), ...chunks]).subarray(1);
  assert.equal(shifted.byteOffset % 4 === 0, false);
  assert.deepEqual(unpackArrays(shifted, specs), arrays);
});

test('packArrays refuses data whose length does not match the shape', () => {
  assert.throws(
    () => packArrays([{ name: 'w', shape: [2, 2], data: new Float32Array(3) }], 'weights'),
    /weights\[0\] \(w\): data has 3 values but shape \[2, 2\] needs 4/,
  );
  assert.throws(
    () => packArrays([{ name: 'w', shape: [-1], data: new Float32Array(0) }], 'weights'),
    /shape/,
  );
});
