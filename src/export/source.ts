/**
 * What every export format starts from: a model directory's weights, configuration and
 * tokenizer, validated, as plain arrays (no tensors, no HTTP).
 */
import { errors } from '../errors.js';
import { modelSpecSchema, type ModelConfig } from '../ml/config.js';
import { RnnLm, type NamedArray } from '../ml/model/lm.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../ml/tokenizers/index.js';
import { readModelDir, type ModelArtifacts } from '../storage/artifacts.js';
import { RNNLM_VERSION } from '../version.js';
import type { ExportMetadata, ExportTokenizer } from './types.js';

export type { ExportTokenizer } from './types.js';

/** The export formats; each carries the tokenizer beside the weights. */
export const EXPORT_FORMATS = ['onnx', 'tfjs'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportSource {
  config: ModelConfig;
  /** By name, shapes checked against the config. */
  weights: Map<string, NamedArray>;
  tokenizer: ExportTokenizer;
  /** The model id or directory name, recorded in the export. */
  name: string;
}

const ENCODING: Record<TokenizerJSON['type'], string> = {
  char: 'one id per Unicode code point: the index of the code point in vocab; unknown code points are id 0 (<unk>)',
  word: 'lines are split into whitespace-separated words (lowercased first when lowercase is true); each word is its index in vocab, unknown words <unk> (id 0); every line break is <eos> (id 1); decoding joins words with single spaces',
  bpe: 'byte-level BPE: the UTF-8 bytes of the text are ids 0-255; merges are applied in order, merge i joining the pair [left, right] into id 256 + i',
};

/** Validates a model directory's artifacts for export; a mismatch is RNNLM_ARTIFACT_CORRUPT. */
export function exportSource(artifacts: Omit<ModelArtifacts, 'meta'>, name: string): ExportSource {
  const { vocabSize, ...spec } = artifacts.modelConfig;
  const parsed = modelSpecSchema.safeParse(spec);
  if (!parsed.success || typeof vocabSize !== 'number' || !Number.isInteger(vocabSize) || vocabSize < 1) {
    throw errors.modelConfigInvalid();
  }
  const config: ModelConfig = { ...parsed.data, vocabSize };
  const tokenizer = tokenizerFromJSON(artifacts.tokenizer);
  if (tokenizer.vocabSize !== vocabSize) {
    throw errors.vocabMismatch(vocabSize, tokenizer.vocabSize);
  }
  const weights = new Map(artifacts.weights.map((w) => [w.name, w]));
  for (const [wname, shape] of RnnLm.weightShapes(config)) {
    const w = weights.get(wname);
    if (w === undefined) throw errors.weightMissing(wname);
    if (w.shape.join(',') !== shape.join(',')) throw errors.weightShape(wname, w.shape, shape);
  }
  return {
    config,
    weights,
    name,
    tokenizer: {
      json: tokenizer.toJSON(),
      vocabSize: tokenizer.vocabSize,
      unkId: tokenizer.unkId ?? null,
      eosId: tokenizer.eosId ?? null,
      boundaryIds: [...tokenizer.boundaryIds],
      encoding: ENCODING[tokenizer.type],
    },
  };
}

/** The metadata every export carries: the model's shape, its tokenizer, the graph's names. */
export function exportMetadata<F extends string>(
  source: ExportSource,
  format: F,
  graph: { inputs: string[]; outputs: string[] },
): ExportMetadata<F> {
  const { cell, layers, hiddenSize, vocabSize } = source.config;
  return {
    format,
    rnnlmVersion: RNNLM_VERSION,
    name: source.name,
    cell,
    layers,
    hiddenSize,
    vocabSize,
    ...graph,
    tokenizer: source.tokenizer,
  };
}

/** Reads and verifies a model directory (hashes included) and validates it for export. */
export async function readExportSource(dir: string, name: string): Promise<ExportSource> {
  return exportSource(await readModelDir(dir), name);
}

/** A weight by name; exportSource has checked that every weight the config needs is there. */
export function weight(source: ExportSource, name: string): NamedArray {
  const w = source.weights.get(name);
  if (w === undefined) throw new Error(`no weight ${name}`);
  return w;
}

/**
 * Columns [from, from + width) of a row-major [rows, cols] matrix as a [rows, width] matrix:
 * how a fused gate block is cut out of a kernel.
 */
export function columns(w: NamedArray, from: number, width: number): Float32Array {
  const rows = w.shape.length === 1 ? 1 : (w.shape[0] as number);
  const cols = w.shape.length === 1 ? (w.shape[0] as number) : (w.shape[1] as number);
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++)
    out.set(w.data.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

/** Concatenates row-major matrices of equal row count along their columns. */
export function concatColumns(rows: number, parts: Float32Array[]): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let offset = r * total;
    parts.forEach((p, i) => {
      const w = widths[i] as number;
      out.set(p.subarray(r * w, (r + 1) * w), offset);
      offset += w;
    });
  }
  return out;
}

/** The transpose of a row-major [rows, cols] matrix. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}
