/** The bench's result record (bench/results/*.json) and the tables printed from it. */
import type { QualityResult } from './quality.js';
import type { ServiceRow } from './service.js';
import { best, describeSetting, TORCH_SETTINGS, type PerSetting, type TorchSetting } from './torch.js';

export interface TorchThroughput {
  tokPerSec: number;
  gflops: number;
  /** GFLOP/s ÷ the sgemm ceiling measured in the same run. */
  ceilingShare: number;
  steps: number;
}

export interface TrainResult {
  config: string;
  hidden: number;
  embedding: number;
  batch: number;
  steps: number;
  rnnlm: TorchThroughput;
  torch: PerSetting<TorchThroughput>;
  /** rnnlm tok/s ÷ torch's best setting's tok/s. */
  ratio: number;
  /** Per-round ratios against the winning setting, a sense of the noise. */
  roundRatios: number[];
  flopsPerToken: number;
}

export interface ScoreResult {
  config: string;
  rnnlm: TorchThroughput;
  torch: PerSetting<TorchThroughput>;
  ratio: number;
  flopsPerToken: number;
}

export interface GenerateResult {
  config: string;
  rnnlmMsPerToken: number;
  torch: PerSetting<{ msPerToken: number }>;
  /** torch's best ms/token ÷ rnnlm's (> 1: rnnlm faster). */
  ratio: number;
}

export interface BenchResult {
  date: string;
  mode: string;
  machine: {
    cpu: string;
    cores: number;
    torch: string;
    sgemmGflops: number;
    sgemm: PerSetting<{ gflops: number }>;
    loadAvg: number[];
  };
  backend: string;
  nativeKernels: { library: string; isa: string; threads: number } | null | undefined;
  rnnlmThreads: number;
  train: TrainResult[];
  score: ScoreResult;
  generate: GenerateResult;
  service: ServiceRow[];
  quality: { equalTime: QualityResult | null; equalSteps: QualityResult | null };
  crossCheck: {
    config: string;
    rnnlmLoss: number;
    torchLoss: number;
    maxAbsDiff: number;
    pass: boolean;
  };
  seconds: number;
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const pct = (x: number) => `${fmt(100 * x, 1)} %`;

/** "1x2 14,200 · 2x2 3,100 …": every setting's figure, for the JSON-less reader. */
function allSettings<T>(p: PerSetting<T>, figure: (v: T) => string): string {
  return TORCH_SETTINGS.flatMap((s: TorchSetting) => {
    const v = p.settings[s];
    return v === undefined ? [] : [`${s} ${figure(v)}`];
  }).join(' · ');
}

function qualityRow(name: string, q: QualityResult | null, skipped: string): string {
  if (q === null) return `| ${name} | ${skipped} | | | | |`;
  const w = best(q.torch);
  return `| ${name} (${q.budget}; steps r/t ${q.rnnlm.steps}/${w.steps}) | ${fmt(q.rnnlm.valNatsPerChar, 4)} | ${fmt(w.valNatsPerChar, 4)} | ${describeSetting(q.torch.winner)} | ${fmt(q.gap, 4)} (torch − rnnlm) | ${allSettings(q.torch, (t) => fmt(t.valNatsPerChar, 4))} |`;
}

export function renderReport(r: BenchResult, out: string): string {
  const lines: string[] = [];
  const kernels = r.nativeKernels;
  lines.push(
    `rnnlm bench (${r.mode}) ${r.date} — ${r.machine.cpu}, ${r.machine.cores} cores; rnnlm ${r.backend}${kernels === null || kernels === undefined ? ' (tfjs only)' : ` + native kernels (${kernels.library}, ${kernels.isa})`}, ${r.rnnlmThreads} threads, vs torch ${r.machine.torch} at its best of ${TORCH_SETTINGS.length} thread settings (intra-op × BLAS: ${TORCH_SETTINGS.join(', ')}); sgemm ceiling ${fmt(r.machine.sgemmGflops, 1)} GFLOP/s (${r.machine.sgemm.winner}); load avg ${r.machine.loadAvg.map((l) => l.toFixed(2)).join(' → ')}`,
  );
  lines.push('');
  lines.push(
    '| training (2-layer LSTM, Adam, clip 5) | rnnlm tok/s | torch tok/s (best) | torch setting | rnnlm ÷ torch | rnnlm % ceiling | torch % ceiling | steps (r/t) | every torch setting, tok/s |',
  );
  lines.push('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |');
  for (const t of r.train) {
    const w = best(t.torch);
    lines.push(
      `| ${t.config} | ${fmt(t.rnnlm.tokPerSec)} | ${fmt(w.tokPerSec)} | ${describeSetting(t.torch.winner)} | ${fmt(t.ratio, 2)}× | ${pct(t.rnnlm.ceilingShare)} | ${pct(w.ceilingShare)} | ${t.rnnlm.steps}/${w.steps} | ${allSettings(t.torch, (x) => fmt(x.tokPerSec))} |`,
    );
  }
  lines.push('');
  const s = r.score;
  const sw = best(s.torch);
  const g = r.generate;
  lines.push(
    '| measure | rnnlm | torch (best) | torch setting | ratio (> 1: rnnlm better) | every torch setting |',
  );
  lines.push('| --- | ---: | ---: | --- | ---: | --- |');
  lines.push(
    `| scoring tok/s (${s.config}, forward only; % of ceiling r/t ${pct(s.rnnlm.ceilingShare)} / ${pct(sw.ceilingShare)}) | ${fmt(s.rnnlm.tokPerSec)} | ${fmt(sw.tokPerSec)} | ${describeSetting(s.torch.winner)} | ${fmt(s.ratio, 2)}× | ${allSettings(s.torch, (x) => fmt(x.tokPerSec))} |`,
  );
  lines.push(
    `| generation ms/token (batch 1, ${g.config}) | ${fmt(g.rnnlmMsPerToken, 3)} | ${fmt(best(g.torch).msPerToken, 3)} | ${describeSetting(g.torch.winner)} | ${fmt(g.ratio, 2)}× | ${allSettings(g.torch, (x) => fmt(x.msPerToken, 3))} |`,
  );
  lines.push('');
  lines.push('| validation nats/char | rnnlm | torch (best) | torch setting | gap | every torch setting |');
  lines.push('| --- | ---: | ---: | --- | ---: | --- |');
  lines.push(qualityRow('equal time, rnnlm via `rnnlm train --max-minutes`', r.quality.equalTime, 'skipped'));
  lines.push(qualityRow('equal steps, same batches', r.quality.equalSteps, 'skipped'));
  lines.push('');
  const c = r.crossCheck;
  lines.push(
    `cross-check (${c.config}, same weights and batch): rnnlm loss ${c.rnnlmLoss.toFixed(6)}, torch ${c.torchLoss.toFixed(6)}, max abs Δ per token ${c.maxAbsDiff.toExponential(2)} — ${c.pass ? 'agrees to 1e-4' : 'MISMATCH'}`,
  );
  lines.push('');
  lines.push(
    '| through the service (autocannon, one API process) | connections | ok req/s | p50 ms | p99 ms | statuses | socket errors / timeouts |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | --- | ---: |');
  for (const row of r.service) {
    const statuses = Object.entries(row.statusCodes)
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ');
    lines.push(
      `| ${row.route} | ${row.connections} | ${fmt(row.okPerSec, 1)} | ${fmt(row.p50Ms)} | ${fmt(row.p99Ms)} | ${statuses} | ${row.errors} / ${row.timeouts} |`,
    );
  }
  lines.push('');
  lines.push(`wrote ${out} in ${fmt(r.seconds)} s`);
  return lines.join('\n');
}
