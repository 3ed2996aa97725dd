/**
 * Command-line parsing for `rnnlm`: argv in, a validated invocation out. It does no I/O, so
 * every usage error can be tested without spawning a process; bad arguments throw
 * {@link UsageError}, which the entry point turns into exit code 2. Hyperparameters are
 * checked against the same zod schema the engine uses, with zod's field paths mapped back to
 * the flags that set them (./config-flags.ts); the help text is in ./usage.ts.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { isRnnlmError } from '../errors.js';
import { EXPORT_FORMATS, type ExportFormat } from '../export/source.js';
import { trainingSpecSchema, type RunConfigInput } from '../ml/config.js';
import type { GenerateOptions } from '../ml/generate/generate.js';
import { validateSamplingOptions } from '../ml/generate/logits.js';
import {
  CONFIG_FLAGS,
  configFromFlags,
  describeIssue,
  parseNumber,
  RESUMABLE_FLAGS,
  type ConfigFlag,
  type Values,
} from './config-flags.js';
import { COMMANDS, DEFAULT_MAX_TOKENS, MAX_VAL_FRACTION, UsageError, type CommandName } from './usage.js';

export { COMMANDS, usage, UsageError, type CommandName } from './usage.js';

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
