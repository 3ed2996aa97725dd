/**
 * Training text on disk, addressed by the sha256 of its bytes: the queue carries only the
 * reference, the same text submitted twice is stored once, and a worker on another machine
 * (sharing the volume) reads exactly the bytes the API received.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { errors } from '../errors.js';
import type { CorpusRef } from '../queue/contracts.js';
import { asideName, isNotFound } from './fs-atomic.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const CORPUS_FILE = /^([0-9a-f]{64})\.txt$/;
/** `.<sha256>.<pid>.<random>.tmp`: a corpus being written, or left by a writer killed midway. */
const CORPUS_TEMP = /^\.[0-9a-f]{64}\.\d+\.[0-9a-f]+\.tmp$/;

/** The sha256 a corpus file is named after; undefined for any other name. */
export function corpusOfFile(name: string): string | undefined {
  return CORPUS_FILE.exec(name)?.[1];
}

/** Whether `name` is a corpus file being written under its temporary name (or left so by a crash). */
export function isCorpusTemp(name: string): boolean {
  return CORPUS_TEMP.test(name);
}

/** Decodes UTF-8, refusing invalid bytes rather than replacing them with U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw errors.notUtf8(what, err);
  }
}

export class CorpusStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) {
      throw errors.corpusRefInvalid(sha256);
    }
    return join(this.dir, `${sha256}.txt`);
  }

  /** Stores the bytes (once per content) and returns their reference. */
  async put(bytes: Uint8Array): Promise<CorpusRef> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256);
    try {
      const existing = await stat(path);
      if (existing.size === bytes.byteLength) {
        // Its modification time is its last use: a sweep keeps what was used lately (see
        // removeUnlessUsedSince), and a sweep that took it a moment ago makes this throw.
        const now = new Date();
        await utimes(path, now, now);
        return { sha256, bytes: bytes.byteLength };
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await mkdir(this.dir, { recursive: true });
    // Written under a unique name and renamed: concurrent writers of the same content
    // each rename a complete file over the other's, and a reader never sees half of one.
    const tmp = join(this.dir, `.${sha256}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(tmp, 'wx');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { sha256, bytes: bytes.byteLength };
  }

  /** Stores text as UTF-8. */
  async putText(text: string): Promise<CorpusRef> {
    return this.put(Buffer.from(text, 'utf8'));
  }

  /**
   * Reads and verifies a stored corpus. A missing file is RNNLM_FILE_NOT_FOUND, bytes that
   * no longer hash to the reference are RNNLM_ARTIFACT_CORRUPT.
   */
  async read(ref: CorpusRef): Promise<string> {
    const path = this.pathOf(ref.sha256);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (isNotFound(err)) {
        throw errors.corpusMissing(ref.sha256, path);
      }
      throw err;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== ref.sha256) {
      throw errors.corpusHashMismatch(path, actual);
    }
    return decodeUtf8(bytes, 'corpus');
  }

  /**
   * Removes corpus `sha256` unless it was stored or reused (by {@link put}) at `sinceMs` or
   * later; true when it was removed. It is moved aside before its time is read, so a put that
   * reuses it at the same moment either touched it first (then it is put back) or finds it
   * gone and writes it again: a reference just handed out never names a removed file.
   */
  async removeUnlessUsedSince(sha256: string, sinceMs: number): Promise<boolean> {
    const path = this.pathOf(sha256);
    const aside = asideName(path);
    try {
      await rename(path, aside);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if ((await stat(aside)).mtimeMs >= sinceMs) {
      await rename(aside, path);
      return false;
    }
    await rm(aside, { force: true });
    return true;
  }

  async has(ref: CorpusRef): Promise<boolean> {
    try {
      await stat(this.pathOf(ref.sha256));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
