import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, errorMessage, fetchAll, getCsrfToken, query, request, setCsrfToken, setStepUpHandler, setUnauthorizedHandler, STEP_UP_CANCELLED } from './api';
import { errorBody, list, mockApi } from '../test/utils';

afterEach(() => {
  setCsrfToken('');
  setStepUpHandler(null);
  setUnauthorizedHandler(null);
});

describe('request', () => {
  it('OK: decodes JSON and sends the CSRF token only on state changes', async () => {
    const { calls } = mockApi({ 'GET /api/x': { body: { a: 1 } }, 'POST /api/x': { status: 201, body: { b: 2 } } });
    setCsrfToken('tok');
    expect(getCsrfToken()).toBe('tok');
    expect(await api('/api/x')).toEqual({ a: 1 });
    const r = await request('/api/x', { method: 'POST', body: { n: 1 } });
    expect(r.status).toBe(201);
    expect(calls[0]?.headers['X-CSRF-Token']).toBeUndefined();
    expect(calls[1]?.headers['X-CSRF-Token']).toBe('tok');
    expect(calls[1]?.headers['Content-Type']).toBe('application/json');
    expect(calls[1]?.body).toEqual({ n: 1 });
  });

  it('NoContent: a 204 is undefined', async () => {
    mockApi({ 'DELETE /api/x': { status: 204 } });
    expect(await api('/api/x', { method: 'DELETE' })).toBeUndefined();
  });

  it('Error: the API error shape becomes an ApiError', async () => {
    mockApi({ 'POST /api/x': { status: 400, body: errorBody('name is required', '', 'name') } });
    const err = await api('/api/x', { method: 'POST' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, message: 'name is required', param: 'name', requestId: 'req_test' });
  });

  it('Error: a body that is not the API shape gets a readable message', async () => {
    for (const [status, want] of [
      [404, 'Not found.'],
      [429, 'Too many attempts. Wait a moment and try again.'],
      [503, 'The server had a problem. Try again in a moment.'],
      [418, 'The request failed (HTTP 418).'],
    ] as const) {
      vi.stubGlobal('fetch', vi.fn(async () => new Response('oops', { status, headers: { 'Content-Type': 'text/plain' } })));
      await expect(api('/api/y')).rejects.toThrow(want);
    }
  });

  it('Network: an unreachable server is status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('failed'))));
    await expect(api('/api/x')).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('Abort: an aborted call stays an AbortError', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new DOMException('aborted', 'AbortError'))));
    await expect(api('/api/x')).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('StepUp: mfa_required runs the handler and retries once', async () => {
    let n = 0;
    mockApi({
      'POST /api/keys': () => (++n === 1 ? { status: 403, body: errorBody('needs a recent verification', 'mfa_required') } : { status: 201, body: { id: 1 } }),
    });
    const handler = vi.fn(async () => {});
    setStepUpHandler(handler);
    expect(await api('/api/keys', { method: 'POST', body: {} })).toEqual({ id: 1 });
    expect(handler).toHaveBeenCalledTimes(1);
    expect(n).toBe(2);
  });

  it('StepUp: a cancelled dialog rejects the call; stepUp:false skips the dialog', async () => {
    mockApi({ 'POST /api/keys': { status: 403, body: errorBody('needs a recent verification', 'mfa_required') } });
    setStepUpHandler(() => Promise.reject(new ApiError(403, 'cancelled', { code: STEP_UP_CANCELLED })));
    await expect(api('/api/keys', { method: 'POST' })).rejects.toMatchObject({ code: STEP_UP_CANCELLED });
    await expect(api('/api/keys', { method: 'POST', stepUp: false })).rejects.toMatchObject({ code: 'mfa_required' });
  });

  it('Unauthorized: a 401 ends the session unless the call opts out', async () => {
    mockApi({ 'GET /api/keys': { status: 401, body: errorBody('no session') } });
    const h = vi.fn();
    setUnauthorizedHandler(h);
    await expect(api('/api/keys')).rejects.toBeInstanceOf(ApiError);
    await expect(api('/api/keys', { sessionExpiry: false })).rejects.toBeInstanceOf(ApiError);
    expect(h).toHaveBeenCalledTimes(1);
  });
});

describe('helpers', () => {
  it('query skips empty values', () => {
    expect(query({ a: 1, b: '', c: undefined, d: null, e: 'x y' })).toBe('?a=1&e=x+y');
    expect(query({})).toBe('');
  });

  it('errorMessage', () => {
    expect(errorMessage(new ApiError(400, 'bad'))).toBe('bad');
    expect(errorMessage(new Error('plain'))).toBe('plain');
    expect(errorMessage('?')).toBe('Something went wrong.');
  });

  it('fetchAll follows pages and says when it stopped early', async () => {
    const { calls } = mockApi({
      'GET /api/things': (c) => (c.url.includes('after=2') ? { body: list([{ id: 3 }], true, 3) } : { body: list([{ id: 1 }, { id: 2 }], true, 2) }),
    });
    const r = await fetchAll<{ id: number }>('/api/things?x=1', 2);
    expect(r.items.map((i) => i.id)).toEqual([1, 2, 3]);
    expect(r.truncated).toBe(true);
    expect(calls[0]?.url).toBe('/api/things?x=1&limit=500');
    mockApi({ 'GET /api/things': { body: list([{ id: 1 }]) } });
    expect((await fetchAll('/api/things')).truncated).toBe(false);
  });
});
