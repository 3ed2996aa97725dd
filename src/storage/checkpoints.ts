/**
 * The on-disk store for training checkpoints, which a resumed job continues from. A
 * checkpoint directory holds state.json (the trainer's state), tensors.json (name and shape
 * of every array per group, in order), weights.bin, optimizer.bin, best.bin when there are
 * best weights, and checksums.json with the sha256 of every other file. The directory is
 * replaced atomically, and checksums.json is what makes it a checkpoint: a directory without
 * it holds none.
 */
import { access, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { errors } from '../errors.js';
import {
  corrupt,
  isNotFound,
  packArrays,
  packedByteLength,
  parseArraySpecs,
  parseHashes,
  parseJsonObject,
  readRequired,
  removeLeftovers,
  sha256Hex,
  unpackArrays,
  verifyHash,
  writeDirAtomic,
} from './fs-atomic.js';
import type { ArraySpec, FileContent, NamedArray, WriteDirOptions } from './fs-atomic.js';

export type { NamedArray } from './fs-atomic.js';

/** What training needs to continue exactly where it stopped. */
export interface Checkpoint {
  weights: NamedArray[];
  optimizer: NamedArray[];
  /** Best weights so far (early stopping keeps them); may be absent. */
  bestWeights?: NamedArray[] | undefined;
  /** Trainer state JSON: step, epoch, data cursor, RNG state, config, tokenizer, metrics history...; opaque here. */
  state: Record<string, unknown>;
}

const CHECKPOINT_FORMAT = 'rnnlm-checkpoint';
const STATE_JSON = 'state.json';
const TENSORS_JSON = 'tensors.json';
const CHECKSUMS_JSON = 'checksums.json';
const WEIGHTS_BIN = 'weights.bin';
const OPTIMIZER_BIN = 'optimizer.bin';
const BEST_BIN = 'best.bin';
const REQUIRED_FILES = [STATE_JSON, TENSORS_JSON, WEIGHTS_BIN, OPTIMIZER_BIN] as const;

/**
 * Replaces the checkpoint in `dir` atomically (written and fsynced in a temporary sibling,
 * then swapped in), creating `dir` and its parent as needed, then removes what earlier
 * writers of `dir` killed mid-write left beside it. Arrays whose data does not match their
 * shape throw before anything is written.
 */
export async function writeCheckpoint(
  dir: string,
  ckpt: Checkpoint,
  options: Pick<WriteDirOptions, 'pauseAfterFirstFileMs'> = {},
): Promise<void> {
  const weights = packArrays(ckpt.weights, 'weights');
  const optimizer = packArrays(ckpt.optimizer, 'optimizer');
  const best = ckpt.bestWeights === undefined ? undefined : packArrays(ckpt.bestWeights, 'bestWeights');

  const tensors = {
    format: CHECKPOINT_FORMAT,
    weights: weights.specs,
    optimizer: optimizer.specs,
    ...(best === undefined ? {} : { bestWeights: best.specs }),
  };
  const files = new Map<string, FileContent>([
    [STATE_JSON, JSON.stringify(ckpt.state)],
    [TENSORS_JSON, JSON.stringify(tensors)],
    [WEIGHTS_BIN, weights.chunks],
    [OPTIMIZER_BIN, optimizer.chunks],
  ]);
  if (best !== undefined) files.set(BEST_BIN, best.chunks);
  const checksums = Object.fromEntries([...files].map(([name, content]) => [name, sha256Hex(content)]));
  files.set(CHECKSUMS_JSON, JSON.stringify(checksums, null, 2));
  await writeDirAtomic(dir, files, { ...options, overwrite: true });
  await removeLeftovers(dir);
}

/** Whether `dir` holds a checkpoint (it is not verified; readCheckpoint does that). */
export async function checkpointExists(dir: string): Promise<boolean> {
  try {
    await access(join(dir, CHECKSUMS_JSON));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Removes the checkpoint directory and what writers of it killed mid-write left beside it;
 * nothing there is not an error.
 */
export async function removeCheckpoint(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await removeLeftovers(dir);
}

interface TensorsJson {
  weights: ArraySpec[];
  optimizer: ArraySpec[];
  bestWeights: ArraySpec[] | undefined;
}

function parseTensorsJson(root: string, raw: Buffer): TensorsJson {
  const tensors = parseJsonObject(raw, root, TENSORS_JSON);
  if (tensors.format !== CHECKPOINT_FORMAT) {
    throw corrupt(
      root,
      TENSORS_JSON,
      `format is ${JSON.stringify(tensors.format)}, expected "${CHECKPOINT_FORMAT}"`,
    );
  }
  const weights = parseArraySpecs(tensors.weights);
  const optimizer = parseArraySpecs(tensors.optimizer);
  const hasBest = tensors.bestWeights !== undefined;
  const bestWeights = hasBest ? parseArraySpecs(tensors.bestWeights) : undefined;
  if (weights === undefined || optimizer === undefined || (hasBest && bestWeights === undefined)) {
    throw corrupt(
      root,
      TENSORS_JSON,
      'weights, optimizer and bestWeights must be lists of named, shaped arrays',
    );
  }
  return { weights, optimizer, bestWeights };
}

async function readArrays(
  root: string,
  file: string,
  specs: readonly ArraySpec[],
  hashes: ReadonlyMap<string, string>,
): Promise<NamedArray[]> {
  const raw = await readRequired(root, file);
  const expectedBytes = packedByteLength(specs);
  // Compared before the hash so a truncated file is reported as such, not as a bare mismatch.
  if (raw.byteLength !== expectedBytes) {
    throw corrupt(root, file, `${raw.byteLength} bytes but ${TENSORS_JSON} needs ${expectedBytes}`);
  }
  verifyHash(raw, hashes, root, file, CHECKSUMS_JSON);
  return unpackArrays(raw, specs);
}

/**
 * Reads and verifies the checkpoint in `dir`. No checkpoint there is
 * RNNLM_CHECKPOINT_NOT_FOUND; a missing file, a hash mismatch, a blob whose length does not
 * match tensors.json, or malformed JSON is RNNLM_ARTIFACT_CORRUPT naming the file.
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const root = resolve(dir);
  let checksumsRaw: Buffer;
  try {
    checksumsRaw = await readFile(join(root, CHECKSUMS_JSON));
  } catch (err) {
    if (isNotFound(err)) {
      throw errors.checkpointNotFound(root);
    }
    throw err;
  }
  const hashes = parseHashes(parseJsonObject(checksumsRaw, root, CHECKSUMS_JSON), REQUIRED_FILES);
  if (hashes === undefined) {
    throw corrupt(root, CHECKSUMS_JSON, `must map ${REQUIRED_FILES.join(', ')} to sha256 hex digests`);
  }

  const tensorsRaw = await readRequired(root, TENSORS_JSON);
  verifyHash(tensorsRaw, hashes, root, TENSORS_JSON, CHECKSUMS_JSON);
  const specs = parseTensorsJson(root, tensorsRaw);
  if ((specs.bestWeights !== undefined) !== hashes.has(BEST_BIN)) {
    throw corrupt(
      root,
      CHECKSUMS_JSON,
      `lists ${BEST_BIN} exactly when ${TENSORS_JSON} has bestWeights, which it does not`,
    );
  }

  const stateRaw = await readRequired(root, STATE_JSON);
  verifyHash(stateRaw, hashes, root, STATE_JSON, CHECKSUMS_JSON);
  const state = parseJsonObject(stateRaw, root, STATE_JSON);

  const [weights, optimizer, bestWeights] = await Promise.all([
    readArrays(root, WEIGHTS_BIN, specs.weights, hashes),
    readArrays(root, OPTIMIZER_BIN, specs.optimizer, hashes),
    specs.bestWeights === undefined ? undefined : readArrays(root, BEST_BIN, specs.bestWeights, hashes),
  ]);
  return { weights, optimizer, bestWeights, state };
}
