/**
 * Entry point of the `rnnlm` command (bin/rnnlm.js loads this module). Exit codes: 0 success,
 * 1 a failed run (`error [CODE]: message` on stderr), 2 a bad command line, 130 Ctrl-C.
 */
import { loadConfig } from '../config.js';
import { isRnnlmError } from '../errors.js';
import { parseCommandLine, usage, UsageError, type Invocation } from './args.js';
import type { CliIo } from './io.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function reportFailure(err: unknown, io: CliIo): number {
  if (isRnnlmError(err)) {
    io.stderr.write(`error [${err.code}]: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  io.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  // An uncoded error is most likely a bug; its stack is what a report needs.
  let verbose = false;
  try {
    verbose = ['debug', 'trace'].includes(loadConfig().RNNLM_LOG_LEVEL);
  } catch {
    // A bad environment was already reported as the error itself.
  }
  if (verbose && err instanceof Error && err.stack !== undefined) io.stderr.write(`${err.stack}\n`);
  return EXIT_FAILURE;
}

// Each command imports tfjs, so help and usage errors stay fast by loading only the one run.
async function dispatch(invocation: Invocation, io: CliIo): Promise<number> {
  switch (invocation.command) {
    case 'help':
      io.stdout.write(usage(invocation.topic));
      return 0;
    case 'train':
      return (await import('./commands/train.js')).runTrain(invocation.args, io);
    case 'generate':
      return (await import('./commands/generate.js')).runGenerate(invocation.args, io);
    case 'score':
      return (await import('./commands/score.js')).runScore(invocation.args, io);
    case 'export':
      return (await import('./commands/export.js')).runExport(invocation.args, io);
  }
}

/** Runs one command line (without the node and script paths) and returns its exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (argv.length === 0) {
      io.stderr.write(usage());
    } else {
      const help = err.command === undefined ? 'rnnlm --help' : `rnnlm ${err.command} --help`;
      io.stderr.write(`rnnlm: ${err.message}\nRun "${help}" for usage.\n`);
    }
    return EXIT_USAGE;
  }
  try {
    return await dispatch(invocation, io);
  } catch (err) {
    return reportFailure(err, io);
  }
}

// Setting exitCode instead of calling process.exit lets stdout drain when it is a pipe.
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
