// The one HTTP client of the console: JSON in and out, the session's CSRF
// token on every state change, errors in the API's shape as ApiError, and
// step-up: an answer that a fresh second factor is needed asks the user
// (through the registered handler) and retries the call once.

/** The error shape of every /api answer: OpenAI's {"error": {…}}. */
export interface ErrorBody {
  error?: { message?: string; type?: string; param?: string | null; code?: string | null };
}

export class ApiError extends Error {
  readonly status: number;
  /** The machine-readable reason ("mfa_required", "cart_version_conflict", …), or "". */
  readonly code: string;
  readonly type: string;
  readonly param: string;
  readonly requestId: string;
  readonly body: unknown;

  constructor(status: number, message: string, opts: { code?: string; type?: string; param?: string; requestId?: string; body?: unknown } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = opts.code ?? '';
    this.type = opts.type ?? '';
    this.param = opts.param ?? '';
    this.requestId = opts.requestId ?? '';
    this.body = opts.body;
  }
}

/** The reason the API gives when an operation needs a recent second factor. */
export const STEP_UP_REQUIRED = 'mfa_required';
/** Raised when the user closes the step-up dialog instead of verifying. */
export const STEP_UP_CANCELLED = 'step_up_cancelled';

let csrfToken = '';
let stepUpHandler: (() => Promise<void>) | null = null;
let unauthorizedHandler: (() => void) | null = null;

/** setCsrfToken stores the session's CSRF token (from sign-in or GET /api/auth/session). */
export function setCsrfToken(token: string | undefined | null): void {
  csrfToken = token ?? '';
}

export function getCsrfToken(): string {
  return csrfToken;
}

/** setStepUpHandler registers what asks the user for a second factor; it resolves once verified. */
export function setStepUpHandler(h: (() => Promise<void>) | null): void {
  stepUpHandler = h;
}

/** setUnauthorizedHandler registers what happens when the session has ended (a 401 outside sign-in). */
export function setUnauthorizedHandler(h: (() => void) | null): void {
  unauthorizedHandler = h;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** false: do not run the step-up dialog on mfa_required (the step-up calls themselves). */
  stepUp?: boolean;
  /** false: a 401 is this call's own answer (sign-in), not an ended session. */
  sessionExpiry?: boolean;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** request sends one call and returns its decoded body with the status and headers. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (!SAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The server could not be reached. Check your connection and try again.', { code: 'network' });
  }
  const requestId = res.headers.get('X-Request-Id') ?? '';
  const data = await decode(res);
  if (res.ok) return { data: data as T, status: res.status, headers: res.headers };

  const e = (data as ErrorBody | undefined)?.error;
  const err = new ApiError(res.status, e?.message || fallbackMessage(res.status), {
    code: e?.code ?? '',
    type: e?.type ?? '',
    param: e?.param ?? '',
    requestId,
    body: data,
  });
  if (err.status === 403 && err.code === STEP_UP_REQUIRED && opts.stepUp !== false && stepUpHandler) {
    await stepUpHandler(); // rejects when the user cancels
    return request<T>(path, { ...opts, stepUp: false });
  }
  if (err.status === 401 && opts.sessionExpiry !== false && unauthorizedHandler) unauthorizedHandler();
  throw err;
}

/** api is request for callers that need only the body. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  return (await request<T>(path, opts)).data;
}

async function decode(res: Response): Promise<unknown> {
  if (res.status === 204) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  if ((res.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function fallbackMessage(status: number): string {
  if (status === 404) return 'Not found.';
  if (status === 429) return 'Too many attempts. Wait a moment and try again.';
  if (status >= 500) return 'The server had a problem. Try again in a moment.';
  return `The request failed (HTTP ${status}).`;
}

/** errorMessage turns anything thrown into a sentence for the user. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error && err.message) return err.message;
  return 'Something went wrong.';
}

/** A page of a list endpoint. */
export interface List<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  next_after?: number;
}

/** query builds "?a=1&b=2" from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** fetchAll follows a list's pages (ascending IDs) up to maxPages; truncated when more remained. */
export async function fetchAll<T>(path: string, maxPages = 10, signal?: AbortSignal): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  const sep = path.includes('?') ? '&' : '?';
  let after: number | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await api<List<T>>(`${path}${sep}limit=500${after !== undefined ? `&after=${after}` : ''}`, { signal });
    items.push(...page.data);
    if (!page.has_more || page.next_after === undefined) return { items, truncated: false };
    after = page.next_after;
  }
  return { items, truncated: true };
}
