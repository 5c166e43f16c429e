// The playground chats through the gateway with the signed-in session:
// POST /v1/chat/completions (OpenAI's format, stream: true) with the session
// cookie and the CSRF token instead of an API key. The server may not accept
// sessions there yet: 401/403/404 answer "unavailable".
import { ApiError, getCsrfToken } from '../../lib/api';
import { SSEParser } from '../events/stream';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export class PlaygroundUnavailable extends Error {}

/** streamChat sends the conversation and calls onDelta with each piece of the answer. */
export async function streamChat(model: string, messages: ChatMessage[], onDelta: (text: string) => void, signal?: AbortSignal, fetchFn: typeof fetch = fetch): Promise<void> {
  const res = await fetchFn('/v1/chat/completions', {
    method: 'POST',
    credentials: 'same-origin',
    signal,
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', 'X-CSRF-Token': getCsrfToken() },
    body: JSON.stringify({ model, messages, stream: true }),
  });
  if ([401, 403, 404, 405].includes(res.status) && !(res.headers.get('Content-Type') ?? '').includes('json')) {
    throw new PlaygroundUnavailable('The playground is not available on this server yet.');
  }
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
    if (res.status === 401 && code === 'invalid_api_key') throw new PlaygroundUnavailable('The playground is not available on this server yet: the gateway accepts only API keys.');
    throw new ApiError(res.status, msg, { code, requestId: res.headers.get('X-Request-Id') ?? '' });
  }
  if (!res.body) return;
  const parser = new SSEParser();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const m of parser.push(value)) {
      if (m.data === '[DONE]') return;
      try {
        const chunk = JSON.parse(m.data) as { choices?: { delta?: { content?: string } }[]; error?: { message?: string } };
        if (chunk.error) throw new ApiError(502, chunk.error.message ?? 'The stream failed.');
        const d = chunk.choices?.[0]?.delta?.content;
        if (d) onDelta(d);
      } catch (err) {
        if (err instanceof ApiError) throw err;
      }
    }
  }
}
