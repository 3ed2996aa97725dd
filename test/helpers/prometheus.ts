/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: it
 * throws, naming the line, on anything a Prometheus server would reject or that breaks the
 * format's rules (a family without HELP and TYPE, a family split in two, a repeated series,
 * a bad escape or value, histogram buckets that are not cumulative or whose +Inf bucket is
 * not the count).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A decimal float, or NaN / Inf / Infinity in any case: what Go's ParseFloat (Prometheus's) reads. */
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?|nan)$/i;
const TIMESTAMP = /^-?\d+$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseFloatStrict(text: string, where: string): number {
  if (!FLOAT.test(text)) throw new Error(`${where}: ${JSON.stringify(text)} is not a float`);
  if (/inf/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return /nan/i.test(text) ? NaN : Number(text);
}

/** `# HELP` text: only `\\` and `\n` escapes. */
function unescapeHelp(text: string, where: string): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`${where}: bad escape \\${c} in HELP`);
  });
}

/** `{a="1",b="x\"y"}` (a trailing comma allowed) → labels, and the rest of the line. */
function parseLabels(
  line: string,
  start: number,
  where: string,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: label ${name} given twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label ${name}'s value is not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = line[j];
      if (c === undefined) throw new Error(`${where}: unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const next = line[j + 1];
        if (next === '\\' || next === '"') value += next;
        else if (next === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${next ?? ''} in label ${name}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected "," or "}" after label ${name}`);
  }
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(sample: string, declared: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = declared.get(sample);
  if (exact !== undefined && exact.type !== 'histogram') return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const family = declared.get(sample.slice(0, -suffix.length));
    if (family === undefined) continue;
    if (family.type === 'histogram') return family;
    if (family.type === 'summary' && suffix !== '_bucket') return family;
  }
  return undefined;
}

const seriesKey = (name: string, labels: Record<string, string>, except?: string) =>
  `${name}{${Object.keys(labels)
    .filter((k) => k !== except)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

function checkHistogram(family: MetricFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  const group = (labels: Record<string, string>) => {
    const key = seriesKey(family.name, labels, 'le');
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { buckets: [] }));
    return g;
  };
  for (const s of family.samples) {
    const g = group(s.labels);
    if (s.name === `${family.name}_bucket`) {
      const le = s.labels.le;
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      g.buckets.push([parseFloatStrict(le, `${family.name} le`), s.value]);
    } else if (s.name === `${family.name}_sum`) {
      g.sum = s.value;
    } else {
      if ('le' in s.labels) throw new Error(`${family.name}: le on ${s.name}`);
      g.count = s.value;
    }
  }
  for (const [key, g] of groups) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${key}: no _sum or _count`);
    const buckets = [...g.buckets].sort((a, b) => a[0] - b[0]);
    if (buckets.at(-1)?.[0] !== Infinity) throw new Error(`${key}: no +Inf bucket`);
    for (let i = 1; i < buckets.length; i++) {
      const [prevLe, prev] = buckets[i - 1] as [number, number];
      const [le, value] = buckets[i] as [number, number];
      if (le === prevLe) throw new Error(`${key}: bucket le=${le} twice`);
      if (value < prev) throw new Error(`${key}: bucket le=${le} (${value}) below le=${prevLe} (${prev})`);
    }
    if (buckets.at(-1)?.[1] !== g.count) throw new Error(`${key}: +Inf bucket is not _count (${g.count})`);
  }
}

/** Parses exposition text into its families by name; throws on any violation of the format. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw new Error('the text does not end with a line feed');
  const families = new Map<string, MetricFamily>();
  const helps = new Map<string, string>();
  const series = new Set<string>();
  /** Families whose samples are over: one may not appear again. */
  const closed = new Set<string>();
  let current: MetricFamily | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m === null) return; // Any other comment is allowed.
      const [, keyword, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
      if (keyword === 'HELP') {
        if (helps.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        helps.set(name, unescapeHelp(rest, where));
        const family = families.get(name);
        if (family !== undefined) {
          if (family.samples.length > 0) throw new Error(`${where}: HELP for ${name} after its samples`);
          family.help = helps.get(name) ?? '';
        }
        return;
      }
      const type = rest.trim() as MetricType;
      if (!TYPES.has(type)) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`);
      if (families.has(name) || closed.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
      if (current !== undefined) closed.add(current.name);
      current = { name, type, help: helps.get(name) ?? '', samples: [] };
      families.set(name, current);
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, nameEnd, where);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const fields = rest.split(' ');
    if (fields[0] !== '' || fields.length < 2 || fields.length > 3) {
      throw new Error(`${where}: expected " value [timestamp]" after the name and labels`);
    }
    const value = parseFloatStrict(fields[1] ?? '', where);
    if (fields[2] !== undefined && !TIMESTAMP.test(fields[2])) throw new Error(`${where}: bad timestamp`);
    const family = familyOf(name, families);
    if (family === undefined) throw new Error(`${where}: ${name} has no TYPE before it`);
    if (family !== current) throw new Error(`${where}: ${name} is apart from the rest of ${family.name}`);
    const key = seriesKey(name, labels);
    if (series.has(key)) throw new Error(`${where}: ${key} given twice`);
    series.add(key);
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) {
    if (!helps.has(family.name)) throw new Error(`${family.name} has no HELP`);
    if (family.samples.length === 0) continue;
    if (family.type === 'histogram') checkHistogram(family);
  }
  for (const name of helps.keys()) {
    if (!families.has(name)) throw new Error(`HELP for ${name}, which has no TYPE`);
  }
  return families;
}

/** The one sample named `name` whose labels include `labels`; throws if none or several. */
export function sample(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): Sample {
  const found = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) {
    throw new Error(`${found.length} samples ${name} ${JSON.stringify(labels)}, expected one`);
  }
  return found[0] as Sample;
}

/** The value of the one matching sample, or 0 when there is none (a labelled series not yet seen). */
export function valueOr0(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} samples ${name} ${JSON.stringify(labels)}`);
  return matches[0]?.value ?? 0;
}
