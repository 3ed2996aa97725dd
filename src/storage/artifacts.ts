/**
 * The on-disk store for finished models. A model directory holds model.json (tfjs
 * LayersModel-style JSON: topology plus weights manifest), weights.bin (the float32 arrays
 * concatenated little-endian in manifest order), tokenizer.json and meta.json, which records
 * the sha256 of the other three so a damaged model is refused instead of served. tfjs'
 * `model.save('file://')` needs tfjs-node, so the files are written here from plain arrays.
 */
import { basename } from 'node:path';

import { errors } from '../errors.js';
import { RNNLM_VERSION } from '../version.js';
import type { TokenizerJSON } from '../ml/tokenizers/types.js';
import { isRecord, packArrays, parseArraySpecs, sha256Hex, writeDirAtomic } from './fs-atomic.js';
import { readIndex, VerifiedDir, type VerifiedDirFormat } from './verified-dir.js';
import type { ArraySpec, FileContent, NamedArray } from './fs-atomic.js';

export type { NamedArray } from './fs-atomic.js';

/** Everything a model directory holds. */
export interface ModelArtifacts {
  /** Model hyperparameters (cell, layers, hiddenSize, embeddingSize, dropout, tieWeights, vocabSize); opaque here. */
  modelConfig: Record<string, unknown>;
  weights: NamedArray[];
  tokenizer: TokenizerJSON;
  /** meta.json content without the `files` hashes, which the store adds; opaque here. */
  meta: Record<string, unknown>;
}

/** The `format` of model.json, so a directory of some other tfjs model is not mistaken for ours. */
const MODEL_FORMAT = 'rnnlm-rnn';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const TOKENIZER_JSON = 'tokenizer.json';
const META_JSON = 'meta.json';
const HASHED_FILES = [MODEL_JSON, WEIGHTS_BIN, TOKENIZER_JSON] as const;
const TOKENIZER_TYPES: readonly unknown[] = ['char', 'word', 'bpe'] satisfies TokenizerJSON['type'][];

/** A model directory: meta.json's `files` hashes the others. */
const MODEL_DIR: VerifiedDirFormat = {
  index: META_JSON,
  hashesIn: 'files',
  required: HASHED_FILES,
  notFound: (root) => errors.modelNotFound(root),
};

/**
 * Writes the model directory atomically: readers see either no directory (or the previous
 * one) or a complete model. An existing `dir` is refused with RNNLM_INVALID_CONFIG unless
 * `options.overwrite`. Arrays whose data does not match their shape throw before anything
 * is written. Returns the meta.json content written, i.e. `artifacts.meta` plus
 * `files: { 'model.json', 'weights.bin', 'tokenizer.json' }` sha256 hex digests.
 */
export async function writeModelDir(
  dir: string,
  artifacts: ModelArtifacts,
  options: { overwrite?: boolean } = {},
): Promise<Record<string, unknown>> {
  const { specs, chunks } = packArrays(artifacts.weights, 'weights');
  const modelJson = JSON.stringify({
    format: MODEL_FORMAT,
    generatedBy: `rnnlm ${RNNLM_VERSION}`,
    convertedBy: null,
    modelTopology: artifacts.modelConfig,
    weightsManifest: [
      { paths: [WEIGHTS_BIN], weights: specs.map((spec) => ({ ...spec, dtype: 'float32' })) },
    ],
  });
  const tokenizerJson = JSON.stringify(artifacts.tokenizer);
  const meta = {
    ...artifacts.meta,
    files: {
      [MODEL_JSON]: sha256Hex(modelJson),
      [WEIGHTS_BIN]: sha256Hex(chunks),
      [TOKENIZER_JSON]: sha256Hex(tokenizerJson),
    },
  };
  const files = new Map<string, FileContent>([
    [MODEL_JSON, modelJson],
    [WEIGHTS_BIN, chunks],
    [TOKENIZER_JSON, tokenizerJson],
    [META_JSON, JSON.stringify(meta, null, 2)],
  ]);
  await writeDirAtomic(dir, files, { overwrite: options.overwrite ?? false });
  return meta;
}

/**
 * Reads only meta.json, for cheap listings: it must be a JSON object, but the other files
 * and their hashes are not checked. A missing directory or meta.json is
 * RNNLM_MODEL_NOT_FOUND; malformed JSON is RNNLM_ARTIFACT_CORRUPT.
 */
export async function readModelMeta(dir: string): Promise<Record<string, unknown>> {
  return readIndex(dir, MODEL_DIR);
}

function parseModelJson(
  dir: VerifiedDir,
  model: Record<string, unknown>,
): { modelConfig: Record<string, unknown>; specs: ArraySpec[] } {
  if (model.format !== MODEL_FORMAT) {
    throw dir.corrupt(MODEL_JSON, `format is ${JSON.stringify(model.format)}, expected "${MODEL_FORMAT}"`);
  }
  if (!isRecord(model.modelTopology)) throw dir.corrupt(MODEL_JSON, 'modelTopology must be an object');
  const manifest = model.weightsManifest;
  const group: unknown = Array.isArray(manifest) && manifest.length === 1 ? manifest[0] : undefined;
  const paths: unknown = isRecord(group) ? group.paths : undefined;
  const specs = isRecord(group) ? parseArraySpecs(group.weights) : undefined;
  if (!Array.isArray(paths) || paths.length !== 1 || paths[0] !== WEIGHTS_BIN || specs === undefined) {
    throw dir.corrupt(
      MODEL_JSON,
      `weightsManifest must be one group of named, shaped arrays in ${WEIGHTS_BIN}`,
    );
  }
  return { modelConfig: model.modelTopology, specs };
}

/**
 * Refuses weights holding NaN or an infinity. Their hashes match (they were written that way:
 * training that diverged on another machine, or a bug), so they are not corrupt, but every
 * generation and score from them would be NaN.
 */
function checkFinite(root: string, weights: readonly NamedArray[]): void {
  for (const { name, data } of weights) {
    const at = data.findIndex((x) => !Number.isFinite(x));
    if (at >= 0) {
      throw errors.weightsNonfinite(basename(root), WEIGHTS_BIN, name, at, data[at] ?? Number.NaN);
    }
  }
}

/**
 * Reads a model directory and verifies every file against the hashes in meta.json. A
 * missing directory or meta.json is RNNLM_MODEL_NOT_FOUND; a missing file, a hash mismatch,
 * a weights.bin whose length does not match the manifest, or malformed JSON is
 * RNNLM_ARTIFACT_CORRUPT naming the file and the problem; weights that hold NaN or an
 * infinity are RNNLM_MODEL_NONFINITE. The tokenizer is only checked to
 * be an object of a known type; restoring it validates the rest.
 */
export async function readModelDir(dir: string): Promise<ModelArtifacts> {
  const model = await VerifiedDir.open(dir, MODEL_DIR);
  const [modelJson, tokenizer] = await Promise.all([model.json(MODEL_JSON), model.json(TOKENIZER_JSON)]);
  const { modelConfig, specs } = parseModelJson(model, modelJson);
  if (!TOKENIZER_TYPES.includes(tokenizer.type)) {
    throw model.corrupt(TOKENIZER_JSON, `unknown tokenizer type ${JSON.stringify(tokenizer.type)}`);
  }
  const weights = await model.arrays(WEIGHTS_BIN, specs, `the manifest in ${MODEL_JSON}`);
  checkFinite(model.root, weights);
  return {
    modelConfig,
    weights,
    tokenizer: tokenizer as unknown as TokenizerJSON,
    meta: model.index,
  };
}
