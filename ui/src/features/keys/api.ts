import { api, fetchAll } from '../../lib/api';

export interface APIKey {
  id: number;
  name: string;
  prefix: string;
  user_id: number;
  team_id: number;
  allowed_models?: string[];
  expires_at?: string;
  revoked_at?: string;
  created_at: string;
  last_used_at?: string;
  cache_ttl_s: number;
}

export interface CreatedKey extends APIKey {
  key: string;
}

export interface NewKey {
  name: string;
  allowed_models?: string[];
  expires_at?: string;
  cache_ttl_s?: number;
}

export const keysKey = ['keys'] as const;

/** listKeys returns every key of the team (following the pages). */
export async function listKeys(): Promise<APIKey[]> {
  return (await fetchAll<APIKey>('/api/keys', 20)).items;
}

/** createKey needs step-up: the API client runs the dialog and retries. */
export function createKey(k: NewKey): Promise<CreatedKey> {
  return api<CreatedKey>('/api/keys', { method: 'POST', body: k });
}

export function revokeKey(id: number): Promise<void> {
  return api<undefined>(`/api/keys/${id}`, { method: 'DELETE' });
}

export type KeyStatus = 'active' | 'revoked' | 'expired';

export function keyStatus(k: APIKey, now = Date.now()): KeyStatus {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && new Date(k.expires_at).getTime() <= now) return 'expired';
  return 'active';
}

/** parseModels splits "a, b c" into unique model names. */
export function parseModels(s: string): string[] {
  return [...new Set(s.split(/[\s,]+/).map((m) => m.trim()).filter(Boolean))];
}
