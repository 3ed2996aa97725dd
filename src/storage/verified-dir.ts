/**
 * The one reader of verified directories: model directories and checkpoints both keep an index
 * file with the sha256 of every other file (meta.json's `files`, checksums.json), and every
 * file is checked against it as it is read. What is wrong is RNNLM_ARTIFACT_CORRUPT naming the
 * file; a directory without its index is the format's own not-found error.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { RnnlmError } from '../errors.js';
import { corrupt, isNotFound, isRecord, packedByteLength, sha256Hex, unpackArrays } from './fs-atomic.js';
import type { ArraySpec, NamedArray } from './fs-atomic.js';

/** How one kind of verified directory keeps its hashes. */
export interface VerifiedDirFormat {
  /** The index file (`meta.json`, `checksums.json`). */
  index: string;
  /** The key of the `file -> sha256` map in the index (`files`); the whole index without it. */
  hashesIn?: string | undefined;
  /** Files every directory of this kind holds, so the index must hash them. */
  required: readonly string[];
  /** What a directory without its index is (no model, no checkpoint there). */
  notFound: (root: string) => RnnlmError;
}

/**
 * Reads the index alone (a cheap listing checks nothing else): it must be a JSON object.
 * @throws the format's not-found error when there is no index.
 */
export async function readIndex(dir: string, format: VerifiedDirFormat): Promise<Record<string, unknown>> {
  const root = resolve(dir);
  let raw: Buffer;
  try {
    raw = await readFile(join(root, format.index));
  } catch (err) {
    if (isNotFound(err)) throw format.notFound(root);
    throw err;
  }
  return parseJsonObject(raw, root, format.index);
}

/** A directory whose index was read: each file read through it is checked against its hash. */
export class VerifiedDir {
  private constructor(
    readonly root: string,
    /** The index file's JSON. */
    readonly index: Record<string, unknown>,
    private readonly format: VerifiedDirFormat,
    private readonly hashes: ReadonlyMap<string, string>,
  ) {}

  static async open(dir: string, format: VerifiedDirFormat): Promise<VerifiedDir> {
    const root = resolve(dir);
    const index = await readIndex(root, format);
    const hashes = parseHashes(
      format.hashesIn === undefined ? index : index[format.hashesIn],
      format.required,
    );
    if (hashes === undefined) {
      const what = format.hashesIn === undefined ? '' : `${format.hashesIn} `;
      throw corrupt(
        root,
        format.index,
        `${what}must map ${format.required.join(', ')} to sha256 hex digests`,
      );
    }
    return new VerifiedDir(root, index, format, hashes);
  }

  /** Whether the index lists `file` (an optional file such as a checkpoint's best.bin). */
  has(file: string): boolean {
    return this.hashes.has(file);
  }

  /** RNNLM_ARTIFACT_CORRUPT naming `file` of this directory. */
  corrupt(file: string, problem: string): RnnlmError {
    return corrupt(this.root, file, problem);
  }

  /** The bytes of `file`, verified. */
  async bytes(file: string): Promise<Buffer> {
    const raw = await readRequired(this.root, file);
    verifyHash(raw, this.hashes, this.root, file, this.format.index);
    return raw;
  }

  /** `file`, verified, as the JSON object it must hold. */
  async json(file: string): Promise<Record<string, unknown>> {
    return parseJsonObject(await this.bytes(file), this.root, file);
  }

  /**
   * The arrays `specs` describe, cut from `file`, verified; `specsFrom` names where the specs
   * were read (`tensors.json`), for the message when the lengths disagree.
   */
  async arrays(file: string, specs: readonly ArraySpec[], specsFrom: string): Promise<NamedArray[]> {
    const raw = await readRequired(this.root, file);
    const expectedBytes = packedByteLength(specs);
    // Compared before the hash so a truncated file is reported as such, not as a bare mismatch.
    if (raw.byteLength !== expectedBytes) {
      throw this.corrupt(file, `${raw.byteLength} bytes but ${specsFrom} needs ${expectedBytes}`);
    }
    verifyHash(raw, this.hashes, this.root, file, this.format.index);
    return unpackArrays(raw, specs);
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Reads a file the directory's index says must exist; its absence means corruption. */
async function readRequired(dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (err) {
    if (isNotFound(err)) throw corrupt(dir, file, 'file is missing');
    throw err;
  }
}

/** Parses a file that must hold a JSON object. */
function parseJsonObject(raw: Buffer, dir: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw corrupt(dir, file, `malformed JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isRecord(value)) throw corrupt(dir, file, 'expected a JSON object');
  return value;
}

/**
 * Reads an index's `file name -> sha256` map, requiring an entry for each of `required`;
 * undefined when the value is not such a map.
 */
function parseHashes(value: unknown, required: readonly string[]): Map<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const hashes = new Map<string, string>();
  for (const [file, hash] of Object.entries(value)) {
    if (typeof hash !== 'string' || !SHA256_HEX.test(hash)) return undefined;
    hashes.set(file, hash);
  }
  return required.every((file) => hashes.has(file)) ? hashes : undefined;
}

/** Throws RNNLM_ARTIFACT_CORRUPT unless `raw` hashes to what the index file recorded for `file`. */
function verifyHash(
  raw: Uint8Array,
  hashes: ReadonlyMap<string, string>,
  dir: string,
  file: string,
  index: string,
): void {
  const expected = hashes.get(file);
  if (expected === undefined) throw corrupt(dir, index, `no sha256 recorded for ${file}`);
  const actual = sha256Hex(raw);
  if (actual !== expected) {
    throw corrupt(dir, file, `sha256 ${actual} does not match ${expected} recorded in ${index}`);
  }
}
