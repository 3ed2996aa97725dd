/** The machine's part of the printed report: what the CPU is and what it can do. */
import { fmt } from './common.js';
import type { Machine } from './machine.js';

export function machineHeader(m: Machine): string {
  const coretype = m.openblasCoretypeEnv === null ? 'not set' : `=${m.openblasCoretypeEnv}`;
  return `${m.cpu}, ${m.cores} cores, ${m.isa}${m.isa === 'AVX-512' ? '' : ' only'} (/proc/cpuinfo); OPENBLAS_CORETYPE ${coretype}, OpenBLAS runs its ${m.openblasCoretype} kernels; ${m.onednn} dispatches ${m.onednnIsa}; load avg ${m.loadAvg.map((l) => l.toFixed(2)).join(' → ')}`;
}

/**
 * A warning when other work ran: OpenMP's spinning threads make oneDNN's two-thread figures
 * (the bound above all) collapse first on a loaded machine. The bench's own processes bring
 * the load to about the core count (up to 3 on 2 cores in quiet runs), so the line is drawn
 * at twice that.
 */
function loadWarning(m: Machine): string[] {
  const load = Math.max(...m.loadAvg.filter(Number.isFinite));
  if (!(load > 2 * m.cores)) return [];
  return [
    `WARNING: load average ${load.toFixed(2)} on ${m.cores} cores: other work ran beside the bench, so these figures are not a reference (the bound least of all).`,
    '',
  ];
}

export function machineTables(m: Machine): string[] {
  const lines = [
    ...loadWarning(m),
    `FMA peak (bench/native/fma.c, ${m.fma.isa}, ${m.threads} threads): ${fmt(m.fma.gflops, 1)} GFLOP/s (${fmt(m.fma.perThread, 1)} a thread)`,
    '',
    `| sgemm at the step's shapes, ${m.threads} threads, GFLOP/s | OpenBLAS (${m.openblasCoretype}) | ${m.onednn} | oneDNN ÷ OpenBLAS | oneDNN % FMA peak |`,
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const s of m.sgemm) {
    lines.push(
      `| ${s.name}: [${s.m}, ${s.k}]×[${s.k}, ${s.n}] | ${fmt(s.openblasGflops, 1)} | ${fmt(s.onednnGflops, 1)} | ${fmt(s.onednnGflops / s.openblasGflops, 2)}× | ${fmt((100 * s.onednnGflops) / m.fma.gflops, 1)} % |`,
    );
  }
  lines.push(
    '',
    `| the bound: ${m.onednn} LSTM primitive, one layer (I = H), ${m.threads} threads | forward tok/s | forward + backward tok/s | forward + backward GFLOP/s | 2-layer training bound tok/s | 2-layer forward bound tok/s |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const b of m.bound) {
    lines.push(
      `| ${b.config} | ${fmt(b.forwardTokPerSec)} | ${fmt(b.trainingTokPerSec)} | ${fmt(b.trainingGflops, 1)} | ${fmt(b.twoLayerTrainingTokPerSec)} | ${fmt(b.twoLayerForwardTokPerSec)} |`,
    );
  }
  return lines;
}
