import { QueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api';

/** newQueryClient: retry only what may succeed on retry (network and 5xx), twice. */
export function newQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        refetchOnWindowFocus: true,
        retry: (count, err) => count < 2 && (!(err instanceof ApiError) || err.status === 0 || err.status >= 500),
      },
      mutations: { retry: false },
    },
  });
}
