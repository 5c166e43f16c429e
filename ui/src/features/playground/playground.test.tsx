import { describe, expect, it, vi } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, mockApi, renderApp } from '../../test/utils';
import { PlaygroundUnavailable, streamChat } from './api';

function sse(lines: string[]): Response {
  return new Response(lines.join(''), { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

describe('streamChat', () => {
  it('OK: relays the deltas until [DONE]', async () => {
    const fetchFn = vi.fn(async () =>
      sse(['data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n', 'data: [DONE]\n\n']),
    );
    let out = '';
    await streamChat('m', [{ role: 'user', content: 'hi' }], (d) => (out += d), undefined, fetchFn as typeof fetch);
    expect(out).toBe('Hello');
  });

  it('Unavailable: keys only, or no endpoint', async () => {
    const keysOnly = vi.fn(async () => new Response(JSON.stringify({ error: { message: 'bad key', code: 'invalid_api_key' } }), { status: 401, headers: { 'Content-Type': 'application/json' } }));
    await expect(streamChat('m', [], () => {}, undefined, keysOnly as typeof fetch)).rejects.toBeInstanceOf(PlaygroundUnavailable);
    const missing = vi.fn(async () => new Response('404 page not found', { status: 404, headers: { 'Content-Type': 'text/plain' } }));
    await expect(streamChat('m', [], () => {}, undefined, missing as typeof fetch)).rejects.toBeInstanceOf(PlaygroundUnavailable);
  });

  it('Error: an upstream failure is an ApiError', async () => {
    const failing = vi.fn(async () => new Response(JSON.stringify({ error: { message: 'model not found' } }), { status: 404, headers: { 'Content-Type': 'application/json' } }));
    await expect(streamChat('m', [], () => {}, undefined, failing as typeof fetch)).rejects.toThrow('model not found');
    const midStream = vi.fn(async () => sse(['data: {"error":{"message":"upstream died"}}\n\n']));
    await expect(streamChat('m', [], () => {}, undefined, midStream as typeof fetch)).rejects.toThrow('upstream died');
  });
});

describe('PlaygroundPage', () => {
  it('chats, and says when the server has no playground', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession() } });
    let n = 0;
    const original = globalThis.fetch;
    vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).startsWith('/v1/chat/completions')) {
        return ++n === 1 ? sse(['data: {"choices":[{"delta":{"content":"Hi there"}}]}\n\n', 'data: [DONE]\n\n']) : new Response('', { status: 404 });
      }
      return original(input, init);
    });
    renderApp('/playground');
    await userEvent.type(await screen.findByLabelText('Message'), 'Hello');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByText('Hi there')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Message'), 'Again');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByText(/not available on this server yet/)).toBeInTheDocument();
  });
});
