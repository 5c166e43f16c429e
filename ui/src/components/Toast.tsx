import * as RT from '@radix-ui/react-toast';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

interface ToastItem {
  id: number;
  title: string;
  description?: string;
  tone: 'success' | 'error' | 'info';
}

type Notify = (t: Omit<ToastItem, 'id'>) => void;

const ToastContext = createContext<Notify>(() => {});

/** useToast returns a function that shows a short notice. */
export function useToast(): Notify {
  return useContext(ToastContext);
}

let nextId = 1;

const tones = {
  success: 'border-green-300 dark:border-green-800',
  error: 'border-red-300 dark:border-red-800',
  info: 'border-gray-300 dark:border-gray-700',
};

/** ToastProvider renders notices in a polite live region (F8 moves focus to them). */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<ToastItem[]>([]);
  const notify = useCallback<Notify>((t) => setItems((xs) => [...xs.slice(-3), { ...t, id: nextId++ }]), []);
  const remove = (id: number) => setItems((xs) => xs.filter((x) => x.id !== id));
  const value = useMemo(() => notify, [notify]);
  return (
    <ToastContext.Provider value={value}>
      <RT.Provider swipeDirection="right" duration={5000}>
        {children}
        {items.map((t) => (
          <RT.Root
            key={t.id}
            type={t.tone === 'error' ? 'foreground' : 'background'}
            onOpenChange={(open) => !open && remove(t.id)}
            className={`rounded-lg border bg-white p-3 shadow-lg dark:bg-gray-900 ${tones[t.tone]}`}
          >
            <RT.Title className="text-sm font-semibold text-gray-900 dark:text-gray-100">{t.title}</RT.Title>
            {t.description && <RT.Description className="mt-1 text-sm text-gray-700 dark:text-gray-300">{t.description}</RT.Description>}
            <RT.Close className="absolute right-2 top-2 text-xs text-gray-500 hover:text-gray-900 dark:hover:text-gray-100" aria-label="Dismiss">
              ✕
            </RT.Close>
          </RT.Root>
        ))}
        <RT.Viewport className="fixed bottom-0 right-0 z-[60] m-0 flex w-full max-w-sm list-none flex-col gap-2 p-4 outline-none [&>li]:relative" />
      </RT.Provider>
    </ToastContext.Provider>
  );
}
