/**
 * Training from raw text: the corpus split and encoded, the model trained, and the artifacts
 * (weights, tokenizer, meta) a run hands to the model store.
 */
import { errors } from '../errors.js';
import { RNNLM_VERSION } from '../version.js';
import type { MetricSet, ModelMeta, TrainedArtifacts } from './artifacts.js';
import { runConfigSchema, type RunConfig, type RunConfigInput } from './config.js';
import { countCodePoints, splitText } from './data/split.js';
import { assertSameArchitecture, type BaseModel } from './fine-tune.js';
import { minTokensForOneBatch } from './data/partition.js';
import { assertUntruncatedFits } from './data/truncation.js';
import { RnnLm } from './model/lm.js';
import { tokenizerFromJSON, trainTokenizer, type Tokenizer, type TokenizerJSON } from './tokenizers/index.js';
import { train, type TrainOptions, type TrainResult, type TrainerCheckpoint } from './train/trainer.js';

export interface PreparedData {
  tokenizer: Tokenizer;
  train: Int32Array;
  validation: { tokens: Int32Array; characters: number; scoredFrom: number } | undefined;
}

export interface DataSource {
  corpus: string;
  /** A separate validation text; takes precedence over the fraction. */
  validationText?: string | undefined;
  /** Share of the corpus held out for validation when there is no validation text (0 = none). */
  validationFraction?: number | undefined;
}

/**
 * Splits the corpus, trains the tokenizer on the training part only (or restores the one a
 * checkpoint was made with) and encodes both parts. The validation stream starts with the
 * tokenizer's line-break token so that its first token is predicted too.
 */
export function prepareData(
  source: DataSource,
  config: RunConfig,
  tokenizerJson?: TokenizerJSON,
): PreparedData {
  if (source.corpus.trim().length === 0) {
    throw errors.corpusEmpty('corpus');
  }
  let trainText = source.corpus;
  let validationText = source.validationText;
  const fraction = source.validationFraction ?? 0.1;
  if (validationText === undefined && fraction > 0) {
    ({ train: trainText, validation: validationText } = splitText(source.corpus, fraction));
  }
  const tokenizer =
    tokenizerJson !== undefined
      ? tokenizerFromJSON(tokenizerJson)
      : trainTokenizer(trainText, config.tokenizer);
  // Once, here: encode() would normalise again, and bits per character count normalised characters.
  trainText = tokenizer.normalize(trainText);
  if (validationText !== undefined) validationText = tokenizer.normalize(validationText);
  const trainTokens = Int32Array.from(tokenizer.encode(trainText));
  const t = config.training;
  const needed = minTokensForOneBatch({
    batchSize: t.batchSize,
    seqLength: t.seqLength,
    partition: t.partition,
    truncation: t.truncation,
  });
  if (trainTokens.length < needed) {
    throw errors.tooFewTokens({
      tokens: trainTokens.length,
      atMost: false,
      batchSize: t.batchSize,
      seqLength: t.seqLength,
      needed,
    });
  }
  if (t.truncation.mode === 'none') {
    assertUntruncatedFits(Math.floor((trainTokens.length - 1) / t.batchSize), t.truncation);
  }
  let validation: PreparedData['validation'];
  if (validationText !== undefined && validationText.length > 0) {
    const boundary = tokenizer.boundaryIds;
    validation = {
      tokens: Int32Array.from([...boundary, ...tokenizer.encode(validationText)]),
      characters: countCodePoints(validationText),
      scoredFrom: boundary.length,
    };
  }
  return { tokenizer, train: trainTokens, validation };
}

export interface TrainFromTextOptions
  extends
    DataSource,
    Omit<TrainOptions, 'config' | 'tokenizer' | 'vocabSize' | 'train' | 'validation' | 'initialWeights'> {
  config: RunConfigInput | RunConfig;
  /**
   * Fine-tune: start from this model's weights and tokenizer. `config` must have its
   * architecture (see fineTuneConfig); text its vocabulary cannot encode becomes `<unk>`.
   */
  base?: BaseModel | undefined;
  /** Called once the text is encoded, before training starts. */
  onPrepared?: ((info: DataInfo) => void) | undefined;
}

/** How the text encoded: tokens in the training and validation parts, and how many became `<unk>`. */
export interface DataInfo {
  tokens: number;
  unknownTokens: number;
}

function dataInfo(data: PreparedData): DataInfo {
  const unk = data.tokenizer.unkId;
  const validation = data.validation?.tokens.subarray(data.validation.scoredFrom) ?? new Int32Array();
  let unknownTokens = 0;
  if (unk !== undefined) {
    for (const part of [data.train, validation]) for (const id of part) if (id === unk) unknownTokens++;
  }
  return { tokens: data.train.length + validation.length, unknownTokens };
}

export interface TrainFromTextResult {
  result: TrainResult;
  tokenizer: Tokenizer;
  artifacts: TrainedArtifacts;
}

const nullable = (x: number | undefined): number | null =>
  x === undefined || !Number.isFinite(x) ? null : x;

/** Trains a model on raw text: the whole engine in one call, for the CLI and the workers. */
export async function trainFromText(options: TrainFromTextOptions): Promise<TrainFromTextResult> {
  const parsed = runConfigSchema.safeParse(options.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw errors.invalidConfig(issue?.path.join('.') ?? 'config', issue?.message ?? 'invalid');
  }
  const config =
    options.resume !== undefined ? resumedConfig(options.resume.state.config, options.config) : parsed.data;
  const seed =
    config.training.seed ??
    options.resume?.state.seed ??
    options.defaultSeed ??
    Math.floor(Math.random() * 2 ** 31);
  const base = options.base;
  if (base !== undefined && options.resume === undefined) assertSameArchitecture(base, config);
  const data = prepareData(options, config, options.resume?.state.tokenizer ?? base?.tokenizer);
  const info = dataInfo(data);
  options.onPrepared?.(info);
  const tokenizerJson = data.tokenizer.toJSON();
  const result = await train({
    ...options,
    initialWeights: base?.weights,
    config,
    defaultSeed: seed,
    tokenizer: tokenizerJson,
    vocabSize: data.tokenizer.vocabSize,
    train: data.train,
    validation: data.validation,
  });
  const best = result.validation;
  const last = result.history.at(-1);
  const metricSet = (val: typeof best): MetricSet => ({
    trainLoss: nullable(result.trainLoss),
    valLoss: nullable(val?.loss),
    valPerplexity: nullable(val?.perplexity),
    valBitsPerChar: nullable(val?.bitsPerChar),
  });
  const modelConfig = result.model.config;
  const meta: ModelMeta = {
    rnnlmVersion: RNNLM_VERSION,
    createdAt: new Date().toISOString(),
    baseModel: base?.id ?? null,
    backend: { ...options.backend },
    config,
    modelConfig,
    tokenizer: { type: data.tokenizer.type, vocabSize: data.tokenizer.vocabSize },
    parameters: RnnLm.parameterCount(modelConfig),
    training: {
      steps: result.steps,
      epochs: result.epochs,
      stopReason: result.stopReason,
      elapsedMs: result.elapsedMs,
      tokensPerSecond: result.tokensPerSecond,
      trainTokens: data.train.length,
      validationTokens: data.validation?.tokens.length ?? 0,
      unknownTokens: info.unknownTokens,
      seed,
    },
    metrics: { final: metricSet(last), best: metricSet(best) },
    history: result.history.map((h) => ({
      step: h.step,
      epoch: h.epoch,
      loss: h.loss,
      perplexity: h.perplexity,
      bitsPerChar: h.bitsPerChar,
    })),
  };
  return {
    result,
    tokenizer: data.tokenizer,
    artifacts: { modelConfig, weights: result.model.getWeights(), tokenizer: tokenizerJson, meta },
  };
}

/**
 * A resumed run keeps the checkpoint's configuration; only the limits on how long it runs
 * (and how often it evaluates and checkpoints) may be given anew.
 */
function resumedConfig(saved: RunConfig, given: RunConfigInput | RunConfig): RunConfig {
  const t = given.training ?? {};
  const pick = <K extends 'maxSteps' | 'maxMinutes' | 'epochs' | 'evalEvery' | 'checkpointEvery'>(key: K) =>
    t[key] === undefined ? {} : { [key]: t[key] };
  return {
    ...saved,
    training: {
      ...saved.training,
      ...pick('maxSteps'),
      ...pick('maxMinutes'),
      ...pick('epochs'),
      ...pick('evalEvery'),
      ...pick('checkpointEvery'),
    },
  };
}

export type { TrainerCheckpoint };
