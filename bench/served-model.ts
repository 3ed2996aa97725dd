/**
 * The model the inference measures run, made and read the way users make and read one: trained
 * briefly by the engine's own `trainFromText` (the bench model's shape, 2×256 LSTM E64, on
 * tinyshakespeare), written as a model directory, loaded back as `rnnlm score` and `rnnlm
 * generate` load it, and exported to ONNX as `rnnlm export --format onnx` does. The service
 * measure serves the same directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { newModelId } from '../src/ids.js';
import { exportModelDir } from '../src/export/index.js';
import type { BackendInfo } from '../src/ml/backend.js';
import type { RnnLm } from '../src/ml/model/lm.js';
import { modelFromArtifacts } from '../src/ml/load-model.js';
import { trainFromText } from '../src/ml/training.js';
import type { Tokenizer } from '../src/ml/tokenizers/index.js';
import { readModelDir, writeModelDir } from '../src/storage/artifacts.js';
import type { BenchContext } from './common.js';
import type { TrainConfig } from './rnnlm-side.js';

export interface ServedModel {
  /** A data directory (RNNLM_DATA_DIR) holding the model under `models/<id>`. */
  dataDir: string;
  id: string;
  config: TrainConfig;
  /** Loaded from the model directory, as the CLI loads it. */
  model: RnnLm;
  tokenizer: Tokenizer;
  /** The ONNX export's bytes. */
  onnx: Uint8Array;
}

/**
 * Trains `steps` steps, writes, exports and loads the model at `c`'s shape (its batch and
 * sequence length train it) under `ctx.tmp`.
 */
export async function makeServedModel(
  ctx: Pick<BenchContext, 'text' | 'tmp' | 'log'>,
  backend: BackendInfo,
  c: TrainConfig,
  steps: number,
): Promise<ServedModel> {
  ctx.log(`served model: training ${c.layers}×${c.hidden} LSTM E${c.embedding} for ${steps} steps`);
  const { artifacts } = await trainFromText({
    corpus: ctx.text,
    // A short validation text: the training tokenizer sees the whole corpus, like the other measures'.
    validationText: ctx.text.slice(0, 2000),
    config: {
      model: { cell: 'lstm', layers: c.layers, hiddenSize: c.hidden, embeddingSize: c.embedding },
      training: { maxSteps: steps, evalEvery: steps, seed: 1, batchSize: c.batch, seqLength: c.steps },
    },
    backend,
  });
  const id = newModelId();
  const dataDir = join(ctx.tmp, 'data');
  const dir = join(dataDir, 'models', id);
  await writeModelDir(dir, {
    ...artifacts,
    modelConfig: { ...artifacts.modelConfig },
    meta: { ...artifacts.meta, id, jobId: null, name: 'bench' },
  });
  const onnxFile = join(ctx.tmp, 'model.onnx');
  await exportModelDir(dir, 'onnx', onnxFile, { name: id });
  const { model, tokenizer } = modelFromArtifacts(await readModelDir(dir));
  return { dataDir, id, config: c, model, tokenizer, onnx: await readFile(onnxFile) };
}
