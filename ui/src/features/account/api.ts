import { api } from '../../lib/api';
import type { Session } from '../auth/types';

export interface MFAStatus {
  enabled: boolean;
  enabled_at?: string;
  enrollment_pending: boolean;
  backup_codes_remaining: number;
}

export interface Enrolment {
  otpauth_url: string;
  secret: string;
  qr_code: string;
  issuer: string;
  account: string;
  digits: number;
  period: number;
}

export const mfaKey = ['mfa'] as const;
export const sessionsKey = ['sessions'] as const;

export const changePassword = (current_password: string, new_password: string) =>
  api<{ sessions_revoked: number }>('/api/auth/password', { method: 'POST', body: { current_password, new_password } });
export const listSessions = async () => (await api<{ data: Session[] }>('/api/auth/sessions')).data;
export const revokeSession = (id: number) => api<undefined>(`/api/auth/sessions/${id}`, { method: 'DELETE' });
export const getMFA = () => api<MFAStatus>('/api/auth/mfa');
/** startEnrolment needs a recent password or code: the step-up dialog runs when it is stale. */
export const startEnrolment = () => api<Enrolment>('/api/auth/mfa/enroll', { method: 'POST', body: {} });
export const confirmEnrolment = (code: string) => api<{ enabled: boolean; backup_codes: string[] }>('/api/auth/mfa/enroll/confirm', { method: 'POST', body: { code } });
export const disableMFA = (password: string, proof: { code: string } | { backup_code: string }) =>
  api<{ enabled: boolean }>('/api/auth/mfa/disable', { method: 'POST', body: { password, ...proof } });
export const regenerateBackupCodes = () => api<{ backup_codes: string[] }>('/api/auth/mfa/backup-codes', { method: 'POST', body: {} });

/** isSafeQR accepts only the PNG data URL the server makes, so nothing else ends up in an <img src>. */
export function isSafeQR(src: string): boolean {
  return /^data:image\/png;base64,[A-Za-z0-9+/=]+$/.test(src);
}

/** describeAgent shortens a user agent to "Browser on OS". */
export function describeAgent(ua: string): string {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : /curl|Go-http|python|node/i.test(ua) ? 'Script' : 'Browser';
  const os = /Windows/.test(ua) ? 'Windows' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}
