/**
 * The API's side of kept recurrent states: a request's handle is turned into the state to
 * continue from, checked against the model the request names, and a request that asks to keep
 * its state gets a new handle. The states themselves live in the shared store (StateStore).
 */
import type { ModelInfo } from '../contracts/models.js';
import { errors } from '../errors.js';
import type { RecurrentState } from '../ml/state.js';
import type { StateInfo, StateStore } from '../queue/types.js';

export class StateHandles {
  constructor(private readonly store: StateStore | undefined) {}

  /**
   * The state behind `id`, to continue `model` from.
   * @throws RnnlmError `RNNLM_STATE_NOT_FOUND` (404) when there is none,
   * `RNNLM_STATE_MODEL_MISMATCH` (409) when another model (or an earlier model of this id) kept it.
   */
  async resolve(model: ModelInfo, id: string): Promise<RecurrentState> {
    const stored = await this.required().get(id);
    if (stored === undefined) throw errors.stateNotFound(id);
    if (stored.info.model !== model.id) {
      throw errors.stateOfOtherModel(id, stored.info.model);
    }
    if (stored.modelCreatedAt !== model.createdAt) {
      throw errors.stateOfReplacedModel(id, model.id);
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
      throw errors.noStateStore();
    }
    return this.store;
  }
}
