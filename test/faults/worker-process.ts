/**
 * A training worker in a process of its own, for the fault tests to kill: configured from the
 * environment the test gives it (startWorkerProcess gives it a short lock, so a job it dies with
 * is taken over quickly).
 */
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { TrainingWorker } from '../../src/worker/training-worker.js';

const config = loadConfig();
const worker = new TrainingWorker({
  config,
  logger: createLogger(config, { pretty: false }),
});
await worker.waitUntilReady();
process.stdout.write('worker ready\n');
process.on('SIGTERM', () => void worker.close(5000).then(() => process.exit(0)));
