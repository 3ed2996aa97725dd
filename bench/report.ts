/** The tables `npm run bench` prints from its result record. */
import { fmt, pct } from './common.js';
import { ORT_SETTINGS, describeOrtSetting, ORT_VERSION } from './ort.js';
import type { QualityResult } from './quality.js';
import { machineHeader, machineTables } from './report-machine.js';
import type { BenchResult, GenerateResult, ScoreLongResult, ScoreResult } from './result.js';
import { serviceTable } from './service.js';
import { allSettings, best } from './settings.js';
import { describeSetting, TORCH_SETTINGS } from './torch.js';

function qualityRow(name: string, q: QualityResult | null): string {
  if (q === null) return `| ${name} | skipped | | | | |`;
  const w = best(q.torch);
  return `| ${name} (${q.budget}; steps r/t ${q.rnnlm.steps}/${w.steps}) | ${fmt(q.rnnlm.valNatsPerChar, 4)} | ${fmt(w.valNatsPerChar, 4)} | ${describeSetting(q.torch.winner)} | ${fmt(q.gap, 4)} (torch − rnnlm) | ${allSettings(TORCH_SETTINGS, q.torch, (t) => fmt(t.valNatsPerChar, 4))} |`;
}

function trainTable(r: BenchResult): string[] {
  const lines = [
    '| training (2-layer LSTM, Adam, clip 5) | rnnlm tok/s | torch tok/s (best) | torch setting | rnnlm ÷ torch | 2-layer bound tok/s | rnnlm % bound | torch % bound | rnnlm % FMA peak | steps (r/t) | every torch setting, tok/s |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const t of r.train) {
    const w = best(t.torch);
    lines.push(
      `| ${t.config} | ${fmt(t.rnnlm.tokPerSec)} | ${fmt(w.tokPerSec)} | ${describeSetting(t.torch.winner)} | ${fmt(t.ratio, 2)}× | ${fmt(t.bound.tokPerSec)} | ${pct(t.bound.rnnlm)} | ${pct(t.bound.torch)} | ${pct(t.rnnlm.peakShare)} | ${t.rnnlm.steps}/${w.steps} | ${allSettings(TORCH_SETTINGS, t.torch, (x) => fmt(x.tokPerSec))} |`,
    );
  }
  return lines;
}

function scoreRow(s: ScoreResult): string {
  const o = best(s.ort);
  const t = best(s.torch);
  return `| scoring tok/s (${s.config}, forward + NLL; rnnlm at ${pct(s.bound.rnnlm)} of the 2-layer forward bound, ORT's JS NLL ${pct(s.ortNllShare)} of its time) | ${fmt(s.rnnlm.tokPerSec)} | ${fmt(o.tokPerSec)} (${describeOrtSetting(s.ort.winner)}) | ${fmt(s.ortRatio, 2)}× | ${fmt(t.tokPerSec)} (${describeSetting(s.torch.winner)}) | ${fmt(s.ratio, 2)}× | ORT ${allSettings(ORT_SETTINGS, s.ort, (x) => fmt(x.tokPerSec))}; torch ${allSettings(TORCH_SETTINGS, s.torch, (x) => fmt(x.tokPerSec))} |`;
}

function scoreLongRow(s: ScoreLongResult): string {
  const o = best(s.ort);
  return `| exact scoring tok/s, ${s.characters.toLocaleString('en')} characters (${s.config}; meanNll ${fmt(s.rnnlm.meanNll, 6)}, Δ ORT ${s.meanNllAbsDiff.toExponential(1)}${s.pass ? '' : ' MISMATCH'}) | ${fmt(s.rnnlm.tokPerSec)} | ${fmt(o.tokPerSec)} (${describeOrtSetting(s.ort.winner)}) | ${fmt(s.ortRatio, 2)}× | – | – | ORT ${allSettings(ORT_SETTINGS, s.ort, (x) => fmt(x.tokPerSec))} |`;
}

function generateRow(g: GenerateResult): string {
  const o = best(g.ort);
  const t = best(g.torch);
  return `| generation ms/token (batch 1, ${g.config}) | ${fmt(g.rnnlmMsPerToken, 3)} | ${fmt(o.msPerToken, 3)} (${describeOrtSetting(g.ort.winner)}) | ${fmt(g.ortRatio, 2)}× | ${fmt(t.msPerToken, 3)} (${describeSetting(g.torch.winner)}) | ${fmt(g.ratio, 2)}× | ORT ${allSettings(ORT_SETTINGS, g.ort, (x) => fmt(x.msPerToken, 3))}; torch ${allSettings(TORCH_SETTINGS, g.torch, (x) => fmt(x.msPerToken, 3))} |`;
}

function inferenceTable(r: BenchResult): string[] {
  return [
    `| inference (> 1×: rnnlm better) | rnnlm | onnxruntime ${ORT_VERSION} (best) | rnnlm vs ORT | torch (best) | rnnlm vs torch | every setting |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    scoreRow(r.score),
    scoreLongRow(r.scoreLong),
    generateRow(r.generate),
  ];
}

function header(r: BenchResult): string {
  const kernels = r.nativeKernels === null ? ' (tfjs only)' : ` + native kernels (${r.nativeKernels})`;
  return `rnnlm bench (${r.mode}) ${r.date} — ${machineHeader(r.machine)}\nrnnlm ${r.backend}${kernels}, ${r.rnnlmThreads} threads; torch ${r.machine.torch} at its best of ${TORCH_SETTINGS.length} thread settings (intra-op × BLAS: ${TORCH_SETTINGS.join(', ')}); onnxruntime-node ${ORT_VERSION} at its best of ${ORT_SETTINGS.length} (intra-op threads ${ORT_SETTINGS.join(', ')}; inter-op 1, sequential, graph optimisation all)`;
}

export function renderReport(r: BenchResult, out: string): string {
  const c = r.crossCheck;
  const lines = [
    header(r),
    '',
    ...machineTables(r.machine),
    '',
    ...trainTable(r),
    '',
    `training with dropout ${r.dropout.rate} (${r.dropout.config}): ${fmt(r.dropout.withTokPerSec)} tok/s against ${fmt(r.dropout.withoutTokPerSec)} without, ${r.dropout.ratio.toFixed(2)}× the speed (target ≥ 0.95×)`,
    '',
    ...inferenceTable(r),
    '',
    '| validation nats/char | rnnlm | torch (best) | torch setting | gap | every torch setting |',
    '| --- | ---: | ---: | --- | ---: | --- |',
    qualityRow('equal time, rnnlm via `rnnlm train --max-minutes`', r.quality.equalTime),
    qualityRow('equal steps, same batches', r.quality.equalSteps),
    '',
    `cross-check (${c.config}, same weights and batch): rnnlm loss ${c.rnnlmLoss.toFixed(6)}, torch ${c.torchLoss.toFixed(6)}, max abs Δ per token ${c.maxAbsDiff.toExponential(2)} — ${c.pass ? 'agrees to 1e-4' : 'MISMATCH'}`,
    '',
    ...(r.service === null ? ['service: skipped (--no-service)'] : serviceTable(r.service)),
    '',
    `wrote ${out} in ${fmt(r.seconds)} s`,
  ];
  return lines.join('\n');
}
