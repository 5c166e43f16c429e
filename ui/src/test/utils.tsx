import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { vi } from 'vitest';
import { routes } from '../app/router';
import { ToastProvider } from '../components/Toast';
import { setCsrfToken } from '../lib/api';

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Call {
  method: string;
  path: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = Reply | ((call: Call) => Reply | Promise<Reply>);

/** mockApi replaces fetch with a table of "METHOD /path" → reply (JSON); anything else is a 404 in the API's shape. */
export function mockApi(table: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const u = new URL(url, 'http://localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = Object.fromEntries(Object.entries((init.headers as Record<string, string>) ?? {}));
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const call: Call = { method, path: u.pathname, url: u.pathname + u.search, headers, body };
    calls.push(call);
    const h = table[`${method} ${u.pathname}`];
    if (!h) return json({ status: 404, body: { error: { message: 'Not found.', type: 'invalid_request_error' } } });
    return json(typeof h === 'function' ? await h(call) : h);
  });
  vi.stubGlobal('fetch', fetchMock);
  return { calls, fetchMock };
}

function json(r: Reply): Response {
  const status = r.status ?? 200;
  const text = r.body === undefined ? '' : JSON.stringify(r.body);
  return new Response(status === 204 ? null : text, {
    status,
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req_test', ...r.headers },
  });
}

export const errorBody = (message: string, code = '', param = '') => ({ error: { message, type: 'x', param, code } });

export const customerSession = (over: Partial<{ mfa_enabled: boolean; team_role: 'owner' | 'member'; mfa_pending: boolean }> = {}) => ({
  object: 'session',
  user: { id: 7, email: 'ada@example.com', name: 'Ada', role: 'customer', team_id: 3, team_role: over.team_role ?? 'owner', mfa_enabled: over.mfa_enabled ?? false, created_at: '2026-12-01T00:00:00Z' },
  team: { id: 3, name: 'Analytical Engines', created_at: '2026-12-01T00:00:00Z' },
  csrf_token: 'csrf-1',
  mfa_pending: over.mfa_pending ?? false,
  mfa_enabled: over.mfa_enabled ?? false,
});

export const list = <T,>(data: T[], has_more = false, next_after?: number) => ({ object: 'list', data, has_more, ...(next_after ? { next_after } : {}) });

/** renderApp renders the whole console at path, with a fresh query cache. */
export function renderApp(path: string) {
  setCsrfToken('');
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity }, mutations: { retry: false } } });
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  const utils = render(
    <QueryClientProvider client={qc}>
      <ToastProvider>
        <RouterProvider router={router} />
      </ToastProvider>
    </QueryClientProvider>,
  );
  return { ...utils, router, qc };
}
