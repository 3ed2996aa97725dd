/**
 * The job page's elements: its head, progress and metric tiles, live charts, configuration,
 * checkpoints and event log. {@link jobPage} builds them; `render` shows a job's state in them.
 */
import { LineChart } from '../chart.js';
import { badge, banner, duration, h, num, progressBar, replaceChildren } from '../dom.js';
import type { Job } from '../types.js';
import { pageHead } from './page-head.js';

export const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

const STOP_REASONS: Record<NonNullable<Job['stopReason']>, string> = {
  epochs: 'every epoch done',
  maxSteps: 'step limit reached',
  maxMinutes: 'time limit reached',
  earlyStopping: 'early stopping (validation stopped improving)',
  cancelled: 'cancelled',
  diverged: 'the loss diverged',
};

/** `45s`, `3m 05s`, `2h 07m`. */
function seconds(total: number): string {
  const s = Math.max(0, Math.round(total));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `{ model: { layers: 2 } }` → `[['model.layers', '2']]`. */
function flatten(value: unknown, prefix = ''): [string, string][] {
  if (typeof value !== 'object' || value === null) return [[prefix, String(value)]];
  return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix === '' ? k : `${prefix}.${k}`));
}

/** The metric tiles, each with how it reads a job. */
const TILES: [label: string, id: string, read: (job: Job) => string][] = [
  ['Train loss', 'trainLoss', (j) => num(j.metrics.trainLoss)],
  ['Val loss', 'valLoss', (j) => num(j.metrics.valLoss)],
  ['Val perplexity', 'valPerplexity', (j) => num(j.metrics.valPerplexity)],
  ['Bits / char', 'valBitsPerChar', (j) => num(j.metrics.valBitsPerChar)],
  ['Tokens / s', 'tokensPerSecond', (j) => num(j.metrics.tokensPerSecond, 3)],
  [
    'Elapsed',
    'elapsed',
    (j) =>
      j.progress.elapsedSeconds > 0
        ? seconds(j.progress.elapsedSeconds)
        : duration(j.startedAt, j.finishedAt),
  ],
  ['ETA', 'eta', (j) => (j.progress.etaSeconds === null ? '—' : seconds(j.progress.etaSeconds))],
  ['Learning rate', 'learningRate', (j) => num(j.progress.learningRate, 3)],
  ['Tokens trained', 'trainedTokens', (j) => num(j.progress.trainedTokens)],
];

function progressLine(job: Job): string {
  const { step, totalSteps, epoch, fraction } = job.progress;
  const percent = Math.round(fraction * 100);
  if (totalSteps > 0) return `Step ${step} of ${totalSteps} · epoch ${epoch + 1} · ${percent}%`;
  // No step count ends the run: its time budget or early stopping will.
  if (step > 0) return `Step ${step} · epoch ${epoch + 1} · ${percent}% of the time budget`;
  return job.status === 'queued' ? 'Waiting for a worker' : 'Starting';
}

function engineLine(job: Job): string {
  return [
    job.backend === undefined ? '' : `backend: ${job.backend}`,
    job.engine === 'onednn' ? 'native engine (oneDNN)' : '',
    job.engine === 'tfjs'
      ? 'tfjs alone: about ten times slower than the native engine, which is not set up there'
      : '',
  ]
    .filter((part) => part.length > 0)
    .join(' · ');
}

/** The progress card: progress bar and line, stop reason, engine, metric tiles. */
function progressCard(): { element: HTMLElement; render(job: Job): void } {
  const progress = h('div', { class: 'progress-wrap' });
  const progressText = h('div', { class: 'muted small' });
  const backend = h('span', { class: 'muted small' });
  const stopReason = h('span', { class: 'muted small', data: { stat: 'stopReason' } });
  const tiles = TILES.map(([label, id, read]) => {
    const value = h('div', { class: 'stat-value', text: '—', data: { stat: id } });
    const tile = h('div', { class: 'stat' }, h('div', { class: 'stat-label', text: label }), value);
    return { tile, render: (job: Job) => (value.textContent = read(job)) };
  });
  const element = h(
    'section',
    { class: 'card' },
    h('div', { class: 'progress-head' }, progressText, stopReason, backend),
    progress,
    h('div', { class: 'stats' }, ...tiles.map((t) => t.tile)),
  );
  const render = (job: Job) => {
    replaceChildren(progress, progressBar(job.progress.fraction, job.status));
    progressText.textContent = progressLine(job);
    stopReason.textContent = job.stopReason === undefined ? '' : `stopped: ${STOP_REASONS[job.stopReason]}`;
    backend.textContent = engineLine(job);
    for (const t of tiles) t.render(job);
  };
  return { element, render };
}

function configCard(job: Job): HTMLElement {
  const rows = flatten({ ...job.config, validation: job.validation }).map(([k, v]) =>
    h('tr', {}, h('th', { class: 'mono', text: k }), h('td', { class: 'mono', text: v })),
  );
  return h(
    'section',
    { class: 'card' },
    h('h2', { text: 'Configuration' }),
    h('table', { class: 'kv' }, h('tbody', {}, ...rows)),
  );
}

/** The checkpoints table and the event log, stacked. */
function historyCards(): {
  element: HTMLElement;
  addCheckpoint: (step: number, epoch: number) => void;
  logLine: (text: string, kind?: string) => void;
} {
  const checkpoints = h('tbody');
  const noCheckpoints = h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '2' }, text: 'None yet.' }));
  checkpoints.append(noCheckpoints);
  const log = h('ol', { class: 'log' });
  const element = h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      h('h2', { text: 'Checkpoints' }),
      h(
        'table',
        { class: 'table compact', attrs: { id: 'checkpoints' } },
        h('thead', {}, h('tr', {}, h('th', { text: 'Step' }), h('th', { text: 'Epoch' }))),
        checkpoints,
      ),
    ),
    h('section', { class: 'card' }, h('h2', { text: 'Events' }), log),
  );
  return {
    element,
    addCheckpoint: (step, epoch) => {
      noCheckpoints.remove();
      checkpoints.append(h('tr', {}, h('td', { text: String(step) }), h('td', { text: String(epoch + 1) })));
    },
    logLine: (text, kind = '') => {
      log.append(h('li', { class: kind, text: `${new Date().toLocaleTimeString('en-GB')}  ${text}` }));
      log.scrollTop = log.scrollHeight;
    },
  };
}

export interface JobPage {
  /** The training curves, by metric. */
  charts: Record<'trainLoss' | 'valLoss' | 'valPerplexity' | 'tokensPerSecond', LineChart>;
  cancel: HTMLButtonElement;
  modelLink: HTMLAnchorElement;
  /** Shows the job's state (and its error, if any). */
  render(job: Job): void;
  /** A banner under the head; `data` lands on its element. */
  notice(text: string, data?: Record<string, string>): void;
  addCheckpoint(step: number, epoch: number): void;
  logLine(text: string, kind?: string): void;
}

/** Builds the page for `job` into `root`; the charts are destroyed when `signal` aborts. */
export function jobPage(root: HTMLElement, job: Job, signal: AbortSignal): JobPage {
  const status = h('span');
  const notice = h('div');
  const cancel = h('button', {
    class: 'button danger',
    text: 'Cancel job',
    attrs: { type: 'button', id: 'cancel-job' },
  });
  const modelLink = h('a', { class: 'button primary', text: 'Open model', attrs: { id: 'open-model' } });
  const progress = progressCard();
  const charts = {
    trainLoss: new LineChart('trainLoss', 'Training loss', '#2563eb'),
    valLoss: new LineChart('valLoss', 'Validation loss', '#7c3aed'),
    valPerplexity: new LineChart('valPerplexity', 'Validation perplexity', '#0d9488'),
    tokensPerSecond: new LineChart('tokensPerSecond', 'Tokens / s', '#d97706'),
  };
  signal.addEventListener('abort', () => Object.values(charts).forEach((c) => c.destroy()), { once: true });
  const history = historyCards();
  replaceChildren(
    root,
    pageHead({
      title: job.name,
      parent: { label: 'Jobs', href: '#/', id: job.id },
      beside: status,
      actions: [modelLink, cancel],
    }),
    notice,
    progress.element,
    h('div', { class: 'chart-grid' }, ...Object.values(charts).map((c) => c.element)),
    h('div', { class: 'columns' }, configCard(job), history.element),
  );
  const page: JobPage = {
    charts,
    cancel,
    modelLink,
    render(current) {
      replaceChildren(status, badge(current.status));
      progress.render(current);
      cancel.hidden = FINAL.has(current.status);
      if (current.modelId !== undefined) modelLink.href = `#/models/${current.modelId}`;
      if (current.error !== undefined) page.notice(`${current.error.code}: ${current.error.message}`);
    },
    notice(text, data = {}) {
      Object.assign(notice.dataset, data);
      replaceChildren(notice, banner(text));
    },
    addCheckpoint: history.addCheckpoint,
    logLine: history.logLine,
  };
  return page;
}
