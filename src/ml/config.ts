import { z } from 'zod';

/**
 * The hyperparameters of a run, as one zod schema shared by the CLI, the API and the worker.
 * Defaults follow the classic char-rnn / word_language_model recipe at a size that trains
 * on a CPU; absolute bounds here only keep the numbers sane, the service narrows them.
 */
export const tokenizerSpecSchema = z
  .object({
    type: z.enum(['char', 'word', 'bpe']).default('char'),
    /** bpe: target vocabulary size; word: cap on the vocabulary. */
    vocabSize: z
      .number()
      .int()
      .min(2)
      .max(1_000_000)
      .optional()
      .describe('bpe: target vocabulary size; word: cap on the vocabulary. Bounded by RNNLM_MAX_VOCAB.'),
    /** word: words seen fewer times map to `<unk>`. */
    minFrequency: z.number().int().min(1).optional().describe('word: words seen fewer times map to `<unk>`.'),
    /** word: lowercase the text first. */
    lowercase: z.boolean().optional().describe('word: lowercase the text first.'),
  })
  .strict()
  .meta({ id: 'TokenizerSpec' });

export const modelSpecSchema = z
  .object({
    cell: z.enum(['lstm', 'gru', 'rnn']).default('lstm'),
    layers: z.number().int().min(1).max(64).default(2).describe('Bounded by RNNLM_MAX_LAYERS.'),
    hiddenSize: z.number().int().min(1).max(65_536).default(256).describe('Bounded by RNNLM_MAX_HIDDEN.'),
    embeddingSize: z
      .number()
      .int()
      .min(1)
      .max(65_536)
      .default(64)
      .describe('Bounded by RNNLM_MAX_EMBEDDING.'),
    /** Dropout on the embedding output, between layers and before the output projection. */
    dropout: z.number().min(0).max(0.95).default(0),
    /** Share the embedding matrix with the output projection (needs embeddingSize = hiddenSize). */
    tieWeights: z
      .boolean()
      .default(false)
      .describe('Share the embedding with the output projection (needs embeddingSize = hiddenSize).'),
  })
  .strict()
  .refine((m) => !m.tieWeights || m.embeddingSize === m.hiddenSize, {
    message: 'tieWeights needs embeddingSize equal to hiddenSize',
    path: ['tieWeights'],
  })
  .meta({ id: 'ModelSpec' });

/** The most epochs a run may ask for; a CLI run bounded only by time asks for this many. */
export const MAX_EPOCHS = 100_000;

const modelDefaults = modelSpecSchema.parse({});
const m = modelSpecSchema.shape;

/**
 * The model section as a request gives it: the fields and bounds of {@link modelSpecSchema}
 * without its defaults, so that the fields a client set can be told from the ones it left
 * out (a fine-tuning request may only repeat its base model's). runConfigSchema fills the rest.
 */
export const modelSpecRequestSchema = z
  .object({
    cell: m.cell.unwrap().optional(),
    layers: m.layers.unwrap().optional(),
    hiddenSize: m.hiddenSize.unwrap().optional(),
    embeddingSize: m.embeddingSize.unwrap().optional(),
    dropout: m.dropout.unwrap().optional(),
    tieWeights: m.tieWeights.unwrap().optional(),
  })
  .strict()
  .refine(
    (s) =>
      s.tieWeights !== true ||
      (s.embeddingSize ?? modelDefaults.embeddingSize) === (s.hiddenSize ?? modelDefaults.hiddenSize),
    { message: 'tieWeights needs embeddingSize equal to hiddenSize', path: ['tieWeights'] },
  );

/** The tokenizer section as a request gives it (no default type; see {@link modelSpecRequestSchema}). */
export const tokenizerSpecRequestSchema = tokenizerSpecSchema.extend({
  type: tokenizerSpecSchema.shape.type.unwrap().optional(),
});

export const truncationSchema = z
  .object({
    mode: z.enum(['fixed', 'variable', 'randomized', 'none']).default('fixed'),
    p: z.number().min(0).max(1).optional(),
    sigma: z.number().min(0).optional(),
    minLength: z.number().int().min(1).optional(),
    maxLength: z.number().int().min(1).optional(),
  })
  .strict()
  .meta({ id: 'Truncation', description: 'How backpropagation through time is cut.' });

const DEFAULT_SEQ_LENGTH = 64;

const trainingFields = z
  .object({
    batchSize: z.number().int().min(1).max(4096).default(32).describe('Bounded by RNNLM_MAX_BATCH.'),
    seqLength: z
      .number()
      .int()
      .min(1)
      .max(65_536)
      .default(DEFAULT_SEQ_LENGTH)
      .describe('Bounded by RNNLM_MAX_SEQ_LENGTH.'),
    truncation: truncationSchema.prefault({}),
    partition: z.enum(['sequential', 'random']).default('sequential'),
    optimizer: z.enum(['adam', 'sgd', 'rmsprop']).default('adam'),
    learningRate: z.number().positive().default(0.002),
    /** Clip the global gradient norm to this value (0 turns clipping off). */
    clipNorm: z.number().min(0).default(5).describe('Clip the global gradient norm to this (0 = off).'),
    /** Clip each gradient element to [-clipValue, clipValue] before the norm clip. */
    clipValue: z.number().positive().optional(),
    /** Multiply the learning rate by this when validation loss stops improving. */
    lrDecay: z.number().gt(0).max(1).default(0.5),
    /** Evaluations without improvement before the learning rate decays. */
    lrPatience: z.number().int().min(0).default(1),
    /** A cap on passes over the training text; absent, the run's other limits end it. */
    epochs: z
      .number()
      .int()
      .min(1)
      .max(MAX_EPOCHS)
      .optional()
      .describe(
        'A cap on passes over the training text; absent, the time budget and early stopping end the run.',
      ),
    maxSteps: z.number().int().min(1).optional().describe('Bounded by RNNLM_MAX_STEPS.'),
    /** The wall-clock budget; the service and the CLI fill in RNNLM_TRAIN_MINUTES when it is absent. */
    maxMinutes: z
      .number()
      .positive()
      .optional()
      .describe('The wall-clock budget in minutes; absent, the deployment default (RNNLM_TRAIN_MINUTES).'),
    evalEvery: z.number().int().min(1).optional(),
    checkpointEvery: z.number().int().min(1).optional(),
    /** Evaluations without improvement before training stops (best weights are kept). */
    earlyStoppingPatience: z.number().int().min(1).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    /** Parallel streams used for validation (forward only). */
    evalBatchSize: z.number().int().min(1).max(4096).default(32),
  })
  .strict();

/** Shapes no truncation mode can train, refused wherever a config is read (CLI, API, worker). */
function checkTruncation(
  t: { truncation: TruncationSpec; seqLength?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  const seqLength = t.seqLength ?? DEFAULT_SEQ_LENGTH;
  const { mode, maxLength, minLength } = t.truncation;
  if (maxLength !== undefined && maxLength < seqLength) {
    ctx.addIssue({
      code: 'custom',
      path: ['truncation', 'maxLength'],
      message: `must be >= seqLength (${seqLength}) in every truncation mode`,
    });
  }
  if (mode === 'randomized' && minLength !== undefined && minLength > seqLength) {
    ctx.addIssue({
      code: 'custom',
      path: ['truncation', 'minLength'],
      message: `must be <= seqLength (${seqLength}) in randomized truncation`,
    });
  }
}

export const trainingSpecSchema = trainingFields.superRefine(checkTruncation).meta({ id: 'TrainingSpec' });

const tf = trainingFields.shape;

/**
 * The training section as a request gives it: the sizes and the learning rate without their
 * defaults, so that what a client left out can be chosen for its corpus (see ml/fit.ts).
 */
export const trainingSpecRequestSchema = trainingFields
  .extend({
    batchSize: tf.batchSize.unwrap().optional(),
    seqLength: tf.seqLength.unwrap().optional(),
    learningRate: tf.learningRate.unwrap().optional(),
  })
  .superRefine(checkTruncation);

export const runConfigSchema = z
  .object({
    tokenizer: tokenizerSpecSchema.prefault({}),
    model: modelSpecSchema.prefault({}),
    training: trainingSpecSchema.prefault({}),
  })
  .strict()
  .meta({ id: 'RunConfig', description: 'The settings a job trains with, every default filled in.' });

export type TokenizerSpec = z.infer<typeof tokenizerSpecSchema>;
export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type TruncationSpec = z.infer<typeof truncationSchema>;
export type TrainingSpec = z.infer<typeof trainingSpecSchema>;
export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;

/** The model's shape once the vocabulary is known: what the weights need to be rebuilt. */
export type ModelConfig = ModelSpec & { vocabSize: number };
