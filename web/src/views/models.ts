import { getJson } from '../api.js';
import { ago, banner, h, num, replaceChildren } from '../dom.js';
import type { Model, View } from '../types.js';
import { pageHead } from './page-head.js';

/** `#/models`: the published models. */
export const modelsView: View = async (root, signal) => {
  const body = h('tbody');
  replaceChildren(
    root,
    pageHead({
      title: 'Models',
      subtitle: 'Models published by finished jobs: generate text with them and score text under them.',
    }),
    h(
      'section',
      { class: 'card flush' },
      h(
        'table',
        { class: 'table', attrs: { id: 'models-table' } },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { text: 'Model' }),
            h('th', { text: 'Architecture' }),
            h('th', { text: 'Tokenizer' }),
            h('th', { class: 'num', text: 'Parameters' }),
            h('th', { class: 'num', text: 'Best val perplexity' }),
            h('th', { text: 'Created' }),
          ),
        ),
        body,
      ),
    ),
  );
  try {
    const { items } = await getJson<{ items: Model[] }>('/models', { signal });
    if (items.length === 0) {
      body.append(
        h(
          'tr',
          {},
          h('td', {
            class: 'empty',
            attrs: { colspan: '6' },
            text: 'No models yet: they appear when a job succeeds.',
          }),
        ),
      );
      return;
    }
    for (const m of items) {
      body.append(
        h(
          'tr',
          { data: { modelId: m.id } },
          h(
            'td',
            {},
            h('a', { class: 'strong', text: m.name, attrs: { href: `#/models/${m.id}` } }),
            h('div', { class: 'muted mono small', text: m.id }),
          ),
          h('td', {
            text: `${m.config.model.cell.toUpperCase()} ${m.config.model.layers}×${m.config.model.hiddenSize}`,
          }),
          h('td', { text: `${m.tokenizer.type} · ${m.tokenizer.vocabSize}` }),
          h('td', { class: 'num', text: num(m.parameters) }),
          h('td', { class: 'num', text: num(m.metrics.best.valPerplexity) }),
          h('td', { class: 'muted', text: ago(m.createdAt) }),
        ),
      );
    }
  } catch (err) {
    if (!signal.aborted) root.append(banner(`Could not load the models: ${(err as Error).message}`));
  }
};
