/**
 * The API's side of kept recurrent states: a request's handle is turned into the state to
 * continue from, checked against the model the request names, and a request that asks to keep
 * its state gets a new handle. The states themselves live in the shared store (StateStore).
 */
import type { ModelInfo } from '../contracts/models.js';
import { RnnlmError } from '../errors.js';
import type { RecurrentState } from '../ml/generate/state.js';
import type { StateInfo, StateStore } from '../queue/types.js';

export function stateNotFound(id: string): RnnlmError {
  return new RnnlmError(
    'RNNLM_STATE_NOT_FOUND',
    `state ${id} not found: it expired, was deleted, or its model was deleted`,
    { stateId: id },
  );
}

export class StateHandles {
  constructor(private readonly store: StateStore | undefined) {}

  /**
   * The state behind `id`, to continue `model` from.
   * @throws RnnlmError `RNNLM_STATE_NOT_FOUND` (404) when there is none,
   * `RNNLM_STATE_MODEL_MISMATCH` (409) when another model (or an earlier model of this id) kept it.
   */
  async resolve(model: ModelInfo, id: string): Promise<RecurrentState> {
    const stored = await this.required().get(id);
    if (stored === undefined) throw stateNotFound(id);
    if (stored.info.model !== model.id) {
      throw new RnnlmError(
        'RNNLM_STATE_MODEL_MISMATCH',
        `state ${id} was kept by model ${stored.info.model}: only that model can continue from it`,
        { stateId: id, model: stored.info.model },
      );
    }
    if (stored.modelCreatedAt !== model.createdAt) {
      throw new RnnlmError(
        'RNNLM_STATE_MODEL_MISMATCH',
        `state ${id} was kept by an earlier model ${model.id}, since replaced`,
        { stateId: id, model: model.id },
      );
    }
    return stored.state;
  }

  /** Keeps `state` (a request's `keepState` answer) and returns its handle's info. */
  async keep(model: ModelInfo, state: RecurrentState | undefined): Promise<StateInfo> {
    if (state === undefined) throw new Error('the request kept no state');
    return this.required().save(model.id, model.createdAt, state);
  }

  /** Forgets every state `model` kept (it was deleted). */
  async forgetModel(model: string): Promise<void> {
    await this.store?.deleteForModel(model);
  }

  /** The store, or the 503 of a service without the shared Redis. */
  required(): StateStore {
    if (this.store === undefined) {
      throw new RnnlmError('RNNLM_REDIS_UNAVAILABLE', 'this server keeps no states: it has no shared Redis');
    }
    return this.store;
  }
}
