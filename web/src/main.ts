import './style.css';

import { apiKey, askForKey } from './api.js';
import { banner, replaceChildren } from './dom.js';
import type { View } from './types.js';
import { jobView } from './views/job.js';
import { jobsView } from './views/jobs.js';
import { modelView } from './views/model.js';
import { modelsView } from './views/models.js';
import { newJobView } from './views/new-job.js';

/** Hash routes: `#/`, `#/new`, `#/jobs/ID`, `#/models`, `#/models/ID`. */
const routes: [RegExp, View, string][] = [
  [/^#?\/?$/, jobsView, 'jobs'],
  [/^#\/jobs\/?$/, jobsView, 'jobs'],
  [/^#\/new$/, newJobView, 'new'],
  [/^#\/jobs\/([^/]+)$/, jobView, 'jobs'],
  [/^#\/models\/?$/, modelsView, 'models'],
  [/^#\/models\/([^/]+)$/, modelView, 'models'],
];

const root = document.getElementById('app') as HTMLElement;
let current: AbortController | undefined;

function route(): void {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const hash = location.hash;
  const match = routes.find(([pattern]) => pattern.test(hash));
  for (const link of document.querySelectorAll<HTMLElement>('[data-nav]')) {
    link.classList.toggle('active', match !== undefined && link.dataset.nav === match[2]);
  }
  if (match === undefined) {
    replaceChildren(root, banner(`No page at ${hash}.`));
    return;
  }
  const [pattern, view] = match;
  const id = decodeURIComponent(pattern.exec(hash)?.[1] ?? '');
  root.dataset.view = match[2];
  window.scrollTo(0, 0);
  Promise.resolve(view(root, controller.signal, id)).catch((err: unknown) => {
    if (!controller.signal.aborted) root.append(banner((err as Error).message));
  });
}

function showKeyState(): void {
  const button = document.getElementById('api-key-button');
  if (button !== null) button.textContent = apiKey() === null ? 'API key' : 'API key ✓';
}

document.getElementById('api-key-button')?.addEventListener('click', () => {
  void askForKey('The API key for this tab, kept in sessionStorage; save it empty to forget it.').then(route);
});
document.addEventListener('rnnlm:api-key', showKeyState);
window.addEventListener('hashchange', route);
showKeyState();
route();
