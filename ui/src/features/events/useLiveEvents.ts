import { useEffect } from 'react';
import { useQueryClient, type QueryKey } from '@tanstack/react-query';
import { useToast } from '../../components/Toast';
import { openEventStream, type LiveEvent } from './stream';

/** queriesFor says which cached queries an event makes stale ("ready", the first event of a stream, none). */
export function queriesFor(e: LiveEvent): QueryKey[] {
  switch (e.type) {
    case 'balance':
      return [['balance'], ['ledger']];
    case 'order':
    case 'payment':
      return [['orders'], ['order'], ['balance'], ['ledger']];
    case 'budget':
      return [['budgets']];
    case 'budget_alert':
      return [['budgets'], ['events']];
    case 'key':
      return [['keys'], ['budgets']];
    default:
      return [];
  }
}

/** useLiveEvents keeps the signed-in pages fresh from the event stream, when the server has one. */
export function useLiveEvents(enabled: boolean): void {
  const qc = useQueryClient();
  const toast = useToast();
  useEffect(() => {
    if (!enabled) return;
    return openEventStream({
      onEvent: (e) => {
        for (const key of queriesFor(e)) void qc.invalidateQueries({ queryKey: key });
        if (e.type === 'budget_alert') toast({ title: 'Budget alert', description: 'A budget reached its amount for this period.', tone: 'info' });
      },
    });
  }, [enabled, qc, toast]);
}
