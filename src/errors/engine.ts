import { coded, reason } from './coded.js';

const count = (n: number) => n.toLocaleString('en-US');
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** The estimate and the limits a refused model size is reported with. */
export interface ModelSizeDetails {
  parameters: number;
  maxParameters: number;
  trainingMemoryBytes: number;
  maxTrainingMemoryBytes: number;
  vocabSize: number;
  estimate: unknown;
}

/**
 * Failures of the engine: settings it refuses, texts too small for them, models and
 * checkpoints that do not fit, training that diverges, and the compute backends.
 */
export const engineErrors = {
  /** A setting refused as a whole: `field: problem`. */
  invalidConfig: (field: string, problem: string) =>
    coded('RNNLM_INVALID_CONFIG', `${field}: ${problem}`, { field }),
  /** A number or choice outside what `field` takes: `field must be …, got value`. */
  outOfRange: (field: string, requirement: string, value: unknown) =>
    coded('RNNLM_INVALID_CONFIG', `${field} ${requirement}, got ${String(value)}`, { field, value }),
  overLimit: (field: string, value: unknown, max: number) =>
    coded('RNNLM_INVALID_CONFIG', `${field}: ${String(value)} is over the limit of ${max}`, {
      field,
      value,
      max,
    }),
  unknownTokenizer: (type: unknown) =>
    coded('RNNLM_INVALID_CONFIG', `unknown tokenizer type ${String(type)}`, { field: 'type' }),
  invalidTokenizerJson: (problem: string) =>
    coded('RNNLM_INVALID_CONFIG', `invalid tokenizer JSON: ${problem}`),
  /** A fine-tuning request that changes what a fine-tuned model keeps of its base. */
  baseModelContradiction: (baseModel: string, field: string, given: unknown, has: unknown) =>
    coded(
      'RNNLM_INVALID_CONFIG',
      `${field}: the base model ${baseModel} has ${JSON.stringify(has)}, not ${JSON.stringify(given)}; a fine-tuned model keeps its base model's architecture and tokenizer`,
      { field, baseModel },
    ),
  modelTooLarge: (d: ModelSizeDetails) =>
    coded(
      'RNNLM_MODEL_TOO_LARGE',
      `the model would have ${count(d.parameters)} parameters (limit ${count(d.maxParameters)}) ` +
        `and training would need about ${gib(d.trainingMemoryBytes)} (${count(d.trainingMemoryBytes)} bytes; limit ` +
        `${gib(d.maxTrainingMemoryBytes)}, ${count(d.maxTrainingMemoryBytes)} bytes) with a vocabulary of up to ` +
        `${count(d.vocabSize)} tokens; lower model.hiddenSize, model.layers, ` +
        'model.embeddingSize, training.batchSize, training.seqLength or tokenizer.vocabSize',
      { ...d },
    ),
  corpusEmpty: (field: string) =>
    coded('RNNLM_CORPUS_EMPTY', `${field} is empty or only whitespace`, { field }),
  /** Fewer training tokens than one minibatch takes; `atMost` when `tokens` is an upper bound. */
  tooFewTokens: (t: {
    tokens: number;
    atMost: boolean;
    batchSize: number;
    seqLength: number;
    needed: number;
  }) =>
    coded(
      'RNNLM_CORPUS_TOO_SMALL',
      `the training text has ${t.atMost ? 'at most ' : ''}${t.tokens} tokens; ` +
        `batch size ${t.batchSize} and sequence length ${t.seqLength} need at least ${t.needed}`,
      { field: 'corpus', tokens: t.tokens, needed: t.needed },
    ),
  /** As tooFewTokens, once the partitioning and truncation of an epoch are known. */
  minibatchTooLarge: (m: {
    numTokens: number;
    minTokens: number;
    batchSize: number;
    seqLength: number;
    partition: string;
    truncation: string;
  }) =>
    coded(
      'RNNLM_CORPUS_TOO_SMALL',
      `the training text has ${m.numTokens} tokens but one minibatch (batchSize ${m.batchSize}, ` +
        `${m.partition} partitioning, truncation '${m.truncation}') needs at least ${m.minTokens}; ` +
        'provide more text or lower batchSize or seqLength',
      { numTokens: m.numTokens, minTokens: m.minTokens, batchSize: m.batchSize, seqLength: m.seqLength },
    ),
  tooSmallToSplit: (characters: number, validationFraction: number) =>
    coded(
      'RNNLM_CORPUS_TOO_SMALL',
      `a corpus of ${characters} characters is too small to hold out a validation fraction of ${validationFraction}; ` +
        'provide more text',
      { characters, validationFraction },
    ),
  sequenceTooLong: (length: number, maxLength: number) =>
    coded(
      'RNNLM_SEQUENCE_TOO_LONG',
      `truncation 'none' backpropagates through a whole stream of ${length} tokens, over the cap of ` +
        `${maxLength} (training.truncation.maxLength); use truncation 'fixed', a smaller corpus or a larger batch size`,
      { field: 'training.truncation.maxLength', length, maxLength },
    ),
  diverged: (d: {
    step: number;
    loss: number;
    uniformLoss: number;
    gradNorm: number;
    learningRate: number;
  }) =>
    coded(
      'RNNLM_NONFINITE_LOSS',
      `training diverged at step ${d.step}: loss ${d.loss} (a uniform guess scores ${d.uniformLoss.toFixed(2)}), ` +
        `gradient norm ${d.gradNorm}, learning rate ${d.learningRate}; lower the learning rate or the clip norm`,
      { step: d.step, loss: d.loss, gradNorm: d.gradNorm, learningRate: d.learningRate },
    ),
  trainingStopped: (step: number, why: string) =>
    coded('RNNLM_ABORTED', `training stopped at step ${step}: ${why}`, { step }),
  checkpointMismatch: (what: string) =>
    coded('RNNLM_CHECKPOINT_MISMATCH', `cannot resume: the checkpoint was made with a different ${what}`, {
      differs: what,
    }),
  checkpointLacksLayer: (layer: number) =>
    coded('RNNLM_CHECKPOINT_MISMATCH', `cannot resume: the checkpoint lacks the state of layer ${layer}`, {
      layer,
    }),
  /** A model's configuration (model.json) that does not describe a model; `modelId` when known. */
  modelConfigInvalid: (modelId?: string) =>
    coded(
      'RNNLM_ARTIFACT_CORRUPT',
      `${modelId === undefined ? '' : `model ${modelId}: `}model.json does not hold a valid model configuration`,
      modelId === undefined ? undefined : { modelId },
    ),
  vocabMismatch: (model: number, tokenizer: number) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `the model expects ${model} tokens but the tokenizer has ${tokenizer}`, {
      model,
      tokenizer,
    }),
  weightMissing: (weight: string) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `weight ${weight} is missing`, { weight }),
  weightShape: (weight: string, shape: readonly number[], needed: readonly number[]) =>
    coded(
      'RNNLM_ARTIFACT_CORRUPT',
      `weight ${weight} has shape [${shape.join(', ')}], the config needs [${needed.join(', ')}]`,
      { weight, shape, needed },
    ),
  unexpectedWeights: (weights: readonly string[]) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `unexpected weights: ${weights.join(', ')}`, { weights }),
  noTokensToScore: () => coded('RNNLM_INVALID_CONFIG', 'text has no tokens to score', { field: 'text' }),
  /** Sampling with every token suppressed or non-finite. */
  nothingToEmit: () =>
    coded(
      'RNNLM_INVALID_CONFIG',
      'no token can be emitted: every logit is -Infinity or NaN (are all ids in suppressIds?)',
      { field: 'suppressIds' },
    ),
  tensorflowMissing: (packages: readonly string[]) =>
    coded(
      'RNNLM_BACKEND_UNAVAILABLE',
      `RNNLM_BACKEND=tensorflow but neither ${packages.join(' nor ')} could be loaded; install one (its install script downloads libtensorflow) or use wasm/cpu`,
    ),
  backendNotStarted: (backend: string, cause?: unknown) =>
    coded(
      'RNNLM_BACKEND_UNAVAILABLE',
      `the ${backend} backend did not start${reason(cause)}`,
      { backend },
      cause,
    ),
  nativeUnavailable: (whyNot: string) =>
    coded(
      'RNNLM_NATIVE_UNAVAILABLE',
      `RNNLM_NATIVE_KERNELS=on but the native kernels cannot be used: ${whyNot}`,
    ),
  nativeFailed: (kernel: string, cause: unknown) =>
    coded('RNNLM_NATIVE_FAILED', `native kernel ${kernel} failed${reason(cause)}`, { kernel }, cause),
};
