import { useQuery, useQueryClient } from '@tanstack/react-query';
import { fetchSession } from './api';
import type { SessionInfo } from './types';

export const sessionKey = ['session'] as const;

/** useSession is the signed-in user (null when signed out), shared by every page. */
export function useSession() {
  return useQuery({ queryKey: sessionKey, queryFn: fetchSession, staleTime: 60_000, retry: false });
}

/** useSetSession replaces the cached session after sign-in, verification or sign-out. */
export function useSetSession() {
  const qc = useQueryClient();
  return (s: SessionInfo | null) => {
    if (s === null) qc.clear();
    qc.setQueryData(sessionKey, s);
  };
}

/** useCurrentUser is the signed-in user; only for pages behind the sign-in guard. */
export function useCurrentUser() {
  const { data } = useSession();
  if (!data) throw new Error('useCurrentUser outside the signed-in area');
  return data;
}
