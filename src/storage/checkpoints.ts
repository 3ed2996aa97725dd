/**
 * The on-disk store for training checkpoints, which a resumed job continues from. A
 * checkpoint directory holds state.json (the trainer's state), tensors.json (name and shape
 * of every array per group, in order), weights.bin, optimizer.bin, best.bin when there are
 * best weights, and checksums.json with the sha256 of every other file. The directory is
 * replaced atomically, and checksums.json is what makes it a checkpoint: a directory without
 * it holds none.
 */
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { errors } from '../errors.js';
import {
  isNotFound,
  packArrays,
  parseArraySpecs,
  removeLeftovers,
  sha256Hex,
  writeDirAtomic,
} from './fs-atomic.js';
import { VerifiedDir, type VerifiedDirFormat } from './verified-dir.js';
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

/** A checkpoint: checksums.json hashes every other file, and without it there is none. */
const CHECKPOINT_DIR: VerifiedDirFormat = {
  index: CHECKSUMS_JSON,
  required: REQUIRED_FILES,
  notFound: (root) => errors.checkpointNotFound(root),
};

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

function parseTensorsJson(dir: VerifiedDir, tensors: Record<string, unknown>): TensorsJson {
  if (tensors.format !== CHECKPOINT_FORMAT) {
    throw dir.corrupt(
      TENSORS_JSON,
      `format is ${JSON.stringify(tensors.format)}, expected "${CHECKPOINT_FORMAT}"`,
    );
  }
  const weights = parseArraySpecs(tensors.weights);
  const optimizer = parseArraySpecs(tensors.optimizer);
  const hasBest = tensors.bestWeights !== undefined;
  const bestWeights = hasBest ? parseArraySpecs(tensors.bestWeights) : undefined;
  if (weights === undefined || optimizer === undefined || (hasBest && bestWeights === undefined)) {
    throw dir.corrupt(
      TENSORS_JSON,
      'weights, optimizer and bestWeights must be lists of named, shaped arrays',
    );
  }
  return { weights, optimizer, bestWeights };
}

/**
 * Reads and verifies the checkpoint in `dir`. No checkpoint there is
 * RNNLM_CHECKPOINT_NOT_FOUND; a missing file, a hash mismatch, a blob whose length does not
 * match tensors.json, or malformed JSON is RNNLM_ARTIFACT_CORRUPT naming the file.
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const ckpt = await VerifiedDir.open(dir, CHECKPOINT_DIR);
  const specs = parseTensorsJson(ckpt, await ckpt.json(TENSORS_JSON));
  if ((specs.bestWeights !== undefined) !== ckpt.has(BEST_BIN)) {
    throw ckpt.corrupt(
      CHECKSUMS_JSON,
      `lists ${BEST_BIN} exactly when ${TENSORS_JSON} has bestWeights, which it does not`,
    );
  }
  const state = await ckpt.json(STATE_JSON);
  const [weights, optimizer, bestWeights] = await Promise.all([
    ckpt.arrays(WEIGHTS_BIN, specs.weights, TENSORS_JSON),
    ckpt.arrays(OPTIMIZER_BIN, specs.optimizer, TENSORS_JSON),
    specs.bestWeights === undefined ? undefined : ckpt.arrays(BEST_BIN, specs.bestWeights, TENSORS_JSON),
  ]);
  return { weights, optimizer, bestWeights, state };
}
