/**
 * Command-line parsing for `rnnlm`: argv in, a validated invocation out. It does no I/O, so
 * every usage error can be tested without spawning a process; bad arguments throw
 * {@link UsageError}, which the entry point turns into exit code 2. Hyperparameters are
 * checked against the same zod schema the engine uses, with zod's field paths mapped back to
 * the flags that set them.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { z } from 'zod';

import { isRnnlmError } from '../errors.js';
import { EXPORT_FORMATS, type ExportFormat } from '../export/source.js';
import { runConfigSchema, trainingSpecSchema, type RunConfigInput } from '../ml/config.js';
import type { GenerateOptions } from '../ml/generate/generate.js';
import { validateSamplingOptions } from '../ml/generate/logits.js';

export const COMMANDS = ['train', 'generate', 'score', 'export'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** A bad command line: the message names the offending flag; exit code 2. */
export class UsageError extends Error {
  /** The command whose usage applies, when one was recognised. */
  readonly command: CommandName | undefined;

  constructor(message: string, command?: CommandName) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export interface TrainArgs {
  corpus: string;
  out: string;
  valFile: string | undefined;
  /** Undefined leaves the engine's default hold-out share. */
  valFraction: number | undefined;
  resume: string | undefined;
  /** A model directory to fine-tune: its weights, tokenizer and architecture are the start. */
  initFrom: string | undefined;
  /** Only the hyperparameters given on the command line; the schema supplies the rest. */
  config: RunConfigInput;
  /** Flags that were given but have no effect because a resumed run keeps the checkpoint's settings. */
  ignoredOnResume: string[];
  json: boolean;
}

export interface GenerateArgs {
  model: string;
  options: Omit<GenerateOptions, 'signal'>;
  json: boolean;
}

export interface ScoreArgs {
  model: string;
  input: { file: string } | { text: string };
  context: string | undefined;
  json: boolean;
}

export interface ExportArgs {
  model: string;
  format: ExportFormat;
  out: string;
  force: boolean;
  json: boolean;
}

export type Invocation =
  | { command: 'help'; topic: CommandName | undefined }
  | { command: 'train'; args: TrainArgs }
  | { command: 'generate'; args: GenerateArgs }
  | { command: 'score'; args: ScoreArgs }
  | { command: 'export'; args: ExportArgs };

type ConfigFlag = { path: readonly string[]; kind: 'number' | 'string' | 'boolean' };

/** Every hyperparameter flag and where it lands in the run config. */
const CONFIG_FLAGS = {
  tokenizer: { path: ['tokenizer', 'type'], kind: 'string' },
  'vocab-size': { path: ['tokenizer', 'vocabSize'], kind: 'number' },
  cell: { path: ['model', 'cell'], kind: 'string' },
  layers: { path: ['model', 'layers'], kind: 'number' },
  hidden: { path: ['model', 'hiddenSize'], kind: 'number' },
  embedding: { path: ['model', 'embeddingSize'], kind: 'number' },
  dropout: { path: ['model', 'dropout'], kind: 'number' },
  'tie-weights': { path: ['model', 'tieWeights'], kind: 'boolean' },
  'batch-size': { path: ['training', 'batchSize'], kind: 'number' },
  'seq-length': { path: ['training', 'seqLength'], kind: 'number' },
  truncation: { path: ['training', 'truncation', 'mode'], kind: 'string' },
  partition: { path: ['training', 'partition'], kind: 'string' },
  optimizer: { path: ['training', 'optimizer'], kind: 'string' },
  lr: { path: ['training', 'learningRate'], kind: 'number' },
  'clip-norm': { path: ['training', 'clipNorm'], kind: 'number' },
  epochs: { path: ['training', 'epochs'], kind: 'number' },
  'max-steps': { path: ['training', 'maxSteps'], kind: 'number' },
  'max-minutes': { path: ['training', 'maxMinutes'], kind: 'number' },
  'eval-every': { path: ['training', 'evalEvery'], kind: 'number' },
  'checkpoint-every': { path: ['training', 'checkpointEvery'], kind: 'number' },
  seed: { path: ['training', 'seed'], kind: 'number' },
} as const satisfies Record<string, ConfigFlag>;

type ConfigFlagName = keyof typeof CONFIG_FLAGS;

/** The limits a resumed run may change; every other hyperparameter comes from the checkpoint. */
const RESUMABLE_FLAGS: ReadonlySet<ConfigFlagName> = new Set([
  'max-steps',
  'max-minutes',
  'epochs',
  'eval-every',
  'checkpoint-every',
]);

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean };

// --help and -h are found before parsing (see parseCommandLine), so no command declares them.
const TRAIN_OPTIONS: Record<string, OptionSpec> = {
  corpus: { type: 'string' },
  out: { type: 'string' },
  'val-file': { type: 'string' },
  'val-fraction': { type: 'string' },
  resume: { type: 'string' },
  'init-from': { type: 'string' },
  json: { type: 'boolean' },
  ...Object.fromEntries(
    Object.entries(CONFIG_FLAGS).map(([name, flag]: [string, ConfigFlag]) => [
      name,
      { type: flag.kind === 'boolean' ? 'boolean' : 'string' },
    ]),
  ),
};

const GENERATE_OPTIONS = {
  model: { type: 'string' },
  prompt: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  stop: { type: 'string', multiple: true },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies Record<string, OptionSpec>;

const SCORE_OPTIONS = {
  model: { type: 'string' },
  file: { type: 'string' },
  text: { type: 'string' },
  context: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies Record<string, OptionSpec>;

const EXPORT_OPTIONS = {
  model: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies Record<string, OptionSpec>;

/** generate's own default; the engine requires the caller to choose one. */
const DEFAULT_MAX_TOKENS = 200;
/** splitText accepts hold-out shares up to one half. */
const MAX_VAL_FRACTION = 0.5;

/** The schema's defaults, shown in the help text so that it cannot drift from them. */
const d = runConfigSchema.parse({});

const MAIN_USAGE = `Usage: rnnlm <command> [options]

Commands:
  train      train a model on a text file
  generate   sample text from a trained model
  score      measure how well a model predicts a text (perplexity, bits per character)
  export     convert a model to ONNX or TensorFlow.js Layers, tokenizer included

Run "rnnlm <command> --help" for the options of a command.
Progress goes to stderr, results to stdout; --json prints the result as one JSON line.
`;

const TRAIN_USAGE = `Usage: rnnlm train --corpus FILE --out DIR [options]

Trains a model on a UTF-8 text file and writes it to DIR (replaced if it exists).

Data:
  --corpus FILE           training text (required)
  --out DIR               model directory to write (required)
  --val-file FILE         validation text, instead of holding out part of the corpus
  --val-fraction F        share of the corpus held out for validation, 0 to ${MAX_VAL_FRACTION} (default 0.1; 0 = none)
Tokenizer:
  --tokenizer TYPE        char | word | bpe (default ${d.tokenizer.type})
  --vocab-size N          bpe: target vocabulary size; word: vocabulary cap
Model:
  --cell TYPE             lstm | gru | rnn (default ${d.model.cell})
  --layers N              recurrent layers (default ${d.model.layers})
  --hidden N              hidden units per layer (default ${d.model.hiddenSize})
  --embedding N           embedding size (default ${d.model.embeddingSize})
  --dropout P             dropout probability (default ${d.model.dropout})
  --tie-weights           share the embedding with the output layer (needs --embedding = --hidden)
Training:
  --batch-size N          parallel streams per step (default ${d.training.batchSize})
  --seq-length N          backpropagation-through-time length (default ${d.training.seqLength})
  --truncation MODE       fixed | variable | randomized | none (default ${d.training.truncation.mode})
  --partition MODE        sequential | random (default ${d.training.partition})
  --optimizer NAME        adam | sgd | rmsprop (default ${d.training.optimizer})
  --lr RATE               learning rate (default ${d.training.learningRate})
  --clip-norm N           clip the global gradient norm, 0 = off (default ${d.training.clipNorm})
  --epochs N              passes over the training text (default ${d.training.epochs})
  --max-steps N           stop after N steps
  --max-minutes M         stop after M minutes
  --eval-every N          evaluate every N steps (validation also runs after each epoch)
  --checkpoint-every N    write a checkpoint every N steps (and on Ctrl-C) to DIR.checkpoint
  --resume CKPT           continue from the checkpoint in CKPT; give --corpus (and the same
                          validation flags) again. Only --max-steps, --max-minutes, --epochs,
                          --eval-every and --checkpoint-every may change; checkpoints go to CKPT
  --init-from DIR         fine-tune the model in DIR: start from its weights, tokenizer and
                          architecture (model and tokenizer flags may only repeat them;
                          --dropout may change); text it cannot encode becomes <unk>
  --seed N                random seed (default: random)
Output:
  --json                  print the result as one JSON line on stdout
  -h, --help              show this help
`;

const GENERATE_USAGE = `Usage: rnnlm generate --model DIR [options]

Samples text from a trained model and streams it to stdout.

  --model DIR             model directory written by "rnnlm train" (required)
  --prompt TEXT           text to continue (default: start of a line)
  --max-tokens N          tokens to sample at most (default ${DEFAULT_MAX_TOKENS})
  --temperature T         0 = greedy; below 1 is more conservative, above 1 more random (default 1)
  --top-k N               sample from the N most likely tokens only (0 = off)
  --top-p P               nucleus sampling: the smallest set of tokens with probability >= P
  --stop STR              stop before STR (repeatable); STR is not printed
  --seed N                sampler seed: the same seed gives the same text
  --json                  print {"text","tokens","finishReason"} as one JSON line instead
  -h, --help              show this help
`;

const SCORE_USAGE = `Usage: rnnlm score --model DIR (--file FILE | --text TEXT) [options]

Scores a text under a trained model: negative log-likelihood, perplexity, bits per character.

  --model DIR             model directory written by "rnnlm train" (required)
  --file FILE             UTF-8 text file to score
  --text TEXT             text to score
  --context TEXT          text the model reads first; it is not scored
  --json                  print the result as one JSON line
  -h, --help              show this help
`;

const EXPORT_USAGE = `Usage: rnnlm export --model DIR --format onnx|tfjs --out PATH [options]

Converts a trained model for other runtimes; the tokenizer travels with it.

  --model DIR             model directory written by "rnnlm train" (required)
  --format FORMAT         onnx: one .onnx file (tokenizer in its metadata_props under "rnnlm");
                          tfjs: a directory with model.json and its weight shard, for
                          tf.loadLayersModel (tokenizer in userDefinedMetadata.rnnlm) (required)
  --out PATH              the .onnx file or the tfjs directory to write (required)
  --force                 replace PATH if it exists
  --json                  print {"format","files"} as one JSON line
  -h, --help              show this help
`;

/** The help text of a command, or the overview without one. */
export function usage(command?: CommandName): string {
  switch (command) {
    case undefined:
      return MAIN_USAGE;
    case 'train':
      return TRAIN_USAGE;
    case 'generate':
      return GENERATE_USAGE;
    case 'score':
      return SCORE_USAGE;
    case 'export':
      return EXPORT_USAGE;
  }
}

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly (string | undefined)[]).includes(word);
}

/**
 * Parses a full command line (without the node and script paths).
 *
 * @throws UsageError naming the offending flag for anything that is not a valid invocation.
 */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0];
    return { command: 'help', topic: isCommand(topic) ? topic : undefined };
  }
  if (!isCommand(first)) {
    throw new UsageError(
      first.startsWith('-')
        ? `expected a command (${COMMANDS.join(', ')}) before ${first}`
        : `unknown command "${first}" (expected ${COMMANDS.join(', ')})`,
    );
  }
  // Help wins over every other problem, so `rnnlm train --help` works without --corpus.
  if (rest.some((arg) => arg === '--help' || arg === '-h')) return { command: 'help', topic: first };
  switch (first) {
    case 'train':
      return { command: 'train', args: parseTrainArgs(rest) };
    case 'generate':
      return { command: 'generate', args: parseGenerateArgs(rest) };
    case 'score':
      return { command: 'score', args: parseScoreArgs(rest) };
    case 'export':
      return { command: 'export', args: parseExportArgs(rest) };
  }
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A negative number, which node:util would take for a flag when it follows one as a separate word. */
const NEGATIVE_NUMBER = /^-\.?\d/;

function parseOptions(
  command: CommandName,
  args: readonly string[],
  options: Record<string, OptionSpec>,
): Values {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const option = arg.startsWith('--') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      // `--layers -2` is then judged by the flag's own rules instead of failing as ambiguous.
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  try {
    return parseArgs({ args: joined, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), command);
  }
}

/** node:util's messages span lines and suggest `--` tricks; keep the part that names the flag. */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  const quoted = /'([^' ]+)/.exec(message)?.[1];
  if (quoted === undefined) return message;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${quoted}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}" (every value needs a flag, e.g. --text "...")`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('does not take an argument')) return `${quoted} takes no value`;
      if (message.includes('ambiguous')) {
        return `${quoted} needs a value (write ${quoted}=VALUE for one that starts with "-")`;
      }
      return `${quoted} needs a value`;
    default:
      return message;
  }
}

function stringValue(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string, command: CommandName): string {
  const value = stringValue(values, name);
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${name}`, command);
  return value;
}

function parseNumber(flag: string, raw: string, command: CommandName): number {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value)) {
    throw new UsageError(`--${flag} expects a number, got ${JSON.stringify(raw)}`, command);
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const child = node[key];
    if (typeof child === 'object' && child !== null) {
      node = child as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  node[path.at(-1) as string] = value;
}

const FLAG_BY_PATH = new Map<string, ConfigFlagName>(
  Object.entries(CONFIG_FLAGS).map(([name, flag]) => [flag.path.join('.'), name as ConfigFlagName]),
);

/** One zod issue as a sentence about flags: `--layers must be >= 1 (got "0")`. */
function describeIssue(issue: z.core.$ZodIssue, given: ReadonlyMap<string, string>): string {
  const key = issue.path.join('.');
  const name = FLAG_BY_PATH.get(key);
  const flag = name === undefined ? key : `--${name}`;
  const raw = name === undefined ? undefined : given.get(name);
  const got = raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`;
  switch (issue.code) {
    case 'too_small':
      return `${flag} must be ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}${got}`;
    case 'too_big':
      return `${flag} must be ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}${got}`;
    case 'invalid_value':
      return `${flag} must be one of ${issue.values.map(String).join(', ')}${got}`;
    case 'invalid_type':
      return `${flag} must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}${got}`;
    case 'custom':
    case 'invalid_format':
    case 'not_multiple_of':
    case 'unrecognized_keys':
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
      return `${flag}: ${renameFields(issue.message, issue.path)}`;
  }
}

/** Cross-field messages name schema fields (`tieWeights needs embeddingSize…`); say flags instead. */
function renameFields(message: string, path: readonly PropertyKey[]): string {
  const parent = path.slice(0, -1).join('.');
  let text = message;
  for (const [name, flag] of Object.entries(CONFIG_FLAGS) as [string, ConfigFlag][]) {
    const field = flag.path.at(-1);
    if (field !== undefined && flag.path.slice(0, -1).join('.') === parent) {
      text = text.replaceAll(new RegExp(`\\b${field}\\b`, 'g'), `--${name}`);
    }
  }
  return text;
}

/** Builds the explicit part of the run config from the flags and validates it with the schema. */
function configFromFlags(values: Values): { config: RunConfigInput; given: Map<ConfigFlagName, string> } {
  const input: Record<string, unknown> = {};
  const given = new Map<ConfigFlagName, string>();
  for (const [name, flag] of Object.entries(CONFIG_FLAGS) as [ConfigFlagName, ConfigFlag][]) {
    const value = values[name];
    if (value === undefined) continue;
    if (flag.kind === 'boolean') {
      given.set(name, 'true');
      setPath(input, flag.path, true);
    } else if (typeof value === 'string') {
      given.set(name, value);
      setPath(input, flag.path, flag.kind === 'number' ? parseNumber(name, value, 'train') : value);
    }
  }
  const parsed = runConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = [...new Set(parsed.error.issues.map((issue) => describeIssue(issue, given)))];
    throw new UsageError(problems.join('; '), 'train');
  }
  // The schema accepted it. It is passed on unparsed so that a resumed run can tell the flags
  // that were given from the defaults the schema would fill in.
  return { config: input, given };
}

/** Parses the arguments after `rnnlm train`. */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const values = parseOptions('train', argv, TRAIN_OPTIONS);
  const corpus = required(values, 'corpus', 'train');
  const out = required(values, 'out', 'train');
  const valFile = stringValue(values, 'val-file');
  const valFractionRaw = stringValue(values, 'val-fraction');
  if (valFile !== undefined && valFractionRaw !== undefined) {
    throw new UsageError('--val-file and --val-fraction cannot be used together', 'train');
  }
  let valFraction: number | undefined;
  if (valFractionRaw !== undefined) {
    valFraction = parseNumber('val-fraction', valFractionRaw, 'train');
    if (valFraction < 0 || valFraction > MAX_VAL_FRACTION) {
      throw new UsageError(
        `--val-fraction must be between 0 and ${MAX_VAL_FRACTION} (got ${JSON.stringify(valFractionRaw)})`,
        'train',
      );
    }
  }
  const resume = stringValue(values, 'resume');
  if (resume !== undefined && resolve(resume) === resolve(out)) {
    // The checkpoint directory is removed once the model is written.
    throw new UsageError('--out must differ from the --resume directory', 'train');
  }
  const initFrom = stringValue(values, 'init-from');
  if (initFrom !== undefined && resume !== undefined) {
    throw new UsageError(
      '--init-from and --resume cannot be used together (a checkpoint has its own weights)',
      'train',
    );
  }
  const { config, given } = configFromFlags(values);
  return {
    corpus,
    out,
    valFile,
    valFraction,
    resume,
    initFrom,
    config,
    ignoredOnResume:
      resume === undefined
        ? []
        : [...given.keys()].filter((f) => !RESUMABLE_FLAGS.has(f)).map((f) => `--${f}`),
    json: values.json === true,
  };
}

const SAMPLING_FLAGS: Record<string, string> = {
  temperature: '--temperature',
  topK: '--top-k',
  topP: '--top-p',
};

/** Parses the arguments after `rnnlm generate`. */
export function parseGenerateArgs(argv: readonly string[]): GenerateArgs {
  const values = parseOptions('generate', argv, GENERATE_OPTIONS);
  const model = required(values, 'model', 'generate');
  const number = (name: string): number | undefined => {
    const raw = stringValue(values, name);
    return raw === undefined ? undefined : parseNumber(name, raw, 'generate');
  };
  const maxTokens = number('max-tokens') ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new UsageError(`--max-tokens must be an integer >= 0 (got ${maxTokens})`, 'generate');
  }
  const seed = number('seed');
  // Sampler seeds follow the same rule as training seeds.
  const seedCheck = trainingSpecSchema.shape.seed.safeParse(seed);
  if (!seedCheck.success) {
    const given = new Map([['seed', stringValue(values, 'seed') ?? '']]);
    const problems = seedCheck.error.issues.map((issue) =>
      describeIssue({ ...issue, path: ['training', 'seed'] }, given),
    );
    throw new UsageError(problems.join('; '), 'generate');
  }
  const stop = values.stop;
  const options: GenerateArgs['options'] = {
    prompt: stringValue(values, 'prompt'),
    maxTokens,
    temperature: number('temperature'),
    topK: number('top-k'),
    topP: number('top-p'),
    stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string') : undefined,
    seed,
  };
  try {
    validateSamplingOptions(options);
  } catch (err) {
    const field = isRnnlmError(err) ? err.details?.field : undefined;
    const flag = typeof field === 'string' ? SAMPLING_FLAGS[field] : undefined;
    if (!isRnnlmError(err) || flag === undefined || typeof field !== 'string') throw err;
    const message = err.message.startsWith(field) ? err.message.slice(field.length) : `: ${err.message}`;
    throw new UsageError(`${flag}${message}`, 'generate');
  }
  return { model, options, json: values.json === true };
}

/** Parses the arguments after `rnnlm score`. */
export function parseScoreArgs(argv: readonly string[]): ScoreArgs {
  const values = parseOptions('score', argv, SCORE_OPTIONS);
  const model = required(values, 'model', 'score');
  const file = stringValue(values, 'file');
  const text = stringValue(values, 'text');
  let input: ScoreArgs['input'];
  if (file !== undefined && text !== undefined) {
    throw new UsageError('give either --file or --text, not both', 'score');
  } else if (file !== undefined) {
    input = { file };
  } else if (text !== undefined) {
    input = { text };
  } else {
    throw new UsageError('missing required flag --file or --text', 'score');
  }
  return {
    model,
    input,
    context: stringValue(values, 'context'),
    json: values.json === true,
  };
}

/** Parses the arguments after `rnnlm export`. */
export function parseExportArgs(argv: readonly string[]): ExportArgs {
  const values = parseOptions('export', argv, EXPORT_OPTIONS);
  const model = required(values, 'model', 'export');
  const format = required(values, 'format', 'export');
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `--format must be one of ${EXPORT_FORMATS.join(', ')} (got ${JSON.stringify(format)})`,
      'export',
    );
  }
  return {
    model,
    format: format as ExportFormat,
    out: required(values, 'out', 'export'),
    force: values.force === true,
    json: values.json === true,
  };
}
