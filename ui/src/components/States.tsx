import type { ReactNode } from 'react';
import { ApiError, errorMessage } from '../lib/api';
import { Button } from './Button';
import { Spinner } from './Spinner';

/** Loading announces that content is on its way. */
export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-3 py-8 text-gray-600 dark:text-gray-300">
      <Spinner />
      <span>{label}</span>
    </div>
  );
}

/** EmptyState says there is nothing yet, and what to do about it. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-lg border-2 border-dashed border-gray-300 px-6 py-10 text-center dark:border-gray-700">
      <p className="font-semibold text-gray-900 dark:text-gray-100">{title}</p>
      {children && <div className="mt-2 text-sm text-gray-600 dark:text-gray-300">{children}</div>}
    </div>
  );
}

/** ErrorState shows a failed load with a retry button and the request ID for support. */
export function ErrorState({ error, onRetry, title = 'This could not be loaded.' }: { error: unknown; onRetry?: () => void; title?: string }) {
  const id = error instanceof ApiError ? error.requestId : '';
  return (
    <div role="alert" className="rounded-lg border border-red-300 bg-red-50 p-4 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      <p className="font-semibold">{title}</p>
      <p className="mt-1 text-sm">{errorMessage(error)}</p>
      {id && <p className="mt-1 text-xs opacity-80">Request ID: {id}</p>}
      {onRetry && (
        <Button variant="secondary" size="sm" className="mt-3" onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}

/** InlineError is a form's error message, announced when it appears. */
export function InlineError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
      {errorMessage(error)}
    </p>
  );
}
