import type { Order } from './api';

export const orderStatusTone: Record<Order['status'], 'gray' | 'green' | 'red' | 'amber' | 'indigo'> = {
  pending: 'amber',
  paid: 'indigo',
  fulfilled: 'green',
  failed: 'red',
  cancelled: 'gray',
  refunded: 'gray',
};

export const orderStatusLabel: Record<Order['status'], string> = {
  pending: 'Awaiting payment',
  paid: 'Paid',
  fulfilled: 'Credits added',
  failed: 'Payment failed',
  cancelled: 'Cancelled',
  refunded: 'Refunded',
};
