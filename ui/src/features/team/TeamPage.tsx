import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { SecretBox } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { Field, SelectField } from '../../components/Field';
import { Badge, PageHeader, Section } from '../../components/Page';
import { EmptyState, ErrorState, InlineError, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { date, dateTime } from '../../lib/format';
import { sessionKey, useCurrentUser } from '../auth/session';
import { createInvite, getTeam, inviteLink, inviteStatus, invitesKey, listInvites, removeMember, renameTeam, revokeInvite, setMemberRole, teamKey, type CreatedInvite } from './api';

export default function TeamPage() {
  const me = useCurrentUser();
  const owner = me.user.team_role === 'owner';
  const team = useQuery({ queryKey: teamKey, queryFn: getTeam });
  return (
    <div>
      <PageHeader title="Team" description={team.data ? `${team.data.name} · your role: ${me.user.team_role}` : undefined} />
      {owner && team.data && <RenameSection current={team.data.name} />}
      <Section title="Members" id="members-heading">
        {team.isPending ? (
          <Loading label="Loading members…" />
        ) : team.isError ? (
          <ErrorState error={team.error} onRetry={() => void team.refetch()} />
        ) : (
          <Members members={team.data.members} owner={owner} selfId={me.user.id} />
        )}
      </Section>
      {owner ? <Invitations /> : <p className="text-sm text-gray-600 dark:text-gray-300">Ask a team owner to invite people.</p>}
    </div>
  );
}

function RenameSection({ current }: { current: string }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [name, setName] = useState(current);
  const m = useMutation({
    mutationFn: () => renameTeam(name.trim()),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: teamKey });
      void qc.invalidateQueries({ queryKey: sessionKey });
      toast({ title: 'Team renamed', tone: 'success' });
    },
  });
  return (
    <Section title="Team name" id="team-name-heading">
      <form
        className="flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim() && name.trim() !== current) m.mutate();
        }}
      >
        <Field label="Name" className="min-w-0 flex-1" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
        <Button type="submit" variant="secondary" pending={m.isPending} disabled={!name.trim() || name.trim() === current}>
          Rename
        </Button>
      </form>
      <div className="mt-3">
        <InlineError error={m.error} />
      </div>
    </Section>
  );
}

/** RoleSelect lets an owner make a member an owner, or an owner a member. */
function RoleSelect({ member }: { member: { id: number; email: string; team_role: string } }) {
  const qc = useQueryClient();
  const toast = useToast();
  const change = useMutation({
    mutationFn: (role: 'owner' | 'member') => setMemberRole(member.id, role),
    onSuccess: async (_, role) => {
      await qc.invalidateQueries({ queryKey: teamKey });
      void qc.invalidateQueries({ queryKey: sessionKey });
      toast({ title: 'Role changed', description: `${member.email} is now ${role === 'owner' ? 'an owner' : 'a member'}.`, tone: 'success' });
    },
    onError: (err) => toast({ title: 'Role not changed', description: err instanceof Error ? err.message : String(err), tone: 'error' }),
  });
  return (
    <select
      aria-label={`Role of ${member.email}`}
      className="rounded-md border border-gray-300 bg-white px-2 py-1 text-sm text-gray-900 dark:border-gray-700 dark:bg-gray-900 dark:text-gray-100"
      value={member.team_role}
      disabled={change.isPending}
      onChange={(e) => change.mutate(e.target.value as 'owner' | 'member')}
    >
      <option value="member">member</option>
      <option value="owner">owner</option>
    </select>
  );
}

function Members({ members, owner, selfId }: { members: { id: number; email: string; name: string; team_role: string; created_at: string; disabled_at?: string }[]; owner: boolean; selfId: number }) {
  const qc = useQueryClient();
  const toast = useToast();
  if (members.length === 0) return <EmptyState title="No members" />;
  return (
    <Table caption="Team members">
      <thead>
        <tr>
          <Th>Name</Th>
          <Th className="hidden sm:table-cell">Email</Th>
          <Th>Role</Th>
          <Th className="hidden md:table-cell">Joined</Th>
          {owner && (
            <Th>
              <span className="sr-only">Actions</span>
            </Th>
          )}
        </tr>
      </thead>
      <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
        {members.map((m) => (
          <tr key={m.id}>
            <Td>
              <span className="font-medium text-gray-900 dark:text-gray-100">{m.name || m.email}</span>
              {m.id === selfId && <span className="text-xs"> (you)</span>}
              <span className="block text-xs sm:hidden">{m.email}</span>
            </Td>
            <Td className="hidden sm:table-cell">{m.email}</Td>
            <Td>
              {owner ? <RoleSelect member={m} /> : <Badge tone={m.team_role === 'owner' ? 'indigo' : 'gray'}>{m.team_role}</Badge>}
              {m.disabled_at && <Badge tone="red">disabled</Badge>}
            </Td>
            <Td className="hidden md:table-cell">{date(m.created_at)}</Td>
            {owner && (
              <Td className="text-right">
                {m.id !== selfId && (
                  <ConfirmDialog
                    trigger={
                      <Button variant="ghost" size="sm" aria-label={`Remove ${m.email}`}>
                        Remove
                      </Button>
                    }
                    title={`Remove ${m.name || m.email}?`}
                    description="They leave the team and get a team of their own; their API keys in this team are revoked at once."
                    confirmLabel="Remove member"
                    onConfirm={async () => {
                      await removeMember(m.id);
                      await qc.invalidateQueries({ queryKey: teamKey });
                      void qc.invalidateQueries({ queryKey: ['keys'] });
                      toast({ title: 'Member removed', description: m.email, tone: 'success' });
                    }}
                  />
                )}
              </Td>
            )}
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function Invitations() {
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({ queryKey: invitesKey, queryFn: listInvites });
  const [open, setOpen] = useState(false);
  const [created, setCreated] = useState<CreatedInvite | null>(null);
  const rows = q.data ? [...q.data].reverse() : [];
  return (
    <Section title="Invitations" id="invites-heading" description="An invitation link works once, until it expires." actions={<Button onClick={() => setOpen(true)}>Invite someone</Button>}>
      {q.isPending ? (
        <Loading label="Loading invitations…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState title="No invitations" />
      ) : (
        <Table caption="Invitations">
          <thead>
            <tr>
              <Th>For</Th>
              <Th>Role</Th>
              <Th className="hidden sm:table-cell">Expires</Th>
              <Th>Status</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
            {rows.map((i) => {
              const st = inviteStatus(i);
              return (
                <tr key={i.id}>
                  <Td>{i.email || 'Anyone with the link'}</Td>
                  <Td>{i.team_role}</Td>
                  <Td className="hidden sm:table-cell">{dateTime(i.expires_at)}</Td>
                  <Td>
                    <Badge tone={st === 'pending' ? 'amber' : st === 'used' ? 'green' : 'gray'}>{st}</Badge>
                  </Td>
                  <Td className="text-right">
                    {st === 'pending' && (
                      <ConfirmDialog
                        trigger={
                          <Button variant="ghost" size="sm" aria-label={`Revoke invitation ${i.email || i.id}`}>
                            Revoke
                          </Button>
                        }
                        title="Revoke this invitation?"
                        description="Its link stops working at once."
                        confirmLabel="Revoke invitation"
                        onConfirm={async () => {
                          await revokeInvite(i.id);
                          await qc.invalidateQueries({ queryKey: invitesKey });
                          toast({ title: 'Invitation revoked', tone: 'success' });
                        }}
                      />
                    )}
                  </Td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
      <Dialog
        open={open}
        onOpenChange={(o) => {
          setOpen(o);
          if (!o) setTimeout(() => setCreated(null), 200);
        }}
        title={created ? 'Invitation link' : 'Invite someone'}
        dismissible={!created}
      >
        {created ? (
          <div className="space-y-4">
            <SecretBox label="Send this link to the person you invite" value={inviteLink(created.token)} />
            <div className="flex justify-end">
              <Button
                onClick={() => {
                  setOpen(false);
                  setTimeout(() => setCreated(null), 200);
                }}
              >
                Done
              </Button>
            </div>
          </div>
        ) : (
          <InviteForm
            onCreated={(c) => {
              setCreated(c);
              void qc.invalidateQueries({ queryKey: invitesKey });
            }}
            onCancel={() => setOpen(false)}
          />
        )}
      </Dialog>
    </Section>
  );
}

function InviteForm({ onCreated, onCancel }: { onCreated: (c: CreatedInvite) => void; onCancel: () => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<'member' | 'owner'>('member');
  const [days, setDays] = useState('7');
  const m = useMutation({
    mutationFn: () => createInvite({ ...(email.trim() ? { email: email.trim() } : {}), team_role: role, expires_in_hours: Number(days) * 24 }),
    onSuccess: onCreated,
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    m.mutate();
  }
  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <Field label="Email (optional)" type="email" value={email} onChange={(e) => setEmail(e.target.value)} hint="Who the invitation is for." />
      <div className="grid gap-4 sm:grid-cols-2">
        <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as 'member' | 'owner')}>
          <option value="member">Member</option>
          <option value="owner">Owner</option>
        </SelectField>
        <SelectField label="Expires in" value={days} onChange={(e) => setDays(e.target.value)}>
          <option value="1">1 day</option>
          <option value="7">7 days</option>
          <option value="30">30 days</option>
        </SelectField>
      </div>
      <InlineError error={m.error} />
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" pending={m.isPending}>
          Create invitation
        </Button>
      </div>
    </form>
  );
}
