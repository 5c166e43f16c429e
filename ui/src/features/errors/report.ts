// Client error reports: POST /api/client-errors {message, stack, route,
// release, request_id} (202; the server scrubs and stores them for the
// admins, GET /api/admin/client-errors, and allows 20 a minute per address).
// A 404 (or 405: an older server) turns reporting off for the page's life.
// Reporting never throws and sends at most MAX_REPORTS per page load, each
// message once.
import { ApiError, request } from '../../lib/api';

export interface ClientErrorReport {
  message: string;
  stack: string;
  route: string;
  release: string;
  request_id: string;
}

const MAX_REPORTS = 10;
const MAX_FIELD = 4000;

let disabled = false;
let sent = 0;
const seen = new Set<string>();

/** reportClientError sends one report; false when it was not sent. */
export async function reportClientError(r: Partial<ClientErrorReport> & { message: string }): Promise<boolean> {
  if (disabled || sent >= MAX_REPORTS) return false;
  const body: ClientErrorReport = {
    message: r.message.slice(0, MAX_FIELD),
    stack: (r.stack ?? '').slice(0, MAX_FIELD),
    route: r.route ?? window.location.pathname,
    release: r.release ?? __RELEASE__,
    request_id: r.request_id ?? '',
  };
  const key = `${body.message}\n${body.route}`;
  if (seen.has(key)) return false;
  seen.add(key);
  sent++;
  try {
    await request('/api/client-errors', { method: 'POST', body, stepUp: false, sessionExpiry: false });
    return true;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) disabled = true;
    return false;
  }
}

/** installGlobalErrorReporting reports uncaught errors and unhandled rejections. */
export function installGlobalErrorReporting(target: Window = window): () => void {
  const onError = (e: ErrorEvent) => {
    void reportClientError({ message: e.message || 'error', stack: e.error instanceof Error ? (e.error.stack ?? '') : '' });
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    const r: unknown = e.reason;
    if (r instanceof ApiError) return; // the API's answers are shown where they happen
    const err = r instanceof Error ? r : new Error(String(r));
    void reportClientError({ message: err.message, stack: err.stack ?? '' });
  };
  target.addEventListener('error', onError);
  target.addEventListener('unhandledrejection', onRejection);
  return () => {
    target.removeEventListener('error', onError);
    target.removeEventListener('unhandledrejection', onRejection);
  };
}

/** resetReporting is for tests. */
export function resetReporting(): void {
  disabled = false;
  sent = 0;
  seen.clear();
}
