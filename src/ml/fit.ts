/**
 * The settings a run gets when its request leaves them out, chosen from the corpus and the
 * time budget instead of one fixed recipe: a 20 KB upload and a megabyte of Shakespeare need
 * different models. The figures behind each choice are in docs/defaults.md.
 */
import type { RunConfigInput } from './config.js';

/** What the choice is made from. */
export interface FitBasis {
  /** The corpus (training and validation parts together), before tokenization. */
  corpus: string;
  /** The wall-clock budget in minutes when the request sets none (RNNLM_TRAIN_MINUTES). */
  budgetMinutes: number;
  /** Share of the corpus held out for validation (0.1 unless told). */
  validationFraction?: number | undefined;
  /** The deployment's caps: a chosen size never exceeds them (a size the request gives is its to check). */
  limits?: { layers: number; hiddenSize: number; embeddingSize: number; batchSize: number } | undefined;
}

/** One size of model and the data it suits. */
interface Tier {
  /** Training tokens (at most) this tier is for. */
  upTo: number;
  layers: number;
  hiddenSize: number;
  embeddingSize: number;
  dropout: number;
  batchSize: number;
}

/**
 * Small corpora get a small model with dropout, which early stopping then stops at its best
 * validation before it memorises the text; from about 400k tokens on, the model is the size a
 * 10-minute budget trains through several epochs on a 2-core CPU (docs/defaults.md).
 */
const LARGE: Tier = {
  upTo: Infinity,
  layers: 2,
  hiddenSize: 256,
  embeddingSize: 64,
  dropout: 0,
  batchSize: 32,
};
const TIERS: readonly Tier[] = [
  { upTo: 50_000, layers: 1, hiddenSize: 128, embeddingSize: 32, dropout: 0.3, batchSize: 16 },
  { upTo: 400_000, layers: 2, hiddenSize: 192, embeddingSize: 64, dropout: 0.2, batchSize: 32 },
  LARGE,
];

/**
 * Adam's step for character models: twice the schema's 0.002 reached 1.63 nats/char on
 * tinyshakespeare by step 717 where 0.002 had 1.68 by step 738 (docs/defaults.md). Word and
 * bpe models keep the schema's default, which nothing here measured against.
 */
const CHAR_LEARNING_RATE = 0.004;

/** Evaluations without improvement before a run stops: after two of them the learning rate has halved once. */
export const DEFAULT_EARLY_STOPPING_PATIENCE = 4;
/** Evaluations a run makes per epoch at most; a small corpus is evaluated once an epoch. */
const EVALS_PER_EPOCH = 4;
/** Steps between evaluations at least, so that validation never costs more than training. */
const MIN_EVAL_EVERY = 100;

/**
 * Tokens the corpus will be for `type`, roughly: exact for char; for word and bpe from the
 * average token length of English text, which is all a choice of tier needs.
 */
export function estimateTokens(corpus: string, type: 'char' | 'word' | 'bpe'): number {
  switch (type) {
    case 'char': {
      let n = 0;
      for (const _ of corpus) n++;
      return n;
    }
    case 'word':
      return Math.round(corpus.length / 4.5);
    case 'bpe':
      return Math.round(Buffer.byteLength(corpus, 'utf8') / 3);
  }
}

/**
 * `input` with what it leaves out chosen for `basis`: the model's size and dropout (only for
 * a model trained from scratch), batch size, evaluation interval, early stopping and the time
 * budget. Everything the request gives is kept as given.
 */
export function fitRunConfig(
  input: RunConfigInput,
  basis: FitBasis,
  options: { fineTune?: boolean } = {},
): RunConfigInput {
  const type = input.tokenizer?.type ?? 'char';
  const fraction = basis.validationFraction ?? 0.1;
  const trainTokens = Math.max(1, Math.round(estimateTokens(basis.corpus, type) * (1 - fraction)));
  const found = TIERS.find((t) => trainTokens <= t.upTo) ?? LARGE;
  const cap = basis.limits;
  const tier: Tier =
    cap === undefined
      ? found
      : {
          ...found,
          layers: Math.min(found.layers, cap.layers),
          hiddenSize: Math.min(found.hiddenSize, cap.hiddenSize),
          embeddingSize: Math.min(found.embeddingSize, cap.embeddingSize),
          batchSize: Math.min(found.batchSize, cap.batchSize),
        };
  const model = input.model ?? {};
  const training = input.training ?? {};
  const batchSize = training.batchSize ?? (options.fineTune === true ? 32 : tier.batchSize);
  const seqLength = training.seqLength ?? 64;
  const stepsPerEpoch = Math.max(1, Math.floor(trainTokens / (batchSize * seqLength)));
  const evalEvery = Math.max(MIN_EVAL_EVERY, Math.ceil(stepsPerEpoch / EVALS_PER_EPOCH));
  const fitted: RunConfigInput = {
    ...(input.tokenizer === undefined ? {} : { tokenizer: input.tokenizer }),
    model:
      options.fineTune === true
        ? model
        : {
            ...model,
            layers: model.layers ?? tier.layers,
            hiddenSize: model.hiddenSize ?? tier.hiddenSize,
            // Tied weights need the embedding as wide as the hidden layer.
            embeddingSize:
              model.embeddingSize ??
              (model.tieWeights === true ? (model.hiddenSize ?? tier.hiddenSize) : tier.embeddingSize),
            dropout: model.dropout ?? tier.dropout,
          },
    training: {
      ...training,
      ...(options.fineTune === true ? {} : { batchSize }),
      ...(options.fineTune !== true && type === 'char' && training.learningRate === undefined
        ? { learningRate: CHAR_LEARNING_RATE }
        : {}),
      maxMinutes: training.maxMinutes ?? basis.budgetMinutes,
      earlyStoppingPatience: training.earlyStoppingPatience ?? DEFAULT_EARLY_STOPPING_PATIENCE,
      // Within an epoch only when an epoch is long: the end of each epoch is evaluated anyway.
      ...(training.evalEvery === undefined && evalEvery < stepsPerEpoch ? { evalEvery } : {}),
    },
  };
  return fitted;
}
