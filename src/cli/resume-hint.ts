import type { TrainArgs } from './args.js';

/** `value` as one shell word: as is when it is plain, else single-quoted. */
export function shellWord(value: string): string {
  return /^[\w./@%+=:,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that continues an interrupted `rnnlm train` from `checkpointDir`, to print as
 * is: `--resume` needs the corpus, the output and the validation flags again, and only those.
 */
export function resumeCommand(
  args: Pick<TrainArgs, 'corpus' | 'out' | 'valFile' | 'valFraction'>,
  checkpointDir: string,
): string {
  const words = ['rnnlm', 'train', '--corpus', args.corpus, '--out', args.out];
  if (args.valFile !== undefined) words.push('--val-file', args.valFile);
  if (args.valFraction !== undefined) words.push('--val-fraction', String(args.valFraction));
  words.push('--resume', checkpointDir);
  return words.map(shellWord).join(' ');
}
