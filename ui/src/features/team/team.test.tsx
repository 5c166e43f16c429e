import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, list, mockApi, renderApp } from '../../test/utils';
import { inviteLink, inviteStatus } from './api';

const team = {
  id: 3,
  name: 'Analytical Engines',
  created_at: '',
  members: [
    { id: 7, email: 'ada@example.com', name: 'Ada', team_role: 'owner', created_at: '2026-12-01T00:00:00Z' },
    { id: 8, email: 'charles@example.com', name: 'Charles', team_role: 'member', created_at: '2026-12-02T00:00:00Z' },
  ],
  members_has_more: false,
};
const inv = (id: number, over: object = {}) => ({ id, email: `p${id}@example.com`, team_role: 'member' as const, created_at: '', expires_at: '2999-01-01T00:00:00Z', ...over });

describe('helpers', () => {
  it('inviteStatus and inviteLink', () => {
    expect(inviteStatus(inv(1))).toBe('pending');
    expect(inviteStatus(inv(1, { used_at: 'x' }))).toBe('used');
    expect(inviteStatus(inv(1, { revoked_at: 'x' }))).toBe('revoked');
    expect(inviteStatus(inv(1, { expires_at: '2000-01-01T00:00:00Z' }))).toBe('expired');
    expect(inviteLink('inv_a/b', 'https://gw')).toBe('https://gw/signup#invite=inv_a%2Fb');
  });
});

describe('TeamPage', () => {
  it('Owner: rename, remove a member, invite with a link shown once, revoke', async () => {
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/team': { body: team },
      'PUT /api/team': { body: team },
      'DELETE /api/team/members/8': { status: 204 },
      'PUT /api/team/members/8/role': { body: { id: 8, email: 'charles@example.com', name: '', team_role: 'owner', created_at: '2026-12-01T00:00:00Z' } },
      'GET /api/team/invites': { body: list([inv(1), inv(2, { used_at: '2026-12-01T00:00:00Z' })]) },
      'POST /api/team/invites': { status: 201, body: { ...inv(3), token: 'inv_secret' } },
      'DELETE /api/team/invites/1': { body: inv(1, { revoked_at: 'now' }) },
    });
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    renderApp('/team');
    expect(await screen.findByRole('cell', { name: 'charles@example.com' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Remove ada@example.com' })).toBeNull(); // not oneself

    const name = screen.getByRole('textbox', { name: 'Name' });
    await userEvent.clear(name);
    await userEvent.type(name, 'Engines Ltd');
    await userEvent.click(screen.getByRole('button', { name: 'Rename' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ name: 'Engines Ltd' }));

    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role of charles@example.com' }), 'owner');
    await waitFor(() => expect(calls.find((c) => c.path === '/api/team/members/8/role')?.body).toEqual({ team_role: 'owner' }));
    expect(await screen.findByText('charles@example.com is now an owner.')).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Remove charles@example.com' }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Remove member' }));
    await waitFor(() => expect(calls.some((c) => c.path === '/api/team/members/8')).toBe(true));

    await userEvent.click(screen.getByRole('button', { name: 'Invite someone' }));
    const d = await screen.findByRole('dialog', { name: 'Invite someone' });
    await userEvent.type(within(d).getByLabelText('Email (optional)'), 'new@example.com');
    await userEvent.selectOptions(within(d).getByLabelText('Role'), 'owner');
    await userEvent.click(within(d).getByRole('button', { name: 'Create invitation' }));
    const shown = await screen.findByRole('dialog', { name: 'Invitation link' });
    expect(within(shown).getByTestId('secret')).toHaveTextContent('/signup#invite=inv_secret');
    await userEvent.click(within(shown).getByRole('button', { name: 'Copy' }));
    expect(writeText).toHaveBeenCalledWith(expect.stringContaining('#invite=inv_secret'));
    expect(await within(shown).findByText('Copied')).toBeInTheDocument();
    expect(calls.find((c) => c.path === '/api/team/invites' && c.method === 'POST')?.body).toEqual({ email: 'new@example.com', team_role: 'owner', expires_in_hours: 168 });
    await userEvent.click(within(shown).getByRole('button', { name: 'Done' }));

    await userEvent.click(screen.getByRole('button', { name: 'Revoke invitation p1@example.com' }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Revoke invitation' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.path === '/api/team/invites/1')).toBe(true));
  });

  it('Member: no owner controls', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession({ team_role: 'member' }) }, 'GET /api/team': { body: team } });
    renderApp('/team');
    expect(await screen.findByText('Ask a team owner to invite people.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Remove/ })).toBeNull();
    expect(screen.queryByRole('combobox', { name: /Role of/ })).toBeNull();
  });
});
