import { ApiError, api, setCsrfToken } from '../../lib/api';
import type { SessionInfo, SignupMode } from './types';

/** fetchSession returns the signed-in session, or null when there is none. */
export async function fetchSession(): Promise<SessionInfo | null> {
  try {
    const s = await api<SessionInfo>('/api/auth/session', { sessionExpiry: false });
    setCsrfToken(s.csrf_token);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && err.code !== 'mfa_pending') {
      setCsrfToken('');
      return null;
    }
    throw err;
  }
}

export async function login(email: string, password: string): Promise<SessionInfo> {
  const s = await api<SessionInfo>('/api/auth/login', { method: 'POST', body: { email, password }, sessionExpiry: false });
  setCsrfToken(s.csrf_token);
  return s;
}

export interface SignupInput {
  email: string;
  password: string;
  name: string;
  invite_token?: string;
}

export async function signup(input: SignupInput): Promise<SessionInfo> {
  const s = await api<SessionInfo>('/api/auth/signup', { method: 'POST', body: input, sessionExpiry: false });
  setCsrfToken(s.csrf_token);
  return s;
}

export interface VerifyResult {
  verified: boolean;
  method: string;
  backup_codes_remaining: number;
  csrf_token?: string;
}

/** verifyMFA finishes a sign-in (the session token rotates) or steps up a signed-in session. */
export async function verifyMFA(proof: { code: string } | { backup_code: string }): Promise<VerifyResult> {
  const r = await api<VerifyResult>('/api/auth/mfa/verify', { method: 'POST', body: proof, stepUp: false, sessionExpiry: false });
  if (r.csrf_token) setCsrfToken(r.csrf_token);
  return r;
}

/** reauth is the step-up of users without MFA: the password again. */
export function reauth(password: string): Promise<unknown> {
  return api('/api/auth/reauth', { method: 'POST', body: { password }, stepUp: false, sessionExpiry: false });
}

export async function logout(all = false): Promise<void> {
  await api(all ? '/api/auth/logout-all' : '/api/auth/logout', { method: 'POST', sessionExpiry: false });
  setCsrfToken('');
}

/**
 * fetchSignupMode asks the server how accounts are created. The endpoint
 * (GET /api/auth/config → {"signup": "invite"|"open"|"closed"}) may not
 * exist yet: then the mode is unknown and the form lets the server decide.
 */
export async function fetchSignupMode(): Promise<SignupMode | null> {
  try {
    const c = await api<{ signup?: SignupMode }>('/api/auth/config', { sessionExpiry: false });
    return c.signup ?? null;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 401 || err.status === 405)) return null;
    throw err;
  }
}
