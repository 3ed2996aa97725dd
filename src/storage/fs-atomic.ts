/**
 * Helpers shared by the model and checkpoint stores: publishing a directory atomically,
 * hashing file contents, packing float32 arrays into one binary blob and back, and turning
 * what is found on disk into coded errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { errors, type RnnlmError } from '../errors.js';

import type { NamedArray } from '../ml/model/lm.js';

export type { NamedArray };

/** What a manifest records for each array: enough to cut it back out of the blob by order. */
export interface ArraySpec {
  name: string;
  shape: number[];
}

/** A file's bytes; a list of chunks is written (and hashed) in order without concatenating. */
export type FileContent = string | Uint8Array | readonly Uint8Array[];

function chunksOf(content: FileContent): readonly Uint8Array[] {
  if (typeof content === 'string') return [Buffer.from(content, 'utf8')];
  return content instanceof Uint8Array ? [content] : content;
}

/** Lowercase hex sha256 of the content, as recorded in meta.json and checksums.json. */
export function sha256Hex(content: FileContent): string {
  const hash = createHash('sha256');
  for (const chunk of chunksOf(content)) hash.update(chunk);
  return hash.digest('hex');
}

function errorCode(err: unknown): unknown {
  return err instanceof Error && 'code' in err ? err.code : undefined;
}

/** True when `err` is a filesystem error saying the path (or a parent of it) does not exist. */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  // A single write() may be partial; keep going from where it stopped.
  let done = 0;
  while (done < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position + done);
    done += bytesWritten;
  }
}

async function writeFileSynced(path: string, content: FileContent): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    let position = 0;
    for (const chunk of chunksOf(content)) {
      await writeAll(handle, chunk, position);
      position += chunk.byteLength;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a directory's entries (new names, renames) to disk. Some platforms cannot open or
 * fsync a directory; there the rename is as durable as the OS makes it and we go on.
 */
async function syncDir(path: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'EISDIR') return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    const code = errorCode(err);
    if (code !== 'EINVAL' && code !== 'EISDIR') throw err;
  } finally {
    await handle.close();
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Options of {@link writeDirAtomic}. */
export interface WriteDirOptions {
  /** Replace an existing directory instead of refusing it. */
  overwrite: boolean;
  /**
   * Test hook: milliseconds to wait once the first file is written, so a fault test can kill
   * the writer while its temporary directory is half-written.
   * @defaultValue 0
   */
  pauseAfterFirstFileMs?: number | undefined;
}

/**
 * Publishes `files` as the directory `dir` so that readers see either the previous state or
 * the complete new one, never a half-written directory: everything is written and fsynced
 * in a temporary sibling (same parent, so the rename cannot cross filesystems) which is
 * then renamed into place. The parent is created if missing. An existing `dir` is refused
 * with RNNLM_INVALID_CONFIG unless `overwrite`, in which case it is renamed aside, the new
 * directory renamed in, and the old one removed; between those two renames `dir` briefly
 * does not exist. On any failure the temporary directory is removed; a writer killed midway
 * leaves it (and perhaps the moved-aside directory) for {@link removeLeftovers}.
 */
export async function writeDirAtomic(
  dir: string,
  files: ReadonlyMap<string, FileContent>,
  options: WriteDirOptions,
): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  const base = basename(target);
  // Checked before writing so a refused call does not first write a whole model.
  if (!options.overwrite && (await pathExists(target))) throw errors.pathExists(target);

  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, `.${base}.tmp-${process.pid}-`));
  let aside: string | undefined;
  try {
    const pauseMs = options.pauseAfterFirstFileMs ?? 0;
    let first = true;
    for (const [name, content] of files) {
      await writeFileSynced(join(tmp, name), content);
      if (first && pauseMs > 0) await sleep(pauseMs);
      first = false;
    }
    await syncDir(tmp);
    aside = await publish(tmp, target, options.overwrite);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  // Make the rename durable before the previous directory, the only other copy, is deleted.
  await syncDir(parent);
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
}

/** `.<target>.tmp-<pid>-<random>` and `.<target>.old-<pid>-<random>`: what a writer leaves when killed. */
const LEFTOVER = /^\.(.+)\.(?:tmp|old)-\d+-[0-9A-Za-z]+$/;

/**
 * The name a writer killed mid-write was publishing, when `name` is one of its temporary or
 * moved-aside directories (`.mdl_x.tmp-123-Ab9xYz` → `mdl_x`); undefined for any other name.
 */
export function leftoverTarget(name: string): string | undefined {
  return LEFTOVER.exec(name)?.[1];
}

/** A moved-aside name for `path` in its own directory, as {@link leftoverTarget} reads it. */
export function asideName(path: string): string {
  return join(dirname(path), `.${basename(path)}.old-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Removes what writers of `dir` killed mid-write left beside it (their temporary and
 * moved-aside directories). Call it only once `dir` is complete or gone, when no writer of it
 * can still need them; returns the names removed.
 */
export async function removeLeftovers(dir: string): Promise<string[]> {
  const target = resolve(dir);
  const base = basename(target);
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const stale = names.filter((n) => leftoverTarget(n) === base);
  await Promise.all(stale.map((n) => rm(join(dirname(target), n), { recursive: true, force: true })));
  return stale;
}

/** Renames `tmp` to `target`; returns where a replaced previous `target` was moved aside. */
async function publish(tmp: string, target: string, overwrite: boolean): Promise<string | undefined> {
  try {
    await rename(tmp, target);
    return undefined;
  } catch (err) {
    const code = errorCode(err);
    // Something is in the way: a non-empty directory or a file (rename itself replaces an
    // empty directory).
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    if (!overwrite) throw errors.pathExists(target);
  }
  const aside = asideName(target);
  await rename(target, aside);
  try {
    await rename(tmp, target);
  } catch (err) {
    // Put the previous directory back so a failed replace leaves what was there.
    await rename(aside, target);
    throw err;
  }
  return aside;
}

// Float32Array bytes are in host order; the files are little-endian, which every platform
// Node ships tfjs for (x86-64, arm64) is. Refuse rather than write byte-swapped weights.
function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('rnnlm weight files require a little-endian host');
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/**
 * Validates the arrays and returns their manifest entries and byte views (no copy) in order.
 * A malformed array is a bug in the caller, so it throws a plain Error before anything is
 * written.
 */
export function packArrays(
  arrays: readonly NamedArray[],
  group: string,
): { specs: ArraySpec[]; chunks: Uint8Array[] } {
  assertLittleEndian();
  const specs: ArraySpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const [i, array] of arrays.entries()) {
    const where = `${group}[${i}] (${String(array.name)})`;
    if (typeof array.name !== 'string' || array.name === '') {
      throw new Error(`${where}: name must be a non-empty string`);
    }
    if (!isValidShape(array.shape)) throw new Error(`${where}: shape must be non-negative integers`);
    if (!(array.data instanceof Float32Array)) throw new Error(`${where}: data must be a Float32Array`);
    const expected = elementCount(array.shape);
    if (array.data.length !== expected) {
      throw new Error(
        `${where}: data has ${array.data.length} values but shape [${array.shape.join(', ')}] needs ${expected}`,
      );
    }
    specs.push({ name: array.name, shape: [...array.shape] });
    chunks.push(Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength));
  }
  return { specs, chunks };
}

/** Bytes the arrays described by `specs` occupy in a blob. */
export function packedByteLength(specs: readonly ArraySpec[]): number {
  return specs.reduce((n, spec) => n + elementCount(spec.shape) * Float32Array.BYTES_PER_ELEMENT, 0);
}

/** Cuts the arrays back out of a blob whose length the caller has checked against `specs`. */
export function unpackArrays(blob: Uint8Array, specs: readonly ArraySpec[]): NamedArray[] {
  assertLittleEndian();
  let offset = 0;
  return specs.map((spec) => {
    const data = new Float32Array(elementCount(spec.shape));
    // Copy rather than view: a Buffer read from disk may start at an offset that is not a
    // multiple of 4, which a Float32Array over the same memory cannot.
    new Uint8Array(data.buffer).set(blob.subarray(offset, offset + data.byteLength));
    offset += data.byteLength;
    return { name: spec.name, shape: [...spec.shape], data };
  });
}

/** Parses a manifest's array list; undefined when it is not a list of {name, shape}. */
export function parseArraySpecs(value: unknown): ArraySpec[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const specs: ArraySpec[] = [];
  for (const entry of value as unknown[]) {
    if (!isRecord(entry)) return undefined;
    const { name, shape } = entry;
    if (typeof name !== 'string' || !isValidShape(shape)) return undefined;
    specs.push({ name, shape });
  }
  return specs;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RNNLM_ARTIFACT_CORRUPT naming the file and what is wrong with it. */
export function corrupt(dir: string, file: string, problem: string): RnnlmError {
  const path = join(dir, file);
  return errors.corrupt(path, file, problem);
}
