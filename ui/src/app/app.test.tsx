import { describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { RouteError } from './RouteError';
import { newQueryClient } from './queryClient';
import { ApiError } from '../lib/api';
import { mockApi } from '../test/utils';
import { resetReporting } from '../features/errors/report';

function Boom(): never {
  throw new Error('kaboom');
}

describe('RouteError', () => {
  it('shows a friendly page with retry and home, focuses it, and reports the error', async () => {
    resetReporting();
    const { calls } = mockApi({ 'POST /api/client-errors': { status: 204 } });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const router = createMemoryRouter([{ path: '/keys', element: <Boom />, errorElement: <RouteError /> }], { initialEntries: ['/keys'] });
    render(<RouterProvider router={router} />);
    expect(await screen.findByRole('heading', { name: 'Something went wrong' })).toHaveFocus();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Go to the home page' })).toHaveAttribute('href', '/');
    await waitFor(() => expect(calls[0]?.body).toMatchObject({ message: 'kaboom', route: '/keys' }));
  });

  it('a 404 route response is "Page not found" and not reported', async () => {
    resetReporting();
    const { calls } = mockApi({});
    const router = createMemoryRouter([{ path: '/', element: <p>home</p>, errorElement: <RouteError /> }], { initialEntries: ['/missing'] });
    render(<RouterProvider router={router} />);
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
    expect(calls).toHaveLength(0);
  });
});

describe('query client', () => {
  it('retries network and server errors only', () => {
    const retry = newQueryClient().getDefaultOptions().queries?.retry as (n: number, e: unknown) => boolean;
    expect(retry(0, new ApiError(503, 'x'))).toBe(true);
    expect(retry(0, new ApiError(0, 'x'))).toBe(true);
    expect(retry(0, new ApiError(404, 'x'))).toBe(false);
    expect(retry(2, new ApiError(503, 'x'))).toBe(false);
    expect(retry(0, new Error('x'))).toBe(true);
  });
});
