import { getJson } from '../api.js';
import { ago, badge, banner, h, num, progressBar, replaceChildren } from '../dom.js';
import type { Job, View } from '../types.js';
import { pageHead } from './page-head.js';

const POLL_MS = 1500;

/** Runs `tick` now and every `ms` until `signal` aborts; the next run waits for the last. */
export function every(ms: number, signal: AbortSignal, tick: () => Promise<void>): void {
  const run = async () => {
    if (signal.aborted) return;
    await tick();
    if (!signal.aborted) setTimeout(() => void run(), ms);
  };
  void run();
}

function row(job: Job): HTMLTableRowElement {
  const { step, totalSteps, fraction } = job.progress;
  return h(
    'tr',
    { data: { jobId: job.id, status: job.status } },
    h(
      'td',
      {},
      h('a', { class: 'strong', text: job.name, attrs: { href: `#/jobs/${job.id}` } }),
      h('div', { class: 'muted mono small', text: job.id }),
    ),
    h('td', {}, badge(job.status)),
    h(
      'td',
      { class: 'progress-cell' },
      progressBar(fraction, job.status),
      h('div', {
        class: 'muted small',
        text: totalSteps > 0 ? `step ${step} / ${totalSteps}` : step > 0 ? `step ${step}` : 'waiting',
      }),
    ),
    h('td', { class: 'num', data: { metric: 'valPerplexity' }, text: num(job.metrics.valPerplexity) }),
    h('td', { class: 'num', text: num(job.metrics.trainLoss) }),
    h('td', {
      class: 'muted',
      text: `${job.config.model.cell.toUpperCase()} ${job.config.model.layers}×${job.config.model.hiddenSize}`,
    }),
    h('td', { class: 'muted', text: ago(job.createdAt) }),
  );
}

/** `#/`: every job, newest first, refreshed while the page is open. */
export const jobsView: View = (root, signal) => {
  const body = h('tbody');
  const status = h('div');
  const table = h(
    'table',
    { class: 'table', attrs: { id: 'jobs-table' } },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Job', 'Status', 'Progress', 'Val perplexity', 'Train loss', 'Model', 'Created'].map((t) =>
          h('th', { text: t, class: t.includes('loss') || t.includes('perplexity') ? 'num' : '' }),
        ),
      ),
    ),
    body,
  );
  replaceChildren(
    root,
    pageHead({
      title: 'Training jobs',
      subtitle: 'Live status of every job, newest first.',
    }),
    status,
    h('section', { class: 'card flush' }, table),
  );
  every(POLL_MS, signal, async () => {
    try {
      const { items } = await getJson<{ items: Job[] }>('/jobs?limit=50', { signal });
      status.replaceChildren();
      if (items.length === 0) {
        replaceChildren(
          body,
          h(
            'tr',
            {},
            h('td', {
              class: 'empty',
              attrs: { colspan: '7' },
              text: 'No jobs yet. Start one with “New job”.',
            }),
          ),
        );
      } else replaceChildren(body, ...items.map(row));
    } catch (err) {
      if (!signal.aborted)
        status.replaceChildren(banner(`Could not load the jobs: ${(err as Error).message}`));
    }
  });
};
