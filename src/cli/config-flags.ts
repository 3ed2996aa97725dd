/**
 * The hyperparameter flags of `rnnlm train`: where each lands in the run config, and zod's
 * issues on that config said back in terms of the flags that set the fields.
 */
import type { z } from 'zod';

import { runConfigSchema, type RunConfigInput } from '../ml/config.js';
import { UsageError, type CommandName } from './usage.js';

export type ConfigFlag = { path: readonly string[]; kind: 'number' | 'string' | 'boolean' };

/** Every hyperparameter flag and where it lands in the run config. */
export const CONFIG_FLAGS = {
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

export type ConfigFlagName = keyof typeof CONFIG_FLAGS;

/** The limits a resumed run may change; every other hyperparameter comes from the checkpoint. */
export const RESUMABLE_FLAGS: ReadonlySet<ConfigFlagName> = new Set([
  'max-steps',
  'max-minutes',
  'epochs',
  'eval-every',
  'checkpoint-every',
]);

/** The values node:util's parseArgs gives back. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parseNumber(flag: string, raw: string, command: CommandName): number {
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
export function describeIssue(issue: z.core.$ZodIssue, given: ReadonlyMap<string, string>): string {
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
export function configFromFlags(values: Values): {
  config: RunConfigInput;
  given: Map<ConfigFlagName, string>;
} {
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
