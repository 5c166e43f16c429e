import { api, fetchAll } from '../../lib/api';

export interface Member {
  id: number;
  email: string;
  name: string;
  team_role: 'owner' | 'member';
  disabled_at?: string;
  created_at: string;
}

export interface TeamView {
  id: number;
  name: string;
  created_at: string;
  members: Member[];
  members_has_more: boolean;
}

export interface Invite {
  id: number;
  email?: string;
  team_role: 'owner' | 'member';
  created_at: string;
  expires_at: string;
  used_at?: string;
  revoked_at?: string;
}

export interface CreatedInvite extends Invite {
  token: string;
}

export const teamKey = ['team'] as const;
export const invitesKey = ['invites'] as const;

export const getTeam = () => api<TeamView>('/api/team?limit=500');
export const renameTeam = (name: string) => api<TeamView>('/api/team', { method: 'PUT', body: { name } });
export const removeMember = (id: number) => api<undefined>(`/api/team/members/${id}`, { method: 'DELETE' });
/** setMemberRole makes a member an owner, or an owner a member (the last owner stays one). */
export const setMemberRole = (id: number, teamRole: 'owner' | 'member') =>
  api<Member>(`/api/team/members/${id}/role`, { method: 'PUT', body: { team_role: teamRole } });
export const listInvites = async () => (await fetchAll<Invite>('/api/team/invites', 4)).items;
export const createInvite = (b: { email?: string; team_role: 'owner' | 'member'; expires_in_hours?: number }) =>
  api<CreatedInvite>('/api/team/invites', { method: 'POST', body: b });
export const revokeInvite = (id: number) => api<Invite>(`/api/team/invites/${id}`, { method: 'DELETE' });

export type InviteStatus = 'pending' | 'used' | 'revoked' | 'expired';

export function inviteStatus(i: Invite, now = Date.now()): InviteStatus {
  if (i.used_at) return 'used';
  if (i.revoked_at) return 'revoked';
  if (new Date(i.expires_at).getTime() <= now) return 'expired';
  return 'pending';
}

/** inviteLink puts the token in the fragment, which browsers never send to a server. */
export function inviteLink(token: string, origin = window.location.origin): string {
  return `${origin}/signup#invite=${encodeURIComponent(token)}`;
}
