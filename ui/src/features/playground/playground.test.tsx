import { describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, list, mockApi, renderApp, type Call } from '../../test/utils';
import { setCsrfToken } from '../../lib/api';
import { chatErrorMessage, findUsage, sinceParam, streamChat } from './api';

function sse(lines: string[], headers: Record<string, string> = {}): Response {
  return new Response(lines.join(''), { status: 200, headers: { 'Content-Type': 'text/event-stream', ...headers } });
}

const chunk = (content: string, extra: object = {}) => `data: ${JSON.stringify({ id: 'chatcmpl-1', model: 'sim-small', choices: [{ delta: { content } }], ...extra })}\n\n`;

describe('streamChat', () => {
  it('OK: relays the deltas until [DONE], with usage, headers and timings', async () => {
    setCsrfToken('tok');
    const fetchFn = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) =>
      sse(
        [
          chunk('Hel'),
          chunk('lo'),
          'data: {"id":"chatcmpl-1","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
          'data: not json\n\n',
          'data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
          'data: [DONE]\n\n',
        ],
        { 'X-Chorus-Deployment': 'sim-a', 'X-Chorus-Strategy': 'cascade', 'X-Chorus-Cascade-Tier': '1', Date: 'Mon, 07 Dec 2026 03:00:00 GMT' },
      ),
    );
    let t = 0;
    let out = '';
    const r = await streamChat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5, max_tokens: 10 }, (d) => (out += d), undefined, fetchFn as typeof fetch, () => (t += 10));
    expect(out).toBe('Hello');
    expect(r).toMatchObject({ id: 'chatcmpl-1', usage: { prompt_tokens: 3, completion_tokens: 2 }, finishReason: 'stop', ttftMs: 10, latencyMs: 20 });
    expect(r.served).toMatchObject({ deployment: 'sim-a', strategy: 'cascade', cascadeTier: '1' });
    const init = fetchFn.mock.calls[0]?.[1];
    expect(JSON.parse(String(init?.body))).toEqual({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true }, temperature: 0.5, max_tokens: 10 });
    expect((init?.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok');
  });

  it('ends without [DONE] or without a body', async () => {
    const r = await streamChat({ model: 'm', messages: [] }, () => {}, undefined, (async () => sse([chunk('x')])) as typeof fetch);
    expect(r.id).toBe('chatcmpl-1');
    const empty = await streamChat({ model: 'm', messages: [] }, () => {}, undefined, (async () => new Response(null, { status: 200 })) as typeof fetch);
    expect(empty.id).toBe('');
  });

  it('Error: clear messages for 402, 429, 5xx, mid-stream and the network', async () => {
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => (async () => new Response(body, { status, headers: { 'Content-Type': 'application/json', ...headers } })) as typeof fetch;
    const call = (f: typeof fetch) => streamChat({ model: 'm', messages: [] }, () => {}, undefined, f);
    await expect(call(reply(402, '{"error":{"message":"no credits","code":"insufficient_quota"}}'))).rejects.toThrow(/out of credits/);
    await expect(call(reply(429, '{"error":{"message":"slow down"}}', { 'Retry-After': '7' }))).rejects.toThrow(/Try again in 7 s/);
    await expect(call(reply(503, 'oops'))).rejects.toThrow(/could not answer \(HTTP 503\)/);
    await expect(call(reply(404, '{"error":{"message":"model not found"}}'))).rejects.toThrow('model not found');
    await expect(call((async () => sse(['data: {"error":{"message":"upstream died"}}\n\n'])) as typeof fetch)).rejects.toThrow('upstream died');
    await expect(call((async () => Promise.reject(new TypeError('failed'))) as typeof fetch)).rejects.toThrow(/could not be reached/);
    const aborted = (async () => Promise.reject(new DOMException('x', 'AbortError'))) as typeof fetch;
    await expect(call(aborted)).rejects.toThrow('x');
    expect(chatErrorMessage(429, '', 'm', null)).toMatch(/in a moment/);
  });

  it('sinceParam: a few seconds before the server time, whole seconds', () => {
    expect(sinceParam('Mon, 07 Dec 2026 03:00:00 GMT')).toBe('2026-12-07T02:59:55Z');
    expect(sinceParam('', 0, new Date('2026-01-01T00:00:00.500Z'))).toBe('2026-01-01T00:00:00Z');
  });

  it('findUsage: retries until the record arrives, follows pages', async () => {
    let n = 0;
    const { calls } = mockApi({
      'GET /api/usage': (c: Call) => {
        n++;
        if (n === 1) return { body: list([]) };
        if (c.url.includes('after=5')) return { body: list([{ id: 6, response_id: 'chatcmpl-9', cost: 12 }]) };
        return { body: list([{ id: 5, response_id: 'other' }], true, 5) };
      },
    });
    const u = await findUsage('chatcmpl-9', { userId: 7, serverDate: 'Mon, 07 Dec 2026 03:00:00 GMT', sleep: async () => {} });
    expect(u).toMatchObject({ id: 6, cost: 12 });
    expect(calls[0]?.url).toContain('user_id=7');
    expect(calls[0]?.url).toContain('since=2026-12-07T02%3A59%3A55Z');
    mockApi({ 'GET /api/usage': { body: list([]) } });
    expect(await findUsage('x', { userId: 7, serverDate: '', tries: 2, sleep: async () => {} })).toBeNull();
  });
});

describe('PlaygroundPage', () => {
  it('picks a model, streams Markdown safely, shows the facts, rates the answer', async () => {
    const feedback: unknown[] = [];
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /v1/models': { body: { object: 'list', data: [{ id: 'sim-small' }, { id: 'sim-large' }] } },
      'GET /api/usage': { body: list([{ id: 1, response_id: 'chatcmpl-1', input_tokens: 12, output_tokens: 4, cost: 1500, latency_ms: 41, ttft_ms: 9, deployment: 'sim-small-a' }]) },
      'POST /v1/feedback': (c: Call) => {
        feedback.push(c.body);
        return { status: 201, body: { object: 'feedback' } };
      },
    });
    const mocked = globalThis.fetch;
    const sent: RequestInit[] = [];
    vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).startsWith('/v1/chat/completions')) {
        sent.push(init ?? {});
        return sse([chunk('**Hi** <img src=x onerror=alert(1)> there'), chunk('\n\n- one\n- two'), 'data: [DONE]\n\n'], { 'X-Chorus-Deployment': 'sim-small-a', 'X-Chorus-Provider': 'simulator', 'X-Chorus-Strategy': 'fallback', 'X-Chorus-Model': 'sim-x' });
      }
      return mocked(input, init);
    });
    renderApp('/playground');
    const picker = await screen.findByRole('combobox', { name: 'Model' });
    await screen.findByRole('option', { name: 'sim-large' });
    await userEvent.selectOptions(picker, 'sim-large');
    await userEvent.type(screen.getByLabelText('System prompt'), 'Be brief.');
    await userEvent.type(screen.getByLabelText('Temperature'), '0.2');
    await userEvent.type(screen.getByLabelText('Max tokens'), '64');
    await userEvent.type(screen.getByLabelText('Message'), 'Hello');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));

    const answer = await screen.findByTestId('answer');
    expect(await within(answer).findByText('Hi')).toBeInTheDocument();
    expect(answer.querySelector('strong')?.textContent).toBe('Hi');
    expect(answer.querySelector('img')).toBeNull();
    expect(within(answer).getByText('two')).toBeInTheDocument();
    expect(await within(answer).findByTestId('answer-cost')).toHaveTextContent('0.0015 credits');
    expect(within(answer).getByTestId('answer-tokens')).toHaveTextContent('12 in / 4 out');
    expect(within(answer).getByTestId('answer-latency')).toHaveTextContent('server 41 ms');
    expect(within(answer).getByTestId('answer-ttft')).toHaveTextContent('server 9 ms');
    expect(within(answer).getByTestId('answer-deployment')).toHaveTextContent('sim-small-a (simulator)');
    expect(within(answer).getByTestId('answer-strategy')).toHaveTextContent('fallback');
    expect(within(answer).getByTestId('answer-model')).toHaveTextContent('sim-x');
    expect(JSON.parse(String(sent[0]?.body))).toMatchObject({ model: 'sim-large', temperature: 0.2, max_tokens: 64, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] });
    expect(calls.find((c) => c.path === '/v1/models')?.headers['X-CSRF-Token']).toBe('csrf-1');

    await userEvent.type(within(answer).getByLabelText('Comment on this answer'), 'nice');
    await userEvent.click(within(answer).getByRole('button', { name: 'Good answer' }));
    expect(await within(answer).findByText('Thanks, feedback saved.')).toBeInTheDocument();
    expect(feedback).toEqual([{ response_id: 'chatcmpl-1', rating: 'up', comment: 'nice' }]);
    expect(within(answer).getByRole('button', { name: 'Good answer' })).toHaveAttribute('aria-pressed', 'true');
    await userEvent.type(within(answer).getByLabelText('Comment on this answer'), ' indeed');
    await userEvent.click(within(answer).getByRole('button', { name: 'Save comment' }));
    await vi.waitFor(() => expect(feedback).toHaveLength(2));

    await userEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(screen.queryByTestId('answer')).toBeNull();
  });

  it('says what went wrong: no credits; a bad parameter; models that fail to load; feedback refused', async () => {
    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /v1/models': { status: 500, body: { error: { message: 'boom' } } },
      'GET /api/usage': { body: list([]) },
      'POST /v1/feedback': { status: 404, body: { error: { message: 'No response with id' } } },
    });
    const mocked = globalThis.fetch;
    let n = 0;
    vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).startsWith('/v1/chat/completions')) {
        n++;
        if (n === 1) return new Response('{"error":{"message":"Insufficient credits","code":"insufficient_quota"}}', { status: 402, headers: { 'Content-Type': 'application/json' } });
        return sse([chunk('ok'), 'data: [DONE]\n\n']);
      }
      return mocked(input, init);
    });
    renderApp('/playground');
    const model = await screen.findByRole('textbox', { name: 'Model' });
    expect(screen.getByText(/could not be loaded; type a model name/)).toBeInTheDocument();
    await userEvent.type(model, 'sim-small');
    await userEvent.type(screen.getByLabelText('Message'), 'Hello');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByText(/out of credits/)).toBeInTheDocument();
    expect(screen.queryByTestId('answer')).toBeNull();

    await userEvent.type(screen.getByLabelText('Temperature'), '5');
    await userEvent.type(screen.getByLabelText('Message'), 'Again');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByText(/Temperature must be between 0 and 2/)).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText('Temperature'));

    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    const answer = await screen.findByTestId('answer');
    expect(await within(answer).findByTestId('answer-cost', {}, { timeout: 5000 })).toHaveTextContent(/looking up|not recorded yet/);
    await userEvent.click(within(answer).getByRole('button', { name: 'Bad answer' }));
    expect(await within(answer).findByRole('alert')).toHaveTextContent('No response with id');
  });
});
