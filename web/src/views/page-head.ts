import { h } from '../dom.js';

export interface PageHeadOptions {
  title: string;
  /** An item's page: the list it belongs to (breadcrumb) and the item's id. */
  parent?: { label: string; href: string; id: string } | undefined;
  /** Beside the title, such as a status badge. */
  beside?: Node | undefined;
  subtitle?: string | undefined;
  /** Buttons and links at the head's right. */
  actions?: (Node | null)[] | undefined;
}

/** The head of every page: breadcrumb, title (and what stands beside it), subtitle and actions. */
export function pageHead(options: PageHeadOptions): HTMLElement {
  const { parent, actions = [] } = options;
  return h(
    'div',
    { class: 'page-head' },
    h(
      'div',
      {},
      parent === undefined
        ? null
        : h(
            'div',
            { class: 'crumbs' },
            h('a', { text: parent.label, attrs: { href: parent.href } }),
            ' / ',
            h('span', { class: 'mono', text: parent.id }),
          ),
      h('div', { class: 'title-row' }, h('h1', { text: options.title }), options.beside),
      options.subtitle === undefined ? null : h('p', { class: 'muted', text: options.subtitle }),
    ),
    actions.length === 0 ? null : h('div', { class: 'actions' }, ...actions),
  );
}
