/** Small shared pieces: state badges, confirmations, list keyboard navigation. */
import { stateTone } from '@khutulun/api';
import { type ReactNode, useEffect, useRef } from 'react';

/** A state as a coloured badge (the colour is the state's tone, the same in the graph). */
export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`badge tone-${stateTone(state)}`} data-state={state}>
      {state}
    </span>
  );
}

/** Asks before a destructive action, in a modal dialog (Escape cancels). */
export function Confirm({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} onCancel={onCancel} aria-labelledby="confirm-title">
      <h2 id="confirm-title">{title}</h2>
      <div>{children}</div>
      <div className="toolbar" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm} data-testid="confirm">
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/**
 * j/k (or the arrow keys) move a selection through a list, Enter opens the selected item.
 * Keys typed into a field are left alone.
 */
export function useListKeys(
  count: number,
  selected: number,
  select: (index: number) => void,
  open: (index: number) => void,
): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey || count === 0) return;
      if (e.key === 'j' || e.key === 'ArrowDown') select(Math.min(count - 1, selected + 1));
      else if (e.key === 'k' || e.key === 'ArrowUp') select(Math.max(0, selected - 1));
      else if (e.key === 'Enter' && selected >= 0) open(selected);
      else return;
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [count, selected, select, open]);
}

/** A JSON value as compact text. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Whether a key event belongs to a text field or the terminal (not to page shortcuts). */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t || typeof t.closest !== 'function') return false;
  return (
    t.isContentEditable ||
    /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) ||
    !!t.closest('.terminal, dialog')
  );
}
