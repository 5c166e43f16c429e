import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Field } from '../../components/Field';
import { Badge, PageHeader, Section } from '../../components/Page';
import { ErrorState, InlineError, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { ApiError } from '../../lib/api';
import { dateTime } from '../../lib/format';
import { logout } from '../auth/api';
import { useCurrentUser, useSetSession } from '../auth/session';
import { changePassword, describeAgent, listSessions, revokeSession, sessionsKey } from './api';
import { MFASection } from './MFASection';

export default function AccountPage() {
  const me = useCurrentUser();
  return (
    <div>
      <PageHeader title="Account" description={`${me.user.email} · ${me.team?.name ?? ''}`} />
      <MFASection />
      <PasswordSection />
      <SessionsSection />
    </div>
  );
}

function PasswordSection() {
  const toast = useToast();
  const qc = useQueryClient();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [formError, setFormError] = useState('');
  const m = useMutation({
    mutationFn: () => changePassword(current, next),
    onSuccess: (r) => {
      setCurrent('');
      setNext('');
      setConfirm('');
      void qc.invalidateQueries({ queryKey: sessionsKey });
      toast({ title: 'Password changed', description: r.sessions_revoked ? `Signed out ${r.sessions_revoked} other session(s).` : undefined, tone: 'success' });
    },
  });
  const param = m.error instanceof ApiError ? m.error.param : '';
  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError('');
    if (next !== confirm) return setFormError('The new passwords do not match.');
    m.mutate();
  }
  return (
    <Section title="Password" id="password-heading" description="Changing it signs out your other sessions.">
      <form onSubmit={submit} className="grid max-w-md gap-4" noValidate>
        <Field label="Current password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required error={param === 'current_password' ? m.error?.message : undefined} />
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          required
          minLength={12}
          hint="At least 12 characters; not a common password, your email or your name."
          error={param === 'new_password' ? m.error?.message : undefined}
        />
        <Field label="Repeat the new password" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} required error={formError || undefined} />
        {!param && <InlineError error={m.error} />}
        <div>
          <Button type="submit" pending={m.isPending} disabled={!current || !next || !confirm}>
            Change password
          </Button>
        </div>
      </form>
    </Section>
  );
}

function SessionsSection() {
  const qc = useQueryClient();
  const toast = useToast();
  const setSession = useSetSession();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: sessionsKey, queryFn: listSessions });
  return (
    <Section
      title="Sessions"
      id="sessions-heading"
      description="Where you are signed in."
      actions={
        <ConfirmDialog
          trigger={<Button variant="secondary">Sign out everywhere</Button>}
          title="Sign out everywhere?"
          description="Every session ends, this one included. API keys keep working."
          confirmLabel="Sign out everywhere"
          onConfirm={async () => {
            await logout(true);
            setSession(null);
            navigate('/signin', { replace: true });
          }}
        />
      }
    >
      {q.isPending ? (
        <Loading label="Loading sessions…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : (
        <Table caption="Active sessions">
          <thead>
            <tr>
              <Th>Device</Th>
              <Th className="hidden sm:table-cell">Address</Th>
              <Th className="hidden md:table-cell">Signed in</Th>
              <Th>Last active</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
            {q.data.map((s) => (
              <tr key={s.id}>
                <Td>
                  {describeAgent(s.user_agent)} {s.current && <Badge tone="green">this session</Badge>}
                </Td>
                <Td className="hidden sm:table-cell">{s.ip || '—'}</Td>
                <Td className="hidden md:table-cell">{dateTime(s.created_at)}</Td>
                <Td>{dateTime(s.last_seen_at)}</Td>
                <Td className="text-right">
                  {!s.current && (
                    <ConfirmDialog
                      trigger={
                        <Button variant="ghost" size="sm" aria-label={`Sign out ${describeAgent(s.user_agent)} session ${s.id}`}>
                          Sign out
                        </Button>
                      }
                      title="Sign out this session?"
                      description={`${describeAgent(s.user_agent)}, last active ${dateTime(s.last_seen_at)}.`}
                      confirmLabel="Sign out session"
                      onConfirm={async () => {
                        await revokeSession(s.id);
                        await qc.invalidateQueries({ queryKey: sessionsKey });
                        toast({ title: 'Session signed out', tone: 'success' });
                      }}
                    />
                  )}
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </Section>
  );
}
