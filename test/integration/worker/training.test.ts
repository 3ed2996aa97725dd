/**
 * Jobs trained end to end by a TrainingWorker (its processor in a child process) against a
 * real Redis: success and the published model, input that can never succeed, and a worker
 * shutdown that hands its job to the next worker (cancellation is in test/faults/cancel.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { RedisJobService } from '../../../src/queue/job-service.js';
import type { Job, JobEvent } from '../../../src/queue/contracts.js';
import type { SubmitInput } from '../../../src/queue/types.js';
import { InferenceService } from '../../../src/inference/service.js';
import { TrainingWorker } from '../../../src/worker/training-worker.js';
import { testEnv, tinyRequest, waitFor, type TestEnv } from '../queue/harness.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

async function setUp(t: TestContext) {
  const env = await testEnv(t);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  return { env, jobs };
}

function startWorker(env: TestEnv): TrainingWorker {
  const worker = new TrainingWorker({
    config: {
      ...env.config,
      RNNLM_JOB_LOCK_MS: 5000,
      RNNLM_JOB_LOCK_RENEW_MS: 2500,
      RNNLM_STALLED_CHECK_MS: 2000,
    },
    logger: env.logger,
  });
  env.defer(() => worker.close(10_000));
  return worker;
}

async function finished(jobs: RedisJobService, id: string, timeoutMs = 60_000): Promise<Job> {
  const job = await waitFor(
    () => jobs.get(id),
    (j) => j !== undefined && FINISHED.has(j.status),
    timeoutMs,
    `job ${id} to finish`,
  );
  assert.ok(job !== undefined);
  return job;
}

async function eventOf(
  jobs: RedisJobService,
  id: string,
  match: (e: JobEvent) => boolean,
  timeoutMs = 60_000,
): Promise<JobEvent> {
  const events = await waitFor(
    () => jobs.events(id),
    (es) => es.some(match),
    timeoutMs,
    `an event of job ${id}`,
  );
  return events.find(match)!;
}

test('a job trains in a child process, publishes its model, and the model generates and scores', async (t) => {
  const { env, jobs } = await setUp(t);
  startWorker(env);
  const { job } = await jobs.submit(
    tinyRequest({ checkpointEvery: 5, evalEvery: 10 }, { name: 'tiny-lstm' }),
  );

  const running = await waitFor(
    () => jobs.get(job.id),
    (j) => j?.status === 'running' || (j !== undefined && FINISHED.has(j.status)),
    30_000,
    'running',
  );
  assert.equal(running?.status, 'running');
  assert.ok(running?.startedAt !== undefined);

  const done = await finished(jobs, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.match(done.modelId ?? '', /^mdl_[a-z0-9]{26}$/);
  assert.deepEqual(
    { ...done.progress, elapsedSeconds: undefined },
    {
      epoch: 0,
      step: 20,
      totalSteps: 20,
      fraction: 1,
      // A character model's rate when the request gives none (src/ml/fit.ts).
      learningRate: done.config.training.learningRate,
      trainedTokens: 20 * 4 * 8,
      elapsedSeconds: undefined,
      etaSeconds: null,
    },
  );
  assert.ok(done.progress.elapsedSeconds > 0);
  assert.equal(done.stopReason, 'maxSteps');
  assert.ok(
    done.metrics.trainLoss !== null && done.metrics.valLoss !== null && done.metrics.valPerplexity! > 1,
  );
  assert.ok(done.backend !== undefined && done.finishedAt !== undefined);
  // The checkpoint directory goes once the model is safe.
  assert.equal(existsSync(join(env.dataDir, 'checkpoints', job.id)), false);

  // The final status event follows the state change.
  await eventOf(jobs, job.id, (e) => e.type === 'status' && e.data.status === 'succeeded', 5000);
  const events = await jobs.events(job.id);
  const statuses = events.filter((e) => e.type === 'status').map((e) => e.data.status);
  assert.deepEqual(statuses, ['queued', 'running', 'succeeded']);
  // Sandboxed: the training ran in a child process, not in this one.
  const trainer = events.find((e) => e.data.status === 'running')?.data.worker;
  assert.match(String(trainer), /:\d+$/);
  assert.notEqual(Number(String(trainer).split(':').at(-1)), process.pid);
  assert.ok(events.some((e) => e.type === 'progress' && e.data.step === 20));
  const reports = events.filter((e) => e.type === 'progress');
  for (const e of reports) {
    assert.equal(typeof e.data.learningRate, 'number', JSON.stringify(e.data));
    assert.equal(typeof e.data.trainedTokens, 'number');
    assert.equal(typeof e.data.elapsedSeconds, 'number');
  }
  assert.equal(reports.at(-1)?.data.stopReason, 'maxSteps');
  for (const e of events.filter((e) => e.type === 'metrics')) {
    assert.equal(typeof e.data.learningRate, 'number', JSON.stringify(e.data));
    assert.equal(typeof e.data.trainedTokens, 'number');
  }
  assert.equal(events.at(-1)?.data.stopReason, 'maxSteps');
  assert.deepEqual(
    events.filter((e) => e.type === 'checkpoint').map((e) => e.data.step),
    [5, 10, 15, 20],
  );
  assert.deepEqual(
    events.filter((e) => e.type === 'metrics').map((e) => e.data.step),
    [10, 20],
  );
  assert.equal(events.at(-1)?.data.modelId, done.modelId);

  const models = new InferenceService({
    dir: join(env.dataDir, 'models'),
    config: env.config,
    logger: env.logger,
  });
  env.defer(() => models.close());
  const info = await models.get(done.modelId!);
  assert.equal(info?.jobId, job.id);
  assert.equal(info?.name, 'tiny-lstm');
  assert.equal(info?.tokenizer.type, 'char');
  assert.equal(info?.config.model.hiddenSize, 16);
  assert.deepEqual(
    (await models.list()).map((m) => m.id),
    [done.modelId],
  );

  const generated = await models.generate(done.modelId!, { prompt: 'ROMEO:', maxTokens: 40, seed: 3 });
  assert.equal(generated.tokens, 40);
  assert.equal(generated.finishReason, 'length');
  const again = await models.generate(done.modelId!, { prompt: 'ROMEO:', maxTokens: 40, seed: 3 });
  assert.equal(again.text, generated.text);
  const scored = await models.score(done.modelId!, 'To be, or not to be', {});
  assert.ok(Number.isFinite(scored.perplexity) && scored.perplexity > 1);
  assert.equal(scored.characters, 19);
});

test('input that can never succeed fails once with its error code, without retries', async (t) => {
  const { env, jobs } = await setUp(t);
  startWorker(env);
  // 180 bytes, but bpe merges a run of one letter into a few tokens, too few for one batch of
  // 64 rows: only the trainer, once it has trained the tokenizer, can tell, and it refuses it.
  const { job } = await jobs.submit({
    ...tinyRequest({ batchSize: 64 }),
    tokenizer: { type: 'bpe', vocabSize: 300 },
    corpus: { text: 'a'.repeat(200) },
  });
  const done = await finished(jobs, job.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.error?.code, 'RNNLM_CORPUS_TOO_SMALL');
  assert.match(done.error?.message ?? '', /tokens/);
  assert.equal((await jobs.queue.getJob(job.id))?.attemptsMade, 1);
  await eventOf(jobs, job.id, (e) => e.type === 'status' && e.data.status === 'failed', 5000);
  const statuses = (await jobs.events(job.id)).filter((e) => e.type === 'status').map((e) => e.data.status);
  assert.deepEqual(statuses, ['queued', 'running', 'failed']);
});

test('a job cut short of the maxSteps it asked for says so in its events, with why', async (t) => {
  const { env, jobs } = await setUp(t);
  startWorker(env);
  // Patience that never runs out: on the native engine this tiny model can stop improving
  // within the budget, and the budget is what this test needs to stop it.
  const { job } = await jobs.submit(
    tinyRequest({ maxSteps: 1_000_000, maxMinutes: 0.02, earlyStoppingPatience: 1_000_000 }),
  );
  const done = await finished(jobs, job.id);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.stopReason, 'maxMinutes');
  const note = await eventOf(
    jobs,
    job.id,
    (e) => e.type === 'log' && /asked for/.test(String(e.data.message)),
  );
  assert.match(
    String(note.data.message),
    /^stopped at step \d+ of the 1000000 asked for: its time budget ran out$/,
  );
  assert.equal(note.data.maxSteps, 1_000_000);
});

test('a job with no step or epoch cap reports no step count to reach, only the share of its budget', async (t) => {
  const { env, jobs } = await setUp(t);
  startWorker(env);
  const request = tinyRequest({ maxMinutes: 0.02, earlyStoppingPatience: 1_000_000 });
  const { maxSteps: _none, ...training } = request.training ?? {};
  const { job } = await jobs.submit({ ...request, training: training as SubmitInput['training'] });
  const done = await finished(jobs, job.id);
  assert.equal(done.stopReason, 'maxMinutes');
  const reports = (await jobs.events(job.id)).filter((e) => e.type === 'progress');
  assert.ok(reports.length > 0);
  // Not the service's step limit (RNNLM_MAX_STEPS), which is no end the user asked for.
  for (const r of reports.slice(0, -1)) assert.equal(r.data.totalSteps, 0);
  assert.equal(done.progress.totalSteps, done.progress.step);
});

test('a worker that shuts down hands its job back, and the next worker resumes it from the checkpoint', async (t) => {
  const { env, jobs } = await setUp(t);
  const first = new TrainingWorker({ config: env.config, logger: env.logger });
  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 400, checkpointEvery: 5 }));
  await eventOf(jobs, job.id, (e) => e.type === 'checkpoint');
  await first.close(20_000);

  const handedBack = await jobs.get(job.id);
  assert.equal(handedBack?.status, 'queued');
  const last = (await jobs.events(job.id)).slice(-2);
  assert.match(String(last[0]?.data.message), /handed back at step \d+/);
  assert.equal(last[1]?.data.status, 'queued');
  const bull = await jobs.queue.getJob(job.id);
  assert.equal(bull?.attemptsMade, 0, 'a shutdown does not use up an attempt');
  assert.ok(existsSync(join(env.dataDir, 'checkpoints', job.id)));

  startWorker(env);
  const resumed = await eventOf(jobs, job.id, (e) => e.type === 'log' && e.data.resumedFrom !== undefined);
  assert.ok(Number(resumed.data.resumedFrom) > 0);
  const done = await finished(jobs, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress.step, 400);
});

function resolvable(pkg: string): boolean {
  try {
    import.meta.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const nativeInstalled = resolvable('@tensorflow/tfjs-node') || resolvable('@tensorflow/tfjs-node-gpu');

test(
  'a transient failure is retried with backoff, then fails with its code when attempts run out',
  {
    skip: nativeInstalled ? 'needs a machine without tfjs-node, whose absence is the transient fault' : false,
  },
  async (t) => {
    // RNNLM_BACKEND=tensorflow without tfjs-node: RNNLM_BACKEND_UNAVAILABLE, which is retryable.
    const env = await testEnv(t, { RNNLM_BACKEND: 'tensorflow', RNNLM_JOB_ATTEMPTS: '2' });
    const jobs = new RedisJobService({ config: env.config, logger: env.logger });
    env.defer(() => jobs.close());
    await jobs.ready();
    startWorker(env);
    const { job } = await jobs.submit(tinyRequest());
    const retrying = await eventOf(
      jobs,
      job.id,
      (e) => e.type === 'log' && /retrying/.test(String(e.data.message)),
    );
    assert.match(String(retrying.data.message), /attempt 1 failed: RNNLM_BACKEND_UNAVAILABLE/);
    assert.equal((await jobs.get(job.id))?.status, 'queued');

    const done = await finished(jobs, job.id, 30_000);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'RNNLM_BACKEND_UNAVAILABLE');
    assert.equal((await jobs.queue.getJob(job.id))?.attemptsMade, 2);
    await eventOf(jobs, job.id, (e) => e.type === 'status' && e.data.status === 'failed', 5000);
    const statuses = (await jobs.events(job.id)).filter((e) => e.type === 'status').map((e) => e.data.status);
    assert.deepEqual(statuses, ['queued', 'queued', 'failed']);
  },
);
