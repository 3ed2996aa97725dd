/** The bench's command line: `npm run bench [-- --quick] [...]`. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface Options {
  quick: boolean;
  /** Wall-clock budget per side of the equal-time quality run (0 skips it). */
  qualityMinutes: number;
  /** Steps per side of the equal-steps quality run (0 skips it). */
  qualitySteps: number;
  /** Interleaved rounds of the throughput measures. */
  rounds: number;
  out: string;
  /** The native kernels (`off` measures the pure-tfjs path). */
  native: 'on' | 'off';
  /** rnnlm's kernel threads, and the threads the machine's measures run with. */
  threads: number;
  /** Skip the service measure (an API process under autocannon). */
  service: boolean;
}

export const USAGE =
  'usage: npm run bench [-- --quick] [--quality-minutes N] [--quality-steps N] [--rounds N] [--out FILE] [--native on|off] [--threads N] [--no-service]';

function defaults(quick: boolean): Options {
  return {
    quick,
    qualityMinutes: quick ? 0.25 : 10,
    qualitySteps: quick ? 30 : 3000,
    rounds: 3,
    out: join(here, 'results', 'latest.json'),
    native: 'on',
    threads: 2,
    service: true,
  };
}

/** Parses the flags; `--help` prints the usage and exits. */
export function parseArgs(argv: string[]): Options {
  const opts = defaults(argv.includes('--quick'));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const v = Number(value());
      if (!(v >= 0)) throw new Error(`${a} takes a number >= 0`);
      return v;
    };
    if (a === '--quick') continue;
    // --minutes is the flag's old name.
    else if (a === '--quality-minutes' || a === '--minutes') opts.qualityMinutes = count();
    else if (a === '--quality-steps') opts.qualitySteps = Math.round(count());
    else if (a === '--rounds') opts.rounds = Math.max(opts.quick ? 1 : 3, count());
    else if (a === '--threads') opts.threads = Math.max(1, Math.round(count()));
    else if (a === '--out') opts.out = resolve(value());
    else if (a === '--no-service') opts.service = false;
    else if (a === '--native') {
      const v = value();
      if (v !== 'on' && v !== 'off') throw new Error('--native takes on or off');
      opts.native = v;
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return opts;
}
