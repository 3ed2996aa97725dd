import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import { dataDirs } from '../../../src/config.js';
import { modelIdOfJob, newJobId } from '../../../src/ids.js';
import { CorpusStore } from '../../../src/storage/corpus-store.js';
import {
  measureDataDir,
  sweepDataDir,
  type DataFolders,
  type JobActivity,
  type SweepPolicy,
} from '../../../src/storage/data-dir.js';

const HOUR = 3_600_000;
const NOW = Date.now();

async function dataDir(t: TestContext): Promise<DataFolders> {
  const root = await mkdtemp(join(tmpdir(), 'rnnlm-data-dir-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dirs = dataDirs({ RNNLM_DATA_DIR: root });
  for (const dir of [dirs.models, dirs.checkpoints, dirs.corpora]) await mkdir(dir);
  return dirs;
}

/** A directory with one file of `bytes` bytes, or a file of them, last modified `ageMs` ago. */
async function put(path: string, opts: { dir?: boolean; bytes?: number; ageMs?: number } = {}) {
  const { dir = true, bytes = 10, ageMs = 0 } = opts;
  const content = Buffer.alloc(bytes, 1);
  if (dir) {
    await mkdir(path);
    await writeFile(join(path, 'weights.bin'), content);
  } else {
    await writeFile(path, content);
  }
  const when = new Date(NOW - ageMs);
  await utimes(path, when, when);
}

async function names(dirs: DataFolders): Promise<string[]> {
  const out: string[] = [];
  for (const folder of ['models', 'checkpoints', 'corpora'] as const) {
    for (const name of await readdir(dirs[folder])) out.push(`${folder}/${name}`);
  }
  return out.sort();
}

function policy(activity: Record<string, JobActivity>, inUse: string[] = []): SweepPolicy {
  return {
    maxAgeMs: HOUR,
    now: NOW,
    jobActivity: (ids) =>
      Promise.resolve(new Map(ids.flatMap((id) => (id in activity ? [[id, activity[id]!]] : [])))),
    corporaInUse: () => Promise.resolve(new Set(inUse)),
  };
}

const sha = (c: string) => c.repeat(64);

test('the data directory is measured by kind: models, checkpoints, corpora and the debris of killed writers', async (t) => {
  const dirs = await dataDir(t);
  const job = newJobId();
  await put(join(dirs.models, modelIdOfJob(job)), { bytes: 100 });
  await put(join(dirs.models, `.${modelIdOfJob(newJobId())}.tmp-12-AbC123`), { bytes: 7 });
  await put(join(dirs.checkpoints, job), { bytes: 50 });
  await put(join(dirs.checkpoints, `.${job}.old-12-0a1b2c3d4e5f`), { bytes: 40 });
  await put(join(dirs.corpora, `${sha('a')}.txt`), { dir: false, bytes: 30 });
  await put(join(dirs.corpora, `.${sha('b')}.12.0a1b2c3d4e5f.tmp`), { dir: false, bytes: 3 });
  assert.deepEqual(await measureDataDir(dirs), {
    models: { bytes: 100, entries: 1 },
    checkpoints: { bytes: 50, entries: 1 },
    corpora: { bytes: 30, entries: 1 },
    debris: { bytes: 50, entries: 3 },
  });
});

test('a sweep never touches a running job, keeps a pending job’s checkpoint and young leftovers, and takes everything of an ended one', async (t) => {
  const dirs = await dataDir(t);
  const [running, pending, ended, unknown] = [newJobId(), newJobId(), newJobId(), newJobId()];
  const old = { ageMs: 2 * HOUR };
  for (const job of [running, pending, ended, unknown]) {
    await put(join(dirs.checkpoints, job), old);
    await put(join(dirs.checkpoints, `.${job}.tmp-1-AAAAAA`), old);
    await put(join(dirs.checkpoints, `.${job}.tmp-2-BBBBBB`));
    await put(join(dirs.models, `.${modelIdOfJob(job)}.old-3-0a0a0a`), old);
  }
  const result = await sweepDataDir(
    dirs,
    policy({ [running]: 'running', [pending]: 'pending', [ended]: 'ended' }),
  );

  assert.deepEqual(
    await names(dirs),
    [
      // Running: all of it, however old.
      `checkpoints/${running}`,
      `checkpoints/.${running}.tmp-1-AAAAAA`,
      `checkpoints/.${running}.tmp-2-BBBBBB`,
      `models/.${modelIdOfJob(running)}.old-3-0a0a0a`,
      // Pending: its checkpoint, to resume from, and what may still be written.
      `checkpoints/${pending}`,
      `checkpoints/.${pending}.tmp-2-BBBBBB`,
      // Unknown to the queue: what is young.
      `checkpoints/.${unknown}.tmp-2-BBBBBB`,
    ].sort(),
  );
  assert.equal(result.removed.filter((r) => r.jobId === ended).length, 4);
  assert.equal(result.removed.length, 4 + 2 + 3);
});

test('a sweep removes unused corpora and nameless leftovers once old, and never a name it does not write', async (t) => {
  const dirs = await dataDir(t);
  const old = { dir: false, ageMs: 2 * HOUR };
  await put(join(dirs.corpora, `${sha('a')}.txt`), old); // read by a queued job
  await put(join(dirs.corpora, `${sha('b')}.txt`), old); // no job needs it
  await put(join(dirs.corpora, `${sha('c')}.txt`), { dir: false }); // used lately
  await put(join(dirs.corpora, `.${sha('d')}.12.0a1b2c3d4e5f.tmp`), old); // its writer died
  await put(join(dirs.corpora, `.${sha('e')}.12.0a1b2c3d4e5f.tmp`), { dir: false }); // being written
  await put(join(dirs.corpora, '.nfs000000001'), old);
  await put(join(dirs.checkpoints, 'notes'), old);
  await put(join(dirs.models, 'my-model'), old);
  await sweepDataDir(dirs, policy({}, [sha('a')]));
  assert.deepEqual(
    await names(dirs),
    [
      'checkpoints/notes',
      `corpora/${sha('a')}.txt`,
      `corpora/${sha('c')}.txt`,
      `corpora/.${sha('e')}.12.0a1b2c3d4e5f.tmp`,
      'corpora/.nfs000000001',
      'models/my-model',
    ].sort(),
  );
});

test('a sweep that cannot learn where the jobs stand removes nothing', async (t) => {
  const dirs = await dataDir(t);
  const job = newJobId();
  await put(join(dirs.checkpoints, `.${job}.tmp-1-AAAAAA`), { ageMs: 2 * HOUR });
  await put(join(dirs.corpora, `${sha('b')}.txt`), { dir: false, ageMs: 2 * HOUR });
  const before = await names(dirs);
  const down: SweepPolicy = {
    ...policy({}),
    jobActivity: () => Promise.reject(new Error('redis is down')),
  };
  await assert.rejects(sweepDataDir(dirs, down), /redis is down/);
  assert.deepEqual(await names(dirs), before);
});

test('a corpus stored again is used again: the sweep keeps it, and one taken a moment ago is written again', async (t) => {
  const dirs = await dataDir(t);
  const store = new CorpusStore(dirs.corpora);
  const ref = await store.putText('some text');
  const path = join(dirs.corpora, `${ref.sha256}.txt`);
  const old = new Date(NOW - 2 * HOUR);
  await utimes(path, old, old);

  // Submitted again: its time is its last use, so the sweep leaves it.
  await store.putText('some text');
  assert.ok((await stat(path)).mtimeMs >= NOW);
  await sweepDataDir(dirs, policy({}));
  assert.equal(await store.has(ref), true);

  // Unused for long, it goes; stored again afterwards, it is there to read.
  await utimes(path, old, old);
  await sweepDataDir(dirs, policy({}));
  assert.equal(await store.has(ref), false);
  await store.putText('some text');
  assert.equal(await store.read(ref), 'some text');
});

test('removeUnlessUsedSince puts back a corpus used after the time it was given', async (t) => {
  const dirs = await dataDir(t);
  const store = new CorpusStore(dirs.corpora);
  const ref = await store.putText('fresh');
  assert.equal(await store.removeUnlessUsedSince(ref.sha256, NOW - HOUR), false);
  assert.equal(await store.read(ref), 'fresh');
  assert.deepEqual(await readdir(dirs.corpora), [`${ref.sha256}.txt`]);
  assert.equal(await store.removeUnlessUsedSince(ref.sha256, Date.now() + HOUR), true);
  assert.deepEqual(await readdir(dirs.corpora), []);
  assert.equal(await store.removeUnlessUsedSince(ref.sha256, Date.now() + HOUR), false);
});
