// The playground chats through the gateway with the signed-in session:
// POST /v1/chat/completions (OpenAI's format, stream: true) and GET
// /v1/models with the session cookie and the CSRF token (on every method,
// GET included) instead of an API key. The server bills the calls to the
// user's "console playground" key and records them like any API call: after
// a stream ends, the usage record whose response_id is the stream's id
// gives the cost and the server's timings.
import { ApiError, api, getCsrfToken, query, request, type List } from '../../lib/api';
import type { UsageRecord } from '../usage/api';
import { SSEParser } from '../events/stream';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatParams {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  max_tokens?: number;
}

/** What the gateway said about who answered (the x-chorus-* headers). */
export interface Served {
  model: string;
  deployment: string;
  provider: string;
  strategy: string;
  cascadeTier: string;
}

/** StreamResult is one answer as the browser saw it. */
export interface StreamResult {
  /** The answer's id (chatcmpl-…): the usage record's response_id, and what feedback names. */
  id: string;
  served: Served;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** The server's Date header: where to start looking for the usage record, immune to clock skew. */
  serverDate: string;
  /** Client-side: ms from sending to the first piece of text, and to the end. */
  ttftMs: number | null;
  latencyMs: number;
  finishReason: string;
}

/** The model record of GET /v1/models. */
export interface ModelInfo {
  id: string;
  owned_by?: string;
}

/** listModels is what the playground can chat with. */
export async function listModels(signal?: AbortSignal): Promise<string[]> {
  const r = await api<{ data?: ModelInfo[] }>('/v1/models', { headers: { 'X-CSRF-Token': getCsrfToken() }, signal });
  return (r.data ?? []).map((m) => m.id).sort();
}

/** chatErrorMessage says what went wrong in words for the user. */
export function chatErrorMessage(status: number, code: string, message: string, retryAfter: string | null): string {
  if (status === 402 || code === 'insufficient_quota') return `Your team is out of credits for this request. Buy credits or raise the budget, then try again. (${message})`;
  if (status === 429) {
    const wait = retryAfter && /^\d+$/.test(retryAfter) ? ` in ${retryAfter} s` : ' in a moment';
    return `Rate limited: too many requests or tokens for now. Try again${wait}. (${message})`;
  }
  if (status >= 500) return `The model could not answer (HTTP ${status}): ${message}`;
  return message;
}

type Chunk = {
  id?: string;
  model?: string;
  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  error?: { message?: string; code?: string };
};

/** streamChat sends the conversation, calls onDelta with each piece of the answer, and resolves with what happened. */
export async function streamChat(p: ChatParams, onDelta: (text: string) => void, signal?: AbortSignal, fetchFn: typeof fetch = fetch, now: () => number = () => performance.now()): Promise<StreamResult> {
  const started = now();
  const body: Record<string, unknown> = { model: p.model, messages: p.messages, stream: true, stream_options: { include_usage: true } };
  if (p.temperature !== undefined) body.temperature = p.temperature;
  if (p.max_tokens !== undefined) body.max_tokens = p.max_tokens;
  let res: Response;
  try {
    res = await fetchFn('/v1/chat/completions', {
      method: 'POST',
      credentials: 'same-origin',
      signal,
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', 'X-CSRF-Token': getCsrfToken() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The server could not be reached. Check your connection and try again.', { code: 'network' });
  }
  const requestId = res.headers.get('X-Request-Id') ?? '';
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    let code = '';
    try {
      const b = (await res.json()) as { error?: { message?: string; code?: string } };
      msg = b.error?.message ?? msg;
      code = b.error?.code ?? '';
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, chatErrorMessage(res.status, code, msg, res.headers.get('Retry-After')), { code, requestId });
  }
  const h = res.headers;
  const out: StreamResult = {
    id: '',
    served: {
      model: h.get('X-Chorus-Model') ?? '',
      deployment: h.get('X-Chorus-Deployment') ?? '',
      provider: h.get('X-Chorus-Provider') ?? '',
      strategy: h.get('X-Chorus-Strategy') ?? '',
      cascadeTier: h.get('X-Chorus-Cascade-Tier') ?? '',
    },
    usage: null,
    serverDate: h.get('Date') ?? '',
    ttftMs: null,
    latencyMs: 0,
    finishReason: '',
  };
  const finish = () => {
    out.latencyMs = now() - started;
    return out;
  };
  if (!res.body) return finish();
  const parser = new SSEParser();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return finish();
    for (const m of parser.push(value)) {
      if (m.data === '[DONE]') return finish();
      let chunk: Chunk;
      try {
        chunk = JSON.parse(m.data) as Chunk;
      } catch {
        continue;
      }
      if (chunk.error) throw new ApiError(502, chatErrorMessage(502, chunk.error.code ?? '', chunk.error.message ?? 'The stream failed.', null), { requestId });
      if (chunk.id && !out.id) out.id = chunk.id;
      if (chunk.usage) out.usage = chunk.usage;
      const c = chunk.choices?.[0];
      if (c?.finish_reason) out.finishReason = c.finish_reason;
      const d = c?.delta?.content;
      if (d) {
        if (out.ttftMs === null) out.ttftMs = now() - started;
        onDelta(d);
      }
    }
  }
}

/** sinceParam is the RFC 3339 time (whole seconds) a few seconds before the server's Date header. */
export function sinceParam(serverDate: string, slackSeconds = 5, fallback = new Date()): string {
  const t = Date.parse(serverDate);
  const d = new Date((Number.isNaN(t) ? fallback.getTime() : t) - slackSeconds * 1000);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * findUsage looks for the answer's usage record: records reach the database
 * in batches (~200 ms), so it tries a few times. Lists are oldest first, so
 * it asks only for the user's records since just before the answer.
 */
export async function findUsage(
  responseId: string,
  opts: { userId: number; serverDate: string; tries?: number; delayMs?: number; signal?: AbortSignal; sleep?: (ms: number) => Promise<void> },
): Promise<UsageRecord | null> {
  const tries = opts.tries ?? 10;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const since = sinceParam(opts.serverDate);
  for (let i = 0; i < tries; i++) {
    let after: number | undefined;
    for (let page = 0; page < 5; page++) {
      const l = await api<List<UsageRecord>>(`/api/usage${query({ user_id: opts.userId, since, limit: 200, after })}`, { signal: opts.signal });
      const hit = l.data.find((u) => u.response_id === responseId);
      if (hit) return hit;
      if (!l.has_more || l.next_after === undefined) break;
      after = l.next_after;
    }
    if (i < tries - 1) await sleep(opts.delayMs ?? 250);
  }
  return null;
}

export type Rating = 'up' | 'down';

/** sendFeedback rates an answer (POST /v1/feedback); a second rating replaces the first. */
export async function sendFeedback(responseId: string, rating: Rating, comment: string): Promise<void> {
  await request('/v1/feedback', { method: 'POST', body: { response_id: responseId, rating, comment } });
}
