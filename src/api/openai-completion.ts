/**
 * One `POST /v1/completions` on the inference service: every choice of every prompt is a
 * generation (or, with `echo`, a scoring of the prompt first and then generations from its
 * state), and they all join the model's batch scheduler together. `echo` with `max_tokens` 0
 * is the scoring alone: the prompt's tokens and their log-probabilities, as /score reads them.
 */
import type { ModelInfo, ModelService } from '../contracts/models.js';
import { errors } from '../errors.js';
import type { GenerateOptions, GenerateResult, TokenDetail } from '../ml/generate/generate.js';
import type { RecurrentState, StateOptions } from '../ml/state.js';
import type { StateInfo } from '../queue/types.js';
import { promptTokens, TextOffsets, toLogprobs, type ListedToken } from './openai-logprobs.js';
import type { ApiMetrics } from './plugins/metrics.js';
import type { CompletionChoice, CompletionRequest, CompletionUsage } from './schemas/openai.js';
import type { StateHandles } from './states.js';

/** What a completion runs on. */
export interface CompletionDeps {
  models: ModelService;
  states: StateHandles;
  metrics: ApiMetrics;
}

/** A streamed completion's pieces, as they come: per choice, its text and tokens since the last. */
export interface CompletionStream {
  /** Sent in order per choice; the last of a choice carries its `finish_reason`. */
  piece(choice: CompletionChoice): Promise<void>;
}

/** The request, checked and resolved: what every choice runs with. */
export interface CompletionPlan {
  request: CompletionRequest;
  model: ModelInfo;
  prompts: string[];
  n: number;
  /** The state the request continues from (`state`), if any. */
  state: RecurrentState | undefined;
  signal: AbortSignal;
}

const SEED_RANGE = 2 ** 31;

/** OpenAI's finish reasons: rnnlm's `eos` (a word model's end of line) is a natural stop. */
function finishReason(result: GenerateResult): 'stop' | 'length' {
  return result.finishReason === 'length' ? 'length' : 'stop';
}

/** Choice `k`'s seed: the request's plus k, in the sampler's range. */
function seedOf(seed: number | undefined, k: number): number | undefined {
  return seed === undefined ? undefined : (((seed + k) % SEED_RANGE) + SEED_RANGE) % SEED_RANGE;
}

/** The choices and usage of a completion; with `stream`, each choice's pieces are sent as they come. */
export async function runCompletion(
  deps: CompletionDeps,
  plan: CompletionPlan,
  stream?: CompletionStream,
): Promise<{ choices: CompletionChoice[]; usage: CompletionUsage }> {
  const perPrompt = await Promise.all(
    plan.prompts.map((prompt, p) => runPrompt(deps, plan, prompt, p, stream)),
  );
  const choices = perPrompt.flatMap((p) => p.choices);
  const prompt_tokens = perPrompt.reduce((sum, p) => sum + p.promptTokens, 0);
  const completion_tokens = perPrompt.reduce((sum, p) => sum + p.completionTokens, 0);
  return {
    choices,
    usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
  };
}

interface PromptOutcome {
  choices: CompletionChoice[];
  promptTokens: number;
  completionTokens: number;
}

async function runPrompt(
  deps: CompletionDeps,
  plan: CompletionPlan,
  prompt: string,
  p: number,
  stream: CompletionStream | undefined,
): Promise<PromptOutcome> {
  const { request: req, model } = plan;
  const { models, states, metrics } = deps;
  const maxTokens = req.max_tokens;
  const wantLogprobs = req.logprobs !== undefined;
  const keep = req.save_state === true;
  const indexes = Array.from({ length: plan.n }, (_, k) => p * plan.n + k);

  // With echo the prompt is scored first, and the completions go on from its state.
  let echoed: ListedToken[] = [];
  let scoredTokens: number | undefined;
  let start = plan.state;
  let generatePrompt = prompt;
  if (req.echo === true && prompt.length > 0) {
    const { state: after, ...scored } = await metrics.timeScoring(() =>
      models.score(model.id, prompt, {
        details: wantLogprobs,
        topN: req.logprobs ?? 0,
        state: plan.state,
        keepState: maxTokens > 0 || keep,
      }),
    );
    echoed = promptTokens(scored.tokenLogprobs ?? [], scored.unscored);
    scoredTokens = scored.tokens + (scored.unscored?.length ?? 0);
    if (maxTokens === 0) {
      const kept = keep ? await states.keep(model, after) : undefined;
      const choices = indexes.map((index) => {
        const offsets = new TextOffsets();
        offsets.push(prompt);
        return choice(index, prompt, wantLogprobs ? toLogprobs(echoed, offsets) : null, 'length', kept);
      });
      for (const c of choices) await stream?.piece(c);
      return { choices, promptTokens: scoredTokens, completionTokens: 0 };
    }
    start = after;
    generatePrompt = '';
  }
  const echoText = req.echo === true ? prompt : '';

  const results = await Promise.all(
    indexes.map(async (index, k) => {
      const offsets = new TextOffsets();
      let streamed = 0;
      if (stream !== undefined && req.echo === true) {
        offsets.push(echoText);
        await stream.piece(choice(index, echoText, wantLogprobs ? toLogprobs(echoed, offsets) : null, null));
      }
      const options: GenerateOptions & StateOptions = {
        prompt: generatePrompt,
        maxTokens,
        temperature: req.temperature,
        topP: req.top_p,
        topK: req.top_k === undefined || req.top_k < 0 ? undefined : req.top_k,
        seed: seedOf(req.seed, k),
        stop: typeof req.stop === 'string' ? [req.stop] : req.stop,
        details: wantLogprobs,
        topN: req.logprobs,
        logitBias: req.logit_bias,
        signal: plan.signal,
        state: start,
        keepState: keep,
      };
      const onText =
        stream === undefined
          ? undefined
          : async (delta: string, tokens?: TokenDetail[]) => {
              offsets.push(delta);
              streamed += tokens?.length ?? 0;
              const logprobs = wantLogprobs && tokens !== undefined ? toLogprobs(tokens, offsets) : null;
              await stream.piece(choice(index, delta, logprobs, null));
            };
      const { state: after, ...result } = await metrics.timeGeneration(stream !== undefined, () =>
        models.generate(model.id, options, onText),
      );
      const kept = keep ? await states.keep(model, after) : undefined;
      const sampled = result.details?.tokens ?? [];
      if (stream !== undefined) {
        // The tokens whose text never came out (a stop sequence's) close the choice.
        const rest = sampled.slice(streamed);
        const last = choice(
          index,
          '',
          wantLogprobs && rest.length > 0 ? toLogprobs(rest, offsets) : null,
          finishReason(result),
          kept,
        );
        await stream.piece(last);
        return { result, choice: last };
      }
      offsets.push(echoText + result.text);
      const logprobs = wantLogprobs ? toLogprobs([...echoed, ...sampled], offsets) : null;
      return { result, choice: choice(index, echoText + result.text, logprobs, finishReason(result), kept) };
    }),
  );
  const first = results[0]?.result;
  if (first === undefined) throw errors.internal('a prompt without choices');
  return {
    choices: results.map((r) => r.choice),
    promptTokens: scoredTokens ?? first.promptTokens,
    completionTokens: results.reduce((sum, r) => sum + r.result.tokens, 0),
  };
}

function choice(
  index: number,
  text: string,
  logprobs: CompletionChoice['logprobs'],
  finish: CompletionChoice['finish_reason'],
  state?: StateInfo,
): CompletionChoice {
  return { index, text, logprobs, finish_reason: finish, ...(state === undefined ? {} : { state }) };
}
