import { ApiError, getJson, request } from '../api.js';
import { banner, replaceChildren } from '../dom.js';
import type { Job, View } from '../types.js';
import { applyEvent, followEvents } from './job-events.js';
import { jobPage, type JobPage } from './job-page.js';

/**
 * Hides "Open model" once the job's model turns out to be deleted: a job keeps the id of the
 * model it made after the model is gone. The model is looked up once, when the job has succeeded.
 */
function modelWatch(page: JobPage, signal: AbortSignal): { deleted: boolean; check(job: Job): void } {
  let checked = false;
  const watch = {
    deleted: false,
    check(job: Job) {
      if (checked || job.status !== 'succeeded' || job.modelId === undefined) return;
      checked = true;
      const modelId = job.modelId;
      void getJson(`/models/${modelId}`, { signal }).catch((err: unknown) => {
        if (!(err instanceof ApiError) || err.status !== 404) return;
        watch.deleted = true;
        page.modelLink.hidden = true;
        page.notice(`Its model ${modelId} has been deleted.`, { modelDeleted: 'true' });
      });
    },
  };
  return watch;
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
  const page = jobPage(root, job, signal);
  const model = modelWatch(page, signal);
  const render = () => {
    page.render(job);
    page.modelLink.hidden = job.modelId === undefined || job.status !== 'succeeded' || model.deleted;
    model.check(job);
  };
  const refresh = async () => {
    try {
      job = await getJson<Job>(`/jobs/${job.id}`, { signal });
      render();
    } catch {
      // The stream goes on; the next status event tries again.
    }
  };
  page.cancel.addEventListener('click', () => {
    void (async () => {
      page.cancel.disabled = true;
      try {
        const res = await request(`/jobs/${job.id}/cancel`, { method: 'POST' });
        job = (await res.json()) as Job;
        render();
      } catch (err) {
        page.notice(`Could not cancel: ${(err as Error).message}`);
      } finally {
        page.cancel.disabled = false;
      }
    })();
  });
  render();
  const ended = await followEvents(
    job.id,
    signal,
    (type, data) => {
      const statusChanged = applyEvent(job, page, type, data);
      render();
      if (statusChanged) void refresh();
    },
    (message) => page.notice(message),
  );
  if (ended) await refresh();
};
