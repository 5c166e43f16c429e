// A small session client for provisioning through the JSON API from Node:
// the session cookie, the CSRF token, and the step-up by password.

export class SessionClient {
  private cookie = '';
  csrf = '';

  constructor(readonly base: string) {}

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (this.cookie) h.Cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['X-CSRF-Token'] = this.csrf;
    const res = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const set = res.headers.getSetCookie?.() ?? [];
    for (const c of set) {
      const pair = c.split(';')[0] ?? '';
      if (pair.includes('session')) this.cookie = pair;
    }
    const text = await res.text();
    const data = text ? (JSON.parse(text) as T & { csrf_token?: string }) : (undefined as T);
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
    const csrf = (data as { csrf_token?: string } | undefined)?.csrf_token;
    if (csrf) this.csrf = csrf;
    return data;
  }

  login(email: string, password: string) {
    return this.call<{ user: { id: number; team_id: number }; team?: { id: number } }>('POST', '/api/auth/login', { email, password });
  }

  /** reauth refreshes the step-up of a user without MFA. */
  reauth(password: string) {
    return this.call('POST', '/api/auth/reauth', { password });
  }
}

/** chat makes one model request with an API key. */
export async function chat(base: string, key: string, model: string, content: string): Promise<number> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  await res.text();
  return res.status;
}
