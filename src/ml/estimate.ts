/**
 * What a run will cost before it runs: the parameter count and an estimate of the memory
 * training needs, from the hyperparameters alone (and, for a char tokenizer, the corpus). The
 * service refuses a job over its limits at submit time instead of letting a worker run out of
 * memory halfway through.
 */
import { parameterCount, type CellType } from './model/layout.js';
import type { RunConfig, TokenizerSpec } from './config.js';
import { TruncationSchedule } from './data/truncation.js';
import { BPE_DEFAULT_VOCAB_SIZE } from './tokenizers/bpe.js';

export { parameterCount };

const FLOAT32_BYTES = 4;

/**
 * float32 values one training step holds at its peak per position (timestep × stream), by
 * part of the model: per embedding unit, per hidden unit of each layer (the cell's forward
 * intermediates kept for BPTT and its backward's temporaries), and per vocabulary entry (the
 * logits, their softmax and gradient, and the temporaries between them). Measured with
 * `tf.profile` on the layers built from tfjs ops, as the tensorflow (CUDA) backend runs them,
 * and rounded up; the native kernels of the wasm and cpu backends hold far less (an LSTM layer
 * about 12 per hidden unit), so the estimate is an upper bound wherever the job runs.
 * test/unit/ml/estimate.test.ts measures real steps again, so a change that moves them fails.
 */
const FLOATS_PER_POSITION = {
  embeddingUnit: 6,
  hiddenUnit: { lstm: 58, gru: 52, rnn: 18 } satisfies Record<CellType, number>,
  vocabularyEntry: 8,
};

/** Moment copies of the weights each optimizer keeps: Adam m and v, RMSprop the mean square. */
const OPTIMIZER_COPIES: Record<RunConfig['training']['optimizer'], number> = { adam: 2, rmsprop: 1, sgd: 0 };

/**
 * Distinct Unicode code points of `text` (lone surrogates count as one each), as the char
 * tokenizer sees them; one pass over the text with a bitmap of every code point.
 */
export function distinctCodePoints(text: string): number {
  const seen = new Uint8Array(0x110000);
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (seen[cp] === 0) {
      seen[cp] = 1;
      count++;
    }
  }
  return count;
}

/**
 * The largest vocabulary the tokenizer can end up with: a char tokenizer's `<unk>` plus the
 * distinct code points of the training text (`corpus` bounds it: the training part is cut from
 * it); a word or bpe tokenizer's cap (`defaultWordCap` where a word tokenizer sets none).
 */
export function vocabularyBound(tokenizer: TokenizerSpec, corpus: string, defaultWordCap: number): number {
  switch (tokenizer.type) {
    case 'char':
      return 1 + distinctCodePoints(corpus);
    case 'word':
      return tokenizer.vocabSize ?? defaultWordCap;
    case 'bpe':
      return tokenizer.vocabSize ?? BPE_DEFAULT_VOCAB_SIZE;
  }
}

/** What {@link estimateTraining} returns; sizes in bytes. */
export interface TrainingEstimate {
  /** The vocabulary size the estimate assumes (an upper bound). */
  vocabSize: number;
  parameters: number;
  /** Longest segment one training step backpropagates through. */
  segmentLength: number;
  bytes: {
    weights: number;
    gradients: number;
    /** Optimizer moments: two copies of the weights for Adam, one for RMSprop, none for SGD. */
    optimizer: number;
    /**
     * What one training step holds over a whole segment for BPTT (embeddings, each layer's
     * intermediates, the logits and their gradient), for the larger of the training batch and
     * the evaluation batch.
     */
    activations: number;
    total: number;
  };
}

/**
 * Estimates the memory training `run` takes with a vocabulary of at most `vocabSize` tokens.
 * It counts float32 tensors that live at the same time at the peak of a step; the backend's
 * own overhead (allocator slack, temporaries of one op) comes on top.
 *
 * @throws RnnlmError RNNLM_INVALID_CONFIG when the truncation settings are inconsistent.
 */
export function estimateTraining(run: RunConfig, vocabSize: number): TrainingEstimate {
  const { model, training } = run;
  const parameters = parameterCount({ ...model, vocabSize });
  const segmentLength = new TruncationSchedule(training.truncation, training.seqLength).maxLength;
  const { embeddingSize: e, hiddenSize: h, layers, cell } = model;
  const perPosition =
    FLOATS_PER_POSITION.embeddingUnit * e +
    FLOATS_PER_POSITION.hiddenUnit[cell] * layers * h +
    FLOATS_PER_POSITION.vocabularyEntry * vocabSize;
  // Evaluation runs forward only, but over its own batch size: whichever holds more counts.
  const positions = Math.max(segmentLength * training.batchSize, training.seqLength * training.evalBatchSize);
  const activationFloats = positions * perPosition;
  const weights = parameters * FLOAT32_BYTES;
  const bytes = {
    weights,
    gradients: weights,
    optimizer: OPTIMIZER_COPIES[training.optimizer] * weights,
    activations: activationFloats * FLOAT32_BYTES,
  };
  return {
    vocabSize,
    parameters,
    segmentLength,
    bytes: { ...bytes, total: bytes.weights + bytes.gradients + bytes.optimizer + bytes.activations },
  };
}
