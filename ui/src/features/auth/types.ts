export interface User {
  id: number;
  email: string;
  name: string;
  role: 'admin' | 'customer';
  team_id: number;
  team_role: 'owner' | 'member';
  mfa_enabled: boolean;
  created_at: string;
}

export interface Team {
  id: number;
  name: string;
  created_at: string;
}

export interface Session {
  id: number;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  mfa_pending: boolean;
  mfa_at?: string;
  ip: string;
  user_agent: string;
  current?: boolean;
}

/** SessionInfo is the answer of sign-in and GET /api/auth/session. */
export interface SessionInfo {
  object: 'session';
  user: User;
  team?: Team;
  session?: Session;
  csrf_token?: string;
  mfa_pending: boolean;
  mfa_enabled: boolean;
}

export type SignupMode = 'invite' | 'open' | 'closed';
