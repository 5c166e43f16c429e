import { useEffect, useRef } from 'react';
import { isRouteErrorResponse, Link, useLocation, useRouteError } from 'react-router';
import { Button } from '../components/Button';
import { reportClientError } from '../features/errors/report';
import { ApiError } from '../lib/api';

/** RouteError is every route's error boundary: a friendly page with retry and a way home. */
export function RouteError() {
  const error = useRouteError();
  const location = useLocation();
  const heading = useRef<HTMLHeadingElement>(null);
  const notFound = isRouteErrorResponse(error) && error.status === 404;

  useEffect(() => {
    heading.current?.focus();
    if (!notFound) {
      const e = error instanceof Error ? error : new Error(String(isRouteErrorResponse(error) ? error.statusText : error));
      void reportClientError({ message: e.message, stack: e.stack ?? '', route: location.pathname, request_id: error instanceof ApiError ? error.requestId : '' });
    }
  }, [error, notFound, location.pathname]);

  return (
    <div className="mx-auto max-w-lg px-4 py-16" role="alert">
      <h1 ref={heading} tabIndex={-1} className="text-2xl font-bold focus:outline-none">
        {notFound ? 'Page not found' : 'Something went wrong'}
      </h1>
      <p className="mt-3 text-gray-700 dark:text-gray-300">
        {notFound
          ? 'There is nothing at this address.'
          : 'This page hit an unexpected error. It has been reported. Trying again usually helps; if the console was just updated, trying again loads the new version.'}
      </p>
      <div className="mt-6 flex flex-wrap gap-3">
        {!notFound && <Button onClick={() => window.location.reload()}>Try again</Button>}
        <Link
          to="/"
          className="inline-flex items-center rounded-md px-3.5 py-2 text-sm font-semibold ring-1 ring-inset ring-gray-300 hover:bg-gray-100 dark:ring-gray-600 dark:hover:bg-gray-800"
          reloadDocument
        >
          Go to the home page
        </Link>
      </div>
    </div>
  );
}
