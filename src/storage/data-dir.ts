/**
 * What lies under the data directory, told apart by name: published models, checkpoints,
 * corpora, and the debris of writers killed mid-write (temporary and moved-aside
 * directories, corpus files under their temporary name). Measured for the metrics, and swept
 * of what no job needs any more. Files only: the caller says where each job stands (the
 * queue's state in Redis), since workers on many hosts share the volume and a pid or a host
 * name on disk says nothing about whether its writer is still alive.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

import type { DataDirs } from '../config.js';
import { isJobId, jobIdOfModel } from '../ids.js';
import { CorpusStore, corpusOfFile, isCorpusTemp } from './corpus-store.js';
import { isNotFound, leftoverTarget } from './fs-atomic.js';

/** The kinds of what the data directory holds, as the metrics report them. */
export const DATA_KINDS = ['models', 'checkpoints', 'corpora', 'debris'] as const;
export type DataKind = (typeof DATA_KINDS)[number];

/** The folders of the data directory that this module reads. */
export type DataFolders = Pick<DataDirs, 'models' | 'checkpoints' | 'corpora'>;

type Folder = keyof DataFolders;
const FOLDERS: readonly Folder[] = ['models', 'checkpoints', 'corpora'];

/** One entry directly under models/, checkpoints/ or corpora/. */
export interface DataEntry {
  folder: Folder;
  name: string;
  path: string;
  kind: DataKind;
  /** The job it belongs to, where its name says: a checkpoint, the leftovers of a job's checkpoint or model. */
  jobId: string | undefined;
  /** The sha256 of a corpus file. */
  corpus: string | undefined;
  /** A name this service writes and may sweep; anything else is only counted. */
  sweepable: boolean;
  /** Last modification (ms): for a directory, when its last entry was added. */
  mtimeMs: number;
  stats: Stats;
}

type Classified = Pick<DataEntry, 'kind' | 'jobId' | 'corpus' | 'sweepable'>;

const KEEP = { jobId: undefined, corpus: undefined, sweepable: false } as const;

function debris(jobId: string | undefined): Classified {
  return { kind: 'debris', jobId, corpus: undefined, sweepable: true };
}

function classify(folder: Folder, name: string): Classified {
  const target = leftoverTarget(name);
  switch (folder) {
    case 'models':
      if (target !== undefined) return debris(jobIdOfModel(target));
      // Published models are never swept: they outlive their job.
      return { kind: 'models', ...KEEP };
    case 'checkpoints':
      if (target !== undefined) return debris(isJobId(target) ? target : undefined);
      if (isJobId(name)) return { kind: 'checkpoints', jobId: name, corpus: undefined, sweepable: true };
      return { kind: 'checkpoints', ...KEEP };
    case 'corpora': {
      if (target !== undefined || isCorpusTemp(name)) return debris(undefined);
      const corpus = corpusOfFile(name);
      return { kind: 'corpora', jobId: undefined, corpus, sweepable: corpus !== undefined };
    }
  }
}

async function entriesOf(folder: Folder, dir: string): Promise<DataEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const entries: DataEntry[] = [];
  // One at a time: gentle on a shared network volume, and this never runs on a request's path.
  for (const name of names) {
    const path = join(dir, name);
    let stats: Stats;
    try {
      stats = await lstat(path);
    } catch (err) {
      // Removed between readdir and lstat (a writer renamed it in, a sweep took it).
      if (isNotFound(err)) continue;
      throw err;
    }
    entries.push({ folder, name, path, ...classify(folder, name), mtimeMs: stats.mtimeMs, stats });
  }
  return entries;
}

/** Everything directly under models/, checkpoints/ and corpora/, classified by name. */
export async function scanDataDir(dirs: DataFolders): Promise<DataEntry[]> {
  const lists = await Promise.all(FOLDERS.map((folder) => entriesOf(folder, dirs[folder])));
  return lists.flat();
}

/** Bytes of a file, or of the files under a directory (symbolic links are not followed). */
async function bytesOf(path: string, stats: Stats): Promise<number> {
  if (!stats.isDirectory()) return stats.isFile() ? stats.size : 0;
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
  let total = 0;
  for (const name of names) {
    try {
      const child = join(path, name);
      total += await bytesOf(child, await lstat(child));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return total;
}

/** Bytes and entries (directly under each folder) by kind. */
export type DataUsage = Record<DataKind, { bytes: number; entries: number }>;

/**
 * What the data directory holds by kind: a walk of the three folders, one `lstat` per entry
 * and per file inside it (a model or checkpoint directory holds a handful). Entries that
 * vanish during the walk are skipped.
 */
export async function measureDataDir(dirs: DataFolders): Promise<DataUsage> {
  const usage = Object.fromEntries(DATA_KINDS.map((k) => [k, { bytes: 0, entries: 0 }])) as DataUsage;
  for (const entry of await scanDataDir(dirs)) {
    const total = usage[entry.kind];
    total.entries += 1;
    total.bytes += await bytesOf(entry.path, entry.stats);
  }
  return usage;
}

/**
 * Where a job stands, as the caller reads it from the queue: `running` on some worker now,
 * `pending` (waiting, delayed: it will run again), `ended` (succeeded, failed, cancelled), or
 * `unknown` (no trace of it left, or never one).
 */
export type JobActivity = 'running' | 'pending' | 'ended' | 'unknown';

/** What a sweep needs to know that files cannot tell it. */
export interface SweepPolicy {
  /** Age (ms) past which leftovers no running job owns are removed (see {@link sweepDataDir}). */
  maxAgeMs: number;
  /** Where each of these jobs stands; a throw stops the sweep before anything is removed. */
  jobActivity: (jobIds: readonly string[]) => Promise<ReadonlyMap<string, JobActivity>>;
  /** The corpora (sha256) that jobs which have not ended will read. */
  corporaInUse: () => Promise<ReadonlySet<string>>;
  /** The time the ages are measured against (ms). @defaultValue Date.now() */
  now?: number | undefined;
}

/** What a sweep removed. */
export interface SweepResult {
  removed: { folder: Folder; name: string; kind: DataKind; jobId: string | undefined }[];
}

type Verdict = 'keep' | 'remove' | 'if-old';

function verdict(entry: DataEntry, activity: JobActivity | undefined): Verdict {
  if (activity === undefined) return 'if-old';
  switch (activity) {
    case 'running':
      return 'keep';
    case 'ended':
      return 'remove';
    case 'pending':
      // A job that will run again resumes from its checkpoint; what its dead writers left
      // is swept by its next checkpoint, or here once it is old.
      return entry.kind === 'checkpoints' ? 'keep' : 'if-old';
    case 'unknown':
      return 'if-old';
  }
}

/**
 * Removes what no job needs any more: everything of a job that has ended (its checkpoint,
 * the temporary and moved-aside directories of its checkpoint and model writes); the
 * leftovers of a job waiting to run again, of a job the queue knows nothing of, and those
 * that name no job (a corpus file under its temporary name), once older than
 * `policy.maxAgeMs`; and the corpora no unfinished job reads, once unused for that long.
 * Nothing of a running job is touched, whatever its age, and nothing whose name this
 * service does not write. Published models are never removed.
 */
export async function sweepDataDir(dirs: DataFolders, policy: SweepPolicy): Promise<SweepResult> {
  const entries = (await scanDataDir(dirs)).filter((e) => e.sweepable);
  const cutoff = (policy.now ?? Date.now()) - policy.maxAgeMs;
  const jobIds = [...new Set(entries.flatMap((e) => (e.jobId === undefined ? [] : [e.jobId])))];
  // Both asked before anything is removed, so an unreachable Redis removes nothing.
  const activity = jobIds.length > 0 ? await policy.jobActivity(jobIds) : new Map<string, JobActivity>();
  const inUse = entries.some((e) => e.corpus !== undefined) ? await policy.corporaInUse() : new Set<string>();
  const corpora = new CorpusStore(dirs.corpora);

  const result: SweepResult = { removed: [] };
  for (const entry of entries) {
    let removed: boolean;
    if (entry.corpus !== undefined) {
      removed =
        !inUse.has(entry.corpus) &&
        entry.mtimeMs < cutoff &&
        (await corpora.removeUnlessUsedSince(entry.corpus, cutoff));
    } else {
      const decided = verdict(
        entry,
        entry.jobId === undefined ? undefined : (activity.get(entry.jobId) ?? 'unknown'),
      );
      removed = decided === 'remove' || (decided === 'if-old' && entry.mtimeMs < cutoff);
      if (removed) await rm(entry.path, { recursive: true, force: true });
    }
    if (removed) {
      result.removed.push({ folder: entry.folder, name: entry.name, kind: entry.kind, jobId: entry.jobId });
    }
  }
  return result;
}
