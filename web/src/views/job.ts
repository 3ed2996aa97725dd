import { ApiError, getJson, openEvents, request } from '../api.js';
import { LineChart } from '../chart.js';
import { badge, banner, duration, h, num, progressBar, replaceChildren } from '../dom.js';
import type { Job, View } from '../types.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

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
const RECONNECT_MS = 1000;

/** `{ model: { layers: 2 } }` → `[['model.layers', '2']]`. */
function flatten(value: unknown, prefix = ''): [string, string][] {
  if (typeof value !== 'object' || value === null) return [[prefix, String(value)]];
  return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix === '' ? k : `${prefix}.${k}`));
}

function stat(label: string, id: string): [HTMLElement, HTMLElement] {
  const value = h('div', { class: 'stat-value', text: '—', data: { stat: id } });
  return [h('div', { class: 'stat' }, h('div', { class: 'stat-label', text: label }), value), value];
}

/**
 * `#/jobs/ID`: the job's live charts (from its event stream, resumed with Last-Event-ID after a
 * dropped connection), its config, checkpoints and log, and a cancel button.
 */
export const jobView: View = async (root, signal, id) => {
  let job: Job;
  try {
    job = await getJson<Job>(`/jobs/${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (!signal.aborted) replaceChildren(root, banner(`Could not load job ${id}: ${(err as Error).message}`));
    return;
  }

  const title = h('h1', { text: job.name });
  const status = h('span');
  const notice = h('div');
  const cancel = h('button', {
    class: 'button danger',
    text: 'Cancel job',
    attrs: { type: 'button', id: 'cancel-job' },
  });
  const modelLink = h('a', { class: 'button primary', text: 'Open model', attrs: { id: 'open-model' } });
  const progress = h('div', { class: 'progress-wrap' });
  const progressText = h('div', { class: 'muted small' });
  const backend = h('span', { class: 'muted small' });
  const [trainTile, trainValue] = stat('Train loss', 'trainLoss');
  const [valTile, valValue] = stat('Val loss', 'valLoss');
  const [pplTile, pplValue] = stat('Val perplexity', 'valPerplexity');
  const [bpcTile, bpcValue] = stat('Bits / char', 'valBitsPerChar');
  const [tpsTile, tpsValue] = stat('Tokens / s', 'tokensPerSecond');
  const [timeTile, timeValue] = stat('Elapsed', 'elapsed');
  const [etaTile, etaValue] = stat('ETA', 'eta');
  const [lrTile, lrValue] = stat('Learning rate', 'learningRate');
  const [tokensTile, tokensValue] = stat('Tokens trained', 'trainedTokens');
  const stopReason = h('span', { class: 'muted small', data: { stat: 'stopReason' } });

  const charts = {
    trainLoss: new LineChart('trainLoss', 'Training loss', '#2563eb'),
    valLoss: new LineChart('valLoss', 'Validation loss', '#7c3aed'),
    valPerplexity: new LineChart('valPerplexity', 'Validation perplexity', '#0d9488'),
    tokensPerSecond: new LineChart('tokensPerSecond', 'Tokens / s', '#d97706'),
  };
  signal.addEventListener('abort', () => Object.values(charts).forEach((c) => c.destroy()), { once: true });

  const checkpoints = h('tbody');
  const log = h('ol', { class: 'log' });
  const noCheckpoints = h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '2' }, text: 'None yet.' }));
  checkpoints.append(noCheckpoints);

  // A job keeps the id of the model it made after the model is deleted: say so, link nowhere.
  let modelChecked = false;
  let modelDeleted = false;
  const checkModel = (modelId: string): void => {
    modelChecked = true;
    void (async () => {
      try {
        await getJson(`/models/${modelId}`, { signal });
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) return;
        modelDeleted = true;
        modelLink.hidden = true;
        notice.dataset.modelDeleted = 'true';
        replaceChildren(notice, banner(`Its model ${modelId} has been deleted.`));
      }
    })();
  };

  const render = () => {
    replaceChildren(status, badge(job.status));
    replaceChildren(progress, progressBar(job.progress.fraction, job.status));
    const { step, totalSteps, epoch } = job.progress;
    progressText.textContent =
      totalSteps > 0
        ? `Step ${step} of ${totalSteps} · epoch ${epoch + 1} · ${Math.round(job.progress.fraction * 100)}%`
        : step > 0
          ? // No step count ends the run: its time budget or early stopping will.
            `Step ${step} · epoch ${epoch + 1} · ${Math.round(job.progress.fraction * 100)}% of the time budget`
          : job.status === 'queued'
            ? 'Waiting for a worker'
            : 'Starting';
    stopReason.textContent = job.stopReason === undefined ? '' : `stopped: ${STOP_REASONS[job.stopReason]}`;
    trainValue.textContent = num(job.metrics.trainLoss);
    valValue.textContent = num(job.metrics.valLoss);
    pplValue.textContent = num(job.metrics.valPerplexity);
    bpcValue.textContent = num(job.metrics.valBitsPerChar);
    tpsValue.textContent = num(job.metrics.tokensPerSecond, 3);
    timeValue.textContent =
      job.progress.elapsedSeconds > 0
        ? seconds(job.progress.elapsedSeconds)
        : duration(job.startedAt, job.finishedAt);
    etaValue.textContent = job.progress.etaSeconds === null ? '—' : seconds(job.progress.etaSeconds);
    lrValue.textContent = num(job.progress.learningRate, 3);
    tokensValue.textContent = num(job.progress.trainedTokens);
    backend.textContent = [
      job.backend === undefined ? '' : `backend: ${job.backend}`,
      job.engine === 'onednn' ? 'native engine (oneDNN)' : '',
      job.engine === 'tfjs'
        ? 'tfjs alone: about ten times slower than the native engine, which is not set up there'
        : '',
    ]
      .filter((part) => part.length > 0)
      .join(' · ');
    cancel.hidden = FINAL.has(job.status);
    modelLink.hidden = job.modelId === undefined || job.status !== 'succeeded' || modelDeleted;
    if (job.modelId !== undefined) modelLink.href = `#/models/${job.modelId}`;
    if (job.status === 'succeeded' && job.modelId !== undefined && !modelChecked) checkModel(job.modelId);
    if (job.error !== undefined) replaceChildren(notice, banner(`${job.error.code}: ${job.error.message}`));
  };

  cancel.addEventListener('click', () => {
    void (async () => {
      cancel.disabled = true;
      try {
        const res = await request(`/jobs/${job.id}/cancel`, { method: 'POST' });
        job = (await res.json()) as Job;
        render();
      } catch (err) {
        replaceChildren(notice, banner(`Could not cancel: ${(err as Error).message}`));
      } finally {
        cancel.disabled = false;
      }
    })();
  });

  replaceChildren(
    root,
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h(
          'div',
          { class: 'crumbs' },
          h('a', { text: 'Jobs', attrs: { href: '#/' } }),
          ' / ',
          h('span', { class: 'mono', text: job.id }),
        ),
        h('div', { class: 'title-row' }, title, status),
      ),
      h('div', { class: 'actions' }, modelLink, cancel),
    ),
    notice,
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'progress-head' }, progressText, stopReason, backend),
      progress,
      h(
        'div',
        { class: 'stats' },
        trainTile,
        valTile,
        pplTile,
        bpcTile,
        tpsTile,
        timeTile,
        etaTile,
        lrTile,
        tokensTile,
      ),
    ),
    h('div', { class: 'chart-grid' }, ...Object.values(charts).map((c) => c.element)),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        h('h2', { text: 'Configuration' }),
        h(
          'table',
          { class: 'kv' },
          h(
            'tbody',
            {},
            ...flatten({ ...job.config, validation: job.validation }).map(([k, v]) =>
              h('tr', {}, h('th', { class: 'mono', text: k }), h('td', { class: 'mono', text: v })),
            ),
          ),
        ),
      ),
      h(
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
      ),
    ),
  );
  render();

  const logLine = (text: string, kind = '') => {
    log.append(h('li', { class: kind, text: `${new Date().toLocaleTimeString('en-GB')}  ${text}` }));
    log.scrollTop = log.scrollHeight;
  };

  const refresh = async () => {
    try {
      job = await getJson<Job>(`/jobs/${job.id}`, { signal });
      render();
    } catch {
      // The stream goes on; the next status event tries again.
    }
  };

  const handle = (type: string, data: Record<string, unknown>) => {
    const n = (k: string) => {
      const v = data[k];
      return typeof v === 'number' ? v : null;
    };
    const step = n('step') ?? 0;
    switch (type) {
      case 'progress':
        charts.trainLoss.add(step, n('trainLoss'));
        charts.tokensPerSecond.add(step, n('tokensPerSecond'));
        job.progress = {
          epoch: n('epoch') ?? job.progress.epoch,
          step,
          totalSteps: n('totalSteps') ?? job.progress.totalSteps,
          fraction: n('fraction') ?? job.progress.fraction,
          learningRate: n('learningRate') ?? job.progress.learningRate,
          trainedTokens: n('trainedTokens') ?? job.progress.trainedTokens,
          elapsedSeconds: n('elapsedSeconds') ?? job.progress.elapsedSeconds,
          etaSeconds: n('etaSeconds'),
        };
        if (typeof data.stopReason === 'string') job.stopReason = data.stopReason as Job['stopReason'];
        job.metrics = { ...job.metrics, trainLoss: n('trainLoss'), tokensPerSecond: n('tokensPerSecond') };
        if (typeof data.backend === 'string') job.backend = data.backend;
        if (data.engine === 'onednn' || data.engine === 'tfjs') job.engine = data.engine;
        render();
        break;
      case 'metrics':
        charts.valLoss.add(step, n('valLoss'));
        charts.valPerplexity.add(step, n('valPerplexity'));
        job.metrics = {
          ...job.metrics,
          valLoss: n('valLoss'),
          valPerplexity: n('valPerplexity'),
          valBitsPerChar: n('valBitsPerChar'),
        };
        render();
        logLine(`evaluated at step ${step}: perplexity ${num(n('valPerplexity'))}`);
        break;
      case 'checkpoint':
        noCheckpoints.remove();
        checkpoints.append(
          h('tr', {}, h('td', { text: String(step) }), h('td', { text: String((n('epoch') ?? 0) + 1) })),
        );
        logLine(`checkpoint at step ${step}`);
        break;
      case 'log':
        logLine(typeof data.message === 'string' ? data.message : JSON.stringify(data));
        break;
      case 'status': {
        const s = String(data.status);
        logLine(
          `status: ${s}${typeof data.attempt === 'number' ? ` (attempt ${data.attempt})` : ''}`,
          `log-${s}`,
        );
        if (job.status !== s && (s === 'queued' || s === 'running' || FINAL.has(s)))
          job.status = s as Job['status'];
        render();
        void refresh();
        break;
      }
      default:
        break;
    }
  };

  // Follows the stream to the job's end, reconnecting after the last event seen.
  let lastEventId: string | undefined;
  let finished = false;
  while (!finished && !signal.aborted) {
    try {
      const events = await openEvents(`/jobs/${job.id}/events`, { signal, lastEventId });
      for await (const message of events) {
        if (message.id !== undefined) lastEventId = message.id;
        const data = JSON.parse(message.data) as Record<string, unknown>;
        if (message.event === 'error') throw new ApiError(500, String(data.code), String(data.message));
        handle(message.event, data);
        if (message.event === 'status' && FINAL.has(String(data.status))) finished = true;
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        replaceChildren(notice, banner(err.message));
        return;
      }
    }
    if (!finished && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
  await refresh();
};
