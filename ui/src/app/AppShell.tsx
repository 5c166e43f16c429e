import { useEffect, useRef } from 'react';
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import * as DM from '@radix-ui/react-dropdown-menu';
import { Logo } from '../components/Logo';
import { Loading, ErrorState } from '../components/States';
import { logout } from '../features/auth/api';
import { useSession, useSetSession } from '../features/auth/session';
import { useLiveEvents } from '../features/events/useLiveEvents';
import { setUnauthorizedHandler } from '../lib/api';
import { markNavigation, takeNavigationFocus } from '../lib/focus';

const nav = [
  { to: '/usage', label: 'Usage' },
  { to: '/keys', label: 'API keys' },
  { to: '/billing', label: 'Billing' },
  { to: '/team', label: 'Team' },
  { to: '/playground', label: 'Playground' },
  { to: '/account', label: 'Account' },
];

/** AppShell is the signed-in frame: the sign-in guard, navigation, and focus management. */
export default function AppShell() {
  const { data: session, isPending, error, refetch } = useSession();
  const location = useLocation();
  const setSession = useSetSession();
  const navigate = useNavigate();

  const here = useRef('');
  here.current = location.pathname + location.search;
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setSession(null);
      navigate(`/signin?next=${encodeURIComponent(here.current)}`, { replace: true });
    });
    return () => setUnauthorizedHandler(null);
  }, [setSession, navigate]);

  useLiveEvents(!!session && !session.mfa_pending);
  useFocusOnNavigate(location.pathname);

  if (isPending) return <Loading label="Loading your session…" />;
  if (error) {
    return (
      <main className="mx-auto max-w-lg p-6">
        <ErrorState error={error} onRetry={() => void refetch()} title="The console could not reach the server." />
      </main>
    );
  }
  if (!session || session.mfa_pending) {
    return <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }

  async function signOut(all: boolean) {
    try {
      await logout(all);
    } finally {
      setSession(null);
      navigate('/signin', { replace: true });
    }
  }

  return (
    <div className="min-h-dvh md:flex">
      <a href="#main" className="sr-only z-50 rounded bg-white px-3 py-2 text-indigo-700 focus:not-sr-only focus:absolute focus:left-2 focus:top-2">
        Skip to content
      </a>
      <header className="border-b border-gray-200 bg-white dark:border-gray-800 dark:bg-gray-900 md:flex md:min-h-dvh md:w-56 md:flex-col md:border-b-0 md:border-r">
        <div className="flex items-center justify-between gap-2 px-4 py-3">
          <NavLink to="/" className="flex items-center gap-2 font-bold">
            <Logo />
            <span>Chorus</span>
          </NavLink>
          <UserMenu email={session.user.email} team={session.team?.name ?? ''} onSignOut={signOut} />
        </div>
        <nav aria-label="Main" className="px-2 pb-2 md:flex-1 md:pb-4">
          <ul className="flex flex-wrap gap-1 md:flex-col">
            {nav.map((n) => (
              <li key={n.to}>
                <NavLink
                  to={n.to}
                  className={({ isActive }) =>
                    `block rounded-md px-3 py-1.5 text-sm font-medium ${isActive ? 'bg-indigo-50 text-indigo-800 dark:bg-indigo-950 dark:text-indigo-100' : 'text-gray-700 hover:bg-gray-100 dark:text-gray-300 dark:hover:bg-gray-800'}`
                  }
                >
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1} className="min-w-0 flex-1 px-4 py-6 focus:outline-none sm:px-6 lg:px-8">
        <div className="mx-auto max-w-6xl">
          <Outlet />
        </div>
      </main>
    </div>
  );
}

function UserMenu({ email, team, onSignOut }: { email: string; team: string; onSignOut: (all: boolean) => void }) {
  const navigate = useNavigate();
  const item = 'cursor-pointer rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-indigo-50 data-[highlighted]:text-indigo-900 dark:data-[highlighted]:bg-indigo-950 dark:data-[highlighted]:text-indigo-100';
  return (
    <DM.Root>
      <DM.Trigger className="max-w-[10rem] truncate rounded-md px-2 py-1 text-sm text-gray-700 ring-1 ring-gray-300 hover:bg-gray-50 dark:text-gray-200 dark:ring-gray-700 dark:hover:bg-gray-800" aria-label={`Account menu for ${email}`}>
        {email}
      </DM.Trigger>
      <DM.Portal>
        <DM.Content align="end" sideOffset={6} className="z-50 min-w-[14rem] rounded-md bg-white p-1 shadow-lg ring-1 ring-gray-200 dark:bg-gray-900 dark:ring-gray-700">
          <DM.Label className="px-2 py-1.5 text-xs text-gray-600 dark:text-gray-400">
            {email}
            {team && <span className="block">{team}</span>}
          </DM.Label>
          <DM.Separator className="my-1 h-px bg-gray-200 dark:bg-gray-700" />
          <DM.Item className={item} onSelect={() => navigate('/account')}>
            Account settings
          </DM.Item>
          <DM.Item className={item} onSelect={() => onSignOut(false)}>
            Sign out
          </DM.Item>
          <DM.Item className={item} onSelect={() => onSignOut(true)}>
            Sign out everywhere
          </DM.Item>
        </DM.Content>
      </DM.Portal>
    </DM.Root>
  );
}

/**
 * useFocusOnNavigate moves focus to the new page's heading after a
 * client-side navigation, as a full page load would reset it, so screen
 * reader and keyboard users land on the new content.
 */
function useFocusOnNavigate(pathname: string) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    markNavigation();
    // A page already rendered (the chunk was loaded) takes it at once.
    takeNavigationFocus(document.getElementById('page-title'));
  }, [pathname]);
}
