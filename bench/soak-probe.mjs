/**
 * Loaded with `--import` into every process of a soak run (bench/soak.ts): the API, the
 * workers, and through their exec arguments the training children they fork (plain JavaScript,
 * so it loads before any TypeScript hook). Every SOAK_PROBE_MS it appends one line of JSON
 * (a ProbeSample, see bench/soak-report.ts) to SOAK_PROBE_DIR/<pid>.jsonl: the process's resident
 * set, its V8 heap and its event-loop delay since the last line. Without SOAK_PROBE_DIR, and in
 * worker threads (the API's inference thread shares the process), it does nothing.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.SOAK_PROBE_DIR;
if (isMainThread && dir !== undefined && dir !== '') {
  const everyMs = Number(process.env.SOAK_PROBE_MS ?? 5000);
  const file = join(dir, `${process.pid}.jsonl`);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  /** @param {number} ns */
  const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : 0);
  const sample = () => {
    const memory = process.memoryUsage();
    const line = {
      t: Date.now(),
      pid: process.pid,
      ppid: process.ppid,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      eldMean: ms(delay.mean),
      eldP99: ms(delay.percentile(99)),
      eldMax: ms(delay.max),
    };
    delay.reset();
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  setInterval(sample, everyMs).unref();
}
