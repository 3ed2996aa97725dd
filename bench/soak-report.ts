/**
 * What bench/soak.ts makes of a run: request rates and latencies per kind (overall and per
 * minute), each process's memory and event-loop delay over time with its RSS growth after the
 * warm-up, a table to print, and an SVG plot drawn by hand (no plotting dependency).
 */
/** One line of a probe file (bench/soak-probe.mjs). */
export interface ProbeSample {
  /** Epoch milliseconds. */
  t: number;
  pid: number;
  ppid: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Event-loop delay over the interval, ms. */
  eldMean: number;
  eldP99: number;
  eldMax: number;
}

/** One request the soak made: its kind, when it started, how long it took, its status (0: no answer). */
export interface Call {
  kind: string;
  t: number;
  ms: number;
  status: number;
  /** The API's error code, for a refusal or an error. */
  code?: string | undefined;
}

/** A 429 or a 503 the service gives by design under load; anything else not 2xx is an error. */
export function planned(call: Call): boolean {
  return call.status === 429 || call.status === 503;
}

export interface KindStats {
  count: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  refused: number;
  errors: number;
}

export interface ProcessSeries {
  name: string;
  pid: number;
  samples: ProbeSample[];
  /** RSS at the end over RSS just after the warm-up, minus one (undefined: too few samples). */
  rssGrowth?: number | undefined;
  heapGrowth?: number | undefined;
}

export interface SoakReport {
  startedAt: string;
  minutes: number;
  warmupMinutes: number;
  machine: { cpus: number; loadavgStart: number[]; loadavgEnd: number[] };
  kinds: Record<string, KindStats>;
  perMinute: { minute: number; kinds: Record<string, KindStats> }[];
  processes: ProcessSeries[];
  /** Training jobs the soak submitted, and how many times BullMQ took one for stalled. */
  jobs: { submitted: number; stalled: number };
  errors: Call[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function kindStats(calls: Call[], seconds: number): Record<string, KindStats> {
  const out: Record<string, KindStats> = {};
  for (const kind of [...new Set(calls.map((c) => c.kind))].sort()) {
    const mine = calls.filter((c) => c.kind === kind);
    const ms = mine.map((c) => c.ms).sort((a, b) => a - b);
    const refused = mine.filter(planned).length;
    const ok = mine.filter((c) => c.status >= 200 && c.status < 300).length;
    out[kind] = {
      count: mine.length,
      perSecond: mine.length / seconds,
      p50Ms: Math.round(percentile(ms, 50)),
      p99Ms: Math.round(percentile(ms, 99)),
      ok,
      refused,
      errors: mine.length - ok - refused,
    };
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * Growth after the warm-up (`fromT`): the median of the last fifth of the samples over the
 * median of the first fifth, minus one (medians, so that a garbage collection or a heap that
 * grows and shrinks in a sawtooth does not decide it); undefined with fewer than six samples.
 */
export function growth(samples: ProbeSample[], fromT: number, key: 'rss' | 'heapUsed'): number | undefined {
  const after = samples.filter((s) => s.t >= fromT);
  const n = Math.max(3, Math.floor(after.length / 5));
  if (after.length < 2 * n) return undefined;
  return median(after.slice(-n).map((s) => s[key])) / median(after.slice(0, n).map((s) => s[key])) - 1;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`);
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/** The tables printed at the end of a run. */
export function summaryTable(report: SoakReport): string[] {
  const lines = [
    `soak of ${report.minutes} min (warm-up ${report.warmupMinutes} min), ${report.machine.cpus} CPUs, load ${report.machine.loadavgStart[0]?.toFixed(1)} -> ${report.machine.loadavgEnd[0]?.toFixed(1)}`,
    '',
    '| requests | count | per s | p50 ms | p99 ms | 2xx | planned 429/503 | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [kind, s] of Object.entries(report.kinds)) {
    lines.push(
      `| ${kind} | ${s.count} | ${s.perSecond.toFixed(2)} | ${s.p50Ms} | ${s.p99Ms} | ${s.ok} | ${s.refused} | ${s.errors} |`,
    );
  }
  lines.push(
    '',
    `training jobs: ${report.jobs.submitted} submitted, taken for stalled ${report.jobs.stalled} times (target 0)`,
    '',
    '| process | samples | RSS start -> end | RSS growth after warm-up (target < 10 %) | heap used end | heap growth | event-loop p99 max ms |',
  );
  lines.push('| --- | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const p of report.processes) {
    const first = p.samples[0];
    const last = p.samples.at(-1);
    if (first === undefined || last === undefined) continue;
    const eld = Math.max(...p.samples.map((s) => s.eldP99));
    lines.push(
      `| ${p.name} | ${p.samples.length} | ${mb(first.rss)} -> ${mb(last.rss)} | ${pct(p.rssGrowth)} | ${mb(last.heapUsed)} | ${pct(p.heapGrowth)} | ${eld.toFixed(0)} |`,
    );
  }
  return lines;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

interface Panel {
  title: string;
  unit: string;
  series: { name: string; points: [number, number][] }[];
}

function panel(p: Panel, top: number, width: number, height: number, maxX: number): string {
  const left = 60;
  const plotW = width - left - 20;
  const maxY = Math.max(1, ...p.series.flatMap((s) => s.points.map(([, y]) => y))) * 1.1;
  const x = (v: number) => left + (v / Math.max(maxX, 1e-9)) * plotW;
  const y = (v: number) => top + height - (v / maxY) * height;
  const out = [
    `<text x="${left}" y="${top - 8}" font-size="13" font-weight="bold">${escape(p.title)}</text>`,
  ];
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${height}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    out.push(
      `<text x="${left - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`,
    );
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
  }
  for (let m = 0; m <= maxX; m += Math.max(1, Math.ceil(maxX / 12))) {
    out.push(`<text x="${x(m)}" y="${top + height + 14}" font-size="10" text-anchor="middle">${m}</text>`);
  }
  out.push(`<text x="${left - 50}" y="${top + height / 2}" font-size="10">${escape(p.unit)}</text>`);
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const d = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${d}"/>`);
    out.push(
      `<text x="${left + (i % 4) * 220}" y="${top + height + 30 + Math.floor(i / 4) * 13}" font-size="11" fill="${color}">${escape(s.name)}</text>`,
    );
  });
  return out.join('\n');
}

/** Memory (RSS, heap) and event-loop delay of every process, and request p99 per minute. */
export function plotSvg(report: SoakReport, startT: number): string {
  const width = 960;
  const height = 180;
  const minutes = (t: number) => (t - startT) / 60_000;
  const per = (key: 'rss' | 'heapUsed' | 'eldP99', scale: number) =>
    report.processes.map((p) => ({
      name: p.name,
      points: p.samples.map((s): [number, number] => [minutes(s.t), s[key] / scale]),
    }));
  const kinds = Object.keys(report.kinds);
  const panels: Panel[] = [
    { title: 'RSS per process', unit: 'MB', series: per('rss', 2 ** 20) },
    { title: 'V8 heap used per process', unit: 'MB', series: per('heapUsed', 2 ** 20) },
    { title: 'event-loop delay p99 per sample interval', unit: 'ms', series: per('eldP99', 1) },
    {
      title: 'request latency p99 per minute',
      unit: 'ms',
      series: kinds.map((kind) => ({
        name: kind,
        points: report.perMinute.map((m): [number, number] => [m.minute + 0.5, m.kinds[kind]?.p99Ms ?? 0]),
      })),
    },
  ];
  const maxX = Math.max(
    report.minutes,
    ...panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x))),
  );
  const step = height + 90;
  const total = panels.length * step + 50;
  const body = panels.map((p, i) => panel(p, 60 + i * step, width, height, maxX)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="60" y="20" font-size="14">rnnlm soak, ${report.startedAt}, ${report.minutes} min (x axis: minutes)</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
